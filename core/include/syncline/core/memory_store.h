// The in-memory store: a Store (see store.h) for unit tests and the simulator.
//
// Write functions run inline on the caller's thread under a lock, so a single-threaded
// simulation stays deterministic: Submit returns after `done` has been called. The data lives
// in a MemoryStorage object that can outlive the store, so a simulated crash-restart can drop
// the store and open a new one on the same storage.
//
// Thread-safety: as Store.
#ifndef SYNCLINE_CORE_MEMORY_STORE_H_
#define SYNCLINE_CORE_MEMORY_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "syncline/core/lmdb_store.h"
#include "syncline/core/store.h"

namespace syncline::core {

// The contents of an in-memory store (opaque).
class MemoryStorage;
std::shared_ptr<MemoryStorage> NewMemoryStorage();

struct MemoryStoreOptions {
  // Where the data lives; a fresh storage when null.
  std::shared_ptr<MemoryStorage> storage;
  // Seed for the replica id drawn when the storage is new.
  uint64_t seed = 1;
  // Largest value Put accepts. Default 64 MiB.
  size_t max_value_bytes = size_t{64} << 20;
  // Tests only: as LmdbStoreOptions::fault_hook.
  std::function<int(FaultPoint)> fault_hook;
};

std::unique_ptr<Store> OpenMemoryStore(const MemoryStoreOptions& options = {});

}  // namespace syncline::core

#endif  // SYNCLINE_CORE_MEMORY_STORE_H_
