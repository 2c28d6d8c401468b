#include "pixelmill/server/router.hpp"

#include <algorithm>

namespace pixelmill::server {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') path.remove_prefix(1);
    const auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
  }
  return parts;
}

bool is_placeholder(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

}  // namespace

void Router::add(http::verb method, std::string pattern, Handler handler) {
  std::vector<std::string> segments;
  for (auto part : split_path(pattern)) segments.emplace_back(part);
  routes_.push_back({method, std::move(pattern), std::move(segments), std::move(handler)});
}

bool Router::match_segments(const Route& route, std::string_view path,
                            std::vector<std::pair<std::string, std::string>>& params) {
  const auto parts = split_path(path);
  if (parts.size() != route.segments.size()) return false;
  std::vector<std::pair<std::string, std::string>> found;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const std::string& segment = route.segments[i];
    if (is_placeholder(segment)) {
      if (parts[i].empty()) return false;
      found.emplace_back(segment.substr(1, segment.size() - 2), std::string(parts[i]));
    } else if (segment != parts[i]) {
      return false;
    }
  }
  params = std::move(found);
  return true;
}

Router::Match Router::match(http::verb method, std::string_view path) const {
  const http::verb wanted = method == http::verb::head ? http::verb::get : method;
  Match result;
  std::vector<std::string_view> allowed;
  for (const auto& route : routes_) {
    std::vector<std::pair<std::string, std::string>> params;
    if (!match_segments(route, path, params)) continue;
    if (result.route.empty()) result.route = route.pattern;
    allowed.push_back(http::to_string(route.method));
    if (route.method == http::verb::get) allowed.push_back("HEAD");
    if (route.method == wanted && result.handler == nullptr) {
      result.handler = &route.handler;
      result.route = route.pattern;
      result.params = std::move(params);
    }
  }
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  for (const auto method_name : allowed) {
    if (!result.allow.empty()) result.allow += ", ";
    result.allow += method_name;
  }
  return result;
}

}  // namespace pixelmill::server
