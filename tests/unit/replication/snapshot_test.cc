// Snapshot bootstrap engines and log retention on in-memory stores: the sender and receiver are
// wired back to back through a queue the tests can tamper with, and installs complete inline.
#include "syncline/replication/snapshot.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <future>

#include "syncline/core/feed.h"
#include "syncline/core/memory_store.h"
#include "syncline/replication/leader_follower.h"
#include "syncline/replication/replica.h"
#include "snapshot_codec.h"
#include "snapshot_records.h"
#include "state_access.h"

namespace syncline::replication {
namespace {

struct Node {
  std::shared_ptr<core::MemoryStorage> storage = core::NewMemoryStorage();
  ManualClock clock{1'800'000'000'000};
  std::unique_ptr<core::Store> store;
  std::unique_ptr<Replica> replica;

  explicit Node(uint64_t seed) {
    core::MemoryStoreOptions so;
    so.storage = storage;
    so.seed = seed;
    store = core::OpenMemoryStore(so);
    // No change-feed tail: the log retention here is bounded by the horizon and the size bound
    // alone (the feed's hold on the log has tests of its own below).
    EXPECT_TRUE(store->WriteAndWait([](core::WriteTxn& txn) { return core::SetFeedRetention(txn, 0); }).ok());
    Reopen();
  }
  void Reopen() {
    replica.reset();
    ReplicaOptions ro;
    ro.clock = &clock;
    auto r = Replica::Open(store.get(), ro);
    ASSERT_TRUE(r.ok()) << r.status();
    replica = std::move(r).value();
  }
  std::string Digest() {
    auto d = replica->Digest();
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : std::string();
  }
};

void CreateAll(Replica& r) {
  ASSERT_TRUE(r.CreateCollection("reg", "lww").ok());
  ASSERT_TRUE(r.CreateCollection("mv", "mv").ok());
  ASSERT_TRUE(r.CreateCollection("cnt", "counter").ok());
  ASSERT_TRUE(r.CreateCollection("tags", "set").ok());
  ASSERT_TRUE(r.CreateCollection("doc", "map").ok());
}

// Writes `n` keys of every type.
void Populate(Replica& r, int n, const std::string& tag) {
  for (int i = 0; i < n; ++i) {
    std::string k = "k" + std::to_string(i);
    ASSERT_TRUE(r.WriteAndWait("reg", k, WriteOp::Put(tag + std::string(100, 'v'))).ok());
    ASSERT_TRUE(r.WriteAndWait("cnt", k, WriteOp::Add(i + 1)).ok());
    ASSERT_TRUE(r.WriteAndWait("tags", k, WriteOp::AddElement(tag + "x")).ok());
    ASSERT_TRUE(r.WriteAndWait("mv", k, WriteOp::Put(tag)).ok());
    ASSERT_TRUE(r.WriteAndWait("doc", k, WriteOp::SetField({conflict::Field::Register("f")}, tag)).ok());
  }
}

// The SnapshotNeeded a publisher on `from` answers `to`'s subscription with.
Frame NeededFrame(Replica& from, Replica& to) {
  ShippingOptions o;
  o.bootstrap_min_changes = 1;
  ShippingSession pub(o, &from, 0), sub(o, &to, 0);
  SessionOutput s;
  sub.Start(0, &s);
  SessionOutput p;
  EXPECT_TRUE(pub.OnFrame(Frame{s.frames.at(0).type, s.frames.at(0).payload}, 0, &p).ok());
  for (auto& f : p.frames) {
    if (f.type == MessageType::kSnapshotNeeded) return Frame{f.type, f.payload};
  }
  ADD_FAILURE() << "no SnapshotNeeded";
  return Frame{};
}

// Log catch-up as a publisher would stream it: every change of `from`'s log, applied to `to`
// (the ones `to` holds already are skipped).
void CatchUp(Replica& from, Replica& to) {
  std::vector<core::Change> changes;
  const DotContext ctx = from.Context();
  for (const auto& e : ctx.vv().entries()) {
    ASSERT_TRUE(from.ReadLog(e.first, 1, 1'000'000, size_t{1} << 30, &changes).ok());
  }
  Status applied = Status::Internal("not called");
  to.ApplyChanges(changes, [&](Result<ApplyStats> s) { applied = s.status(); });
  ASSERT_TRUE(applied.ok()) << applied;
}

// Sender on `a`, receiver on `b`, connected by two queues.
struct Link {
  Node* a;
  Node* b;
  SnapshotOptions options;
  std::unique_ptr<SnapshotSender> sender;
  std::unique_ptr<SnapshotReceiver> receiver;
  std::deque<Frame> to_a, to_b;
  std::function<void(Frame*)> tamper;       // applied to frames towards b
  std::function<bool()> cut;                // true: stop delivering (a crash or disconnect)
  int64_t now = 0;
  uint64_t chunks_delivered = 0;

