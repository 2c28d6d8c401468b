// Signed URLs without a server: the canonical form, the HMAC against vectors
// computed independently with openssl(1), constant-time verification with key
// rotation, the parameter parser's treatment of sig, and `pixelmill sign`'s logic.
#include <doctest/doctest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pixelmill/server/auth_sign_command.hpp"
#include "pixelmill/server/auth_signature.hpp"
#include "pixelmill/server/http_error.hpp"
#include "pixelmill/server/image_params.hpp"

using namespace pixelmill;

namespace {

const std::string key = "test-signing-key-0123456789";

}  // namespace

TEST_CASE("canonical_target: path, '?', parameters sorted by name, sig dropped, one encoding") {
  const auto canonical = [](std::string_view target) { return server::canonical_target(target).value_or("<none>"); };
  CHECK(canonical("/v1/images/abc123?w=200&h=100&fit=cover") == "/v1/images/abc123?fit=cover&h=100&w=200");
  CHECK(canonical("/v1/images/abc123?h=100&sig=xyz&w=200&fit=cover") == "/v1/images/abc123?fit=cover&h=100&w=200");
  CHECK(canonical("/v1/images/abc123") == "/v1/images/abc123?");
  CHECK(canonical("/v1/images/abc123?sig=xyz") == "/v1/images/abc123?");
  // Percent-decoded, then re-encoded: unreserved bytes bare, the rest %XX upper-case.
  CHECK(canonical("/v1/images/abc123?w=%32%30%30&background=%23fff") == "/v1/images/abc123?background=%23fff&w=200");
  CHECK(canonical("/v1/images/abc123?position=right+top") == "/v1/images/abc123?position=right%20top");
  CHECK(canonical("/v1/images/abc123?position=right%20top") == "/v1/images/abc123?position=right%20top");
  CHECK(canonical("/v1/images/abc123?x=%2f%2F/") == "/v1/images/abc123?x=%2F%2F%2F");
  CHECK(canonical("/v1/%69mages/abc123?") == "/v1/images/abc123?");
  // Empty parameters dropped; a name without '=' keeps its form; repeats keep their order.
  CHECK(canonical("/p?b=2&&a=1&") == "/p?a=1&b=2");
  CHECK(canonical("/p?enlarge&a=") == "/p?a=&enlarge");
  CHECK(canonical("/p?w=2&a=1&w=1") == "/p?a=1&w=2&w=1");
  CHECK(canonical("/") == "/?");
  CHECK_FALSE(server::canonical_target("v1/images"));
  CHECK_FALSE(server::canonical_target("/a b"));
}

TEST_CASE("url_signature matches openssl dgst -sha256 -hmac, base64url without padding") {
  // printf '%s' "$text" | openssl dgst -sha256 -hmac "$key" -binary | base64 | tr '+/' '-_' | tr -d '='
  const std::map<std::string, std::string> vectors = {
      {"/v1/images/abc123?fit=cover&h=100&w=200", "ebo7TCGLoSTYGfzhbbCasEviucEekykeXQkgAQEeCKk"},
      {"/v1/images/abc123?background=%23FFF&w=10", "TZ9XbmBP2ObDGNGQYR22vHrf2WEoQXidYrduJ8o0QN8"},
      {"/v1/images/abc123?", "yPwogTSPwY8Dub-lAbpby34VctA4BUYpI3FSfkPJZnI"},
  };
  for (const auto& [text, expected] : vectors) CHECK(server::url_signature(key, text) == expected);
  CHECK(*server::signed_target("/v1/images/abc123?w=200&fit=cover&h=100", key) ==
        "/v1/images/abc123?fit=cover&h=100&w=200&sig=ebo7TCGLoSTYGfzhbbCasEviucEekykeXQkgAQEeCKk");
  CHECK(*server::signed_target("/v1/images/abc123", key) ==
        "/v1/images/abc123?sig=yPwogTSPwY8Dub-lAbpby34VctA4BUYpI3FSfkPJZnI");
  // Re-signing a signed target replaces its signature.
  CHECK(*server::signed_target("/v1/images/abc123?sig=old&w=200&fit=cover&h=100", key) ==
        *server::signed_target("/v1/images/abc123?w=200&fit=cover&h=100", key));
}

