// The real binary's stdout as a log shipper sees it: one JSON object per line with
// --log-format json, `message key=value ...` lines by default, an access line per request.
#include <doctest/doctest.h>

#include <algorithm>
#include <csignal>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "binary_service.hpp"
#include "http_client.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using test::http::status;

namespace {

// Starts the binary, asks for /healthz and /nowhere, stops it with SIGTERM; returns its stdout.
std::string log_of_two_requests(const std::vector<std::string>& format_flags) {
  std::vector<std::string> flags = {"--listen", "127.0.0.1:0", "--io-threads", "1", "--cpu-threads", "1",
                                    "--data-dir", "/tmp/pixelmill-test-logging"};
  flags.insert(flags.end(), format_flags.begin(), format_flags.end());
  auto [child, port] = test::start_binary(std::move(flags));
  {
    test::HttpClient client(port);
    CHECK(client.get("/healthz").result() == status::ok);
    const auto res = client.request(test::http::verb::get, "/nowhere", {}, {{"X-Request-Id", "log-test-1"}});
    CHECK(res.result() == status::not_found);
  }
  child.signal(SIGTERM);
  REQUIRE(child.wait(10s) == 0);
  return child.stdout_text();
}

// A field's text, or "<missing>" when absent or not a JSON string.
std::string text(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "<missing>";
}

// A field's value, or -1 when absent or not a JSON number.
double number(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_number() ? v->to_number<double>() : -1;
}

}  // namespace

TEST_CASE("with --log-format json every stdout line is a JSON object, with an access line per request") {
  std::vector<boost::json::object> access;
  std::istringstream out(log_of_two_requests({"--log-format", "json"}));
  for (std::string line; std::getline(out, line);) {
    boost::system::error_code ec;
    auto value = boost::json::parse(line, ec);
    REQUIRE_MESSAGE((!ec && value.is_object()), line);
    for (const auto* key : {"time", "level", "msg"}) CHECK_MESSAGE(text(value.as_object(), key) != "<missing>", line);
    if (text(value.as_object(), "msg") == "access") access.push_back(std::move(value.as_object()));
  }
  auto access_line = [&](std::string_view route) {
    const auto it = std::find_if(access.begin(), access.end(), [&](auto& o) { return text(o, "route") == route; });
    REQUIRE_MESSAGE(it != access.end(), "no access line for " << route);
    return *it;
  };

  const auto missing = access_line("unmatched");
  CHECK(text(missing, "method") == "GET");
  CHECK(text(missing, "path") == "/nowhere");
  CHECK(number(missing, "status") == 404);
  CHECK(text(missing, "request_id") == "log-test-1");

  const auto health = access_line("/healthz");
  CHECK(text(health, "method") == "GET");
  CHECK(text(health, "path") == "/healthz");
  CHECK(number(health, "status") == 200);

  for (const auto& line : {missing, health}) {
    CHECK_MESSAGE(number(line, "bytes") >= 0, boost::json::serialize(line));
    CHECK_MESSAGE(number(line, "duration_ms") >= 0, boost::json::serialize(line));
  }
}

TEST_CASE("the default text format writes key=value access lines") {
  const auto out = log_of_two_requests({});
  CHECK_MESSAGE(out.find("access method=GET path=/healthz route=/healthz status=200") != std::string::npos, out);
}
