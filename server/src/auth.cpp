#include "auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "pixelmill/server/auth_signature.hpp"
#include "pixelmill/server/http_error.hpp"

namespace pixelmill::server {
namespace {

// RFC 6750 b64token: what may follow "Bearer ".
constexpr std::string_view token_chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";

std::array<unsigned char, 32> sha256(std::string_view text) {
  std::array<unsigned char, 32> digest{};
  EVP_Digest(text.data(), text.size(), digest.data(), nullptr, EVP_sha256(), nullptr);
  return digest;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
         });
}

// The token of "Bearer TOKEN" (scheme in any case, spaces around the token), or
// nullopt when the header is not a Bearer credential.
std::optional<std::string_view> bearer_token(std::string_view header) {
  constexpr std::string_view scheme = "bearer ";
  if (!starts_with_ignoring_case(header, scheme)) return std::nullopt;
  auto token = header.substr(scheme.size());
  token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
  token.remove_suffix(token.size() - std::min(token.find_last_not_of(' ') + 1, token.size()));
  if (token.empty() || token.find_first_not_of(token_chars) != std::string_view::npos) return std::nullopt;
  return token;
}

[[noreturn]] void unauthorized(std::string detail) {
  throw HttpError(http::status::unauthorized, "unauthorized", std::move(detail), {},
                  {{http::field::www_authenticate, R"(Bearer realm="pixelmill")"}});
}

// The values of every sig parameter of `target`.
std::vector<std::string> signatures_of(std::string_view target) {
  std::vector<std::string> out;
  if (const auto url = boost::urls::parse_origin_form(target)) {
    for (const auto param : url->params()) {
      if (param.key == signature_param) out.push_back(param.value);
    }
  }
  return out;
}

}  // namespace

AccessPolicy::AccessPolicy(const config::AuthSettings& settings, std::string signed_route)
    : sign_urls_(settings.sign_urls), signing_keys_(settings.signing_keys), signed_route_(std::move(signed_route)) {
  for (const auto& key : settings.api_keys) api_key_digests_.push_back(sha256(key));
}

void AccessPolicy::check(const Request& request, std::string_view route) const {
  const auto method = request.method();
  if (!api_key_digests_.empty() && (method == http::verb::post || method == http::verb::delete_)) {
    check_api_key(request);
  }
  if (sign_urls_ && route == signed_route_ && (method == http::verb::get || method == http::verb::head) &&
      has_transform_query(request.target())) {
    check_signature(request);
  }
}

void AccessPolicy::check_api_key(const Request& request) const {
  if (request.count(http::field::authorization) == 0) {
    unauthorized("This request needs an API key: send \"Authorization: Bearer <key>\".");
  }
  const auto token = bearer_token(request[http::field::authorization]);
  if (request.count(http::field::authorization) > 1 || !token) {
    unauthorized("The Authorization header is not one \"Bearer <key>\" credential.");
  }
  const auto presented = sha256(*token);
  bool known = false;
  for (const auto& digest : api_key_digests_) {  // no early exit: every key costs the same
    known |= CRYPTO_memcmp(digest.data(), presented.data(), digest.size()) == 0;
  }
  if (!known) throw HttpError(http::status::forbidden, "forbidden", "The API key is not valid.");
}

void AccessPolicy::check_signature(const Request& request) const {
  const auto signatures = signatures_of(request.target());
  if (signatures.empty()) {
    throw HttpError(http::status::forbidden, "signature-required",
                    "Resized variants need a signed URL: add sig= (see `pixelmill sign`).");
  }
  const auto canonical = canonical_target(request.target());
  if (signatures.size() > 1 || !canonical || !signature_valid(*canonical, signatures.front(), signing_keys_)) {
    throw HttpError(http::status::forbidden, "bad-signature",
                    "The URL's signature does not match its path and parameters.");
  }
}

}  // namespace pixelmill::server
