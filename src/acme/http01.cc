#include "acme/http01.h"

#include <curl/curl.h>

#include <mutex>
#include <utility>
#include <vector>

namespace custos::acme {
namespace {

constexpr size_t kMaxBody = 8 * 1024;

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  size_t len = size * n;
  if (out->size() + len > kMaxBody + 1) return 0;  // abort the transfer
  out->append(data, len);
  return len;
}

class CurlHttp01Fetcher : public Http01Fetcher {
 public:
  explicit CurlHttp01Fetcher(std::string connect_to) : connect_to_(std::move(connect_to)) {
    if (!connect_to_.empty()) {
      // "::HOST:PORT": every host and port goes to HOST:PORT.
      connect_to_list_ = curl_slist_append(nullptr, ("::" + connect_to_).c_str());
    }
  }
  ~CurlHttp01Fetcher() override {
    for (CURL* curl : idle_) curl_easy_cleanup(curl);
    curl_slist_free_all(connect_to_list_);
  }

  StatusOr<std::string> Fetch(std::string_view name, std::string_view token) override {
    std::string url = "http://" + std::string(name) + "/.well-known/acme-challenge/" +
                      std::string(token);
    CURL* curl = Take();
    if (!curl) return InternalError("curl_easy_init failed");
    std::string body;
    if (connect_to_list_ != nullptr) curl_easy_setopt(curl, CURLOPT_CONNECT_TO, connect_to_list_);
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    // Every validation resolves the name and connects anew, as if it were the first: nothing of
    // an earlier validation (an address, an open connection) decides this one.
    curl_easy_setopt(curl, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "custos-acme-validator");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    Return(curl);
    if (rc == CURLE_WRITE_ERROR) return FailedPreconditionError("challenge response too large");
    if (rc != CURLE_OK) {
      return UnavailableError(std::string("fetching the http-01 challenge: ") +
                              curl_easy_strerror(rc));
    }
    if (code != 200) {
      return FailedPreconditionError("the http-01 challenge URL answered " + std::to_string(code));
    }
    return body;
  }

 private:
  // Easy handles are kept between fetches (one per concurrent fetch at most): a new handle costs
  // more CPU than the loopback fetch itself (its internal multi handle and wake-up socket pair).
  // curl_easy_reset clears every option of the previous fetch.
  CURL* Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        CURL* curl = idle_.back();
        idle_.pop_back();
        return curl;
      }
    }
    return curl_easy_init();
  }
  void Return(CURL* curl) {
    curl_easy_reset(curl);
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(curl);
  }

  std::string connect_to_;
  curl_slist* connect_to_list_ = nullptr;
  std::mutex mu_;
  std::vector<CURL*> idle_;
};

}  // namespace

std::unique_ptr<Http01Fetcher> NewCurlHttp01Fetcher(std::string connect_to) {
  return std::make_unique<CurlHttp01Fetcher>(std::move(connect_to));
}

}  // namespace custos::acme
