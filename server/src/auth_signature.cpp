#include "pixelmill/server/auth_signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>

namespace pixelmill::server {
namespace {

constexpr std::size_t signature_length = 43;  // 32 bytes in unpadded base64url

std::string encode(std::string_view decoded) {
  return boost::urls::encode(decoded, boost::urls::unreserved_chars);
}

std::string canonical_path(const boost::urls::url_view& url) {
  std::string out;
  for (const auto segment : url.segments()) out += "/" + encode(segment);
  return out.empty() ? "/" : out;
}

std::string canonical_query(const boost::urls::url_view& url) {
  std::vector<std::pair<std::string, std::optional<std::string>>> params;
  for (const auto param : url.params()) {
    if ((param.key.empty() && !param.has_value) || param.key == signature_param) continue;
    params.emplace_back(encode(param.key), param.has_value ? std::optional(encode(param.value)) : std::nullopt);
  }
  std::stable_sort(params.begin(), params.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += name;
    if (value) out += "=" + *value;
  }
  return out;
}

std::string base64url(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(written));
  while (!out.empty() && out.back() == '=') out.pop_back();
  std::replace(out.begin(), out.end(), '+', '-');
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

}  // namespace

std::optional<std::string> canonical_target(std::string_view target) {
  const auto url = boost::urls::parse_origin_form(target);
  if (!url) return std::nullopt;
  return canonical_path(*url) + "?" + canonical_query(*url);
}

std::string url_signature(std::string_view key, std::string_view canonical) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(canonical.data()), canonical.size(), mac.data(), &size);
  return base64url(mac.data(), size);
}

std::optional<std::string> signed_target(std::string_view target, std::string_view key) {
  auto canonical = canonical_target(target);
  if (!canonical) return std::nullopt;
  const auto signature = url_signature(key, *canonical);
  *canonical += canonical->ends_with('?') ? "" : "&";
  return *canonical + std::string(signature_param) + "=" + signature;
}

bool signature_valid(std::string_view canonical, std::string_view signature, std::span<const std::string> keys) {
  // The length is the format's, public: no need to hide it.
  if (signature.size() != signature_length) return false;
  bool valid = false;
  for (const auto& key : keys) {
    const auto expected = url_signature(key, canonical);
    valid |= CRYPTO_memcmp(expected.data(), signature.data(), signature_length) == 0;
  }
  return valid;
}

bool has_transform_query(std::string_view target) {
  if (target.find('?') == std::string_view::npos) return false;
  const auto url = boost::urls::parse_origin_form(target);
  if (!url) return true;  // the parameter parser reports what is wrong with it
  const auto params = url->params();
  return params.empty() || std::any_of(params.begin(), params.end(),
                                       [](const auto& p) { return p.key != signature_param; });
}

}  // namespace pixelmill::server
