// The LMDB store: environment and lock file, the single writer thread with group commit,
// map growth, and read views. See lmdb_store.h for the contract.
#include <fcntl.h>
#include <lmdb.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "lmdb_views.h"
#include "record_codec.h"
#include "syncline/core/lmdb_store.h"

namespace syncline::core {

namespace {

constexpr const char* kFormatKey = kStoreFormatMetaKey;
constexpr const char* kFormatValue = kStoreFormatV1;
constexpr const char* kReplicaIdKey = "store.replica_id";
constexpr const char* kLockFileName = "syncline.lock";

// Holds an exclusive flock on <dir>/syncline.lock for the life of the store.
class DirLock {
 public:
  ~DirLock() { Release(); }

  void Release() {
    if (fd_ >= 0) close(fd_);  // releases the flock
    fd_ = -1;
  }

  Status Acquire(const std::string& dir) {
    std::string path = dir + "/" + kLockFileName;
    fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::IOError("cannot open lock file " + path + ": " + std::strerror(errno));
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[32] = {0};
      ssize_t n = pread(fd_, buf, sizeof buf - 1, 0);
      std::string owner = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "unknown";
      while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
      close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK) {
        return Status::AlreadyExists("data directory " + dir + " is in use by another store (pid " +
                                     owner + "); stop it first or use another directory");
      }
      return Status::IOError("cannot lock " + path + ": " + std::strerror(err));
    }
    std::string pid = std::to_string(getpid()) + "\n";
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      return Status::IOError("cannot write lock file " + path + ": " + std::strerror(errno));
    }
    return Status::Ok();
  }

 private:
  int fd_ = -1;
};

struct PendingWrite {
  WriteFn fn;
  WriteDone done;       // Submit: the outcome; SubmitStaged: the durable outcome
  WriteDone committed;  // SubmitStaged only
  bool staged = false;
};

// A committed (or failed) group whose callbacks the sync thread runs once the commit is durable.
struct SyncTicket {
  uint64_t seq = 0;
  bool needs_sync = false;  // something committed (false: only errors to report)
  uint64_t writes = 0;
  std::vector<std::pair<WriteDone, Status>> callbacks;
};

// Groups committed but not yet reported durable before the writer waits for the sync thread.
constexpr size_t kMaxUnsyncedGroups = 16;

class LmdbStore final : public Store {
 public:
  LmdbStore(std::string dir, LmdbStoreOptions options)
      : dir_(std::move(dir)), options_(std::move(options)) {}

  ~LmdbStore() override { Close().IgnoreError(); }

  Status Open();

  ReplicaId replica_id() const override { return replica_id_; }
  void Submit(WriteFn fn, WriteDone done) override;
  void SubmitStaged(WriteFn fn, WriteDone committed, WriteDone durable) override;
  Status Read(const ReadFn& fn) override;
  void Flush() override;
  bool OnWriterThread() const override {
    auto self = std::this_thread::get_id();
    return self == writer_id_ || self == syncer_id_;
  }
  Status Close() override;
  StoreStats stats() const override;

  // ScrubLmdbStore (lmdb_store.h).
  Result<ScrubReport> Scrub(size_t max_reported);

 private:
  Status OpenReadOnly();
  Status CheckMetaReadOnly();
  // Begins a read transaction, adopting a map grown by another process meanwhile. The caller
  // holds resize_mu_ shared in `resize`; it is released and re-taken around the adoption.
  int BeginRead(std::shared_lock<std::shared_mutex>& resize, MDB_txn** txn);
  void Enqueue(PendingWrite write);
  void WriterLoop();
  void CommitGroup(std::vector<PendingWrite>& group);
  // Durable mode: hands the group's outcome to the sync thread, waiting for it when `wait` (a
  // group with writes from Submit) or when too many groups are unsynced.
  void HandOff(SyncTicket ticket, bool wait);
  // Waits until the sync thread has reported every group handed to it.
  void WaitSynced();
  void SyncLoop();
  // One fdatasync of the data file, through the fault hook; 0 or an errno.
  int SyncFile();
  // Runs the group's functions (skipping `excluded`) in one transaction and commits it.
  // Returns 0 on success, or the LMDB code that broke the transaction; fills `results`.
  int RunGroupOnce(std::vector<PendingWrite>& group, std::vector<bool>& excluded,
                   std::vector<Status>& results, bool* rerun);
  bool GrowMap();
  Status InitMeta();
  Status FailedStatus() const;
  std::string DataFile() const { return dir_ + "/data.mdb"; }
  void Warn(const std::string& msg) {
    if (options_.logger) options_.logger->warn("{}", msg);
  }

