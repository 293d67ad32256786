#include "base/openssl_util.h"

#include <openssl/err.h>
#include <openssl/provider.h>

#include <mutex>

namespace custos {

std::string DrainOpenSslErrors() {
  std::string out;
  const char* file = nullptr;
  int line = 0;
  const char* data = nullptr;
  int flags = 0;
  unsigned long err;
  while ((err = ERR_get_error_all(&file, &line, nullptr, &data, &flags)) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    out += buf;
    if ((flags & ERR_TXT_STRING) != 0 && data != nullptr && *data != '\0') {
      out += " (";
      out += data;
      out += ")";
    }
  }
  return out;
}

Status OpenSslError(std::string_view what, StatusCode code) {
  std::string msg(what);
  std::string errors = DrainOpenSslErrors();
  if (!errors.empty()) {
    msg += ": ";
    msg += errors;
  }
  return Status(code, msg);
}

BioPtr MemBioFrom(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string MemBioContents(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  if (n <= 0 || p == nullptr) return {};
  return std::string(p, static_cast<size_t>(n));
}

Status LoadLegacyProvider() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    // The default provider must be loaded explicitly once any provider is, or it disappears.
    if (OSSL_PROVIDER_load(nullptr, "default") == nullptr) {
      result = OpenSslError("loading OpenSSL default provider");
      return;
    }
    if (OSSL_PROVIDER_load(nullptr, "legacy") == nullptr) {
      result = OpenSslError("loading OpenSSL legacy provider");
    }
  });
  return result;
}

}  // namespace custos
