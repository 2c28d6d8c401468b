#include "static_routes.hpp"

#include <memory>
#include <span>
#include <string>

#include "pixelmill/storage/image_id.hpp"

namespace pixelmill::server {
namespace {

// The page is one self-contained file: inline style and script, images from this
// origin (the variants) and blob: URLs (the preview of a local file).
constexpr std::string_view page_policy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

struct StaticFile {
  std::string_view body;
  std::string_view content_type;
  std::string etag;  // quoted SHA-256 of the body: changes with every new build's file
};

StaticFile make_file(std::string_view body, std::string_view content_type) {
  const std::span bytes{reinterpret_cast<const std::uint8_t*>(body.data()), body.size()};
  return {body, content_type, "\"" + storage::compute_image_id(bytes).str() + "\""};
}

bool etag_listed(std::string_view header, std::string_view etag) {
  return header == "*" || header.find(etag) != std::string_view::npos;
}

// no-cache, not immutable: the URL stays the same when a new build changes the
// file, so browsers revalidate (a cheap 304) instead of keeping a stale copy.
Handler serve(std::shared_ptr<const StaticFile> file, std::string_view policy = {}) {
  return [file, policy](RequestContext& ctx) -> boost::asio::awaitable<Response> {
    Response res{http::status::ok, ctx.request.version()};
    if (etag_listed(ctx.request[http::field::if_none_match], file->etag)) {
      res.result(http::status::not_modified);
    } else {
      res.set(http::field::content_type, file->content_type);
      res.body().assign(file->body.begin(), file->body.end());
      res.prepare_payload();
    }
    res.set(http::field::etag, file->etag);
    res.set(http::field::cache_control, "no-cache");
    if (!policy.empty()) {
      res.set("Content-Security-Policy", policy);
      res.set("X-Content-Type-Options", "nosniff");
    }
    co_return res;
  };
}

}  // namespace

void add_static_routes(Router& router, bool playground) {
  router.add(http::verb::get, "/openapi.yaml",
             serve(std::make_shared<StaticFile>(make_file(assets::openapi_yaml(), "application/yaml"))));
  if (playground) {
    router.add(http::verb::get, "/",
               serve(std::make_shared<StaticFile>(
                         make_file(assets::playground_html(), "text/html; charset=utf-8")),
                     page_policy));
  }
}

}  // namespace pixelmill::server
