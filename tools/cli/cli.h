// Shared pieces of the syncline CLI: the cluster file, node addressing, output and exit codes.
//
// Exit codes (stable): 0 done, 1 usage error, 2 failed and not applied, 3 unknown (timed out or
// connection lost after sending).
#ifndef SYNCLINE_TOOLS_CLI_CLI_H_
#define SYNCLINE_TOOLS_CLI_CLI_H_

#include <CLI/CLI.hpp>

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "syncline/core/status.h"
#include "syncline/core/store.h"
#include "syncline/node/client.h"

namespace syncline::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 1;
inline constexpr int kExitFailed = 2;
inline constexpr int kExitUnknown = 3;

// Maps a Status to the exit code: DeadlineExceeded is unknown, anything else failed.
int ExitCode(const Status& s);

struct ClusterNode {
  std::string id;
  std::string client;  // host:port of the client endpoint
  std::string peer;
  std::string admin;
  std::string data_dir;
  std::string log_file;
  int pid = 0;
};

struct ClusterFile {
  std::string path;
  std::string cluster_id;
  std::string dir;
  std::vector<ClusterNode> nodes;
};

Status LoadClusterFile(const std::string& path, ClusterFile* out);
Status SaveClusterFile(const ClusterFile& file);

// Options every command shares.
struct Globals {
  std::string cluster_file;  // --cluster (default: $SYNCLINE_CLUSTER or .syncline/cluster.toml)
  std::string node;          // --node ID|HOST:PORT
  bool json = false;         // --json
  int64_t timeout_millis = 5000;
  std::string ack;                // --ack local|one|quorum|all for writes (empty: the node's default)
  int64_t ack_timeout_millis = 0; // --ack-timeout-ms (0: the node's default)
};

std::string DefaultClusterFile();

// The nodes a command addresses: --node (an id from the cluster file, or host:port), else every
// node of the cluster file (all = true) or its first node.
Result<std::vector<ClusterNode>> Targets(const Globals& g, bool all);

// A connection to one node (the one --node names, or the first of the cluster file).
Result<std::unique_ptr<Client>> ConnectOne(const Globals& g);

// JSON helpers for --json output.
std::string JsonString(std::string_view s);

// Prints `rows` as an aligned table with `header`.
void PrintTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// Reports an error on stderr and returns its exit code.
int Fail(const std::string& what, const Status& s);

// Each subcommand lives in its own file and registers itself on the app; the callback it installs
// stores the exit code in *exit_code.
using Register = void (*)(CLI::App& app, Globals& g, int* exit_code);
void RegisterPut(CLI::App& app, Globals& g, int* exit_code);
void RegisterGet(CLI::App& app, Globals& g, int* exit_code);
void RegisterDel(CLI::App& app, Globals& g, int* exit_code);
void RegisterCounter(CLI::App& app, Globals& g, int* exit_code);
void RegisterSet(CLI::App& app, Globals& g, int* exit_code);
void RegisterMap(CLI::App& app, Globals& g, int* exit_code);
void RegisterCreate(CLI::App& app, Globals& g, int* exit_code);
void RegisterStatus(CLI::App& app, Globals& g, int* exit_code);
void RegisterDigest(CLI::App& app, Globals& g, int* exit_code);
void RegisterAntiEntropy(CLI::App& app, Globals& g, int* exit_code);
void RegisterDump(CLI::App& app, Globals& g, int* exit_code);
void RegisterCluster(CLI::App& app, Globals& g, int* exit_code);
void RegisterPromote(CLI::App& app, Globals& g, int* exit_code);
void RegisterWatch(CLI::App& app, Globals& g, int* exit_code);
// Live divergence diagnostics between nodes (diff.cc, verify.cc; docs/diagnostics.md).
void RegisterDiff(CLI::App& app, Globals& g, int* exit_code);
void RegisterVerify(CLI::App& app, Globals& g, int* exit_code);
// Offline diagnostics over a data directory (read-only; inspect.cc, conflicts.cc).
void RegisterInspect(CLI::App& app, Globals& g, int* exit_code);
void RegisterConflicts(CLI::App& app, Globals& g, int* exit_code);

// Opens the LMDB store of data directory `dir` read-only (works next to a running node).
Result<std::unique_ptr<core::Store>> OpenDataDirReadOnly(const std::string& dir);
// Lowercase hex of `bytes`.
std::string Hex(std::string_view bytes);

// Shared by the write commands: runs `op` on collection/key at the target node and prints the
// outcome (text or JSON). Returns the exit code.
int RunWrite(const Globals& g, const std::string& collection, const std::string& key,
             const replication::WriteOp& op);
// Prints a read result.
int RunRead(const Globals& g, const std::string& collection, const std::string& key, const ReadOptions& options = {});

}  // namespace syncline::cli

#endif  // SYNCLINE_TOOLS_CLI_CLI_H_
