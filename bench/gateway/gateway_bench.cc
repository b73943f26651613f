// JSON over HTTP/1.1 through legwise-gateway against direct gRPC, in the same run, interleaved:
//  1. throughput of POST /v1/triage:assess on keep-alive connections (libcurl, one connection per
//     caller) vs AssessLegSymptoms over gRPC with the same number of calls in flight; target >=
//     0.5;
//  2. added latency at a fixed 1,000 req/s: p99 through the gateway minus p99 of direct gRPC at the
//     same rate (latency counted from each call's scheduled start); target < 2 ms.
// Starts legwise-content (no Redis) and legwise-triage and legwise-gateway on loopback.
// Usage: gateway_bench [--seconds=5] [--inflight=16] [--rounds=2] [--rate=1000]
#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/load/load.h"
#include "google/protobuf/util/json_util.h"
#include "legwise/triage/v1/triage.pb.h"
#include "tests/support/process.h"

namespace {

using legwise::bench::LoadResult;

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

struct Sample {
  std::vector<double> latencies_us;
  int64_t failed = 0;
};

double Percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  std::sort(v->begin(), v->end());
  size_t i = std::min(v->size() - 1, static_cast<size_t>(p * v->size()));
  return (*v)[i];
}

// One keep-alive connection per caller; `interval` = 0: closed loop, else one call per interval
// with latency counted from the scheduled start.
LoadResult RunHttp(int port, const std::string& body, int callers, absl::Duration duration,
                   absl::Duration interval) {
  std::vector<Sample> samples(callers);
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now() + absl::Milliseconds(50);
  const absl::Time end = start + duration;
  const std::string url = absl::StrCat("http://127.0.0.1:", port, "/v1/triage:assess");
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      CURL* h = curl_easy_init();
      curl_slist* hdr = curl_slist_append(nullptr, "Content-Type: application/json");
      hdr = curl_slist_append(hdr, "Expect:");
      curl_easy_setopt(h, CURLOPT_URL, url.c_str());
      curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.c_str());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
      curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &Discard);
      curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
      absl::Time next = start + interval * c / std::max(1, callers);
      absl::SleepFor(std::max(absl::ZeroDuration(), next - absl::Now()));
      while (true) {
        absl::Time scheduled = interval > absl::ZeroDuration() ? next : absl::Now();
        if (scheduled >= end) break;
        if (interval > absl::ZeroDuration()) {
          absl::SleepFor(std::max(absl::ZeroDuration(), scheduled - absl::Now()));
        }
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200) {
          samples[c].failed++;
        } else {
          samples[c].latencies_us.push_back(absl::ToDoubleMicroseconds(absl::Now() - scheduled));
        }
        next += interval * callers;
        if (interval == absl::ZeroDuration() && absl::Now() >= end) break;
      }
      curl_slist_free_all(hdr);
      curl_easy_cleanup(h);
    });
  }
  for (auto& t : threads) t.join();
  std::vector<double> all;
  LoadResult r;
  for (auto& s : samples) {
    all.insert(all.end(), s.latencies_us.begin(), s.latencies_us.end());
    r.failed += s.failed;
  }
  r.completed = static_cast<int64_t>(all.size());
  r.requests_per_second = r.completed / absl::ToDoubleSeconds(duration);
  r.p50_us = Percentile(&all, 0.50);
  r.p99_us = Percentile(&all, 0.99);
  return r;
}