  Link(Node* from, Node* to, SnapshotOptions o) : a(from), b(to), options(o) {
    sender = std::make_unique<SnapshotSender>(options, a->replica.get());
    NewReceiver();
  }
  void NewReceiver() {
    receiver = std::make_unique<SnapshotReceiver>(options, now);
    SnapshotProgress p = b->replica->snapshot_progress();
    receiver->Restore(p.installing, p.next_begin, p.keys, p.bytes, p.chunks);
    SnapshotReceiverOutput out;
    receiver->OnPeerUp("a", now, &out);
    Handle(std::move(out));
  }
  void Handle(SnapshotReceiverOutput out) {
    std::deque<SnapshotReceiverOutput> work;
    work.push_back(std::move(out));
    while (!work.empty()) {
      SnapshotReceiverOutput cur = std::move(work.front());
      work.pop_front();
      for (auto& [peer, f] : cur.frames) to_a.push_back(Frame{f.type, std::move(f.payload)});
      for (auto& inst : cur.installs) {
        Status st = Status::Internal("install did not complete");
        b->replica->InstallSnapshotChunk(inst.peer, inst.begin, std::move(inst.chunk), [&](Status s) { st = s; });
        SnapshotReceiverOutput next;
        receiver->OnInstalled(inst.transfer_id, inst.seq, st, b->replica->Context().vv(), now, &next);
        work.push_back(std::move(next));
      }
    }
  }
  void Needed() {
    SnapshotReceiverOutput out;
    ASSERT_TRUE(receiver->OnFrame("a", NeededFrame(*a->replica, *b->replica), b->replica->Context().vv(), now, &out).ok());
    Handle(std::move(out));
  }
  // Delivers until both queues are empty or `cut` says stop; ticks when idle.
  void Run(int max_rounds = 10000) {
    for (int round = 0; round < max_rounds; ++round) {
      if (cut && cut()) return;
      if (!to_a.empty()) {
        Frame f = std::move(to_a.front());
        to_a.pop_front();
        std::vector<OutFrame> out;
        ASSERT_TRUE(sender->OnFrame(f, now, &out).ok());
        for (auto& o : out) to_b.push_back(Frame{o.type, std::move(o.payload)});
        continue;
      }
      if (!to_b.empty()) {
        Frame f = std::move(to_b.front());
        to_b.pop_front();
        if (f.type == MessageType::kSnapshotChunk) ++chunks_delivered;
        if (tamper) tamper(&f);
        SnapshotReceiverOutput out;
        ASSERT_TRUE(receiver->OnFrame("a", f, b->replica->Context().vv(), now, &out).ok());
        Handle(std::move(out));
        continue;
      }
      if (!receiver->wanted()) return;
      now += 100;  // idle: let the timers run
      std::vector<OutFrame> out;
      sender->OnTick(now, &out);
      for (auto& o : out) to_b.push_back(Frame{o.type, std::move(o.payload)});
      SnapshotReceiverOutput rout;
      receiver->OnTick(now, &rout);
      Handle(std::move(rout));
    }
  }
};

SnapshotOptions SmallChunks() {
  SnapshotOptions o;
  o.chunk_max_bytes = 2000;
  o.window_chunks = 3;
  return o;
}

TEST(Snapshot, BootstrapCopiesEveryTypeAndSetsTheContext) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  Populate(*a.replica, 40, "a");
  Link link(&a, &b, SmallChunks());
  link.Needed();
  link.Run();
  const BootstrapStatus& st = link.receiver->status();
  EXPECT_EQ(st.completed, 1u);
  EXPECT_FALSE(st.installing);
  EXPECT_GT(st.chunks_installed, 3u);
  EXPECT_EQ(st.keys_installed, 200u);
  EXPECT_EQ(b.Digest(), a.Digest());
  EXPECT_EQ(b.replica->Collections(), a.replica->Collections());
  EXPECT_TRUE(b.replica->Context().vv().Dominates(a.replica->Context().vv()));
  // b's log does not hold those changes: they count as missing from it.
  EXPECT_EQ(b.replica->LogFloor().Get(a.replica->id()), 200u);
  EXPECT_TRUE(b.replica->Serving());
  auto r = b.replica->Read("cnt", "k3");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->counter, 4);
}

// Every data-table record of a store, in order.
std::vector<std::pair<std::string, std::string>> DataRecords(core::Store& store) {
  std::vector<std::pair<std::string, std::string>> out;
  EXPECT_TRUE(store.Read([&](core::ReadView& view) {
    return view.Scan(core::Table::kData, "", "", [&](std::string_view k, std::string_view v) {
      out.emplace_back(std::string(k), std::string(v));
      return true;
    });
  }).ok());
  return out;
}

