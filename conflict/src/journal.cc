#include "syncline/conflict/journal.h"

#include "codec.h"

namespace syncline::conflict {

namespace {

constexpr const char* kNextSequenceKey = "journal.next_sequence";

std::string SequenceKey(uint64_t seq) {
  std::string k(8, '\0');
  for (int i = 0; i < 8; ++i) k[static_cast<size_t>(i)] = static_cast<char>((seq >> (8 * (7 - i))) & 0xff);
  return k;
}

uint64_t ReadSequence(std::string_view bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) v = (v << 8) | static_cast<uint8_t>(bytes[i]);
  return v;
}

}  // namespace

Result<uint64_t> ConflictJournal::Append(core::WriteTxn& txn, JournalEntry entry) const {
  uint64_t seq = 1;
  auto next = txn.Get(core::Table::kMeta, kNextSequenceKey);
  if (next.ok()) {
    if (next->size() != 8) return Status::Corruption("meta entry journal.next_sequence is not 8 bytes");
    seq = ReadSequence(*next);
  } else if (!next.status().IsNotFound()) {
    return next.status();
  }
  entry.sequence = seq;
  v1::JournalEntry pb;
  pb.set_sequence(seq);
  pb.set_collection(entry.collection);
  pb.set_key(entry.key);
  pb.set_resolver(entry.resolver);
  pb.set_hlc(entry.at.Pack());
  pb.set_local(entry.local);
  pb.set_remote(entry.remote);
  pb.set_merged(entry.merged);
  pb.set_outcome(entry.outcome);
  SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kJournal, SequenceKey(seq), pb.SerializeAsString()));
  SYNCLINE_RETURN_IF_ERROR(txn.Put(core::Table::kMeta, kNextSequenceKey, SequenceKey(seq + 1)));
  if (options_.max_entries > 0 && seq > options_.max_entries) {
    // Everything below the oldest entry to keep goes.
    SYNCLINE_RETURN_IF_ERROR(
        txn.DeleteRange(core::Table::kJournal, "", SequenceKey(seq - options_.max_entries + 1)));
  }
  return seq;
}

Status ConflictJournal::List(core::ReadView& view, uint64_t from, size_t limit,
                             std::vector<JournalEntry>* out) const {
  if (limit == 0) return Status::Ok();
  Status decode;
  size_t taken = 0;
  SYNCLINE_RETURN_IF_ERROR(view.Scan(core::Table::kJournal, SequenceKey(from), "",
                                     [&](std::string_view, std::string_view value) {
    v1::JournalEntry pb;
    decode = ParseBounded(value, "journal entry", &pb);
    if (!decode.ok()) return false;
    JournalEntry e;
    e.sequence = pb.sequence();
    e.collection = pb.collection();
    e.key = pb.key();
    e.resolver = pb.resolver();
    e.at = HlcTimestamp::Unpack(pb.hlc());
    e.local = pb.local();
    e.remote = pb.remote();
    e.merged = pb.merged();
    e.outcome = pb.outcome();
    out->push_back(std::move(e));
    return ++taken < limit;
  }));
  return decode;
}

Status MergeAndJournal(core::WriteTxn& txn, const ConflictJournal& journal, const Resolver& resolver,
                       const std::string& collection, const std::string& key, HlcTimestamp at,
                       std::string* state, std::string_view remote) {
  std::string before = *state;
  MergeOutcome outcome;
  SYNCLINE_RETURN_IF_ERROR(resolver.Join(state, remote, &outcome));
  if (!outcome.concurrent) return Status::Ok();
  JournalEntry entry;
  entry.collection = collection;
  entry.key = key;
  entry.resolver = std::string(resolver.name());
  entry.at = at;
  entry.local = std::move(before);
  entry.remote = std::string(remote);
  entry.merged = *state;
  entry.outcome = std::move(outcome.description);
  return journal.Append(txn, std::move(entry)).status();
}

ReplayReport ReplayJournal(const std::vector<JournalEntry>& entries, const ResolverRegistry& registry,
                           const Resolver& candidate) {
  ReplayReport report;
  for (const JournalEntry& e : entries) {
    ReplayResult r;
    r.sequence = e.sequence;
    r.collection = e.collection;
    r.key = e.key;
    ++report.entries;
    auto original = registry.Find(e.resolver);
    Result<std::string> recorded = original.ok() ? (*original)->Render(e.merged) : Result<std::string>(original.status());
    std::string replayed_state = e.local;
    Status joined = candidate.Join(&replayed_state, e.remote, nullptr);
    Result<std::string> replayed = joined.ok() ? candidate.Render(replayed_state) : Result<std::string>(joined);
    if (!recorded.ok() || !replayed.ok()) {
      r.error = !recorded.ok() ? "recorded resolver: " + recorded.status().ToString()
                               : "candidate '" + std::string(candidate.name()) +
                                     "' cannot read this entry's states: " + replayed.status().ToString();
      ++report.incompatible;
    } else {
      r.recorded = *recorded;
      r.replayed = *replayed;
      r.changed = r.recorded != r.replayed;
      report.changed += r.changed;
    }
    report.results.push_back(std::move(r));
  }
  return report;
}

}  // namespace syncline::conflict
