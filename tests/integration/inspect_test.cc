// `syncline inspect` and `syncline conflicts` on a real node data directory: an in-process node
// writes lww, mv, counter and set data with deletes and takes in a concurrent mv write from a
// second node (a conflict-journal entry); the CLI binary then reads the directory, while the node
// runs and after it stopped, and must report the counts, tombstones, log range and journal, leave
// data.mdb byte for byte as it was, pass a scrub of the clean directory and, after a byte of a
// stored value was flipped in data.mdb, report that record by table and key with exit 2; given
// the cluster secret, check the anti-entropy item index against the data.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>

#include "process_support.h"
#include "support/temp_dir.h"
#include "syncline/core/lmdb_store.h"
#include "syncline/replication/anti_entropy.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::WriteOp;

constexpr char kUniqueValue[] = "value-alpha-unique-7f3a";
constexpr char kSecret[] = "inspect-test-cluster-secret-0123";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string Hex(std::string_view bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

void Apply(Node& to, Node& from) {
  std::vector<core::Change> changes;
  ASSERT_TRUE(from.replica().ReadLog(from.replica().id(), 1, 100, 1 << 20, &changes).ok());
  std::promise<Status> done;
  to.replica().ApplyChanges(std::move(changes), [&](Result<replication::ApplyStats> s) { done.set_value(s.status()); });
  Status s = done.get_future().get();
  ASSERT_TRUE(s.ok()) << s;
}

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE((haystack).find(needle), std::string::npos) << "missing " << (needle) << " in:\n" << (haystack)

class InspectTest : public ::testing::Test {
 protected:
  // Writes the data set into n1 (and one concurrent mv write through n2); leaves n1 running.
  void SetUp() override {
    auto o1 = TestNodeOptions("n1", (dir_ / "n1").string());
    o1.sync = core::SyncMode::kNoSync;
    o1.secret = kSecret;
    n1_ = StartNode(o1);
    ASSERT_NE(n1_, nullptr);
    auto o2 = TestNodeOptions("n2", (dir_ / "n2").string());
    o2.sync = core::SyncMode::kNoSync;
    o2.secret = kSecret;
    auto n2 = StartNode(o2);
    ASSERT_NE(n2, nullptr);
    for (Node* n : {n1_.get(), n2.get()}) {
      ASSERT_TRUE(n->CreateCollection("kv", "lww").ok());
      ASSERT_TRUE(n->CreateCollection("docs", "mv").ok());
      ASSERT_TRUE(n->CreateCollection("hits", "counter").ok());
      ASSERT_TRUE(n->CreateCollection("tags", "set").ok());
    }
    // 12 changes of n1: kv 4, docs 3, hits 1, tags 4.
    ASSERT_TRUE(n1_->Write("kv", "a", WriteOp::Put(kUniqueValue)).ok());
    ASSERT_TRUE(n1_->Write("kv", "b", WriteOp::Put("vb")).ok());
    ASSERT_TRUE(n1_->Write("kv", "c", WriteOp::Put("vc")).ok());
    ASSERT_TRUE(n1_->Write("kv", "c", WriteOp::Delete()).ok());
    ASSERT_TRUE(n1_->Write("docs", "d1", WriteOp::Put("from-n1")).ok());
    ASSERT_TRUE(n1_->Write("docs", "d2", WriteOp::Put("gone")).ok());
    auto d2 = n1_->replica().Read("docs", "d2");
    ASSERT_TRUE(d2.ok());
    ASSERT_TRUE(n1_->Write("docs", "d2", WriteOp::Delete(d2->token)).ok());
    ASSERT_TRUE(n1_->Write("hits", "h", WriteOp::Add(5)).ok());
    ASSERT_TRUE(n1_->Write("tags", "t1", WriteOp::AddElement("x")).ok());
    ASSERT_TRUE(n1_->Write("tags", "t1", WriteOp::AddElement("y")).ok());
    ASSERT_TRUE(n1_->Write("tags", "t2", WriteOp::AddElement("z")).ok());
    ASSERT_TRUE(n1_->Write("tags", "t2", WriteOp::RemoveElement("z")).ok());
    // n2 writes d1 blind, concurrently with n1's write: n1 keeps both siblings and journals it.
    ASSERT_TRUE(n2->Write("docs", "d1", WriteOp::Put("from-n2")).ok());
    Apply(*n1_, *n2);
    n2_id_ = n2->replica().id().ToString();
    n1_id_ = n1_->replica().id().ToString();
    n2->Stop();
    data_dir_ = (dir_ / "n1").string();
  }

  void StopNode() {
    if (n1_) n1_->Stop();
    n1_.reset();
  }
  void TearDown() override { StopNode(); }

  TempDir dir_;
  std::unique_ptr<Node> n1_;
  std::string data_dir_, n1_id_, n2_id_;
};

TEST_F(InspectTest, ReportsCountsLogAndJournalAndLeavesTheDirectoryUntouched) {
  // While the node runs: readers share the environment with its writer.
  ProgramRun live = RunProgram({SYNCLINE_CLI, "--json", "inspect", data_dir_});
  ASSERT_EQ(live.exit_code, 0) << live.output;
  EXPECT_HAS(live.output, "\"kv\":{\"resolver\":\"lww\",\"type\":\"lww\",\"resolver_known\":true,\"keys\":3,\"live\":2,\"tombstones\":1");
  StopNode();

  std::string before = ReadFile(data_dir_ + "/data.mdb");
  ASSERT_FALSE(before.empty());
  ProgramRun run = RunProgram({SYNCLINE_CLI, "inspect", data_dir_, "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const std::string& out = run.output;
  EXPECT_HAS(out, "\"replica_id\":\"" + n1_id_ + "\"");
  EXPECT_HAS(out, "\"cluster_id\":\"test-cluster\"");
  EXPECT_HAS(out, "\"store_format\":\"syncline-store-v1\"");
  EXPECT_HAS(out, "\"kv\":{\"resolver\":\"lww\",\"type\":\"lww\",\"resolver_known\":true,\"keys\":3,\"live\":2,"
                  "\"tombstones\":1,\"collectable\":0,\"values\":2,\"journal_entries\":0}");
  EXPECT_HAS(out, "\"docs\":{\"resolver\":\"mv\",\"type\":\"mv\",\"resolver_known\":true,\"keys\":2,\"live\":1,"
                  "\"tombstones\":1,\"collectable\":0,\"values\":2,\"journal_entries\":1}");
  EXPECT_HAS(out, "\"hits\":{\"resolver\":\"counter\",\"type\":\"counter\",\"resolver_known\":true,\"keys\":1,"
                  "\"live\":1,\"tombstones\":0");
  EXPECT_HAS(out, "\"tags\":{\"resolver\":\"set\",\"type\":\"set\",\"resolver_known\":true,\"keys\":2,\"live\":1,"
                  "\"tombstones\":1,\"collectable\":0,\"values\":2");
  // Log range per origin, as the retention code reports it (nothing truncated: no peer acked).
  EXPECT_HAS(out, "{\"origin\":\"" + n1_id_ + "\",\"low\":1,\"high\":12,\"floor\":0}");
  EXPECT_HAS(out, "{\"origin\":\"" + n2_id_ + "\",\"low\":1,\"high\":1,\"floor\":0}");
  EXPECT_HAS(out, "\"" + n1_id_ + "\":12");
  EXPECT_HAS(out, "\"dot_cloud\":0");
  EXPECT_HAS(out, "\"horizon\":null");
  EXPECT_HAS(out, "\"tombstones\":{\"total\":3,\"by_collection\":{\"docs\":1,\"kv\":1,\"tags\":1}}");
  EXPECT_HAS(out, "\"journal_entries\":1,");
  // Live register keys: kv a, kv b (one value each), docs d1 (two siblings).
  EXPECT_HAS(out, "\"siblings\":{\"1\":2,\"2\":1,\"3-4\":0,\"5-8\":0,\"9+\":0}");
  EXPECT_HAS(out, "\"metadata_bytes\":{");
  EXPECT_EQ(ReadFile(data_dir_ + "/data.mdb"), before) << "inspect modified data.mdb";

  ProgramRun text = RunProgram({SYNCLINE_CLI, "inspect", data_dir_});
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_HAS(text.output, "tombstones awaiting collection: 3");
  EXPECT_HAS(text.output, "conflict journal: 1 entries");

  ProgramRun conflicts = RunProgram({SYNCLINE_CLI, "--json", "conflicts", data_dir_, "--replay-with", "lww"});
  ASSERT_EQ(conflicts.exit_code, 0) << conflicts.output;
  EXPECT_HAS(conflicts.output, "\"total\":1,\"shown\":1");
  EXPECT_HAS(conflicts.output, "\"collection\":\"docs\",\"key\":\"d1\",\"resolver\":\"mv\"");
  // lww cannot read mv states: the dry run reports the entry as incompatible, not as changed.
  EXPECT_HAS(conflicts.output, "\"replay\":{\"resolver\":\"lww\",\"entries\":1,\"changed\":0,\"incompatible\":1");
  ProgramRun filtered = RunProgram({SYNCLINE_CLI, "--json", "conflicts", data_dir_, "--collection", "kv"});
  ASSERT_EQ(filtered.exit_code, 0) << filtered.output;
  EXPECT_HAS(filtered.output, "\"total\":0,\"shown\":0,\"entries\":[]");
  ProgramRun unknown = RunProgram({SYNCLINE_CLI, "conflicts", data_dir_, "--replay-with", "nosuch"});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;

  ProgramRun scrub = RunProgram({SYNCLINE_CLI, "--json", "inspect", "--scrub", data_dir_});
  ASSERT_EQ(scrub.exit_code, 0) << scrub.output;
  EXPECT_HAS(scrub.output, "\"corrupt_count\":0,\"corrupt\":[]");
  EXPECT_EQ(ReadFile(data_dir_ + "/data.mdb"), before) << "inspect --scrub modified data.mdb";
}

TEST_F(InspectTest, ScrubReportsAFlippedByteInAStoredValue) {
  StopNode();
  // The record of kv/a sits in an LMDB leaf page right after its data-table key
  // ("kv" 00 "a" 00 01 "s"). Old copies of the page may linger in free pages, so every
  // occurrence of key-then-value is flipped; the live one is among them.
  const std::string data_key = std::string("kv\0a\0\x01s", 7);
  std::string bytes = ReadFile(data_dir_ + "/data.mdb");
  int flipped = 0;
  for (size_t at = bytes.find(data_key); at != std::string::npos; at = bytes.find(data_key, at + 1)) {
    size_t value = bytes.find(kUniqueValue, at);
    if (value == std::string::npos || value - at > 128) continue;
    bytes[value + 3] = static_cast<char>(bytes[value + 3] ^ 0x20);
    ++flipped;
  }
  ASSERT_GT(flipped, 0) << "the record of kv/a was not found in data.mdb";
  WriteFile(data_dir_ + "/data.mdb", bytes);

  ProgramRun scrub = RunProgram({SYNCLINE_CLI, "--json", "inspect", "--scrub", data_dir_});
  EXPECT_EQ(scrub.exit_code, 2) << scrub.output;
  EXPECT_HAS(scrub.output, "\"corrupt_count\":1,\"corrupt\":[{\"table\":\"data\",\"key\":\"" + Hex(data_key) + "\"");
  ProgramRun text = RunProgram({SYNCLINE_CLI, "inspect", "--scrub", data_dir_});
  EXPECT_EQ(text.exit_code, 2) << text.output;
  EXPECT_HAS(text.output, "corrupt: table data key " + Hex(data_key));
  // Without --scrub the walk stops at the corrupt record and names it.
  ProgramRun plain = RunProgram({SYNCLINE_CLI, "inspect", data_dir_});
  EXPECT_EQ(plain.exit_code, 2) << plain.output;
  EXPECT_HAS(plain.output, "checksum mismatch in table 'data'");
}

TEST_F(InspectTest, SecretFileChecksTheItemIndexAndARebuildMendsIt) {
  StopNode();
  const std::string secret_file = (dir_ / "secret").string(), other_file = (dir_ / "other").string(),
                    short_file = (dir_ / "short").string();
  WriteFile(secret_file, std::string(kSecret) + "\n");
  WriteFile(other_file, "another-cluster-secret-abcdefgh\n");
  WriteFile(short_file, "short\n");

  ProgramRun good = RunProgram({SYNCLINE_CLI, "inspect", data_dir_, "--secret-file", secret_file});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_HAS(good.output, "item index: matches the data");
  ProgramRun json = RunProgram({SYNCLINE_CLI, "--json", "inspect", data_dir_, "--secret-file", secret_file});
  EXPECT_EQ(json.exit_code, 0) << json.output;
  EXPECT_HAS(json.output, "\"item_index\":{\"check\":\"matches the data\",\"detail\":\"\"}");
  ProgramRun other = RunProgram({SYNCLINE_CLI, "inspect", data_dir_, "--secret-file", other_file});
  EXPECT_EQ(other.exit_code, 0) << other.output;
  EXPECT_HAS(other.output, "item index: built with another cluster secret");
  ProgramRun bad = RunProgram({SYNCLINE_CLI, "inspect", data_dir_, "--secret-file", short_file});
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_HAS(bad.output, "holds fewer than 16 bytes");
  ProgramRun plain = RunProgram({SYNCLINE_CLI, "inspect", data_dir_});
  EXPECT_EQ(plain.output.find("item index"), std::string::npos) << plain.output;

  // A damaged entry of set t1 in the index table: reported, exit 2, and the repair named.
  {
    auto store = core::OpenLmdbStore(data_dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    auto item = replication::MakeItemKey("tags", "t1");
    ASSERT_TRUE(item.ok());
    ASSERT_TRUE((*store)->Put(core::Table::kIndex, "i" + *item, std::string(40, 'x')).ok());
    ASSERT_TRUE((*store)->Close().ok());
  }
  ProgramRun damaged = RunProgram({SYNCLINE_CLI, "inspect", data_dir_, "--secret-file", secret_file});
  EXPECT_EQ(damaged.exit_code, 2) << damaged.output;
  EXPECT_HAS(damaged.output, "item index: DOES NOT MATCH the data");
  EXPECT_HAS(damaged.output, "--rebuild-item-index");

  // Started once with the rebuild asked for, the node mends it.
  auto o = TestNodeOptions("n1", data_dir_);
  o.secret = kSecret;
  o.rebuild_item_index = true;
  auto node = StartNode(o);
  ASSERT_NE(node, nullptr);
  node->Stop();
  node.reset();
  ProgramRun mended = RunProgram({SYNCLINE_CLI, "inspect", data_dir_, "--secret-file", secret_file});
  EXPECT_EQ(mended.exit_code, 0) << mended.output;
  EXPECT_HAS(mended.output, "item index: matches the data");
}

TEST(InspectErrors, MissingOrForeignDirectoryIsExit2NamingThePath) {
  TempDir dir;
  std::string missing = (dir / "no-such-dir").string();
  ProgramRun run = RunProgram({SYNCLINE_CLI, "inspect", missing});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_HAS(run.output, missing);
  std::string empty = (dir / "empty").string();
  std::filesystem::create_directories(empty);
  run = RunProgram({SYNCLINE_CLI, "inspect", empty});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_HAS(run.output, empty);
  EXPECT_HAS(run.output, "not a syncline data directory");
  EXPECT_TRUE(std::filesystem::is_empty(empty)) << "inspect created files in " << empty;
  run = RunProgram({SYNCLINE_CLI, "conflicts", missing});
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_HAS(run.output, missing);
}

}  // namespace
}  // namespace syncline::testing
