#pragma once
// Maps (method, path) to a handler. Patterns are literal segments and `{name}`
// placeholders; the pattern (never the raw path) labels metrics and logs.

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "pixelmill/server/http_types.hpp"
#include "pixelmill/server/request_context.hpp"

namespace pixelmill::server {

using Handler = std::function<boost::asio::awaitable<Response>(RequestContext&)>;

class Router {
 public:
  void add(http::verb method, std::string pattern, Handler handler);

  struct Match {
    const Handler* handler = nullptr;  // null: no route for this method
    std::string_view route;            // pattern; empty when the path matched nothing
    std::vector<std::pair<std::string, std::string>> params;
    std::string allow;  // methods the path accepts, for 405's Allow header
  };
  // HEAD matches GET routes (the session then sends headers only).
  Match match(http::verb method, std::string_view path) const;

 private:
  struct Route {
    http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  static bool match_segments(const Route& route, std::string_view path,
                             std::vector<std::pair<std::string, std::string>>& params);
  std::vector<Route> routes_;
};

}  // namespace pixelmill::server