  std::string dir_;
  LmdbStoreOptions options_;
  DirLock lock_;
  MDB_env* env_ = nullptr;
  TableDbis dbis_{};
  ReplicaId replica_id_;

  // Readers hold this shared; the writer holds it exclusively only to resize the map.
  mutable std::shared_mutex resize_mu_;

  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::condition_variable idle_;
  std::deque<PendingWrite> queue_;
  uint64_t submitted_ = 0;
  uint64_t completed_ = 0;
  bool closing_ = false;
  std::atomic<bool> closed_{false};  // read without mu_ on the read path
  std::string failed_;  // non-empty once a failed commit or sync left the store unusable
  StoreStats stats_;
  uint64_t map_size_ = 0;
  std::thread writer_;
  std::thread::id writer_id_;

  // Durable mode, not read-only: commits leave their final sync to the sync thread. Set by Open.
  bool pipelined_ = false;
  // The sync thread; guarded by mu_ except sync_error_ (the sync thread's own).
  std::condition_variable tickets_ready_;
  std::condition_variable synced_;
  std::deque<SyncTicket> tickets_;
  uint64_t tickets_handed_ = 0;
  uint64_t tickets_synced_ = 0;
  bool sync_stop_ = false;
  // The first failed sync: every later commit is reported with it (its pages may build on
  // pages the kernel dropped), never as durable.
  Status sync_error_;
  std::thread syncer_;
  std::thread::id syncer_id_;
};

Status LmdbStore::Open() {
  if (options_.read_only) return OpenReadOnly();
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) {
    if (!options_.create_if_missing) {
      return Status::NotFound("data directory " + dir_ + " does not exist");
    }
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Status::IOError("cannot create data directory " + dir_ + ": " + ec.message());
  } else if (!std::filesystem::is_directory(dir_, ec)) {
    return Status::InvalidArgument(dir_ + " is not a directory");
  }
  SYNCLINE_RETURN_IF_ERROR(lock_.Acquire(dir_));

  int rc = mdb_env_create(&env_);
  if (rc != 0) return LmdbStatus(rc, "creating the LMDB environment for " + dir_);
  mdb_env_set_maxdbs(env_, 16);
  mdb_env_set_maxreaders(env_, options_.max_readers);
  rc = mdb_env_set_mapsize(env_, options_.map_size_bytes);
  if (rc != 0) return LmdbStatus(rc, "setting the map size of " + dir_);
  unsigned flags = MDB_NOTLS;
  if (options_.sync_mode == SyncMode::kNoSync) flags |= MDB_NOSYNC;
  // Durable mode: a commit syncs its pages (which keeps the environment intact whatever
  // happens) and writes its meta page without syncing it; the sync thread does that before the
  // commit is reported durable.
  pipelined_ = options_.sync_mode == SyncMode::kDurable;
  if (pipelined_) flags |= MDB_NOMETASYNC;
  rc = mdb_env_open(env_, dir_.c_str(), flags, 0644);
  if (rc != 0) {
    Status st = LmdbStatus(rc, "opening " + DataFile());
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND) {
      st = Status::Corruption("opening " + DataFile() + ": not an LMDB environment or corrupted (" +
                              mdb_strerror(rc) + "); restore the node from a replica");
    }
    mdb_env_close(env_);
    env_ = nullptr;
    return st;
  }
  int dead = 0;
  if (mdb_reader_check(env_, &dead) == 0 && dead > 0) {
    Warn("cleared " + std::to_string(dead) + " stale LMDB reader slot(s) left by dead processes in " + dir_);
  }
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  map_size_ = info.me_mapsize;
  stats_.map_size_bytes = map_size_;

  SYNCLINE_RETURN_IF_ERROR(InitMeta());
  if (pipelined_) {
    // The first transaction's meta page is synced here, before any write is taken.
    rc = SyncFile();
    if (rc != 0) return LmdbStatus(rc, "syncing " + DataFile());
    syncer_ = std::thread([this] { SyncLoop(); });
    syncer_id_ = syncer_.get_id();
  }
  writer_ = std::thread([this] { WriterLoop(); });
  writer_id_ = writer_.get_id();
  return Status::Ok();
}

