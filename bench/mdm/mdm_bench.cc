// bench/mdm helper (see run.sh): enrolls N simulated devices (tests/devicesim) at a running
// `custos serve` and writes a wrk Lua script that sends each device's signed Idle (one signature
// per device, made once and reused: the load generator shares the server's 2 cores; custos still
// verifies every request in full). With --roundtrips it then measures command round trips: an API
// enqueue (nopush) per device, then Idle -> command -> Acknowledged, from `--threads` threads.
//
//   mdm_bench --url http://127.0.0.1:PORT --devices N --lua FILE [--api-key K --roundtrips R]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/devicesim/device_sim.h"

namespace {

using custos::devicesim::Device;
using custos::devicesim::DeviceOptions;
using custos::devicesim::HttpClient;
using custos::devicesim::ReceivedCommand;

struct Args {
  std::string url;
  int devices = 100;
  std::string lua;
  std::string api_key;
  int roundtrips = 0;  // per device
  int threads = 2;
};

bool Parse(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--url") a->url = v;
    else if (k == "--devices") a->devices = std::stoi(v);
    else if (k == "--lua") a->lua = v;
    else if (k == "--api-key") a->api_key = v;
    else if (k == "--roundtrips") a->roundtrips = std::stoi(v);
    else if (k == "--threads") a->threads = std::stoi(v);
    else return false;
  }
  return !a->url.empty() && !a->lua.empty() && a->devices > 0;
}

std::string CommandPlist(const std::string& uuid) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST "
         "1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">"
         "<dict><key>CommandUUID</key><string>" + uuid + "</string><key>Command</key><dict>"
         "<key>RequestType</key><string>ProfileList</string></dict></dict></plist>\n";
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!Parse(argc, argv, &args)) {
    std::cerr << "usage: mdm_bench --url URL --devices N --lua FILE [--api-key K --roundtrips R "
                 "--threads T]\n";
    return 2;
  }
  std::vector<std::unique_ptr<Device>> devices(args.devices);
  std::vector<custos::devicesim::SignedBody> idle(args.devices);
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::mutex err_mu;
  auto t0 = std::chrono::steady_clock::now();
  auto enroll = [&] {
    for (int i = next++; i < args.devices; i = next++) {
      DeviceOptions o;
      o.base_url = args.url;
      auto d = std::make_unique<Device>(o);
      custos::Status s = d->DownloadProfile(args.url + "/mdm/enroll");
      if (s.ok()) s = d->EnrollScep();
      if (s.ok()) {
        auto a = d->Authenticate();
        s = !a.ok() ? a.status()
                    : a->status == 200 ? custos::OkStatus()
                                       : custos::InternalError("Authenticate " +
                                                               std::to_string(a->status) + " " +
                                                               a->body);
      }
      if (s.ok()) {
        auto t = d->TokenUpdate();
        s = !t.ok() ? t.status()
                    : t->status == 200 ? custos::OkStatus()
                                       : custos::InternalError("TokenUpdate " +
                                                               std::to_string(t->status));
      }
      if (s.ok()) {
        auto signed_idle = d->SignedIdle();
        if (signed_idle.ok()) {
          idle[i] = std::move(signed_idle).value();
          // The prepared request is checked once before the load run.
          auto r = d->Send(false, idle[i].body, &idle[i].signature);
          if (!r.ok() || r->status != 200) {
            s = custos::InternalError("signed Idle not accepted: " +
                                      (r.ok() ? std::to_string(r->status) + " " + r->body
                                              : r.status().ToString()));
          }
        } else {
          s = signed_idle.status();
        }
      }
      if (!s.ok()) {
        failures++;
        std::lock_guard<std::mutex> lock(err_mu);
        std::cerr << "device " << i << ": " << s << "\n";
        continue;
      }
      devices[i] = std::move(d);
    }
  };
  std::vector<std::thread> workers;
  for (int t = 0; t < args.threads; ++t) workers.emplace_back(enroll);
  for (auto& w : workers) w.join();
  workers.clear();
  double enroll_secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (failures > 0) {
    std::cerr << failures << " of " << args.devices << " devices failed to enroll\n";
    return 1;
  }
  std::printf("enrolled %d devices (profile, SCEP, Authenticate, TokenUpdate) in %.1f s\n",
              args.devices, enroll_secs);

  // The wrk script: one pre-formatted request per device, sent round-robin.
  std::ofstream lua(args.lua);
  lua << "-- generated by bench/mdm/mdm_bench: one signed Idle per simulated device\n"
         "local devices = {\n";
  for (const auto& s : idle) {
    lua << "  {sig = \"" << s.signature << "\", body = [==[" << s.body << "]==]},\n";
  }
  lua << "}\n"
         "local requests = {}\n"
         "local i = 0\n"
         "function init(args)\n"
         "  for k, d in ipairs(devices) do\n"
         "    requests[k] = wrk.format(\"PUT\", \"/mdm/connect\", {\n"
         "      [\"Content-Type\"] = \"application/x-apple-aspen-mdm\",\n"
         "      [\"Mdm-Signature\"] = d.sig}, d.body)\n"
         "  end\n"
         "  i = math.random(#requests) - 1\n"
         "end\n"
         "function request()\n"
         "  i = (i % #requests) + 1\n"
         "  return requests[i]\n"
         "end\n"
         "local bad = 0\n"
         "function response(status, headers, body)\n"
         "  if status ~= 200 then bad = bad + 1 end\n"
         "end\n";
  lua.close();

  if (args.roundtrips > 0 && !args.api_key.empty()) {
    // Command round trips: enqueue (API, nopush) then Idle -> command -> Acknowledged.
    HttpClient api;
    std::vector<double> latencies_ms;
    std::mutex lat_mu;
    std::atomic<int> bad{0};
    auto rt0 = std::chrono::steady_clock::now();
    for (int round = 0; round < args.roundtrips; ++round) {
      for (int i = 0; i < args.devices; ++i) {
        std::string uuid = "BENCH-" + std::to_string(round) + "-" + std::to_string(i);
        auto r = api.Request("PUT", args.url + "/v1/enqueue/" + devices[i]->udid() + "?nopush=1",
                             CommandPlist(uuid), {"Authorization: Bearer " + args.api_key});
        if (!r.ok() || r->status != 200) bad++;
      }
      next = 0;
      auto work = [&] {
        std::vector<double> mine;
        for (int i = next++; i < args.devices; i = next++) {
          auto start = std::chrono::steady_clock::now();
          std::optional<ReceivedCommand> cmd;
          auto r = devices[i]->Idle(&cmd);
          if (!r.ok() || r->status != 200 || !cmd.has_value()) {
            bad++;
            continue;
          }
          auto ack = devices[i]->Acknowledged(cmd->command_uuid, &cmd);
          if (!ack.ok() || ack->status != 200) bad++;
          mine.push_back(std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - start)
                             .count());
        }
        std::lock_guard<std::mutex> lock(lat_mu);
        latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
      };
      for (int t = 0; t < args.threads; ++t) workers.emplace_back(work);
      for (auto& w : workers) w.join();
      workers.clear();
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - rt0).count();
    std::printf("command round trips (enqueue + Idle + Acknowledged, each device signing every "
                "request, %d client threads): %zu in %.2f s = %.0f/s, p50 %.2f ms, p99 %.2f ms, "
                "%d errors\n",
                args.threads, latencies_ms.size(), secs, latencies_ms.size() / secs,
                Percentile(latencies_ms, 0.5), Percentile(latencies_ms, 0.99), bad.load());
    if (bad > 0) return 1;
  }
  return 0;
}
