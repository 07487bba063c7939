#include "syncline/replication/leader_follower.h"

#include <algorithm>
#include <optional>

#include "syncline/replication/v1/leader_follower.pb.h"

namespace syncline::replication {

namespace {

constexpr std::string_view kRecordKey = "leadership";

// Whether `mine` holds every change of the contiguous prefixes of `theirs`.
bool Covers(const VersionVector& mine, const VersionVector& theirs) {
  for (const auto& e : theirs.entries()) {
    if (mine.Get(e.first) < e.second) return false;
  }
  return true;
}

}  // namespace

Result<AckLevel> ParseAckLevel(std::string_view name) {
  if (name == "local") return AckLevel::kLocal;
  if (name == "one") return AckLevel::kOne;
  if (name == "quorum") return AckLevel::kQuorum;
  if (name == "all") return AckLevel::kAll;
  return Status::InvalidArgument("acknowledgement level '" + std::string(name) + "' is not one of local, one, quorum, all");
}

std::string_view AckLevelName(AckLevel level) {
  switch (level) {
    case AckLevel::kLocal: return "local";
    case AckLevel::kOne: return "one";
    case AckLevel::kQuorum: return "quorum";
    case AckLevel::kAll: return "all";
  }
  return "?";
}

size_t FollowersNeeded(AckLevel level, size_t cluster_size) {
  size_t followers = cluster_size > 0 ? cluster_size - 1 : 0;
  switch (level) {
    case AckLevel::kLocal: return 0;
    case AckLevel::kOne: return std::min<size_t>(1, followers);
    case AckLevel::kQuorum: return cluster_size / 2;  // with the leader: a majority
    case AckLevel::kAll: return followers;
  }
  return followers;
}

std::string EpochState::Encode() const {
  v1::EpochRecord r;
  r.set_mode(mode);
  r.set_epoch(epoch);
  r.set_leader(leader);
  r.set_leader_replica(leader_replica.value());
  r.set_leader_client(leader_client);
  r.set_promoting(promoting);
  if (has_fence) r.set_fence(fence.Encode());
  return r.SerializeAsString();
}

Result<EpochState> EpochState::Decode(std::string_view bytes) {
  v1::EpochRecord r;
  if (bytes.size() > 64 * 1024 || !r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::Corruption("epoch record of " + std::to_string(bytes.size()) + " bytes does not parse");
  }
  if (r.mode() != kModeMultiLeader && r.mode() != kModeLeaderFollower) {
    return Status::Corruption("epoch record names an unknown mode '" + r.mode().substr(0, 64) + "'");
  }
  if (r.leader().size() > 64 || r.leader_client().size() > 256) {
    return Status::Corruption("epoch record names a leader or address that is too long");
  }
  EpochState s;
  s.mode = r.mode();
  s.epoch = r.epoch();
  s.leader = r.leader();
  s.leader_replica = ReplicaId(r.leader_replica());
  s.leader_client = r.leader_client();
  s.promoting = r.promoting();
  if (!r.fence().empty()) {
    auto fence = VersionVector::Decode(r.fence());
    if (!fence.ok()) return fence.status().WithContext("fence of epoch record " + std::to_string(s.epoch));
    s.fence = std::move(fence).value();
    s.has_fence = true;
  }
  return s;
}

bool EpochState::Admits(const Dot& dot) const {
  if (!leader_follower() || !has_fence || promoting) return true;
  if (dot.replica == leader_replica) return true;
  return dot.counter <= fence.Get(dot.replica);
}

std::string EpochState::VoidedIn(const VersionVector& vv) const {
  for (const auto& [origin, counter] : vv.entries()) {
    if (counter == 0 || Admits(Dot{origin, counter})) continue;
    return "it holds change " + std::to_string(counter) + " of origin " + origin.ToString() + ", beyond the fence (" +
           std::to_string(fence.Get(origin)) + ") of epoch " + std::to_string(epoch) + " led by '" + leader + "'";
  }
  return {};
}

bool EpochState::NewerThan(const EpochState& other) const {
  if (epoch != other.epoch) return epoch > other.epoch;
  if (promoting != other.promoting) return !promoting;
  return leader > other.leader;
}

uint64_t EpochState::Tag() const {
  uint64_t h = 14695981039346656037ULL;  // FNV-1a
  for (unsigned char ch : leader) h = (h ^ ch) * 1099511628211ULL;
  return (epoch << 16) | (h & 0xffff);
}

LeaderFollower::LeaderFollower(Replica* replica, LeaderFollowerOptions options)
    : replica_(replica), options_(std::move(options)) {}

LeaderFollower::~LeaderFollower() = default;

void LeaderFollower::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

Result<std::unique_ptr<LeaderFollower>> LeaderFollower::Open(Replica* replica, LeaderFollowerOptions options) {
  if (options.mode != kModeMultiLeader && options.mode != kModeLeaderFollower) {
    return Status::InvalidArgument("mode must be multi-leader or leader-follower, not '" + options.mode + "'");
  }
  if (options.mode == kModeLeaderFollower && options.initial_leader.empty()) {
    return Status::InvalidArgument("leader-follower mode needs the initial leader's node id");
  }
  if (options.cluster_size == 0) options.cluster_size = 1;
  std::unique_ptr<LeaderFollower> lf(new LeaderFollower(replica, std::move(options)));
  auto stored = replica->store()->Get(core::Table::kMeta, std::string(kRecordKey));
  EpochState state;
  bool persist = false;
  if (stored.ok()) {
    auto decoded = EpochState::Decode(*stored);
    if (!decoded.ok()) return decoded.status().WithContext("meta record 'leadership'");
    state = std::move(decoded).value();
  } else if (!stored.status().IsNotFound()) {
    return stored.status().WithContext("reading meta record 'leadership'");
  }
  const LeaderFollowerOptions& o = lf->options_;
  if (state.mode != o.mode) {
    // A new data directory, or a restart in the other mode: a new epoch in the configured mode.
    // Nodes still in the old one adopt it from our Subscribe.
    EpochState next;
    next.mode = o.mode;
    next.epoch = stored.ok() ? state.epoch + 1 : (o.mode == kModeLeaderFollower ? 1 : 0);
    if (o.mode == kModeLeaderFollower) next.leader = o.initial_leader;
    state = std::move(next);
    persist = true;
  }
  if (state.leader_follower() && state.leader == o.node_id && !state.promoting) {
    if (state.leader_replica != replica->id() || state.leader_client != o.client_address) persist = true;
    state.leader_replica = replica->id();
    state.leader_client = o.client_address;
  }
  if (persist) {
    SYNCLINE_RETURN_IF_ERROR(replica->store()->Put(core::Table::kMeta, std::string(kRecordKey), state.Encode())
                                 .WithContext("storing meta record 'leadership'"));
  }
  lf->state_ = state;
  lf->max_seen_epoch_ = state.epoch;
  replica->SetUndo(state.leader_follower());
  // A crash between adopting a record and taking back what it leaves behind: finish now.
  if (state.leader_follower() && state.has_fence && !state.promoting) lf->RollBackOrphans(state);
  return lf;
}

uint64_t LeaderFollower::epoch() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.Tag();
}