Status LmdbStore::OpenReadOnly() {
  std::error_code ec;
  if (!std::filesystem::exists(dir_, ec)) return Status::NotFound("data directory " + dir_ + " does not exist");
  if (!std::filesystem::is_directory(dir_, ec)) return Status::InvalidArgument(dir_ + " is not a directory");
  if (!std::filesystem::exists(DataFile(), ec)) {
    return Status::NotFound(dir_ + " is not a syncline data directory: it holds no data.mdb");
  }
  // No DirLock: a running node holds it, and readers may share the environment with its writer.
  int rc = mdb_env_create(&env_);
  if (rc != 0) return LmdbStatus(rc, "creating the LMDB environment for " + dir_);
  mdb_env_set_maxdbs(env_, 16);
  mdb_env_set_maxreaders(env_, options_.max_readers);
  rc = mdb_env_open(env_, dir_.c_str(), MDB_RDONLY | MDB_NOTLS, 0644);
  if (rc != 0) {
    Status st = LmdbStatus(rc, "opening " + DataFile() + " read-only");
    if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND) {
      st = Status::Corruption("opening " + DataFile() + ": not an LMDB environment or corrupted (" +
                              mdb_strerror(rc) + ")");
    }
    mdb_env_close(env_);
    env_ = nullptr;
    return st;
  }
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  map_size_ = info.me_mapsize;
  stats_.map_size_bytes = map_size_;
  Status st = CheckMetaReadOnly();
  if (!st.ok()) {
    mdb_env_close(env_);
    env_ = nullptr;
  }
  return st;
}

Status LmdbStore::CheckMetaReadOnly() {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return LmdbStatus(rc, "starting a read transaction on " + dir_);
  static const char* kNames[kNumTables] = {"data", "log", "meta", "peers", "feeds", "journal", "index", "log2"};
  for (int i = 0; i < kNumTables; ++i) {
    rc = mdb_dbi_open(txn, kNames[i], 0, &dbis_[i]);
    if (rc != 0) {
      mdb_txn_abort(txn);
      if (rc == MDB_NOTFOUND && (static_cast<Table>(i) == Table::kIndex || static_cast<Table>(i) == Table::kLog2)) {
        return Status::FailedPrecondition(dir_ + " was written by an earlier version (it has no table '" + kNames[i] +
                                          "'); open it once with a node of this version, then read it");
      }
      if (rc == MDB_NOTFOUND) {
        return Status::FailedPrecondition(dir_ + " is not a syncline data directory: its LMDB environment has no table '" +
                                          kNames[i] + "'");
      }
      return LmdbStatus(rc, std::string("opening table '") + kNames[i] + "' in " + dir_);
    }
  }
  LmdbReadView view(txn, dbis_);
  Status st;
  auto format = view.Get(Table::kMeta, kFormatKey);
  if (format.ok()) {
    if (*format != kFormatValue) {
      st = Status::FailedPrecondition("data directory " + dir_ + " holds format '" + *format +
                                      "', this build reads '" + kFormatValue + "'");
    }
  } else if (format.status().IsNotFound()) {
    st = Status::FailedPrecondition(dir_ + " is not a syncline data directory: its meta table has no store.format");
  } else {
    st = format.status();
  }
  if (st.ok()) {
    auto id = view.Get(Table::kMeta, kReplicaIdKey);
    if (id.ok() && id->size() == 8) {
      replica_id_ = ReplicaId(ReadBigEndian64(id->data()));
    } else if (id.ok()) {
      st = Status::Corruption("meta entry store.replica_id in " + dir_ + " is not 8 bytes");
    } else {
      st = id.status();
    }
  }
  if (!st.ok()) {
    mdb_txn_abort(txn);
    return st;
  }
  // Committing (not aborting) keeps the table handles open for later transactions.
  rc = mdb_txn_commit(txn);
  if (rc != 0) return LmdbStatus(rc, "reading the tables of " + dir_);
  return Status::Ok();
}

