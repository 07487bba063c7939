#include "syncline/replication/anti_entropy.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "anti_entropy_codec.h"
#include "support/seed.h"

namespace syncline::replication {
namespace {

using Model = std::map<std::string, StateDigest>;

AntiEntropyKey KeyOf(uint8_t b) {
  AntiEntropyKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(b + i);
  return k;
}

const AntiEntropyKey kIndexKey = KeyOf(1);
const AntiEntropyKey kSessionKey = KeyOf(100);

StateDigest RandomDigest(testing::SeededRng& rng) {
  StateDigest d{};
  for (auto& b : d) b = static_cast<uint8_t>(rng.Uniform(0, 255));
  return d;
}

// A random item key: one of a few collections, key bytes drawn heavily from 00, FF and 'a'.
std::string RandomItemKey(testing::SeededRng& rng) {
  static const char* const kCollections[] = {"a", "users", "z\xff"};
  std::string key;
  size_t len = rng.Uniform(1, 12);
  for (size_t i = 0; i < len; ++i) {
    switch (rng.Uniform(0, 3)) {
      case 0: key.push_back('\0'); break;
      case 1: key.push_back('\xff'); break;
      case 2: key.push_back('a'); break;
      default: key.push_back(static_cast<char>(rng.Uniform(0, 255))); break;
    }
  }
  return *MakeItemKey(kCollections[rng.Uniform(0, 2)], key);
}

void Load(const Model& model, MemoryItemIndex* index) {
  for (const auto& [k, d] : model) index->Upsert(k, d);
}

struct Outcome {
  std::unique_ptr<Reconciler> a;
  std::unique_ptr<Reconciler> b;
  size_t messages = 0;
};

// Runs a whole session between A (initiator) and B; stops after `max_messages` messages.
Outcome RunSession(const ItemIndex& ia, const ItemIndex& ib, const ReconcileOptions& options,
            const AntiEntropyKey& key_a = kSessionKey, const AntiEntropyKey& key_b = kSessionKey,
            size_t max_messages = 10000) {
  Outcome o;
  o.a = std::move(Reconciler::Create(&ia, key_a, options).value());
  o.b = std::move(Reconciler::Create(&ib, key_b, options).value());
  Result<std::string> first = o.a->Initiate();
  EXPECT_TRUE(first.ok()) << first.status();
  std::optional<std::string> msg = *first;
  o.messages = 1;
  bool to_b = true;
  while (msg && o.messages < max_messages) {
    Reconciler* r = to_b ? o.b.get() : o.a.get();
    Result<std::optional<std::string>> next = r->HandleMessage(*msg);
    EXPECT_TRUE(next.ok()) << next.status();
    if (!next.ok()) break;
    msg = *next;
    if (msg) ++o.messages;
    to_b = !to_b;
  }
  return o;
}

void ExpectExactDifference(const Model& a, const Model& b, const Outcome& o) {
  std::vector<std::string> a_needs;  // in B and not in A, or different
  std::vector<std::string> a_has;    // in A and not in B, or different
  for (const auto& [k, d] : b) {
    auto it = a.find(k);
    if (it == a.end() || it->second != d) a_needs.push_back(k);
  }
  for (const auto& [k, d] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != d) a_has.push_back(k);
  }
  EXPECT_TRUE(o.a->done());
  EXPECT_TRUE(o.b->done());
  EXPECT_EQ(o.a->need(), a_needs);
  EXPECT_EQ(o.a->have(), a_has);
  EXPECT_EQ(o.b->need(), a_has);
  EXPECT_EQ(o.b->have(), a_needs);
}

// Two models sharing `common` items, with `only_a`, `only_b` and `changed` differences.
void MakePair(testing::SeededRng& rng, size_t common, size_t only_a, size_t only_b,
              size_t changed, Model* a, Model* b) {
  while (a->size() < common) {
    std::string k = RandomItemKey(rng);
    StateDigest d = RandomDigest(rng);
    (*a)[k] = d;
    (*b)[k] = d;
  }
  std::vector<std::string> keys;
  for (const auto& [k, d] : *a) keys.push_back(k);
  for (size_t i = 0; i < changed && !keys.empty(); ++i) {
    (*b)[keys[rng.Uniform(0, keys.size() - 1)]] = RandomDigest(rng);
  }
  for (size_t i = 0; i < only_a; ++i) (*a)[RandomItemKey(rng)] = RandomDigest(rng);
  for (size_t i = 0; i < only_b; ++i) (*b)[RandomItemKey(rng)] = RandomDigest(rng);
}

TEST(AntiEntropyHash, SipHash128MatchesTheReferenceVectors) {
  AntiEntropyKey key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  auto hex = [](const std::array<uint8_t, 16>& h) {
    std::string s;
    for (uint8_t b : h) {
      s.push_back("0123456789abcdef"[b >> 4]);
      s.push_back("0123456789abcdef"[b & 15]);
    }
    return s;
  };
  EXPECT_EQ(hex(ae::SipHash128(key, "")), "a3817f04ba25a8e66df67214c7550293");
  std::string msg;
  for (int i = 0; i < 15; ++i) msg.push_back(static_cast<char>(i));
  EXPECT_EQ(hex(ae::SipHash128(key, msg)), "5493e99933b0a8117e08ec0f97cfc3d9");
}

TEST(AntiEntropyKeys, ItemKeysRoundTripAndKeepKeyOrder) {
  testing::SeededRng rng;
  std::vector<std::string> keys = {std::string("\0", 1), std::string("\0\0", 2), "\xff",
                                   std::string("a\0b", 3), "a", "ab", ""};
  for (int i = 0; i < 200; ++i) keys.push_back(rng.Bytes(6));
  for (const std::string& k1 : keys) {
    std::string item = *MakeItemKey("c", k1);
    std::string coll;
    std::string back;
    ASSERT_TRUE(SplitItemKey(item, &coll, &back).ok());
    EXPECT_EQ(coll, "c");
    EXPECT_EQ(back, k1);
    for (const std::string& k2 : keys) {
      EXPECT_EQ(k1 < k2, item < *MakeItemKey("c", k2));
    }
  }
  EXPECT_FALSE(MakeItemKey("", "k").ok());
  EXPECT_FALSE(MakeItemKey(std::string("a\0", 2), "k").ok());
  std::string coll;
  std::string key;
  EXPECT_TRUE(SplitItemKey(std::string("c\0x\0", 4), &coll, &key).IsCorruption());
}

TEST(AntiEntropyKeys, SessionKeysDependOnBothNonces) {
  AntiEntropyKey index = DeriveIndexKey("cluster secret");
  EXPECT_NE(index, DeriveIndexKey("other secret"));
  EXPECT_EQ(DeriveSessionKey(index, "n1", "n2"), DeriveSessionKey(index, "n1", "n2"));
  EXPECT_NE(DeriveSessionKey(index, "n1", "n2"), DeriveSessionKey(index, "n2", "n1"));
  EXPECT_NE(DeriveSessionKey(index, "n1", "n2"), DeriveSessionKey(index, "n1", "n3"));
}

TEST(AntiEntropyIndex, MatchesANaiveModelUnderRandomUpdates) {
  testing::SeededRng rng;
  MemoryItemIndex index(kIndexKey, rng.seed());
  Model model;
  for (int step = 0; step < 4000; ++step) {
    std::string k = RandomItemKey(rng);
    if (!model.empty() && rng.Chance(0.3)) {
      auto it = model.begin();
      std::advance(it, rng.Uniform(0, model.size() - 1));
      k = it->first;
    }
    if (rng.Chance(0.3)) {
      EXPECT_EQ(index.Erase(k), model.erase(k) == 1);
    } else {
      StateDigest d = RandomDigest(rng);
      auto it = model.find(k);
      EXPECT_EQ(index.Upsert(k, d), it == model.end() || it->second != d);
      model[k] = d;
    }
    if (step % 97 != 0) continue;
    ASSERT_EQ(*index.Size(), model.size());
    std::vector<IndexedItem> all;
    ASSERT_TRUE(index.ListItems(0, model.size(), &all).ok());
    RangeSum sum;
    uint64_t rank = 0;
    for (const auto& [mk, md] : model) {
      ASSERT_EQ(all[rank].key, mk);
      EXPECT_EQ(all[rank].digest, md);
      EXPECT_EQ(*index.Rank(mk), rank);
      EXPECT_EQ(*index.PrefixSum(rank), sum);
      EXPECT_EQ(index.ItemAt(rank)->key, mk);
      EXPECT_EQ(index.Find(mk), md);
      sum.Add(HashItem(kIndexKey, mk, md));
      ++rank;
    }
    EXPECT_EQ(*index.PrefixSum(rank), sum);
    if (model.size() > 10) {
      std::vector<IndexedItem> part;
      ASSERT_TRUE(index.ListItems(3, 9, &part).ok());
      EXPECT_EQ(std::vector<IndexedItem>(all.begin() + 3, all.begin() + 9), part);
      RangeSum range = *index.RangeFingerprint(all[3].key, all[9].key);
      RangeSum expect;
      for (int i = 3; i < 9; ++i) expect.Add(HashItem(kIndexKey, all[i].key, all[i].digest));
      EXPECT_EQ(range, expect);
    }
  }
  EXPECT_FALSE(index.PrefixSum(model.size() + 1).ok());
  EXPECT_FALSE(index.ItemAt(model.size()).ok());
}

TEST(AntiEntropyIndex, FingerprintDoesNotDependOnInsertionOrder) {
  testing::SeededRng rng;
  Model model;
  MakePair(rng, 500, 0, 0, 0, &model, &model);
  std::vector<std::pair<std::string, StateDigest>> items(model.begin(), model.end());
  MemoryItemIndex forward(kIndexKey, 1);
  MemoryItemIndex backward(kIndexKey, 2);
  for (const auto& [k, d] : items) forward.Upsert(k, d);
  for (auto it = items.rbegin(); it != items.rend(); ++it) backward.Upsert(it->first, it->second);
  EXPECT_EQ(*forward.PrefixSum(items.size()), *backward.PrefixSum(items.size()));
  MemoryItemIndex other_key(KeyOf(9), 1);
  Load(model, &other_key);
  EXPECT_NE(*forward.PrefixSum(items.size()), *other_key.PrefixSum(items.size()));
}

TEST(AntiEntropy, FindsExactlyTheSymmetricDifference) {
  testing::SeededRng rng;
  struct Shape {
    size_t common, only_a, only_b, changed;
  };
  const Shape shapes[] = {{0, 0, 0, 0},     {0, 1, 0, 0},      {0, 0, 1, 0},
                          {1, 0, 0, 1},     {1, 0, 0, 0},      {0, 300, 0, 0},
                          {0, 0, 3000, 0},  {2000, 0, 0, 0},   {2000, 1, 0, 0},
                          {2000, 0, 1, 0},  {2000, 0, 0, 1},   {2000, 30, 30, 30},
                          {5000, 400, 7, 900}, {300, 0, 0, 300}, {20, 20, 20, 20}};
  for (const Shape& s : shapes) {
    for (int round = 0; round < 3; ++round) {
      Model a;
      Model b;
      MakePair(rng, s.common, s.only_a, s.only_b, s.changed, &a, &b);
      MemoryItemIndex ia(kIndexKey, rng.Uniform(0, 1000));
      MemoryItemIndex ib(kIndexKey, rng.Uniform(0, 1000));
      Load(a, &ia);
      Load(b, &ib);
      ReconcileOptions options;
      if (round == 1) {
        options.branching = 2;
        options.list_threshold = 1;
      } else if (round == 2) {
        options.branching = 5;
        options.list_threshold = 3;
        options.fingerprint_bytes = 8;
      }
      SCOPED_TRACE("common " + std::to_string(s.common) + " only_a " + std::to_string(s.only_a) +
                   " only_b " + std::to_string(s.only_b) + " changed " +
                   std::to_string(s.changed) + " round " + std::to_string(round));
      Outcome o = RunSession(ia, ib, options);
      ExpectExactDifference(a, b, o);
    }
  }
}

TEST(AntiEntropy, EveryItemDifferent) {
  testing::SeededRng rng;
  Model a;
  Model b;
  MakePair(rng, 2500, 0, 0, 0, &a, &b);
  for (auto& [k, d] : b) d = RandomDigest(rng);  // same keys, every state different
  Model disjoint;
  MakePair(rng, 0, 0, 1500, 0, &disjoint, &disjoint);
  for (const Model* other : {&b, &disjoint}) {
    MemoryItemIndex ia(kIndexKey, 1);
    MemoryItemIndex ib(kIndexKey, 2);
    Load(a, &ia);
    Load(*other, &ib);
    Outcome o = RunSession(ia, ib, {});
    ExpectExactDifference(a, *other, o);
    EXPECT_EQ(o.a->stats().ranges_equal + o.b->stats().ranges_equal, 0u);
  }
}

TEST(AntiEntropy, IdenticalSetsFinishInOneRoundTrip) {
  testing::SeededRng rng;
  Model a;
  MakePair(rng, 3000, 0, 0, 0, &a, &a);
  MemoryItemIndex ia(kIndexKey, 1);
  MemoryItemIndex ib(kIndexKey, 2);
  Load(a, &ia);
  Load(a, &ib);
  Outcome o = RunSession(ia, ib, {});
  ExpectExactDifference(a, a, o);
  EXPECT_EQ(o.messages, 2u);
  EXPECT_EQ(o.a->stats().round_trips, 1u);
  EXPECT_EQ(o.b->stats().ranges_equal, o.b->stats().ranges_compared);
}

TEST(AntiEntropy, OneDifferenceAmongManyIsCheap) {
  testing::SeededRng rng;
  Model a;
  Model b;
  for (int i = 0; i < 100000; ++i) {
    std::string k = *MakeItemKey("bench", "user:" + std::to_string(1000000 + i));
    a[k] = b[k] = RandomDigest(rng);
  }
  b[*MakeItemKey("bench", "user:1050000")] = RandomDigest(rng);
  MemoryItemIndex ia(kIndexKey, 1);
  MemoryItemIndex ib(kIndexKey, 2);
  Load(a, &ia);
  Load(b, &ib);
  Outcome o = RunSession(ia, ib, {});
  ExpectExactDifference(a, b, o);
  EXPECT_LE(o.a->stats().round_trips, 4u);
  EXPECT_LE(o.a->stats().bytes_sent + o.a->stats().bytes_received, 2048u);
}

TEST(AntiEntropy, SessionsUnderDifferentKeysNeverMatchFingerprints) {
  testing::SeededRng rng;
  Model a;
  MakePair(rng, 2000, 0, 0, 0, &a, &a);
  MemoryItemIndex ia(kIndexKey, 1);
  MemoryItemIndex ib(kIndexKey, 2);
  Load(a, &ia);
  Load(a, &ib);
  Outcome o = RunSession(ia, ib, {}, KeyOf(100), KeyOf(101));
  EXPECT_GT(o.b->stats().ranges_compared, 0u);
  EXPECT_EQ(o.a->stats().ranges_equal, 0u);
  EXPECT_EQ(o.b->stats().ranges_equal, 0u);
  // Listing still settles the truth: nothing differs.
  ExpectExactDifference(a, a, o);
  EXPECT_GE(o.a->stats().items_listed + o.b->stats().items_listed, a.size());

  // Indexes under different index keys do not match either.
  MemoryItemIndex ic(KeyOf(7), 3);
  Load(a, &ic);
  Outcome p = RunSession(ia, ic, {});
  EXPECT_EQ(p.a->stats().ranges_equal + p.b->stats().ranges_equal, 0u);
  ExpectExactDifference(a, a, p);
}

TEST(AntiEntropy, SmallMessageBudgetDefersAndStillConverges) {
  testing::SeededRng rng;
  Model a;
  Model b;
  MakePair(rng, 4000, 300, 300, 300, &a, &b);
  MemoryItemIndex ia(kIndexKey, 1);
  MemoryItemIndex ib(kIndexKey, 2);
  Load(a, &ia);
  Load(b, &ib);
  ReconcileOptions options;
  options.branching = 4;
  options.list_threshold = 4;
  options.max_list_items = 8;
  options.max_key_bytes = 64;
  options.max_message_bytes = 4096;
  Outcome o = RunSession(ia, ib, options);
  EXPECT_GT(o.a->stats().deferred + o.b->stats().deferred, 0u);
  ExpectExactDifference(a, b, o);
}

TEST(AntiEntropy, ResumesFromPendingRangesAfterAnInterruption) {
  testing::SeededRng rng;
  Model a;
  Model b;
  MakePair(rng, 3000, 40, 40, 40, &a, &b);
  MemoryItemIndex ia(kIndexKey, 1);
  MemoryItemIndex ib(kIndexKey, 2);
  Load(a, &ia);
  Load(b, &ib);
  ReconcileOptions options;
  options.branching = 4;
  options.list_threshold = 4;
  const size_t total = RunSession(ia, ib, options).messages;
  ASSERT_GT(total, 4u);
  // Cut after every possible number of messages; A resumes with a new responder and key.
  for (size_t cut = 1; cut < total; ++cut) {
    SCOPED_TRACE("cut after " + std::to_string(cut) + " messages");
    Outcome first = RunSession(ia, ib, options, kSessionKey, kSessionKey, cut);
    std::vector<KeyRange> pending = first.a->PendingRanges();
    Outcome second;
    second.a = std::move(first.a);
    second.b = std::move(Reconciler::Create(&ib, KeyOf(55), options).value());
    std::optional<std::string> msg = *second.a->Resume(pending, KeyOf(55));
    bool to_b = true;
    for (int guard = 0; msg && guard < 1000; ++guard) {
      Reconciler* r = to_b ? second.b.get() : second.a.get();
      Result<std::optional<std::string>> next = r->HandleMessage(*msg);
      ASSERT_TRUE(next.ok()) << next.status();
      msg = *next;
      to_b = !to_b;
    }
    EXPECT_TRUE(second.a->done());
    std::vector<std::string> want_need;
    std::vector<std::string> want_have;
    for (const auto& [k, d] : b) {
      if (!a.count(k) || a.at(k) != d) want_need.push_back(k);
    }
    for (const auto& [k, d] : a) {
      if (!b.count(k) || b.at(k) != d) want_have.push_back(k);
    }
    EXPECT_EQ(second.a->need(), want_need);
    EXPECT_EQ(second.a->have(), want_have);
  }
}

TEST(AntiEntropy, RandomSetsAndOptionsAgainstTheModel) {
  testing::SeededRng rng;
  for (int round = 0; round < 150; ++round) {
    Model a;
    Model b;
    MakePair(rng, rng.Uniform(0, 600), rng.Uniform(0, 40), rng.Uniform(0, 40),
             rng.Uniform(0, 40), &a, &b);
    if (rng.Chance(0.1)) a.clear();
    if (rng.Chance(0.1)) b.clear();
    MemoryItemIndex ia(kIndexKey, rng.Uniform(0, 1000));
    MemoryItemIndex ib(kIndexKey, rng.Uniform(0, 1000));
    Load(a, &ia);
    Load(b, &ib);
    ReconcileOptions options;
    options.branching = rng.Uniform(2, 20);
    options.list_threshold = rng.Uniform(1, 20);
    options.fingerprint_bytes = rng.Uniform(8, 16);
    SCOPED_TRACE("round " + std::to_string(round) + " branching " +
                 std::to_string(options.branching) + " threshold " +
                 std::to_string(options.list_threshold));
    Outcome o = RunSession(ia, ib, options);
    ExpectExactDifference(a, b, o);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(AntiEntropy, ChangesBetweenMessagesDoNotBreakASession) {
  testing::SeededRng rng;
  Model a;
  Model b;
  MakePair(rng, 3000, 50, 50, 50, &a, &b);
  MemoryItemIndex ia(kIndexKey, 1);
  MemoryItemIndex ib(kIndexKey, 2);
  Load(a, &ia);
  Load(b, &ib);
  ReconcileOptions options;
  options.branching = 4;
  options.list_threshold = 4;
  auto ra = std::move(Reconciler::Create(&ia, kSessionKey, options).value());
  auto rb = std::move(Reconciler::Create(&ib, kSessionKey, options).value());
  std::optional<std::string> msg = *ra->Initiate();
  bool to_b = true;
  for (int guard = 0; msg && guard < 1000; ++guard) {
    // Writes land on both sides between messages.
    for (int w = 0; w < 5; ++w) {
      Model& m = rng.Chance(0.5) ? a : b;
      MemoryItemIndex& index = &m == &a ? ia : ib;
      std::string k = RandomItemKey(rng);
      if (!m.empty() && rng.Chance(0.3)) {
        k = m.begin()->first;
        m.erase(k);
        index.Erase(k);
      } else {
        m[k] = RandomDigest(rng);
        index.Upsert(k, m[k]);
      }
    }
    Result<std::optional<std::string>> next = (to_b ? rb : ra)->HandleMessage(*msg);
    ASSERT_TRUE(next.ok()) << next.status();
    msg = *next;
    to_b = !to_b;
  }
  EXPECT_TRUE(ra->done());
  // A session on the settled data finds the exact difference.
  ExpectExactDifference(a, b, RunSession(ia, ib, options));
}

TEST(AntiEntropy, StopsPastMaxDifferencesKeepingWhatItFound) {
  testing::SeededRng rng;
  Model a;
  Model b;
  MakePair(rng, 2000, 100, 100, 100, &a, &b);
  MemoryItemIndex ia(kIndexKey, 1);
  MemoryItemIndex ib(kIndexKey, 2);
  Load(a, &ia);
  Load(b, &ib);
  ReconcileOptions options;
  options.max_differences = 20;
  auto ra = std::move(Reconciler::Create(&ia, kSessionKey, options).value());
  auto rb = std::move(Reconciler::Create(&ib, kSessionKey, options).value());
  std::optional<std::string> msg = *ra->Initiate();
  Status failure;
  bool to_b = true;
  for (int guard = 0; msg && guard < 1000; ++guard) {
    Result<std::optional<std::string>> next = (to_b ? rb : ra)->HandleMessage(*msg);
    if (!next.ok()) {
      failure = next.status();
      break;
    }
    msg = *next;
    to_b = !to_b;
  }
  EXPECT_EQ(failure.code(), StatusCode::kResourceExhausted) << failure;
  EXPECT_NE(failure.message().find("more than 20 differing keys"), std::string::npos);
  Reconciler& failed = to_b ? *rb : *ra;
  EXPECT_GT(failed.need().size() + failed.have().size(), 20u);
}

TEST(AntiEntropy, APeerCannotMakeUsClaimKeysWeDoNotHold) {
  MemoryItemIndex index(kIndexKey);
  std::string held = *MakeItemKey("c", "held");
  index.Upsert(held, StateDigest{});
  auto r = std::move(Reconciler::Create(&index, kSessionKey).value());
  ae::Message m;
  ae::WireRange reply{std::nullopt, ae::RangeMode::kReply, {}, {}, {}};
  reply.reply.push_back({*MakeItemKey("c", "absent"), ae::kReplyINeed});
  reply.reply.push_back({held, ae::kReplyINeed});
  reply.reply.push_back({*MakeItemKey("c", "theirs"), ae::kReplyYouNeed});
  m.ranges.push_back(reply);
  Result<std::optional<std::string>> answer = r->HandleMessage(ae::EncodeMessage(m));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_FALSE(answer->has_value());  // nothing was asked of us
  EXPECT_TRUE(r->done());
  EXPECT_EQ(r->have(), std::vector<std::string>{held});
  EXPECT_EQ(r->need(), std::vector<std::string>{*MakeItemKey("c", "theirs")});
}

// A hostile or broken peer: well-formed messages with random ranges, modes, items and replies.
// The engine must answer each within its message limit or refuse it, never crash.
TEST(AntiEntropy, AnswersArbitraryWellFormedMessagesWithinItsLimits) {
  testing::SeededRng rng;
  Model model;
  MakePair(rng, 2000, 0, 0, 0, &model, &model);
  MemoryItemIndex index(kIndexKey, 1);
  Load(model, &index);
  std::vector<std::string> keys;
  for (const auto& [k, d] : model) keys.push_back(k);
  ReconcileOptions options;
  options.max_message_bytes = 64 << 10;
  options.max_list_items = 32;
  options.max_key_bytes = 64;
  for (int round = 0; round < 300; ++round) {
    // Random increasing bounds, drawn from our keys and from random bytes.
    std::set<std::string> bound_set;
    for (size_t i = 0, n = rng.Uniform(0, 40); i < n; ++i) {
      std::string b = rng.Chance(0.5) ? keys[rng.Uniform(0, keys.size() - 1)] : rng.Bytes(8);
      if (!b.empty()) bound_set.insert(b.substr(0, rng.Uniform(1, b.size())));
    }
    std::vector<std::optional<std::string>> bounds(bound_set.begin(), bound_set.end());
    bounds.push_back(std::nullopt);
    ae::Message m;
    std::string lower;
    for (const std::optional<std::string>& upper : bounds) {
      ae::WireRange r{upper, static_cast<ae::RangeMode>(rng.Uniform(0, 3)), {}, {}, {}};
      auto in_range = [&](const std::string& k) { return k >= lower && (!upper || k < *upper); };
      std::set<std::string> picked;
      for (size_t i = 0, n = rng.Uniform(0, 20); i < n; ++i) {
        std::string k = rng.Chance(0.7) ? keys[rng.Uniform(0, keys.size() - 1)] : rng.Bytes(10);
        if (in_range(k)) picked.insert(k);
      }
      if (r.mode == ae::RangeMode::kFingerprint) r.fingerprint = rng.Bytes(12).append(12, 'x');
      r.fingerprint.resize(r.mode == ae::RangeMode::kFingerprint ? 12 : 0);
      for (const std::string& k : picked) {
        if (r.mode == ae::RangeMode::kItems) r.items.push_back({k, RandomDigest(rng)});
        if (r.mode == ae::RangeMode::kReply) {
          r.reply.push_back({k, static_cast<uint8_t>(rng.Uniform(1, 3))});
        }
      }
      m.ranges.push_back(std::move(r));
      if (upper) lower = *upper;
    }
    auto r = std::move(Reconciler::Create(&index, kSessionKey, options).value());
    Result<std::optional<std::string>> answer = r->HandleMessage(ae::EncodeMessage(m));
    ASSERT_TRUE(answer.ok() || answer.status().IsCorruption()) << answer.status();
    if (answer.ok() && answer->has_value()) {
      EXPECT_LE((*answer)->size(), options.max_message_bytes);
      ae::DecodeLimits limits;
      limits.max_message_bytes = options.max_message_bytes;
      limits.max_list_items = options.max_list_items;
      limits.max_key_bytes = options.max_key_bytes;
      EXPECT_TRUE(ae::DecodeMessage(**answer, limits).ok());
    }
    for (const std::string& k : r->have()) EXPECT_TRUE(index.Find(k).has_value());
  }
}

TEST(AntiEntropy, RefusesBadOptionsAndMisuse) {
  MemoryItemIndex index(kIndexKey);
  EXPECT_FALSE(Reconciler::Create(nullptr, kSessionKey).ok());
  ReconcileOptions o;
  o.branching = 1;
  EXPECT_EQ(Reconciler::Create(&index, kSessionKey, o).status().code(),
            StatusCode::kInvalidArgument);
  o = {};
  o.max_message_bytes = 1000;
  Status s = Reconciler::Create(&index, kSessionKey, o).status();
  EXPECT_NE(s.message().find("max_message_bytes"), std::string::npos) << s;
  o = {};
  o.fingerprint_bytes = 4;
  EXPECT_FALSE(Reconciler::Create(&index, kSessionKey, o).ok());

  auto r = std::move(Reconciler::Create(&index, kSessionKey).value());
  ASSERT_TRUE(r->Initiate().ok());
  EXPECT_EQ(r->Initiate().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(r->Resume({{"b", "a"}}, kSessionKey).ok());
  EXPECT_FALSE(r->Resume({{"a", std::nullopt}, {"b", "c"}}, kSessionKey).ok());
}

// --- the codec ---

ae::DecodeLimits Limits() { return ae::DecodeLimits{}; }

std::string ValidMessage() {
  ae::Message m;
  m.fingerprint_bytes = 12;
  m.ranges.push_back({std::string("b"), ae::RangeMode::kSkip, {}, {}, {}});
  m.ranges.push_back({std::string("c"), ae::RangeMode::kSkip, {}, {}, {}});
  m.ranges.push_back({std::string("d\0", 2), ae::RangeMode::kFingerprint, std::string(12, 'f'),
                      {}, {}});
  ae::WireRange items{std::string("k"), ae::RangeMode::kItems, {}, {}, {}};
  items.items.push_back({std::string("d\0\xff", 3), StateDigest{1}});
  items.items.push_back({"e", StateDigest{2}});
  m.ranges.push_back(items);
  ae::WireRange reply{std::nullopt, ae::RangeMode::kReply, {}, {}, {}};
  reply.reply.push_back({"k", ae::kReplyYouNeed});
  reply.reply.push_back({"kk", ae::kReplyINeed | ae::kReplyYouNeed});
  m.ranges.push_back(reply);
  return ae::EncodeMessage(m);
}

TEST(AntiEntropyCodec, RoundTripsAndMergesAdjacentSkips) {
  std::string bytes = ValidMessage();
  Result<ae::Message> m = ae::DecodeMessage(bytes, Limits());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->ranges.size(), 4u);  // the two skips became one
  EXPECT_EQ(m->ranges[0].upper, "c");
  EXPECT_EQ(m->ranges[1].fingerprint, std::string(12, 'f'));
  EXPECT_EQ(m->ranges[2].items.size(), 2u);
  EXPECT_EQ(m->ranges[2].items[0].key, std::string("d\0\xff", 3));
  EXPECT_EQ(m->ranges[3].reply.size(), 2u);
  EXPECT_EQ(ae::EncodeMessage(*m), bytes);
}

TEST(AntiEntropyCodec, RefusesEveryTruncation) {
  std::string bytes = ValidMessage();
  for (size_t n = 0; n < bytes.size(); ++n) {
    Result<ae::Message> m = ae::DecodeMessage(std::string_view(bytes).substr(0, n), Limits());
    ASSERT_FALSE(m.ok()) << "prefix of " << n;
    EXPECT_TRUE(m.status().IsCorruption()) << m.status();
  }
}

TEST(AntiEntropyCodec, RefusesGarbageWithoutCrashing) {
  testing::SeededRng rng;
  std::string valid = ValidMessage();
  for (int i = 0; i < 20000; ++i) {
    std::string bytes;
    if (rng.Chance(0.5)) {
      bytes = rng.Bytes(64);
    } else {
      bytes = valid;
      for (int f = 0, flips = static_cast<int>(rng.Uniform(1, 4)); f < flips; ++f) {
        bytes[rng.Uniform(0, bytes.size() - 1)] = static_cast<char>(rng.Uniform(0, 255));
      }
    }
    Result<ae::Message> m = ae::DecodeMessage(bytes, Limits());
    if (!m.ok()) {
      EXPECT_TRUE(m.status().IsCorruption()) << m.status();
    }
  }
}

TEST(AntiEntropyCodec, NamesWhatIsWrong) {
  auto error = [](std::string bytes, ae::DecodeLimits limits = Limits()) {
    Result<ae::Message> m = ae::DecodeMessage(bytes, limits);
    return m.ok() ? std::string("ok") : m.status().message();
  };
  auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(error(std::string("\x02\x0c\x00\x00", 4)), "unsupported anti-entropy protocol"));
  EXPECT_TRUE(has(error(std::string("\x01\x10\x00\x00", 4)), "fingerprint length 16"));
  EXPECT_EQ(error(std::string("\x01\x0c\x00\x00", 4)), "ok");
  EXPECT_TRUE(has(error(std::string("\x01\x0c\x00\x00\x00\x00", 6)), "trailing bytes"));
  EXPECT_TRUE(has(error(std::string("\x01\x0c\x00\x07", 4)), "unknown range mode 7"));
  EXPECT_TRUE(has(error(std::string("\x01\x0c\x80\x00\x00", 5)), "overlong varint"));
  EXPECT_TRUE(has(error(std::string("\x01\x0c\x01\x00\x00", 5)), "not strictly increasing"));
  // A huge item count is refused before anything is reserved.
  std::string huge("\x01\x0c\x00\x02", 4);
  ae::PutVarint(&huge, uint64_t{1} << 40);
  EXPECT_TRUE(has(error(huge), "exceeds the limit"));
  std::string fits("\x01\x0c\x00\x02", 4);
  ae::PutVarint(&fits, 100);
  EXPECT_TRUE(has(error(fits), "cannot fit"));
  // A huge bound length.
  std::string bound("\x01\x0c\x01", 3);
  ae::PutVarint(&bound, uint64_t{1} << 30);
  EXPECT_TRUE(has(error(bound), "longer than the limit"));
  // An oversized message.
  ae::DecodeLimits small = Limits();
  small.max_message_bytes = 8;
  EXPECT_TRUE(has(error(ValidMessage(), small), "exceeds the limit of 8"));
  // An item outside its range.
  ae::Message m;
  ae::WireRange r{std::string("b"), ae::RangeMode::kItems, {}, {}, {}};
  r.items.push_back({"c", StateDigest{}});
  m.ranges.push_back(r);
  m.ranges.push_back({std::nullopt, ae::RangeMode::kSkip, {}, {}, {}});
  EXPECT_TRUE(has(error(ae::EncodeMessage(m)), "outside its range"));
}

TEST(AntiEntropy, AGarbledMessageFailsTheSessionWithAClearError) {
  MemoryItemIndex index(kIndexKey);
  index.Upsert(*MakeItemKey("c", "k"), StateDigest{});
  auto r = std::move(Reconciler::Create(&index, kSessionKey).value());
  Result<std::optional<std::string>> bad = r->HandleMessage("\x01\x0c\x05");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsCorruption());
  EXPECT_NE(bad.status().message().find("anti-entropy message"), std::string::npos);
  EXPECT_EQ(r->HandleMessage(std::string("\x01\x0c\x00\x00", 4)).status().code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace syncline::replication
