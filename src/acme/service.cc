#include "acme/service.h"

#include <openssl/evp.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include "acme/problem.h"
#include "attest/attestation_object.h"
#include "base/encoding.h"
#include "base/logging.h"
#include "pki/csr.h"
#include "pki/key.h"
#include "pki/x509.h"

namespace custos::acme {

using Json = nlohmann::json;

struct AcmeService::KnownAccount {
  AcmeAccountRecord record;
  Jwk jwk;
};

struct AcmeService::Context {
  Jws jws;
  std::optional<Jwk> request_jwk;             // the JWS's own jwk (newAccount, revokeCert)
  std::shared_ptr<const KnownAccount> known;  // the account its kid names
  const Jwk* jwk = nullptr;                   // the key the JWS was verified with
  const AcmeAccountRecord* account = nullptr;  // set when the JWS carried a kid
  bool account_remembered = false;  // `known` came from known_accounts_: ConfirmAccount checks it
  bool post_as_get() const { return jws.payload_b64.empty(); }
};

namespace {

constexpr size_t kMaxIdentifiers = 100;
constexpr size_t kMaxKnownAccounts = 10000;
constexpr int64_t kMaxResumedValidations = 10000;
constexpr int64_t kMaxOrdersListed = 1000;

// RFC 8555 section 8.1: what an http-01 challenge must serve.
std::string KeyAuthorization(std::string_view token, std::string_view thumbprint) {
  return std::string(token) + "." + std::string(thumbprint);
}

AcmeReply JsonReply(int status, const Json& body) {
  AcmeReply r;
  r.status = status;
  r.body = body.dump();
  return r;
}

StatusOr<Json> PayloadObject(const std::string& payload) {
  Json j = Json::parse(payload, nullptr, false);
  if (!j.is_object()) return AcmeError(ProblemType::kMalformed, "the payload is not a JSON object");
  return j;
}

std::string ProblemJsonText(const Status& status) {
  return ProblemFromStatus(status).ToJson().dump();
}

// RFC 1035 host name, lowercase ASCII, no trailing dot, at least two labels.
bool ValidDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.find('.') == std::string_view::npos) return false;
  size_t label = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      if (label == 0 || name[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || (label == 0 && c == '-') || ++label > 63) return false;
  }
  return label > 0 && name.back() != '-';
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Order status from its authorizations (RFC 8555 section 7.1.6).
std::string OrderStatusFrom(const std::vector<AcmeAuthzRecord>& authzs, Time now) {
  bool all_valid = !authzs.empty();
  for (const auto& a : authzs) {
    if (a.status == "invalid" || a.status == "deactivated" || a.status == "revoked" ||
        (a.status != "valid" && a.expires_at <= now)) {
      return "invalid";
    }
    if (a.status != "valid") all_valid = false;
  }
  return all_valid ? "ready" : "pending";
}

bool IsRsa(EVP_PKEY* key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA; }

}  // namespace

StatusOr<std::unique_ptr<AcmeService>> AcmeService::Create(Options options, Authority* authority,
                                                            Storage* storage, Clock* clock,
                                                            Random* random,
                                                            std::unique_ptr<Http01Fetcher> fetcher) {
  while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
  if (options.base_url.rfind("http://", 0) != 0 && options.base_url.rfind("https://", 0) != 0) {
    return InvalidArgumentError("acme: the base URL must start with http:// or https://");
  }
  attest::AttestationVerifier::Options vopts;
  vopts.clock = clock;
  vopts.trust_apple_root = options.trust_apple_root;
  vopts.extra_roots_pem = options.extra_attestation_roots_pem;
  ASSIGN_OR_RETURN(auto verifier, attest::AttestationVerifier::Create(std::move(vopts)));
  if (!fetcher) fetcher = NewCurlHttp01Fetcher(options.http01_target);
  std::unique_ptr<AcmeService> service(new AcmeService(std::move(options), authority, storage,
                                                       clock, random, std::move(fetcher),
                                                       std::move(verifier)));
  Status resumed = service->ResumeValidations();
  if (!resumed.ok()) {
    spdlog::warn("acme: resuming the http-01 validations in processing: {}", resumed.message());
  }
  return service;
}