int Flag(int argc, char** argv, const std::string& name, int def) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string p = "--" + name + "=";
    int v;
    if (a.rfind(p, 0) == 0 && absl::SimpleAtoi(a.substr(p.size()), &v)) return v;
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const int seconds = Flag(argc, argv, "seconds", 5);
  const int inflight = Flag(argc, argv, "inflight", 16);
  const int rounds = Flag(argc, argv, "rounds", 2);
  const int rate = Flag(argc, argv, "rate", 1000);
  curl_global_init(CURL_GLOBAL_ALL);

  using legwise::testing::ServiceProcess;
  ServiceProcess content("legwise-content",
                         {"--redis_addr=127.0.0.1:1", "--rate_limit_per_second=0"});
  if (!content.Start().ok()) return 1;
  ServiceProcess triage("legwise-triage",
                        {"--content_addr=" + content.address(), "--rate_limit_per_second=0"});
  if (!triage.Start().ok()) return 1;
  ServiceProcess gateway(
      "legwise-gateway",
      {"--triage_addr=" + triage.address(), "--content_addr=" + content.address(),
       "--reminder_addr=127.0.0.1:1", absl::StrCat("--probe_port=", legwise::testing::FreePort()),
       "--rate_limit_per_second=0",
       absl::StrCat("--http_max_connections=", std::max(64, inflight * 2))});
  if (!gateway.Start().ok()) return 1;

  legwise::triage::v1::AssessLegSymptomsRequest req;
  req.mutable_pregnancy()->set_gestational_age_weeks(30);
  auto* s = req.add_symptoms();
  s->set_kind(legwise::triage::v1::SYMPTOM_KIND_MUSCLE_CRAMP);
  s->set_side(legwise::triage::v1::SIDE_LEFT);
  s->set_site(legwise::triage::v1::BODY_SITE_CALF);
  req.add_symptoms()->set_kind(legwise::triage::v1::SYMPTOM_KIND_WORSE_IN_EVENING);
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(req, &json);
  const std::string method = "/legwise.triage.v1.TriageService/AssessLegSymptoms";
  auto channel = triage.channel();
  const absl::Duration d = absl::Seconds(seconds);

  std::printf("# gateway bench: %d s per run, %d in flight, %d rounds, fixed rate %d/s\n", seconds,
              inflight, rounds, rate);
  std::printf(
      "| run | direct gRPC req/s | HTTP/1.1 JSON req/s | ratio | gRPC p50/p99 us | HTTP p50/p99 us "
      "|\n");
  std::printf("| --- | --- | --- | --- | --- | --- |\n");
  for (int r = 0; r < rounds; ++r) {
    LoadResult g =
        legwise::bench::RunClosedLoop(channel, method, legwise::bench::Fixed(req), inflight, d);
    LoadResult h = RunHttp(gateway.port(), json, inflight, d, absl::ZeroDuration());
    std::printf("| closed loop %d | %.0f | %.0f | %.2f | %.0f / %.0f | %.0f / %.0f |\n", r + 1,
                g.requests_per_second, h.requests_per_second,
                h.requests_per_second / std::max(1.0, g.requests_per_second), g.p50_us, g.p99_us,
                h.p50_us, h.p99_us);
    if (g.failed + h.failed > 0) {
      std::printf("(failed: gRPC %lld, HTTP %lld)\n", static_cast<long long>(g.failed),
                  static_cast<long long>(h.failed));
    }
  }
  std::printf("\n| run at %d/s | gRPC p50/p99 us | HTTP p50/p99 us | added p99 ms |\n", rate);
  std::printf("| --- | --- | --- | --- |\n");
  for (int r = 0; r < rounds; ++r) {
    LoadResult g =
        legwise::bench::RunFixedRate(channel, method, legwise::bench::Fixed(req), rate, d);
    // 8 keep-alive connections share the rate (a browser-like fan-in through one gateway).
    LoadResult h = RunHttp(gateway.port(), json, 8, d, absl::Seconds(1) / rate);
    std::printf("| fixed rate %d | %.0f / %.0f | %.0f / %.0f | %.2f |\n", r + 1, g.p50_us, g.p99_us,
                h.p50_us, h.p99_us, (h.p99_us - g.p99_us) / 1000);
    if (g.failed + h.failed > 0) {
      std::printf("(failed: gRPC %lld, HTTP %lld)\n", static_cast<long long>(g.failed),
                  static_cast<long long>(h.failed));
    }
  }
  return 0;
}
