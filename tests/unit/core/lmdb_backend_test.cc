// LMDB-specific behaviour of the store: locking, group commit, corruption, full maps, map
// growth, injected I/O failures, stale readers. The shared behaviour is in
// store_conformance_test.cc.
#include <fcntl.h>
#include <lmdb.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.h"
#include "syncline/core/lmdb_store.h"

namespace syncline::core {
namespace {

using syncline::testing::TempDir;

std::unique_ptr<Store> MustOpen(const std::string& dir, const LmdbStoreOptions& o = {}) {
  auto s = OpenLmdbStore(dir, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST(LmdbStoreTest, SecondOpenOfTheSameDirectoryIsRefused) {
  TempDir dir;
  auto first = MustOpen(dir.str());
  ASSERT_NE(first, nullptr);
  auto second = OpenLmdbStore(dir.str());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status();
  EXPECT_NE(second.status().message().find(std::to_string(getpid())), std::string::npos);
  ASSERT_TRUE(first->Close().ok());
  EXPECT_TRUE(OpenLmdbStore(dir.str()).ok());  // released on close
}

TEST(LmdbStoreTest, MissingDirectoryWithoutCreateIsNotFound) {
  TempDir dir;
  LmdbStoreOptions o;
  o.create_if_missing = false;
  auto s = OpenLmdbStore((dir / "absent").string(), o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsNotFound()) << s.status();
}

TEST(LmdbStoreTest, QueuedWritesCommitInGroups) {
  TempDir dir;
  auto store = MustOpen(dir.str());
  std::atomic<int> ok{0};
  for (int i = 0; i < 5000; ++i) {
    store->Submit([i](WriteTxn& txn) { return txn.Put(Table::kData, "k" + std::to_string(i), "v"); },
                  [&](Status st) { ok += st.ok(); });
  }
  store->Flush();
  EXPECT_EQ(ok.load(), 5000);
  StoreStats s = store->stats();
  EXPECT_EQ(s.writes_committed, 5000u + 0);
  EXPECT_LT(s.groups_committed, s.writes_committed);  // more than one write per fsync
  EXPECT_EQ(s.queue_depth, 0u);
}

TEST(LmdbStoreTest, FlippedByteIsReportedAsCorruptionNamingTheKey) {
  TempDir dir;
  const std::string needle = "NEEDLE-7f3a9c-payload-that-is-easy-to-find";
  {
    auto store = MustOpen(dir.str());
    ASSERT_TRUE(store->Put(Table::kData, "users/victim", needle).ok());
    ASSERT_TRUE(store->Put(Table::kData, "users/bystander", "fine").ok());
    ASSERT_TRUE(store->Close().ok());
  }
  std::string path = dir.str() + "/data.mdb";
  std::string bytes = ReadFile(path);
  // LMDB copies pages on write, so stale copies may exist too: flip every one.
  size_t at = bytes.find(needle);
  ASSERT_NE(at, std::string::npos);
  for (; at != std::string::npos; at = bytes.find(needle, at + 1)) bytes[at + 10] ^= 0x20;
  WriteFile(path, bytes);

  auto store = MustOpen(dir.str());
  auto got = store->Get(Table::kData, "users/victim");
  ASSERT_FALSE(got.ok());
  EXPECT_TRUE(got.status().IsCorruption()) << got.status();
  EXPECT_NE(got.status().message().find("users/victim"), std::string::npos) << got.status();
  EXPECT_NE(got.status().message().find("'data'"), std::string::npos) << got.status();
  EXPECT_EQ(got.status().message().find("NEEDLE"), std::string::npos);
  EXPECT_EQ(store->Get(Table::kData, "users/bystander").value(), "fine");
  Status find = store->Read([](ReadView& view) {
    auto found = view.Find(Table::kData, "users/victim");
    return found.ok() ? Status::Ok() : found.status();
  });
  EXPECT_TRUE(find.IsCorruption()) << find;
  EXPECT_NE(find.message().find("users/victim"), std::string::npos) << find;

  Status scan = store->Read([](ReadView& view) {
    return view.Scan(Table::kData, "", "", [](std::string_view, std::string_view) { return true; });
  });
  EXPECT_TRUE(scan.IsCorruption()) << scan;
  EXPECT_NE(scan.message().find("users/victim"), std::string::npos) << scan;
}

TEST(LmdbStoreTest, GarbageDataFileIsCorruptionNamingTheFile) {
  TempDir dir;
  WriteFile(dir.str() + "/data.mdb", std::string(64 * 1024, '\x5a'));
  auto s = OpenLmdbStore(dir.str());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsCorruption()) << s.status();
  EXPECT_NE(s.status().message().find("data.mdb"), std::string::npos) << s.status();
}

TEST(LmdbStoreTest, FullMapFailsTheWriteAndKeepsEarlierData) {
  TempDir dir;
  LmdbStoreOptions o;
  o.map_size_bytes = o.max_map_size_bytes = 1 << 20;
  auto store = MustOpen(dir.str(), o);
  std::string value(8000, 'x');
  int acked = 0;
  Status st;
  for (int i = 0; i < 1000; ++i) {
    st = store->Put(Table::kData, "k" + std::to_string(i), value);
    if (!st.ok()) break;
    ++acked;
  }
  ASSERT_EQ(st.code(), StatusCode::kResourceExhausted) << st;
  EXPECT_NE(st.message().find("data.mdb"), std::string::npos) << st;
  EXPECT_NE(st.message().find("max_map_size_bytes"), std::string::npos) << st;
  ASSERT_GT(acked, 10);
  EXPECT_TRUE(store->Get(Table::kData, "k" + std::to_string(acked)).status().IsNotFound());
  for (int i = 0; i < acked; ++i) {
    ASSERT_EQ(store->Get(Table::kData, "k" + std::to_string(i)).value(), value) << i;
  }
  // Deleting makes room again: the store stays usable after a full map.
  ASSERT_TRUE(store->Delete(Table::kData, "k0").ok());
  ASSERT_TRUE(store->Close().ok());
  store = MustOpen(dir.str(), o);
  EXPECT_EQ(store->Get(Table::kData, "k" + std::to_string(acked - 1)).value(), value);
}

TEST(LmdbStoreTest, MapGrowsUpToTheLimit) {
  TempDir dir;
  LmdbStoreOptions o;
  o.map_size_bytes = 1 << 20;
  o.max_map_size_bytes = 64 << 20;
  auto store = MustOpen(dir.str(), o);
  std::string value(4000, 'y');
  std::vector<std::future<Status>> fs;
  for (int i = 0; i < 2000; ++i) {
    fs.push_back(store->Write([i, &value](WriteTxn& txn) {
      return txn.Put(Table::kData, "k" + std::to_string(i), value);
    }));
  }
  for (auto& f : fs) ASSERT_TRUE(f.get().ok());
  StoreStats s = store->stats();
  EXPECT_GT(s.map_grow_count, 0u);
  EXPECT_GT(s.map_size_bytes, uint64_t{1} << 20);
  ASSERT_TRUE(store->Close().ok());
  store = MustOpen(dir.str(), o);
  EXPECT_EQ(store->Get(Table::kData, "k1999").value(), value);
}

TEST(LmdbStoreTest, InjectedIoErrorsFailTheWriteAndAreNotAcknowledged) {
  TempDir dir;
  std::atomic<int> at_commit{0}, at_put{0};
  LmdbStoreOptions o;
  o.fault_hook = [&](FaultPoint p) {
    if (p == FaultPoint::kSync) return 0;
    return p == FaultPoint::kCommit ? at_commit.load() : at_put.load();
  };
  auto store = MustOpen(dir.str(), o);
  ASSERT_TRUE(store->Put(Table::kData, "before", "1").ok());

  at_commit = EIO;
  Status st = store->Put(Table::kData, "eio", "2");
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st;
  at_commit = 0;

  at_put = ENOSPC;
  st = store->Put(Table::kData, "enospc", "3");
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st;
  EXPECT_NE(st.message().find("enospc"), std::string::npos) << st;
  at_put = 0;

  EXPECT_TRUE(store->Get(Table::kData, "eio").status().IsNotFound());
  EXPECT_TRUE(store->Get(Table::kData, "enospc").status().IsNotFound());
  EXPECT_EQ(store->Get(Table::kData, "before").value(), "1");
  ASSERT_TRUE(store->Put(Table::kData, "after", "4").ok());
  EXPECT_EQ(store->stats().writes_failed, 2u);
  ASSERT_TRUE(store->Close().ok());
  store = MustOpen(dir.str());
  EXPECT_TRUE(store->Get(Table::kData, "after").ok());
  EXPECT_TRUE(store->Get(Table::kData, "eio").status().IsNotFound());
}

TEST(LmdbStoreTest, FailedSyncFailsTheDurableReportAndRefusesLaterWrites) {
  TempDir dir;
  std::atomic<int> at_sync{0};
  LmdbStoreOptions o;
  o.fault_hook = [&](FaultPoint p) { return p == FaultPoint::kSync ? at_sync.load() : 0; };
  auto store = MustOpen(dir.str(), o);
  ASSERT_TRUE(store->Put(Table::kData, "before", "1").ok());
  EXPECT_GE(store->stats().syncs, 1u);

  at_sync = EIO;
  std::promise<Status> committed, durable;
  store->SubmitStaged([](WriteTxn& txn) { return txn.Put(Table::kData, "staged", "2"); },
                      [&](Status st) { committed.set_value(st); }, [&](Status st) { durable.set_value(st); });
  // The commit itself went through (and is visible); only its final sync failed.
  EXPECT_TRUE(committed.get_future().get().ok());
  Status st = durable.get_future().get();
  EXPECT_EQ(st.code(), StatusCode::kIOError) << st;
  EXPECT_NE(st.message().find("syncing"), std::string::npos) << st;
  EXPECT_NE(st.message().find("data.mdb"), std::string::npos) << st;
  at_sync = 0;

  // Nothing more is taken until the store is reopened.
  st = store->Put(Table::kData, "later", "3");
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("reopen"), std::string::npos) << st;
  ASSERT_TRUE(store->Close().ok());
  store = MustOpen(dir.str());
  EXPECT_EQ(store->Get(Table::kData, "before").value(), "1");
  EXPECT_TRUE(store->Get(Table::kData, "later").status().IsNotFound());
  ASSERT_TRUE(store->Put(Table::kData, "after", "4").ok());
}

TEST(LmdbStoreTest, CommitsAfterAFailedSyncAreNeverReportedDurable) {
  TempDir dir;
  std::atomic<bool> armed{false}, release{false};
  LmdbStoreOptions o;
  // The first sync after arming waits until released, then fails.
  o.fault_hook = [&](FaultPoint p) -> int {
    if (p != FaultPoint::kSync || !armed.exchange(false)) return 0;
    while (!release.load()) std::this_thread::yield();
    return EIO;
  };
  auto store = MustOpen(dir.str(), o);
  armed = true;
  std::promise<Status> a_durable, b_committed, b_durable;
  store->SubmitStaged([](WriteTxn& txn) { return txn.Put(Table::kData, "a", "1"); }, nullptr,
                      [&](Status st) { a_durable.set_value(st); });
  // Wait until the sync thread is inside the sync that will fail.
  while (armed.load()) std::this_thread::yield();
  // `b` commits meanwhile (its own pages synced), before the failure is known.
  store->SubmitStaged([](WriteTxn& txn) { return txn.Put(Table::kData, "b", "2"); },
                      [&](Status st) { b_committed.set_value(st); }, [&](Status st) { b_durable.set_value(st); });
  EXPECT_TRUE(b_committed.get_future().get().ok());
  release = true;
  EXPECT_EQ(a_durable.get_future().get().code(), StatusCode::kIOError);
  // The next sync would succeed, but `b` builds on `a`'s pages: it gets the same error.
  Status b = b_durable.get_future().get();
  EXPECT_EQ(b.code(), StatusCode::kIOError) << b;
  EXPECT_EQ(store->Put(Table::kData, "c", "3").code(), StatusCode::kUnavailable);
}

TEST(LmdbStoreTest, StagedWritesLeaveTheFinalSyncToTheSyncThread) {
  TempDir dir;
  auto store = MustOpen(dir.str());
  constexpr int kWrites = 2000;
  std::atomic<int> durable{0};
  for (int i = 0; i < kWrites; ++i) {
    store->SubmitStaged([i](WriteTxn& txn) { return txn.Put(Table::kData, "k" + std::to_string(i), "v"); },
                        nullptr, [&](Status st) {
                          EXPECT_TRUE(st.ok()) << st;
                          ++durable;
                        });
  }
  store->Flush();
  EXPECT_EQ(durable.load(), kWrites);
  StoreStats stats = store->stats();
  EXPECT_EQ(stats.writes_committed, static_cast<uint64_t>(kWrites));
  // One final sync covers every commit handed over before it: never more syncs than commits.
  EXPECT_GE(stats.syncs, 1u);
  EXPECT_LE(stats.syncs, stats.groups_committed);
  ASSERT_TRUE(store->Close().ok());
  store = MustOpen(dir.str());
  EXPECT_TRUE(store->Get(Table::kData, "k" + std::to_string(kWrites - 1)).ok());
}

TEST(LmdbStoreTest, InjectedMapFullTakesTheGrowthPath) {
  TempDir dir;
  std::atomic<int> remaining{1};
  LmdbStoreOptions o;
  o.map_size_bytes = 1 << 20;
  o.max_map_size_bytes = 4 << 20;
  o.fault_hook = [&](FaultPoint p) {
    return p == FaultPoint::kPut && remaining.fetch_sub(1) > 0 ? MDB_MAP_FULL : 0;
  };
  auto store = MustOpen(dir.str(), o);
  ASSERT_TRUE(store->Put(Table::kData, "k", "v").ok());
  EXPECT_EQ(store->stats().map_grow_count, 1u);
  EXPECT_EQ(store->Get(Table::kData, "k").value(), "v");
}

// Opens the environment read-only in a child; with `hold_txn` the child begins a read
// transaction and dies without releasing its reader slot, otherwise it keeps the environment
// open (so LMDB does not reset its reader table) until killed.
pid_t ForkLmdbReader(const std::string& dir, bool hold_txn, int ready_fd) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  MDB_env* env;
  MDB_txn* txn;
  if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 16) ||
      mdb_env_open(env, dir.c_str(), MDB_NOTLS | MDB_RDONLY, 0644)) {
    _exit(1);
  }
  if (hold_txn) {
    if (mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn)) _exit(1);
    _exit(0);
  }
  char c = 'r';
  if (write(ready_fd, &c, 1) != 1) _exit(1);
  pause();
  _exit(0);
}

