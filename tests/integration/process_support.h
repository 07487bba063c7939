// Helpers for tests that drive real syncline-node processes: run a program to completion and
// capture its output, and read the cluster file `syncline cluster up` writes.
#ifndef SYNCLINE_TESTS_INTEGRATION_PROCESS_SUPPORT_H_
#define SYNCLINE_TESTS_INTEGRATION_PROCESS_SUPPORT_H_

#include <string>
#include <vector>

namespace syncline::testing {

struct ProgramRun {
  int exit_code = -1;  // 128 + signal when the program was killed
  std::string output;  // stdout and stderr
};

// Runs `argv` (argv[0] is a path) to completion in `cwd` (default: ours), capturing its output.
ProgramRun RunProgram(std::vector<std::string> argv, const std::string& cwd = "");

// Starts `argv` in the background with stdout and stderr appended to `log`; returns its pid
// (0 when it could not be started).
int StartDaemon(const std::vector<std::string>& argv, const std::string& log);

// Stops a daemon started by StartDaemon: SIGTERM, then SIGKILL if it has not exited within
// `grace_millis`; waits for it. Nothing happens for pid <= 0 or a process already reaped.
void StopDaemon(int pid, int grace_millis = 15000);

// Stops the daemon it holds when it goes out of scope (also when an assertion ends the test
// early), so a restarted node never outlives its test.
class DaemonGuard {
 public:
  explicit DaemonGuard(int pid) : pid_(pid) {}
  ~DaemonGuard() { StopDaemon(pid_); }
  DaemonGuard(const DaemonGuard&) = delete;
  DaemonGuard& operator=(const DaemonGuard&) = delete;

 private:
  int pid_;
};

// Whether process `pid`, which is not our child (`cluster up` started it), has exited: it is gone,
// or a zombie its new parent has not reaped yet.
bool ProcessGone(int pid);

struct ClusterNode {
  std::string id, client, peer, admin, data_dir;
  std::string config;  // the node's config file, to restart it
  int pid = 0;
};

// The nodes of `<dir>/cluster.toml`; empty when it is missing or does not parse.
std::vector<ClusterNode> ReadClusterFile(const std::string& dir);

}  // namespace syncline::testing

#endif  // SYNCLINE_TESTS_INTEGRATION_PROCESS_SUPPORT_H_
