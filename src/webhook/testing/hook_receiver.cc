#include "webhook/testing/hook_receiver.h"

#include <thread>

#include "base/config.h"
#include "base/random.h"
#include "webhook/webhook.h"

namespace custos::webhook::testing {

StatusOr<std::unique_ptr<HookReceiver>> HookReceiver::Start(Options options) {
  std::unique_ptr<HookReceiver> receiver(new HookReceiver(std::move(options)));
  HookReceiver* self = receiver.get();
  receiver->router_.Add("POST", "/hook",
                        [self](const http::Request& r) { return self->Handle(r); });
  ServerConfig server;
  server.listen = "127.0.0.1:0";
  server.threads = 1;
  ASSIGN_OR_RETURN(receiver->server_,
                   http::HttpServer::Create(HttpConfig{}, server, TlsConfig{}, &receiver->router_,
                                            Random::Secure(), &receiver->registry_));
  RETURN_IF_ERROR(receiver->server_->Start());
  return receiver;
}

HookReceiver::~HookReceiver() {
  if (server_) server_->Stop();
}

http::Response HookReceiver::Handle(const http::Request& r) {
  std::unique_lock<std::mutex> lock(mu_);
  const int status = calls_ < statuses_.size() ? statuses_[calls_] : 200;
  ++calls_;
  Received rec;
  rec.body = r.body;
  rec.json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  rec.content_type = std::string(r.Header("Content-Type").value_or(""));
  rec.signature = std::string(r.Header(kSignatureHeader).value_or(""));
  rec.nanomdm_signature = std::string(r.Header(kNanoMdmSignatureHeader).value_or(""));
  rec.status = status;
  received_.push_back(std::move(rec));
  // Hold the worker while blocked (bounded, so a broken test cannot hang forever).
  for (int i = 0; i < 500 && blocked_; ++i) {
    lock.unlock();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    lock.lock();
  }
  return http::Response::Text(status, "ok");
}

std::string HookReceiver::url() const {
  return "http://127.0.0.1:" + std::to_string(server_ ? server_->ports().http : 0) + "/hook";
}

std::vector<HookReceiver::Received> HookReceiver::received() const {
  std::lock_guard<std::mutex> lock(mu_);
  return received_;
}

std::vector<HookReceiver::Received> HookReceiver::WaitFor(
    size_t n, const std::function<bool(const Received&)>& match,
    std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<Received> found;
  while (true) {
    found.clear();
    for (Received& r : received()) {
      if (match(r)) found.push_back(std::move(r));
    }
    if (found.size() >= n || std::chrono::steady_clock::now() >= deadline) return found;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace custos::webhook::testing
