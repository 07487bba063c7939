// The read-only mode of the LMDB store (LmdbStoreOptions::read_only) and ScrubLmdbStore: a
// reader next to the open writer sees its commits (also after the writer grew the map), refuses
// writes, creates and changes nothing, and a scrub checks every record and lists each corrupt one
// instead of stopping at the first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support/temp_dir.h"
#include "syncline/core/lmdb_store.h"
#include "syncline/core/memory_store.h"

namespace syncline::core {
namespace {

using syncline::testing::TempDir;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

LmdbStoreOptions ReadOnly() {
  LmdbStoreOptions o;
  o.read_only = true;
  return o;
}

TEST(LmdbReadOnlyTest, ReaderNextToTheWriterSeesCommitsAndRefusesWrites) {
  TempDir dir;
  LmdbStoreOptions wo;
  wo.map_size_bytes = 1 << 20;  // small, so the writes below grow it while the reader is open
  auto writer = OpenLmdbStore(dir.str(), wo);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Put(Table::kData, "k0", "v0").ok());

  LmdbStoreOptions ro = ReadOnly();
  ro.map_size_bytes = 1 << 20;
  auto reader = OpenLmdbStore(dir.str(), ro);  // no lock conflict with the writer
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->replica_id(), (*writer)->replica_id());
  auto v = (*reader)->Get(Table::kData, "k0");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "v0");

  Status put = (*reader)->Put(Table::kData, "k1", "v1");
  EXPECT_EQ(put.code(), StatusCode::kFailedPrecondition) << put;
  EXPECT_NE(put.message().find("read-only"), std::string::npos) << put;
  EXPECT_NE(put.message().find(dir.str()), std::string::npos) << put;

  // The writer grows its map past the reader's; the reader adopts the new size.
  std::string big(64 << 10, 'x');
  for (int i = 0; i < 64; ++i) ASSERT_TRUE((*writer)->Put(Table::kData, "big" + std::to_string(i), big).ok());
  ASSERT_GT((*writer)->stats().map_grow_count, 0u);
  int seen = 0;
  Status read = (*reader)->Read([&](ReadView& view) {
    return view.Scan(Table::kData, "big", "bih", [&](std::string_view, std::string_view value) {
      seen += value == big;
      return true;
    });
  });
  ASSERT_TRUE(read.ok()) << read;
  EXPECT_EQ(seen, 64);
  EXPECT_TRUE((*reader)->Close().ok());
  EXPECT_TRUE((*writer)->Close().ok());
}

TEST(LmdbReadOnlyTest, MissingOrForeignDirectoryIsAnErrorNamingItAndNothingIsCreated) {
  TempDir dir;
  std::string missing = (dir / "missing").string();
  auto s = OpenLmdbStore(missing, ReadOnly());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.status().IsNotFound()) << s.status();
  EXPECT_NE(s.status().message().find(missing), std::string::npos) << s.status();
  EXPECT_FALSE(std::filesystem::exists(missing));

  std::string empty = (dir / "empty").string();
  std::filesystem::create_directories(empty);
  s = OpenLmdbStore(empty, ReadOnly());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("not a syncline data directory"), std::string::npos) << s.status();
  EXPECT_TRUE(std::filesystem::is_empty(empty));
}

TEST(LmdbReadOnlyTest, ReadingAndScrubbingLeaveDataMdbUnchanged) {
  TempDir dir;
  {
    auto w = OpenLmdbStore(dir.str());
    ASSERT_TRUE(w.ok()) << w.status();
    for (int i = 0; i < 100; ++i) ASSERT_TRUE((*w)->Put(Table::kData, "k" + std::to_string(i), "v").ok());
  }
  std::string before = ReadFile(dir.str() + "/data.mdb");
  auto r = OpenLmdbStore(dir.str(), ReadOnly());
  ASSERT_TRUE(r.ok()) << r.status();
  auto scrub = ScrubLmdbStore(**r);
  ASSERT_TRUE(scrub.ok()) << scrub.status();
  // 100 data records, and the store's own meta records (format and replica id).
  EXPECT_EQ(scrub->checked_by_table[static_cast<int>(Table::kData)], 100u);
  EXPECT_EQ(scrub->checked_by_table[static_cast<int>(Table::kMeta)], 2u);
  EXPECT_EQ(scrub->checked, 102u);
  EXPECT_EQ(scrub->corrupt_count, 0u);
  EXPECT_TRUE((*r)->Close().ok());
  EXPECT_EQ(ReadFile(dir.str() + "/data.mdb"), before);
}

TEST(LmdbReadOnlyTest, ScrubListsEveryCorruptRecord) {
  TempDir dir;
  {
    auto w = OpenLmdbStore(dir.str());
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE((*w)->Put(Table::kData, "a-ok", "fine").ok());
    ASSERT_TRUE((*w)->Put(Table::kData, "b-bad", "NEEDLE-ONE-0123456789").ok());
    ASSERT_TRUE((*w)->Put(Table::kLog, "c-bad", "NEEDLE-TWO-0123456789").ok());
    ASSERT_TRUE((*w)->Put(Table::kData, "d-ok", "fine").ok());
  }
  std::string bytes = ReadFile(dir.str() + "/data.mdb");
  for (const char* needle : {"NEEDLE-ONE", "NEEDLE-TWO"}) {
    size_t at = bytes.find(needle);
    ASSERT_NE(at, std::string::npos) << needle;
    // LMDB copies pages on write, so stale copies may exist too: flip every one.
    for (; at != std::string::npos; at = bytes.find(needle, at + 1)) bytes[at + 12] ^= 0x20;
  }
  WriteFile(dir.str() + "/data.mdb", bytes);

  auto r = OpenLmdbStore(dir.str(), ReadOnly());
  ASSERT_TRUE(r.ok()) << r.status();
  auto scrub = ScrubLmdbStore(**r);
  ASSERT_TRUE(scrub.ok()) << scrub.status();
  EXPECT_EQ(scrub->checked, 6u);  // 4 records and the 2 meta records
  ASSERT_EQ(scrub->corrupt_count, 2u);
  ASSERT_EQ(scrub->corrupt.size(), 2u);
  EXPECT_EQ(scrub->corrupt[0].table, Table::kData);
  EXPECT_EQ(scrub->corrupt[0].key, "b-bad");
  EXPECT_NE(scrub->corrupt[0].error.find("checksum mismatch"), std::string::npos) << scrub->corrupt[0].error;
  EXPECT_EQ(scrub->corrupt[1].table, Table::kLog);
  EXPECT_EQ(scrub->corrupt[1].key, "c-bad");

  auto capped = ScrubLmdbStore(**r, 1);
  ASSERT_TRUE(capped.ok()) << capped.status();
  EXPECT_EQ(capped->corrupt_count, 2u);
  EXPECT_EQ(capped->corrupt.size(), 1u);
}

TEST(LmdbReadOnlyTest, ScrubOfAnotherStoreIsInvalidArgument) {
  auto mem = OpenMemoryStore();
  ASSERT_NE(mem, nullptr);
  auto scrub = ScrubLmdbStore(*mem);
  EXPECT_EQ(scrub.status().code(), StatusCode::kInvalidArgument) << scrub.status();
}

}  // namespace
}  // namespace syncline::core
