#include "config.h"

#include <filesystem>
#include <set>

#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

namespace syncline::daemon {

namespace {

std::string Where(const std::string& path, const toml::source_region& src) {
  return path + ":" + std::to_string(src.begin.line);
}

// host:port; `allow_any_port` accepts port 0 (listen on any free port).
bool ValidAddress(const std::string& a, bool allow_any_port = false) {
  size_t colon = a.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= a.size()) return false;
  for (size_t i = colon + 1; i < a.size(); ++i) {
    if (a[i] < '0' || a[i] > '9') return false;
  }
  long port = std::strtol(a.c_str() + colon + 1, nullptr, 10);
  return (port > 0 || (allow_any_port && port == 0)) && port <= 65535;
}

}  // namespace

Status LoadConfigFile(const std::string& path, Config* c) {
  if (!std::filesystem::exists(path)) return Status::NotFound("config file " + path + " does not exist");
  toml::parse_result parsed = toml::parse_file(path);
  if (!parsed) {
    const auto& err = parsed.error();
    return Status::InvalidArgument("config file " + Where(path, err.source()) + ": " + std::string(err.description()));
  }
  const toml::table& t = parsed.table();
  static const std::set<std::string> kKnown = {
      "node_id", "data_dir", "cluster_id", "secret_file", "peer_listen", "advertise", "client_listen",
      "admin_listen", "peers", "mode", "initial_leader", "default_ack", "sync", "max_frame_bytes",
      "max_value_bytes", "feed_retain_entries", "log_retain_changes", "log_retention_interval_ms",
      "log_segment_changes", "log_level", "log_format", "collections",
      "anti_entropy_interval_seconds", "anti_entropy_repair_bytes_per_second", "anti_entropy_max_keys_per_session",
      "snapshot_bytes_per_second", "gc_interval_seconds", "gc_fence_after_seconds"};
  for (const auto& [key, node] : t) {
    std::string k(key.str());
    if (!kKnown.count(k)) {
      return Status::InvalidArgument("config file " + Where(path, node.source()) + ": unknown key '" + k + "'");
    }
  }
  auto str = [&](const char* key, std::string* out) -> Status {
    const toml::node* n = t.get(key);
    if (n == nullptr) return Status::Ok();
    if (!n->is_string()) return Status::InvalidArgument("config file " + Where(path, n->source()) + ": '" + key + "' must be a string");
    *out = *n->value<std::string>();
    return Status::Ok();
  };
  auto num = [&](const char* key, uint64_t* out) -> Status {
    const toml::node* n = t.get(key);
    if (n == nullptr) return Status::Ok();
    if (!n->is_integer() || *n->value<int64_t>() <= 0) {
      return Status::InvalidArgument("config file " + Where(path, n->source()) + ": '" + key + "' must be a positive integer");
    }
    *out = static_cast<uint64_t>(*n->value<int64_t>());
    return Status::Ok();
  };
  auto non_negative = [&](const char* key, uint64_t* out) -> Status {
    const toml::node* n = t.get(key);
    if (n == nullptr) return Status::Ok();
    if (!n->is_integer() || *n->value<int64_t>() < 0) {
      return Status::InvalidArgument("config file " + Where(path, n->source()) + ": '" + key + "' must be an integer >= 0");
    }
    *out = static_cast<uint64_t>(*n->value<int64_t>());
    return Status::Ok();
  };
  SYNCLINE_RETURN_IF_ERROR(str("node_id", &c->node_id));
  SYNCLINE_RETURN_IF_ERROR(str("data_dir", &c->data_dir));
  SYNCLINE_RETURN_IF_ERROR(str("cluster_id", &c->cluster_id));
  SYNCLINE_RETURN_IF_ERROR(str("secret_file", &c->secret_file));
  SYNCLINE_RETURN_IF_ERROR(str("peer_listen", &c->peer_listen));
  SYNCLINE_RETURN_IF_ERROR(str("advertise", &c->advertise));
  SYNCLINE_RETURN_IF_ERROR(str("client_listen", &c->client_listen));
  SYNCLINE_RETURN_IF_ERROR(str("admin_listen", &c->admin_listen));
  SYNCLINE_RETURN_IF_ERROR(str("mode", &c->mode));
  SYNCLINE_RETURN_IF_ERROR(str("initial_leader", &c->initial_leader));
  SYNCLINE_RETURN_IF_ERROR(str("default_ack", &c->default_ack));
  SYNCLINE_RETURN_IF_ERROR(str("sync", &c->sync));
  SYNCLINE_RETURN_IF_ERROR(str("log_level", &c->log_level));
  SYNCLINE_RETURN_IF_ERROR(str("log_format", &c->log_format));
  SYNCLINE_RETURN_IF_ERROR(num("max_frame_bytes", &c->max_frame_bytes));
  SYNCLINE_RETURN_IF_ERROR(num("max_value_bytes", &c->max_value_bytes));
  SYNCLINE_RETURN_IF_ERROR(num("feed_retain_entries", &c->feed_retain_entries));
  SYNCLINE_RETURN_IF_ERROR(num("log_retain_changes", &c->log_retain_changes));
  SYNCLINE_RETURN_IF_ERROR(non_negative("log_retention_interval_ms", &c->log_retention_interval_ms));
  SYNCLINE_RETURN_IF_ERROR(non_negative("log_segment_changes", &c->log_segment_changes));
  SYNCLINE_RETURN_IF_ERROR(non_negative("anti_entropy_interval_seconds", &c->anti_entropy_interval_seconds));
  SYNCLINE_RETURN_IF_ERROR(non_negative("anti_entropy_repair_bytes_per_second", &c->anti_entropy_repair_bytes_per_second));
  SYNCLINE_RETURN_IF_ERROR(non_negative("snapshot_bytes_per_second", &c->snapshot_bytes_per_second));
  SYNCLINE_RETURN_IF_ERROR(non_negative("gc_interval_seconds", &c->gc_interval_seconds));
  SYNCLINE_RETURN_IF_ERROR(non_negative("gc_fence_after_seconds", &c->gc_fence_after_seconds));
  SYNCLINE_RETURN_IF_ERROR(num("anti_entropy_max_keys_per_session", &c->anti_entropy_max_keys_per_session));
  if (const toml::node* n = t.get("peers")) {
    const toml::array* arr = n->as_array();
    if (arr == nullptr) return Status::InvalidArgument("config file " + Where(path, n->source()) + ": 'peers' must be an array of \"host:port\" strings");
    c->peers.clear();
    for (const auto& e : *arr) {
      if (!e.is_string()) return Status::InvalidArgument("config file " + Where(path, e.source()) + ": every peer must be a \"host:port\" string");
      c->peers.push_back(*e.value<std::string>());
    }
  }
  if (const toml::node* n = t.get("collections")) {
    const toml::table* tab = n->as_table();
    if (tab == nullptr) return Status::InvalidArgument("config file " + Where(path, n->source()) + ": 'collections' must be a table of name = \"resolver\"");
    for (const auto& [name, v] : *tab) {
      if (!v.is_string()) return Status::InvalidArgument("config file " + Where(path, v.source()) + ": collection '" + std::string(name.str()) + "' must name its resolver as a string");
      c->collections[std::string(name.str())] = *v.value<std::string>();
    }
  }
  return Status::Ok();
}

