#include "sim_workload.h"

#include <algorithm>
#include <sstream>

namespace syncline::sim {

using replication::WriteOp;

void Workload::Setup(SimCluster& cluster) {
  std::uniform_int_distribution<int> node(0, cluster.size() - 1);
  cluster.CreateCollection(node(rng_), "reg", "lww");
  cluster.CreateCollection(node(rng_), "mv", "mv");
  cluster.CreateCollection(node(rng_), "cnt", "counter");
  cluster.CreateCollection(node(rng_), "tags", "set");
  cluster.CreateCollection(node(rng_), "doc", "map");
  // Every node needs every collection before its client writes to it; in a real cluster the
  // application creates them on each node (or they arrive with the first change).
  for (int i = 0; i < cluster.size(); ++i) {
    cluster.CreateCollection(i, "reg", "lww");
    cluster.CreateCollection(i, "mv", "mv");
    cluster.CreateCollection(i, "cnt", "counter");
    cluster.CreateCollection(i, "tags", "set");
    cluster.CreateCollection(i, "doc", "map");
  }
}

std::string Workload::Key() { return "k" + std::to_string(std::uniform_int_distribution<int>(0, 4)(rng_)); }

void Workload::Step(SimCluster& cluster) {
  std::vector<int> live;
  for (int i = 0; i < cluster.size(); ++i) {
    if (cluster.up(i) && cluster.replica(i).Serving()) live.push_back(i);  // installing: serves nothing
  }
  if (live.empty()) return;
  int node = live[std::uniform_int_distribution<size_t>(0, live.size() - 1)(rng_)];
  replication::Replica& r = cluster.replica(node);
  std::string key = Key();
  std::string value = "v" + std::to_string(next_value_++) + "@" + std::to_string(node);
  int kind = std::uniform_int_distribution<int>(0, 9)(rng_);
  auto write = [&](const std::string& coll, WriteOp op) {
    auto res = r.WriteAndWait(coll, key, std::move(op));
    if (!res.ok()) throw std::runtime_error("simulated write failed: " + res.status().ToString());
    ++writes_;
  };
  switch (kind) {
    case 0:
    case 1: {
      bool del = std::uniform_int_distribution<int>(0, 4)(rng_) == 0;
      write("reg", del ? WriteOp::Delete() : WriteOp::Put(value));
      std::string v = del ? std::string() : value;
      lww_values_[key].insert(v);
      lww_by_client_[key][node].push_back(v);
      break;
    }
    case 2: {
      auto read = r.Read("mv", key);
      if (!read.ok()) throw std::runtime_error("simulated read failed: " + read.status().ToString());
      write("mv", WriteOp::Put(value, read->token));
      mv_values_[key].insert(value);
      mv_by_client_[key][node].push_back(value);
      break;
    }
    case 3: {
      int64_t amount = std::uniform_int_distribution<int64_t>(-5, 10)(rng_);
      write("cnt", WriteOp::Add(amount));
      counter_sum_[key] += amount;
      break;
    }
    case 4:
    case 5: {
      std::string element = "e" + std::to_string(std::uniform_int_distribution<int>(0, 7)(rng_));
      bool remove = kind == 5;
      write("tags", remove ? WriteOp::RemoveElement(element) : WriteOp::AddElement(element));
      (remove ? set_removed_ : set_added_)[key].insert(element);
      break;
    }
    case 6: {
      int64_t amount = std::uniform_int_distribution<int64_t>(1, 3)(rng_);
      write("doc", WriteOp::IncrementField({conflict::Field::Counter("hits")}, amount));
      map_counter_sum_[key] += amount;
      break;
    }
    case 7: {
      std::string element = "t" + std::to_string(std::uniform_int_distribution<int>(0, 5)(rng_));
      bool remove = std::uniform_int_distribution<int>(0, 2)(rng_) == 0;
      conflict::FieldPath path{conflict::Field::Map("meta"), conflict::Field::Set("labels")};
      write("doc", remove ? WriteOp::RemoveFromField(path, element) : WriteOp::AddToField(path, element));
      (remove ? map_set_removed_ : map_set_added_)[key].insert(element);
      break;
    }
    case 8:
      write("doc", WriteOp::SetField({conflict::Field::Register("name")}, value));
      break;
    case 9:
      if (std::uniform_int_distribution<int>(0, 1)(rng_) == 0) {
        write("doc", WriteOp::AddToField({conflict::Field::Set("tmp")}, value));
      } else {
        auto read = r.Read("doc", key);
        if (read.ok() && std::find(read->values.begin(), read->values.end(), conflict::Field::Set("tmp")) != read->values.end()) {
          write("doc", WriteOp::RemoveField({conflict::Field::Set("tmp")}));
        }
      }
      break;
  }
  cluster.Notify(node);
}

std::string Workload::ReadAll(SimCluster& cluster, int i) {
  std::ostringstream out;
  for (const char* coll : {"reg", "mv", "cnt", "tags", "doc"}) {
    for (int k = 0; k < 5; ++k) {
      std::string key = "k" + std::to_string(k);
      auto r = cluster.replica(i).Read(coll, key);
      if (!r.ok()) throw std::runtime_error("simulated read failed: " + r.status().ToString());
      std::vector<std::string> values = r->values;
      std::sort(values.begin(), values.end());
      out << coll << "/" << key << "=" << (r->found ? "" : "absent ");
      for (const auto& v : values) out << v << ",";
      if (std::string(coll) == "cnt") out << r->counter;
      if (std::string(coll) == "doc") out << r->rendered;
      out << "\n";
    }
  }
  return out.str();
}

std::string Workload::CheckConverged(SimCluster& cluster) {
  std::ostringstream err;
  std::string first_digest;
  int first = -1;
  for (int i = 0; i < cluster.size(); ++i) {
    if (!cluster.up(i)) continue;
    std::string d = cluster.Digest(i);
    if (first < 0) {
      first = i;
      first_digest = d;
    } else if (d != first_digest) {
      err << "node " << i << " digest " << d << " differs from node " << first << " digest " << first_digest
          << " (context " << cluster.replica(i).Context().ToString() << " against "
          << cluster.replica(first).Context().ToString() << ")\n";
    }
    replication::Replica& r = cluster.replica(i);
    auto read = [&](const std::string& coll, const std::string& key) {
      auto res = r.Read(coll, key);
      if (!res.ok()) throw std::runtime_error("read failed: " + res.status().ToString());
      return std::move(res).value();
    };
    for (auto& [key, sum] : counter_sum_) {
      auto res = read("cnt", key);
      if (res.counter != sum) err << "node " << i << " counter " << key << " = " << res.counter << ", acknowledged adds sum to " << sum << "\n";
    }
    for (auto& [key, added] : set_added_) {
      auto res = read("tags", key);
      std::set<std::string> have(res.values.begin(), res.values.end());
      for (const auto& e : added) {
        if (!set_removed_[key].count(e) && !have.count(e)) err << "node " << i << " set " << key << " lost element " << e << "\n";
      }
      for (const auto& e : have) {
        if (!added.count(e)) err << "node " << i << " set " << key << " has element " << e << " nobody added\n";
      }
    }
    for (auto& [key, values] : lww_values_) {
      auto res = read("reg", key);
      std::string v = res.values.empty() ? std::string() : res.values[0];
      if (!values.count(v)) err << "node " << i << " register " << key << " = '" << v << "' which nobody wrote\n";
      // A client's later write never loses to its own earlier one.
      for (auto& [client, seq] : lww_by_client_[key]) {
        auto pos = std::find(seq.begin(), seq.end(), v);
        if (pos != seq.end() && !v.empty() && pos + 1 != seq.end()) {
          err << "node " << i << " register " << key << " = '" << v << "' but client " << client
              << " wrote '" << *(pos + 1) << "' after it\n";
        }
      }
    }
    for (auto& [key, values] : mv_values_) {
      auto res = read("mv", key);
      if (res.values.empty()) err << "node " << i << " mv " << key << " lost every value\n";
      for (const auto& v : res.values) {
        if (!values.count(v)) err << "node " << i << " mv " << key << " sibling '" << v << "' which nobody wrote\n";
        for (auto& [client, seq] : mv_by_client_[key]) {
          auto pos = std::find(seq.begin(), seq.end(), v);
          if (pos != seq.end() && pos + 1 != seq.end()) {
            err << "node " << i << " mv " << key << " keeps sibling '" << v << "' that client " << client
                << " replaced with '" << *(pos + 1) << "'\n";
          }
        }
      }
    }
    for (auto& [key, sum] : map_counter_sum_) {
      auto res = read("doc", key);
      auto map = conflict::OrMap::Decode(res.state);
      if (!map.ok()) {
        err << "node " << i << " map " << key << " does not decode\n";
        continue;
      }
      auto hits = map->GetCounter({conflict::Field::Counter("hits")});
      if (!hits.ok() || *hits != sum) err << "node " << i << " map " << key << " hits = " << (hits.ok() ? *hits : -1) << ", expected " << sum << "\n";
    }
    for (auto& [key, added] : map_set_added_) {
      auto res = read("doc", key);
      auto map = conflict::OrMap::Decode(res.state);
      if (!map.ok()) continue;
      auto labels = map->GetSet({conflict::Field::Map("meta"), conflict::Field::Set("labels")});
      std::set<std::string> have;
      if (labels.ok()) have.insert(labels->begin(), labels->end());
      for (const auto& e : added) {
        if (!map_set_removed_[key].count(e) && !have.count(e)) err << "node " << i << " map " << key << " lost label " << e << "\n";
      }
    }
  }
  return err.str();
}

}  // namespace syncline::sim
