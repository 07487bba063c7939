#include "process_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#define TOML_EXCEPTIONS 0
#include <toml++/toml.h>

#include "support/temp_dir.h"

extern char** environ;

namespace syncline::testing {

ProgramRun RunProgram(std::vector<std::string> argv, const std::string& cwd) {
  TempDir tmp;
  std::string out_file = (tmp / "out").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  ProgramRun r;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    r.output = "cannot start " + argv[0];
    return r;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(out_file);
  std::stringstream ss;
  ss << in.rdbuf();
  r.output = ss.str();
  return r;
}

bool ProcessGone(int pid) {
  if (::kill(pid, 0) != 0) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren != std::string::npos && line.size() > paren + 2 && line[paren + 2] == 'Z';
}

int StartDaemon(const std::vector<std::string>& argv, const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> copy = argv;
  std::vector<char*> args;
  for (auto& a : copy) args.push_back(a.data());
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) pid = 0;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

void StopDaemon(int pid, int grace_millis) {
  if (pid <= 0 || ::kill(pid, SIGTERM) != 0) return;
  int st = 0;
  for (int waited = 0; waited < grace_millis; waited += 20) {
    if (::waitpid(pid, &st, WNOHANG) == pid) return;
    ::usleep(20 * 1000);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &st, 0);
}

std::vector<ClusterNode> ReadClusterFile(const std::string& dir) {
  std::vector<ClusterNode> out;
  auto parsed = toml::parse_file(dir + "/cluster.toml");
  if (!parsed) return out;
  const toml::array* nodes = parsed.table()["nodes"].as_array();
  if (nodes == nullptr) return out;
  for (const auto& n : *nodes) {
    const toml::table* t = n.as_table();
    if (t == nullptr) continue;
    ClusterNode e;
    e.id = (*t)["id"].value_or(std::string());
    e.client = (*t)["client"].value_or(std::string());
    e.peer = (*t)["peer"].value_or(std::string());
    e.admin = (*t)["admin"].value_or(std::string());
    e.data_dir = (*t)["data_dir"].value_or(std::string());
    e.pid = static_cast<int>((*t)["pid"].value_or(int64_t{0}));
    e.config = dir + "/" + e.id + "/node.toml";
    out.push_back(e);
  }
  return out;
}

}  // namespace syncline::testing
