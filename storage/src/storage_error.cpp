#include "pixelmill/storage/storage_error.hpp"

#include <cerrno>

namespace pixelmill::storage {

StorageError::StorageError(const std::string& message, int errno_value)
    : std::runtime_error(message), errno_(errno_value), no_space_(errno_value == ENOSPC || errno_value == EDQUOT) {}

}  // namespace pixelmill::storage
