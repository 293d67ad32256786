#include "http/router.h"

#include <gtest/gtest.h>

#include "http/status_http.h"

namespace custos::http {
namespace {

Request Make(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.target = r.path;
  return r;
}

Response Echo(const Request& r) {
  std::string out;
  for (const auto& [k, v] : r.path_params) out += k + "=" + v + ";";
  return Response::Text(200, out);
}

TEST(RouterTest, MatchesLiteralsParamsAndWildcards) {
  Router router;
  router.Add("GET", "/v1/enrollments/{id}", Echo);
  router.Add("GET", "/v1/enrollments/new", [](const Request&) { return Response::Text(200, "new"); });
  router.Add("POST", "/v1/dep/{name}/proxy/*", Echo);

  std::string_view route;
  Request a = Make("GET", "/v1/enrollments/ABC%3A1");
  Response ra = router.Dispatch(a, &route);
  EXPECT_EQ(ra.status, 200);
  EXPECT_EQ(ra.body, "id=ABC:1;");
  EXPECT_EQ(route, "/v1/enrollments/{id}");
  EXPECT_EQ(a.PathParam("id"), "ABC:1");

  Request b = Make("GET", "/v1/enrollments/new");
  EXPECT_EQ(router.Dispatch(b, &route).body, "new");  // literal beats parameter
  EXPECT_EQ(route, "/v1/enrollments/new");

  Request c = Make("POST", "/v1/dep/acme/proxy/devices/sync");
  EXPECT_EQ(router.Dispatch(c, &route).body, "name=acme;*=devices/sync;");
  EXPECT_EQ(route, "/v1/dep/{name}/proxy/*");

  Request d = Make("POST", "/v1/dep/acme/proxy");
  EXPECT_EQ(router.Dispatch(d, &route).body, "name=acme;*=;");
}

TEST(RouterTest, NotFoundAndMethodNotAllowed) {
  Router router;
  router.Add("GET", "/v1/enrollments/{id}", Echo);
  router.Add("DELETE", "/v1/enrollments/{id}", Echo);

  std::string_view route;
  Request a = Make("GET", "/v1/other");
  EXPECT_EQ(router.Dispatch(a, &route).status, 404);
  EXPECT_EQ(route, Router::kNoRoute);

  Request b = Make("GET", "/v1/enrollments/");  // empty parameter does not match
  EXPECT_EQ(router.Dispatch(b, &route).status, 404);

  Request c = Make("PUT", "/v1/enrollments/x");
  Response rc = router.Dispatch(c, &route);
  EXPECT_EQ(rc.status, 405);
  EXPECT_EQ(rc.headers.Get("allow").value_or(""), "GET, HEAD, DELETE");
  EXPECT_EQ(route, "/v1/enrollments/{id}");

  Request d = Make("GET", "/v1/enrollments/x/extra");
  EXPECT_EQ(router.Dispatch(d, &route).status, 404);
}

TEST(RouterTest, HeadFallsBackToGet) {
  Router router;
  router.Add("GET", "/{any}", [](const Request&) { return Response::Text(200, "get"); });
  router.Add("GET", "/x", [](const Request&) { return Response::Text(200, "get x"); });
  router.Add("HEAD", "/x", [](const Request&) { return Response::Text(200, "head x"); });
  std::string_view route;
  Request a = Make("HEAD", "/y");
  EXPECT_EQ(router.Dispatch(a, &route).body, "get");
  EXPECT_EQ(route, "/{any}");
  Request b = Make("HEAD", "/x");
  EXPECT_EQ(router.Dispatch(b, &route).body, "head x");
  Request c = Make("POST", "/y");
  Response rc = router.Dispatch(c, &route);
  EXPECT_EQ(rc.status, 405);
  EXPECT_EQ(rc.headers.Get("Allow").value_or(""), "GET, HEAD");
}

TEST(RouterTest, RoutesStartingWithAParameterCompeteWithLiteralOnes) {
  // Requests only look at the routes filed under their first segment; a route that starts with a
  // parameter or the wildcard must still be found, whenever it was registered, and ties must still
  // go to the earlier registration.
  auto text = [](std::string body) {
    return [body](const Request&) { return Response::Text(200, body); };
  };
  Router router;
  router.Add("GET", "/{tenant}/status", text("tenant status"));
  router.Add("GET", "/acme/{id}", text("acme id"));
  router.Add("POST", "/{tenant}/{id}", text("two params"));
  router.Add("GET", "/*", text("wildcard"));
  router.Add("GET", "/acme/{id}/x", text("acme x"));

  std::string_view route;
  Request a = Make("GET", "/acme/status");  // one literal each: the earlier route wins
  EXPECT_EQ(router.Dispatch(a, &route).body, "tenant status");
  EXPECT_EQ(route, "/{tenant}/status");
  Request b = Make("GET", "/other/status");  // a first segment no literal route has
  EXPECT_EQ(router.Dispatch(b, &route).body, "tenant status");
  Request c = Make("GET", "/acme/7");
  EXPECT_EQ(router.Dispatch(c, &route).body, "acme id");
  Request d = Make("GET", "/acme/7/x");
  EXPECT_EQ(router.Dispatch(d, &route).body, "acme x");
  Request e = Make("GET", "/nothing/here/at/all");
  EXPECT_EQ(router.Dispatch(e, &route).body, "wildcard");
  Request f = Make("GET", "/");
  EXPECT_EQ(router.Dispatch(f, &route).body, "wildcard");
  Request g = Make("PUT", "/acme/7");
  Response rg = router.Dispatch(g, &route);
  EXPECT_EQ(rg.status, 405);
  EXPECT_EQ(rg.headers.Get("Allow").value_or(""), "GET, HEAD, POST");
  Request h = Make("POST", "/other/7");
  EXPECT_EQ(router.Dispatch(h, &route).body, "two params");
}

TEST(RouterTest, ReRegistrationReplacesHandler) {
  Router router;
  router.Add("GET", "/x", [](const Request&) { return Response::Text(200, "one"); });
  router.Add("GET", "/x", [](const Request&) { return Response::Text(200, "two"); });
  Request r = Make("GET", "/x");
  EXPECT_EQ(router.Dispatch(r, nullptr).body, "two");
  EXPECT_EQ(router.Patterns().size(), 1u);
}

TEST(RouterTest, BuiltinRoutes) {
  metrics::Registry registry;
  registry.AddCounter("custos_test_total", "t").Get().Inc();
  Router router;
  AddBuiltinRoutes(router, &registry);
  Request h = Make("GET", "/healthz");
  Response rh = router.Dispatch(h, nullptr);
  EXPECT_EQ(rh.status, 200);
  EXPECT_EQ(rh.body, "ok");
  Request m = Make("GET", "/metrics");
  Response rm = router.Dispatch(m, nullptr);
  EXPECT_EQ(rm.status, 200);
  EXPECT_NE(rm.headers.Get("Content-Type").value_or("").find("version=0.0.4"), std::string::npos);
  EXPECT_NE(rm.body.find("custos_test_total 1"), std::string::npos);
}

TEST(RequestTest, QueryAndHeaders) {
  auto q = ParseQuery("operation=GetCACaps&message=a%2Bb+c&flag&&x=");
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[0], (std::pair<std::string, std::string>{"operation", "GetCACaps"}));
  EXPECT_EQ(q[1].second, "a+b c");
  EXPECT_EQ(q[2].first, "flag");
  EXPECT_EQ(q[3].second, "");
  EXPECT_EQ(PercentDecode("%zz%4", false), "%zz%4");  // malformed escapes kept

  Headers h;
  h.Add("Content-Type", "a");
  h.Add("X-Multi", "1");
  h.Add("x-multi", "2");
  EXPECT_EQ(h.Get("content-type").value_or(""), "a");
  EXPECT_EQ(h.GetAll("X-MULTI").size(), 2u);
  h.Set("x-multi", "3");
  EXPECT_EQ(h.GetAll("X-Multi").size(), 1u);
  EXPECT_FALSE(h.Has("missing"));
}

}  // namespace
}  // namespace custos::http
