// Status and Result<T>: the one error channel of Syncline.
//
// Every operation that can fail for an expected reason (bad input, corruption, a full disk,
// a peer that went away) returns a Status or a Result<T>; exceptions from dependencies are
// caught at the module edge and turned into one. Both types are [[nodiscard]]: a dropped
// error is a compile-time warning (and an error in our builds).
//
// Messages say what failed, where (key, peer, file) and, when there is one, what to do:
//   Status::Corruption("checksum mismatch in table 'data' key 'users/42'; run 'syncline inspect --scrub'")
//
// Thread-safety: value types; distinct objects may be used from distinct threads freely.
#ifndef SYNCLINE_CORE_STATUS_H_
#define SYNCLINE_CORE_STATUS_H_

#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace syncline {

// The small set of codes. Keep it small: callers branch on the code, humans read the message.
enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,     // the caller's input is malformed or out of range
  kNotFound = 2,            // the thing asked for does not exist
  kAlreadyExists = 3,       // the thing to create exists (e.g. a second node on a data dir)
  kCorruption = 4,          // stored or received bytes fail their checksum or do not decode
  kIOError = 5,             // the operating system failed an operation (EIO, fsync, ...)
  kResourceExhausted = 6,   // out of space: full disk, full LMDB map, full queue
  kFailedPrecondition = 7,  // the system is not in a state where the operation can run
  kUnavailable = 8,         // closed, stopped or unreachable; may work later
  kDeadlineExceeded = 9,    // timed out; the outcome is unknown
  kInternal = 10,           // a bug: an invariant of ours did not hold
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {StatusCode::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {StatusCode::kAlreadyExists, std::move(msg)}; }
  static Status Corruption(std::string msg) { return {StatusCode::kCorruption, std::move(msg)}; }
  static Status IOError(std::string msg) { return {StatusCode::kIOError, std::move(msg)}; }
  static Status ResourceExhausted(std::string msg) { return {StatusCode::kResourceExhausted, std::move(msg)}; }
  static Status FailedPrecondition(std::string msg) { return {StatusCode::kFailedPrecondition, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status DeadlineExceeded(std::string msg) { return {StatusCode::kDeadlineExceeded, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  bool IsNotFound() const { return code_ == StatusCode::kNotFound; }
  bool IsCorruption() const { return code_ == StatusCode::kCorruption; }

  // Returns a copy whose message is "<context>: <message>"; OK stays OK.
  Status WithContext(std::string_view context) const;

  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;

  // Explicitly ignore a status (documented at the call site why that is fine).
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

// Result<T>: a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Status> v_;
};

}  // namespace syncline

#define SYNCLINE_CONCAT_INNER_(a, b) a##b
#define SYNCLINE_CONCAT_(a, b) SYNCLINE_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` is not OK.
#define SYNCLINE_RETURN_IF_ERROR(expr)                  \
  do {                                                  \
    ::syncline::Status syncline_status_ = (expr);       \
    if (!syncline_status_.ok()) return syncline_status_; \
  } while (0)

// SYNCLINE_ASSIGN_OR_RETURN(auto x, ComputeResult()); declares/assigns x or returns the error.
#define SYNCLINE_ASSIGN_OR_RETURN(lhs, expr) \
  SYNCLINE_ASSIGN_OR_RETURN_IMPL_(SYNCLINE_CONCAT_(syncline_result_, __LINE__), lhs, expr)
#define SYNCLINE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return tmp.status();                   \
  lhs = std::move(tmp).value()

#endif  // SYNCLINE_CORE_STATUS_H_
