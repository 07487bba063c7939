// Configuration of syncline-node: a TOML file (--config) overridden by flags. Every option, its
// flag, its key in the file and its default are listed in docs/configuration.md and by
// `syncline-node --help`.
#ifndef SYNCLINE_NODE_DAEMON_CONFIG_H_
#define SYNCLINE_NODE_DAEMON_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "syncline/core/status.h"

namespace syncline::daemon {

struct Config {
  std::string node_id;                          // required
  std::string data_dir;                         // required
  std::string cluster_id = "syncline";
  std::string secret_file;                      // required: file holding the shared cluster secret
  std::string peer_listen = "127.0.0.1:7400";   // peer endpoint
  std::string advertise;                        // host:port peers reach us on (default: peer_listen)
  std::string client_listen = "127.0.0.1:7401"; // client endpoint
  std::string admin_listen = "127.0.0.1:7402";  // admin HTTP (/metrics, /status, /healthz); "" = off
  std::vector<std::string> peers;               // host:port of the peers to dial
  std::string mode = "multi-leader";            // multi-leader | leader-follower
  std::string initial_leader;                   // leader-follower: the first leader's node id
  std::string default_ack = "local";            // local | one | quorum | all
  std::string sync = "durable";                 // durable | nosync
  uint64_t max_frame_bytes = uint64_t{16} << 20;
  uint64_t max_value_bytes = uint64_t{1} << 20;
  uint64_t feed_retain_entries = 10000;         // change-feed tail kept without a cursor
  uint64_t log_retain_changes = 1000000;        // change-log entries kept per origin (retention size bound)
  uint64_t log_retention_interval_ms = 100;     // log retention runs at most this often; 0 = off (the log grows)
  uint64_t log_segment_changes = 4096;          // changes per log segment dropped whole; 0 = no segments
  uint64_t gc_interval_seconds = 60;            // garbage collection below the stability horizon; 0 = off
  uint64_t gc_fence_after_seconds = 86400;      // fence a peer silent this long; 0 = never
  uint64_t anti_entropy_interval_seconds = 60;  // background anti-entropy with each peer; 0 = off
  uint64_t snapshot_bytes_per_second = 0;  // snapshot states sent to each bootstrapping peer per second; 0 = unthrottled
  uint64_t anti_entropy_repair_bytes_per_second = 0;  // repair states pulled per second; 0 = unthrottled
  uint64_t anti_entropy_max_keys_per_session = 100000;  // keys one session repairs here
  std::string log_level = "info";               // trace debug info warn error off
  std::string log_format = "text";              // text | json
  std::map<std::string, std::string> collections;  // created at start: name -> resolver
};

// Loads `path` (TOML) into *config. InvalidArgument naming the file, key and line for unknown
// keys, wrong types or a syntax error; NotFound if the file does not exist.
Status LoadConfigFile(const std::string& path, Config* config);

// Checks the merged configuration; InvalidArgument naming the option.
Status ValidateConfig(const Config& config);

}  // namespace syncline::daemon

#endif  // SYNCLINE_NODE_DAEMON_CONFIG_H_
