#include "dep/syncer.h"

#include "base/logging.h"
#include "base/metrics.h"

namespace custos::dep {
namespace {

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::optional<Time> ParseAbmTime(const nlohmann::json& device, const char* key) {
  std::string s = Str(device, key);
  if (s.empty()) return std::nullopt;
  StatusOr<Time> t = ParseRfc3339(s);
  if (!t.ok()) return std::nullopt;
  return *t;
}

StatusOr<DepDeviceRecord> DeviceFromJson(std::string_view dep_name, const nlohmann::json& j,
                                         Time now) {
  if (!j.is_object()) return InvalidArgumentError("ABM device entry is not an object");
  DepDeviceRecord d;
  d.dep_name = dep_name;
  d.serial_number = Str(j, "serial_number");
  if (d.serial_number.empty()) return InvalidArgumentError("ABM device entry without serial_number");
  d.model = Str(j, "model");
  d.description = Str(j, "description");
  d.color = Str(j, "color");
  d.os = Str(j, "os");
  d.device_family = Str(j, "device_family");
  d.profile_status = Str(j, "profile_status");
  d.profile_uuid = Str(j, "profile_uuid");
  d.profile_assign_time = ParseAbmTime(j, "profile_assign_time");
  d.profile_push_time = ParseAbmTime(j, "profile_push_time");
  d.device_assigned_by = Str(j, "device_assigned_by");
  d.device_assigned_date = ParseAbmTime(j, "device_assigned_date");
  d.op_type = Str(j, "op_type");
  d.op_date = ParseAbmTime(j, "op_date");
  d.updated_at = now;
  return d;
}

Syncer::Syncer(DepService* service, std::string name, mdm::EventSink* sink, int page_limit)
    : service_(service), name_(std::move(name)), sink_(sink), page_limit_(page_limit) {}

Syncer::~Syncer() { Stop(); }

Status Syncer::StorePage(const DevicePage& page, bool fetch, bool fetch_done, AbmClient& client,
                         SyncStats& stats) {
  Time now = service_->clock()->Now();
  std::vector<DepDeviceRecord> devices;
  for (const auto& entry : page.devices) {
    StatusOr<DepDeviceRecord> d = DeviceFromJson(name_, entry, now);
    if (!d.ok()) {
      spdlog::warn("dep {}: skipping a device entry: {}", name_, d.status().ToString());
      continue;
    }
    devices.push_back(*std::move(d));
  }
  std::vector<std::string> to_assign;
  const std::string& default_profile = service_->config().default_profile_uuid;
  int new_devices = 0;
  RETURN_IF_ERROR(service_->storage()->Transact([&](Stores& s) {
    to_assign.clear();  // the transaction may run more than once
    new_devices = 0;
    for (const auto& d : devices) {
      ASSIGN_OR_RETURN(bool inserted, s.dep().UpsertDevice(d));
      if (inserted) ++new_devices;
      bool unassigned = d.profile_uuid.empty() && (d.profile_status.empty() || d.profile_status == "empty");
      if (!default_profile.empty() && (inserted || d.op_type == "added") && unassigned &&
          d.op_type != "deleted") {
        to_assign.push_back(d.serial_number);
      }
    }
    return s.dep().SetCursor(name_, page.cursor, fetch_done || !fetch, now);
  }));
  stats.new_devices += new_devices;
  stats.devices += static_cast<int>(devices.size());
  metrics::Default()
      .AddCounter("custos_dep_sync_devices_total", "Device entries received from ABM.", {"name", "op"})
      .WithLabels({name_, fetch ? "fetch" : "sync"})
      .Inc(static_cast<double>(devices.size()));
  if (sink_ != nullptr) {
    mdm::MdmEvent e;
    e.topic = fetch ? "dep.FetchDevices" : "dep.SyncDevices";
    e.event_id = service_->random()->Uuid();
    e.created_at = now;
    e.json_payload = page.raw;
    sink_->Publish(std::move(e));
  }
  if (!to_assign.empty()) {
    StatusOr<nlohmann::json> r = client.AssignProfile(default_profile, to_assign);
    if (r.ok()) {
      stats.assigned += static_cast<int>(to_assign.size());
      spdlog::info("dep {}: assigned profile {} to {} new device(s)", name_, default_profile,
                   to_assign.size());
    } else {
      spdlog::warn("dep {}: assigning profile {}: {}", name_, default_profile, r.status().ToString());
    }
  }
  return OkStatus();
}

StatusOr<SyncStats> Syncer::RunOnce() {
  SyncStats stats;
  ASSIGN_OR_RETURN(std::unique_ptr<AbmClient> client, service_->NewClient(name_));
  ASSIGN_OR_RETURN(DepNameInfo info, service_->Show(name_));
  std::string cursor = info.cursor;
  bool fetching = !info.fetch_completed;
  constexpr int kMaxPages = 100000;  // a server that never says "done" must not spin forever
  for (int pages = 0; pages < kMaxPages; ++pages) {
    StatusOr<DevicePage> page = fetching ? client->FetchDevices(cursor, page_limit_)
                                         : client->SyncDevices(cursor, page_limit_);
    if (!page.ok()) {
      if (IsCursorError(page.status()) && !stats.restarted) {
        spdlog::info("dep {}: {}; restarting with a fetch", name_, page.status().message());
        stats.restarted = true;
        cursor.clear();
        fetching = true;
        Time now = service_->clock()->Now();
        RETURN_IF_ERROR(service_->storage()->Transact(
            [&](Stores& s) { return s.dep().SetCursor(name_, "", false, now); }));
        continue;
      }
      return page.status();
    }
    bool done = !page->more_to_follow;
    (fetching ? stats.fetch_pages : stats.sync_pages)++;
    RETURN_IF_ERROR(StorePage(*page, fetching, fetching && done, *client, stats));
    if (!page->cursor.empty()) cursor = page->cursor;
    if (done) break;
  }
  spdlog::info("dep {}: {} fetch and {} sync page(s), {} device(s), {} new", name_,
               stats.fetch_pages, stats.sync_pages, stats.devices, stats.new_devices);
  return stats;
}

void Syncer::Start(Duration interval) {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      StatusOr<SyncStats> s = RunOnce();
      if (!s.ok()) spdlog::warn("dep {}: sync failed: {}", name_, s.status().ToString());
      lock.lock();
      cv_.wait_for(lock, interval, [this] { return stop_; });
    }
  });
}

void Syncer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

SyncManager::SyncManager(DepService* service, mdm::EventSink* sink, Duration interval)
    : service_(service), sink_(sink), interval_(interval) {}

SyncManager::~SyncManager() { Stop(); }

void SyncManager::Scan() {
  StatusOr<std::vector<DepNameInfo>> names = service_->List();
  if (!names.ok()) return;
  service_->CheckTokenExpiry();
  for (const DepNameInfo& n : *names) {
    if (n.consumer_key.empty() || syncers_.count(n.name) != 0) continue;
    auto syncer = std::make_unique<Syncer>(service_, n.name, sink_);
    syncer->Start(interval_);
    syncers_[n.name] = std::move(syncer);
  }
}

void SyncManager::Start() {
  if (interval_.count() <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      Scan();
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(60), [this] { return stop_; });
    }
  });
}

void SyncManager::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& [name, s] : syncers_) s->Stop();
}

}  // namespace custos::dep
