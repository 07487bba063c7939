// syncline inspect DATA_DIR [--scrub] [--secret-file F]: what a node's data directory holds, read
// offline and strictly read-only (the LMDB environment is opened MDB_RDONLY, without the node's
// lock), so it works on a stopped node's directory and next to a running node. The figures come
// from replication::Inspect (inspect.h); --scrub verifies every record's checksum with
// core::ScrubLmdbStore and fails (exit 2) if any is corrupt; --secret-file checks the
// anti-entropy item index against the data and fails (exit 2) if they differ. See
// docs/diagnostics.md.
#include <optional>

#include "cli.h"
#include "syncline/core/lmdb_store.h"
#include "syncline/node/secret.h"
#include "syncline/replication/inspect.h"

namespace syncline::cli {

Result<std::unique_ptr<core::Store>> OpenDataDirReadOnly(const std::string& dir) {
  core::LmdbStoreOptions options;
  options.read_only = true;
  return core::OpenLmdbStore(dir, options);
}

std::string Hex(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

namespace {

using replication::InspectReport;

std::string VectorJson(const VersionVector& vv) {
  std::string out = "{";
  for (size_t i = 0; i < vv.entries().size(); ++i) {
    const auto& [replica, counter] = vv.entries()[i];
    out += (i ? "," : "") + JsonString(replica.ToString()) + ":" + std::to_string(counter);
  }
  return out + "}";
}

// "0", then "1", "2-3", "4-7", ... for bucket b: [2^(b-1), 2^b - 1].
std::string MetadataBucketName(int bucket) {
  if (bucket <= 0) return "0";
  uint64_t lo = uint64_t{1} << (bucket - 1);
  uint64_t hi = bucket >= 64 ? UINT64_MAX : (uint64_t{1} << bucket) - 1;
  return lo == hi ? std::to_string(lo) : std::to_string(lo) + "-" + std::to_string(hi);
}

uint64_t TotalTombstones(const InspectReport& r) {
  uint64_t n = 0;
  for (const auto& [name, c] : r.collections) n += c.tombstones;
  return n;
}

std::string ReportJson(const InspectReport& r) {
  std::string out = "\"replica_id\":" + JsonString(r.replica_id.ToString()) +
                    ",\"cluster_id\":" + JsonString(r.cluster_id) + ",\"store_format\":" + JsonString(r.store_format) +
                    ",\"snapshot_installing\":" + (r.snapshot_installing ? "true" : "false") + ",\"collections\":{";
  bool first = true;
  for (const auto& [name, c] : r.collections) {
    out += (first ? "" : ",") + JsonString(name) + ":{\"resolver\":" + JsonString(c.resolver) +
           ",\"type\":" + JsonString(c.type) + ",\"resolver_known\":" + (c.resolver_known ? "true" : "false") +
           ",\"keys\":" + std::to_string(c.keys) + ",\"live\":" + std::to_string(c.live) +
           ",\"tombstones\":" + std::to_string(c.tombstones) + ",\"collectable\":" + std::to_string(c.collectable) +
           ",\"values\":" + std::to_string(c.values) + ",\"journal_entries\":" + std::to_string(c.journal_entries) + "}";
    first = false;
  }
  out += "},\"log\":[";
  for (size_t i = 0; i < r.log.origins.size(); ++i) {
    const auto& o = r.log.origins[i];
    out += std::string(i ? "," : "") + "{\"origin\":" + JsonString(o.origin.ToString()) + ",\"low\":" +
           std::to_string(o.low) + ",\"high\":" + std::to_string(o.high) + ",\"floor\":" + std::to_string(o.floor) + "}";
  }
  out += "],\"log_floor\":" + VectorJson(r.log.floor);
  out += ",\"version_vector\":" + VectorJson(r.context.vv()) + ",\"dot_cloud\":" + std::to_string(r.context.cloud_size());
  out += ",\"peer_acks\":{";
  first = true;
  for (const auto& [peer, vv] : r.peer_acks) {
    out += (first ? "" : ",") + JsonString(peer) + ":" + VectorJson(vv);
    first = false;
  }
  out += "},\"horizon\":" + (r.horizon.has_value() ? VectorJson(*r.horizon) : std::string("null"));
  out += ",\"tombstones\":{\"total\":" + std::to_string(TotalTombstones(r)) + ",\"by_collection\":{";
  first = true;
  for (const auto& [name, c] : r.collections) {
    if (c.tombstones == 0) continue;
    out += (first ? "" : ",") + JsonString(name) + ":" + std::to_string(c.tombstones);
    first = false;
  }
  out += "}},\"journal_entries\":" + std::to_string(r.journal_entries) + ",\"siblings\":{";
  for (size_t b = 0; b < replication::kSiblingBuckets; ++b) {
    out += std::string(b ? "," : "") + JsonString(replication::SiblingBucketName(b)) + ":" + std::to_string(r.siblings[b]);
  }
  out += "},\"metadata_bytes\":{";
  first = true;
  for (const auto& [bucket, n] : r.metadata_bytes) {
    out += (first ? "" : ",") + JsonString(MetadataBucketName(bucket)) + ":" + std::to_string(n);
    first = false;
  }
  out += "}";
  if (r.index_check != InspectReport::IndexCheck::kNotChecked) {
    out += ",\"item_index\":{\"check\":" + JsonString(replication::IndexCheckName(r.index_check)) +
           ",\"detail\":" + JsonString(r.index_detail) + "}";
  }
  return out;
}

std::string ScrubJson(const core::ScrubReport& s) {
  std::string out = "{\"checked\":" + std::to_string(s.checked) + ",\"checked_by_table\":{";
  for (int i = 0; i < core::kNumTables; ++i) {
    out += std::string(i ? "," : "") + JsonString(core::TableName(static_cast<core::Table>(i))) + ":" +
           std::to_string(s.checked_by_table[i]);
  }
  out += "},\"corrupt_count\":" + std::to_string(s.corrupt_count) + ",\"corrupt\":[";
  for (size_t i = 0; i < s.corrupt.size(); ++i) {
    const auto& c = s.corrupt[i];
    out += std::string(i ? "," : "") + "{\"table\":" + JsonString(core::TableName(c.table)) +
           ",\"key\":" + JsonString(Hex(c.key)) + ",\"error\":" + JsonString(c.error) + "}";
  }
  return out + "]}";
}

void PrintReport(const InspectReport& r) {
  std::printf("replica id     %s\n", r.replica_id.ToString().c_str());
  std::printf("cluster id     %s\n", r.cluster_id.empty() ? "-" : r.cluster_id.c_str());
  std::printf("store format   %s\n", r.store_format.c_str());
  if (r.snapshot_installing) std::printf("snapshot       installing (the node serves nothing until it completes)\n");
  std::printf("version vector %s (dot cloud: %llu dots)\n", r.context.vv().ToString().c_str(),
              static_cast<unsigned long long>(r.context.cloud_size()));

  std::printf("\ncollections\n");
  std::vector<std::vector<std::string>> rows;
  for (const auto& [name, c] : r.collections) {
    rows.push_back({name, c.resolver + (c.resolver_known ? "" : " (unknown here)"), c.type, std::to_string(c.keys),
                    std::to_string(c.live), std::to_string(c.values), std::to_string(c.tombstones),
                    r.horizon.has_value() ? std::to_string(c.collectable) : "-", std::to_string(c.journal_entries)});
  }
  PrintTable({"COLLECTION", "RESOLVER", "TYPE", "KEYS", "LIVE", "VALUES", "TOMBSTONES", "COLLECTABLE", "CONFLICTS"}, rows);

  std::printf("\nlog (per origin)\n");
  rows.clear();
  for (const auto& o : r.log.origins) {
    rows.push_back({o.origin.ToString(), std::to_string(o.low), std::to_string(o.high), std::to_string(o.floor)});
  }
  PrintTable({"ORIGIN", "LOW", "HIGH", "FLOOR"}, rows);

  std::printf("\npeers' acknowledgements\n");
  rows.clear();
  for (const auto& [peer, vv] : r.peer_acks) rows.push_back({peer, vv.ToString()});
  PrintTable({"PEER", "ACKNOWLEDGED"}, rows);
  std::printf("stability horizon: %s\n", r.horizon.has_value() ? r.horizon->ToString().c_str() : "- (no peer acknowledged anything)");

  std::printf("\ntombstones awaiting collection: %llu\n", static_cast<unsigned long long>(TotalTombstones(r)));
  std::printf("conflict journal: %llu entries\n", static_cast<unsigned long long>(r.journal_entries));

  std::printf("\nsiblings per live register key\n");
  rows.clear();
  for (size_t b = 0; b < replication::kSiblingBuckets; ++b) {
    rows.push_back({replication::SiblingBucketName(b), std::to_string(r.siblings[b])});
  }
  PrintTable({"SIBLINGS", "KEYS"}, rows);

  std::printf("\nmetadata bytes per key\n");
  rows.clear();
  for (const auto& [bucket, n] : r.metadata_bytes) rows.push_back({MetadataBucketName(bucket), std::to_string(n)});
  PrintTable({"BYTES", "KEYS"}, rows);

  switch (r.index_check) {
    case InspectReport::IndexCheck::kNotChecked: break;
    case InspectReport::IndexCheck::kAbsent:
      std::printf("\nitem index: absent (the node builds it when it opens the store)\n");
      break;
    case InspectReport::IndexCheck::kOtherSecret:
      std::printf("\nitem index: built with another cluster secret (the node rebuilds it when it opens the store)\n");
      break;
    case InspectReport::IndexCheck::kMatches:
      std::printf("\nitem index: matches the data\n");
      break;
    case InspectReport::IndexCheck::kMismatch:
      std::printf("\nitem index: DOES NOT MATCH the data: %s\n", r.index_detail.c_str());
      break;
  }
}

void PrintScrub(const core::ScrubReport& s) {
  std::printf("\nscrub: %llu records checked, %llu corrupt\n", static_cast<unsigned long long>(s.checked),
              static_cast<unsigned long long>(s.corrupt_count));
  for (const auto& c : s.corrupt) {
    std::printf("  corrupt: table %s key %s: %s\n", std::string(core::TableName(c.table)).c_str(), Hex(c.key).c_str(),
                c.error.c_str());
  }
  if (s.corrupt_count > s.corrupt.size()) {
    std::printf("  (%llu more not listed)\n", static_cast<unsigned long long>(s.corrupt_count - s.corrupt.size()));
  }
}

int RunInspect(const Globals& g, const std::string& dir, bool scrub, const std::string& secret_file) {
  replication::InspectOptions options;
  if (!secret_file.empty()) {
    auto secret = ReadSecretFile(secret_file);
    if (!secret.ok()) {
      std::fprintf(stderr, "syncline: inspect: %s\n", secret.status().message().c_str());
      return kExitUsage;
    }
    options.cluster_secret = std::move(secret).value();
  }
  auto store = OpenDataDirReadOnly(dir);
  if (!store.ok()) return Fail("inspect " + dir, store.status());
  std::optional<core::ScrubReport> scrubbed;
  if (scrub) {
    auto s = core::ScrubLmdbStore(**store);
    if (!s.ok()) return Fail("scrub " + dir, s.status());
    scrubbed = std::move(s).value();
  }
  // A corrupt record stops the inspection where it is met; the scrub (when asked) lists them all.
  auto report = replication::Inspect(store->get(), options);
  int code = kExitOk;
  if (scrubbed.has_value() && scrubbed->corrupt_count > 0) code = kExitFailed;
  const bool index_differs = report.ok() && report->index_check == InspectReport::IndexCheck::kMismatch;
  if (index_differs) code = kExitFailed;
  if (!report.ok()) code = ExitCode(report.status());
  if (g.json) {
    std::string out = "{\"data_dir\":" + JsonString(dir);
    if (report.ok()) {
      out += "," + ReportJson(*report);
    } else {
      out += ",\"error\":" + JsonString(report.status().ToString());
    }
    if (scrubbed.has_value()) out += ",\"scrub\":" + ScrubJson(*scrubbed);
    std::printf("%s}\n", out.c_str());
  } else {
    std::printf("data directory %s\n", dir.c_str());
    if (report.ok()) PrintReport(*report);
    if (scrubbed.has_value()) PrintScrub(*scrubbed);
  }
  if (!report.ok()) Fail("inspect " + dir, report.status());
  if (scrubbed.has_value() && scrubbed->corrupt_count > 0) {
    std::fprintf(stderr, "syncline: scrub %s: %llu corrupt record(s); restore the node from a replica\n", dir.c_str(),
                 static_cast<unsigned long long>(scrubbed->corrupt_count));
  }
  if (index_differs) {
    std::fprintf(stderr,
                 "syncline: inspect %s: the item index does not match the data (%s); start the node once with "
                 "--rebuild-item-index\n",
                 dir.c_str(), report->index_detail.c_str());
  }
  return code;
}

}  // namespace

void RegisterInspect(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "inspect",
      "offline, read-only: what a data directory holds (collections, log, context, tombstones, journal); "
      "safe next to a running node");
  auto dir = std::make_shared<std::string>();
  auto scrub = std::make_shared<bool>(false);
  cmd->add_option("data_dir", *dir, "the node's data directory")->required();
  cmd->add_flag("--scrub", *scrub, "verify every record's checksum; exit 2 if any is corrupt");
  auto secret_file = std::make_shared<std::string>();
  cmd->add_option("--secret-file", *secret_file,
                  "the cluster's secret file: check the anti-entropy item index against the data; exit 2 if they differ");
  cmd->callback([&g, exit_code, dir, scrub, secret_file] {
    *exit_code = RunInspect(g, *dir, *scrub, *secret_file);
  });
}

}  // namespace syncline::cli