AcmeService::AcmeService(Options options, Authority* authority, Storage* storage, Clock* clock,
                         Random* random, std::unique_ptr<Http01Fetcher> fetcher,
                         std::unique_ptr<attest::AttestationVerifier> verifier)
    : options_(std::move(options)),
      authority_(authority),
      storage_(storage),
      clock_(clock),
      random_(random),
      fetcher_(std::move(fetcher)),
      verifier_(std::move(verifier)),
      nonces_(clock, random, options_.nonce_lifetime) {
  int n = std::clamp(options_.validation_threads, 1, 16);
  for (int i = 0; i < n; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

AcmeService::~AcmeService() {
  {
    std::lock_guard<std::mutex> lock(work_mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

std::string AcmeService::NewId() { return Base64UrlEncode(random_->Bytes(16)); }

std::string AcmeService::NewNonce() { return nonces_.Issue(); }

AcmeReply AcmeService::Directory() const {
  Json dir{{"newNonce", Url("new-nonce")},   {"newAccount", Url("new-account")},
           {"newOrder", Url("new-order")},   {"revokeCert", Url("revoke-cert")},
           {"keyChange", Url("key-change")}, {"meta", {{"externalAccountRequired", false}}}};
  return JsonReply(200, dir);
}

StatusOr<std::string> AcmeService::NewClientIdentifier(std::string_view bound_to) {
  if (bound_to.size() > 256) return InvalidArgumentError("bound_to is too long");
  std::string value = Base64UrlEncode(random_->Bytes(24));
  AcmeClientIdentifierRecord rec;
  rec.identifier_sha256 = Sha256Hex(value);
  rec.bound_to = std::string(bound_to);
  rec.created_at = clock_->Now();
  rec.expires_at = rec.created_at + options_.client_identifier_ttl;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) { return s.acme().InsertClientIdentifier(rec); }));
  return value;
}

AcmeReply AcmeService::Post(Endpoint endpoint, std::string_view id, std::string_view request_path,
                            std::string_view content_type, std::string_view body) {
  auto reply = PostImpl(endpoint, id, request_path, content_type, body);
  if (reply.ok()) return *std::move(reply);
  Problem p = ProblemFromStatus(reply.status());
  if (p.type == ProblemType::kServerInternal) {
    spdlog::warn("acme: {} failed: {}", request_path, reply.status().message());
  } else {
    spdlog::info("acme: refused {}: {} {}", request_path, ProblemTypeUrn(p.type), p.detail);
  }
  AcmeReply r;
  r.status = p.status;
  r.content_type = "application/problem+json";
  r.body = p.ToJson().dump();
  return r;
}

StatusOr<AcmeReply> AcmeService::PostImpl(Endpoint endpoint, std::string_view id,
                                          std::string_view request_path,
                                          std::string_view content_type, std::string_view body) {
  std::string_view ct = content_type.substr(0, content_type.find(';'));
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  if (ct != "application/jose+json") {
    return AcmeError(ProblemType::kMalformed, "Content-Type must be application/jose+json");
  }
  Context ctx;
  ASSIGN_OR_RETURN(ctx.jws, ParseFlattenedJws(body));
  std::string request_url = options_.base_url + std::string(request_path);
  if (ctx.jws.url != request_url) {
    return AcmeError(ProblemType::kUnauthorized, "the JWS url does not match the request URL");
  }
  bool jwk_endpoint = endpoint == Endpoint::kNewAccount || endpoint == Endpoint::kRevokeCert;
  if (ctx.jws.jwk) {
    if (!jwk_endpoint) {
      return AcmeError(ProblemType::kMalformed, "jwk is only allowed on newAccount and revokeCert");
    }
    ASSIGN_OR_RETURN(ctx.request_jwk, ParseJwk(*ctx.jws.jwk));
    ctx.jwk = &*ctx.request_jwk;
    RETURN_IF_ERROR(VerifyJws(ctx.jws, ctx.jwk->key.get()));
  } else {
    if (endpoint == Endpoint::kNewAccount) {
      return AcmeError(ProblemType::kMalformed, "newAccount must be signed with a jwk");
    }
    std::string prefix = Url("account/");
    if (ctx.jws.kid.rfind(prefix, 0) != 0 || ctx.jws.kid.size() == prefix.size()) {
      return AcmeError(ProblemType::kAccountDoesNotExist, "kid is not an account URL of this server");
    }
    std::string account_id = ctx.jws.kid.substr(prefix.size());
    // The order endpoints verify against a remembered key and confirm the account in their own
    // transaction; the account endpoints (which change or list it) read it afresh.
    bool remember = endpoint != Endpoint::kAccount && endpoint != Endpoint::kAccountOrders &&
                    endpoint != Endpoint::kKeyChange && endpoint != Endpoint::kRevokeCert;
    ASSIGN_OR_RETURN(ctx.known, LoadAccount(account_id, remember));
    Status verified = VerifyJws(ctx.jws, ctx.known->jwk.key.get());
    if (!verified.ok() && remember) {
      // The remembered key may be an old one: another process rolled it over. Read it afresh once.
      ForgetAccount(account_id);
      ASSIGN_OR_RETURN(ctx.known, LoadAccount(account_id, remember));
      verified = VerifyJws(ctx.jws, ctx.known->jwk.key.get());
    }
    RETURN_IF_ERROR(verified);
    ctx.jwk = &ctx.known->jwk;
    ctx.account = &ctx.known->record;
    ctx.account_remembered = remember;
  }
  RETURN_IF_ERROR(nonces_.Consume(ctx.jws.nonce));

  switch (endpoint) {
    case Endpoint::kNewAccount: return NewAccount(ctx);
    case Endpoint::kAccount: return Account(ctx, id);
    case Endpoint::kAccountOrders: return AccountOrders(ctx, id);
    case Endpoint::kKeyChange: return KeyChange(ctx, request_url);
    case Endpoint::kNewOrder: return NewOrder(ctx);
    case Endpoint::kOrder: return Order(ctx, id);
    case Endpoint::kFinalize: return Finalize(ctx, id);
    case Endpoint::kAuthz: return Authz(ctx, id);
    case Endpoint::kChallenge: return Challenge(ctx, id);
    case Endpoint::kCert: return Cert(ctx, id);
    case Endpoint::kRevokeCert: return RevokeCert(ctx);
  }
  return InternalError("unknown ACME endpoint");
}

// ---- Accounts -----------------------------------------------------------------------------------

StatusOr<std::shared_ptr<const AcmeService::KnownAccount>> AcmeService::LoadAccount(
    const std::string& id, bool remember) {
  if (remember) {
    std::lock_guard<std::mutex> lock(known_accounts_mu_);
    auto it = known_accounts_.find(id);
    if (it != known_accounts_.end()) return it->second;
  }
  AcmeAccountRecord account;
  Status st = storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(account, s.acme().GetAccount(id));
        return OkStatus();
      },
      TxMode::kReadOnly);
  if (st.code() == StatusCode::kNotFound) {
    return AcmeError(ProblemType::kAccountDoesNotExist, "no account for this kid");
  }
  RETURN_IF_ERROR(st);
  if (account.status != "valid") {
    return AcmeError(ProblemType::kUnauthorized, "the account is " + account.status);
  }
  auto jwk = ParseJwk(Json::parse(account.jwk_json, nullptr, false));
  if (!jwk.ok()) return InternalError("stored account key does not parse");
  auto known = std::make_shared<const KnownAccount>(KnownAccount{std::move(account), *std::move(jwk)});
  if (remember) {
    std::lock_guard<std::mutex> lock(known_accounts_mu_);
    if (known_accounts_.size() >= kMaxKnownAccounts) known_accounts_.clear();
    known_accounts_[id] = known;
  }
  return known;
}

void AcmeService::ForgetAccount(const std::string& id) {
  std::lock_guard<std::mutex> lock(known_accounts_mu_);
  known_accounts_.erase(id);
}

Status AcmeService::ConfirmAccount(Stores& stores, const Context& ctx) {
  if (!ctx.account_remembered) return OkStatus();  // read in this request already
  auto now = stores.acme().GetAccount(ctx.account->id);
  if (now.status().code() == StatusCode::kNotFound) {
    ForgetAccount(ctx.account->id);
    return AcmeError(ProblemType::kAccountDoesNotExist, "no account for this kid");
  }
  RETURN_IF_ERROR(now.status());
  if (now->status != "valid") {
    ForgetAccount(ctx.account->id);
    return AcmeError(ProblemType::kUnauthorized, "the account is " + now->status);
  }
  if (now->key_thumbprint != ctx.account->key_thumbprint) {
    // Rolled over between the signature check and this transaction: the request was signed
    // with a key the account no longer has.
    ForgetAccount(ctx.account->id);
    return AcmeError(ProblemType::kMalformed, "the JWS is not signed with the account's current key");
  }
  return OkStatus();
}

Json AcmeService::AccountJson(const AcmeAccountRecord& account) const {
  Json contact = Json::parse(account.contact_json, nullptr, false);
  if (!contact.is_array()) contact = Json::array();
  return Json{{"status", account.status},
              {"contact", contact},
              {"orders", Url("account/" + account.id + "/orders")}};
}

