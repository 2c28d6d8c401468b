#include "dispatch.hpp"

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include <unistd.h>

#include <boost/url/parse.hpp>

#include "pixelmill/config/load.hpp"
#include "pixelmill/imaging/geometry.hpp"
#include "pixelmill/imaging/image_error.hpp"
#include "pixelmill/storage/storage_error.hpp"
#include "pixelmill/runtime/errors.hpp"
#include "pixelmill/runtime/log.hpp"
#include "pixelmill/server/problem.hpp"

namespace pixelmill::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view unmatched_route = "unmatched";

std::string new_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(random()));
  return text;
}

// A client's X-Request-Id is kept when it is short and plain, so it can be
// correlated across services without letting clients inject into our logs.
std::string request_id_of(const Request* request) {
  if (request != nullptr) {
    const auto given = (*request)["X-Request-Id"];
    const bool plain = !given.empty() && given.size() <= 128 &&
                       given.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                               "0123456789-_.:") == std::string_view::npos;
    if (plain) return std::string(given);
  }
  return new_request_id();
}

// The imaging layer writes messages for users (what was wrong, what is allowed), so
// they are sent as the problem detail.
HttpError image_error(const imaging::ImageError& e) {
  using Kind = imaging::ImageError::Kind;
  switch (e.kind()) {
    case Kind::over_limit:
      return {http::status::unprocessable_entity, "over-limit", e.what()};
    case Kind::unsupported_format:
      return {http::status::unsupported_media_type, "unsupported-format", e.what()};
    case Kind::malformed:
      return {http::status::unsupported_media_type, "malformed-image", e.what()};
    case Kind::undecodable:
      break;
  }
  return {http::status::unsupported_media_type, "undecodable-image", e.what()};
}

HttpError geometry_error(const imaging::GeometryError& e) {
  if (!e.parameter().empty()) {
    return {http::status::bad_request, "bad-parameter", e.what()};
  }
  return {http::status::unprocessable_entity, "over-limit", e.what()};
}

HttpError to_http_error(std::exception_ptr error) {
  using http::status;
  try {
    std::rethrow_exception(error);
  } catch (const HttpError& e) {
    return e;
  } catch (const runtime::Overloaded& e) {
    return {status::service_unavailable, "overloaded",
            "All CPU threads are busy and the queue is full; retry shortly.", e.what(),
            {{http::field::retry_after, "1"}}};
  } catch (const runtime::DeadlineExceeded& e) {
    return {status::gateway_timeout, "deadline-exceeded",
            "The job waited longer than its deadline for a CPU thread.", e.what()};
  } catch (const runtime::JobCancelled& e) {
    return {status::service_unavailable, "cancelled",
            "The request was cancelled because the service is shutting down.", e.what(),
            {{http::field::retry_after, "1"}}};
  } catch (const imaging::ImageError& e) {
    return image_error(e);
  } catch (const imaging::GeometryError& e) {
    return geometry_error(e);
  } catch (const storage::StorageError& e) {
    if (e.no_space()) {
      return {status::insufficient_storage, "insufficient-storage",
              "The image store is full; nothing was stored.", e.what()};
    }
    return {status::internal_server_error, "storage", "The image store failed.", e.what()};
  } catch (const std::exception& e) {
    return {status::internal_server_error, "internal", "Internal server error.", e.what()};
  } catch (...) {
    return {status::internal_server_error, "internal", "Internal server error.",
            "unknown exception"};
  }
}

// The host name, read once: behind a load balancer it tells which replica answered
// (in a container it is the container's host name, in Kubernetes the pod's name).
const std::string& served_by() {
  static const std::string name = [] {
    char buffer[256] = {};
    if (::gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') {
      return std::string("unknown");
    }
    return std::string(buffer);
  }();
  return name;
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

void finish(ServerState& state, Response& res, const Request* request, std::string_view route,
            const std::string& request_id, Clock::time_point start) {
  static const std::string server_header = "pixelmill/" + std::string(config::version());
  res.set(http::field::server, server_header);
  res.set("X-Request-Id", request_id);
  res.set("X-Served-By", served_by());
  const std::size_t bytes = res.body().size();
  if (request != nullptr && request->method() == http::verb::head) {
    res.body().clear();  // Content-Length still announces the GET body's size
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::string method = request ? std::string(request->method_string()) : "-";
  const auto status = static_cast<unsigned>(res.result());
  state.metrics.record_request(route.empty() ? unmatched_route : route, method, status, seconds);
  runtime::log_event(
      spdlog::level::info, "access",
      {{"method", method},
       {"path", request ? std::string(path_of(request->target())) : "-"},
       {"route", std::string(route.empty() ? unmatched_route : route)},
       runtime::log_number("status", status),
       runtime::log_number("bytes", static_cast<double>(bytes)),
       runtime::log_number("duration_ms", seconds * 1000),
       {"request_id", request_id}});
}

Response error_response(const HttpError& error, const Request* request,
                        const std::string& request_id) {
  // 500 is our bug; other 5xx are load or shutdown conditions; 4xx are the client's.
  const auto code = static_cast<unsigned>(error.status());
  const auto level = code == 500 ? spdlog::level::err
                     : code > 500 ? spdlog::level::warn
                                  : spdlog::level::debug;
  runtime::log_event(level, "request failed",
                     {runtime::log_number("status", static_cast<unsigned>(error.status())),
                      {"problem", error.slug()},
                      {"error", error.what()},
                      {"request_id", request_id}});
  const std::string_view instance = request ? path_of(request->target()) : std::string_view{};
  return problem_response(error, instance, request_id, request ? request->version() : 11);
}

}  // namespace

Response reject(ServerState& state, const HttpError& error, const Request* request) {
  const auto start = Clock::now();
  const std::string request_id = request_id_of(request);
  Response res = error_response(error, request, request_id);
  finish(state, res, request, {}, request_id, start);
  return res;
}

boost::asio::awaitable<Response> dispatch(ServerState& state, Request& request,
                                          const bool* client_gone) {
  const auto start = Clock::now();
  const std::string request_id = request_id_of(&request);
  std::string_view route;
  std::exception_ptr failure;
  Response res;
  try {
    const auto target = boost::urls::parse_origin_form(request.target());
    if (!target) {
      throw HttpError(http::status::bad_request, "bad-target",
                      "The request target is not a valid origin-form URL.");
    }
    auto match = state.router.match(request.method(), target->encoded_path());
    route = match.route;
    if (match.route.empty()) {
      throw HttpError(http::status::not_found, "not-found", "No resource at this path.");
    }
    if (match.handler == nullptr) {
      throw HttpError(http::status::method_not_allowed, "method-not-allowed",
                      "This resource does not support " + std::string(request.method_string()) +
                          "; allowed: " + match.allow + ".",
                      {}, {{http::field::allow, match.allow}});
    }
    state.access.check(request, route);
    RequestContext ctx{request, request_id, route, std::move(match.params), state.offloader};
    res = co_await (*match.handler)(ctx);
  } catch (...) {
    failure = std::current_exception();  // no co_await inside a handler block
  }
  if (failure && client_gone != nullptr && *client_gone) {
    failure = std::make_exception_ptr(HttpError(static_cast<http::status>(499), "client-closed-request",
                                                "The client closed the connection before the answer.",
                                                "client gone"));
  }
  if (failure) res = error_response(to_http_error(failure), &request, request_id);
  finish(state, res, &request, route, request_id, start);
  co_return res;
}

}  // namespace pixelmill::server
