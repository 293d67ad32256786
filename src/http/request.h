// The transport-neutral HTTP request and response that handlers see (RFC 9110 semantics, HTTP/1.1
// framing handled by the server). Handlers never see Boost.Beast or socket types: they read a
// Request and return a Response, so they are tested without a network.
#ifndef CUSTOS_HTTP_REQUEST_H_
#define CUSTOS_HTTP_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace custos::http {

// An ordered list of header fields with case-insensitive lookup (RFC 9110 section 5.1).
class Headers {
 public:
  // The value of the first field named `name` (any case), or nullopt.
  std::optional<std::string_view> Get(std::string_view name) const;
  // Every value of fields named `name`, in order.
  std::vector<std::string_view> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  // Appends a field (duplicates are kept, as on the wire).
  void Add(std::string name, std::string value);
  // Replaces every field named `name` by one field.
  void Set(std::string_view name, std::string value);
  void Remove(std::string_view name);

  const std::vector<std::pair<std::string, std::string>>& fields() const { return fields_; }
  bool empty() const { return fields_.empty(); }
  void clear() { fields_.clear(); }
  void reserve(size_t n) { fields_.reserve(n); }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

// True when `a` and `b` are equal ignoring ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

struct Request {
  std::string method;  // "GET", "PUT", ... as sent (methods are case-sensitive)
  std::string target;  // the request target as sent, e.g. "/scep?operation=GetCACaps"
  std::string path;    // target without the query string, not percent-decoded
  // Query parameters, percent-decoded ('+' is a space), in order; keys may repeat.
  std::vector<std::pair<std::string, std::string>> query;
  // Path parameters of the matched route ("id" for "/v1/enrollments/{id}", "*" for the rest of a
  // trailing wildcard), percent-decoded. Filled by the Router.
  std::vector<std::pair<std::string, std::string>> path_params;
  Headers headers;
  std::string body;

  // The client: the TCP peer, or, when the peer is a trusted proxy, the client it forwarded for
  // (X-Forwarded-For). `peer_address` is always the TCP peer.
  std::string remote_address;
  uint16_t remote_port = 0;
  std::string peer_address;
  // True when the request arrived over custos' own TLS listener.
  bool tls = false;
  // The TLS client's certificate chain as DER, leaf first, exactly as the client sent it; empty
  // when it sent none. NOT verified: the handler (or the service behind it) decides whom to trust.
  std::vector<std::string> client_cert_chain;
  // True when the TCP peer is one of http.trusted_proxies, so forwarded headers
  // (X-Forwarded-*, client-certificate headers) may be believed.
  bool from_trusted_proxy = false;
  std::string request_id;

  // The first query parameter named `name` (exact case), or nullopt.
  std::optional<std::string_view> Query(std::string_view name) const;
  // The path parameter `name`, or "" when the route has none of that name.
  std::string_view PathParam(std::string_view name) const;
  // Shorthand for headers.Get(name).
  std::optional<std::string_view> Header(std::string_view name) const { return headers.Get(name); }
};

// Decodes %XX escapes (and, when `plus_is_space`, '+' as ' '). Malformed escapes are kept as
// they are (never an error: the caller validates the decoded value).
std::string PercentDecode(std::string_view text, bool plus_is_space);

// Splits "a=1&b=x%20y" into decoded pairs. A key without '=' has an empty value.
std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query);

}  // namespace custos::http

#endif  // CUSTOS_HTTP_REQUEST_H_