namespace {

StatusOr<Json> CheckedContacts(const Json& payload) {
  auto it = payload.find("contact");
  if (it == payload.end()) return Json::array();
  if (!it->is_array() || it->size() > 10) {
    return AcmeError(ProblemType::kInvalidContact, "contact must be an array of mailto: URLs");
  }
  for (const auto& c : *it) {
    if (!c.is_string()) return AcmeError(ProblemType::kInvalidContact, "contact is not a string");
    std::string s = c;
    if (s.rfind("mailto:", 0) != 0) {
      return AcmeError(ProblemType::kUnsupportedContact, "only mailto: contacts are supported");
    }
    if (s.size() > 256 || s.find('@') == std::string::npos || s.find(',') != std::string::npos) {
      return AcmeError(ProblemType::kInvalidContact, "invalid mailto: contact");
    }
  }
  return *it;
}

}  // namespace

StatusOr<AcmeReply> AcmeService::NewAccount(Context& ctx) {
  ASSIGN_OR_RETURN(Json payload, PayloadObject(ctx.jws.payload));
  bool only_existing = payload.value("onlyReturnExisting", false);
  ASSIGN_OR_RETURN(Json contact, CheckedContacts(payload));
  AcmeAccountRecord account;
  bool created = false;
  Status st = storage_->Transact([&](Stores& s) -> Status {
    created = false;
    auto existing = s.acme().GetAccountByThumbprint(ctx.jwk->thumbprint);
    if (existing.ok()) {
      account = *std::move(existing);
      return OkStatus();
    }
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
    if (only_existing) {
      return AcmeError(ProblemType::kAccountDoesNotExist, "no account for this key");
    }
    account = AcmeAccountRecord{};
    account.id = NewId();
    account.key_thumbprint = ctx.jwk->thumbprint;
    account.jwk_json = ctx.jwk->json.dump();
    account.contact_json = contact.dump();
    account.created_at = clock_->Now();
    RETURN_IF_ERROR(s.acme().InsertAccount(account));
    created = true;
    return OkStatus();
  });
  RETURN_IF_ERROR(st);
  if (account.status != "valid" && !created) {
    return AcmeError(ProblemType::kUnauthorized, "the account for this key is " + account.status);
  }
  AcmeReply r = JsonReply(created ? 201 : 200, AccountJson(account));
  r.location = Url("account/" + account.id);
  return r;
}

StatusOr<AcmeReply> AcmeService::Account(Context& ctx, std::string_view id) {
  if (ctx.account->id != id) {
    return AcmeError(ProblemType::kUnauthorized, "the kid does not name this account");
  }
  AcmeAccountRecord account = *ctx.account;
  if (!ctx.post_as_get()) {
    ASSIGN_OR_RETURN(Json payload, PayloadObject(ctx.jws.payload));
    if (payload.contains("status")) {
      if (payload["status"] != "deactivated") {
        return AcmeError(ProblemType::kMalformed, "an account can only be set to deactivated");
      }
      account.status = "deactivated";
    }
    if (payload.contains("contact")) {
      ASSIGN_OR_RETURN(Json contact, CheckedContacts(payload));
      account.contact_json = contact.dump();
    }
    RETURN_IF_ERROR(storage_->Transact([&](Stores& s) { return s.acme().UpdateAccount(account); }));
    ForgetAccount(account.id);
  }
  AcmeReply r = JsonReply(200, AccountJson(account));
  r.location = Url("account/" + account.id);
  return r;
}

StatusOr<AcmeReply> AcmeService::AccountOrders(Context& ctx, std::string_view id) {
  if (ctx.account->id != id) {
    return AcmeError(ProblemType::kUnauthorized, "the kid does not name this account");
  }
  Json urls = Json::array();
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        urls = Json::array();
        ASSIGN_OR_RETURN(auto orders, s.acme().ListOrders(id, kMaxOrdersListed));
        for (const auto& o : orders) urls.push_back(Url("order/" + o.id));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return JsonReply(200, Json{{"orders", urls}});
}

StatusOr<AcmeReply> AcmeService::KeyChange(Context& ctx, std::string_view request_url) {
  ASSIGN_OR_RETURN(Jws inner, ParseFlattenedJws(ctx.jws.payload));
  if (!inner.jwk) return AcmeError(ProblemType::kMalformed, "the inner JWS must carry a jwk");
  if (inner.url != request_url) {
    return AcmeError(ProblemType::kMalformed, "the inner JWS url must equal the outer one");
  }
  ASSIGN_OR_RETURN(Jwk new_key, ParseJwk(*inner.jwk));
  RETURN_IF_ERROR(VerifyJws(inner, new_key.key.get()));
  ASSIGN_OR_RETURN(Json payload, PayloadObject(inner.payload));
  if (payload.value("account", "") != ctx.jws.kid) {
    return AcmeError(ProblemType::kMalformed, "keyChange account does not match the kid");
  }
  auto old_key = payload.find("oldKey");
  if (old_key == payload.end()) return AcmeError(ProblemType::kMalformed, "keyChange without oldKey");
  ASSIGN_OR_RETURN(std::string old_thumbprint, JwkThumbprint(*old_key));
  if (old_thumbprint != ctx.account->key_thumbprint) {
    return AcmeError(ProblemType::kMalformed, "oldKey is not the account's current key");
  }
  AcmeAccountRecord account = *ctx.account;
  account.key_thumbprint = new_key.thumbprint;
  account.jwk_json = new_key.json.dump();
  std::string holder;
  Status st = storage_->Transact([&](Stores& s) -> Status {
    auto other = s.acme().GetAccountByThumbprint(new_key.thumbprint);
    if (other.ok() && other->id != account.id) {
      holder = other->id;
      return AcmeError(ProblemType::kConflict, "the new key belongs to another account");
    }
    return s.acme().UpdateAccount(account);
  });
  if (st.ok()) ForgetAccount(account.id);
  if (!st.ok() && !holder.empty()) {
    AcmeReply r;
    r.status = 409;
    r.content_type = "application/problem+json";
    r.body = ProblemJsonText(st);
    r.location = Url("account/" + holder);
    return r;
  }
  RETURN_IF_ERROR(st);
  AcmeReply r = JsonReply(200, AccountJson(account));
  r.location = Url("account/" + account.id);
  return r;
}

// ---- Orders -------------------------------------------------------------------------------------

