// Child process of lmdb_crash_test: writes keys k0, k1, ... through the LMDB store, several
// in flight at once so that groups form, and prints the index of each write on its own line
// only after the store acknowledged it. It runs until killed.
//
//   lmdb_crash_writer DIR durable|nosync
#include <cstdio>
#include <cstring>
#include <string>

#include "syncline/core/lmdb_store.h"

int main(int argc, char** argv) {
  using namespace syncline::core;
  if (argc != 3) {
    std::fprintf(stderr, "usage: lmdb_crash_writer DIR durable|nosync\n");
    return 1;
  }
  LmdbStoreOptions o;
  o.sync_mode = std::strcmp(argv[2], "nosync") == 0 ? SyncMode::kNoSync : SyncMode::kDurable;
  o.max_group_writes = 64;
  auto opened = OpenLmdbStore(argv[1], o);
  if (!opened.ok()) {
    std::fprintf(stderr, "lmdb_crash_writer: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  auto store = std::move(opened).value();
  for (uint64_t i = 0;; ++i) {
    std::string key = "k" + std::to_string(i);
    std::string value = "value-of-" + key + std::string(200, 'x');
    // The callback runs on the writer thread after the group committed; it prints the ack.
    store->Submit([key, value](WriteTxn& txn) { return txn.Put(Table::kData, key, value); },
                  [i](syncline::Status st) {
                    if (st.ok()) {
                      std::printf("%llu\n", static_cast<unsigned long long>(i));
                      std::fflush(stdout);
                    }
                  });
    if (i % 256 == 255) store->Flush();
  }
}
