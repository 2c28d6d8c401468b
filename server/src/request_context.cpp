#include "pixelmill/server/request_context.hpp"

namespace pixelmill::server {

Response make_response(const RequestContext& ctx, http::status status, std::string_view body,
                       std::string_view content_type) {
  Response res{status, ctx.request.version()};
  res.set(http::field::content_type, content_type);
  res.body().assign(body.begin(), body.end());
  res.prepare_payload();
  return res;
}

}  // namespace pixelmill::server