Json AcmeService::OrderJson(const AcmeOrderRecord& order,
                            const std::vector<AcmeAuthzRecord>& authzs) const {
  Json authz_urls = Json::array();
  for (const auto& a : authzs) authz_urls.push_back(Url("authz/" + a.id));
  Json identifiers = Json::parse(order.identifiers_json, nullptr, false);
  Json j{{"status", order.status},
         {"expires", FormatRfc3339(order.expires_at)},
         {"identifiers", identifiers.is_array() ? identifiers : Json::array()},
         {"authorizations", authz_urls},
         {"finalize", Url("order/" + order.id + "/finalize")}};
  if (order.not_before) j["notBefore"] = FormatRfc3339(*order.not_before);
  if (order.not_after) j["notAfter"] = FormatRfc3339(*order.not_after);
  if (order.status == "valid") j["certificate"] = Url("cert/" + order.id);
  if (!order.error_json.empty()) {
    Json e = Json::parse(order.error_json, nullptr, false);
    if (e.is_object()) j["error"] = e;
  }
  return j;
}

StatusOr<AcmeOrderRecord> AcmeService::RefreshOrder(Stores& stores, AcmeOrderRecord order) {
  if ((order.status != "pending" && order.status != "ready") || order.expires_at <= clock_->Now()) {
    return RefreshOrder(stores, std::move(order), {});  // the authorizations do not matter
  }
  ASSIGN_OR_RETURN(auto authzs, stores.acme().ListAuthzs(order.id));
  return RefreshOrder(stores, std::move(order), authzs);
}

StatusOr<AcmeOrderRecord> AcmeService::RefreshOrder(Stores& stores, AcmeOrderRecord order,
                                                    const std::vector<AcmeAuthzRecord>& authzs) {
  if (order.status != "pending" && order.status != "ready") return order;
  Time now = clock_->Now();
  std::string status = order.expires_at <= now ? "invalid" : OrderStatusFrom(authzs, now);
  if (status != order.status) {
    std::string error;
    if (status == "invalid") {
      error = ProblemJsonText(AcmeError(ProblemType::kUnauthorized,
                                        order.expires_at <= now
                                            ? "the order expired"
                                            : "an authorization of the order failed"));
    }
    RETURN_IF_ERROR(stores.acme().UpdateOrder(order.id, status, error, order.cert_serial));
    order.status = status;
    order.error_json = error;
  }
  return order;
}

StatusOr<AcmeReply> AcmeService::NewOrder(Context& ctx) {
  ASSIGN_OR_RETURN(Json payload, PayloadObject(ctx.jws.payload));
  auto ids = payload.find("identifiers");
  if (ids == payload.end() || !ids->is_array() || ids->empty() || ids->size() > kMaxIdentifiers) {
    return AcmeError(ProblemType::kMalformed, "identifiers must be a non-empty array");
  }
  AcmeOrderRecord order;
  order.id = NewId();
  order.account_id = ctx.account->id;
  order.created_at = clock_->Now();
  order.expires_at = order.created_at + options_.order_lifetime;
  for (auto [name, field] : {std::pair{"notBefore", &order.not_before},
                             std::pair{"notAfter", &order.not_after}}) {
    auto it = payload.find(name);
    if (it == payload.end() || it->is_null()) continue;
    if (!it->is_string()) return AcmeError(ProblemType::kMalformed, std::string(name) + " is not a string");
    auto t = ParseRfc3339(it->get<std::string>());
    if (!t.ok()) return AcmeError(ProblemType::kMalformed, std::string(name) + " is not RFC 3339");
    *field = *t;
  }
  if (order.not_after && *order.not_after <= order.created_at) {
    return AcmeError(ProblemType::kMalformed, "notAfter is in the past");
  }
  Json identifiers = Json::array();
  std::set<std::pair<std::string, std::string>> seen;
  bool device = false;
  for (const auto& id : *ids) {
    if (!id.is_object() || !id.contains("type") || !id.contains("value") ||
        !id["type"].is_string() || !id["value"].is_string()) {
      return AcmeError(ProblemType::kMalformed, "an identifier needs string type and value");
    }
    std::string type = id["type"];
    std::string value = id["value"];
    if (type == "dns") {
      value = Lower(value);
      if (value.rfind("*.", 0) == 0) {
        return AcmeError(ProblemType::kRejectedIdentifier,
                         "wildcard names need dns-01, which this server does not offer");
      }
      if (!ValidDnsName(value)) {
        return AcmeError(ProblemType::kRejectedIdentifier, "not a valid DNS name: " + value);
      }
    } else if (type == "permanent-identifier") {
      device = true;
      if (value.empty() || value.size() > 256) {
        return AcmeError(ProblemType::kRejectedIdentifier, "invalid permanent-identifier");
      }
    } else {
      return AcmeError(ProblemType::kUnsupportedIdentifier,
                       "identifier type " + type + " is not supported (dns, permanent-identifier)");
    }
    if (seen.emplace(type, value).second) identifiers.push_back({{"type", type}, {"value", value}});
  }
  if (device && identifiers.size() != 1) {
    return AcmeError(ProblemType::kRejectedIdentifier,
                     "a permanent-identifier order must have exactly one identifier");
  }
  order.identifiers_json = identifiers.dump();

  Json body;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    RETURN_IF_ERROR(ConfirmAccount(s, ctx));
    if (device) {
      // The ClientIdentifier must be one custos created and nobody spent yet; it is spent when the
      // attestation verifies.
      auto rec = s.acme().GetClientIdentifier(Sha256Hex(identifiers[0]["value"].get<std::string>()));
      if (rec.status().code() == StatusCode::kNotFound) {
        return AcmeError(ProblemType::kRejectedIdentifier, "unknown ClientIdentifier");
      }
      RETURN_IF_ERROR(rec.status());
      if (rec->spent_at || rec->expires_at <= order.created_at) {
        return AcmeError(ProblemType::kRejectedIdentifier, "the ClientIdentifier is spent or expired");
      }
    }
    RETURN_IF_ERROR(s.acme().InsertOrder(order));
    std::vector<AcmeAuthzRecord> authzs;
    for (const auto& id : identifiers) {
      AcmeAuthzRecord authz;
      authz.id = NewId();
      authz.order_id = order.id;
      authz.account_id = order.account_id;
      authz.identifier_type = id["type"];
      authz.identifier_value = id["value"];
      authz.expires_at = order.expires_at;
      RETURN_IF_ERROR(s.acme().InsertAuthz(authz));
      AcmeChallengeRecord ch;
      ch.id = NewId();
      ch.authz_id = authz.id;
      ch.type = device ? "device-attest-01" : "http-01";
      ch.token = Base64UrlEncode(random_->Bytes(32));
      RETURN_IF_ERROR(s.acme().InsertChallenge(ch));
      authzs.push_back(std::move(authz));
    }
    body = OrderJson(order, authzs);
    return OkStatus();
  }));
  AcmeReply r = JsonReply(201, body);
  r.location = Url("order/" + order.id);
  return r;
}

