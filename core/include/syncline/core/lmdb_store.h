// The LMDB store: the production Store (see store.h for the contract).
//
// One LMDB environment per data directory, with the named databases of DESIGN.md and a
// lock file that refuses a second process on the same directory. Exactly one writer thread
// takes queued write functions, runs up to `max_group_writes` of them in one transaction and
// commits it with one sync (durable mode), then completes their callbacks.
//
// Durability. kDurable (the default) syncs every group before acknowledging it: an
// acknowledged write survives a process crash, kill -9 and an OS crash or power loss.
// kNoSync lets the OS write the pages back in its own time: an acknowledged write survives
// a process crash and kill -9 (the pages are in the kernel's page cache) but the last
// seconds of writes may be lost in an OS crash or power loss.
//
// Map size. LMDB maps the file into memory with a fixed maximum size. The store starts at
// `map_size_bytes` (sparse: it costs address space, not disk) and, when a transaction hits
// MDB_MAP_FULL, doubles the map up to `max_map_size_bytes` and retries the group. Past that
// limit writes fail with ResourceExhausted naming the file and the limit; nothing is
// acknowledged that was not committed, and everything committed before stays readable.
//
// Errors. ENOSPC and a full map are ResourceExhausted, EIO and other OS failures IOError, a
// file that is not an LMDB environment (or whose pages fail LMDB's checks) Corruption, a
// directory already in use AlreadyExists. After a failed commit LMDB may have to be
// reopened; the store then fails every further write with Unavailable and says so.
//
// Read-only mode (`read_only`, for offline diagnostics such as `syncline inspect`). The
// environment is opened with MDB_RDONLY and without the directory lock, so it works on a stopped
// node's directory and next to a running node (LMDB lets readers share an environment with its
// writer). Nothing is created or written: data.mdb stays byte for byte as it was (LMDB still
// takes a reader slot in its own lock file, lock.mdb). A missing directory, or one without a
// syncline environment, is NotFound or FailedPrecondition naming the path; every write
// (Submit and the conveniences built on it) fails with FailedPrecondition.
//
// Thread-safety: as Store. Open at most one writable LmdbStore per directory per process (the
// lock file enforces it across processes too); read-only stores may be opened next to it.
#ifndef SYNCLINE_CORE_LMDB_STORE_H_
#define SYNCLINE_CORE_LMDB_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "syncline/core/store.h"

namespace spdlog {
class logger;
}

namespace syncline::core {

enum class SyncMode {
  // Every group commit reaches the disk before it is reported durable (default). The writer
  // syncs a transaction's pages itself and leaves the final sync (LMDB's meta page) to a sync
  // thread, so it can write the next transaction meanwhile; see "Staged writes" in store.h.
  kDurable,
  kNoSync,  // survives a process crash, not an OS crash
};

// Points where tests can inject failures (see LmdbStoreOptions::fault_hook).
enum class FaultPoint {
  kPut,     // before each mdb_put of a write function
  kCommit,  // before each mdb_txn_commit of a group
  kSync,    // before each final sync of the sync thread (durable mode)
};

struct LmdbStoreOptions {
  // Initial map size. Sparse: costs address space, not disk. Default 16 GiB.
  uint64_t map_size_bytes = uint64_t{16} << 30;
  // The map doubles on MDB_MAP_FULL up to this size. Default 1 TiB.
  uint64_t max_map_size_bytes = uint64_t{1} << 40;
  // kDurable (default) or kNoSync; see the header comment.
  SyncMode sync_mode = SyncMode::kDurable;
  // Most write functions committed in one transaction. Default 1024.
  size_t max_group_writes = 1024;
  // Most write functions waiting for the writer; Submit blocks beyond it. Default 65,536.
  size_t max_queued_writes = 65536;
  // Largest value Put accepts. Default 64 MiB.
  size_t max_value_bytes = size_t{64} << 20;
  // Most concurrent read transactions (LMDB reader slots). Default 256.
  unsigned max_readers = 256;
  // Create the directory and environment when missing. Default true. Ignored when read_only.
  bool create_if_missing = true;
  // Open read-only (see the header comment): no lock file, no writer, writes refused. The map
  // size is then the environment's own (map_size_bytes is not used) and follows the writer's
  // growth. Default false.
  bool read_only = false;
  // Logger for warnings (map growth, stale readers cleared). Null: no logging.
  std::shared_ptr<spdlog::logger> logger;
  // Tests only: called at each FaultPoint; a non-zero return is treated as that errno coming
  // back from LMDB at that point (e.g. EIO, ENOSPC, MDB_MAP_FULL).
  std::function<int(FaultPoint)> fault_hook;
};

// Opens (or creates) the store in directory `dir`.
Result<std::unique_ptr<Store>> OpenLmdbStore(const std::string& dir,
                                             const LmdbStoreOptions& options = {});

// The meta-table entry holding the store format, and the format this build reads and writes.
inline constexpr const char* kStoreFormatMetaKey = "store.format";
inline constexpr const char* kStoreFormatV1 = "syncline-store-v1";

// One record that failed its check (format version or checksum), found by ScrubLmdbStore.
struct CorruptRecord {
  Table table = Table::kData;
  std::string key;    // the raw key
  std::string error;  // the Corruption message
};

struct ScrubReport {
  uint64_t checked = 0;                    // records checked, every table
  uint64_t checked_by_table[kNumTables] = {};
  uint64_t corrupt_count = 0;              // every corrupt record, even past `max_reported`
  std::vector<CorruptRecord> corrupt;      // the first `max_reported` of them, in table and key order
};

// Verifies every record of every table of `store` (which must come from OpenLmdbStore; any
// other store is InvalidArgument) on one consistent read snapshot, without stopping at a
// corrupt one, unlike ReadView::Scan. Read-only; works on read-only stores. Returns an error only
// when a table cannot be read at all (LMDB's own page checks failing is Corruption).
Result<ScrubReport> ScrubLmdbStore(Store& store, size_t max_reported = 1000);

}  // namespace syncline::core

#endif  // SYNCLINE_CORE_LMDB_STORE_H_