TEST(Snapshot, PackedRecordsAndWholeStatesBootstrapTheSame) {
  // request_packed = false plays a sender from before packed records: it sends whole states.
  std::vector<std::string> digests;
  for (bool packed : {true, false}) {
    SCOPED_TRACE(packed ? "packed records" : "whole states");
    Node a(1), b(2);
    CreateAll(*a.replica);
    Populate(*a.replica, 30, "a");
    SnapshotOptions o = SmallChunks();
    o.request_packed = packed;
    Link link(&a, &b, o);
    link.Needed();
    link.Run();
    ASSERT_EQ(link.receiver->status().completed, 1u);
    EXPECT_GT(link.receiver->status().chunks_installed, 3u);
    EXPECT_EQ(link.receiver->status().keys_installed, 150u);
    EXPECT_EQ(b.Digest(), a.Digest());
    EXPECT_TRUE(b.replica->CheckItemIndex().ok()) << b.replica->CheckItemIndex();
    EXPECT_EQ(b.replica->Context().vv(), a.replica->Context().vv());
    // A new node stores what the sender stores, record for record (sets' dot index included).
    EXPECT_EQ(DataRecords(*b.store), DataRecords(*a.store));
    digests.push_back(b.Digest());
  }
  EXPECT_EQ(digests[0], digests[1]);
}

TEST(Snapshot, PackedChunkBreakingARuleIsRefusedWhole) {
  Node a(1);
  CreateAll(*a.replica);
  Populate(*a.replica, 5, "a");
  SnapshotChunkData good;
  ASSERT_TRUE(a.replica->ReadSnapshotRecords("", 1 << 20, &good).ok());
  ASSERT_TRUE(good.last);
  EXPECT_EQ(good.record_keys, 25u);
  EXPECT_TRUE(good.entries.empty());

  struct Case {
    std::string name;
    std::function<void(SnapshotChunkData*)> spoil;
    std::string says;
  };
  std::vector<Case> cases = {
      {"a collection the chunk does not describe", [](SnapshotChunkData* c) { c->collections.erase("reg"); },
       "which the chunk does not describe"},
      {"an lww key with a second record",
       [](SnapshotChunkData* c) {
         c->records.clear();
         c->collections = {{"reg", "lww"}};
         internal::AppendPackedRecord(&c->records, internal::DataKeyPrefix("reg", "k") + "x", "v");
       },
       "is not the one state record"},
      {"a record cut short", [](SnapshotChunkData* c) { c->records.resize(c->records.size() - 3); }, "runs past the end"},
      {"records out of order",
       [](SnapshotChunkData* c) {
         std::string r;
         internal::AppendPackedRecord(&r, internal::DataKeyPrefix("reg", "z") + "s", "x");
         c->records = r + c->records;
       },
       "is not above the one before it"},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    Node b(2);
    const std::string empty = b.Digest();
    SnapshotChunkData chunk = good;
    k.spoil(&chunk);
    Status st = Status::Internal("not called");
    b.replica->InstallSnapshotChunk("a", "", chunk, [&](Status s) { st = s; });
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find(k.says), std::string::npos) << st;
    // Nothing of it stays: the node holds nothing, records no install and serves.
    EXPECT_TRUE(b.replica->Serving());
    EXPECT_FALSE(b.replica->snapshot_progress().installing);
    EXPECT_EQ(b.Digest(), empty);
    EXPECT_TRUE(DataRecords(*b.store).empty());
  }
}

TEST(Snapshot, PackedChunkCodecChecksFramingOrderAndChecksum) {
  Node a(1);
  CreateAll(*a.replica);
  Populate(*a.replica, 4, "a");
  SnapshotChunkData chunk;
  ASSERT_TRUE(a.replica->ReadSnapshotRecords("", 1 << 20, &chunk).ok());
  std::string payload = internal::EncodeSnapshotChunk(7, 1, chunk);
  auto decoded = internal::DecodeSnapshotChunk(payload, 1000);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->checksum_ok);
  EXPECT_EQ(decoded->chunk.records, chunk.records);
  EXPECT_EQ(decoded->chunk.record_keys, 20u);
  EXPECT_EQ(decoded->chunk.bytes, chunk.records.size());

  // A changed byte inside a value (the records' last byte): framing still holds, the checksum
  // does not.
  size_t at = payload.find(chunk.records);
  ASSERT_NE(at, std::string::npos);
  std::string flipped = payload;
  flipped[at + chunk.records.size() - 1] ^= 0x01;
  auto tampered = internal::DecodeSnapshotChunk(flipped, 1000);
  ASSERT_TRUE(tampered.ok()) << tampered.status();
  EXPECT_FALSE(tampered->checksum_ok);

  // Keys out of order and more records than allowed are refused before any install.
  SnapshotChunkData unordered = chunk;
  std::string r;
  internal::AppendPackedRecord(&r, internal::DataKeyPrefix("tags", "z") + "s", "x");
  unordered.records = r + unordered.records;
  auto out_of_order = internal::DecodeSnapshotChunk(internal::EncodeSnapshotChunk(7, 1, unordered), 1000);
  EXPECT_EQ(out_of_order.status().code(), StatusCode::kCorruption);
  EXPECT_NE(out_of_order.status().message().find("is not above the one before it"), std::string::npos)
      << out_of_order.status();
  auto too_many = internal::DecodeSnapshotChunk(payload, 3);
  EXPECT_EQ(too_many.status().code(), StatusCode::kCorruption);
  // A record that is not a data key.
  SnapshotChunkData not_data = chunk;
  not_data.records.clear();
  internal::AppendPackedRecord(&not_data.records, "no-separator", "x");
  EXPECT_EQ(internal::DecodeSnapshotChunk(internal::EncodeSnapshotChunk(7, 1, not_data), 1000).status().code(),
            StatusCode::kCorruption);
}

