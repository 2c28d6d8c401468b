// Unit tests of server/uninitialized_allocator: the request body's no-fill resize.

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pixelmill/server/http_types.hpp"

namespace {

using pixelmill::server::UninitializedAllocator;
using Bytes = std::vector<unsigned char, UninitializedAllocator<unsigned char>>;

}  // namespace

TEST_CASE("growing a byte vector within its capacity leaves the bytes as they were") {
  // With std::allocator the regrown bytes would be zeros: that fill is the work the
  // allocator exists to skip. unsigned char may be read while indeterminate.
  Bytes bytes{'a', 'b', 'c', 'd'};
  const auto* const storage = bytes.data();
  bytes.resize(1);
  bytes.resize(4);
  REQUIRE(bytes.data() == storage);  // no reallocation: the same storage
  CHECK(bytes[0] == 'a');
  CHECK(bytes[1] == 'b');
  CHECK(bytes[3] == 'd');
}

TEST_CASE("a value given to construct is still written") {
  Bytes bytes;
  bytes.resize(3, 'z');
  bytes.push_back('q');
  CHECK(std::string(bytes.begin(), bytes.end()) == "zzzq");
  Bytes copy = bytes;
  CHECK(copy == bytes);
}

TEST_CASE("the request body is a char vector on this allocator") {
  pixelmill::server::Request request;
  request.body().assign({'h', 'i'});
  CHECK(std::string_view(request.body().data(), request.body().size()) == "hi");
  static_assert(std::is_same_v<pixelmill::server::RequestBody::value_type,
                               std::vector<char, UninitializedAllocator<char>>>);
}
