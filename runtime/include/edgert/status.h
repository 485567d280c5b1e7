// Status and StatusOr: the error model of every edgert library.
//
// Contract: no exception crosses a library boundary and runtime/ never throws. A Status carries a
// code, a one-sentence message and the subject it concerns (a node, tensor, file or property name),
// so the user sees which part of their model or configuration is at fault.
#pragma once

#include <cassert>
#include <new>
#include <string>
#include <utility>

namespace edgert {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // the caller's input (model, shape, option) is wrong
  kUnsupported = 2,      // valid input that edgert does not implement
  kNotFound = 3,         // a file, tensor or name does not exist
  kIoError = 4,          // reading or writing a file failed
  kCorrupt = 5,          // a file exists but its bytes are malformed
  kOutOfRange = 6,       // an index, size or value exceeds a limit
  kInternal = 7,         // a bug in edgert
  kDevice = 8,           // a CUDA / cuDNN / cuBLAS call failed
};

const char* StatusCodeName(StatusCode code);

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::string subject = {})
      : code_(code), message_(std::move(message)), subject_(std::move(subject)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // The node, tensor, file or property the error concerns; empty when none applies.
  const std::string& subject() const { return subject_; }

  // "invalid argument: node 'conv1': kernel_shape has 3 values, the weight has 2 spatial dims".
  std::string ToString() const;

  // Returns a copy whose message is prefixed by `context` (e.g. the model file); the subject is
  // kept. Used when an error crosses a layer boundary that knows more about where it happened.
  Status WithContext(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string subject_;
};

inline Status InvalidArgument(std::string msg, std::string subject = {}) {
  return Status(StatusCode::kInvalidArgument, std::move(msg), std::move(subject));
}
inline Status Unsupported(std::string msg, std::string subject = {}) {
  return Status(StatusCode::kUnsupported, std::move(msg), std::move(subject));
}
inline Status NotFound(std::string msg, std::string subject = {}) {
  return Status(StatusCode::kNotFound, std::move(msg), std::move(subject));
}
inline Status IoError(std::string msg, std::string subject = {}) {
  return Status(StatusCode::kIoError, std::move(msg), std::move(subject));
}
inline Status Corrupt(std::string msg, std::string subject = {}) {
  return Status(StatusCode::kCorrupt, std::move(msg), std::move(subject));
}
inline Status OutOfRange(std::string msg, std::string subject = {}) {
  return Status(StatusCode::kOutOfRange, std::move(msg), std::move(subject));
}
inline Status Internal(std::string msg, std::string subject = {}) {
  return Status(StatusCode::kInternal, std::move(msg), std::move(subject));
}

// A value or the Status explaining why there is none. T need not be default-constructible.
template <typename T>
class StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = Internal("StatusOr constructed from an OK status without a value");
  }
  StatusOr(Status&& status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Internal("StatusOr constructed from an OK status without a value");
  }
  StatusOr(const T& value) : has_value_(true) { new (&storage_) T(value); }  // NOLINT
  StatusOr(T&& value) : has_value_(true) { new (&storage_) T(std::move(value)); }  // NOLINT
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                    !std::is_same_v<std::decay_t<U>, T> &&
                                                    !std::is_same_v<std::decay_t<U>, Status>>>
  StatusOr(U&& value) : has_value_(true) {  // NOLINT
    new (&storage_) T(std::forward<U>(value));
  }
  StatusOr(const StatusOr& other) : status_(other.status_), has_value_(other.has_value_) {
    if (has_value_) new (&storage_) T(*other.ptr());
  }
  StatusOr(StatusOr&& other) noexcept : status_(std::move(other.status_)), has_value_(other.has_value_) {
    if (has_value_) new (&storage_) T(std::move(*other.ptr()));
  }
  StatusOr& operator=(StatusOr other) {
    Reset();
    status_ = std::move(other.status_);
    has_value_ = other.has_value_;
    if (has_value_) new (&storage_) T(std::move(*other.ptr()));
    return *this;
  }
  ~StatusOr() { Reset(); }

  bool ok() const { return has_value_; }
  const Status& status() const { return status_; }

  T& value() & { assert(has_value_); return *ptr(); }
  const T& value() const& { assert(has_value_); return *ptr(); }
  T&& value() && { assert(has_value_); return std::move(*ptr()); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  T* ptr() { return std::launder(reinterpret_cast<T*>(&storage_)); }
  const T* ptr() const { return std::launder(reinterpret_cast<const T*>(&storage_)); }
  void Reset() {
    if (has_value_) ptr()->~T();
    has_value_ = false;
  }

  Status status_;
  bool has_value_ = false;
  alignas(T) unsigned char storage_[sizeof(T)];
};

}  // namespace edgert

#define EDGERT_CONCAT_INNER_(a, b) a##b
#define EDGERT_CONCAT_(a, b) EDGERT_CONCAT_INNER_(a, b)

#define EDGERT_RETURN_IF_ERROR(expr)                  \
  do {                                                \
    ::edgert::Status edgert_status_ = (expr);         \
    if (!edgert_status_.ok()) return edgert_status_;  \
  } while (0)

#define EDGERT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

// EDGERT_ASSIGN_OR_RETURN(auto x, Foo()); declares/assigns x or returns Foo()'s error.
#define EDGERT_ASSIGN_OR_RETURN(lhs, expr) \
  EDGERT_ASSIGN_OR_RETURN_IMPL_(EDGERT_CONCAT_(edgert_statusor_, __LINE__), lhs, expr)