std::string LeaderFollower::LocalRecord() {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.Encode();
}

EpochState LeaderFollower::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

std::string LeaderFollower::role() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!state_.leader_follower()) return "leader";
  if (state_.leader != options_.node_id) return "follower";
  return state_.promoting ? "candidate" : "leader";
}

Status LeaderFollower::CheckWrite() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!state_.leader_follower()) return Status::Ok();
  if (state_.leader == options_.node_id) {
    if (!state_.promoting) return Status::Ok();
    return Status::Unavailable("node '" + options_.node_id + "' is being promoted to leader of epoch " +
                               std::to_string(state_.epoch) + " and takes writes once it caught up; retry shortly");
  }
  return Status::FailedPrecondition("node '" + options_.node_id + "' is a follower in epoch " +
                                    std::to_string(state_.epoch) + "; write to the leader '" + state_.leader + "'" +
                                    (state_.leader_client.empty() ? std::string() : " at " + state_.leader_client));
}

void LeaderFollower::SetClientAddress(const std::string& address) {
  std::optional<EpochState> persist;
  {
    std::lock_guard<std::mutex> lock(mu_);
    options_.client_address = address;
    if (state_.leader_follower() && state_.leader == options_.node_id && state_.leader_client != address) {
      state_.leader_client = address;
      state_.leader_replica = replica_->id();
      changed_ = true;
      persist = state_;
    }
  }
  if (persist) Persist(*persist);
}

