// syncline-node: runs one Syncline node. See docs/configuration.md and `syncline-node --help`.
//
// Exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 bad flags or configuration, 2 could not start
// or failed while running, 3 a listen address (peer, client or admin) is in use.
#include <CLI/CLI.hpp>
#include <httplib.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <asio.hpp>

#include <sys/socket.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "admin.h"
#include "config.h"
#include "syncline/node/node.h"
#include "syncline/node/secret.h"

namespace {

constexpr int kExitAddressInUse = 3;

using syncline::Status;
using syncline::daemon::Config;

std::pair<std::string, uint16_t> Split(const std::string& a) {
  size_t colon = a.rfind(':');
  return {a.substr(0, colon), static_cast<uint16_t>(std::stoi(a.substr(colon + 1)))};
}

std::shared_ptr<spdlog::logger> MakeLogger(const Config& c) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("syncline-node", sink);
  if (c.log_format == "json") {
    logger->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","node":")" + c.node_id + R"(","msg":"%v"})");
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l [" + c.node_id + "] %v");
  }
  logger->set_level(spdlog::level::from_str(c.log_level));
  logger->flush_on(spdlog::level::info);
  return logger;
}

// JSON text escaping for log lines in json format.
std::string JsonEscape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"syncline-node: one node of a Syncline cluster"};
  std::string config_file;
  Config flags;
  std::vector<std::string> collections;
  app.add_option("--config", config_file, "TOML config file; flags override it");
  app.add_option("--node-id", flags.node_id, "stable name of this node (required)");
  app.add_option("--data-dir", flags.data_dir, "data directory, created when missing (required)");
  app.add_option("--cluster-id", flags.cluster_id, "cluster id; peers of another cluster are refused")->capture_default_str();
  app.add_option("--secret-file", flags.secret_file, "file holding the shared cluster secret (required)");
  app.add_option("--peer-listen", flags.peer_listen, "peer endpoint host:port")->capture_default_str();
  app.add_option("--advertise", flags.advertise, "host:port peers reach this node on (default: --peer-listen)");
  app.add_option("--client-listen", flags.client_listen, "client endpoint host:port")->capture_default_str();
  app.add_option("--admin-listen", flags.admin_listen, "admin HTTP host:port (/metrics /status /healthz); empty: off")->capture_default_str();
  app.add_option("--peer", flags.peers, "host:port of a peer to replicate with (repeatable)");
  app.add_option("--mode", flags.mode, "replication mode")->capture_default_str();
  app.add_option("--initial-leader", flags.initial_leader, "leader-follower mode: the first leader's node id");
  app.add_option("--ack", flags.default_ack, "default write acknowledgement")->capture_default_str();
  app.add_option("--sync", flags.sync, "durable (fsync every group commit) or nosync")->capture_default_str();
  app.add_option("--max-frame-bytes", flags.max_frame_bytes, "largest frame accepted")->capture_default_str();
  app.add_option("--max-value-bytes", flags.max_value_bytes, "largest value, element or delta accepted")->capture_default_str();
  app.add_option("--feed-retain-entries", flags.feed_retain_entries,
                 "change-feed entries kept for readers without a cursor")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--log-retain-changes", flags.log_retain_changes,
                 "change-log entries kept per origin; a peer further behind gets a snapshot")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--log-retention-interval-ms", flags.log_retention_interval_ms,
                 "truncate the change log at most every N ms; 0: never (the log grows)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--log-segment-changes", flags.log_segment_changes,
                 "changes per change-log segment, dropped whole once below the horizon; 0: no segments")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--anti-entropy-interval-seconds", flags.anti_entropy_interval_seconds,
                 "background anti-entropy with each peer every N seconds; 0: off (POST /anti-entropy still runs it)")
      ->capture_default_str();
  app.add_option("--gc-interval-seconds", flags.gc_interval_seconds,
                 "collect tombstones below the stability horizon every N seconds; 0: off")
      ->capture_default_str();
  app.add_option("--gc-fence-after-seconds", flags.gc_fence_after_seconds,
                 "fence a peer not heard from for N seconds (it re-bootstraps when it returns); 0: never")
      ->capture_default_str();
  app.add_option("--snapshot-bytes-per-second", flags.snapshot_bytes_per_second,
                 "snapshot states sent to each bootstrapping peer per second; 0: unthrottled")
      ->capture_default_str();
  app.add_option("--anti-entropy-repair-bytes-per-second", flags.anti_entropy_repair_bytes_per_second,
                 "repair states this node pulls per second; 0: unthrottled")
      ->capture_default_str();
  app.add_option("--anti-entropy-max-keys-per-session", flags.anti_entropy_max_keys_per_session,
                 "keys one anti-entropy session repairs here; the rest waits for the next session")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--log-level", flags.log_level, "trace debug info warn error off")->capture_default_str();
  app.add_option("--log-format", flags.log_format, "text or json (one object per line)")->capture_default_str();
  app.add_option("--collection", collections, "NAME=RESOLVER to create at start (repeatable)");
  bool rebuild_item_index = false;
  app.add_flag("--rebuild-item-index", rebuild_item_index,
               "rebuild the anti-entropy item index from the data at start (after `syncline inspect "
               "--secret-file` reported that it does not match)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  }

  // The file first, then every flag that was given on the command line.
  Config c;
  if (!config_file.empty()) {
    Status s = syncline::daemon::LoadConfigFile(config_file, &c);
    if (!s.ok()) {
      std::fprintf(stderr, "syncline-node: %s\n", s.message().c_str());
      return 1;
    }
  }
  auto given = [&](const char* name) { return app.get_option(name)->count() > 0; };
  if (given("--node-id")) c.node_id = flags.node_id;
  if (given("--data-dir")) c.data_dir = flags.data_dir;
  if (given("--cluster-id")) c.cluster_id = flags.cluster_id;
  if (given("--secret-file")) c.secret_file = flags.secret_file;
  if (given("--peer-listen")) c.peer_listen = flags.peer_listen;
  if (given("--advertise")) c.advertise = flags.advertise;
  if (given("--client-listen")) c.client_listen = flags.client_listen;
  if (given("--admin-listen")) c.admin_listen = flags.admin_listen;
  if (given("--peer")) c.peers = flags.peers;
  if (given("--mode")) c.mode = flags.mode;
  if (given("--initial-leader")) c.initial_leader = flags.initial_leader;
  if (given("--ack")) c.default_ack = flags.default_ack;
  if (given("--sync")) c.sync = flags.sync;
  if (given("--max-frame-bytes")) c.max_frame_bytes = flags.max_frame_bytes;
  if (given("--max-value-bytes")) c.max_value_bytes = flags.max_value_bytes;
  if (given("--feed-retain-entries")) c.feed_retain_entries = flags.feed_retain_entries;
  if (given("--log-retain-changes")) c.log_retain_changes = flags.log_retain_changes;
  if (given("--log-retention-interval-ms")) c.log_retention_interval_ms = flags.log_retention_interval_ms;
  if (given("--log-segment-changes")) c.log_segment_changes = flags.log_segment_changes;
  if (given("--anti-entropy-interval-seconds")) c.anti_entropy_interval_seconds = flags.anti_entropy_interval_seconds;
  if (given("--snapshot-bytes-per-second")) c.snapshot_bytes_per_second = flags.snapshot_bytes_per_second;
  if (given("--gc-interval-seconds")) c.gc_interval_seconds = flags.gc_interval_seconds;
  if (given("--gc-fence-after-seconds")) c.gc_fence_after_seconds = flags.gc_fence_after_seconds;
  if (given("--anti-entropy-repair-bytes-per-second")) {
    c.anti_entropy_repair_bytes_per_second = flags.anti_entropy_repair_bytes_per_second;
  }
  if (given("--anti-entropy-max-keys-per-session")) {
    c.anti_entropy_max_keys_per_session = flags.anti_entropy_max_keys_per_session;
  }
  if (given("--log-level")) c.log_level = flags.log_level;
  if (given("--log-format")) c.log_format = flags.log_format;
  for (const auto& spec : collections) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      std::fprintf(stderr, "syncline-node: --collection '%s' is not NAME=RESOLVER\n", spec.c_str());
      return 1;
    }
    c.collections[spec.substr(0, eq)] = spec.substr(eq + 1);
  }
  if (Status s = syncline::daemon::ValidateConfig(c); !s.ok()) {
    std::fprintf(stderr, "syncline-node: %s\n", s.message().c_str());
    return 1;
  }
  auto secret = syncline::ReadSecretFile(c.secret_file);
  if (!secret.ok()) {
    std::fprintf(stderr, "syncline-node: %s\n", secret.status().message().c_str());
    return 1;
  }

  auto logger = MakeLogger(c);
  bool json = c.log_format == "json";
  syncline::NodeOptions o;
  o.node_id = c.node_id;
  o.data_dir = c.data_dir;
  o.cluster_id = c.cluster_id;
  o.secret = *secret;
  o.mode = c.mode;
  o.initial_leader = c.initial_leader;
  o.default_ack = *syncline::replication::ParseAckLevel(c.default_ack);  // validated above
  std::tie(o.peer_host, o.peer_port) = Split(c.peer_listen);
  o.advertised_address = c.advertise.empty() ? c.peer_listen : c.advertise;
  o.peers = c.peers;
  o.serve_clients = true;
  std::tie(o.client_host, o.client_port) = Split(c.client_listen);
  o.sync = c.sync == "nosync" ? syncline::core::SyncMode::kNoSync : syncline::core::SyncMode::kDurable;
  o.max_frame_bytes = c.max_frame_bytes;
  o.max_value_bytes = c.max_value_bytes;
  o.rebuild_item_index = rebuild_item_index;
  o.feed_retain_entries = c.feed_retain_entries;
  o.retention.max_changes_per_origin = c.log_retain_changes;
  o.retention.interval_millis = static_cast<int64_t>(c.log_retention_interval_ms);
  o.retention.log_segment_changes = c.log_segment_changes;
  o.anti_entropy.interval_millis = static_cast<int64_t>(c.anti_entropy_interval_seconds) * 1000;
  o.anti_entropy.repair_bytes_per_second = c.anti_entropy_repair_bytes_per_second;
  o.snapshot.max_bytes_per_second = c.snapshot_bytes_per_second;
  o.gc.interval_millis = static_cast<int64_t>(c.gc_interval_seconds) * 1000;
  o.gc.fence_after_millis = static_cast<int64_t>(c.gc_fence_after_seconds) * 1000;
  o.anti_entropy.max_keys_per_session = static_cast<size_t>(c.anti_entropy_max_keys_per_session);
  o.log = [logger, json](std::string_view line) { logger->info(json ? JsonEscape(line) : std::string(line)); };

  auto node = syncline::Node::Open(o);
  if (!node.ok()) {
    logger->error(node.status().ToString());
    return 2;
  }
  for (const auto& [name, resolver] : c.collections) {
    if (Status s = (*node)->CreateCollection(name, resolver); !s.ok()) {
      logger->error("collection '" + name + "': " + s.ToString());
      return 1;
    }
  }
  if (Status s = (*node)->Start(); !s.ok()) {
    logger->error(s.ToString());
    return s.code() == syncline::StatusCode::kAlreadyExists ? kExitAddressInUse : 2;
  }
  logger->info("node " + c.node_id + " up: peers on " + c.peer_listen + ", clients on " + c.client_listen +
               (c.admin_listen.empty() ? std::string() : ", admin on " + c.admin_listen));

  std::unique_ptr<httplib::Server> http;
  std::thread http_thread;
  if (!c.admin_listen.empty()) {
    http = std::make_unique<httplib::Server>();
    syncline::daemon::InstallAdminRoutes(http.get(), node->get());
    auto [host, port] = Split(c.admin_listen);
    // Without SO_REUSEPORT (the library's default sets it): a second process on the same admin
    // address must fail here, not share the port and answer for the other node.
    http->set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    errno = 0;
    if (!http->bind_to_port(host, port)) {
      int err = errno;
      logger->error("cannot listen for admin HTTP on " + c.admin_listen + (err ? ": " + std::string(std::strerror(err)) : ""));
      return err == EADDRINUSE ? kExitAddressInUse : 2;
    }
    http_thread = std::thread([&] { http->listen_after_bind(); });
  }

  // Wait for SIGTERM or SIGINT, then stop cleanly: in-flight writes finish, connections close.
  asio::io_context signals_io;
  asio::signal_set signals(signals_io, SIGINT, SIGTERM);
  int signo = 0;
  signals.async_wait([&](const std::error_code&, int s) { signo = s; });
  signals_io.run();
  logger->info(std::string("stopping on ") + (signo == SIGINT ? "SIGINT" : "SIGTERM"));
  if (http) {
    http->stop();
    http_thread.join();
  }
  (*node)->Stop();
  logger->info("stopped");
  return 0;
}
