#include "pixelmill/server/problem.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace pixelmill::server {

Response problem_response(const HttpError& error, std::string_view instance,
                          std::string_view request_id, unsigned version) {
  const boost::json::value body = {
      {"type", "urn:pixelmill:problem:" + error.slug()},
      {"title", std::string(http::obsolete_reason(error.status()))},
      {"status", static_cast<unsigned>(error.status())},
      {"detail", error.detail()},
      {"instance", instance},
      {"request_id", request_id},
  };
  const std::string text = boost::json::serialize(body);
  Response res{error.status(), version};
  res.set(http::field::content_type, problem_content_type);
  res.set(http::field::cache_control, "no-store");
  for (const auto& [field, value] : error.headers()) res.set(field, value);
  res.body().assign(text.begin(), text.end());
  res.prepare_payload();
  return res;
}

}  // namespace pixelmill::server