bool LeaderFollower::TakeEpochChanged() {
  std::lock_guard<std::mutex> lock(mu_);
  bool c = changed_;
  changed_ = false;
  return c;
}

bool LeaderFollower::Admit(const core::Change& change) {
  return change.kind == kVoidChangeKind || AdmitsDot(change.dot);
}

bool LeaderFollower::AdmitsDot(const Dot& dot) {
  std::lock_guard<std::mutex> lock(mu_);
  return state_.Admits(dot);
}

void LeaderFollower::Persist(const EpochState& state) {
  std::string bytes = state.Encode();
  auto log = options_.log;
  uint64_t epoch = state.epoch;
  replica_->store()->Submit(
      [bytes](core::WriteTxn& txn) { return txn.Put(core::Table::kMeta, std::string(kRecordKey), bytes); },
      [log, epoch](Status s) {
        if (!s.ok() && log) log("storing the epoch record of epoch " + std::to_string(epoch) + " failed: " + s.ToString());
      });
}

void LeaderFollower::RollBackOrphans(const EpochState& state) {
  auto log = options_.log;
  uint64_t epoch = state.epoch;
  std::string leader = state.leader;
  replica_->RollBack([state](const Dot& dot) { return !state.Admits(dot); },
                     "written in an epoch before " + std::to_string(epoch) + " and never reached its leader '" +
                         leader + "': not applied",
                     [log, epoch](Result<uint64_t> r) {
                       if (!log) return;
                       if (!r.ok()) {
                         log("taking back changes left behind by epoch " + std::to_string(epoch) +
                             " failed: " + r.status().ToString());
                       } else if (*r > 0) {
                         log("took back " + std::to_string(*r) + " changes left behind by epoch " +
                             std::to_string(epoch) + "; they are in the conflict journal");
                       }
                     });
}

void LeaderFollower::Adopt(EpochState next, std::vector<std::function<void()>>* later) {
  bool was_leading = state_.leader_follower() ? state_.leader == options_.node_id : true;
  bool leads = next.leader_follower() ? next.leader == options_.node_id && !next.promoting : true;
  state_ = std::move(next);
  max_seen_epoch_ = std::max(max_seen_epoch_, state_.epoch);
  changed_ = true;
  replica_->SetUndo(state_.leader_follower());
  // Store writes go out after the lock is released: a full store queue must never block while
  // holding it (the writer thread's completions take it to register acknowledgements).
  later->push_back([this, st = state_] { Persist(st); });
  if (was_leading && !leads && !waiters_.empty()) {
    Status why = Status::DeadlineExceeded("node '" + options_.node_id + "' stopped leading (epoch " +
                                          std::to_string(state_.epoch) + ", leader '" + state_.leader +
                                          "') before the write was acknowledged; the outcome is unknown");
    for (auto& w : waiters_) later->push_back([done = std::move(w.done), why] { done(why); });
    waiters_.clear();
  }
  if (state_.leader != options_.node_id && promote_done_) {
    Status why = Status::FailedPrecondition("promotion of '" + options_.node_id + "' was overtaken by epoch " +
                                            std::to_string(state_.epoch) + " led by '" + state_.leader + "'");
    later->push_back([done = std::move(promote_done_), why] { done(why); });
    promote_done_ = nullptr;
  }
  // Submitted after the record, before any batch of the new epoch is applied (the store runs
  // write functions in order), so nothing of the new epoch is undone.
  if (state_.leader_follower() && state_.has_fence && !state_.promoting) {
    later->push_back([this, st = state_] { RollBackOrphans(st); });
  }
  Log("epoch " + std::to_string(state_.epoch) + ": " + state_.mode +
      (state_.leader_follower() ? ", leader '" + state_.leader + "'" + (state_.promoting ? " (promoting)" : "") : ""));
}