Status LmdbStore::InitMeta() {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != 0) return LmdbStatus(rc, "starting the first transaction on " + dir_);
  static const char* kNames[kNumTables] = {"data", "log", "meta", "peers", "feeds", "journal", "index", "log2"};
  for (int i = 0; i < kNumTables; ++i) {
    rc = mdb_dbi_open(txn, kNames[i], MDB_CREATE, &dbis_[i]);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return LmdbStatus(rc, std::string("opening table '") + kNames[i] + "' in " + dir_);
    }
  }
  LmdbWriteTxn wt(txn, dbis_, options_.max_value_bytes, nullptr);
  Status st;
  auto format = wt.Get(Table::kMeta, kFormatKey);
  if (format.ok()) {
    if (*format != kFormatValue) {
      st = Status::FailedPrecondition("data directory " + dir_ + " holds format '" + *format +
                                      "', this build reads '" + kFormatValue + "'");
    }
  } else if (format.status().IsNotFound()) {
    st = wt.Put(Table::kMeta, kFormatKey, kFormatValue);
  } else {
    st = format.status();
  }
  if (st.ok()) {
    auto id = wt.Get(Table::kMeta, kReplicaIdKey);
    if (id.ok()) {
      if (id->size() != 8) {
        st = Status::Corruption("meta entry store.replica_id in " + dir_ + " is not 8 bytes");
      } else {
        replica_id_ = ReplicaId(ReadBigEndian64(id->data()));
      }
    } else if (id.status().IsNotFound()) {
      std::random_device rd;
      std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(getpid()));
      replica_id_ = ReplicaId::Random(rng);
      std::string bytes;
      AppendBigEndian64(&bytes, replica_id_.value());
      st = wt.Put(Table::kMeta, kReplicaIdKey, bytes);
    } else {
      st = id.status();
    }
  }
  if (!st.ok()) {
    mdb_txn_abort(txn);
    return st;
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0) return LmdbStatus(rc, "initialising " + dir_);
  return Status::Ok();
}

void LmdbStore::Submit(WriteFn fn, WriteDone done) {
  PendingWrite w;
  w.fn = std::move(fn);
  w.done = std::move(done);
  Enqueue(std::move(w));
}

void LmdbStore::SubmitStaged(WriteFn fn, WriteDone committed, WriteDone durable) {
  PendingWrite w;
  w.fn = std::move(fn);
  w.done = std::move(durable);
  w.committed = std::move(committed);
  w.staged = true;
  Enqueue(std::move(w));
}

void LmdbStore::Enqueue(PendingWrite w) {
  auto refuse = [&w](const Status& st) {
    if (w.committed) w.committed(st);
    if (w.done) w.done(st);
  };
  if (options_.read_only) {
    refuse(Status::FailedPrecondition("the store at " + dir_ + " is open read-only; writes are refused"));
    return;
  }
  std::unique_lock lock(mu_);
  if (closing_ || closed_ || !failed_.empty()) {
    Status st = FailedStatus();
    lock.unlock();
    refuse(st);
    return;
  }
  if (!OnWriterThread()) {
    not_full_.wait(lock, [&] { return queue_.size() < options_.max_queued_writes || closing_; });
    if (closing_) {
      lock.unlock();
      refuse(Status::Unavailable("the store at " + dir_ + " is closing"));
      return;
    }
  }
  queue_.push_back(std::move(w));
  ++submitted_;
  not_empty_.notify_one();
}

Status LmdbStore::FailedStatus() const {
  if (!failed_.empty()) {
    return Status::Unavailable("the store at " + dir_ + " failed after " + failed_ + "; reopen it");
  }
  return Status::Unavailable("the store at " + dir_ + " is closed");
}

void LmdbStore::WriterLoop() {
  std::vector<PendingWrite> group;
  while (true) {
    {
      std::unique_lock lock(mu_);
      not_empty_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty() && closing_) return;
      size_t n = std::min(queue_.size(), std::max<size_t>(options_.max_group_writes, 1));
      group.clear();
      for (size_t i = 0; i < n; ++i) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      not_full_.notify_all();
    }
    // A write from Submit runs only after every earlier transaction's callbacks.
    bool plain = std::any_of(group.begin(), group.end(), [](const PendingWrite& w) { return !w.staged; });
    if (pipelined_ && plain) WaitSynced();
    CommitGroup(group);
  }
}

