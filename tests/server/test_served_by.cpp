// X-Served-By: every response names the host (container, pod) that answered it, so a
// client behind a load balancer can tell the replicas apart.
#include <doctest/doctest.h>

#include <string>

#include <unistd.h>

#include "server_fixture.hpp"

using namespace pixelmill;
using test::http::status;
using test::http::verb;

namespace {
std::string host_name() {
  char buffer[256] = {};
  REQUIRE(::gethostname(buffer, sizeof buffer - 1) == 0);
  return buffer;
}
}  // namespace

TEST_CASE("every response carries X-Served-By = the host name") {
  const std::string host = host_name();
  REQUIRE(!host.empty());
  test::ServerFixture f;
  auto client = f.client();
  auto health = client.get("/healthz");
  CHECK(health.result() == status::ok);
  CHECK(health["X-Served-By"] == host);
  auto missing = client.get("/nowhere");  // a problem+json answer carries it too
  CHECK(missing.result() == status::not_found);
  CHECK(missing["X-Served-By"] == host);
  auto wrong_method = client.request(verb::delete_, "/healthz");
  CHECK(wrong_method.result() == status::method_not_allowed);
  CHECK(wrong_method["X-Served-By"] == host);
}
