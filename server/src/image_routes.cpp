#include "image_routes.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/beast/core/string.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "pixelmill/imaging/transform.hpp"
#include "pixelmill/runtime/cpu_pool.hpp"
#include "pixelmill/server/auth_signature.hpp"
#include "pixelmill/server/http_error.hpp"
#include "pixelmill/server/image_params.hpp"
#include "pixelmill/server/multipart.hpp"
#include "pixelmill/storage/image_id.hpp"

namespace pixelmill::server {
namespace {

using Bytes = std::span<const std::uint8_t>;
constexpr std::string_view immutable = "public, max-age=31536000, immutable";

Bytes as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string_view as_text(const RequestBody::value_type& body) { return {body.data(), body.size()}; }

// The request body, taken without a copy, and where the image sits inside it.
struct Upload {
  std::shared_ptr<const RequestBody::value_type> body;
  std::string boundary;  // empty: the body is the image itself

  // Runs on the CPU pool: finding a multipart part scans the whole body.
  Bytes image() const {
    if (boundary.empty()) return as_bytes(as_text(*body));
    return as_bytes(find_file_part(as_text(*body), boundary).content);
  }
};

Upload take_upload(Request& request) {
  const std::string_view type = request[http::field::content_type];
  Upload upload;
  if (boost::beast::iequals(type.substr(0, 19), "multipart/form-data")) {
    upload.boundary = std::string(require_boundary(type));
  } else if (!boost::beast::iequals(type.substr(0, 6), "image/") &&
             !boost::beast::iequals(type, "application/octet-stream")) {
    throw HttpError(http::status::unsupported_media_type, "unsupported-media-type",
                    "Send the image as the body with an image/* Content-Type, or as the \"file\" "
                    "field of multipart/form-data.");
  }
  if (request.body().empty()) {
    throw HttpError(http::status::bad_request, "empty-body", "The request has no image in its body.");
  }
  upload.body = std::make_shared<const RequestBody::value_type>(std::move(request.body()));
  return upload;
}

storage::ImageId image_id_param(const RequestContext& ctx) {
  const auto id = storage::parse_image_id(ctx.param("id").value_or(""));
  if (!id) {
    throw HttpError(http::status::not_found, "not-found",
                    "No image with this id (ids are 64 lowercase hex characters).");
  }
  return *id;
}

HttpError image_not_found() {
  return {http::status::not_found, "not-found", "No image with this id."};
}

std::string quoted_etag(std::string_view tag) { return "\"" + std::string(tag) + "\""; }

// If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored.
bool etag_matches(const Request& request, const std::string& etag) {
  std::string_view header = request[http::field::if_none_match];
  if (header == "*") return !header.empty();
  while (!header.empty()) {
    const auto comma = header.find(',');
    std::string_view tag = header.substr(0, comma);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    header = comma == std::string_view::npos ? std::string_view{} : header.substr(comma + 1);
  }
  return false;
}

Response not_modified(const RequestContext& ctx, const std::string& etag) {
  Response res{http::status::not_modified, ctx.request.version()};
  res.set(http::field::etag, etag);
  res.set(http::field::cache_control, immutable);
  return res;
}

Response image_response(const RequestContext& ctx, std::vector<std::uint8_t> bytes,
                        std::string_view mime, const std::string& etag, bool vary_accept) {
  Response res{http::status::ok, ctx.request.version()};
  res.set(http::field::content_type, mime);
  res.set(http::field::etag, etag);
  res.set(http::field::cache_control, immutable);
  if (vary_accept) res.set(http::field::vary, "Accept");
  res.body() = std::move(bytes);
  res.prepare_payload();
  return res;
}

// The variant's identity: the source's content id plus every parameter after
// defaults. It names the cache entry and, quoted, is the variant's ETag.
std::string variant_key(const storage::ImageId& source, const imaging::TransformOptions& options) {
  const std::string key = source.str() + "|" + canonical_params(options);
  return storage::compute_image_id(as_bytes(key)).str();
}

// A lone ?sig= names the original, not a variant (auth_signature.hpp).
bool has_transform_params(std::string_view target) { return has_transform_query(target); }

class ImageRoutes {
 public:
  explicit ImageRoutes(ImageServices services) : s_(services) {}