StatusOr<AcmeReply> AcmeService::Order(Context& ctx, std::string_view id) {
  Json body;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    RETURN_IF_ERROR(ConfirmAccount(s, ctx));
    ASSIGN_OR_RETURN(AcmeOrderRecord order, s.acme().GetOrder(id));
    if (order.account_id != ctx.account->id) {
      return AcmeError(ProblemType::kUnauthorized, "the order belongs to another account");
    }
    ASSIGN_OR_RETURN(auto authzs, s.acme().ListAuthzs(order.id));
    ASSIGN_OR_RETURN(order, RefreshOrder(s, std::move(order), authzs));
    body = OrderJson(order, authzs);
    return OkStatus();
  }));
  AcmeReply r = JsonReply(200, body);
  r.location = Url("order/" + std::string(id));
  return r;
}

// ---- Authorizations and challenges ----------------------------------------------------------------

Json AcmeService::ChallengeJson(const AcmeChallengeRecord& c) const {
  Json j{{"type", c.type}, {"url", Url("chall/" + c.id)}, {"status", c.status}, {"token", c.token}};
  if (c.validated_at) j["validated"] = FormatRfc3339(*c.validated_at);
  if (!c.error_json.empty()) {
    Json e = Json::parse(c.error_json, nullptr, false);
    if (e.is_object()) j["error"] = e;
  }
  return j;
}

Json AcmeService::AuthzJson(const AcmeAuthzRecord& a,
                            const std::vector<AcmeChallengeRecord>& challenges) const {
  Json list = Json::array();
  for (const auto& c : challenges) list.push_back(ChallengeJson(c));
  std::string status = a.status;
  if (status == "pending" && a.expires_at <= clock_->Now()) status = "expired";
  return Json{{"identifier", {{"type", a.identifier_type}, {"value", a.identifier_value}}},
              {"status", status},
              {"expires", FormatRfc3339(a.expires_at)},
              {"challenges", list}};
}

StatusOr<AcmeReply> AcmeService::Authz(Context& ctx, std::string_view id) {
  bool deactivate = false;
  if (!ctx.post_as_get()) {
    ASSIGN_OR_RETURN(Json payload, PayloadObject(ctx.jws.payload));
    if (payload.contains("status")) {
      if (payload["status"] != "deactivated") {
        return AcmeError(ProblemType::kMalformed, "an authorization can only be deactivated");
      }
      deactivate = true;
    }
  }
  Json body;
  RETURN_IF_ERROR(storage_->Transact([&](Stores& s) -> Status {
    RETURN_IF_ERROR(ConfirmAccount(s, ctx));
    ASSIGN_OR_RETURN(AcmeAuthzRecord authz, s.acme().GetAuthz(id));
    if (authz.account_id != ctx.account->id) {
      return AcmeError(ProblemType::kUnauthorized, "the authorization belongs to another account");
    }
    if (deactivate && (authz.status == "pending" || authz.status == "valid")) {
      RETURN_IF_ERROR(s.acme().UpdateAuthz(authz.id, "deactivated", authz.attested_json));
      authz.status = "deactivated";
      ASSIGN_OR_RETURN(auto order, s.acme().GetOrder(authz.order_id));
      RETURN_IF_ERROR(RefreshOrder(s, std::move(order)).status());
    }
    ASSIGN_OR_RETURN(auto challenges, s.acme().ListChallenges(authz.id));
    body = AuthzJson(authz, challenges);
    return OkStatus();
  }, deactivate ? TxMode::kReadWrite : TxMode::kReadOnly));  // polls take no write lock
  return JsonReply(200, body);
}

Status AcmeService::RecordFailure(Stores& s, const AcmeChallengeRecord& challenge,
                                  const AcmeAuthzRecord& authz, const Status& problem) {
  RETURN_IF_ERROR(s.acme().UpdateChallenge(challenge.id, "invalid", std::nullopt,
                                           ProblemJsonText(problem)));
  RETURN_IF_ERROR(s.acme().UpdateAuthz(authz.id, "invalid", authz.attested_json));
  ASSIGN_OR_RETURN(auto order, s.acme().GetOrder(authz.order_id));
  return RefreshOrder(s, std::move(order)).status();
}

StatusOr<AcmeReply> AcmeService::Challenge(Context& ctx, std::string_view id) {
  // A poll (POST-as-GET) only reads. An answer to a pending http-01 challenge moves it to
  // processing in the transaction that reads it; device-attest-01 is judged after it, outside
  // any transaction.
  bool answer = !ctx.post_as_get();
  auto still_pending = [&](const AcmeAuthzRecord& a) {
    return a.status == "pending" && a.expires_at > clock_->Now();
  };
  AcmeChallengeRecord challenge;
  AcmeAuthzRecord authz;
  bool queued = false;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        queued = false;
        RETURN_IF_ERROR(ConfirmAccount(s, ctx));
        ASSIGN_OR_RETURN(challenge, s.acme().GetChallenge(id));
        ASSIGN_OR_RETURN(authz, s.acme().GetAuthz(challenge.authz_id));
        if (authz.account_id != ctx.account->id) {
          return AcmeError(ProblemType::kUnauthorized, "the challenge belongs to another account");
        }
        if (!answer || challenge.status != "pending" || challenge.type != "http-01") {
          return OkStatus();
        }
        if (!still_pending(authz)) {
          return AcmeError(ProblemType::kMalformed, "the authorization is no longer pending");
        }
        // The payload is {} (RFC 8555 section 7.5.1); validation runs on a worker.
        RETURN_IF_ERROR(PayloadObject(ctx.jws.payload).status());
        RETURN_IF_ERROR(s.acme().UpdateChallenge(id, "processing", std::nullopt, ""));
        challenge.status = "processing";
        challenge.validated_at.reset();
        challenge.error_json.clear();
        queued = true;
        return OkStatus();
      },
      answer ? TxMode::kReadWrite : TxMode::kReadOnly));
  // The reply is the challenge as `challenge` holds it when the request is done.
  auto reply = [&]() -> AcmeReply {
    AcmeReply r = JsonReply(200, ChallengeJson(challenge));
    r.links.push_back("<" + Url("authz/" + authz.id) + ">;rel=\"up\"");
    return r;
  };
  if (queued) {
    Http01Job job{challenge, authz, KeyAuthorization(challenge.token, ctx.account->key_thumbprint)};
    std::lock_guard<std::mutex> lock(work_mu_);
    work_.push_back(std::move(job));
    work_cv_.notify_one();
    return reply();
  }
  // A poll, or a challenge already answered: report its state.
  if (!answer || challenge.status != "pending" || challenge.type != "device-attest-01") {
    return reply();
  }
  if (!still_pending(authz)) {
    return AcmeError(ProblemType::kMalformed, "the authorization is no longer pending");
  }
  RETURN_IF_ERROR(ValidateDeviceAttest(challenge, authz, ctx.jws.payload));
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        ASSIGN_OR_RETURN(challenge, s.acme().GetChallenge(id));
        return OkStatus();
      },
      TxMode::kReadOnly));
  return reply();
}

