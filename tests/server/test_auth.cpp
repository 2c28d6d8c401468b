// Access control on the real server: API keys on POST/DELETE, signed variant URLs,
// `pixelmill sign` against a server holding the same key, keys absent from the log,
// and /metrics moved to its own listener (metrics.listen).
#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "binary_service.hpp"
#include "child_process.hpp"
#include "pixelmill/server/auth_signature.hpp"
#include "server_fixture.hpp"

using namespace pixelmill;
using namespace std::chrono_literals;
using test::http::status;
using test::http::verb;

namespace {

const std::string api_key = "upload-key-0123456789abcdef";
const std::string other_key = "second-upload-key-0123456789";
const std::string signing_key = "signing-key-0123456789abcdef";
const std::string old_signing_key = "old-signing-key-0123456789ab";

std::string small_png() {
  std::ifstream in(std::string(PIXELMILL_SOURCE_DIR) + "/../shared/testdata/pngsuite/basn6a08.png", std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

config::Settings with_api_keys() {
  auto s = test::test_settings();
  s.auth.api_keys = {api_key, other_key};
  return s;
}

config::Settings with_signing() {
  auto s = test::test_settings();
  s.auth.sign_urls = true;
  s.auth.signing_keys = {signing_key, old_signing_key};
  return s;
}

using Headers = std::vector<std::pair<std::string, std::string>>;

test::StringResponse upload(test::HttpClient& client, Headers headers = {}) {
  headers.emplace_back("Content-Type", "image/png");
  return client.request(verb::post, "/v1/images", small_png(), std::move(headers));
}

// HEAD through the raw socket: the answer announces a body it does not send.
test::StringResponse head(test::HttpClient& client, const std::string& target) {
  client.send_raw("HEAD " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  return client.read_response(true);
}

Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

std::string problem_type(const test::StringResponse& res) {
  return std::string(test::json_body(res).at("type").as_string());
}

std::string uploaded_id(test::ServerFixture& f, Headers headers = {}) {
  auto client = f.client();
  const auto res = upload(client, std::move(headers));
  REQUIRE(res.result() == status::created);
  return std::string(test::json_body(res).at("id").as_string());
}

}  // namespace

TEST_CASE("with auth.api_keys, POST and DELETE need a Bearer key: 401 without, 403 wrong") {
  test::ServerFixture f(with_api_keys());
  auto client = f.client();

  SUBCASE("no Authorization header: 401 problem+json with a Bearer challenge") {
    const auto res = upload(client);
    CHECK(res.result() == status::unauthorized);
    CHECK(res[test::http::field::content_type] == "application/problem+json");
    CHECK(res[test::http::field::www_authenticate].starts_with("Bearer"));
    CHECK(problem_type(res) == "urn:pixelmill:problem:unauthorized");
  }
  SUBCASE("not a Bearer credential: 401") {
    for (const auto& header : std::vector<std::string>{"Basic dXNlcjpwYXNz", "Bearer", "Bearer ", api_key, "Bearer a b"}) {
      const auto res = upload(client, {{"Authorization", header}});
      CHECK_MESSAGE(res.result() == status::unauthorized, header);
      CHECK(res[test::http::field::www_authenticate].starts_with("Bearer"));
    }
  }
  SUBCASE("an unknown key: 403, whatever its length") {
    for (const auto& key : std::vector<std::string>{api_key + "x", api_key.substr(1), "x", std::string(200, 'k')}) {
      const auto res = upload(client, bearer(key));
      CHECK_MESSAGE(res.result() == status::forbidden, key);
      CHECK(problem_type(res) == "urn:pixelmill:problem:forbidden");
    }
  }
  SUBCASE("either configured key works; the scheme is case-insensitive") {
    CHECK(upload(client, bearer(api_key)).result() == status::created);
    CHECK(upload(client, {{"Authorization", "bearer  " + other_key}}).result() == status::ok);  // same bytes again
  }
  SUBCASE("DELETE and /v1/resize are guarded too; GET stays open") {
    const auto id = uploaded_id(f, bearer(api_key));
    CHECK(client.get("/v1/images/" + id).result() == status::ok);
    CHECK(client.get("/v1/images/" + id + "?w=8").result() == status::ok);
    CHECK(client.request(verb::delete_, "/v1/images/" + id).result() == status::unauthorized);
    CHECK(client.request(verb::delete_, "/v1/images/" + id, {}, bearer("wrong-key-0123456789")).result() ==
          status::forbidden);
    CHECK(client.request(verb::delete_, "/v1/images/" + id, {}, bearer(api_key)).result() == status::no_content);
    const Headers png = {{"Content-Type", "image/png"}};
    CHECK(client.request(verb::post, "/v1/resize?w=8", small_png(), png).result() == status::unauthorized);
    auto authorized = png;
    authorized.emplace_back("Authorization", "Bearer " + api_key);
    CHECK(client.request(verb::post, "/v1/resize?w=8", small_png(), authorized).result() == status::ok);
  }
  SUBCASE("health, metrics, openapi and playground are unaffected") {
    for (const std::string path : {"/healthz", "/readyz", "/metrics", "/openapi.yaml", "/"}) {
      CHECK_MESSAGE(client.get(path).result() == status::ok, path);
    }
  }
}

TEST_CASE("with auth.sign_urls, variants need a valid sig; originals and keys' rotation") {
  test::ServerFixture f(with_signing());
  const auto id = uploaded_id(f);  // no api_keys: uploads stay open
  auto client = f.client();
  const std::string path = "/v1/images/" + id;
  const auto sign = [&](const std::string& target, const std::string& key) {
    return *server::signed_target(target, key);
  };

  SUBCASE("no sig: 403 signature-required; a wrong one: 403 bad-signature") {
    const auto missing = client.get(path + "?w=8&h=8");
    CHECK(missing.result() == status::forbidden);
    CHECK(problem_type(missing) == "urn:pixelmill:problem:signature-required");
    const auto wrong = client.get(sign(path + "?w=8&h=8", "not-the-key-0123456789"));
    CHECK(wrong.result() == status::forbidden);
    CHECK(problem_type(wrong) == "urn:pixelmill:problem:bad-signature");
    // Signed for other parameters, or for another image.
    const auto signed_url = sign(path + "?w=8&h=8", signing_key);
    const auto sig = signed_url.substr(signed_url.find("sig="));
    CHECK(client.get(path + "?w=9&h=8&" + sig).result() == status::forbidden);
    CHECK(client.get("/v1/images/" + std::string(64, '0') + "?h=8&w=8&" + sig).result() == status::forbidden);
    // Two signatures are refused even if one is right.
    CHECK(client.get(signed_url + "&sig=x").result() == status::forbidden);
  }
  SUBCASE("a valid sig: 200; parameter order and encoding do not matter; ETag ignores sig") {
    const auto first = client.get(sign(path + "?w=8&h=8", signing_key));
    CHECK(first.result() == status::ok);
    const auto signed_url = sign(path + "?w=8&h=8", signing_key);
    const auto sig = signed_url.substr(signed_url.find("sig="));
    CHECK(client.get(path + "?" + sig + "&h=%38&w=8").result() == status::ok);
    // Every configured key verifies; the variant (cache key, ETag) is the same.
    const auto rotated = client.get(sign(path + "?w=8&h=8", old_signing_key));
    CHECK(rotated.result() == status::ok);
    CHECK(rotated[test::http::field::etag] == first[test::http::field::etag]);
    CHECK(head(client, sign(path + "?w=8", signing_key)).result() == status::ok);
    CHECK(head(client, path + "?w=8").result() == status::forbidden);
  }
  SUBCASE("originals need no signature; a lone sig still names the original") {
    const auto original = client.get(path);
    CHECK(original.result() == status::ok);
    const auto with_sig = client.get(path + "?sig=anything");
    CHECK(with_sig.result() == status::ok);
    CHECK(with_sig[test::http::field::etag] == original[test::http::field::etag]);
  }
  SUBCASE("a missing image is 403 without a signature: existence does not leak") {
    CHECK(client.get("/v1/images/" + std::string(64, 'a') + "?w=8").result() == status::forbidden);
    CHECK(client.get(sign("/v1/images/" + std::string(64, 'a') + "?w=8", signing_key)).result() ==
          status::not_found);
  }
}

TEST_CASE("pixelmill sign prints a URL the server accepts; one changed character is refused") {
  test::ServerFixture f(with_signing());
  const auto id = uploaded_id(f);
  test::ChildProcess sign({PIXELMILL_BINARY, "sign", "--set", "auth.signing_keys=" + signing_key,
                           "/v1/images/" + id + "?w=20&h=10"});
  REQUIRE(sign.wait(10s) == 0);
  std::string url = sign.stdout_text();
  REQUIRE(url.ends_with("\n"));
  url.pop_back();
  CHECK(url.starts_with("/v1/images/" + id + "?h=10&w=20&sig="));
  CHECK(sign.stderr_text().empty());

  auto client = f.client();
  CHECK(client.get(url).result() == status::ok);
  std::string tampered = url;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  const auto refused = client.get(tampered);
  CHECK(refused.result() == status::forbidden);
  CHECK(problem_type(refused) == "urn:pixelmill:problem:bad-signature");
}

TEST_CASE("pixelmill sign errors: one line, exit 2") {
  const auto run = [](std::vector<std::string> args, const test::ChildProcess::Env& env = {}) {
    args.insert(args.begin(), {PIXELMILL_BINARY, "sign"});
    test::ChildProcess child(std::move(args), env);
    const auto code = child.wait(10s);
    CHECK(child.stdout_text().empty());
    CHECK(std::count(child.stderr_text().begin(), child.stderr_text().end(), '\n') == 1);
    CHECK(child.stderr_text().starts_with("pixelmill sign: "));
    return std::pair{code.value_or(-1), child.stderr_text()};
  };
  const auto [no_key, no_key_message] = run({"/v1/images/x?w=1"});
  CHECK(no_key == 2);
  CHECK(no_key_message.find("no signing key") != std::string::npos);
  CHECK(run({"--set", "auth.signing_keys=" + signing_key}).first == 2);        // no target
  CHECK(run({"--set", "auth.signing_keys=" + signing_key, "v1/x"}).first == 2);  // not a path
  CHECK(run({"--bogus", "/v1/x"}).first == 2);
  CHECK(run({"/v1/x"}, {{"PIXELMILL_AUTH_SIGNING_KEYS", "short"}}).first == 2);
}

TEST_CASE("keys never appear in the server's log, even at debug level") {
  auto [child, port] = test::start_binary(
      {"--listen", "127.0.0.1:0", "--io-threads", "1", "--cpu-threads", "1", "--data-dir",
       "/tmp/pixelmill-test-auth-log", "--log-level", "debug"},
      {{"PIXELMILL_AUTH_API_KEYS", api_key + "," + other_key},
       {"PIXELMILL_AUTH_SIGN_URLS", "true"},
       {"PIXELMILL_AUTH_SIGNING_KEYS", signing_key}});
  {
    test::HttpClient client(port);
    const Headers png = {{"Content-Type", "image/png"}};
    CHECK(client.request(verb::post, "/v1/images", small_png(), png).result() == status::unauthorized);
    auto wrong = png;
    wrong.emplace_back("Authorization", "Bearer " + api_key + "-wrong");
    CHECK(client.request(verb::post, "/v1/images", small_png(), wrong).result() == status::forbidden);
    auto right = png;
    right.emplace_back("Authorization", "Bearer " + api_key);
    const auto created = client.request(verb::post, "/v1/images", small_png(), right);
    REQUIRE(created.result() == status::created);
    const std::string path = "/v1/images/" + std::string(test::json_body(created).at("id").as_string());
    CHECK(client.get(*server::signed_target(path + "?w=8", signing_key)).result() == status::ok);
    CHECK(client.get(path + "?w=8&sig=" + std::string(43, 'A')).result() == status::forbidden);
  }
  child.signal(SIGTERM);
  REQUIRE(child.wait(10s) == 0);
  const auto log = child.stdout_text() + child.stderr_text();
  CHECK(log.find("access") != std::string::npos);  // the requests were logged
  for (const auto& key : {api_key, other_key, signing_key}) {
    CHECK_MESSAGE(log.find(key) == std::string::npos, "key found in the log:\n" << log);
  }
  std::error_code ignored;
  std::filesystem::remove_all("/tmp/pixelmill-test-auth-log", ignored);
}

TEST_CASE("metrics.listen: /metrics only on the second listener") {
  auto settings = test::test_settings();
  settings.metrics.address = "127.0.0.1";
  settings.metrics.port = 0;
  test::ServerFixture f(settings);
  REQUIRE(f.service.metrics_port() != 0);
  CHECK(f.service.metrics_port() != f.service.port());

  auto main = f.client();
  CHECK(main.get("/metrics").result() == status::not_found);
  CHECK(main.get("/healthz").result() == status::ok);

  test::HttpClient metrics(f.service.metrics_port());
  const auto scraped = metrics.get("/metrics");
  CHECK(scraped.result() == status::ok);
  // One registry: the main listener's requests are counted there.
  CHECK(test::value(scraped.body(), R"(pixelmill_http_requests_total{code="200",method="GET",route="/healthz"})") == 1);
  CHECK(metrics.get("/healthz").result() == status::not_found);  // only /metrics there
  CHECK(metrics.get("/v1/images/" + std::string(64, 'a')).result() == status::not_found);
}

TEST_CASE("without metrics.listen, /metrics stays on the main listener") {
  test::ServerFixture f;
  CHECK(f.service.metrics_port() == 0);
  CHECK(f.client().get("/metrics").result() == status::ok);
}