  imaging::StageObserver observer() const {
    auto& metrics = s_.runtime_metrics;
    return [&metrics](imaging::Stage stage, std::chrono::nanoseconds elapsed) {
      metrics.cpu_job_seconds(static_cast<runtime::JobStage>(stage))
          .Observe(std::chrono::duration<double>(elapsed).count());
    };
  }

  imaging::TransformOptions options_of(const RequestContext& ctx) const {
    return parse_transform_params(ctx.request.target(), ctx.request[http::field::accept],
                                  s_.max_output_dimension);
  }

  boost::asio::awaitable<Response> upload(RequestContext& ctx) {
    Upload upload = take_upload(ctx.request);
    s_.metrics.bytes_in().Increment(static_cast<double>(upload.body->size()));
    auto job = [this, upload] {
      const Bytes image = upload.image();
      const imaging::ProbeResult probed = imaging::probe(image);
      imaging::check_limits(probed, s_.limits);
      s_.metrics.source_pixels().Observe(static_cast<double>(probed.pixel_count()));
      const storage::StoredMeta meta{std::string(imaging::to_string(probed.format)),
                                     static_cast<int>(probed.oriented_width()),
                                     static_cast<int>(probed.oriented_height()), image.size()};
      auto put = s_.store.put(image, meta);
      s_.metrics.images_stored().Set(static_cast<double>(s_.store.count()));
      return std::optional{std::pair{put, meta}};  // optional: a job's result needs a default
    };
    const auto [put, meta] = *co_await ctx.offloader.run(job);
    const boost::json::value body = {{"id", put.id.str()},   {"format", meta.format},
                                     {"width", meta.width},  {"height", meta.height},
                                     {"bytes", meta.bytes}};
    auto res = make_response(ctx, put.created ? http::status::created : http::status::ok,
                             boost::json::serialize(body), "application/json");
    res.set(http::field::location, "/v1/images/" + put.id.str());
    co_return res;
  }

  boost::asio::awaitable<Response> get(RequestContext& ctx) {
    const storage::ImageId id = image_id_param(ctx);
    if (has_transform_params(ctx.request.target())) co_return co_await variant(ctx, id);
    const std::string etag = quoted_etag(id.str());
    const bool fresh = etag_matches(ctx.request, etag);
    auto job = [this, id, fresh] {
      // A 304 still needs the image to exist; metadata is enough to know.
      if (fresh) return s_.store.meta(id) ? std::optional<storage::StoredImage>{storage::StoredImage{}}
                                          : std::nullopt;
      return s_.store.get(id);
    };
    auto stored = co_await ctx.offloader.run(job);
    if (!stored) throw image_not_found();
    if (fresh) co_return not_modified(ctx, etag);
    s_.metrics.bytes_out().Increment(static_cast<double>(stored->bytes.size()));
    const auto format = imaging::parse_output_format(stored->meta.format);
    co_return image_response(ctx, std::move(stored->bytes),
                             format ? imaging::mime_type(*format) : "application/octet-stream",
                             etag, false);
  }

  boost::asio::awaitable<Response> variant(RequestContext& ctx, const storage::ImageId& id) {
    const imaging::TransformOptions options = options_of(ctx);
    const std::string key = variant_key(id, options);
    const std::string etag = quoted_etag(key);
    const bool fresh = etag_matches(ctx.request, etag);
    auto job = [this, id, key, options, fresh]() -> std::optional<storage::Variant> {
      if (!s_.store.exists(id)) return std::nullopt;
      if (fresh) return storage::Variant{};
      // Identical requests in flight share one computation (the cache's single flight).
      bool hit = false;
      auto variant = s_.cache.get_or_compute(id, key, [&] { return compute_variant(id, options); }, &hit);
      (hit ? s_.metrics.cache_hits() : s_.metrics.cache_misses()).Increment();
      return variant;
    };
    auto result = co_await ctx.offloader.run(job);
    if (!result) throw image_not_found();
    if (fresh) co_return not_modified(ctx, etag);
    s_.metrics.bytes_out().Increment(static_cast<double>(result->bytes.size()));
    const auto format = imaging::parse_output_format(result->format);
    co_return image_response(ctx, std::move(result->bytes),
                             format ? imaging::mime_type(*format) : "application/octet-stream", etag,
                             options.format == imaging::OutputFormat::auto_);
  }