TEST(Snapshot, CorruptChunkIsRefusedAndFetchedAgain) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  Populate(*a.replica, 30, "a");
  Link link(&a, &b, SmallChunks());
  int corrupted = 0;
  link.tamper = [&](Frame* f) {
    // Flip one byte inside the third chunk's payload (the states, not the framing).
    if (f->type == MessageType::kSnapshotChunk && link.chunks_delivered == 3 && corrupted == 0) {
      ++corrupted;
      f->payload[f->payload.size() / 2] ^= 0x20;
    }
  };
  link.Needed();
  link.Run();
  const BootstrapStatus& st = link.receiver->status();
  EXPECT_EQ(corrupted, 1);
  EXPECT_EQ(st.corrupt_chunks, 1u);
  EXPECT_EQ(st.transfers, 2u);  // the first, and one resumed after the refused chunk
  EXPECT_EQ(st.completed, 1u);
  EXPECT_EQ(b.Digest(), a.Digest());
}

TEST(Snapshot, InterruptedInstallServesNothingAndResumesAfterARestart) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  Populate(*a.replica, 40, "a");
  Link link(&a, &b, SmallChunks());
  link.cut = [&] { return link.receiver->status().chunks_installed >= 4; };
  link.Needed();
  link.Run();
  ASSERT_EQ(link.receiver->status().chunks_installed, 4u);
  // Crash: b's replica and receiver go away; only the store remains.
  b.Reopen();
  EXPECT_FALSE(b.replica->Serving());
  EXPECT_EQ(b.replica->Read("reg", "k0").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(b.replica->WriteAndWait("reg", "x", WriteOp::Put("v")).status().code(), StatusCode::kUnavailable);
  SnapshotProgress p = b.replica->snapshot_progress();
  EXPECT_TRUE(p.installing);
  EXPECT_EQ(p.chunks, 4u);
  // A publisher on b sends nothing and a snapshot request to b is refused.
  SnapshotSender from_b(SmallChunks(), b.replica.get());
  std::vector<OutFrame> out;
  ASSERT_TRUE(from_b.OnFrame(Frame{MessageType::kSnapshotRequest, ""}, 0, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].type, MessageType::kSnapshotRefused);

  // a keeps writing meanwhile; the resumed transfer reads fresh views.
  Populate(*a.replica, 5, "late");
  uint64_t delivered_before = link.chunks_delivered;
  link.to_a.clear();
  link.to_b.clear();
  link.cut = nullptr;
  link.sender = std::make_unique<SnapshotSender>(SmallChunks(), a.replica.get());
  link.NewReceiver();  // restored from the store: asks from where it stopped
  link.Run();
  EXPECT_EQ(link.receiver->status().completed, 1u);
  EXPECT_TRUE(b.replica->Serving());
  // The chunks installed before the crash were read before a's late writes: the node context is
  // the meet, so log catch-up brings those writes.
  EXPECT_FALSE(b.replica->Context().vv().Dominates(a.replica->Context().vv()));
  CatchUp(*a.replica, *b.replica);
  EXPECT_EQ(b.Digest(), a.Digest());
  // Resuming did not start over: a full transfer to a new node takes more chunks than the resumed
  // part did.
  uint64_t resumed = link.chunks_delivered - delivered_before;
  Node d(4);
  Link full(&a, &d, SmallChunks());
  full.Needed();
  full.Run();
  ASSERT_EQ(full.receiver->status().completed, 1u);
  EXPECT_LE(resumed + 3, full.chunks_delivered);
  EXPECT_EQ(d.Digest(), a.Digest());
}

