// Request routing: method + path pattern -> handler.
//
// Patterns are literal segments, parameters and an optional trailing wildcard:
//   "/healthz", "/v1/enrollments/{id}", "/v1/dep/{name}/proxy/*".
// A parameter matches one non-empty path segment; "*" (last segment only) matches the rest of the
// path, possibly empty, and is available as PathParam("*"). Literal segments win over parameters
// when several routes match (so "/v1/x/new" beats "/v1/x/{id}"), then earlier registration wins.
// No path matches: 404; the path matches but not the method: 405 with an Allow header
// (RFC 9110 section 15.5.6). HEAD is served by the GET handler when no HEAD route matches.
//
// The matched pattern (never the raw path) is what metrics and logs use as the route label, so
// label cardinality stays bounded by the number of routes.
#ifndef CUSTOS_HTTP_ROUTER_H_
#define CUSTOS_HTTP_ROUTER_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/metrics.h"
#include "http/request.h"
#include "http/response.h"

namespace custos::http {

// Handlers are synchronous and run on an I/O thread; they may block briefly (a database call),
// never for long (no outbound network waits). They must not throw; if one does, the server answers
// 500.
using Handler = std::function<Response(const Request&)>;

class Router {
 public:
  // Route label used when no route matched.
  static constexpr std::string_view kNoRoute = "unmatched";

  // Registers `handler` for `method` (exact, e.g. "GET") and `pattern` (must start with '/').
  // Registering the same method and pattern again replaces the handler.
  void Add(std::string_view method, std::string_view pattern, Handler handler);

  // Routes `request` (its `path`), fills request.path_params and calls the handler. Answers
  // 404/405 itself. `route` receives the matched pattern, or kNoRoute; it stays valid as long as the
  // router does.
  Response Dispatch(Request& request, std::string_view* route) const;

  // The registered patterns, for diagnostics.
  std::vector<std::string> Patterns() const;

 private:
  struct Segment {
    enum Kind { kLiteral, kParam, kWildcard } kind;
    std::string text;  // literal text or parameter name
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    Handler handler;
  };
  // Returns the number of literal segments matched (higher is more specific), or -1.
  static int Match(const Route& route, const std::vector<std::string_view>& parts);
  // The indexes of the routes that can match a path whose first segment is `first`, in
  // registration order.
  const std::vector<size_t>& Candidates(std::string_view first) const;
  void Reindex();

  std::vector<Route> routes_;
  // Routes by their first segment, so that a request only looks at the routes it can match: a
  // route whose first segment is a literal sits under that literal; one that starts with a
  // parameter or the wildcard sits under every key and in unkeyed_.
  std::map<std::string, std::vector<size_t>, std::less<>> by_first_;
  std::vector<size_t> unkeyed_;
};

// GET /healthz -> 200 "ok"; GET /metrics -> `registry` rendered as text/plain; version=0.0.4.
void AddBuiltinRoutes(Router& router, metrics::Registry* registry = &metrics::Default());

}  // namespace custos::http

#endif  // CUSTOS_HTTP_ROUTER_H_