TEST(LmdbStoreTest, StaleReaderSlotsOfDeadProcessesAreCleared) {
  TempDir dir;
  { ASSERT_NE(MustOpen(dir.str()), nullptr); }
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t keeper = ForkLmdbReader(dir.str(), false, fds[1]);
  ASSERT_GT(keeper, 0);
  char c;
  ASSERT_EQ(read(fds[0], &c, 1), 1);
  pid_t dead = ForkLmdbReader(dir.str(), true, fds[1]);
  ASSERT_GT(dead, 0);
  int status = 0;
  ASSERT_EQ(waitpid(dead, &status, 0), dead);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  std::ostringstream log;
  LmdbStoreOptions o;
  o.logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_st>(log));
  auto store = MustOpen(dir.str(), o);
  kill(keeper, SIGKILL);
  waitpid(keeper, &status, 0);
  close(fds[0]);
  close(fds[1]);
  ASSERT_NE(store, nullptr);
  EXPECT_NE(log.str().find("cleared 1 stale LMDB reader"), std::string::npos) << log.str();
  EXPECT_TRUE(store->Put(Table::kData, "k", "v").ok());
}

TEST(LmdbStoreTest, NoSyncModeCommitsAndReopens) {
  TempDir dir;
  LmdbStoreOptions o;
  o.sync_mode = SyncMode::kNoSync;
  auto store = MustOpen(dir.str(), o);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store->Put(Table::kLog, "k" + std::to_string(i), "v").ok());
  // Staged writes report both steps on the writer, without a sync thread.
  bool committed = false;
  std::promise<bool> durable;
  store->SubmitStaged([](WriteTxn& txn) { return txn.Put(Table::kLog, "staged", "v"); },
                      [&](Status st) { committed = st.ok(); }, [&](Status st) { durable.set_value(st.ok() && committed); });
  EXPECT_TRUE(durable.get_future().get());
  EXPECT_EQ(store->stats().syncs, 0u);
  ASSERT_TRUE(store->Close().ok());
  store = MustOpen(dir.str());
  EXPECT_TRUE(store->Get(Table::kLog, "k99").ok());
  EXPECT_TRUE(store->Get(Table::kLog, "staged").ok());
}

TEST(LmdbStoreTest, OptionsAreValidated) {
  TempDir dir;
  LmdbStoreOptions o;
  o.map_size_bytes = 2 << 20;
  o.max_map_size_bytes = 1 << 20;
  auto s = OpenLmdbStore(dir.str(), o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace syncline::core