TEST(Snapshot, MergesIntoANodeWithItsOwnWritesAndCatchesUpFromTheMeet) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  CreateAll(*b.replica);
  Populate(*a.replica, 20, "a");
  Populate(*b.replica, 5, "b");  // b's own writes, which a lacks
  DotContext b_before = b.replica->Context();
  // a truncated its log: b, which holds none of a's changes, is behind the truncation point.
  ASSERT_TRUE(a.replica->ApplyRetention(VersionVector{{a.replica->id(), 100}}, 1'000'000).ok());
  Link link(&a, &b, SmallChunks());
  link.Needed();
  // a writes while the transfer runs: later chunks carry later states; the meet stays the first.
  int writes = 0;
  link.cut = [&] {
    if (link.chunks_delivered == 2 && writes == 0) {
      ++writes;
      EXPECT_TRUE(a.replica->WriteAndWait("cnt", "k19", WriteOp::Add(1000)).ok());
    }
    return false;
  };
  link.Run();
  ASSERT_EQ(link.receiver->status().completed, 1u);
  // b kept its own writes and holds a's.
  EXPECT_TRUE(b.replica->Context().vv().Dominates(b_before.vv()));
  auto r = b.replica->Read("tags", "k0");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->values, (std::vector<std::string>{"ax", "bx"}));
  // Log catch-up from the installed context: replaying a's log (what a publisher would stream)
  // is idempotent for states that already hold a change, and fills in the rest.
  CatchUp(*a.replica, *b.replica);
  EXPECT_EQ(b.replica->Read("cnt", "k19")->counter, 1020);
  // And b's writes reach a the usual way.
  CatchUp(*b.replica, *a.replica);
  EXPECT_EQ(b.Digest(), a.Digest());
}

TEST(Snapshot, InstallRefusesAChunkThatDoesNotContinueTheInstall) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  Populate(*a.replica, 10, "a");
  SnapshotChunkData chunk;
  ASSERT_TRUE(a.replica->ReadSnapshotChunk("", 500, &chunk).ok());
  ASSERT_FALSE(chunk.last);
  Status st = Status::Internal("not called");
  b.replica->InstallSnapshotChunk("a", "somewhere", chunk, [&](Status s) { st = s; });
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(b.replica->Serving());
  b.replica->InstallSnapshotChunk("a", "", chunk, [&](Status s) { st = s; });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_FALSE(b.replica->Serving());
  // The same chunk again does not continue where the install stopped either.
  b.replica->InstallSnapshotChunk("a", "", chunk, [&](Status s) { st = s; });
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition) << st;
}

TEST(Snapshot, SenderKeepsToItsByteRate) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  Populate(*a.replica, 40, "a");
  SnapshotOptions o = SmallChunks();
  o.max_bytes_per_second = 2'000;
  Link link(&a, &b, o);
  link.Needed();
  link.Run();
  ASSERT_EQ(link.receiver->status().completed, 1u);
  EXPECT_EQ(b.Digest(), a.Digest());
  uint64_t bytes = link.sender->stats().bytes_sent;
  ASSERT_GT(bytes, 10'000u);
  // The first tenth of a second's worth (or one chunk) may go at once; the rest at the rate.
  int64_t floor_millis = static_cast<int64_t>((bytes - 2 * o.chunk_max_bytes) * 1000 / o.max_bytes_per_second);
  EXPECT_GE(link.now, floor_millis) << bytes << " bytes";
  EXPECT_LE(link.now, floor_millis + 1'000) << "throttled far below the rate";
  EXPECT_GT(link.sender->stats().throttled, 0u);
}

TEST(Snapshot, StaleSnapshotNeededAfterAnInstallIsIgnored) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  Populate(*a.replica, 5, "a");
  Link link(&a, &b, SmallChunks());
  Frame stale = NeededFrame(*a.replica, *b.replica);  // judged on b's empty context
  link.Needed();
  link.Run();
  ASSERT_EQ(link.receiver->status().completed, 1u);
  SnapshotReceiverOutput out;
  ASSERT_TRUE(link.receiver->OnFrame("a", stale, b.replica->Context().vv(), link.now, &out).ok());
  EXPECT_TRUE(out.frames.empty());
  EXPECT_FALSE(link.receiver->wanted());
}

