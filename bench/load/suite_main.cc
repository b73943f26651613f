// legwise_load_suite: starts the whole suite on loopback (a real redis-server and the three
// executables) and measures each main RPC as req/s and p50/p99 latency next to the same server's
// grpc.health.v1.Health/Check in the same run; optionally soaks the suite at a fixed rate and
// compares each process's memory at start and end. Writes a Markdown report.
//
//   legwise_load_suite --seconds=5 --inflight=32 --soak_minutes=10 --soak_rate=200 \
//       --out=bench/RESULTS.md
//
// With --soak_abuse, triage and reminder run in production mode (JWT), every legitimate call
// carries a valid token, and during the soak bench/abuse/soak_abusers.sh attacks from other
// loopback addresses (slow readers, forged tokens, idle connections, malformed messages, unknown
// methods). The report then adds RSS every 30 s: flat memory and no failed legitimate call.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <map>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/load/load.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/create_channel.h"
#include "legwise/content/v1/content.pb.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/common/config.h"
#include "tests/support/process.h"
#include "tests/support/test_keys.h"

namespace legwise::bench {
namespace {

namespace lt = ::legwise::testing;
constexpr char kHealth[] = "/grpc.health.v1.Health/Check";

int64_t RssKb(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

triage::v1::AssessLegSymptomsRequest TriageRequest() {
  triage::v1::AssessLegSymptomsRequest r;
  r.mutable_pregnancy()->set_gestational_age_weeks(30);
  auto* s1 = r.add_symptoms();
  s1->set_kind(triage::v1::SYMPTOM_KIND_LEG_SWELLING);
  s1->set_side(triage::v1::SIDE_LEFT);
  s1->set_site(triage::v1::BODY_SITE_CALF);
  auto* s2 = r.add_symptoms();
  s2->set_kind(triage::v1::SYMPTOM_KIND_LEG_TENDERNESS);
  s2->set_side(triage::v1::SIDE_LEFT);
  s2->set_site(triage::v1::BODY_SITE_CALF);
  return r;
}

content::v1::GetGuidanceRequest GuidanceRequest() {
  content::v1::GetGuidanceRequest r;
  r.set_topic_id("leg-cramps");
  r.set_locale("es");
  r.mutable_context()->set_stands_for_long_periods(true);
  return r;
}

content::v1::LookupGuidanceByCodeRequest LookupRequest() {
  content::v1::LookupGuidanceByCodeRequest r;
  r.set_code_system(content::v1::CODE_SYSTEM_ICD10CM);
  r.set_code("O22.33");
  return r;
}

reminder::v1::ReminderPlan Plan(const std::string& user) {
  reminder::v1::ReminderPlan p;
  p.set_user_id(user);
  p.set_time_zone("Europe/Madrid");
  p.mutable_wake_time()->set_hours(7);
  p.mutable_sleep_time()->set_hours(22);
  p.mutable_sleep_time()->set_minutes(30);
  p.add_kinds(reminder::v1::NUDGE_KIND_HYDRATION);
  p.add_kinds(reminder::v1::NUDGE_KIND_STRETCHING);
  p.add_kinds(reminder::v1::NUDGE_KIND_MOVEMENT_BREAK);
  p.add_kinds(reminder::v1::NUDGE_KIND_BEDTIME_STRETCH);
  auto* shift = p.add_work_shifts();
  for (int d = 1; d <= 5; ++d) shift->add_days(static_cast<reminder::v1::DayOfWeek>(d));
  shift->mutable_start()->set_hours(17);
  shift->mutable_end()->set_hours(23);
  shift->set_standing(true);
  return p;
}

struct Scenario {
  std::string name;
  lt::ServiceProcess* server;
  std::string method;
  RequestMaker request;
};

std::string Row(const std::string& name, const LoadResult& r, const LoadResult& health) {
  return absl::StrFormat("| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %d |\n", name,
                         r.requests_per_second, r.p50_us, r.p99_us, health.requests_per_second,
                         r.requests_per_second / health.requests_per_second, r.failed);
}

int Main(int argc, char** argv) {
  int seconds = 5, inflight = 32, soak_minutes = 0, soak_rate = 200;
  bool soak_abuse = false;
  std::string out = "bench/RESULTS.md";
  std::string only;
  FlagSet flags("legwise_load_suite");
  flags.AddInt("seconds", &seconds, "Seconds per measurement (each is taken twice, interleaved).",
               1, 600);
  flags.AddInt("inflight", &inflight, "Concurrent calls in the closed loop.", 1, 4096);
  flags.AddInt("soak_minutes", &soak_minutes, "Minutes of fixed-rate soak (0 = none).", 0, 600);
  flags.AddInt("soak_rate", &soak_rate, "Soak calls per second, spread over every RPC.", 1, 100000);
  flags.AddBool("soak_abuse", &soak_abuse,
                "Production mode (JWT) and attackers during the soak (bench/abuse/soak_abusers.sh).");
  flags.AddString("out", &out, "Markdown report to write.");
  flags.AddString("only", &only, "Measure only the RPCs whose name contains this (\"\" = all).");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok() || flags.help_requested()) {
    std::cerr << s.message() << "\n" << flags.Usage();
    return s.ok() ? 0 : 2;
  }

  lt::RedisServer redis;
  if (!redis.Start().ok()) return 1;
  // Rate limits are for callers, not for this load generator.
  const std::string no_limit = "--rate_limit_per_second=0";
  lt::ServiceProcess content("legwise-content", {"--redis_addr=" + redis.address(), no_limit});
  if (!content.Start().ok()) return 1;
  // --soak_abuse: the servers attackers reach verify tokens (content stays on loopback, as the
  // services' own downstream).
  constexpr char kIssuer[] = "legwise-soak", kAudience[] = "legwise";
  std::unique_ptr<lt::SigningKey> key = lt::SigningKey::Ec("soak");
  std::vector<std::string> auth_flags;
  if (soak_abuse) {
    std::string dir = lt::TempDir("legwise-soak-");
    auth_flags = {"--jwks_file=" + lt::WriteFile(dir, "jwks.json", lt::Jwks({key.get()})),
                  std::string("--jwt_issuer=") + kIssuer,
                  std::string("--jwt_audience=") + kAudience};
  }
  // "Bearer <jwt>" for `subject` in --soak_abuse mode, "" otherwise.
  auto bearer = [&](const std::string& subject, const std::string& scope = "") -> std::string {
    if (!soak_abuse) return "";
    return "Bearer " + key->Sign(lt::Claims(kIssuer, kAudience, subject, absl::Hours(3), scope));
  };
  auto with_auth = [&](std::vector<std::string> args) {
    args.insert(args.end(), auth_flags.begin(), auth_flags.end());
    return args;
  };
  lt::ServiceProcess triage("legwise-triage",
                            with_auth({"--content_addr=" + content.address(), no_limit}));
  lt::ServiceProcess reminder(
      "legwise-reminder", with_auth({"--redis_addr=" + redis.address(),
                                     "--content_addr=" + content.address(), no_limit}));
  if (!triage.Start().ok() || !reminder.Start().ok()) return 1;
  for (lt::ServiceProcess* p : {&content, &triage, &reminder}) {
    if (!lt::WaitForHealth(p->channel().get(), "", true, absl::Seconds(20)).ok()) {
      std::cerr << "not ready: " << p->log_path() << "\n";
      return 1;
    }
  }
  // One plan to list nudges of.
  {
    auto stub = reminder::v1::ReminderService::NewStub(reminder.channel());
    grpc::ClientContext ctx;
    if (soak_abuse) ctx.AddMetadata("authorization", bearer("load-reader"));
    reminder::v1::CreateReminderPlanRequest req;
    *req.mutable_plan() = Plan("load-reader");
    reminder::v1::CreateReminderPlanResponse resp;
    grpc::Status s = stub->CreateReminderPlan(&ctx, req, &resp);
    if (!s.ok()) std::cerr << "CreateReminderPlan: " << s.error_message() << "\n";
  }
  reminder::v1::ListUpcomingNudgesRequest list;
  list.set_user_id("load-reader");
  list.set_page_size(50);
  const std::string run = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  // A new user for every call across all runs (the loops restart their call numbers).
  auto next_user = std::make_shared<std::atomic<int64_t>>(0);
  RequestMaker create = [run, next_user, &bearer](int64_t) {
    reminder::v1::CreateReminderPlanRequest req;
    const std::string user = absl::StrCat("load-", run, "-", next_user->fetch_add(1));
    *req.mutable_plan() = Plan(user);
    return Request{req.SerializeAsString(), bearer(user)};
  };
  const std::string service = bearer("load-service", "legwise.service");

  std::vector<Scenario> scenarios = {
      {"AssessLegSymptoms", &triage, "/legwise.triage.v1.TriageService/AssessLegSymptoms",
       Fixed(TriageRequest(), service)},
      {"GetGuidance (cached)", &content, "/legwise.content.v1.ContentService/GetGuidance",
       Fixed(GuidanceRequest())},
      {"LookupGuidanceByCode", &content, "/legwise.content.v1.ContentService/LookupGuidanceByCode",
       Fixed(LookupRequest())},
      {"ListUpcomingNudges", &reminder, "/legwise.reminder.v1.ReminderService/ListUpcomingNudges",
       Fixed(list, bearer("load-reader"))},
      {"CreateReminderPlan", &reminder, "/legwise.reminder.v1.ReminderService/CreateReminderPlan",
       create},
  };

  std::ostringstream report;
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  report << "# legwise load results\n\n"
         << "Measured " << absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone())
         << " on " << host << " (" << sysconf(_SC_NPROCESSORS_ONLN) << " cores, "
         << sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGE_SIZE) / (1 << 30)
         << " GiB), the whole suite "
         << "on loopback with a real redis-server, closed loop with " << inflight
         << " calls in flight, " << seconds << " s per measurement, each RPC measured twice "
         << "interleaved with the same server's Health/Check.\n\n"
         << "| RPC | req/s | p50 us | p99 us | Health/Check req/s | ratio | failed |\n"
         << "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  const grpc::health::v1::HealthCheckRequest health_req;
  for (const Scenario& sc : scenarios) {
    if (!absl::StrContains(sc.name, only)) continue;
    auto channel = sc.server->channel();
    RunClosedLoop(channel, sc.method, sc.request, inflight, absl::Seconds(1));  // warm up
    LoadResult h{}, r{};
    for (int round = 0; round < 2; ++round) {
      LoadResult hh =
          RunClosedLoop(channel, kHealth, Fixed(health_req), inflight, absl::Seconds(seconds));
      LoadResult rr =
          RunClosedLoop(channel, sc.method, sc.request, inflight, absl::Seconds(seconds));
      h.requests_per_second += hh.requests_per_second / 2;
      r.requests_per_second += rr.requests_per_second / 2;
      r.p50_us = std::max(r.p50_us, rr.p50_us);
      r.p99_us = std::max(r.p99_us, rr.p99_us);
      r.failed += rr.failed;
    }
    report << Row(sc.name, r, h);
    std::cout << Row(sc.name, r, h) << std::flush;
  }
  report << "\n(p50/p99: the worse of the two rounds. ratio = RPC req/s / Health/Check req/s.)\n";

