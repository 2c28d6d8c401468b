#pragma once
// StorageError: the one exception the store throws for a failed filesystem operation
// or a failed integrity check.
//
// errno_value() is the errno of the failing call (EIO for integrity failures: a size
// that does not match the metadata, unreadable metadata, an image without metadata).
// no_space() is true for ENOSPC and EDQUOT, so the server can answer 507 Insufficient
// Storage; anything else is a 500. The message names the operation and the path; it is
// meant for logs, not for clients.
#include <stdexcept>
#include <string>

namespace pixelmill::storage {

class StorageError : public std::runtime_error {
public:
  StorageError(const std::string& message, int errno_value);

  [[nodiscard]] int errno_value() const noexcept { return errno_; }
  [[nodiscard]] bool no_space() const noexcept { return no_space_; }

private:
  int errno_;
  bool no_space_;
};

}  // namespace pixelmill::storage