bool LeaderFollower::OnPeerRecord(std::string_view record) {
  auto peer = EpochState::Decode(record);
  if (!peer.ok()) {
    Log("a peer sent an epoch record that does not decode: " + peer.status().ToString());
    return false;
  }
  std::vector<std::function<void()>> later;
  bool behind = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    max_seen_epoch_ = std::max(max_seen_epoch_, peer->epoch);
    if (peer->NewerThan(state_)) {
      Adopt(std::move(peer).value(), &later);
    } else if (peer->epoch == state_.epoch && peer->promoting == state_.promoting && peer->leader == state_.leader &&
               state_.leader_client.empty() && !peer->leader_client.empty()) {
      // The same epoch, told by someone who knows where the leader listens.
      state_.leader_client = peer->leader_client;
      state_.leader_replica = peer->leader_replica;
      later.push_back([this, st = state_] { Persist(st); });
    } else {
      behind = state_.NewerThan(*peer) ||
               (peer->epoch == state_.epoch && peer->leader_client.empty() && !state_.leader_client.empty());
    }
  }
  for (auto& f : later) f();
  return behind;
}

void LeaderFollower::WaitForAck(const Dot& dot, AckLevel level, int64_t deadline_millis, AckDone done) {
  size_t needed = FollowersNeeded(level, options_.cluster_size);
  if (needed == 0) {
    done(Status::Ok());
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  waiters_.push_back(Waiter{dot, needed, deadline_millis, std::move(done)});
}

size_t LeaderFollower::pending_acks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

void LeaderFollower::Promote(std::string mode, int64_t now_millis, PromoteDone done) {
  if (mode != kModeMultiLeader && mode != kModeLeaderFollower) {
    done(Status::InvalidArgument("mode must be multi-leader or leader-follower, not '" + mode + "'"));
    return;
  }
  std::vector<std::function<void()>> later;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (mode == kModeMultiLeader) {
      if (!state_.leader_follower()) {
        later.push_back([done = std::move(done)] { done(Status::Ok()); });
      } else {
        EpochState next;
        next.mode = mode;
        next.epoch = std::max(max_seen_epoch_, state_.epoch) + 1;
        Adopt(std::move(next), &later);
        later.push_back([done = std::move(done)] { done(Status::Ok()); });
      }
    } else if (state_.leader_follower() && state_.leader == options_.node_id && !state_.promoting) {
      later.push_back([done = std::move(done)] { done(Status::Ok()); });
    } else {
      if (promote_done_) {
        Status why = Status::FailedPrecondition("superseded by another promote request");
        later.push_back([d = std::move(promote_done_), why] { d(why); });
      }
      if (!(state_.leader_follower() && state_.leader == options_.node_id && state_.promoting)) {
        EpochState next;
        next.mode = mode;
        next.epoch = std::max(max_seen_epoch_, state_.epoch) + 1;
        next.leader = options_.node_id;
        next.leader_replica = replica_->id();
        next.leader_client = options_.client_address;
        next.promoting = true;
        Adopt(std::move(next), &later);
      }
      promote_done_ = std::move(done);
      promote_deadline_ = now_millis + options_.promote_timeout_millis;
    }
  }
  for (auto& f : later) f();
}

