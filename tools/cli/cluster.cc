// syncline cluster up|down|status: a local cluster of syncline-node processes in one directory.
//
//   up      starts N nodes on 127.0.0.1 with free ports and a generated secret (or, on a directory
//           that held a stopped cluster, that cluster's id, secret and data), creates the
//           collections given (default: kv=lww docs=mv counters=counter tags=set profiles=map) on
//           every node, waits until every node answers and is connected to every other, and writes
//           the cluster file (DIR/cluster.toml) that later commands use by default. A node whose
//           port was taken meanwhile makes it start again on new ports; see docs/configuration.md.
//   down    stops every node of the cluster file cleanly (SIGTERM, then SIGKILL after 15 s).
//   status  whether each node's process runs and answers.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <thread>

#include "cli.h"

namespace syncline::cli {

namespace {

namespace fs = std::filesystem;

Result<uint16_t> FreePort() {
  asio::io_context io;
  asio::ip::tcp::acceptor a(io);
  std::error_code ec;
  a.open(asio::ip::tcp::v4(), ec);
  if (!ec) a.bind(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0), ec);
  if (ec) return Status::Unavailable("cannot find a free port on 127.0.0.1: " + ec.message());
  return a.local_endpoint().port();
}

std::string NodeBinary() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path sibling = self.parent_path() / "syncline-node";
    if (fs::exists(sibling)) return sibling.string();
  }
  return "syncline-node";  // from PATH
}

Result<std::string> NewSecret() {
  std::ifstream in("/dev/urandom", std::ios::binary);
  unsigned char raw[32];
  if (!in.read(reinterpret_cast<char*>(raw), sizeof(raw))) return Status::IOError("cannot read /dev/urandom");
  std::string hex;
  for (unsigned char c : raw) {
    static const char* digits = "0123456789abcdef";
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  return hex;
}

// Whether process `pid` runs. A zombie (exited, not yet reaped by its parent) does not: kill(pid,
// 0) still succeeds on it, so its state in /proc is read too.
bool Alive(int pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren == std::string::npos || line.size() <= paren + 2 || line[paren + 2] != 'Z';
}

// The last `lines` lines of a node's log, indented, for an error message; reads at most 16 KiB.
std::string LogTail(const std::string& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "    (no log at " + path + ")\n";
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff from = std::max<std::streamoff>(0, size - 16 * 1024);
  in.seekg(from);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> all;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) all.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (from > 0 && !all.empty()) all.erase(all.begin());  // a partial first line
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "    " + all[i] + "\n";
  return out.empty() ? "    (the log is empty)\n" : out;
}

Result<int> Spawn(const std::string& binary, const std::string& config, const std::string& log) {
  pid_t pid = ::fork();
  if (pid < 0) return Status::IOError("fork failed");
  if (pid == 0) {
    ::setsid();
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    int null = ::open("/dev/null", O_RDONLY);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    if (null >= 0) ::dup2(null, 0);
    execl(binary.c_str(), binary.c_str(), "--config", config.c_str(), static_cast<char*>(nullptr));
    std::fprintf(stderr, "cannot run %s\n", binary.c_str());
    ::_exit(127);
  }
  return static_cast<int>(pid);
}

// Exit code of syncline-node when a listen address is taken (node/daemon/main.cc).
constexpr int kNodeExitAddressInUse = 3;

// Whether our child `pid` still runs. Once it has exited it is reaped (a zombie would still
// answer kill(pid, 0)) and its exit code, or 128 + the signal that ended it, is stored.
bool ChildRunning(int pid, int* exit_code) {
  int st = 0;
  pid_t r = ::waitpid(pid, &st, WNOHANG);
  if (r == 0) return true;
  if (r == pid) *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return false;
}

