// AssessLegSymptoms throughput next to the same server's Health/Check, with the suite's closed-loop
// generic-stub load generator (bench/load): starts legwise-triage on a free port (no rate limit, no
// guidance asked), then alternates rounds of both methods and prints each round and the medians.
//
//   triage_rpc_load_bench --seconds=3 --rounds=7 --inflight=32
#include <algorithm>
#include <iostream>
#include <vector>

#include "absl/strings/str_format.h"
#include "bench/load/load.h"
#include "grpc/health/v1/health.pb.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/common/config.h"
#include "tests/support/process.h"

namespace legwise::bench {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main(int argc, char** argv) {
  int seconds = 3, rounds = 7, inflight = 32;
  FlagSet flags("triage_rpc_load_bench");
  flags.AddInt("seconds", &seconds, "Seconds per measurement.", 1, 600);
  flags.AddInt("rounds", &rounds, "Interleaved rounds of Health/Check and AssessLegSymptoms.", 1,
               100);
  flags.AddInt("inflight", &inflight, "Concurrent calls in the closed loop.", 1, 4096);
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.help_requested()) {
    std::cerr << s.message() << "\n" << flags.Usage();
    return s.ok() ? 0 : 2;
  }
  legwise::testing::ServiceProcess triage(
      "legwise-triage", {"--content_addr=127.0.0.1:" + std::to_string(legwise::testing::FreePort()),
                         "--rate_limit_per_second=0"});
  if (absl::Status s = triage.Start(); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  // Swelling and tenderness of the left calf at 30 weeks: an URGENT DVT answer (1.1 KB).
  triage::v1::AssessLegSymptomsRequest request;
  request.mutable_pregnancy()->set_gestational_age_weeks(30);
  for (auto kind :
       {triage::v1::SYMPTOM_KIND_LEG_SWELLING, triage::v1::SYMPTOM_KIND_LEG_TENDERNESS}) {
    auto* s = request.add_symptoms();
    s->set_kind(kind);
    s->set_side(triage::v1::SIDE_LEFT);
    s->set_site(triage::v1::BODY_SITE_CALF);
  }
  grpc::health::v1::HealthCheckRequest health_request;
  const absl::Duration d = absl::Seconds(seconds);
  std::vector<double> ratios;
  for (int r = 1; r <= rounds; ++r) {
    const LoadResult h = RunClosedLoop(triage.channel(), "/grpc.health.v1.Health/Check",
                                       Fixed(health_request), inflight, d);
    const LoadResult a =
        RunClosedLoop(triage.channel(), "/legwise.triage.v1.TriageService/AssessLegSymptoms",
                      Fixed(request), inflight, d);
    const double ratio = a.requests_per_second / h.requests_per_second;
    ratios.push_back(ratio);
    std::cout << absl::StrFormat(
        "round %d: Health/Check %.0f req/s (p50 %.0f us, p99 %.0f us, %d failed) | "
        "AssessLegSymptoms %.0f req/s (p50 %.0f us, p99 %.0f us, %d failed) | ratio %.3f\n",
        r, h.requests_per_second, h.p50_us, h.p99_us, h.failed, a.requests_per_second, a.p50_us,
        a.p99_us, a.failed, ratio);
  }
  std::cout << absl::StrFormat(
      "median ratio AssessLegSymptoms / Health.Check: %.3f (target >= 0.85)\n", Median(ratios));
  (void)triage.Terminate();
  return 0;
}

}  // namespace
}  // namespace legwise::bench

int main(int argc, char** argv) { return legwise::bench::Main(argc, argv); }