void LmdbStore::HandOff(SyncTicket ticket, bool wait) {
  std::unique_lock lock(mu_);
  ticket.seq = ++tickets_handed_;
  uint64_t seq = ticket.seq;
  tickets_.push_back(std::move(ticket));
  tickets_ready_.notify_one();
  if (wait) {
    synced_.wait(lock, [&] { return tickets_synced_ >= seq; });
  } else {
    synced_.wait(lock, [&] { return tickets_handed_ - tickets_synced_ <= kMaxUnsyncedGroups; });
  }
}

void LmdbStore::WaitSynced() {
  std::unique_lock lock(mu_);
  synced_.wait(lock, [&] { return tickets_synced_ >= tickets_handed_; });
}

int LmdbStore::SyncFile() {
  if (options_.fault_hook) {
    if (int injected = options_.fault_hook(FaultPoint::kSync)) return injected;
  }
  mdb_filehandle_t fd;
  if (int rc = mdb_env_get_fd(env_, &fd); rc != 0) return rc;
  return ::fdatasync(fd) == 0 ? 0 : errno;
}

void LmdbStore::SyncLoop() {
  std::deque<SyncTicket> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      tickets_ready_.wait(lock, [&] { return !tickets_.empty() || sync_stop_; });
      if (tickets_.empty()) return;
      batch.swap(tickets_);
    }
    bool needs_sync = sync_error_.ok() && std::any_of(batch.begin(), batch.end(),
                                                      [](const SyncTicket& t) { return t.needs_sync; });
    if (needs_sync) {
      // One sync covers every commit handed over so far: their meta pages were written before.
      if (int rc = SyncFile(); rc != 0) {
        sync_error_ = LmdbStatus(rc, "syncing committed writes to " + DataFile());
        std::lock_guard lock(mu_);
        if (failed_.empty()) failed_ = sync_error_.message();
      }
      // Counted before the reports go out: a caller told its write is durable sees the sync.
      std::lock_guard lock(mu_);
      ++stats_.syncs;
    }
    uint64_t writes = 0;
    for (SyncTicket& t : batch) {
      writes += t.writes;
      for (auto& [done, st] : t.callbacks) {
        if (st.ok() && !sync_error_.ok()) st = sync_error_;
        if (done) done(std::move(st));
      }
    }
    {
      std::lock_guard lock(mu_);
      tickets_synced_ = batch.back().seq;
      completed_ += writes;
      synced_.notify_all();
      idle_.notify_all();
    }
    batch.clear();
  }
}

bool LmdbStore::GrowMap() {
  uint64_t next = std::min<uint64_t>(map_size_ * 2, options_.max_map_size_bytes);
  if (next <= map_size_) return false;
  std::unique_lock resize(resize_mu_);  // no read transaction may be open while resizing
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc != 0) {
    Warn("growing the LMDB map of " + dir_ + " failed: " + mdb_strerror(rc));
    return false;
  }
  Warn("grew the LMDB map of " + dir_ + " from " + std::to_string(map_size_) + " to " +
       std::to_string(next) + " bytes");
  map_size_ = next;
  std::lock_guard lock(mu_);
  stats_.map_size_bytes = next;
  ++stats_.map_grow_count;
  return true;
}

int LmdbStore::RunGroupOnce(std::vector<PendingWrite>& group, std::vector<bool>& excluded,
                            std::vector<Status>& results, bool* rerun) {
  *rerun = false;
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
  if (rc != 0) return rc;
  LmdbWriteTxn wt(txn, dbis_, options_.max_value_bytes, &options_.fault_hook);
  for (size_t i = 0; i < group.size(); ++i) {
    if (excluded[i]) continue;
    Status st;
    try {
      st = group[i].fn(wt);
    } catch (const std::exception& e) {
      st = Status::Internal(std::string("write function threw: ") + e.what());
    } catch (...) {
      st = Status::Internal("write function threw a non-standard exception");
    }
    if (wt.broken_rc() != 0) {
      // The function's own error names its key; the rest of the group gets the group's error.
      if (!st.ok()) results[i] = std::move(st);
      mdb_txn_abort(txn);
      return wt.broken_rc();
    }
    if (!st.ok()) {
      // Roll this function back alone: abort, exclude it, run the rest again.
      mdb_txn_abort(txn);
      results[i] = std::move(st);
      excluded[i] = true;
      *rerun = true;
      return 0;
    }
  }
  if (!wt.FinishDeferred().ok()) {
    // Only a failed put can fail it, and a failed put breaks the transaction.
    mdb_txn_abort(txn);
    return wt.broken_rc() != 0 ? wt.broken_rc() : EIO;
  }
  if (options_.fault_hook) {
    if (int injected = options_.fault_hook(FaultPoint::kCommit)) {
      mdb_txn_abort(txn);
      return injected;
    }
  }
  return mdb_txn_commit(txn);
}