TEST_CASE("signature_valid: any configured key, exact match only") {
  const std::string text = "/v1/images/abc123?fit=cover&h=100&w=200";
  const std::string sig = "ebo7TCGLoSTYGfzhbbCasEviucEekykeXQkgAQEeCKk";
  const std::vector<std::string> rotated = {"new-key-0123456789abcdef", key};
  CHECK(server::signature_valid(text, sig, rotated));
  CHECK(server::signature_valid(text, sig, std::vector<std::string>{key}));
  CHECK_FALSE(server::signature_valid(text, sig, std::vector<std::string>{"new-key-0123456789abcdef"}));
  CHECK_FALSE(server::signature_valid(text, sig, std::vector<std::string>{}));
  CHECK_FALSE(server::signature_valid(text + "&x=1", sig, rotated));
  // Every single-character change, including in the last character's padding bits.
  for (std::size_t i = 0; i < sig.size(); ++i) {
    auto changed = sig;
    changed[i] = changed[i] == 'l' ? 'm' : 'l';
    CHECK_FALSE(server::signature_valid(text, changed, rotated));
  }
  auto last = sig;
  last.back() = 'l';  // 'k' and 'l' differ only in bits base64 decoders may ignore
  CHECK_FALSE(server::signature_valid(text, last, rotated));
  CHECK_FALSE(server::signature_valid(text, sig + "A", rotated));
  CHECK_FALSE(server::signature_valid(text, sig.substr(1), rotated));
  CHECK_FALSE(server::signature_valid(text, "", rotated));
}

TEST_CASE("has_transform_query: a lone sig names the original") {
  CHECK_FALSE(server::has_transform_query("/v1/images/a"));
  CHECK_FALSE(server::has_transform_query("/v1/images/a?sig=x"));
  CHECK(server::has_transform_query("/v1/images/a?"));
  CHECK(server::has_transform_query("/v1/images/a?w=1"));
  CHECK(server::has_transform_query("/v1/images/a?sig=x&w=1"));
}

TEST_CASE("the parameter parser ignores sig, so it changes neither cache key nor ETag") {
  const auto params = [](std::string_view query) {
    return server::canonical_params(server::parse_transform_params(query, "", 8192));
  };
  CHECK(params("w=100&sig=abc") == params("w=100"));
  CHECK(params("sig=abc&w=100&sig=def") == params("w=100"));
  CHECK_THROWS_AS(params("w=100&signature=abc"), server::HttpError);
}

TEST_CASE("run_sign_command: settings as the server reads them, one error line") {
  const auto run = [](std::vector<std::string_view> args, std::map<std::string, std::string> env = {}) {
    std::ostringstream out, err;
    const config::EnvLookup lookup = [env](const std::string& name) -> std::optional<std::string> {
      const auto it = env.find(name);
      return it == env.end() ? std::nullopt : std::optional(it->second);
    };
    const int code = server::run_sign_command(args, lookup, out, err);
    return std::tuple{code, out.str(), err.str()};
  };
  const std::string set = "auth.signing_keys=" + key + ",old-key-0123456789abcdef";
  const auto expected = "/v1/images/abc123?fit=cover&h=100&w=200&sig=ebo7TCGLoSTYGfzhbbCasEviucEekykeXQkgAQEeCKk\n";
  CHECK(run({"--set", set, "/v1/images/abc123?w=200&h=100&fit=cover"}) == std::tuple{0, expected, ""});
  CHECK(run({"/v1/images/abc123?w=200&h=100&fit=cover", "--set=" + set}) == std::tuple{0, expected, ""});
  CHECK(run({"/v1/images/abc123?w=200&h=100&fit=cover"}, {{"PIXELMILL_AUTH_SIGNING_KEYS", key}}) ==
        std::tuple{0, expected, ""});
  CHECK(std::get<0>(run({"--help"})) == 0);

  const auto error = [&](std::vector<std::string_view> args) {
    const auto [code, out, err] = run(std::move(args));
    CHECK(code == 2);
    CHECK(out.empty());
    CHECK(std::count(err.begin(), err.end(), '\n') == 1);
    CHECK(err.starts_with("pixelmill sign: "));
    return err;
  };
  CHECK(error({"/v1/images/a"}).find("no signing key") != std::string::npos);
  CHECK(error({"--set", set}).find("missing the target") != std::string::npos);
  CHECK(error({"--set", set, "/a", "/b"}).find("more than one target") != std::string::npos);
  CHECK(error({"--set", set, "http://x/a"}).find("is not a path") != std::string::npos);
  CHECK(error({"--listen", "1.2.3.4:5", "/a"}).find("unknown flag") != std::string::npos);
  const auto short_key = error({"--set", "auth.signing_keys=short-key", "/a"});
  CHECK(short_key.find("short-key") == std::string::npos);  // keys are never echoed
}