Status ValidateConfig(const Config& c) {
  if (c.node_id.empty()) return Status::InvalidArgument("--node-id is required (or node_id in the config file)");
  if (c.node_id.size() > 64) return Status::InvalidArgument("--node-id must be at most 64 bytes");
  if (c.data_dir.empty()) return Status::InvalidArgument("--data-dir is required (or data_dir in the config file)");
  if (c.secret_file.empty()) return Status::InvalidArgument("--secret-file is required (or secret_file in the config file)");
  if (!ValidAddress(c.peer_listen, true)) return Status::InvalidArgument("--peer-listen '" + c.peer_listen + "' is not host:port");
  if (!ValidAddress(c.client_listen, true)) return Status::InvalidArgument("--client-listen '" + c.client_listen + "' is not host:port");
  if (!c.admin_listen.empty() && !ValidAddress(c.admin_listen, true)) {
    return Status::InvalidArgument("--admin-listen '" + c.admin_listen + "' is not host:port");
  }
  if (!c.advertise.empty() && !ValidAddress(c.advertise)) return Status::InvalidArgument("--advertise '" + c.advertise + "' is not host:port");
  for (const auto& p : c.peers) {
    if (!ValidAddress(p)) return Status::InvalidArgument("peer '" + p + "' is not host:port");
  }
  if (c.mode != "multi-leader" && c.mode != "leader-follower") {
    return Status::InvalidArgument("--mode must be multi-leader or leader-follower, not '" + c.mode + "'");
  }
  if (c.log_retention_interval_ms > 86'400'000) {
    return Status::InvalidArgument("--log-retention-interval-ms must be at most 86400000 (a day), not " +
                                   std::to_string(c.log_retention_interval_ms));
  }
  if (c.mode == "leader-follower" && c.initial_leader.empty()) {
    return Status::InvalidArgument("--mode leader-follower needs --initial-leader (the first leader's node id)");
  }
  if (c.default_ack != "local" && c.default_ack != "one" && c.default_ack != "quorum" && c.default_ack != "all") {
    return Status::InvalidArgument("--ack must be local, one, quorum or all, not '" + c.default_ack + "'");
  }
  if (c.sync != "durable" && c.sync != "nosync") return Status::InvalidArgument("--sync must be durable or nosync, not '" + c.sync + "'");
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!kLevels.count(c.log_level)) return Status::InvalidArgument("--log-level must be one of trace debug info warn error off");
  if (c.log_format != "text" && c.log_format != "json") return Status::InvalidArgument("--log-format must be text or json");
  if (c.max_frame_bytes < 4096 || c.max_frame_bytes > (uint64_t{1} << 30)) {
    return Status::InvalidArgument("--max-frame-bytes must be between 4096 and 1073741824");
  }
  if (c.max_value_bytes == 0 || c.max_value_bytes + 4096 > c.max_frame_bytes) {
    return Status::InvalidArgument("--max-value-bytes must be positive and at least 4 KiB below --max-frame-bytes");
  }
  if (c.anti_entropy_interval_seconds > 7 * 24 * 3600) {
    return Status::InvalidArgument("--anti-entropy-interval-seconds must be at most 604800 (a week); 0 turns it off");
  }
  if (c.anti_entropy_max_keys_per_session == 0) {
    return Status::InvalidArgument("--anti-entropy-max-keys-per-session must be positive");
  }
  return Status::Ok();
}

}  // namespace syncline::daemon
