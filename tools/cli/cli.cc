#include "cli.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace syncline::cli {

int ExitCode(const Status& s) {
  if (s.ok()) return kExitOk;
  if (s.code() == StatusCode::kDeadlineExceeded) return kExitUnknown;
  return kExitFailed;
}

int Fail(const std::string& what, const Status& s) {
  std::fprintf(stderr, "syncline: %s: %s\n", what.c_str(), s.ToString().c_str());
  return ExitCode(s);
}

std::string DefaultClusterFile() {
  const char* env = std::getenv("SYNCLINE_CLUSTER");
  if (env != nullptr && *env != '\0') return env;
  return ".syncline/cluster.toml";
}

Status LoadClusterFile(const std::string& path, ClusterFile* out) {
  toml::parse_result parsed = toml::parse_file(path);
  if (!parsed) {
    std::ifstream probe(path);
    if (!probe) {
      return Status::NotFound("no cluster file at " + path + " (start one with `syncline cluster up`, or use --node HOST:PORT)");
    }
    return Status::InvalidArgument("cluster file " + path + ":" + std::to_string(parsed.error().source().begin.line) +
                                   ": " + std::string(parsed.error().description()));
  }
  const toml::table& t = parsed.table();
  out->path = path;
  out->cluster_id = t["cluster_id"].value_or(std::string("syncline"));
  out->dir = t["dir"].value_or(std::string());
  const toml::array* nodes = t["nodes"].as_array();
  if (nodes == nullptr) return Status::InvalidArgument("cluster file " + path + " has no [[nodes]]");
  for (const auto& n : *nodes) {
    const toml::table* nt = n.as_table();
    if (nt == nullptr) return Status::InvalidArgument("cluster file " + path + ": every [[nodes]] entry must be a table");
    ClusterNode cn;
    cn.id = (*nt)["id"].value_or(std::string());
    cn.client = (*nt)["client"].value_or(std::string());
    cn.peer = (*nt)["peer"].value_or(std::string());
    cn.admin = (*nt)["admin"].value_or(std::string());
    cn.data_dir = (*nt)["data_dir"].value_or(std::string());
    cn.log_file = (*nt)["log"].value_or(std::string());
    cn.pid = static_cast<int>((*nt)["pid"].value_or(int64_t{0}));
    if (cn.id.empty() || cn.client.empty()) {
      return Status::InvalidArgument("cluster file " + path + ": a node lacks its id or client address");
    }
    out->nodes.push_back(std::move(cn));
  }
  return Status::Ok();
}

Status SaveClusterFile(const ClusterFile& f) {
  toml::table t;
  t.insert("cluster_id", f.cluster_id);
  t.insert("dir", f.dir);
  toml::array nodes;
  for (const auto& n : f.nodes) {
    toml::table nt;
    nt.insert("id", n.id);
    nt.insert("client", n.client);
    nt.insert("peer", n.peer);
    nt.insert("admin", n.admin);
    nt.insert("data_dir", n.data_dir);
    nt.insert("log", n.log_file);
    nt.insert("pid", static_cast<int64_t>(n.pid));
    nodes.push_back(std::move(nt));
  }
  t.insert("nodes", std::move(nodes));
  std::string tmp = f.path + ".tmp";
  {
    std::ofstream out(tmp);
    out << "# Written by `syncline cluster up`; read by every syncline command.\n" << t << "\n";
    if (!out) return Status::IOError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), f.path.c_str()) != 0) return Status::IOError("cannot rename " + tmp + " to " + f.path);
  return Status::Ok();
}

