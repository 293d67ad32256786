#include "pki/verify.h"

#include "pki/x509.h"

namespace custos {

std::string CertFinding::ToString() const {
  std::string out = "depth " + std::to_string(depth);
  if (!subject.empty()) out += " (" + subject + ")";
  return out + ": " + reason;
}

std::string VerifyResult::Summary() const {
  if (ok) return "ok";
  std::string out;
  for (const CertFinding& f : findings) {
    if (!out.empty()) out += "; ";
    out += f.ToString();
  }
  return out.empty() ? "verification failed" : out;
}

Status VerifyResult::ToStatus() const {
  if (ok) return OkStatus();
  return PermissionDeniedError("certificate not trusted: " + Summary());
}

namespace {

// Collects every error instead of stopping at the first; OpenSSL continues the path checks when
// the callback returns 1. The findings vector hangs off the store context's app data.
int CollectingCallback(int preverify_ok, X509_STORE_CTX* ctx) {
  if (preverify_ok == 1) return 1;
  auto* findings = static_cast<std::vector<CertFinding>*>(X509_STORE_CTX_get_app_data(ctx));
  int code = X509_STORE_CTX_get_error(ctx);
  int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  if (findings != nullptr) {
    bool duplicate = false;
    for (const CertFinding& f : *findings) duplicate |= (f.code == code && f.depth == depth);
    if (!duplicate) {
      findings->push_back(CertFinding{depth, code, X509_verify_cert_error_string(code),
                                      cert != nullptr ? SubjectString(cert) : ""});
    }
  }
  return 1;
}

}  // namespace

VerifyResult VerifyCertificate(X509* leaf, const VerifyOptions& options) {
  VerifyResult result;
  auto fail = [&](std::string reason) {
    result.findings.push_back(CertFinding{0, 0, std::move(reason), ""});
    return std::move(result);
  };
  if (leaf == nullptr) return fail("no certificate");
  if (options.trusted.empty()) return fail("no trust anchor configured");

  X509StorePtr store(X509_STORE_new());
  if (!store) return fail("allocating X509_STORE: " + DrainOpenSslErrors());
  for (X509* root : options.trusted) {
    if (X509_STORE_add_cert(store.get(), root) != 1) {
      DrainOpenSslErrors();  // a duplicate anchor is harmless
    }
  }
  X509StackPtr untrusted(sk_X509_new_null());
  for (X509* c : options.untrusted) {
    if (X509_up_ref(c) != 1 || sk_X509_push(untrusted.get(), c) <= 0) {
      return fail("building intermediate list: " + DrainOpenSslErrors());
    }
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get()) != 1) {
    return fail("initialising verification: " + DrainOpenSslErrors());
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  unsigned long flags = 0;
  if (!options.check_time) flags |= X509_V_FLAG_NO_CHECK_TIME;
  if (options.partial_chain) flags |= X509_V_FLAG_PARTIAL_CHAIN;
  X509_VERIFY_PARAM_set_flags(param, flags);
  X509_VERIFY_PARAM_set_depth(param, options.max_depth);
  if (options.check_time && options.at.has_value()) {
    X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(ToUnixSeconds(*options.at)));
  }
  if (!options.purpose.empty()) {
    int idx = X509_PURPOSE_get_by_sname(options.purpose.c_str());
    if (idx < 0) return fail("unknown X.509 purpose \"" + options.purpose + "\"");
    int id = X509_PURPOSE_get_id(X509_PURPOSE_get0(idx));
    if (X509_STORE_CTX_set_purpose(ctx.get(), id) != 1) {
      return fail("setting purpose: " + DrainOpenSslErrors());
    }
  }
  X509_STORE_CTX_set_app_data(ctx.get(), &result.findings);
  X509_STORE_CTX_set_verify_cb(ctx.get(), CollectingCallback);

  int rc = X509_verify_cert(ctx.get());
  if (rc != 1 && result.findings.empty()) {
    int code = X509_STORE_CTX_get_error(ctx.get());
    result.findings.push_back(CertFinding{X509_STORE_CTX_get_error_depth(ctx.get()), code,
                                          X509_verify_cert_error_string(code), ""});
  }
  DrainOpenSslErrors();
  if (STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx.get())) {
    for (int i = 0; i < sk_X509_num(chain); ++i) {
      X509* c = sk_X509_value(chain, i);
      X509_up_ref(c);
      result.chain.emplace_back(c);
    }
  }
  result.ok = rc == 1 && result.findings.empty();
  return result;
}

}  // namespace custos
