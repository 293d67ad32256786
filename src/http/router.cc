#include "http/router.h"

#include <algorithm>

namespace custos::http {
namespace {

// "/a/b/" -> {"a", "b", ""}; "/" -> {""}. The first '/' is required by HTTP origin-form.
void SplitPath(std::string_view path, std::vector<std::string_view>& parts) {
  parts.clear();
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
}

}  // namespace

void Router::Add(std::string_view method, std::string_view pattern, Handler handler) {
  Route route;
  route.method = std::string(method);
  route.pattern = std::string(pattern);
  route.handler = std::move(handler);
  std::vector<std::string_view> parts;
  SplitPath(pattern, parts);
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p == "*" && i + 1 == parts.size()) {
      route.segments.push_back({Segment::kWildcard, "*"});
    } else if (p.size() >= 2 && p.front() == '{' && p.back() == '}') {
      route.segments.push_back({Segment::kParam, std::string(p.substr(1, p.size() - 2))});
    } else {
      route.segments.push_back({Segment::kLiteral, std::string(p)});
    }
  }
  for (auto& r : routes_) {
    if (r.method == route.method && r.pattern == route.pattern) {
      r = std::move(route);
      return;
    }
  }
  routes_.push_back(std::move(route));
  Reindex();
}

void Router::Reindex() {
  by_first_.clear();
  unkeyed_.clear();
  for (const Route& r : routes_) {
    if (r.segments.front().kind == Segment::kLiteral) by_first_[r.segments.front().text];
  }
  for (size_t i = 0; i < routes_.size(); ++i) {
    const Segment& first = routes_[i].segments.front();
    if (first.kind == Segment::kLiteral) {
      by_first_[first.text].push_back(i);
    } else {
      unkeyed_.push_back(i);
      for (auto& [key, list] : by_first_) list.push_back(i);
    }
  }
}

const std::vector<size_t>& Router::Candidates(std::string_view first) const {
  auto it = by_first_.find(first);
  return it != by_first_.end() ? it->second : unkeyed_;
}

int Router::Match(const Route& route, const std::vector<std::string_view>& parts) {
  int literals = 0;
  const auto& segs = route.segments;
  for (size_t i = 0; i < segs.size(); ++i) {
    const Segment& s = segs[i];
    if (s.kind == Segment::kWildcard) return literals;
    if (i >= parts.size()) return -1;
    if (s.kind == Segment::kLiteral) {
      if (parts[i] != s.text) return -1;
      ++literals;
    } else if (parts[i].empty()) {
      return -1;
    }
  }
  return parts.size() == segs.size() ? literals : -1;
}

Response Router::Dispatch(Request& request, std::string_view* route_label) const {
  thread_local std::vector<std::string_view> parts;
  SplitPath(request.path, parts);
  const Route* best = nullptr;
  int best_score = -1;
  const Route* best_any_method = nullptr;
  int best_any_score = -1;
  const std::vector<size_t>& candidates = Candidates(parts.front());
  for (size_t index : candidates) {
    const Route& r = routes_[index];
    int score = Match(r, parts);
    if (score < 0) continue;
    if (score > best_any_score) {
      best_any_score = score;
      best_any_method = &r;
    }
    // HEAD falls back to GET (RFC 9110 section 9.3.2; the server drops the body); an explicit
    // route for the method ranks higher on the same pattern.
    bool exact = r.method == request.method;
    bool head_as_get = !exact && request.method == "HEAD" && r.method == "GET";
    int rank = score * 2 + (exact ? 1 : 0);
    if ((exact || head_as_get) && rank > best_score) {
      best_score = rank;
      best = &r;
    }
  }
  if (best == nullptr) {
    if (best_any_method == nullptr) {
      if (route_label != nullptr) *route_label = kNoRoute;
      return Response::Text(404, "not found\n");
    }
    // 405: list every method registered for a pattern that matches this path.
    std::vector<std::string> allow;
    for (size_t index : candidates) {
      const Route& r = routes_[index];
      if (Match(r, parts) >= 0 &&
          std::find(allow.begin(), allow.end(), r.method) == allow.end()) {
        allow.push_back(r.method);
        if (r.method == "GET" && std::find(allow.begin(), allow.end(), "HEAD") == allow.end()) {
          allow.push_back("HEAD");
        }
      }
    }
    std::string allow_header;
    for (const auto& m : allow) {
      if (!allow_header.empty()) allow_header += ", ";
      allow_header += m;
    }
    if (route_label != nullptr) *route_label = best_any_method->pattern;
    Response r = Response::Text(405, "method not allowed\n");
    r.headers.Add("Allow", std::move(allow_header));
    return r;
  }
  if (route_label != nullptr) *route_label = best->pattern;
  request.path_params.clear();
  const auto& segs = best->segments;
  for (size_t i = 0; i < segs.size(); ++i) {
    if (segs[i].kind == Segment::kParam) {
      request.path_params.emplace_back(segs[i].text, PercentDecode(parts[i], false));
    } else if (segs[i].kind == Segment::kWildcard) {
      // The rest of the path from this segment on, '/'-joined as it was.
      std::string rest;
      for (size_t j = i; j < parts.size(); ++j) {
        if (j > i) rest += '/';
        rest.append(parts[j]);
      }
      request.path_params.emplace_back("*", PercentDecode(rest, false));
    }
  }
  return best->handler(request);
}

std::vector<std::string> Router::Patterns() const {
  std::vector<std::string> out;
  for (const auto& r : routes_) out.push_back(r.method + " " + r.pattern);
  return out;
}

void AddBuiltinRoutes(Router& router, metrics::Registry* registry) {
  router.Add("GET", "/healthz", [](const Request&) { return Response::Text(200, "ok"); });
  router.Add("GET", "/metrics", [registry](const Request&) {
    return Response::Bytes(200, "text/plain; version=0.0.4; charset=utf-8", registry->Render());
  });
}

}  // namespace custos::http