// Leader-follower: a source still holding writes the promotion voided (a deposed leader that has
// not heard of it) is refused chunk by chunk, installs nothing, and is asked again later; once
// it no longer holds them the transfer completes.
TEST(Snapshot, ChunksHoldingVoidedChangesAreRefusedUntilTheSourceDropsThem) {
  Node a(1), b(2);
  CreateAll(*a.replica);
  Populate(*a.replica, 20, "a");  // 100 changes of a, the deposed leader
  ReplicaId ra = a.replica->id();
  EpochState epoch;
  epoch.mode = std::string(kModeLeaderFollower);
  epoch.epoch = 2;
  epoch.leader = "c";
  epoch.leader_replica = ReplicaId(77);
  epoch.has_fence = true;
  epoch.fence = VersionVector{{ra, 60}};  // the new leader took a's changes up to 60
  Link link(&a, &b, SmallChunks());
  link.receiver->SetContextCheck([&epoch](const VersionVector& vv) { return epoch.VoidedIn(vv); });
  link.Needed();
  link.Run(300);
  EXPECT_GT(link.receiver->status().voided_chunks, 0u);
  EXPECT_EQ(link.receiver->status().chunks_installed, 0u);
  EXPECT_EQ(link.receiver->status().completed, 0u);
  EXPECT_NE(link.receiver->last_refusal().find("beyond the fence (60) of epoch 2"), std::string::npos)
      << link.receiver->last_refusal();
  EXPECT_FALSE(b.replica->Read("reg", "k0").ok()) << "nothing of the refused snapshot may be installed";
  // The fence moves past a's changes (say a's writes were all taken after all): accepted.
  epoch.fence = VersionVector{{ra, 100}};
  link.Run();
  EXPECT_EQ(link.receiver->status().completed, 1u);
  EXPECT_EQ(b.Digest(), a.Digest());
}

// The change feed reads its entries from the log: truncation keeps every change a retained feed
// entry names (a registered consumer behind, or the retained tail), reports what it held back,
// and goes on once the consumer moves.
TEST(Retention, KeepsWhatTheChangeFeedStillLists) {
  Node a(1);
  CreateAll(*a.replica);
  ASSERT_TRUE(a.store->WriteAndWait([](core::WriteTxn& txn) { return core::SetFeedCursor(txn, "proj", 0); }).ok());
  Populate(*a.replica, 20, "a");  // 100 changes of a, feed entries 1..100
  ReplicaId ra = a.replica->id();
  auto horizon = std::optional<VersionVector>(VersionVector{{ra, 60}});
  auto report = a.replica->ApplyRetention(horizon, 1'000'000);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->truncated, 0u);
  EXPECT_EQ(report->held_by_feed, 60u);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 0u);
  // The consumer processed 40 entries: their changes may go, the rest stay for it.
  ASSERT_TRUE(a.store->WriteAndWait([](core::WriteTxn& txn) { return core::SetFeedCursor(txn, "proj", 40); }).ok());
  report = a.replica->ApplyRetention(horizon, 25);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->truncated, 40u);
  EXPECT_EQ(report->held_by_feed, 35u);  // the size bound wanted 75
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 40u);
  Status read = a.store->Read([](core::ReadView& view) -> Status {
    std::vector<core::FeedEntry> entries;
    SYNCLINE_RETURN_IF_ERROR(core::ReadFeed(view, 40, 1000, SIZE_MAX, &entries));
    if (entries.size() != 60 || entries.front().change.dot.counter != 41) {
      return Status::Internal("read " + std::to_string(entries.size()) + " entries");
    }
    return Status::Ok();
  });
  EXPECT_TRUE(read.ok()) << read;
  // Without the consumer nothing holds the log back.
  ASSERT_TRUE(a.store->WriteAndWait([](core::WriteTxn& txn) { return core::RemoveFeedCursor(txn, "proj"); }).ok());
  report = a.replica->ApplyRetention(horizon, 25);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->held_by_feed, 0u);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 75u);
}