Status AcmeService::ValidateDeviceAttest(const AcmeChallengeRecord& challenge,
                                         const AcmeAuthzRecord& authz, std::string_view payload) {
  std::string sha = Sha256Hex(authz.identifier_value);
  AcmeClientIdentifierRecord client;
  bool client_loaded = false;
  std::string attested_serial, attested_udid;  // once the attestation verified (issue 7)
  // Every refusal below marks the challenge, authorization and order invalid (the device starts
  // over with a new order) and is also the reply's problem.
  auto fail = [&](Status problem) -> Status {
    Status st = storage_->Transact(
        [&](Stores& s) { return RecordFailure(s, challenge, authz, problem); });
    if (!st.ok()) spdlog::warn("acme: recording a failed device-attest-01: {}", st.message());
    Problem p = ProblemFromStatus(problem);
    spdlog::info("acme: device-attest-01 refused for order {}: {} {}", authz.order_id,
                 ProblemTypeUrn(p.type), p.detail);
    if (refusal_listener_) {
      if (!client_loaded) {  // a payload refused before the ClientIdentifier was looked up
        (void)storage_->Transact(
            [&](Stores& s) -> Status {
              auto rec = s.acme().GetClientIdentifier(sha);
              if (rec.ok()) client = *std::move(rec);
              return OkStatus();
            },
            TxMode::kReadOnly);
      }
      refusal_listener_({"challenge", authz.order_id, client.bound_to, attested_serial,
                         attested_udid, ProblemTypeUrn(p.type), p.detail});
    }
    return problem;
  };
  auto object = attest::DecodeDeviceAttestPayload(payload);
  if (!object.ok()) {
    return fail(AcmeError(ProblemType::kBadAttestationStatement,
                          object.status().message()));
  }
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        auto rec = s.acme().GetClientIdentifier(sha);
        if (rec.status().code() == StatusCode::kNotFound) {
          return AcmeError(ProblemType::kRejectedIdentifier, "unknown ClientIdentifier");
        }
        RETURN_IF_ERROR(rec.status());
        client = *std::move(rec);
        return OkStatus();
      },
      TxMode::kReadOnly));
  client_loaded = true;

  attest::AttestationExpectations expect;
  expect.freshness.kind = attest::FreshnessKind::kAcmeToken;
  expect.freshness.value = challenge.token;
  attest::AttestationResult result = verifier_->Verify(object->x5c, expect);
  if (!result.valid) {
    return fail(AcmeError(ProblemType::kBadAttestationStatement, result.reason));
  }
  const attest::AttestationProperties& p = *result.properties;
  attested_serial = p.serial_number.value_or("");
  attested_udid = p.udid.value_or("");
  if (!client.bound_to.empty() && p.serial_number != client.bound_to &&
      p.udid != client.bound_to) {
    return fail(AcmeError(ProblemType::kRejectedIdentifier,
                          "the attested serial/UDID is not the device this ClientIdentifier is for"));
  }
  if (!p.serial_number && !p.udid) {
    return fail(AcmeError(ProblemType::kBadAttestationStatement,
                          "the attestation names neither a serial number nor a UDID"));
  }
  Json facts{{"leaf_spki_der", Base64UrlEncode(p.leaf_spki_der)},
             {"leaf_serial", p.leaf_serial_hex},
             {"verified_at", FormatRfc3339(result.verified_at)},
             {"freshness_code", HexEncode(p.freshness_code.value_or(""))}};
  attest::PutAttestedProperties(p, facts);
  if (!client.bound_to.empty()) facts["bound_to"] = client.bound_to;

  Time now = clock_->Now();
  Status st = storage_->Transact([&](Stores& s) -> Status {
    Status spent = s.acme().SpendClientIdentifier(sha, now, authz.order_id);
    if (spent.code() == StatusCode::kNotFound || spent.code() == StatusCode::kFailedPrecondition) {
      return AcmeError(ProblemType::kRejectedIdentifier, "the ClientIdentifier is spent or expired");
    }
    RETURN_IF_ERROR(spent);
    RETURN_IF_ERROR(s.acme().UpdateChallenge(challenge.id, "valid", now, ""));
    RETURN_IF_ERROR(s.acme().UpdateAuthz(authz.id, "valid", facts.dump()));
    ASSIGN_OR_RETURN(auto order, s.acme().GetOrder(authz.order_id));
    return RefreshOrder(s, std::move(order)).status();
  });
  if (ProblemFromStatus(st).type == ProblemType::kRejectedIdentifier) return fail(st);
  RETURN_IF_ERROR(st);
  spdlog::info("acme: device-attest-01 valid for order {} (serial {})", authz.order_id,
               attest::EscapeNonPrintable(p.serial_number.value_or(""), 64));
  return OkStatus();
}

void AcmeService::WorkerLoop() {
  for (;;) {
    Http01Job job;
    {
      std::unique_lock<std::mutex> lock(work_mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !work_.empty(); });
      if (stopping_) return;
      job = std::move(work_.front());
      work_.pop_front();
      ++busy_;
    }
    ValidateHttp01(job);
    {
      std::lock_guard<std::mutex> lock(work_mu_);
      --busy_;
    }
    idle_cv_.notify_all();
  }
}

Status AcmeService::ResumeValidations() {
  std::vector<Http01Job> jobs;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        jobs.clear();
        ASSIGN_OR_RETURN(auto challenges,
                         s.acme().ListChallengesWithStatus("processing", kMaxResumedValidations));
        for (auto& challenge : challenges) {
          if (challenge.type != "http-01") continue;
          auto authz = s.acme().GetAuthz(challenge.authz_id);
          auto account = authz.ok() ? s.acme().GetAccount(authz->account_id)
                                    : StatusOr<AcmeAccountRecord>(authz.status());
          if (!account.ok()) {
            if (account.status().code() == StatusCode::kNotFound) continue;  // nothing to record
            return account.status();
          }
          std::string key_authorization = KeyAuthorization(challenge.token, account->key_thumbprint);
          jobs.push_back(Http01Job{std::move(challenge), *std::move(authz),
                                   std::move(key_authorization)});
        }
        return OkStatus();
      },
      TxMode::kReadOnly));
  if (jobs.empty()) return OkStatus();
  spdlog::info("acme: resuming {} http-01 validation(s) left in processing", jobs.size());
  std::lock_guard<std::mutex> lock(work_mu_);
  for (auto& job : jobs) work_.push_back(std::move(job));
  work_cv_.notify_all();
  return OkStatus();
}

void AcmeService::WaitForValidations() {
  std::unique_lock<std::mutex> lock(work_mu_);
  idle_cv_.wait(lock, [&] { return stopping_ || (work_.empty() && busy_ == 0); });
}

