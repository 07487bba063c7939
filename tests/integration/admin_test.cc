// The admin HTTP endpoint of real syncline-node processes: /healthz, /status (JSON) and /metrics
// (Prometheus text) report what the node did, including bad input on the client port.
#include <gtest/gtest.h>
#include <httplib.h>

#include <asio.hpp>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "process_support.h"
#include "support/temp_dir.h"
#include "syncline/node/client.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

struct HostPort {
  std::string host;
  int port = 0;
};

HostPort Split(const std::string& address) {
  size_t colon = address.rfind(':');
  return {address.substr(0, colon), std::stoi(address.substr(colon + 1))};
}

// GET `path` from the node's admin endpoint; status -1 when no answer came.
std::pair<int, std::string> Get(const std::string& admin, const std::string& path) {
  HostPort hp = Split(admin);
  httplib::Client client(hp.host, hp.port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  auto res = client.Get(path.c_str());
  if (!res) return {-1, ""};
  return {res->status, res->body};
}

// The value of the first sample line `name` (with its labels, if given) in Prometheus text.
double Metric(const std::string& text, const std::string& name_and_labels) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name_and_labels + " ", 0) == 0) return std::stod(line.substr(name_and_labels.size() + 1));
  }
  return -1;
}

class AdminEndpoint : public ::testing::Test {
 protected:
  void TearDown() override {
    if (up_) RunProgram({SYNCLINE_CLI, "--cluster", cdir_ + "/cluster.toml", "cluster", "down"});
  }
  // `syncline cluster up` with `n` nodes in cdir_; the nodes it started (empty if it failed).
  std::vector<ClusterNode> Up(int n) {
    ProgramRun up = RunProgram({SYNCLINE_CLI, "cluster", "up", "--nodes", std::to_string(n), "--dir", cdir_});
    EXPECT_EQ(up.exit_code, 0) << up.output;
    if (up.exit_code != 0) return {};
    up_ = true;
    return ReadClusterFile(cdir_);
  }
  TempDir dir_;
  const std::string cdir_ = dir_.str() + "/c";
  bool up_ = false;
};

TEST_F(AdminEndpoint, HealthStatusAndMetricsReportWritesMergesLagAndBadInput) {
  auto nodes = Up(2);
  ASSERT_EQ(nodes.size(), 2u);
  ASSERT_FALSE(nodes[0].admin.empty());

  auto health = Get(nodes[0].admin, "/healthz");
  EXPECT_EQ(health.first, 200);
  EXPECT_EQ(health.second, "ok\n");
  EXPECT_EQ(Get(nodes[0].admin, "/no-such-page").first, 404);

  {
    auto c = Client::Connect(nodes[0].client, 5000);
    ASSERT_TRUE(c.ok()) << c.status();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*c)->Write("kv", "k" + std::to_string(i), WriteOp::Put("v")).ok());
  }
  // Garbage on n2's client port: the connection is closed and the node counts it.
  {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    HostPort hp = Split(nodes[1].client);
    s.connect(asio::ip::tcp::endpoint(asio::ip::make_address(hp.host), static_cast<uint16_t>(hp.port)));
    std::string garbage(64, '\xff');
    asio::write(s, asio::buffer(garbage));
    char b;
    std::error_code ec;
    s.read_some(asio::buffer(&b, 1), ec);  // returns once the node closed the connection
    EXPECT_TRUE(ec);
  }

  // n2 merges n1's five writes; its metrics say so (poll: replication is asynchronous).
  std::string m2;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    m2 = Get(nodes[1].admin, "/metrics").second;
    if (Metric(m2, "syncline_merges_total") >= 5 &&
        Metric(m2, "syncline_errors_total{kind=\"client_bad_input\"}") >= 1) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Metric(m2, "syncline_merges_total"), 5) << m2;
  EXPECT_EQ(Metric(m2, "syncline_writes_total"), 0) << m2;
  EXPECT_EQ(Metric(m2, "syncline_errors_total{kind=\"client_bad_input\"}"), 1) << m2;
  EXPECT_EQ(Metric(m2, "syncline_peers_connected"), 1) << m2;

  auto m1 = Get(nodes[0].admin, "/metrics");
  ASSERT_EQ(m1.first, 200);
  EXPECT_EQ(Metric(m1.second, "syncline_writes_total"), 5) << m1.second;
  EXPECT_EQ(Metric(m1.second, "syncline_errors_total{kind=\"client_bad_input\"}"), 0) << m1.second;
  for (const char* family : {"syncline_peer_lag_changes", "syncline_peer_lag_milliseconds", "syncline_peer_lag_bytes",
                             "syncline_peer_queue_bytes", "syncline_store_queue_depth"}) {
    EXPECT_NE(m1.second.find(std::string("# TYPE ") + family + " gauge"), std::string::npos) << family;
  }
  EXPECT_GE(Metric(m1.second, "syncline_peer_lag_changes{peer=\"n2\"}"), 0) << m1.second;

  auto st = Get(nodes[0].admin, "/status");
  ASSERT_EQ(st.first, 200);
  EXPECT_NE(st.second.find("\"node_id\":\"n1\""), std::string::npos) << st.second;
  EXPECT_NE(st.second.find("\"local_writes\":5"), std::string::npos) << st.second;
  EXPECT_TRUE(std::regex_search(st.second, std::regex("\"peers\":\\[\\{\"node_id\":\"n2\".*\"lag_millis\":[0-9]+")))
      << st.second;
}