TEST(Retention, TruncatesBelowTheHorizonAndTheSizeBoundAndAsksForASnapshot) {
  Node a(1);
  CreateAll(*a.replica);
  Populate(*a.replica, 20, "a");  // 100 changes of a
  ReplicaId ra = a.replica->id();
  // One peer acknowledged 60 of them, another 80: the horizon is 60.
  auto horizon = StabilityHorizon({VersionVector{{ra, 60}}, VersionVector{{ra, 80}}});
  ASSERT_TRUE(horizon.has_value());
  auto report = a.replica->ApplyRetention(horizon, 1'000'000);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->truncated, 60u);
  ASSERT_EQ(report->origins.size(), 1u);
  EXPECT_EQ(report->origins[0].low, 61u);
  EXPECT_EQ(report->origins[0].high, 100u);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 60u);
  // The size bound drops more for a peer that stays away.
  report = a.replica->ApplyRetention(horizon, 25);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->origins[0].low, 76u);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 75u);
  // Survives a restart.
  a.Reopen();
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 75u);

  // A subscriber at 70 lacks 71..75, which the log no longer holds: SnapshotNeeded, no batch.
  ShippingOptions o;
  ShippingSession pub(o, a.replica.get(), 0);
  DotContext seventy(VersionVector{{ra, 70}});
  // The subscriber's side is a session over a stub source holding that context.
  struct Stub : ChangeSource {
    DotContext ctx;
    DotContext Context() override { return ctx; }
    Status ReadLog(ReplicaId, uint64_t, size_t, size_t, std::vector<core::Change>*) override { return Status::Ok(); }
  } stub;
  stub.ctx = seventy;
  ShippingSession stub_sub(o, &stub, 0);
  SessionOutput ss;
  stub_sub.Start(0, &ss);
  SessionOutput p;
  ASSERT_TRUE(pub.OnFrame(Frame{ss.frames.at(0).type, ss.frames.at(0).payload}, 0, &p).ok());
  ASSERT_EQ(p.frames.size(), 1u);
  EXPECT_EQ(p.frames[0].type, MessageType::kSnapshotNeeded);
  EXPECT_EQ(pub.stats().snapshot_needed, 1u);
  // A subscriber at 80 gets the rest as usual.
  stub.ctx = DotContext(VersionVector{{ra, 80}});
  ShippingSession stub_sub2(o, &stub, 0);
  SessionOutput ss2;
  stub_sub2.Start(0, &ss2);
  SessionOutput p2;
  ASSERT_TRUE(pub.OnFrame(Frame{ss2.frames.at(0).type, ss2.frames.at(0).payload}, 0, &p2).ok());
  ASSERT_EQ(p2.frames.size(), 1u);
  EXPECT_EQ(p2.frames[0].type, MessageType::kBatch);
}

// In a mesh a publisher holds back relaying an origin the peer gets directly, so its cursor for
// that origin trails. Once the peer acknowledges (from the origin itself) more than the log
// keeps, the trailing cursor must not make the publisher think the peer fell behind the floor:
// that would send a healthy peer into a snapshot bootstrap.
TEST(Retention, ATrailingRelayCursorDoesNotAskAnUpToDatePeerForASnapshot) {
  Node a(1);
  CreateAll(*a.replica);
  Populate(*a.replica, 20, "a");  // 100 changes of a
  ReplicaId ra = a.replica->id();
  ShippingOptions o;
  o.relay_delay_millis = 1000;
  ShippingSession pub(o, a.replica.get(), 0);
  struct Stub : ChangeSource {
    DotContext ctx;
    DotContext Context() override { return ctx; }
    Status ReadLog(ReplicaId, uint64_t, size_t, size_t, std::vector<core::Change>*) override { return Status::Ok(); }
  } stub;
  stub.ctx = DotContext(VersionVector{{ra, 10}});
  ShippingSession sub(o, &stub, 0);
  SessionOutput so;
  sub.SetDirectOrigins({ra}, 0, &so);  // the subscriber says it gets ra directly
  so.frames.clear();
  sub.Start(0, &so);
  SessionOutput po;
  ASSERT_TRUE(pub.OnFrame(Frame{so.frames.at(0).type, so.frames.at(0).payload}, 0, &po).ok());
  for (const auto& f : po.frames) EXPECT_NE(f.type, MessageType::kBatch) << "relayed before the delay";
  // After the delay the relay sends 11..100: the cursor is at 101.
  SessionOutput later;
  pub.OnTick(1'500, &later);
  size_t batches = 0;
  for (const auto& f : later.frames) batches += f.type == MessageType::kBatch ? 1 : 0;
  ASSERT_GE(batches, 1u) << "nothing relayed after the delay";
  // The origin writes 100 more, the peer gets them directly and says so; the log keeps none of them.
  Populate(*a.replica, 20, "b");
  stub.ctx = DotContext(VersionVector{{ra, 200}});
  SessionOutput update;
  sub.OnTick(1'600, &update);
  ASSERT_EQ(update.frames.size(), 1u);
  ASSERT_EQ(update.frames[0].type, MessageType::kAck);
  auto horizon = StabilityHorizon({VersionVector{{ra, 200}}});
  ASSERT_TRUE(a.replica->ApplyRetention(horizon, 1'000'000).ok());
  ASSERT_EQ(a.replica->LogFloor().Get(ra), 200u);
  SessionOutput after;
  ASSERT_TRUE(pub.OnFrame(Frame{update.frames[0].type, update.frames[0].payload}, 1'600, &after).ok());
  pub.OnTick(2'700, &after);
  for (const auto& f : after.frames) EXPECT_NE(f.type, MessageType::kSnapshotNeeded);
  EXPECT_EQ(pub.stats().snapshot_needed, 0u);
}

// Segments: a full active segment is sealed and appends go to the other; the sealed one is
// dropped whole once everything in it is below the bounds. A large active segment waits for its
// own turn, except for what the size bound asks; a small one is truncated change by change.
TEST(Retention, SealsAFullSegmentAndDropsItWholeOnceItIsBelowTheBounds) {
  Node a(1);
  CreateAll(*a.replica);
  Populate(*a.replica, 6, "a");  // changes 1..30 of a
  ReplicaId ra = a.replica->id();
  constexpr uint64_t kSegment = 20;
  auto first = a.replica->ApplyRetention(VersionVector{{ra, 0}}, 1'000'000, 0, kSegment);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->sealed);
  EXPECT_EQ(first->truncated, 0u);
  Populate(*a.replica, 6, "b");  // 31..60, in the other segment

  // The horizon at 45: 1..30 go whole; 31..45 wait in the active segment (30 changes, past the
  // segment size), which is sealed now that the other one is empty.
  auto second = a.replica->ApplyRetention(VersionVector{{ra, 45}}, 1'000'000, 0, kSegment);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->segments_dropped, 1u);
  EXPECT_EQ(second->truncated, 30u);
  EXPECT_TRUE(second->sealed);
  ASSERT_EQ(second->origins.size(), 1u);
  EXPECT_EQ(second->origins[0].low, 31u);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 30u);

  // The size bound (keep 20 of 70) drops 31..50 one by one from the sealed segment, which cannot
  // go whole (51..60 are above it); the new active segment (61..70) is untouched.
  Populate(*a.replica, 2, "c");  // 61..70
  auto third = a.replica->ApplyRetention(VersionVector{{ra, 45}}, 20, 0, kSegment);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->segments_dropped, 0u);
  EXPECT_EQ(third->truncated, 20u);
  EXPECT_FALSE(third->sealed);
  ASSERT_EQ(third->origins.size(), 1u);
  EXPECT_EQ(third->origins[0].low, 51u);
  EXPECT_EQ(third->origins[0].high, 70u);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 50u);
  // Both segments read as one log, in counter order, across a restart.
  a.Reopen();
  std::vector<core::Change> log;
  ASSERT_TRUE(a.replica->ReadLog(ra, 0, 100, SIZE_MAX, &log).ok());
  ASSERT_EQ(log.size(), 20u);
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].dot.counter, 51 + i);

  // Everything acknowledged: the sealed segment goes whole and the small active one change by
  // change.
  auto fourth = a.replica->ApplyRetention(VersionVector{{ra, 70}}, 1'000'000, 0, kSegment);
  ASSERT_TRUE(fourth.ok()) << fourth.status();
  EXPECT_EQ(fourth->segments_dropped, 1u);
  EXPECT_EQ(fourth->truncated, 20u);
  EXPECT_TRUE(fourth->origins.empty());
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 70u);
  // Writes go on into the segment that is active.
  Populate(*a.replica, 1, "d");
  log.clear();
  ASSERT_TRUE(a.replica->ReadLog(ra, 0, 100, SIZE_MAX, &log).ok());
  ASSERT_EQ(log.size(), 5u);
  EXPECT_EQ(log.front().dot.counter, 71u);
}