void AcmeService::ValidateHttp01(const Http01Job& job) {
  const AcmeChallengeRecord& challenge = job.challenge;
  const AcmeAuthzRecord& authz = job.authz;
  const std::string& expected = job.key_authorization;
  Status verdict;
  auto body = fetcher_->Fetch(authz.identifier_value, challenge.token);
  if (!body.ok()) {
    verdict = AcmeError(body.status().code() == StatusCode::kUnavailable
                            ? ProblemType::kConnection
                            : ProblemType::kIncorrectResponse,
                        body.status().message());
  } else {
    std::string_view got = *body;
    while (!got.empty() && (got.back() == '\n' || got.back() == '\r' || got.back() == ' ' ||
                            got.back() == '\t')) {
      got.remove_suffix(1);
    }
    if (got != expected) {
      verdict = AcmeError(ProblemType::kIncorrectResponse,
                          "the key authorization served does not match");
    }
  }
  Time now = clock_->Now();
  Status st = storage_->Transact([&](Stores& s) -> Status {
    ASSIGN_OR_RETURN(AcmeChallengeRecord current, s.acme().GetChallenge(challenge.id));
    if (current.status != "processing") return OkStatus();  // judged elsewhere meanwhile
    if (!verdict.ok()) return RecordFailure(s, challenge, authz, verdict);
    RETURN_IF_ERROR(s.acme().UpdateChallenge(challenge.id, "valid", now, ""));
    RETURN_IF_ERROR(s.acme().UpdateAuthz(authz.id, "valid", ""));
    ASSIGN_OR_RETURN(auto order, s.acme().GetOrder(authz.order_id));
    return RefreshOrder(s, std::move(order)).status();
  });
  if (!st.ok()) spdlog::warn("acme: recording http-01 result: {}", st.message());
  if (!verdict.ok()) {
    spdlog::info("acme: http-01 failed for {}: {}", authz.identifier_value,
                 ProblemFromStatus(verdict).detail);
  }
}

// ---- Finalize, certificates, revocation ----------------------------------------------------------

StatusOr<AcmeReply> AcmeService::Finalize(Context& ctx, std::string_view id) {
  ASSIGN_OR_RETURN(Json payload, PayloadObject(ctx.jws.payload));
  auto csr_b64 = payload.find("csr");
  if (csr_b64 == payload.end() || !csr_b64->is_string()) {
    return AcmeError(ProblemType::kMalformed, "finalize needs a csr");
  }
  auto csr_der = Base64UrlDecode(csr_b64->get<std::string>());
  if (!csr_der.ok()) return AcmeError(ProblemType::kBadCsr, "csr is not base64url");
  auto csr = ParseAndVerifyCsr(*csr_der);
  if (!csr.ok()) return AcmeError(ProblemType::kBadCsr, csr.status().message());
  EVP_PKEY* csr_key = csr->public_key.get();
  if (IsRsa(csr_key) && EVP_PKEY_get_bits(csr_key) < 2048) {
    return AcmeError(ProblemType::kBadCsr, "RSA keys must have at least 2048 bits");
  }
  if (PublicKeysEqual(csr_key, ctx.jwk->key.get())) {
    return AcmeError(ProblemType::kBadCsr, "the CSR must not use the account key");
  }

  Json body;
  std::optional<DeviceAttestRefusal> key_refusal;  // issue 7: reported after the transaction
  Status finalized = storage_->Transact([&](Stores& s) -> Status {
    key_refusal.reset();
    RETURN_IF_ERROR(ConfirmAccount(s, ctx));
    ASSIGN_OR_RETURN(AcmeOrderRecord order, s.acme().GetOrder(id));
    if (order.account_id != ctx.account->id) {
      return AcmeError(ProblemType::kUnauthorized, "the order belongs to another account");
    }
    ASSIGN_OR_RETURN(auto authzs, s.acme().ListAuthzs(order.id));
    ASSIGN_OR_RETURN(order, RefreshOrder(s, std::move(order), authzs));
    if (order.status != "ready") {
      return AcmeError(ProblemType::kOrderNotReady, "the order is " + order.status);
    }
    IssueRequest req;
    req.spki_der = csr->spki_der;
    req.requester = "acme";
    req.requester_ref = order.id;
    req.key_usage = IsRsa(csr_key) ? (kKuDigitalSignature | kKuKeyEncipherment) : kKuDigitalSignature;
    Duration validity = options_.cert_validity;
    if (order.not_after) {
      validity = std::min(validity, std::chrono::duration_cast<Duration>(*order.not_after - clock_->Now()));
    }
    req.validity = validity;
    Json attributes{{"acme_order", order.id}, {"acme_account", order.account_id}};
    bool device = authzs.size() == 1 && authzs[0].identifier_type == "permanent-identifier";
    if (device) {
      Json facts = Json::parse(authzs[0].attested_json, nullptr, false);
      if (!facts.is_object() || !facts.contains("leaf_spki_der")) {
        return InternalError("device-attest-01 authorization without attested facts");
      }
      auto leaf_spki = Base64UrlDecode(facts["leaf_spki_der"].get<std::string>());
      if (!leaf_spki.ok()) return InternalError("stored attested key does not decode");
      auto same = attest::SamePublicKey(csr->spki_der, *leaf_spki);
      if (!same.ok() || !*same) {
        key_refusal = DeviceAttestRefusal{"finalize", order.id, facts.value("bound_to", ""),
                                          facts.value("serial_number", ""), facts.value("udid", ""),
                                          ProblemTypeUrn(ProblemType::kBadCsr),
                                          "the CSR key is not the attested key"};
        return AcmeError(ProblemType::kBadCsr, "the CSR key is not the attested key");
      }
      for (const auto& san : csr->sans) {
        if (san.type != "permanent_identifier") {
          return AcmeError(ProblemType::kBadCsr, "a device CSR may only carry a permanent identifier");
        }
      }
      static const std::set<std::string> kAllowed = {"CN", "O", "OU", "C", "ST", "L",
                                                     "serialNumber", "UID", "DC", "emailAddress"};
      for (const auto& rdn : NameEntries(csr->subject_name.get())) {
        if (!kAllowed.count(rdn.field)) {
          return AcmeError(ProblemType::kBadCsr, "subject attribute not allowed: " + rdn.field);
        }
      }
      req.subject_name = csr->subject_name.get();
      std::string device_id = facts.contains("serial_number") ? facts["serial_number"].get<std::string>()
                                                              : facts.value("udid", "");
      req.sans.push_back(San{"permanent_identifier", device_id, ""});
      req.extended_key_usages = {kEkuClientAuth};
      facts.erase("leaf_spki_der");
      attributes["attested"] = facts;
      attributes["hardware_bound"] = true;
      attributes["challenge"] = "device-attest-01";
    } else {
      std::set<std::string> names;
      for (const auto& a : authzs) {
        if (a.identifier_type != "dns") return AcmeError(ProblemType::kBadCsr, "mixed identifier types");
        names.insert(a.identifier_value);
      }
      std::set<std::string> requested;
      for (const auto& san : csr->sans) {
        if (san.type != "dns") {
          return AcmeError(ProblemType::kBadCsr, "the CSR may only carry dNSName SANs");
        }
        requested.insert(Lower(san.value));
      }
      std::string cn;
      for (const auto& rdn : NameEntries(csr->subject_name.get())) {
        if (rdn.field == "CN") {
          cn = Lower(rdn.value);
          requested.insert(cn);
        }
      }
      if (requested != names) {
        return AcmeError(ProblemType::kBadCsr, "the CSR names are not exactly the order's identifiers");
      }
      req.subject = {{"CN", cn.empty() ? *names.begin() : cn}};
      for (const auto& n : names) req.sans.push_back(San{"dns", n, ""});
      req.extended_key_usages = {kEkuServerAuth, kEkuClientAuth};
      attributes["challenge"] = "http-01";
    }
    req.attributes_json = attributes.dump();
    auto issued = authority_->Issue(s, req);
    if (!issued.ok()) {
      if (issued.status().code() == StatusCode::kInvalidArgument) {
        return AcmeError(ProblemType::kBadCsr, issued.status().message());
      }
      return issued.status();
    }
    RETURN_IF_ERROR(s.acme().UpdateOrder(order.id, "valid", "", issued->record.serial_hex));
    order.status = "valid";
    order.cert_serial = issued->record.serial_hex;
    body = OrderJson(order, authzs);
    return OkStatus();
  });
  if (!finalized.ok()) {
    if (key_refusal) {
      spdlog::info("acme: finalize refused for order {}: {}", key_refusal->order_id,
                   key_refusal->detail);
      if (refusal_listener_) refusal_listener_(*key_refusal);
    }
    return finalized;
  }
  AcmeReply r = JsonReply(200, body);
  r.location = Url("order/" + std::string(id));
  return r;
}

