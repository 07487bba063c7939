// syncline cluster up|down|status: a local cluster of syncline-node processes in one directory.
//
//   up      starts N nodes on 127.0.0.1 with free ports and a generated secret, creates the
//           collections given (default: kv=lww docs=mv counters=counter tags=set profiles=map) on
//           every node, waits until every node answers and is connected to every other, and writes
//           the cluster file (DIR/cluster.toml) that later commands use by default.
//   down    stops every node of the cluster file cleanly (SIGTERM, then SIGKILL after 15 s).
//   status  whether each node's process runs and answers.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
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

bool Alive(int pid) { return pid > 0 && ::kill(pid, 0) == 0; }

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

int Up(const Globals& g, int nodes, const std::string& dir_arg, std::vector<std::string> collections,
       const std::string& mode) {
  if (nodes < 1 || nodes > 16) {
    std::fprintf(stderr, "syncline: cluster up: --nodes must be 1..16\n");
    return kExitUsage;
  }
  fs::path dir = fs::absolute(dir_arg);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail("cluster up", Status::IOError("cannot create " + dir.string() + ": " + ec.message()));
  std::string file = (dir / "cluster.toml").string();
  ClusterFile existing;
  if (LoadClusterFile(file, &existing).ok()) {
    for (const auto& n : existing.nodes) {
      if (Alive(n.pid)) {
        std::fprintf(stderr, "syncline: cluster up: %s is already up (node %s, pid %d); run `syncline cluster down` first\n",
                     dir.string().c_str(), n.id.c_str(), n.pid);
        return kExitFailed;
      }
    }
  }
  if (collections.empty()) collections = {"kv=lww", "docs=mv", "counters=counter", "tags=set", "profiles=map"};
  auto secret = NewSecret();
  if (!secret.ok()) return Fail("cluster up", secret.status());
  std::string secret_file = (dir / "secret").string();
  {
    std::ofstream out(secret_file);
    out << *secret << "\n";
  }
  ::chmod(secret_file.c_str(), 0600);

  ClusterFile cf;
  cf.path = file;
  cf.cluster_id = "local-" + secret->substr(0, 8);
  cf.dir = dir.string();
  for (int i = 0; i < nodes; ++i) {
    ClusterNode n;
    n.id = "n" + std::to_string(i + 1);
    auto p1 = FreePort(), p2 = FreePort(), p3 = FreePort();
    if (!p1.ok() || !p2.ok() || !p3.ok()) return Fail("cluster up", Status::Unavailable("no free ports"));
    n.peer = "127.0.0.1:" + std::to_string(*p1);
    n.client = "127.0.0.1:" + std::to_string(*p2);
    n.admin = "127.0.0.1:" + std::to_string(*p3);
    n.data_dir = (dir / n.id / "data").string();
    n.log_file = (dir / n.id / "node.log").string();
    fs::create_directories(dir / n.id, ec);
    cf.nodes.push_back(n);
  }
  std::string binary = NodeBinary();
  for (auto& n : cf.nodes) {
    std::string config = (dir / n.id / "node.toml").string();
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
    for (const auto& c : collections) {
      size_t eq = c.find('=');
      if (eq == std::string::npos) {
        std::fprintf(stderr, "syncline: cluster up: --collection '%s' is not NAME=RESOLVER\n", c.c_str());
        return kExitUsage;
      }
      out << c.substr(0, eq) << " = \"" << c.substr(eq + 1) << "\"\n";
    }
    out.close();
    auto pid = Spawn(binary, config, n.log_file);
    if (!pid.ok()) return Fail("start " + n.id, pid.status());
    n.pid = *pid;
  }
  Status saved = SaveClusterFile(cf);
  if (!saved.ok()) return Fail("cluster up", saved);

  // Wait until every node answers and sees every other node.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto started = std::chrono::steady_clock::now();
  bool progress_shown = false;
  while (true) {
    size_t ready = 0;
    std::string waiting;
    for (const auto& n : cf.nodes) {
      if (!Alive(n.pid)) {
        int st = 0;
        ::waitpid(n.pid, &st, WNOHANG);
        std::fprintf(stderr, "\nsyncline: node %s exited during start; see %s\n", n.id.c_str(), n.log_file.c_str());
        return kExitFailed;
      }
      auto client = Client::Connect(n.client, 1000);
      auto st = client.ok() ? (*client)->GetStatus() : Result<RemoteStatus>(client.status());
      size_t subscribed = 0;
      if (st.ok()) {
        for (const auto& p : st->peers) subscribed += p.subscribed ? 1 : 0;
      }
      if (st.ok() && subscribed + 1 >= cf.nodes.size()) {
        ++ready;
      } else {
        waiting += " " + n.id;
      }
    }
    if (ready == cf.nodes.size()) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "\nsyncline: cluster up: still waiting for%s after 60 s; see the node logs in %s\n",
                   waiting.c_str(), dir.string().c_str());
      return kExitFailed;
    }
    if (!g.json && std::chrono::steady_clock::now() - started > std::chrono::seconds(1)) {
      std::fprintf(stderr, "\rwaiting for%s ...   ", waiting.c_str());
      progress_shown = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (progress_shown) std::fprintf(stderr, "\n");
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