  // Runs on a CPU thread, inside the cache's single flight.
  storage::Variant compute_variant(const storage::ImageId& id, const imaging::TransformOptions& options) {
    auto stored = s_.store.get(id);
    if (!stored) throw image_not_found();  // deleted meanwhile
    auto result = imaging::transform(stored->bytes, options, s_.limits, observer());
    s_.metrics.source_pixels().Observe(static_cast<double>(result.source.pixel_count()));
    return {std::move(result.bytes), std::string(imaging::to_string(result.format))};
  }

  boost::asio::awaitable<Response> remove(RequestContext& ctx) {
    const storage::ImageId id = image_id_param(ctx);
    auto job = [this, id] {
      const bool removed = s_.store.remove(id);
      s_.cache.remove_variants_of(id);
      s_.metrics.images_stored().Set(static_cast<double>(s_.store.count()));
      return removed;
    };
    if (!co_await ctx.offloader.run(job)) throw image_not_found();
    Response res{http::status::no_content, ctx.request.version()};
    co_return res;
  }

  boost::asio::awaitable<Response> resize(RequestContext& ctx) {
    const imaging::TransformOptions options = options_of(ctx);
    Upload upload = take_upload(ctx.request);
    s_.metrics.bytes_in().Increment(static_cast<double>(upload.body->size()));
    auto job = [this, upload, options, &pool = ctx.offloader.cpu_pool()] {
      const Bytes image = upload.image();
      auto [result, source_id] = transform_and_hash(pool, image, options);
      return std::pair{std::move(result), quoted_etag(variant_key(source_id, options))};
    };
    auto [result, etag] = co_await ctx.offloader.run(job);
    co_return transformed_response(ctx, std::move(result), options, etag);
  }

 private:
  // The transform and the ETag's source hash (about 0.6 ms per MB) do not depend on
  // each other, so the hash runs beside the transform when a second CPU thread is
  // free (one thread: after it). Between its 256 KiB chunks it first runs any queued
  // helper work of the transform (decode bands, resize planes), so it fills the
  // transform's serial stretches instead of delaying its parallel ones; and it stops
  // there when the transform failed.
  std::pair<imaging::Transformed, storage::ImageId> transform_and_hash(
      runtime::CpuPool& pool, Bytes image, const imaging::TransformOptions& options) {
    std::optional<imaging::Transformed> result;
    std::optional<storage::ImageId> source_id;
    std::atomic<bool> failed{false};
    const auto give_way = [&] {
      while (pool.run_queued_helper()) {
      }
      return !failed.load();
    };
    pool.parallel_for(2, [&](int begin, int end) {
      for (int task = begin; task < end; ++task) {
        if (task == 1) {
          source_id = storage::compute_image_id(image, give_way);
          continue;
        }
        try {
          result = imaging::transform(image, options, s_.limits, observer());
        } catch (...) {
          failed = true;
          throw;
        }
      }
    });
    return {std::move(*result), std::move(*source_id)};
  }

  Response transformed_response(const RequestContext& ctx, imaging::Transformed result,
                                const imaging::TransformOptions& options, const std::string& etag) {
    s_.metrics.source_pixels().Observe(static_cast<double>(result.source.pixel_count()));
    s_.metrics.bytes_out().Increment(static_cast<double>(result.bytes.size()));
    const auto mime = imaging::mime_type(result.format);
    return image_response(ctx, std::move(result.bytes), mime, etag,
                          options.format == imaging::OutputFormat::auto_);
  }

  ImageServices s_;
};

}  // namespace

void add_image_routes(Router& router, ImageServices services) {
  auto routes = std::make_shared<ImageRoutes>(services);
  auto bind = [routes](auto method) {
    return [routes, method](RequestContext& ctx) { return ((*routes).*method)(ctx); };
  };
  router.add(http::verb::post, "/v1/images", bind(&ImageRoutes::upload));
  router.add(http::verb::get, "/v1/images/{id}", bind(&ImageRoutes::get));
  router.add(http::verb::delete_, "/v1/images/{id}", bind(&ImageRoutes::remove));
  router.add(http::verb::post, "/v1/resize", bind(&ImageRoutes::resize));
}

}  // namespace pixelmill::server
