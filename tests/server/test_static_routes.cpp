// GET / (the playground) and GET /openapi.yaml, both compiled into the binary, over
// real HTTP; server.playground = false removes /.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "server_fixture.hpp"

using namespace pixelmill;
using test::http::field;
using test::http::status;
using test::http::verb;

namespace {

std::string source_file(const std::string& relative) {
  std::ifstream in(std::string(PIXELMILL_SOURCE_DIR) + "/" + relative, std::ios::binary);
  REQUIRE_MESSAGE(in, relative);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("GET / serves the embedded playground page") {
  test::ServerFixture f;
  auto res = f.client().get("/");
  CHECK(res.result() == status::ok);
  CHECK(res[field::content_type] == "text/html; charset=utf-8");
  CHECK(res[field::cache_control] == "no-cache");
  CHECK(res["X-Content-Type-Options"] == "nosniff");
  CHECK(res["Content-Security-Policy"].find("default-src 'none'") != std::string::npos);
  CHECK(res.body() == source_file("server/assets/playground.html"));
  CHECK(res.body().find("<title>pixelmill playground</title>") != std::string::npos);
}

TEST_CASE("GET /openapi.yaml is docs/openapi.yaml byte for byte") {
  test::ServerFixture f;
  auto res = f.client().get("/openapi.yaml");
  CHECK(res.result() == status::ok);
  CHECK(res[field::content_type] == "application/yaml");
  CHECK(res.body() == source_file("docs/openapi.yaml"));
}

TEST_CASE("static files answer If-None-Match with 304 and HEAD without a body") {
  test::ServerFixture f;
  auto client = f.client();
  auto first = client.get("/openapi.yaml");
  const std::string etag(first[field::etag]);
  REQUIRE(etag.size() == 66);  // a quoted SHA-256
  auto again = client.request(verb::get, "/openapi.yaml", {}, {{"If-None-Match", etag}});
  CHECK(again.result() == status::not_modified);
  CHECK(again.body().empty());
  CHECK(again[field::etag] == etag);
  CHECK(client.request(verb::get, "/openapi.yaml", {}, {{"If-None-Match", "\"other\""}}).result() == status::ok);

  test::http::request<test::http::empty_body> head{verb::head, "/", 11};
  test::http::write(client.stream(), head);
  auto res = client.read_response(/*head=*/true);
  CHECK(res.result() == status::ok);
  CHECK(res[field::content_length] == std::to_string(source_file("server/assets/playground.html").size()));
  CHECK(res.body().empty());
}

TEST_CASE("server.playground = false: GET / is 404, /openapi.yaml stays") {
  auto settings = test::test_settings();
  settings.server.playground = false;
  test::ServerFixture f(settings);
  auto res = f.client().get("/");
  CHECK(res.result() == status::not_found);
  CHECK(res[field::content_type] == "application/problem+json");
  CHECK(test::json_body(res).at("type") == "urn:pixelmill:problem:not-found");
  CHECK(f.client().get("/openapi.yaml").result() == status::ok);
}

TEST_CASE("POST / is 405 with Allow: GET, HEAD") {
  test::ServerFixture f;
  auto res = f.client().request(verb::post, "/", "x");
  CHECK(res.result() == status::method_not_allowed);
  CHECK(res[field::allow] == "GET, HEAD");
}
