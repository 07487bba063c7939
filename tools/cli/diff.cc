// syncline diff A B [--collection C]: compares two live nodes key by key and lists every key that
// differs, classified (only-on-a, only-on-b, tombstone-vs-live, same-value-different-metadata,
// a-dominates, b-dominates, concurrent; docs/diagnostics.md gives the rules), with the counts
// per class and the bytes the comparison cost on the wire. A and B are node ids of the cluster
// file or host:port client endpoints. The two nodes' sorted key lists are merged page by page, so
// memory is bounded by the page size, not by the data.
//
// Exit codes: 0 the nodes hold the same keys with the same states; 2 they differ, or a node
// could not be reached or answered an error; 1 usage.
#include <cstdio>

#include "diff_report.h"

namespace syncline::cli {

namespace {

std::string DigestHex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string VersionJson(const std::optional<replication::KeyVersion>& v) {
  if (!v.has_value()) return "null";
  return "{\"digest\":\"" + DigestHex(v->digest) + "\",\"context\":" + JsonString(v->context.ToString()) +
         ",\"tombstone\":" + (v->tombstone ? "true" : "false") + ",\"siblings\":" + std::to_string(v->siblings) +
         ",\"value_hash\":\"" + DigestHex(v->value_hash) + "\"}";
}

std::string VersionText(const std::optional<replication::KeyVersion>& v) {
  if (!v.has_value()) return "absent";
  return std::string(v->tombstone ? "tombstone" : "live") + " siblings=" + std::to_string(v->siblings) +
         " context=" + v->context.ToString();
}

}  // namespace

Result<ClusterNode> ResolveNode(const Globals& g, const std::string& name) {
  if (name.find(':') != std::string::npos) {
    ClusterNode n;
    n.id = name;
    n.client = name;
    return n;
  }
  Globals one = g;
  one.node = name;
  SYNCLINE_ASSIGN_OR_RETURN(auto targets, Targets(one, false));
  return targets.front();
}

Status PrintDiff(Client& a, Client& b, const std::string& a_name, const std::string& b_name,
                 const std::string& collection, uint64_t max_keys, bool json, DiffSummary* summary) {
  if (json) {
    std::printf("{\"a\":%s,\"b\":%s,\"a_address\":%s,\"b_address\":%s,\"collection\":%s,\"differences\":[",
                JsonString(a_name).c_str(), JsonString(b_name).c_str(), JsonString(a.address()).c_str(),
                JsonString(b.address()).c_str(), JsonString(collection).c_str());
  }
  uint64_t listed = 0;
  DiffOptions options;
  options.collection = collection;
  Status s = DiffNodes(
      a, b, options,
      [&](const KeyDifference& d) {
        if (max_keys != 0 && listed >= max_keys) return;
        if (json) {
          std::printf("%s{\"class\":\"%s\",\"collection\":%s,\"key\":%s,\"a\":%s,\"b\":%s}", listed ? "," : "",
                      std::string(DiffClassName(d.kind)).c_str(), JsonString(d.collection).c_str(),
                      JsonString(d.key).c_str(), VersionJson(d.a).c_str(), VersionJson(d.b).c_str());
        } else {
          std::printf("%-30s %s/%s\n    %s: %s\n    %s: %s\n", std::string(DiffClassName(d.kind)).c_str(),
                      d.collection.c_str(), d.key.c_str(), a_name.c_str(), VersionText(d.a).c_str(), b_name.c_str(),
                      VersionText(d.b).c_str());
        }
        ++listed;
      },
      summary);
  uint64_t bytes = summary->bytes_a + summary->bytes_b;
  if (json) {
    std::string counts;
    for (size_t i = 0; i < kDiffClassCount; ++i) {
      counts += (i ? "," : "") + JsonString(DiffClassName(static_cast<DiffClass>(i))) + ":" +
                std::to_string(summary->counts[i]);
    }
    std::printf("],\"listed\":%llu,\"differing\":%llu,\"counts\":{%s},\"keys_a\":%llu,\"keys_b\":%llu,"
                "\"requests\":%llu,\"bytes\":{\"a\":%llu,\"b\":%llu,\"total\":%llu},\"error\":%s}",
                static_cast<unsigned long long>(listed), static_cast<unsigned long long>(summary->differing),
                counts.c_str(), static_cast<unsigned long long>(summary->keys_a),
                static_cast<unsigned long long>(summary->keys_b), static_cast<unsigned long long>(summary->requests),
                static_cast<unsigned long long>(summary->bytes_a), static_cast<unsigned long long>(summary->bytes_b),
                static_cast<unsigned long long>(bytes), s.ok() ? "null" : JsonString(s.ToString()).c_str());
    return s;
  }
  if (listed < summary->differing) {
    std::printf("... and %llu more differing keys\n", static_cast<unsigned long long>(summary->differing - listed));
  }
  std::string counts;
  for (size_t i = 0; i < kDiffClassCount; ++i) {
    if (summary->counts[i] == 0) continue;
    counts += (counts.empty() ? "" : ", ") + std::string(DiffClassName(static_cast<DiffClass>(i))) + " " +
              std::to_string(summary->counts[i]);
  }
  std::printf("%s vs %s: %llu differing keys%s%s%s\n", a_name.c_str(), b_name.c_str(),
              static_cast<unsigned long long>(summary->differing), counts.empty() ? "" : " (", counts.c_str(),
              counts.empty() ? "" : ")");
  std::printf("compared %llu keys on %s and %llu on %s in %llu requests; %llu bytes on the wire (%s %llu, %s %llu)\n",
              static_cast<unsigned long long>(summary->keys_a), a_name.c_str(),
              static_cast<unsigned long long>(summary->keys_b), b_name.c_str(),
              static_cast<unsigned long long>(summary->requests), static_cast<unsigned long long>(bytes),
              a_name.c_str(), static_cast<unsigned long long>(summary->bytes_a), b_name.c_str(),
              static_cast<unsigned long long>(summary->bytes_b));
  return s;
}

void RegisterDiff(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("diff", "compare two live nodes key by key and classify every difference");
  auto a = std::make_shared<std::string>();
  auto b = std::make_shared<std::string>();
  auto collection = std::make_shared<std::string>();
  auto max_keys = std::make_shared<uint64_t>(0);
  cmd->add_option("a", *a, "node A: an id from the cluster file or HOST:PORT")->required();
  cmd->add_option("b", *b, "node B: an id from the cluster file or HOST:PORT")->required();
  cmd->add_option("--collection", *collection, "only this collection");
  cmd->add_option("--max-keys", *max_keys, "list at most this many keys (0: all); the counts are always complete")
      ->capture_default_str();
  cmd->callback([&g, exit_code, a, b, collection, max_keys] {
    auto na = ResolveNode(g, *a);
    auto nb = na.ok() ? ResolveNode(g, *b) : Result<ClusterNode>(na.status());
    if (!nb.ok()) {
      Fail("diff", nb.status());
      *exit_code = kExitFailed;
      return;
    }
    auto ca = Client::Connect(na->client, g.timeout_millis);
    auto cb = ca.ok() ? Client::Connect(nb->client, g.timeout_millis) : Result<std::unique_ptr<Client>>(ca.status());
    if (!cb.ok()) {
      Fail("diff: connect", cb.status());
      *exit_code = kExitFailed;
      return;
    }
    DiffSummary summary;
    Status s = PrintDiff(**ca, **cb, na->id, nb->id, *collection, *max_keys, g.json, &summary);
    if (g.json) std::printf("\n");
    if (!s.ok()) Fail("diff", s);
    *exit_code = s.ok() && summary.differing == 0 ? kExitOk : kExitFailed;
  });
}

}  // namespace syncline::cli
