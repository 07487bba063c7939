// DiffNodes (node/diff.h) over the client protocol of two in-process nodes that do not replicate,
// with pages far smaller than the data, against a reference model of the classes; and
// ClassifyKey's rule order on hand-made key versions.
#include <gtest/gtest.h>

#include <map>

#include "support/temp_dir.h"
#include "syncline/node/client.h"
#include "syncline/node/diff.h"
#include "test_cluster.h"

namespace syncline::testing {
namespace {

using replication::KeyVersion;
using replication::WriteOp;

TEST(DiffPages, MergesSmallPagesOfTwoNodesLikeTheModel) {
  TempDir dir;
  std::vector<std::unique_ptr<Node>> nodes;
  for (const char* id : {"a", "b"}) {
    NodeOptions o = TestNodeOptions(id, dir.str() + "/" + id);
    o.serve_clients = true;
    nodes.push_back(StartNode(std::move(o)));
    ASSERT_NE(nodes.back(), nullptr);
    ASSERT_TRUE(nodes.back()->CreateCollection("kv", "lww").ok());
    ASSERT_TRUE(nodes.back()->CreateCollection("z", "counter").ok());
  }
  // Key i lives on a when i % 3 != 0 and on b when i is even; shared keys hold the same value
  // when i % 4 == 0 (metadata differs: two replicas wrote it), else different values.
  std::map<std::pair<std::string, std::string>, DiffClass> model;
  for (int i = 0; i < 60; ++i) {
    char key[16];
    std::snprintf(key, sizeof(key), "k%03d", i);
    bool on_a = i % 3 != 0, on_b = i % 2 == 0;
    std::string va = "v" + std::to_string(i), vb = i % 4 == 0 ? va : "w" + std::to_string(i);
    if (on_a) {
      ASSERT_TRUE(nodes[0]->Write("kv", key, WriteOp::Put(va)).ok());
    }
    if (on_b) {
      ASSERT_TRUE(nodes[1]->Write("kv", key, WriteOp::Put(vb)).ok());
    }
    if (on_a && on_b) {
      model[{"kv", key}] = i % 4 == 0 ? DiffClass::kSameValueDifferentMetadata : DiffClass::kConcurrent;
    } else if (on_a) {
      model[{"kv", key}] = DiffClass::kOnlyOnA;
    } else if (on_b) {
      model[{"kv", key}] = DiffClass::kOnlyOnB;
    }
  }
  ASSERT_TRUE(nodes[1]->Write("z", "last", WriteOp::Add(1)).ok());
  model[{"z", "last"}] = DiffClass::kOnlyOnB;

  auto a = Client::Connect("127.0.0.1:" + std::to_string(nodes[0]->client_port()));
  auto b = Client::Connect("127.0.0.1:" + std::to_string(nodes[1]->client_port()));
  ASSERT_TRUE(a.ok() && b.ok());
  for (uint32_t page : {1u, 7u, 1000u}) {
    SCOPED_TRACE(page);
    DiffOptions options;
    options.page_keys = page;
    std::map<std::pair<std::string, std::string>, DiffClass> got;
    std::pair<std::string, std::string> previous;
    DiffSummary summary;
    Status s = DiffNodes(**a, **b, options,
                         [&](const KeyDifference& d) {
                           std::pair<std::string, std::string> at{d.collection, d.key};
                           EXPECT_LT(previous, at);  // strictly in key order
                           previous = at;
                           got[at] = d.kind;
                         },
                         &summary);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(got, model);
    EXPECT_EQ(summary.differing, model.size());
    EXPECT_EQ(summary.keys_a, 40u);  // 60 keys less the 20 multiples of 3
    EXPECT_EQ(summary.keys_b, 31u);  // 30 even keys and the counter
    uint64_t total = 0;
    for (uint64_t c : summary.counts) total += c;
    EXPECT_EQ(total, summary.differing);
    EXPECT_GT(summary.bytes_a, 0u);
    EXPECT_GT(summary.bytes_b, 0u);
    // Each node is read in pages of `page` keys plus a last one that says there is no more.
    if (page == 1) {
      EXPECT_GE(summary.requests, 71u);
    }
    if (page == 1000) {
      EXPECT_EQ(summary.requests, 2u);
    }
  }

  // One collection only.
  DiffOptions only_z;
  only_z.collection = "z";
  DiffSummary summary;
  ASSERT_TRUE(DiffNodes(**a, **b, only_z, [](const KeyDifference&) {}, &summary).ok());
  EXPECT_EQ(summary.differing, 1u);
  EXPECT_EQ(summary.counts[static_cast<size_t>(DiffClass::kOnlyOnB)], 1u);
}

KeyVersion Version(std::string digest, VersionVector context, bool tombstone, std::string value) {
  KeyVersion v;
  v.collection = "c";
  v.key = "k";
  v.digest = std::move(digest);
  v.context = DotContext(std::move(context));
  v.tombstone = tombstone;
  v.siblings = tombstone ? 0 : 1;
  v.value_hash = std::move(value);
  return v;
}

TEST(DiffPages, ClassifyKeyAppliesTheRulesInOrder) {
  ReplicaId r(1), s(2);
  KeyVersion old = Version("d1", {{r, 1}}, false, "x");
  KeyVersion newer = Version("d2", {{r, 2}}, false, "y");
  KeyVersion other = Version("d3", {{s, 1}}, false, "z");
  KeyVersion newer_same = Version("d4", {{r, 2}}, false, "x");
  KeyVersion deleted = Version("d5", {{r, 2}}, true, "-");
  KeyVersion equal_context = Version("d6", {{r, 1}}, false, "q");

  EXPECT_EQ(ClassifyKey(nullptr, nullptr), std::nullopt);
  EXPECT_EQ(ClassifyKey(&old, &old), std::nullopt);  // equal digests
  EXPECT_EQ(ClassifyKey(&old, nullptr), DiffClass::kOnlyOnA);
  EXPECT_EQ(ClassifyKey(nullptr, &deleted), DiffClass::kOnlyOnB);  // a tombstone counts as present
  EXPECT_EQ(ClassifyKey(&old, &deleted), DiffClass::kTombstoneVsLive);  // before dominance
  EXPECT_EQ(ClassifyKey(&newer_same, &old), DiffClass::kSameValueDifferentMetadata);  // before dominance
  EXPECT_EQ(ClassifyKey(&newer, &old), DiffClass::kADominates);
  EXPECT_EQ(ClassifyKey(&old, &newer), DiffClass::kBDominates);
  EXPECT_EQ(ClassifyKey(&newer, &other), DiffClass::kConcurrent);
  EXPECT_EQ(ClassifyKey(&old, &equal_context), DiffClass::kConcurrent);  // equal contexts, other values
}

}  // namespace
}  // namespace syncline::testing
