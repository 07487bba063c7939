#include "syncline/conflict/counter.h"

#include <algorithm>
#include <limits>

#include "codec.h"

namespace syncline::conflict {

namespace {
// 128-bit arithmetic so the sum of 64-bit totals cannot overflow before saturation.
__extension__ typedef __int128 Int128;
}  // namespace

PnCounter::Entry& PnCounter::EntryFor(ReplicaId replica) {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), replica,
                             [](const Entry& e, ReplicaId r) { return e.replica < r; });
  if (it == entries_.end() || it->replica != replica) it = entries_.insert(it, Entry{replica, 0, 0});
  return *it;
}

Result<PnCounter> PnCounter::Add(ReplicaId replica, int64_t amount) {
  Entry& e = EntryFor(replica);
  uint64_t magnitude = amount < 0 ? uint64_t{0} - static_cast<uint64_t>(amount) : static_cast<uint64_t>(amount);
  uint64_t& total = amount < 0 ? e.decrements : e.increments;
  if (total > std::numeric_limits<uint64_t>::max() - magnitude) {
    return Status::InvalidArgument("counter total of replica " + replica.ToString() + " would overflow");
  }
  total += magnitude;
  PnCounter delta;
  delta.entries_.push_back(e);
  return delta;
}

void PnCounter::Join(const PnCounter& other) {
  for (const Entry& o : other.entries_) {
    Entry& e = EntryFor(o.replica);
    e.increments = std::max(e.increments, o.increments);
    e.decrements = std::max(e.decrements, o.decrements);
  }
}

int64_t PnCounter::value() const {
  Int128 sum = 0;
  for (const Entry& e : entries_) sum += static_cast<Int128>(e.increments) - static_cast<Int128>(e.decrements);
  if (sum > std::numeric_limits<int64_t>::max()) return std::numeric_limits<int64_t>::max();
  if (sum < std::numeric_limits<int64_t>::min()) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(sum);
}

std::string PnCounter::Encode() const {
  if (entries_.empty()) return std::string();
  v1::CounterState pb;
  for (const Entry& e : entries_) {
    v1::CounterEntry* out = pb.add_entries();
    out->set_replica(e.replica.value());
    out->set_increments(e.increments);
    out->set_decrements(e.decrements);
  }
  return pb.SerializeAsString();
}

Result<PnCounter> PnCounter::Decode(std::string_view bytes) {
  PnCounter c;
  if (bytes.empty()) return c;
  v1::CounterState pb;
  SYNCLINE_RETURN_IF_ERROR(ParseBounded(bytes, "counter state", &pb));
  for (const v1::CounterEntry& e : pb.entries()) {
    if (e.replica() == 0 || (!c.entries_.empty() && c.entries_.back().replica.value() >= e.replica())) {
      return Status::Corruption("counter state: replicas zero or not ascending");
    }
    c.entries_.push_back(Entry{ReplicaId(e.replica()), e.increments(), e.decrements()});
  }
  return c;
}

Status CounterResolver::Join(std::string* state, std::string_view other, MergeOutcome*) const {
  SYNCLINE_ASSIGN_OR_RETURN(PnCounter mine, PnCounter::Decode(*state));
  SYNCLINE_ASSIGN_OR_RETURN(PnCounter theirs, PnCounter::Decode(other));
  mine.Join(theirs);
  *state = mine.Encode();
  return Status::Ok();
}

Result<std::string> CounterResolver::Render(std::string_view state) const {
  SYNCLINE_ASSIGN_OR_RETURN(PnCounter c, PnCounter::Decode(state));
  return std::to_string(c.value());
}

}  // namespace syncline::conflict
