// UndoKeyRecords: a KeyRecords wrapper that remembers, for every record of a key it changes, the
// value the record had before the first change (or that it did not exist), so that a change can
// be taken back later (Replica::RollBack, leader-follower mode). O(records changed).
//
// Thread-safety: like the records it wraps (one write transaction).
#ifndef SYNCLINE_REPLICATION_SRC_UNDO_RECORDS_H_
#define SYNCLINE_REPLICATION_SRC_UNDO_RECORDS_H_

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "syncline/conflict/record_layout.h"

namespace syncline::replication::internal {

class UndoKeyRecords final : public conflict::KeyRecords {
 public:
  explicit UndoKeyRecords(std::unique_ptr<conflict::KeyRecords> inner) : inner_(std::move(inner)) {}

  Result<std::optional<std::string>> Get(std::string_view sub) override { return inner_->Get(sub); }
  Status Put(std::string_view sub, std::string_view value) override {
    SYNCLINE_RETURN_IF_ERROR(Remember(sub));
    return inner_->Put(sub, value);
  }
  Status Delete(std::string_view sub) override {
    SYNCLINE_RETURN_IF_ERROR(Remember(sub));
    return inner_->Delete(sub);
  }
  Status Scan(std::string_view prefix,
              const std::function<bool(std::string_view sub, std::string_view value)>& visit) override {
    return inner_->Scan(prefix, visit);
  }

  // Sub-key -> the value before the first change (nullopt: absent).
  const std::map<std::string, std::optional<std::string>, std::less<>>& before() const { return before_; }

 private:
  Status Remember(std::string_view sub) {
    if (before_.find(sub) != before_.end()) return Status::Ok();
    SYNCLINE_ASSIGN_OR_RETURN(std::optional<std::string> old, inner_->Get(sub));
    before_.emplace(std::string(sub), std::move(old));
    return Status::Ok();
  }

  std::unique_ptr<conflict::KeyRecords> inner_;
  std::map<std::string, std::optional<std::string>, std::less<>> before_;
};

}  // namespace syncline::replication::internal

#endif  // SYNCLINE_REPLICATION_SRC_UNDO_RECORDS_H_