// Stops the nodes this process started: SIGTERM, then SIGKILL after 15 s.
void StopChildren(ClusterFile* cf) {
  for (const auto& n : cf->nodes) {
    if (n.pid > 0) ::kill(n.pid, SIGTERM);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (auto& n : cf->nodes) {
    int code = 0;
    while (n.pid > 0 && ChildRunning(n.pid, &code) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (n.pid > 0 && ChildRunning(n.pid, &code)) {
      ::kill(n.pid, SIGKILL);
      ::waitpid(n.pid, nullptr, 0);
    }
    n.pid = 0;
  }
}

// Draws 3 ports per node, distinct within the cluster: the kernel may hand out a port it just
// handed out, since each probe socket is closed again.
Status AssignPorts(ClusterFile* cf) {
  std::set<uint16_t> taken;
  auto next_port = [&taken]() -> Result<uint16_t> {
    for (int attempt = 0; attempt < 64; ++attempt) {
      auto p = FreePort();
      if (!p.ok()) return p.status();
      if (taken.insert(*p).second) return *p;
    }
    return Status::Unavailable("cannot find distinct free ports on 127.0.0.1");
  };
  for (auto& n : cf->nodes) {
    std::string* addresses[] = {&n.peer, &n.client, &n.admin};
    for (std::string* a : addresses) {
      auto p = next_port();
      if (!p.ok()) return p.status();
      *a = "127.0.0.1:" + std::to_string(*p);
    }
  }
  return Status::Ok();
}

Status WriteNodeConfig(const Globals& g, const ClusterFile& cf, const ClusterNode& n, const std::string& secret_file,
                       const std::vector<std::pair<std::string, std::string>>& collections, const std::string& mode,
                       const std::string& config) {
  std::ofstream out(config);
  out << "# syncline-node configuration written by `syncline cluster up`\n"
      << "node_id = \"" << n.id << "\"\n"
      << "data_dir = \"" << n.data_dir << "\"\n"
      << "cluster_id = \"" << cf.cluster_id << "\"\n"
      << "secret_file = \"" << secret_file << "\"\n"
      << "peer_listen = \"" << n.peer << "\"\n"
      << "client_listen = \"" << n.client << "\"\n"
      << "admin_listen = \"" << n.admin << "\"\n"
      << "mode = \"" << mode << "\"\n"
      << (mode == "leader-follower" ? "initial_leader = \"n1\"\n" : "")
      << (g.ack.empty() ? std::string() : "default_ack = \"" + g.ack + "\"\n")
      << "peers = [";
  bool first = true;
  for (const auto& other : cf.nodes) {
    if (other.id == n.id) continue;
    out << (first ? "" : ", ") << "\"" << other.peer << "\"";
    first = false;
  }
  out << "]\n\n[collections]\n";
  for (const auto& [name, resolver] : collections) out << name << " = \"" << resolver << "\"\n";
  out.close();
  if (!out) return Status::IOError("cannot write " + config);
  return Status::Ok();
}

enum class StartOutcome { kReady, kPortTaken, kFailed };

// Waits until every node answers and is subscribed to every other node. On failure `why` says
// which nodes and how, with the end of their logs.
StartOutcome WaitUntilReady(const Globals& g, const ClusterFile& cf, std::string* why) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto started = std::chrono::steady_clock::now();
  bool progress_shown = false;
  const bool on_terminal = ::isatty(STDERR_FILENO) == 1;
  std::string last_waiting;
  while (true) {
    size_t ready = 0;
    std::string waiting, report;
    for (const auto& n : cf.nodes) {
      int code = 0;
      if (!ChildRunning(n.pid, &code)) {
        if (progress_shown) std::fprintf(stderr, "\n");
        *why = "node " + n.id + " exited during start (exit code " + std::to_string(code) + "); the end of its log " +
               n.log_file + ":\n" + LogTail(n.log_file, 10);
        return code == kNodeExitAddressInUse ? StartOutcome::kPortTaken : StartOutcome::kFailed;
      }
      auto client = Client::Connect(n.client, 1000);
      auto st = client.ok() ? (*client)->GetStatus() : Result<RemoteStatus>(client.status());
      size_t subscribed = 0;
      std::string peers;
      if (st.ok()) {
        for (const auto& p : st->peers) {
          subscribed += p.subscribed ? 1 : 0;
          peers += " " + p.node_id + (p.subscribed ? "" : " (not subscribed)");
        }
      }
      if (st.ok() && subscribed + 1 >= cf.nodes.size()) {
        ++ready;
        continue;
      }
      waiting += " " + n.id;
      report += "  " + n.id + ": " +
                (st.ok() ? "connected to" + (peers.empty() ? std::string(" no peer") : peers)
                         : "client port " + n.client + " does not answer: " + st.status().ToString()) +
                "; the end of its log " + n.log_file + ":\n" + LogTail(n.log_file, 10);
    }
    if (ready == cf.nodes.size()) {
      if (progress_shown) std::fprintf(stderr, "\n");
      return StartOutcome::kReady;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      if (progress_shown) std::fprintf(stderr, "\n");
      *why = "still waiting for" + waiting + " after 60 s:\n" + report;
      return StartOutcome::kFailed;
    }
    // On a terminal the progress line is redrawn; into a file or pipe it is written when it changes.
    if (!g.json && std::chrono::steady_clock::now() - started > std::chrono::seconds(1) &&
        (on_terminal || waiting != last_waiting)) {
      std::fprintf(stderr, on_terminal ? "\rwaiting for%s ...   " : "waiting for%s ...\n", waiting.c_str());
      progress_shown = on_terminal;
      last_waiting = waiting;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

int Up(const Globals& g, int nodes, const std::string& dir_arg, std::vector<std::string> collection_args,
       const std::string& mode) {
  if (nodes < 1 || nodes > 16) {
    std::fprintf(stderr, "syncline: cluster up: --nodes must be 1..16\n");
    return kExitUsage;
  }
  if (collection_args.empty()) collection_args = {"kv=lww", "docs=mv", "counters=counter", "tags=set", "profiles=map"};
  std::vector<std::pair<std::string, std::string>> collections;
  for (const auto& c : collection_args) {
    size_t eq = c.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == c.size()) {
      std::fprintf(stderr, "syncline: cluster up: --collection '%s' is not NAME=RESOLVER\n", c.c_str());
      return kExitUsage;
    }
    collections.emplace_back(c.substr(0, eq), c.substr(eq + 1));
  }
  fs::path dir = fs::absolute(dir_arg);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail("cluster up", Status::IOError("cannot create " + dir.string() + ": " + ec.message()));
  std::string file = (dir / "cluster.toml").string();
  ClusterFile existing;
  bool restart = LoadClusterFile(file, &existing).ok();
  if (restart) {
    for (const auto& n : existing.nodes) {
      if (Alive(n.pid)) {
        std::fprintf(stderr, "syncline: cluster up: %s is already up (node %s, pid %d); run `syncline cluster down` first\n",
                     dir.string().c_str(), n.id.c_str(), n.pid);
        return kExitFailed;
      }
    }
  }
  // A directory that held a cluster brings that cluster back: its data directories belong to its
  // cluster id, and its secret stays. Otherwise a new cluster gets a new secret and id.
  std::string secret_file = (dir / "secret").string();
  std::string secret;
  if (restart) {
    std::ifstream in(secret_file);
    std::getline(in, secret);
    restart = !secret.empty() && !existing.cluster_id.empty();
  }
  if (!restart) {
    auto fresh = NewSecret();
    if (!fresh.ok()) return Fail("cluster up", fresh.status());
    secret = *fresh;
    std::ofstream out(secret_file);
    out << secret << "\n";
    out.close();
    if (!out) return Fail("cluster up", Status::IOError("cannot write " + secret_file));
  }
  ::chmod(secret_file.c_str(), 0600);

  ClusterFile cf;
  cf.path = file;
  cf.cluster_id = restart ? existing.cluster_id : "local-" + secret.substr(0, 8);
  cf.dir = dir.string();
  for (int i = 0; i < nodes; ++i) {
    ClusterNode n;
    n.id = "n" + std::to_string(i + 1);
    n.data_dir = (dir / n.id / "data").string();
    n.log_file = (dir / n.id / "node.log").string();
    fs::create_directories(dir / n.id, ec);
    if (ec) return Fail("cluster up", Status::IOError("cannot create " + (dir / n.id).string() + ": " + ec.message()));
    cf.nodes.push_back(n);
  }
  std::string binary = NodeBinary();
  // A port probed free may be taken by another process before its node binds it (another
  // cluster starting, or an outgoing connection's ephemeral port). The node then exits with
  // kNodeExitAddressInUse and the whole cluster is started again on new ports.
  constexpr int kAttempts = 3;
  for (int attempt = 1;; ++attempt) {
    if (Status s = AssignPorts(&cf); !s.ok()) return Fail("cluster up", s);
    for (auto& n : cf.nodes) {
      std::string config = (dir / n.id / "node.toml").string();
      Status written = WriteNodeConfig(g, cf, n, secret_file, collections, mode, config);
      auto pid = written.ok() ? Spawn(binary, config, n.log_file) : Result<int>(written);
      if (!pid.ok()) {
        StopChildren(&cf);
        return Fail("start " + n.id, pid.status());
      }
      n.pid = *pid;
    }
    Status saved = SaveClusterFile(cf);
    if (!saved.ok()) {
      StopChildren(&cf);
      return Fail("cluster up", saved);
    }
    std::string why;
    StartOutcome outcome = WaitUntilReady(g, cf, &why);
    if (outcome == StartOutcome::kReady) break;
    StopChildren(&cf);
    (void)SaveClusterFile(cf);
    if (outcome == StartOutcome::kPortTaken && attempt < kAttempts) {
      std::fprintf(stderr, "syncline: cluster up: %sstarting again on new ports (attempt %d of %d)\n", why.c_str(),
                   attempt + 1, kAttempts);
      continue;
    }
    std::fprintf(stderr, "syncline: cluster up: %sthe nodes were stopped; their data and logs are in %s\n", why.c_str(),
                 dir.string().c_str());
    return kExitFailed;
  }
  if (g.json) {
    std::string out = "{\"cluster_file\":" + JsonString(file) + ",\"nodes\":[";
    for (size_t i = 0; i < cf.nodes.size(); ++i) {
      const auto& n = cf.nodes[i];
      out += (i ? "," : "") + std::string("{\"id\":") + JsonString(n.id) + ",\"client\":" + JsonString(n.client) +
             ",\"peer\":" + JsonString(n.peer) + ",\"admin\":" + JsonString(n.admin) + ",\"pid\":" + std::to_string(n.pid) + "}";
    }
    std::printf("%s]}\n", out.c_str());
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : cf.nodes) rows.push_back({n.id, std::to_string(n.pid), n.client, n.peer, "http://" + n.admin});
    PrintTable({"NODE", "PID", "CLIENT", "PEER", "ADMIN"}, rows);
    std::printf("cluster of %zu nodes up; cluster file %s\n", cf.nodes.size(), file.c_str());
  }
  return kExitOk;
}

int Down(const Globals& g) {
  std::string path = g.cluster_file.empty() ? DefaultClusterFile() : g.cluster_file;
  ClusterFile cf;
  Status s = LoadClusterFile(path, &cf);
  if (!s.ok()) return Fail("cluster down", s);
  for (const auto& n : cf.nodes) {
    if (Alive(n.pid)) ::kill(n.pid, SIGTERM);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (auto& n : cf.nodes) {
    while (Alive(n.pid) && std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (::waitpid(n.pid, &st, WNOHANG) == n.pid) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (Alive(n.pid)) {
      std::fprintf(stderr, "syncline: node %s (pid %d) did not stop in 15 s; killing it\n", n.id.c_str(), n.pid);
      ::kill(n.pid, SIGKILL);
    }
    n.pid = 0;
  }
  s = SaveClusterFile(cf);
  if (!s.ok()) return Fail("cluster down", s);
  if (g.json) {
    std::printf("{\"ok\":true}\n");
  } else {
    std::printf("stopped %zu nodes\n", cf.nodes.size());
  }
  return kExitOk;
}

int ClusterStatus(const Globals& g) {
  std::string path = g.cluster_file.empty() ? DefaultClusterFile() : g.cluster_file;
  ClusterFile cf;
  Status s = LoadClusterFile(path, &cf);
  if (!s.ok()) return Fail("cluster status", s);
  std::vector<std::vector<std::string>> rows;
  std::string json = "[";
  int code = kExitOk;
  for (const auto& n : cf.nodes) {
    bool alive = Alive(n.pid);
    auto client = Client::Connect(n.client, g.timeout_millis);
    auto st = client.ok() ? (*client)->GetStatus() : Result<RemoteStatus>(client.status());
    std::string state = st.ok() ? "up" : (alive ? "not answering" : "down");
    if (!st.ok()) code = kExitFailed;
    size_t peers = st.ok() ? st->peers.size() : 0;
    rows.push_back({n.id, alive ? std::to_string(n.pid) : "-", state, n.client, std::to_string(peers)});
    json += (json.size() > 1 ? "," : "") + std::string("{\"id\":") + JsonString(n.id) + ",\"pid\":" + std::to_string(alive ? n.pid : 0) +
            ",\"state\":" + JsonString(state) + ",\"client\":" + JsonString(n.client) + ",\"peers\":" + std::to_string(peers) + "}";
  }
  if (g.json) {
    std::printf("%s]\n", json.c_str());
  } else {
    PrintTable({"NODE", "PID", "STATE", "CLIENT", "PEERS"}, rows);
  }
  return code;
}

}  // namespace

void RegisterCluster(CLI::App& app, Globals& g, int* exit_code) {
  auto* cmd = app.add_subcommand("cluster", "start, stop or inspect a local cluster");
  cmd->require_subcommand(1);
  auto* up = cmd->add_subcommand("up", "start N local nodes and write the cluster file");
  auto nodes = std::make_shared<int>(3);
  auto dir = std::make_shared<std::string>(".syncline");
  auto collections = std::make_shared<std::vector<std::string>>();
  up->add_option("--nodes,-n", *nodes, "number of nodes")->capture_default_str();
  up->add_option("--dir", *dir, "directory for data, logs, configs and the cluster file")->capture_default_str();
  up->add_option("--collection", *collections, "NAME=RESOLVER to create on every node (repeatable)");
  auto mode = std::make_shared<std::string>("multi-leader");
  up->add_option("--mode", *mode, "replication mode (leader-follower: n1 leads epoch 1; --ack sets the nodes' default)")
      ->check(CLI::IsMember({"multi-leader", "leader-follower"}))
      ->capture_default_str();
  up->callback([&g, exit_code, nodes, dir, collections, mode] {
    Globals local = g;
    *exit_code = Up(local, *nodes, *dir, *collections, *mode);
  });
  auto* down = cmd->add_subcommand("down", "stop the nodes of the cluster file");
  down->callback([&g, exit_code] { *exit_code = Down(g); });
  auto* st = cmd->add_subcommand("status", "show whether each node runs and answers");
  st->callback([&g, exit_code] { *exit_code = ClusterStatus(g); });
}

}  // namespace syncline::cli
