#pragma once
// An allocator whose value-less construct leaves the element uninitialised, so
// resizing a byte vector to a known length does not zero-fill it first.

#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace pixelmill::server {

// Why: an upload is sized to its Content-Length and then received into place. With a
// zeroing resize the I/O thread wrote every byte twice (the fill was 16% of its time
// per upload), in one stretch it could not yield in. C++23's
// `basic_string::resize_and_overwrite` would do the same for std::string.
template <class T>
class UninitializedAllocator : public std::allocator<T> {
 public:
  using value_type = T;
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };

  UninitializedAllocator() noexcept = default;
  template <class U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}  // NOLINT: rebinding

  // Default-initialisation: a no-op for bytes.
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    std::construct_at(p, std::forward<Args>(args)...);
  }
};

template <class T, class U>
bool operator==(const UninitializedAllocator<T>&, const UninitializedAllocator<U>&) noexcept {
  return true;
}

}  // namespace pixelmill::server