void LmdbStore::CommitGroup(std::vector<PendingWrite>& group) {
  std::vector<bool> excluded(group.size(), false);
  std::vector<Status> results(group.size());
  int rc = 0;
  Status refused;
  {
    std::lock_guard lock(mu_);
    if (!failed_.empty()) refused = FailedStatus();
  }
  while (refused.ok()) {
    bool rerun = false;
    for (size_t i = 0; i < group.size(); ++i) {
      if (!excluded[i]) results[i] = Status::Ok();
    }
    rc = RunGroupOnce(group, excluded, results, &rerun);
    if (rerun) continue;
    if (rc == MDB_MAP_FULL && GrowMap()) continue;
    break;
  }
  size_t ok = 0, failed = 0;
  if (!refused.ok()) {
    for (Status& st : results) st = refused;
  } else if (rc != 0) {
    Status st;
    if (rc == MDB_MAP_FULL) {
      st = Status::ResourceExhausted("committing " + std::to_string(group.size()) + " write(s) to " +
                                     DataFile() + ": the LMDB map is full at " +
                                     std::to_string(map_size_) +
                                     " bytes (max_map_size_bytes); raise the limit or free space");
    } else {
      st = LmdbStatus(rc, "committing " + std::to_string(group.size()) + " write(s) to " + DataFile());
    }
    if (rc == MDB_PANIC) {
      std::lock_guard lock(mu_);
      failed_ = st.message();
    }
    for (size_t i = 0; i < group.size(); ++i) {
      if (!excluded[i] && (results[i].ok() || rc == MDB_MAP_FULL)) results[i] = st;
    }
  }
  for (size_t i = 0; i < group.size(); ++i) (results[i].ok() ? ok : failed)++;
  {
    std::lock_guard lock(mu_);
    stats_.writes_committed += ok;
    stats_.writes_failed += failed;
    if (refused.ok() && rc == 0 && ok > 0) ++stats_.groups_committed;
  }
  for (size_t i = 0; i < group.size(); ++i) {
    if (group[i].committed) group[i].committed(results[i]);
  }
  if (!pipelined_) {
    for (size_t i = 0; i < group.size(); ++i) {
      if (group[i].done) group[i].done(std::move(results[i]));
    }
    std::lock_guard lock(mu_);
    completed_ += group.size();
    idle_.notify_all();
    return;
  }
  SyncTicket ticket;
  ticket.needs_sync = refused.ok() && rc == 0 && ok > 0;
  ticket.writes = group.size();
  ticket.callbacks.reserve(group.size());
  bool plain = false;
  for (size_t i = 0; i < group.size(); ++i) {
    plain = plain || !group[i].staged;
    ticket.callbacks.emplace_back(std::move(group[i].done), std::move(results[i]));
  }
  HandOff(std::move(ticket), plain);
}

Status LmdbStore::Read(const ReadFn& fn) {
  std::shared_lock resize(resize_mu_);
  if (closed_.load(std::memory_order_acquire)) {
    return Status::Unavailable("the store at " + dir_ + " is closed");
  }
  MDB_txn* txn = nullptr;
  int rc = BeginRead(resize, &txn);
  if (rc != 0) return LmdbStatus(rc, "starting a read transaction on " + dir_);
  LmdbReadView view(txn, dbis_);
  Status st;
  try {
    st = fn(view);
  } catch (...) {
    mdb_txn_abort(txn);
    throw;
  }
  mdb_txn_abort(txn);
  return st;
}

