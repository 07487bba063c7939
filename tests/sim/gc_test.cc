// Garbage collection under the deterministic simulator: a mesh of 3 to 5 nodes with a network that
// delays, drops, duplicates, reorders and partitions, skewed clocks, crash-restarts and a random
// workload over every collection type, in which nodes collect at random moments with the horizon
// a node computes (SimCluster::CollectGarbage). Each seed also runs as a shadow that never
// collects; collection sends no message, so both runs see the same history. After the faults heal,
// every node of the collecting run must read exactly what every node of the shadow reads: nothing
// deleted comes back, nothing live goes.
//
// Replay one seed: SYNCLINE_SIM_SEED=<seed> tests/sim/sim_gc_test
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <sstream>

#include "sim_cluster.h"
#include "sim_workload.h"

namespace syncline::sim {
namespace {

constexpr int kOps = 400;

struct GcRun {
  std::string error;               // empty when the run itself went well
  std::vector<std::string> reads;  // per node, Workload::ReadAll
  uint64_t removed = 0;            // keys collected, all nodes
  std::string summary;
};

GcRun Run(uint64_t seed, bool collect) {
  std::mt19937_64 rng(seed);
  ClusterOptions opts;
  opts.nodes = std::uniform_int_distribution<int>(3, 5)(rng);
  opts.topology = Topology::kMesh;
  RandomizeFaults(rng, &opts);
  GcRun run;
  try {
    SimCluster cluster(opts, seed);
    Workload workload(seed * 31 + 7);
    workload.Setup(cluster);
    for (int i = 0; i < kOps; ++i) {
      int event = std::uniform_int_distribution<int>(0, 99)(rng);
      int node = std::uniform_int_distribution<int>(0, cluster.size() - 1)(rng);
      if (event < 10) {
        RandomFault(cluster, rng, event, node);
      } else if (event < 25) {
        if (collect) run.removed += cluster.CollectGarbage(node);
      } else {
        workload.Step(cluster);
      }
      cluster.RunFor(std::uniform_int_distribution<int64_t>(0, 30)(rng));
    }
    cluster.network().Heal();
    for (int i = 0; i < cluster.size(); ++i) cluster.Restart(i);
    if (!cluster.RunUntilQuiet(600'000)) run.error = "replication did not go quiet within 600 s of simulated time\n";
    if (collect) {
      // Once everything is acknowledged every node can collect everything stable.
      for (int i = 0; i < cluster.size(); ++i) run.removed += cluster.CollectGarbage(i);
    } else {
      run.error += workload.CheckConverged(cluster);
    }
    for (int i = 0; i < cluster.size(); ++i) run.reads.push_back(workload.ReadAll(cluster, i));
    std::ostringstream summary;
    summary << opts.nodes << " nodes, drop " << opts.network.drop << ", dup " << opts.network.duplicate << ", "
            << workload.writes() << " writes, simulated " << cluster.now() << " ms";
    run.summary = summary.str();
  } catch (const std::exception& e) {
    run.error = std::string("exception: ") + e.what();
  }
  return run;
}

// "" when the collecting run of `seed` reads what its shadow reads, on every node.
std::string Check(uint64_t seed, uint64_t* removed) {
  GcRun gc = Run(seed, true);
  GcRun shadow = Run(seed, false);
  *removed += gc.removed;
  if (!gc.error.empty()) return "collecting run: " + gc.error;
  if (!shadow.error.empty()) return "shadow run: " + shadow.error;
  for (size_t i = 0; i < gc.reads.size(); ++i) {
    if (gc.reads[i] != shadow.reads[0]) {
      return "node " + std::to_string(i) + " reads (after " + std::to_string(gc.removed) + " keys collected):\n" +
             gc.reads[i] + "where the shadow reads:\n" + shadow.reads[0] + "(" + gc.summary + ")";
    }
  }
  return "";
}

TEST(GcSim, CollectionNeverChangesWhatReplicasRead) {
  uint64_t removed = 0;
  if (const char* one = std::getenv("SYNCLINE_SIM_SEED"); one != nullptr) {
    uint64_t seed = std::strtoull(one, nullptr, 10);
    EXPECT_EQ(Check(seed, &removed), "") << "seed " << seed;
    return;
  }
  // The count is fixed so the run is the same everywhere.
  constexpr uint64_t kSeeds = 60;
  int failures = 0;
  for (uint64_t seed = 1; seed <= kSeeds && failures < 3; ++seed) {
    std::string error = Check(seed, &removed);
    if (!error.empty()) {
      ++failures;
      ADD_FAILURE() << "seed " << seed << " failed:\n" << error << "\nreplay: SYNCLINE_SIM_SEED=" << seed
                    << " tests/sim/sim_gc_test";
    }
  }
  // The runs must actually collect, or they show nothing.
  EXPECT_GT(removed, 0u);
  std::printf("%llu keys collected over %llu seeds\n", static_cast<unsigned long long>(removed),
              static_cast<unsigned long long>(kSeeds));
}

}  // namespace
}  // namespace syncline::sim