  if (soak_minutes > 0) {
    struct Proc {
      const char* name;
      lt::ServiceProcess* p;
      int64_t start_kb = 0;
    } procs[] = {{"legwise-triage", &triage},
                 {"legwise-content", &content},
                 {"legwise-reminder", &reminder}};
    // Warm up at the soak rate first, so start-up allocations do not count as growth.
    auto soak = [&](absl::Duration d) {
      std::vector<std::thread> threads;
      std::vector<LoadResult> results(scenarios.size());
      for (size_t i = 0; i < scenarios.size(); ++i) {
        threads.emplace_back([&, i] {
          results[i] = RunFixedRate(scenarios[i].server->channel(), scenarios[i].method,
                                    scenarios[i].request,
                                    static_cast<double>(soak_rate) / scenarios.size(), d);
        });
      }
      for (auto& t : threads) t.join();
      return results;
    };
    // Attackers start before the warm-up, so that what they make the servers allocate once
    // (connections, buffers) is in the start figure and only growth counts.
    lt::Subprocess abusers;
    const std::string abuse_log = lt::LogDir() + "/soak-abusers.log";
    if (soak_abuse) {
      const std::string forged =
          lt::SigningKey::Ec("soak")->Sign(lt::Claims(kIssuer, kAudience, "ana", absl::Hours(3)));
      const std::string attacker = bearer("mallory").substr(7);
      if (absl::Status s = abusers.Start({"/bin/bash", std::string(LEGWISE_SOURCE_DIR) +
                                                           "/bench/abuse/soak_abusers.sh",
                                          absl::StrCat(triage.port()),
                                          absl::StrCat(reminder.port()), attacker, forged},
                                         {}, abuse_log);
          !s.ok()) {
        std::cerr << "abusers: " << s << "\n";
        return 1;
      }
    }
    soak(absl::Minutes(1));
    for (Proc& p : procs) p.start_kb = RssKb(p.p->process().pid());
    // RSS every 30 s while the soak runs.
    std::vector<std::vector<int64_t>> rss_series(std::size(procs));
    std::atomic<bool> soaking{true};
    std::thread sampler([&] {
      while (soaking.load()) {
        for (size_t i = 0; i < std::size(procs); ++i) {
          rss_series[i].push_back(RssKb(procs[i].p->process().pid()));
        }
        for (int t = 0; t < 300 && soaking.load(); ++t) absl::SleepFor(absl::Milliseconds(100));
      }
    });
    std::vector<LoadResult> results = soak(absl::Minutes(soak_minutes));
    soaking = false;
    sampler.join();
    if (soak_abuse) {
      abusers.Signal(SIGTERM);
      if (!abusers.Wait(absl::Seconds(30)).ok()) abusers.Kill();
      // Long enough for cut-off connections to be gone and freed heap to be trimmed.
      absl::SleepFor(absl::Seconds(15));
    }
    report << "\n## Soak\n\n"
           << soak_minutes << " minutes at " << soak_rate
           << " calls/s spread over the five RPCs (after a 1-minute warm-up at the same rate)"
           << (soak_abuse ? ", under attack; RSS at end is 15 s after the attackers stopped" : "")
           << ".\n\n"
           << "| process | RSS at start (KiB) | RSS at end (KiB) | growth |\n| --- | ---: | ---: | "
              "---: |\n";
    for (Proc& p : procs) {
      int64_t end_kb = RssKb(p.p->process().pid());
      report << absl::StrFormat("| %s | %d | %d | %+.1f%% |\n", p.name, p.start_kb, end_kb,
                                100.0 * (end_kb - p.start_kb) / std::max<int64_t>(1, p.start_kb));
    }
    report << "\nRSS (MiB) every 30 s:\n\n";
    for (size_t i = 0; i < std::size(procs); ++i) {
      report << "- " << procs[i].name << ":";
      for (int64_t kb : rss_series[i]) report << " " << kb / 1024;
      report << "\n";
    }
    if (soak_abuse) {
      // Rounds each attacker completed, from its log.
      std::ifstream in(abuse_log);
      std::map<std::string, int> rounds;
      for (std::string line; std::getline(in, line);) ++rounds[line.substr(0, line.find(' '))];
      report << "\nAttack rounds completed (bench/abuse/soak_abusers.sh, last round's figures in "
             << abuse_log << "):";
      for (const auto& [name, n] : rounds) report << " " << name << " " << n << ";";
      report << "\n";
    }
    report << "\n| RPC | calls | failed | p50 us | p99 us |\n| --- | ---: | ---: | ---: | ---: |\n";
    for (size_t i = 0; i < scenarios.size(); ++i) {
      report << absl::StrFormat("| %s | %d | %d | %.0f | %.0f |\n", scenarios[i].name,
                                results[i].completed, results[i].failed, results[i].p50_us,
                                results[i].p99_us);
    }
  }
  std::ofstream(out) << report.str();
  std::cout << "wrote " << out << "\n";
  return 0;
}

}  // namespace
}  // namespace legwise::bench

int main(int argc, char** argv) { return legwise::bench::Main(argc, argv); }