int LmdbStore::BeginRead(std::shared_lock<std::shared_mutex>& resize, MDB_txn** txn) {
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, txn);
  if (rc == MDB_READERS_FULL && !options_.read_only) {
    int dead = 0;
    mdb_reader_check(env_, &dead);
    rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, txn);
  }
  if (rc == MDB_MAP_RESIZED) {
    // Another process (the node a read-only store looks at) grew the map: adopt its size.
    resize.unlock();
    {
      std::unique_lock grow(resize_mu_);
      mdb_env_set_mapsize(env_, 0);
    }
    resize.lock();
    if (closed_.load(std::memory_order_acquire)) return MDB_BAD_TXN;
    rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, txn);
  }
  return rc;
}

Result<ScrubReport> LmdbStore::Scrub(size_t max_reported) {
  ScrubReport report;
  std::shared_lock resize(resize_mu_);
  if (closed_.load(std::memory_order_acquire)) return Status::Unavailable("the store at " + dir_ + " is closed");
  MDB_txn* txn = nullptr;
  int rc = BeginRead(resize, &txn);
  if (rc != 0) return LmdbStatus(rc, "starting a read transaction on " + dir_);
  Status st;
  for (int i = 0; i < kNumTables && st.ok(); ++i) {
    Table table = static_cast<Table>(i);
    MDB_cursor* cursor = nullptr;
    rc = mdb_cursor_open(txn, dbis_[i], &cursor);
    if (rc != 0) {
      st = LmdbStatus(rc, "opening a cursor on table '" + std::string(TableName(table)) + "' of " + dir_);
      break;
    }
    MDB_val k, v;
    rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
    while (rc == 0) {
      std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
      std::string_view record(static_cast<const char*>(v.mv_data), v.mv_size);
      ++report.checked;
      ++report.checked_by_table[i];
      auto payload = DecodeRecord(table, key, record);
      if (!payload.ok()) {
        ++report.corrupt_count;
        if (report.corrupt.size() < max_reported) {
          report.corrupt.push_back(CorruptRecord{table, std::string(key), payload.status().message()});
        }
      }
      rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND) {
      st = LmdbStatus(rc, "scrubbing table '" + std::string(TableName(table)) + "' of " + dir_);
    }
    mdb_cursor_close(cursor);
  }
  mdb_txn_abort(txn);
  if (!st.ok()) return st;
  return report;
}

void LmdbStore::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = submitted_;
  if (OnWriterThread()) return;  // cannot wait for ourselves
  idle_.wait(lock, [&] { return completed_ >= target; });
}

Status LmdbStore::Close() {
  {
    std::unique_lock lock(mu_);
    if (closed_ || env_ == nullptr) {
      closed_ = true;
      return Status::Ok();
    }
    closing_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }
  if (writer_.joinable()) writer_.join();
  if (syncer_.joinable()) {
    {
      std::lock_guard lock(mu_);
      sync_stop_ = true;
      tickets_ready_.notify_all();
    }
    syncer_.join();
  }
  std::unique_lock resize(resize_mu_);
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  mdb_env_close(env_);
  env_ = nullptr;
  lock_.Release();
  return Status::Ok();
}

StoreStats LmdbStore::stats() const {
  std::lock_guard lock(mu_);
  StoreStats s = stats_;
  s.queue_depth = queue_.size();
  return s;
}

}  // namespace

Result<ScrubReport> ScrubLmdbStore(Store& store, size_t max_reported) {
  auto* lmdb = dynamic_cast<LmdbStore*>(&store);
  if (lmdb == nullptr) return Status::InvalidArgument("ScrubLmdbStore: the store is not an LMDB store");
  return lmdb->Scrub(max_reported);
}

Result<std::unique_ptr<Store>> OpenLmdbStore(const std::string& dir, const LmdbStoreOptions& options) {
  if (options.max_map_size_bytes < options.map_size_bytes) {
    return Status::InvalidArgument("max_map_size_bytes (" + std::to_string(options.max_map_size_bytes) +
                                   ") is below map_size_bytes (" + std::to_string(options.map_size_bytes) + ")");
  }
  auto store = std::make_unique<LmdbStore>(dir, options);
  SYNCLINE_RETURN_IF_ERROR(store->Open());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace syncline::core
