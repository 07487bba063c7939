// kill -9 test: a child process writes through the LMDB store and reports each acknowledged
// write; the test kills it mid-stream with SIGKILL, reopens the store and checks that every
// acknowledged write is there and intact, in durable and in no-sync mode.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "support/seed.h"
#include "support/temp_dir.h"
#include "syncline/core/lmdb_store.h"

extern char** environ;

namespace syncline::core {
namespace {

using syncline::testing::SeededRng;
using syncline::testing::TempDir;

// Runs the writer, kills it after `kill_after` acknowledgements, returns the highest index
// acknowledged (acks arrive in order).
long long RunAndKill(const std::string& dir, const char* mode, long long kill_after) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  const char* argv[] = {SYNCLINE_CRASH_WRITER, dir.c_str(), mode, nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, SYNCLINE_CRASH_WRITER, &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  EXPECT_EQ(rc, 0) << "cannot start " << SYNCLINE_CRASH_WRITER;
  FILE* in = fdopen(fds[0], "r");
  long long last = -1, value = 0;
  while (fscanf(in, "%lld", &value) == 1) {
    EXPECT_EQ(value, last + 1) << "acks must arrive in order";
    last = value;
    if (last + 1 >= kill_after) {
      kill(pid, SIGKILL);
      break;
    }
  }
  // Acks already written to the pipe before the kill are acknowledged too.
  while (fscanf(in, "%lld", &value) == 1) last = value;
  fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "writer ended early, status " << status;
  return last;
}

void CheckAcknowledgedWritesSurvive(const char* mode) {
  SeededRng rng;
  TempDir dir;
  long long total_acked = 0;
  for (int round = 0; round < 3; ++round) {
    long long kill_after = static_cast<long long>(rng.Uniform(300, 3000));
    long long last = RunAndKill(dir.str(), mode, kill_after);
    ASSERT_GE(last + 1, kill_after);
    total_acked = last;
    auto opened = OpenLmdbStore(dir.str());
    ASSERT_TRUE(opened.ok()) << opened.status();
    auto store = std::move(opened).value();
    for (long long i = 0; i <= last; ++i) {
      std::string key = "k" + std::to_string(i);
      auto v = store->Get(Table::kData, key);
      ASSERT_TRUE(v.ok()) << "acknowledged write " << key << " lost after kill -9 (" << mode
                          << "): " << v.status();
      ASSERT_EQ(*v, "value-of-" + key + std::string(200, 'x'));
    }
    ASSERT_TRUE(store->Close().ok());
  }
  EXPECT_GT(total_acked, 0);
}

TEST(LmdbCrashTest, AcknowledgedWritesSurviveKill9Durable) { CheckAcknowledgedWritesSurvive("durable"); }

TEST(LmdbCrashTest, AcknowledgedWritesSurviveKill9NoSync) { CheckAcknowledgedWritesSurvive("nosync"); }

}  // namespace
}  // namespace syncline::core
