// syncline conflicts DATA_DIR [--collection C] [--limit N] [--replay-with RESOLVER]: the conflict
// journal (conflict/journal.h) of a data directory, read offline and read-only like inspect.
// --replay-with runs the journal's dry run (ReplayJournal) over the listed entries with another
// built-in resolver and prints the reads that would come out differently. See
// docs/diagnostics.md.
#include <deque>

#include "cli.h"
#include "syncline/conflict/journal.h"

namespace syncline::cli {

namespace {

constexpr size_t kBatch = 1024;

struct ConflictsArgs {
  std::string dir;
  std::string collection;
  int64_t limit = 50;
  std::string replay_with;
};

// The recorded outcome rendered by the entry's own resolver ("<N bytes>" when it is not built in).
std::string RenderMerged(const conflict::ResolverRegistry& registry, const conflict::JournalEntry& e) {
  auto resolver = registry.Find(e.resolver);
  if (!resolver.ok()) return "<" + std::to_string(e.merged.size()) + " bytes>";
  auto rendered = (*resolver)->Render(e.merged);
  return rendered.ok() ? *rendered : "<does not decode: " + rendered.status().message() + ">";
}

std::string HlcText(const HlcTimestamp& t) { return std::to_string(t.millis) + "." + std::to_string(t.logical); }

int RunConflicts(const Globals& g, const ConflictsArgs& a) {
  conflict::ResolverRegistry registry = conflict::ResolverRegistry::WithBuiltins();
  std::shared_ptr<const conflict::Resolver> candidate;
  if (!a.replay_with.empty()) {
    auto found = registry.Find(a.replay_with);
    if (!found.ok()) {
      std::fprintf(stderr, "syncline: conflicts: --replay-with: %s (only built-in resolvers can be replayed offline)\n",
                   found.status().ToString().c_str());
      return kExitUsage;
    }
    candidate = *found;
  }
  auto store = OpenDataDirReadOnly(a.dir);
  if (!store.ok()) return Fail("conflicts " + a.dir, store.status());

  // The newest `limit` entries of the collection asked for, oldest first, read on one snapshot.
  // The journal keeps at most JournalOptions::max_entries entries; only `limit` are held here.
  conflict::ConflictJournal journal;
  std::deque<conflict::JournalEntry> kept;
  uint64_t total = 0;
  Status s = (*store)->Read([&](core::ReadView& view) -> Status {
    uint64_t from = 1;
    while (true) {
      std::vector<conflict::JournalEntry> batch;
      Status listed = journal.List(view, from, kBatch, &batch);
      if (!listed.ok()) return listed;
      for (auto& e : batch) {
        if (!a.collection.empty() && e.collection != a.collection) continue;
        ++total;
        kept.push_back(std::move(e));
        if (kept.size() > static_cast<size_t>(a.limit)) kept.pop_front();
      }
      if (batch.size() < kBatch) return Status::Ok();
      from = batch.back().sequence + 1;
    }
  });
  if (!s.ok()) return Fail("conflicts " + a.dir + ": reading the conflict journal", s);

  std::vector<conflict::JournalEntry> entries(std::make_move_iterator(kept.begin()), std::make_move_iterator(kept.end()));
  std::optional<conflict::ReplayReport> replay;
  if (candidate) replay = conflict::ReplayJournal(entries, registry, *candidate);

  if (g.json) {
    std::string out = "{\"data_dir\":" + JsonString(a.dir) + ",\"total\":" + std::to_string(total) +
                      ",\"shown\":" + std::to_string(entries.size()) + ",\"entries\":[";
    for (size_t i = 0; i < entries.size(); ++i) {
      const auto& e = entries[i];
      out += std::string(i ? "," : "") + "{\"sequence\":" + std::to_string(e.sequence) +
             ",\"collection\":" + JsonString(e.collection) + ",\"key\":" + JsonString(e.key) +
             ",\"resolver\":" + JsonString(e.resolver) + ",\"hlc\":" + JsonString(HlcText(e.at)) +
             ",\"outcome\":" + JsonString(e.outcome) + ",\"merged\":" + JsonString(RenderMerged(registry, e)) + "}";
    }
    out += "]";
    if (replay.has_value()) {
      out += ",\"replay\":{\"resolver\":" + JsonString(a.replay_with) + ",\"entries\":" +
             std::to_string(replay->entries) + ",\"changed\":" + std::to_string(replay->changed) +
             ",\"incompatible\":" + std::to_string(replay->incompatible) + ",\"results\":[";
      bool first = true;
      for (const auto& r : replay->results) {
        if (!r.changed && r.error.empty()) continue;
        out += std::string(first ? "" : ",") + "{\"sequence\":" + std::to_string(r.sequence) +
               ",\"collection\":" + JsonString(r.collection) + ",\"key\":" + JsonString(r.key) +
               ",\"recorded\":" + JsonString(r.recorded) + ",\"replayed\":" + JsonString(r.replayed) +
               ",\"changed\":" + (r.changed ? "true" : "false") + ",\"error\":" + JsonString(r.error) + "}";
        first = false;
      }
      out += "]}";
    }
    std::printf("%s}\n", out.c_str());
    return kExitOk;
  }

  std::string where = a.collection.empty() ? "" : " in collection " + a.collection;
  std::printf("%llu conflict journal entr%s%s, showing the newest %zu\n", static_cast<unsigned long long>(total),
              total == 1 ? "y" : "ies", where.c_str(), entries.size());
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : entries) {
    rows.push_back({std::to_string(e.sequence), HlcText(e.at), e.collection, e.key, e.resolver, e.outcome,
                    RenderMerged(registry, e)});
  }
  PrintTable({"SEQ", "HLC", "COLLECTION", "KEY", "RESOLVER", "OUTCOME", "MERGED"}, rows);
  if (replay.has_value()) {
    std::printf("\nreplay with %s: %zu entries, %zu would read differently, %zu incompatible\n", a.replay_with.c_str(),
                replay->entries, replay->changed, replay->incompatible);
    rows.clear();
    for (const auto& r : replay->results) {
      if (r.changed) rows.push_back({std::to_string(r.sequence), r.collection, r.key, r.recorded, r.replayed});
      if (!r.error.empty()) rows.push_back({std::to_string(r.sequence), r.collection, r.key, "-", "error: " + r.error});
    }
    PrintTable({"SEQ", "COLLECTION", "KEY", "RECORDED", "WITH " + a.replay_with}, rows);
  }
  return kExitOk;
}

}  // namespace

void RegisterConflicts(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "conflicts",
      "offline, read-only: the conflict journal of a data directory (safe next to a running node); "
      "--replay-with dry-runs another resolver over it");
  auto args = std::make_shared<ConflictsArgs>();
  cmd->add_option("data_dir", args->dir, "the node's data directory")->required();
  cmd->add_option("--collection", args->collection, "only entries of this collection");
  cmd->add_option("--limit", args->limit, "show the newest N entries")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--replay-with", args->replay_with,
                  "replay the shown entries with this built-in resolver (lww, mv, counter, set, map) and "
                  "print the reads that would change");
  cmd->callback([&g, exit_code, args] { *exit_code = RunConflicts(g, *args); });
}

}  // namespace syncline::cli
