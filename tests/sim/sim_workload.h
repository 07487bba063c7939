// A random workload over every collection type, with a reference model of what acknowledged
// writes imply for the converged state (checked by CheckConverged).
#ifndef SYNCLINE_TESTS_SIM_SIM_WORKLOAD_H_
#define SYNCLINE_TESTS_SIM_SIM_WORKLOAD_H_

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sim_cluster.h"

namespace syncline::sim {

class Workload {
 public:
  explicit Workload(uint64_t seed) : rng_(seed) {}

  // Creates the collections (each on a random node; they spread with the first change).
  void Setup(SimCluster& cluster);
  // One random operation by the client attached to a random live node.
  void Step(SimCluster& cluster);
  // Checks every live replica against the model; returns "" or what is wrong.
  std::string CheckConverged(SimCluster& cluster);
  // What node `i` reads for every key the workload can touch, in every collection, as text.
  std::string ReadAll(SimCluster& cluster, int i);

  uint64_t writes() const { return writes_; }

 private:
  std::string Key();
  std::mt19937_64 rng_;
  uint64_t writes_ = 0;
  uint64_t next_value_ = 1;
  std::map<std::string, int64_t> counter_sum_;
  std::map<std::string, int64_t> map_counter_sum_;
  std::map<std::string, std::set<std::string>> set_added_, set_removed_;
  std::map<std::string, std::set<std::string>> map_set_added_, map_set_removed_;
  // Register writes per key: every value written, and per client (node) its values in order.
  std::map<std::string, std::set<std::string>> lww_values_, mv_values_;
  std::map<std::string, std::map<int, std::vector<std::string>>> lww_by_client_, mv_by_client_;
};

}  // namespace syncline::sim

#endif  // SYNCLINE_TESTS_SIM_SIM_WORKLOAD_H_