Result<std::vector<ClusterNode>> Targets(const Globals& g, bool all) {
  std::string path = g.cluster_file.empty() ? DefaultClusterFile() : g.cluster_file;
  if (!g.node.empty() && g.node.find(':') != std::string::npos) {
    ClusterNode n;
    n.id = g.node;
    n.client = g.node;
    return std::vector<ClusterNode>{n};
  }
  ClusterFile f;
  SYNCLINE_RETURN_IF_ERROR(LoadClusterFile(path, &f));
  if (!g.node.empty()) {
    for (const auto& n : f.nodes) {
      if (n.id == g.node) return std::vector<ClusterNode>{n};
    }
    return Status::NotFound("no node '" + g.node + "' in " + path);
  }
  if (f.nodes.empty()) return Status::NotFound("cluster file " + path + " lists no nodes");
  if (all) return f.nodes;
  return std::vector<ClusterNode>{f.nodes.front()};
}

Result<std::unique_ptr<Client>> ConnectOne(const Globals& g) {
  SYNCLINE_ASSIGN_OR_RETURN(auto targets, Targets(g, false));
  return Client::Connect(targets.front().client, g.timeout_millis);
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (ch < 0x20 || ch >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
          out += buf;
        } else {
          out += static_cast<char>(ch);
        }
    }
  }
  return out + "\"";
}

void PrintTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::printf("%s\n", out.c_str());
  };
  line(header);
  for (const auto& r : rows) line(r);
}

int RunWrite(const Globals& g, const std::string& collection, const std::string& key, const replication::WriteOp& op) {
  auto client = ConnectOne(g);
  if (!client.ok()) return Fail("connect", client.status());
  auto r = (*client)->Write(collection, key, op, WriteOptions{g.ack, g.ack_timeout_millis});
  if (!r.ok()) {
    const Redirect& to = (*client)->last_redirect();
    if (!to.leader.empty()) {
      // A follower refused the write (nothing applied): say where the leader is.
      if (g.json) {
        std::printf("{\"ok\":false,\"redirect\":{\"leader\":%s,\"client\":%s,\"epoch\":%llu}}\n",
                    JsonString(to.leader).c_str(), JsonString(to.client_address).c_str(),
                    static_cast<unsigned long long>(to.epoch));
      }
      std::fprintf(stderr, "syncline: %s is a follower; the leader is %s%s (use --node %s)\n",
                   (*client)->address().c_str(), to.leader.c_str(),
                   to.client_address.empty() ? "" : (" at " + to.client_address).c_str(), to.leader.c_str());
    }
    return Fail("write to " + collection + "/" + key + " on " + (*client)->address(), r.status());
  }
  if (g.json) {
    std::printf("{\"ok\":true,\"origin\":%s,\"counter\":%llu,\"hlc\":%llu}\n", JsonString(r->dot.replica.ToString()).c_str(),
                static_cast<unsigned long long>(r->dot.counter), static_cast<unsigned long long>(r->hlc.Pack()));
  } else {
    std::printf("ok (change %s:%llu)\n", r->dot.replica.ToString().c_str(), static_cast<unsigned long long>(r->dot.counter));
  }
  return kExitOk;
}

int RunRead(const Globals& g, const std::string& collection, const std::string& key, const ReadOptions& options) {
  auto client = ConnectOne(g);
  if (!client.ok()) return Fail("connect", client.status());
  auto r = (*client)->Read(collection, key, options, nullptr);
  if (!r.ok()) return Fail("read " + collection + "/" + key + " on " + (*client)->address(), r.status());
  if (g.json) {
    std::string values = "[";
    for (size_t i = 0; i < r->values.size(); ++i) values += (i ? "," : "") + JsonString(r->values[i]);
    values += "]";
    std::printf("{\"found\":%s,\"values\":%s,\"counter\":%lld,\"rendered\":%s,\"token\":%s}\n", r->found ? "true" : "false",
                values.c_str(), static_cast<long long>(r->counter), JsonString(r->rendered).c_str(),
                JsonString(r->token.empty() ? "" : r->token.ToString()).c_str());
    return kExitOk;
  }
  if (r->rendered.empty()) {
    std::printf("(absent)\n");
  } else {
    std::printf("%s\n", r->rendered.c_str());
  }
  return kExitOk;
}

}  // namespace syncline::cli