StatusOr<AcmeReply> AcmeService::Cert(Context& ctx, std::string_view id) {
  CertificateRecord record;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        RETURN_IF_ERROR(ConfirmAccount(s, ctx));
        ASSIGN_OR_RETURN(AcmeOrderRecord order, s.acme().GetOrder(id));
        if (order.account_id != ctx.account->id) {
          return AcmeError(ProblemType::kUnauthorized, "the certificate belongs to another account");
        }
        if (order.cert_serial.empty()) return NotFoundError("the order has no certificate");
        ASSIGN_OR_RETURN(record, s.certs().GetBySerial(order.cert_serial));
        return OkStatus();
      },
      TxMode::kReadOnly));
  AcmeReply r;
  r.content_type = "application/pem-certificate-chain";
  r.body = CertificatePemFromDer(record.der);  // the stored DER is what was issued: no re-parse
  if (record.issuer_id == authority_->ActiveIssuerRecord().id) {
    r.body += CertificatePem(authority_->ActiveIssuer().get());
  } else {
    r.body += authority_->ChainPem();
  }
  return r;
}

StatusOr<AcmeReply> AcmeService::RevokeCert(Context& ctx) {
  ASSIGN_OR_RETURN(Json payload, PayloadObject(ctx.jws.payload));
  auto cert_b64 = payload.find("certificate");
  if (cert_b64 == payload.end() || !cert_b64->is_string()) {
    return AcmeError(ProblemType::kMalformed, "revokeCert needs a certificate");
  }
  auto der = Base64UrlDecode(cert_b64->get<std::string>());
  if (!der.ok()) return AcmeError(ProblemType::kMalformed, "certificate is not base64url");
  auto cert = ParseCertificate(*der);
  if (!cert.ok()) return AcmeError(ProblemType::kMalformed, "certificate does not parse");
  int reason = 0;
  if (payload.contains("reason")) {
    if (!payload["reason"].is_number_integer()) {
      return AcmeError(ProblemType::kBadRevocationReason, "reason is not an integer");
    }
    reason = payload["reason"].get<int>();
    if (reason < 0 || reason > 10 || reason == 7) {
      return AcmeError(ProblemType::kBadRevocationReason, "unknown revocation reason");
    }
  }
  CertificateRecord record;
  std::optional<AcmeOrderRecord> order;
  RETURN_IF_ERROR(storage_->Transact(
      [&](Stores& s) -> Status {
        auto rec = s.certs().GetBySha256(CertSha256Hex(cert->get()));
        if (rec.status().code() == StatusCode::kNotFound) {
          return AcmeError(ProblemType::kMalformed, "the certificate was not issued by this server");
        }
        RETURN_IF_ERROR(rec.status());
        record = *std::move(rec);
        if (record.requester == "acme") {
          auto o = s.acme().GetOrder(record.requester_ref);
          if (o.ok()) order = *std::move(o);
        }
        return OkStatus();
      },
      TxMode::kReadOnly));
  if (ctx.account) {
    if (!order || order->account_id != ctx.account->id) {
      return AcmeError(ProblemType::kUnauthorized, "the account did not order this certificate");
    }
  } else {
    EvpPkeyPtr cert_key = CertificatePublicKey(cert->get());
    if (!cert_key || !PublicKeysEqual(cert_key.get(), ctx.jwk->key.get())) {
      return AcmeError(ProblemType::kUnauthorized, "the JWS key is not the certificate's key");
    }
  }
  Status st = authority_->Revoke(record.serial_hex, reason);
  if (st.code() == StatusCode::kFailedPrecondition) {
    return AcmeError(ProblemType::kAlreadyRevoked, "the certificate is already revoked");
  }
  RETURN_IF_ERROR(st);
  spdlog::info("acme: revoked certificate {} (reason {})", record.serial_hex, reason);
  AcmeReply r;
  r.body = "";
  r.content_type = "";
  return r;
}

StatusOr<std::vector<std::string>> ReadPemFiles(std::string_view comma_separated_paths) {
  std::vector<std::string> out;
  std::string_view rest = comma_separated_paths;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string path(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    path.erase(0, path.find_first_not_of(" \t"));
    path.erase(path.find_last_not_of(" \t") + 1);
    if (path.empty()) continue;
    std::ifstream in(path, std::ios::binary);
    if (!in) return InvalidArgumentError("cannot read attestation root file " + path);
    std::stringstream buf;
    buf << in.rdbuf();
    if (buf.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return InvalidArgumentError("no PEM certificate in " + path);
    }
    out.push_back(buf.str());
  }
  return out;
}

}  // namespace custos::acme