// POST /anti-entropy runs a session with the peers now and answers with its outcome; /status and
// /metrics then count it per peer.
TEST_F(AdminEndpoint, AntiEntropyOnDemandIsReportedInStatusAndMetrics) {
  auto nodes = Up(2);
  ASSERT_EQ(nodes.size(), 2u);
  HostPort hp = Split(nodes[0].admin);
  httplib::Client client(hp.host, hp.port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(60, 0);
  // The peers may still be connecting: a run with no peer is answered 502 and retried.
  int status = -1;
  std::string body;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    auto res = client.Post("/anti-entropy?peer=n2", "", "text/plain");
    ASSERT_TRUE(res);
    status = res->status;
    body = res->body;
    if (status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_EQ(status, 200) << body;
  EXPECT_NE(body.find("\"ok\":true,\"sessions\":[{\"peer\":\"n2\",\"ok\":true"), std::string::npos) << body;
  auto st = Get(nodes[0].admin, "/status");
  EXPECT_TRUE(std::regex_search(st.second, std::regex("\"anti_entropy\":\\[\\{\"peer\":\"n2\".*\"sessions_completed\":1")))
      << st.second;
  auto m = Get(nodes[0].admin, "/metrics").second;
  EXPECT_EQ(Metric(m, "syncline_anti_entropy_sessions_total{peer=\"n2\"}"), 1) << m;
  EXPECT_EQ(Metric(m, "syncline_anti_entropy_divergence_keys{peer=\"n2\"}"), 0) << m;
  EXPECT_EQ(Metric(m, "syncline_anti_entropy_bad_frames_total{peer=\"n2\"}"), 0) << m;
  EXPECT_GT(Metric(m, "syncline_anti_entropy_sent_bytes_total{peer=\"n2\"}"), 0) << m;
}

// Stops a node `syncline cluster up` started (not our child) and waits until it is gone.
void StopClusterNode(int pid) {
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ProcessGone(pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(ProcessGone(pid)) << "node " << pid << " did not stop";
}

// /status once the node answers it (a restarted node takes a moment to listen).
std::string StatusWhenUp(const std::string& admin) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    auto st = Get(admin, "/status");
    if (st.first == 200) return st.second;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

TEST_F(AdminEndpoint, LogRetentionSettingsComeFromTheConfigFileOrFlagsAndShowInStatus) {
  auto nodes = Up(1);
  ASSERT_EQ(nodes.size(), 1u);
  std::string st = StatusWhenUp(nodes[0].admin);
  EXPECT_NE(st.find("\"retention\":{\"interval_ms\":100,\"log_segment_changes\":4096,\"max_changes_per_origin\":1000000,"),
            std::string::npos)
      << st;

  // From the config file.
  StopClusterNode(nodes[0].pid);
  {
    // At the top: the file may end in a table ([collections]) that appended keys would join.
    std::ifstream in(nodes[0].config);
    std::stringstream old;
    old << in.rdbuf();
    in.close();
    std::ofstream(nodes[0].config) << "log_retention_interval_ms = 250\nlog_segment_changes = 0\n" << old.str();
  }
  {
    int pid = StartDaemon({SYNCLINE_NODE, "--config", nodes[0].config}, cdir_ + "/restart.log");
    ASSERT_GT(pid, 0);
    DaemonGuard guard(pid);
    st = StatusWhenUp(nodes[0].admin);
    EXPECT_NE(st.find("\"retention\":{\"interval_ms\":250,\"log_segment_changes\":0,"), std::string::npos) << st;
  }
  // A flag overrides the file.
  {
    int pid = StartDaemon({SYNCLINE_NODE, "--config", nodes[0].config, "--log-segment-changes", "64"}, cdir_ + "/restart2.log");
    ASSERT_GT(pid, 0);
    DaemonGuard guard(pid);
    st = StatusWhenUp(nodes[0].admin);
    EXPECT_NE(st.find("\"retention\":{\"interval_ms\":250,\"log_segment_changes\":64,"), std::string::npos) << st;
  }
  // Bad values are refused, naming where.
  std::string bad = dir_.str() + "/bad.toml";
  std::ofstream(bad) << "node_id = \"x\"\nlog_segment_changes = -1\n";
  ProgramRun refused = RunProgram({SYNCLINE_NODE, "--config", bad});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find(bad + ":2: 'log_segment_changes' must be an integer >= 0"), std::string::npos)
      << refused.output;
  ProgramRun bad_flag = RunProgram({SYNCLINE_NODE, "--config", nodes[0].config, "--log-retention-interval-ms", "-5"});
  EXPECT_EQ(bad_flag.exit_code, 1) << bad_flag.output;
  EXPECT_NE(bad_flag.output.find("--log-retention-interval-ms"), std::string::npos) << bad_flag.output;
}

TEST_F(AdminEndpoint, OversizedKeysValuesAndFramesAreRefusedNamedAndCounted) {
  auto nodes = Up(1);
  ASSERT_EQ(nodes.size(), 1u);
  auto c = Client::Connect(nodes[0].client, 5000);
  ASSERT_TRUE(c.ok()) << c.status();

  // A value above the node's limit (1 MiB by default) and a key above 400 bytes: refused, and the
  // message names the limit; nothing is written.
  auto big_value = (*c)->Write("kv", "k", WriteOp::Put(std::string((size_t{1} << 20) + 1, 'v')));
  ASSERT_FALSE(big_value.ok());
  EXPECT_NE(big_value.status().message().find("1048576"), std::string::npos) << big_value.status();
  auto big_key = (*c)->Write("kv", std::string(401, 'k'), WriteOp::Put("v"));
  ASSERT_FALSE(big_key.ok());
  EXPECT_NE(big_key.status().message().find("400"), std::string::npos) << big_key.status();
  auto read = (*c)->Read("kv", "k");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_FALSE(read->found);

  // Through the CLI: exit code 2 (failed, not applied) with the reason on stderr.
  ProgramRun cli = RunProgram({SYNCLINE_CLI, "--cluster", cdir_ + "/cluster.toml", "put", "kv", std::string(401, 'k'), "v"});
  EXPECT_EQ(cli.exit_code, 2) << cli.output;
  EXPECT_NE(cli.output.find("400"), std::string::npos) << cli.output;

  // A frame header announcing more than the frame limit: the connection is closed before the
  // node allocates anything, and counted; the node goes on serving.
  {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    HostPort hp = Split(nodes[0].client);
    s.connect(asio::ip::tcp::endpoint(asio::ip::make_address(hp.host), static_cast<uint16_t>(hp.port)));
    std::string header = {'\xff', '\xff', '\xff', '\x7f', 32, 0, 0, 0, 0};
    asio::write(s, asio::buffer(header));
    char b;
    std::error_code ec;
    s.read_some(asio::buffer(&b, 1), ec);
    EXPECT_TRUE(ec);
  }
  ASSERT_TRUE((*c)->Write("kv", "k", WriteOp::Put("v")).ok());
  std::string m = Get(nodes[0].admin, "/metrics").second;
  EXPECT_EQ(Metric(m, "syncline_errors_total{kind=\"client_bad_input\"}"), 1) << m;
  EXPECT_EQ(Metric(m, "syncline_errors_total{kind=\"client_request\"}"), 3) << m;
  EXPECT_EQ(Metric(m, "syncline_writes_total"), 1) << m;
}

}  // namespace
}  // namespace syncline::testing