void LeaderFollower::OnProgress(int64_t now_millis, const std::vector<PeerView>& peers) {
  std::vector<std::function<void()>> later;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Promotion: a majority (this node included) runs our epoch and we hold all they hold.
    if (state_.leader_follower() && state_.promoting && state_.leader == options_.node_id) {
      size_t needed = options_.cluster_size / 2;
      size_t caught_up = 0;
      DotContext mine = replica_->Context();
      for (const auto& p : peers) {
        if (p.subscribed && p.epoch == state_.Tag() && Covers(mine.vv(), p.context.vv())) ++caught_up;
      }
      if (caught_up >= needed) {
        EpochState next = state_;
        next.promoting = false;
        next.fence = mine.vv();
        next.has_fence = true;
        next.leader_replica = replica_->id();
        Adopt(std::move(next), &later);
        if (promote_done_) {
          later.push_back([d = std::move(promote_done_)] { d(Status::Ok()); });
          promote_done_ = nullptr;
        }
      } else if (promote_done_ && now_millis >= promote_deadline_) {
        Status why = Status::DeadlineExceeded(
            "promotion of '" + options_.node_id + "' to epoch " + std::to_string(state_.epoch) + ": " +
            std::to_string(caught_up) + " of the " + std::to_string(needed) +
            " other nodes a majority needs run the new epoch with nothing this node lacks; it stays a candidate "
            "(no node takes writes): bring nodes back and promote again");
        later.push_back([d = std::move(promote_done_), why] { d(why); });
        promote_done_ = nullptr;
      }
    }
    // Acknowledgements.
    if (!waiters_.empty()) {
      std::deque<Waiter> keep;
      for (auto& w : waiters_) {
        size_t have = 0;
        for (const auto& p : peers) {
          // The contiguous prefix only: a promotion catches up on prefixes (a dot held out of
          // order may be left behind), so only those count.
          if (p.subscribed && p.epoch == state_.Tag() && p.context.vv().Covers(w.dot)) ++have;
        }
        if (have >= w.needed) {
          later.push_back([done = std::move(w.done)] { done(Status::Ok()); });
        } else if (now_millis >= w.deadline) {
          Status why = Status::DeadlineExceeded(
              "write " + w.dot.replica.ToString() + ":" + std::to_string(w.dot.counter) +
              " is committed on the leader but only " + std::to_string(have) + " of the " +
              std::to_string(w.needed) + " followers it waits for confirmed it in time; the outcome is unknown "
              "(it may still replicate)");
          later.push_back([done = std::move(w.done), why] { done(why); });
        } else {
          keep.push_back(std::move(w));
        }
      }
      waiters_ = std::move(keep);
    }
  }
  for (auto& f : later) f();
}

void LeaderFollower::PruneUndo(const std::vector<PeerView>& peers) {
  if (!replica_->undo()) return;
  // A change held by a majority reaches every completed promotion (which needs a majority), so it
  // can never be left behind.
  size_t majority = options_.cluster_size / 2 + 1;
  std::vector<DotContext> contexts;
  for (const auto& p : peers) contexts.push_back(p.context);
  replica_->PruneUndo(
      [contexts = std::move(contexts), majority](const Dot& dot) {
        size_t holders = 1;  // this node
        for (const auto& c : contexts) holders += c.vv().Covers(dot) ? 1 : 0;
        return holders >= majority;
      },
      [log = options_.log](Status s) {
        if (!s.ok() && log) log("pruning undo entries failed: " + s.ToString());
      });
}

void LeaderFollower::Abort(const Status& why) {
  std::vector<std::function<void()>> later;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& w : waiters_) later.push_back([done = std::move(w.done), why] { done(why); });
    waiters_.clear();
    if (promote_done_) {
      later.push_back([d = std::move(promote_done_), why] { d(why); });
      promote_done_ = nullptr;
    }
  }
  for (auto& f : later) f();
}

}  // namespace syncline::replication