// A backlog is dropped in bounded transactions: each stops at the bound and says more is left.
TEST(Retention, TruncationIsBoundedPerTransactionAndReportsWhatIsLeft) {
  Node a(1);
  CreateAll(*a.replica);
  Populate(*a.replica, 20, "a");  // 100 changes of a
  ReplicaId ra = a.replica->id();
  VersionVector horizon{{ra, 90}};
  auto first = a.replica->ApplyRetention(horizon, 1'000'000, 40);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->truncated, 40u);
  EXPECT_TRUE(first->more);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 40u);
  auto second = a.replica->ApplyRetention(horizon, 1'000'000, 40);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->truncated, 40u);
  EXPECT_TRUE(second->more);
  // The asynchronous form finishes the job: 81..90.
  std::promise<Result<RetentionReport>> done;
  a.replica->ApplyRetentionAsync(horizon, 1'000'000, 40, kDefaultLogSegmentChanges,
                                 [&done](Result<RetentionReport> r) { done.set_value(std::move(r)); });
  auto third = done.get_future().get();
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->truncated, 10u);
  EXPECT_FALSE(third->more);
  ASSERT_EQ(third->origins.size(), 1u);
  EXPECT_EQ(third->origins[0].low, 91u);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 90u);
}

TEST(Retention, NeverTruncatesAboveTheOwnContiguousPrefix) {
  Node a(1);
  CreateAll(*a.replica);
  Populate(*a.replica, 4, "a");  // 20 changes
  ReplicaId ra = a.replica->id();
  auto report = a.replica->ApplyRetention(VersionVector{{ra, 500}}, 1'000'000);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->truncated, 20u);
  EXPECT_EQ(a.replica->LogFloor().Get(ra), 20u);
  EXPECT_FALSE(StabilityHorizon({}).has_value());
}

}  // namespace
}  // namespace syncline::replication
