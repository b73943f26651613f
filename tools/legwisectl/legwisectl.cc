// legwisectl: a command-line client for every legwise RPC. Readable output by default, --json for
// scripts. Run `legwisectl help` for the commands.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "services/common/security.h"
#include "services/common/validation.h"
#include "services/reminder/planner/nudge_kinds.h"

namespace legwise::cli {
namespace {

namespace triage = ::legwise::triage::v1;
namespace content = ::legwise::content::v1;
namespace reminder = ::legwise::reminder::v1;
namespace health = ::grpc::health::v1;

constexpr char kUsage[] = R"(legwisectl: talk to the legwise services.

usage: legwisectl [global flags] COMMAND [flags]

global flags:
  --triage_addr=HOST:PORT    (default 127.0.0.1:50051, env LEGWISE_TRIAGE_ADDR)
  --content_addr=HOST:PORT   (default 127.0.0.1:50052, env LEGWISE_CONTENT_ADDR)
  --reminder_addr=HOST:PORT  (default 127.0.0.1:50053, env LEGWISE_REMINDER_ADDR)
  --timeout=DURATION         per call (default 5s)
  --json                     print the response as JSON
  --tls_ca_file=PEM          talk TLS, trusting this CA (env LEGWISE_TLS_CA_FILE)
  --tls_cert_file=PEM --tls_key_file=PEM   client certificate for mTLS
  --token=JWT                send "authorization: Bearer JWT" (env LEGWISE_TOKEN)

commands:
  health                               health of all three services and their dependencies
  triage --symptom KIND[:SIDE[:SITE[:SEVERITY[:sudden]]]]... [--weeks N | --postpartum N]
         [--bp SYS/DIA] [--temp C] [--calf CM] [--risk RISK,...] [--locale es] [--guidance]
                                       e.g. --symptom leg_swelling:left:calf --symptom leg_tenderness:left:calf
  rules                                the triage rule set
  guidance TOPIC [--locale L] [--weeks N] [--postpartum N] [--standing] [--etag E]
  lookup icd10|snomed CODE [--locale L]  guidance for a diagnosis code
  topics [--locale L] [--page_size N] [--page_token T]
  nudge-texts [--locale L]
  plan create|update --user U --tz ZONE --wake HH:MM --sleep HH:MM --kinds hydration,stretching,...
         [--water ML] [--max N] [--locale L] [--etag E]
         [--shift DAYS@HH:MM-HH:MM[:standing]]...   e.g. --shift mon,tue,fri@17:00-23:30:standing
  plan get|delete --user U
  nudges --user U [--hours H]          upcoming nudges
  stream --user U                      due nudges, live; reconnects without gaps (Ctrl-C to stop)
  ack --user U --nudge ID
  snooze --user U --nudge ID --minutes M
  water --user U --ml ML
  device register --user U (--apns TOKEN [--sandbox] | --fcm TOKEN
                            | --web_push ENDPOINT --p256dh KEY --auth SECRET) [--locale L]
  device list --user U                 her push devices (tokens shortened; --json for all)
  device unregister --user U --device ID

SYMPTOM kinds are the SymptomKind names without the prefix, lower case (listed below), and so are
RISK factors (RCOG Green-top 37a; a major one with any leg symptom makes it at least urgent).
SIDE: left, right, both, unknown. SITE: calf, thigh, foot_or_ankle, whole_leg.
)";

// ---- argument handling ----

struct Args {
  std::vector<std::string> positional;
  std::multimap<std::string, std::string> flags;

  bool Has(const std::string& name) const { return flags.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def = "") const {
    auto it = flags.find(name);
    return it == flags.end() ? def : it->second;
  }
  std::vector<std::string> All(const std::string& name) const {
    std::vector<std::string> out;
    for (auto [it, end] = flags.equal_range(name); it != end; ++it) out.push_back(it->second);
    return out;
  }
};

const std::vector<std::string> kBoolFlags = {"json", "guidance", "standing", "help", "sandbox"};

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (absl::StartsWith(a, "--")) {
      std::string name = a.substr(2), value;
      if (size_t eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (std::find(kBoolFlags.begin(), kBoolFlags.end(), name) != kBoolFlags.end()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      }
      args.flags.emplace(name, value);
    } else {
      args.positional.push_back(a);
    }
  }
  return args;
}

class UsageError {
 public:
  explicit UsageError(std::string m) : message(std::move(m)) {}
  std::string message;
};

// Parse failures return false with a message, never throw.
bool ParseInt(const std::string& text, const std::string& flag, int* out, std::string* error) {
  if (!absl::SimpleAtoi(text, out)) {
    *error = absl::StrCat("--", flag, " must be a whole number, got '", text, "'");
    return false;
  }
  return true;
}

template <typename Enum>
bool ParseEnum(const google::protobuf::EnumDescriptor* desc, const std::string& prefix,
               const std::string& text, Enum* out) {
  std::string name = absl::StrCat(prefix, absl::AsciiStrToUpper(text));
  const google::protobuf::EnumValueDescriptor* v = desc->FindValueByName(name);
  if (v == nullptr || v->number() == 0) return false;
  *out = static_cast<Enum>(v->number());
  return true;
}

std::string EnumShort(const google::protobuf::EnumDescriptor* desc, int value,
                      const std::string& prefix) {
  const google::protobuf::EnumValueDescriptor* v = desc->FindValueByNumber(value);
  if (v == nullptr) return absl::StrCat(value);
  std::string name = v->name();
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  return absl::AsciiStrToLower(name);
}

// ---- output ----

struct Context {
  Args args;
  absl::Duration timeout = absl::Seconds(5);
  bool json = false;
};

void PrintJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  auto status = google::protobuf::util::MessageToJsonString(m, &out, options);
  std::cout << out;
}

int PrintError(const grpc::Status& status) {
  absl::Status s = FromGrpcStatus(status);
  std::cerr << "error: " << absl::StatusCodeToString(s.code()) << ": " << s.message() << "\n";
  for (const auto& v : GetFieldViolations(s)) {
    std::cerr << "  - " << v.field << ": " << v.description << "\n";
  }
  if (std::string reason = GetErrorReason(s); !reason.empty()) {
    std::cerr << "  reason: " << reason << "\n";
  }
  return 1;
}

// A flag, else its LEGWISE_ environment variable, else "".
std::string FlagOrEnv(const Context& ctx, const std::string& flag) {
  std::string env = absl::StrCat("LEGWISE_", absl::AsciiStrToUpper(flag));
  const char* e = std::getenv(env.c_str());
  return ctx.args.Get(flag, e == nullptr ? "" : e);
}

std::unique_ptr<grpc::ClientContext> NewContext(const Context& ctx) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->set_deadline(absl::ToChronoTime(absl::Now() + ctx.timeout));
  if (std::string token = FlagOrEnv(ctx, "token"); !token.empty()) {
    c->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
  return c;
}

std::shared_ptr<grpc::Channel> ChannelFor(const Context& ctx, const std::string& service) {
  std::map<std::string, std::string> defaults = {{"triage", "127.0.0.1:50051"},
                                                 {"content", "127.0.0.1:50052"},
                                                 {"reminder", "127.0.0.1:50053"}};
  std::string flag = service + "_addr";
  std::string addr = defaults[service];
  std::string env = absl::StrCat("LEGWISE_", absl::AsciiStrToUpper(flag));
  if (const char* e = std::getenv(env.c_str())) addr = e;
  addr = ctx.args.Get(flag, addr);
  ClientTlsOptions tls;
  tls.ca_file = FlagOrEnv(ctx, "tls_ca_file");
  tls.cert_file = FlagOrEnv(ctx, "tls_cert_file");
  tls.key_file = FlagOrEnv(ctx, "tls_key_file");
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds = MakeChannelCredentials(tls);
  if (!creds.ok()) throw UsageError(std::string(creds.status().message()));
  return grpc::CreateChannel(addr, *creds);
}

const char* UrgencyWords(triage::Urgency u) {
  switch (u) {
    case triage::URGENCY_EMERGENCY:
      return "EMERGENCY - call the emergency number now";
    case triage::URGENCY_URGENT:
      return "URGENT - contact your maternity unit or doctor now, today";
    case triage::URGENCY_ROUTINE:
      return "ROUTINE - raise it with your midwife or doctor within days";
    case triage::URGENCY_SELF_CARE:
      return "SELF-CARE - manage at home with the guidance";
    default:
      return "UNSPECIFIED";
  }
}

// Every value of an enum but the zero one, without the prefix, lower case, comma separated.
std::string EnumList(const google::protobuf::EnumDescriptor* d, const std::string& prefix) {
  std::vector<std::string> names;
  for (int i = 0; i < d->value_count(); ++i) {
    if (d->value(i)->number() != 0) names.push_back(EnumShort(d, d->value(i)->number(), prefix));
  }
  return absl::StrJoin(names, ", ");
}

const char* CareWords(content::CareLevel level) {
  switch (level) {
    case content::CARE_LEVEL_EMERGENCY:
      return " [emergency]";
    case content::CARE_LEVEL_URGENT:
      return " [now]";
    case content::CARE_LEVEL_ROUTINE:
      return " [within days]";
    default:
      return "";
  }
}

void PrintGuidance(const content::Guidance& g) {
  std::cout << "== " << g.title() << " [" << g.topic_id() << ", " << g.locale() << "]\n";
  std::cout << g.summary() << "\n";
  for (const std::string& note : g.personal_notes()) std::cout << "  * " << note << "\n";
  for (const content::Section& s : g.sections()) {
    std::cout << "\n  " << s.heading() << "\n";
    for (const content::Tip& t : s.tips()) {
      std::cout << "   - " << t.text() << CareWords(t.care_level());
      if (t.ask_clinician_first()) std::cout << " [ask your doctor or midwife first]";
      std::cout << "\n";
      if (!t.evidence_note().empty()) std::cout << "       (" << t.evidence_note() << ")\n";
    }
  }
  if (!g.sources().empty())
    std::cout << "\n  Sources: " << absl::StrJoin(g.sources(), "; ") << "\n";
  std::cout << "  version " << g.version() << ", etag " << g.etag() << "\n";
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

// A nudge kind's name from the kind table ("hydration"), or its number when unknown.
std::string KindName(int k) {
  if (!legwise::reminder::IsNudgeKind(k)) return absl::StrCat(k);
  return legwise::reminder::KindInfo(static_cast<legwise::reminder::NudgeKind>(k)).name;
}

void PrintNudge(const reminder::Nudge& n) {
  std::cout << n.local_time() << "  " << KindName(n.kind()) << "  " << n.title()
            << (n.acknowledged() ? "  (done)" : "") << "\n    " << n.body() << "\n    id "
            << n.nudge_id() << "\n";
}

void PrintPlan(const reminder::ReminderPlan& p) {
  auto hm = [](const reminder::LocalTime& t) {
    return absl::StrFormat("%02d:%02d", t.hours(), t.minutes());
  };
  std::vector<std::string> kinds;
  for (int k : p.kinds()) kinds.push_back(KindName(k));
  std::cout << "plan for " << p.user_id() << " (" << p.time_zone() << ", " << p.locale() << ")\n"
            << "  awake " << hm(p.wake_time()) << " - " << hm(p.sleep_time())
            << " (quiet hours outside)\n"
            << "  nudges: " << absl::StrJoin(kinds, ", ") << "\n"
            << "  water target: "
            << (p.daily_water_target_ml() == 0 ? 2300 : p.daily_water_target_ml()) << " ml/day\n";
  for (const reminder::WorkShift& s : p.work_shifts()) {
    std::vector<std::string> days;
    for (int d : s.days())
      days.push_back(EnumShort(reminder::DayOfWeek_descriptor(), d, "DAY_OF_WEEK_"));
    std::cout << "  shift " << absl::StrJoin(days, ",") << " " << hm(s.start()) << "-"
              << hm(s.end()) << (s.standing() ? " standing" : "") << "\n";
  }
  std::cout << "  etag " << p.etag() << "\n";
}

// ---- commands ----

int Health(const Context& ctx) {
  int failures = 0;
  std::map<std::string, std::vector<std::string>> deps = {
      {"triage", {"dependency/content"}},
      {"content", {"dependency/redis"}},
      {"reminder", {"dependency/redis", "dependency/content"}}};
  for (const std::string svc : {"triage", "content", "reminder"}) {
    auto stub = health::Health::NewStub(ChannelFor(ctx, svc));
    std::vector<std::string> names = {""};
    names.insert(names.end(), deps[svc].begin(), deps[svc].end());
    std::vector<std::string> parts;
    bool overall_ok = false;
    for (const std::string& name : names) {
      health::HealthCheckRequest req;
      req.set_service(name);
      health::HealthCheckResponse resp;
      auto c = NewContext(ctx);
      grpc::Status s = stub->Check(c.get(), req, &resp);
      std::string state = s.ok() ? health::HealthCheckResponse::ServingStatus_Name(resp.status())
                                 : absl::StrCat("unreachable (", s.error_message(), ")");
      if (name.empty()) {
        overall_ok = s.ok() && resp.status() == health::HealthCheckResponse::SERVING;
        parts.insert(parts.begin(), state);
      } else {
        parts.push_back(absl::StrCat(name.substr(name.find('/') + 1), ": ", state));
      }
    }
    if (!overall_ok) ++failures;
    std::cout << absl::StrFormat("%-9s %s", svc, parts[0]);
    if (parts.size() > 1) {
      std::cout << "  (" << absl::StrJoin(parts.begin() + 1, parts.end(), ", ") << ")";
    }
    std::cout << "\n";
  }
  return failures == 0 ? 0 : 1;
}

int Triage(const Context& ctx) {
  triage::AssessLegSymptomsRequest req;
  std::string error;
  int n = 0;
  if (ctx.args.Has("weeks") && !ParseInt(ctx.args.Get("weeks"), "weeks", &n, &error))
    throw UsageError(error);
  req.mutable_pregnancy()->set_gestational_age_weeks(n);
  n = 0;
  if (ctx.args.Has("postpartum") && !ParseInt(ctx.args.Get("postpartum"), "postpartum", &n, &error))
    throw UsageError(error);
  req.mutable_pregnancy()->set_postpartum_weeks(n);
  for (const std::string& spec : ctx.args.All("symptom")) {
    std::vector<std::string> parts = absl::StrSplit(spec, ':');
    triage::Symptom* s = req.add_symptoms();
    triage::SymptomKind kind;
    if (!ParseEnum(triage::SymptomKind_descriptor(), "SYMPTOM_KIND_", parts[0], &kind)) {
      throw UsageError(absl::StrCat("unknown symptom '", parts[0], "' (see legwisectl help)"));
    }
    s->set_kind(kind);
    if (parts.size() > 1 && parts[1] != "unknown" && !parts[1].empty()) {
      triage::Side side;
      if (!ParseEnum(triage::Side_descriptor(), "SIDE_", parts[1], &side)) {
        throw UsageError(
            absl::StrCat("unknown side '", parts[1], "': left, right, both or unknown"));
      }
      s->set_side(side);
    }
    if (parts.size() > 2 && !parts[2].empty()) {
      triage::BodySite site;
      if (!ParseEnum(triage::BodySite_descriptor(), "BODY_SITE_", parts[2], &site)) {
        throw UsageError(
            absl::StrCat("unknown site '", parts[2], "': calf, thigh, foot_or_ankle, whole_leg"));
      }
      s->set_site(site);
    }
    if (parts.size() > 3 && !parts[3].empty()) {
      int sev;
      if (!ParseInt(parts[3], "symptom severity", &sev, &error)) throw UsageError(error);
      s->set_severity(sev);
    }
    if (parts.size() > 4) s->set_sudden_onset(parts[4] == "sudden");
  }
  if (ctx.args.Has("bp")) {
    std::vector<std::string> bp = absl::StrSplit(ctx.args.Get("bp"), '/');
    int sys = 0, dia = 0;
    if (bp.size() != 2 || !absl::SimpleAtoi(bp[0], &sys) || !absl::SimpleAtoi(bp[1], &dia)) {
      throw UsageError("--bp must look like 150/95");
    }
    req.mutable_measurements()->set_systolic_bp_mmhg(sys);
    req.mutable_measurements()->set_diastolic_bp_mmhg(dia);
  }
  float f;
  if (ctx.args.Has("temp")) {
    if (!absl::SimpleAtof(ctx.args.Get("temp"), &f)) throw UsageError("--temp must be a number");
    req.mutable_measurements()->set_temperature_c(f);
  }
  if (ctx.args.Has("calf")) {
    if (!absl::SimpleAtof(ctx.args.Get("calf"), &f)) throw UsageError("--calf must be a number");
    req.mutable_measurements()->set_calf_circumference_difference_cm(f);
  }
  for (const std::string& list : ctx.args.All("risk")) {
    for (absl::string_view name : absl::StrSplit(list, ',', absl::SkipEmpty())) {
      triage::RiskFactor risk;
      if (!ParseEnum(triage::RiskFactor_descriptor(), "RISK_FACTOR_", std::string(name), &risk)) {
        throw UsageError(absl::StrCat("unknown risk factor '", name, "' (see legwisectl help)"));
      }
      req.add_risk_factors(risk);
    }
  }
  req.set_locale(ctx.args.Get("locale"));
  req.set_include_guidance(ctx.args.Has("guidance"));
  auto stub = triage::TriageService::NewStub(ChannelFor(ctx, "triage"));
  triage::AssessLegSymptomsResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->AssessLegSymptoms(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
    return 0;
  }
  std::cout << UrgencyWords(resp.urgency()) << "\n" << resp.summary() << "\n";
  if (!resp.suspected_conditions().empty()) std::cout << "\nSuspected:\n";
  for (const auto& sc : resp.suspected_conditions()) {
    std::vector<std::string> codes;
    for (const auto& code : sc.codes()) {
      codes.push_back(absl::StrCat(
          absl::StrContains(code.system(), "snomed") ? "SNOMED " : "ICD-10-CM ", code.code()));
    }
    std::cout << "  " << EnumShort(triage::Condition_descriptor(), sc.condition(), "CONDITION_")
              << "  [" << absl::StrJoin(codes, ", ") << "]\n";
  }
  std::cout << "\nRules that fired:\n";
  for (const auto& hit : resp.rule_hits()) {
    std::cout << "  " << EnumShort(triage::Urgency_descriptor(), hit.urgency(), "URGENCY_") << "  "
              << hit.rule_id() << ": " << hit.explanation() << "\n";
    if (!hit.risk_factors().empty()) {
      std::vector<std::string> risks;
      for (int r : hit.risk_factors()) {
        risks.push_back(EnumShort(triage::RiskFactor_descriptor(), r, "RISK_FACTOR_"));
      }
      std::cout << "      risk factors: " << absl::StrJoin(risks, ", ") << "\n";
    }
    if (!hit.sources().empty())
      std::cout << "      sources: " << absl::StrJoin(hit.sources(), "; ") << "\n";
  }
  if (resp.left_score().evaluated()) {
    const auto& l = resp.left_score();
    std::cout << "\nLEFt score " << l.total() << "/3 (L " << (l.left_leg() ? "yes" : "no") << ", E "
              << (l.edema() ? "yes" : "no") << ", Ft " << (l.first_trimester() ? "yes" : "no")
              << "): for clinicians; it never lowers the urgency\n";
  }
  if (!resp.follow_up_questions().empty()) {
    std::cout << "\nWhat would change this:\n";
    for (const auto& q : resp.follow_up_questions()) std::cout << "  ? " << q << "\n";
  }
  if (req.include_guidance()) {
    if (resp.guidance_degraded()) std::cout << "\n(guidance unavailable right now)\n";
    for (const auto& g : resp.guidance()) {
      std::cout << "\n";
      PrintGuidance(g);
    }
  }
  std::cout << "\nrule set " << resp.rule_set_version() << "\n";
  return 0;
}

int Rules(const Context& ctx) {
  auto stub = triage::TriageService::NewStub(ChannelFor(ctx, "triage"));
  triage::GetRuleSetRequest req;
  req.set_locale(ctx.args.Get("locale"));
  triage::GetRuleSetResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->GetRuleSet(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
    return 0;
  }
  std::cout << "rule set " << resp.version() << " (" << resp.rules_size() << " rules)\n";
  for (const auto& r : resp.rules()) {
    std::cout << absl::StrFormat("  %-10s %s\n",
                                 EnumShort(triage::Urgency_descriptor(), r.urgency(), "URGENCY_"),
                                 r.rule_id())
              << "             " << r.description() << "\n";
  }
  return 0;
}

content::PersonalContext PersonalFromArgs(const Context& ctx) {
  content::PersonalContext pc;
  std::string error;
  int n;
  if (ctx.args.Has("weeks")) {
    if (!ParseInt(ctx.args.Get("weeks"), "weeks", &n, &error)) throw UsageError(error);
    pc.set_gestational_age_weeks(n);
  }
  if (ctx.args.Has("postpartum")) {
    if (!ParseInt(ctx.args.Get("postpartum"), "postpartum", &n, &error)) throw UsageError(error);
    pc.set_postpartum_weeks(n);
  }
  pc.set_stands_for_long_periods(ctx.args.Has("standing"));
  return pc;
}

int Guidance(const Context& ctx) {
  if (ctx.args.positional.size() < 2) throw UsageError("usage: legwisectl guidance TOPIC");
  content::GetGuidanceRequest req;
  req.set_topic_id(ctx.args.positional[1]);
  req.set_locale(ctx.args.Get("locale"));
  *req.mutable_context() = PersonalFromArgs(ctx);
  req.set_if_none_match(ctx.args.Get("etag"));
  auto stub = content::ContentService::NewStub(ChannelFor(ctx, "content"));
  content::GetGuidanceResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->GetGuidance(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
  } else if (resp.not_modified()) {
    std::cout << "not modified (your copy with etag " << req.if_none_match() << " is current)\n";
  } else {
    PrintGuidance(resp.guidance());
  }
  return 0;
}

int Lookup(const Context& ctx) {
  if (ctx.args.positional.size() < 3)
    throw UsageError("usage: legwisectl lookup icd10|snomed CODE");
  content::LookupGuidanceByCodeRequest req;
  const std::string& system = ctx.args.positional[1];
  if (system == "icd10" || system == "icd10cm") {
    req.set_code_system(content::CODE_SYSTEM_ICD10CM);
  } else if (system == "snomed" || system == "snomedct") {
    req.set_code_system(content::CODE_SYSTEM_SNOMEDCT);
  } else {
    throw UsageError("code system must be icd10 or snomed");
  }
  req.set_code(ctx.args.positional[2]);
  req.set_locale(ctx.args.Get("locale"));
  auto stub = content::ContentService::NewStub(ChannelFor(ctx, "content"));
  content::LookupGuidanceByCodeResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->LookupGuidanceByCode(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
    return 0;
  }
  std::cout << resp.guidance_size() << " topic(s) for " << resp.normalized_code() << "\n";
  for (const auto& g : resp.guidance()) {
    std::cout << "\n";
    PrintGuidance(g);
  }
  return 0;
}

int Topics(const Context& ctx) {
  content::ListTopicsRequest req;
  std::string error;
  int n = 0;
  if (ctx.args.Has("page_size") && !ParseInt(ctx.args.Get("page_size"), "page_size", &n, &error))
    throw UsageError(error);
  req.set_page_size(n);
  req.set_page_token(ctx.args.Get("page_token"));
  req.set_locale(ctx.args.Get("locale"));
  auto stub = content::ContentService::NewStub(ChannelFor(ctx, "content"));
  content::ListTopicsResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->ListTopics(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
    return 0;
  }
  for (const auto& t : resp.topics())
    std::cout << absl::StrFormat("  %-30s %s\n", t.topic_id(), t.title());
  if (!resp.next_page_token().empty())
    std::cout << "next page: --page_token=" << resp.next_page_token() << "\n";
  return 0;
}

int NudgeTexts(const Context& ctx) {
  content::ListNudgeTextsRequest req;
  req.set_locale(ctx.args.Get("locale"));
  auto stub = content::ContentService::NewStub(ChannelFor(ctx, "content"));
  content::ListNudgeTextsResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->ListNudgeTexts(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
    return 0;
  }
  for (const auto& t : resp.nudge_texts()) {
    std::cout << absl::StrFormat("  %-16s %s\n  %-16s %s\n", t.nudge_type(), t.title(), "",
                                 t.body());
  }
  return 0;
}

reminder::LocalTime ParseHm(const std::string& text, const std::string& flag) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  int h, m;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &h) || !absl::SimpleAtoi(parts[1], &m)) {
    throw UsageError(absl::StrCat("--", flag, " must look like 07:30"));
  }
  reminder::LocalTime t;
  t.set_hours(h);
  t.set_minutes(m);
  return t;
}

reminder::ReminderPlan PlanFromArgs(const Context& ctx) {
  reminder::ReminderPlan p;
  p.set_user_id(ctx.args.Get("user"));
  p.set_time_zone(ctx.args.Get("tz"));
  if (ctx.args.Has("wake")) *p.mutable_wake_time() = ParseHm(ctx.args.Get("wake"), "wake");
  if (ctx.args.Has("sleep")) *p.mutable_sleep_time() = ParseHm(ctx.args.Get("sleep"), "sleep");
  for (absl::string_view k : absl::StrSplit(ctx.args.Get("kinds"), ',', absl::SkipEmpty())) {
    const legwise::reminder::NudgeKindInfo* info = legwise::reminder::KindByName(k);
    if (info == nullptr) {
      std::vector<std::string> names;
      for (const auto& row : legwise::reminder::kNudgeKinds) names.push_back(row.name);
      throw UsageError(absl::StrCat("unknown nudge kind '", k, "': ", absl::StrJoin(names, ", ")));
    }
    p.add_kinds(static_cast<reminder::NudgeKind>(static_cast<int>(info->kind)));
  }
  std::string error;
  int n;
  if (ctx.args.Has("water")) {
    if (!ParseInt(ctx.args.Get("water"), "water", &n, &error)) throw UsageError(error);
    p.set_daily_water_target_ml(n);
  }
  if (ctx.args.Has("max")) {
    if (!ParseInt(ctx.args.Get("max"), "max", &n, &error)) throw UsageError(error);
    p.set_max_nudges_per_day(n);
  }
  p.set_locale(ctx.args.Get("locale"));
  p.set_etag(ctx.args.Get("etag"));
  std::map<std::string, reminder::DayOfWeek> days = {
      {"mon", reminder::DAY_OF_WEEK_MONDAY},    {"tue", reminder::DAY_OF_WEEK_TUESDAY},
      {"wed", reminder::DAY_OF_WEEK_WEDNESDAY}, {"thu", reminder::DAY_OF_WEEK_THURSDAY},
      {"fri", reminder::DAY_OF_WEEK_FRIDAY},    {"sat", reminder::DAY_OF_WEEK_SATURDAY},
      {"sun", reminder::DAY_OF_WEEK_SUNDAY}};
  for (const std::string& spec : ctx.args.All("shift")) {
    // DAYS@HH:MM-HH:MM[:standing]
    std::vector<std::string> at = absl::StrSplit(spec, '@');
    if (at.size() != 2) throw UsageError("--shift must look like mon,tue@09:00-17:00:standing");
    reminder::WorkShift* shift = p.add_work_shifts();
    for (absl::string_view d : absl::StrSplit(at[0], ',', absl::SkipEmpty())) {
      auto it = days.find(absl::AsciiStrToLower(d));
      if (it == days.end()) throw UsageError(absl::StrCat("unknown day '", d, "': mon..sun"));
      shift->add_days(it->second);
    }
    std::string times = at[1];
    if (absl::EndsWith(times, ":standing")) {
      shift->set_standing(true);
      times = times.substr(0, times.size() - 9);
    }
    std::vector<std::string> range = absl::StrSplit(times, '-');
    if (range.size() != 2) throw UsageError("--shift times must look like 09:00-17:00");
    *shift->mutable_start() = ParseHm(range[0], "shift");
    *shift->mutable_end() = ParseHm(range[1], "shift");
  }
  return p;
}

int Plan(const Context& ctx) {
  if (ctx.args.positional.size() < 2)
    throw UsageError("usage: legwisectl plan create|get|update|delete");
  const std::string& verb = ctx.args.positional[1];
  auto stub = reminder::ReminderService::NewStub(ChannelFor(ctx, "reminder"));
  auto c = NewContext(ctx);
  grpc::Status s;
  reminder::ReminderPlan plan;
  if (verb == "create") {
    reminder::CreateReminderPlanRequest req;
    *req.mutable_plan() = PlanFromArgs(ctx);
    reminder::CreateReminderPlanResponse resp;
    s = stub->CreateReminderPlan(c.get(), req, &resp);
    plan = resp.plan();
  } else if (verb == "update") {
    reminder::UpdateReminderPlanRequest req;
    *req.mutable_plan() = PlanFromArgs(ctx);
    reminder::UpdateReminderPlanResponse resp;
    s = stub->UpdateReminderPlan(c.get(), req, &resp);
    plan = resp.plan();
  } else if (verb == "get") {
    reminder::GetReminderPlanRequest req;
    req.set_user_id(ctx.args.Get("user"));
    reminder::GetReminderPlanResponse resp;
    s = stub->GetReminderPlan(c.get(), req, &resp);
    plan = resp.plan();
  } else if (verb == "delete") {
    reminder::DeleteReminderPlanRequest req;
    req.set_user_id(ctx.args.Get("user"));
    reminder::DeleteReminderPlanResponse resp;
    s = stub->DeleteReminderPlan(c.get(), req, &resp);
    if (s.ok() && !ctx.json) std::cout << "deleted\n";
    if (s.ok() && ctx.json) PrintJson(resp);
    return s.ok() ? 0 : PrintError(s);
  } else {
    throw UsageError("plan verbs: create, get, update, delete");
  }
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(plan);
  } else {
    PrintPlan(plan);
  }
  return 0;
}

int Nudges(const Context& ctx) {
  reminder::ListUpcomingNudgesRequest req;
  req.set_user_id(ctx.args.Get("user"));
  int hours = 24;
  std::string error;
  if (ctx.args.Has("hours") && !ParseInt(ctx.args.Get("hours"), "hours", &hours, &error))
    throw UsageError(error);
  absl::Time now = absl::Now();
  req.mutable_start_time()->set_seconds(absl::ToUnixSeconds(now));
  req.mutable_end_time()->set_seconds(absl::ToUnixSeconds(now + absl::Hours(hours)));
  req.set_page_size(200);
  auto stub = reminder::ReminderService::NewStub(ChannelFor(ctx, "reminder"));
  reminder::ListUpcomingNudgesResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->ListUpcomingNudges(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
    return 0;
  }
  std::cout << resp.nudges_size() << " nudge(s) in the next " << hours << " h\n";
  for (const auto& n : resp.nudges()) PrintNudge(n);
  return 0;
}

std::atomic<bool> g_interrupted{false};
extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

// Follows her nudges until Ctrl-C (exit 0, nothing printed). When the stream ends for any reason
// but a refusal (the server's max_connection_age, a restart, a network change), it reconnects
// with the resume_token of the last nudge shown, so nothing is missed or shown twice.
int Stream(const Context& ctx) {
  reminder::StreamNudgesRequest req;
  req.set_user_id(ctx.args.Get("user"));
  auto stub = reminder::ReminderService::NewStub(ChannelFor(ctx, "reminder"));
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  std::cout << "waiting for nudges for " << req.user_id() << " (Ctrl-C to stop)\n" << std::flush;
  absl::Duration backoff = absl::Milliseconds(250);
  while (!g_interrupted.load()) {
    auto c = NewContext(ctx);
    c->set_deadline(std::chrono::system_clock::time_point::max());  // live until Ctrl-C
    grpc::ClientContext* raw = c.get();
    std::atomic<bool> done{false};
    // Signal handlers may not touch gRPC: this thread turns the flag into a cancel.
    std::thread watcher([&] {
      while (!done.load() && !g_interrupted.load()) absl::SleepFor(absl::Milliseconds(50));
      if (g_interrupted.load()) raw->TryCancel();
    });
    auto reader = stub->StreamNudges(c.get(), req);
    reminder::Nudge n;
    bool got_any = false;
    while (reader->Read(&n)) {
      got_any = true;
      if (!n.resume_token().empty()) req.set_resume_token(n.resume_token());
      if (ctx.json) {
        PrintJson(n);
      } else {
        PrintNudge(n);
      }
      std::cout << std::flush;
    }
    grpc::Status s = reader->Finish();
    done.store(true);
    watcher.join();
    if (g_interrupted.load()) return 0;
    switch (s.error_code()) {
      case grpc::StatusCode::OK:
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::CANCELLED:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
      case grpc::StatusCode::INTERNAL:
      case grpc::StatusCode::UNKNOWN:
        break;  // reconnect
      default:
        return PrintError(s);  // refused: bad user, bad token, not allowed, too many streams
    }
    if (got_any) backoff = absl::Milliseconds(250);
    for (absl::Duration slept; slept < backoff && !g_interrupted.load();
         slept += absl::Milliseconds(50)) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    backoff = std::min(backoff * 2, absl::Seconds(10));
  }
  return 0;
}

int Ack(const Context& ctx) {
  reminder::AcknowledgeNudgeRequest req;
  req.set_user_id(ctx.args.Get("user"));
  req.set_nudge_id(ctx.args.Get("nudge"));
  auto stub = reminder::ReminderService::NewStub(ChannelFor(ctx, "reminder"));
  reminder::AcknowledgeNudgeResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->AcknowledgeNudge(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  std::cout << (ctx.json ? "{}\n" : "done\n");
  return 0;
}

int Snooze(const Context& ctx) {
  reminder::SnoozeNudgeRequest req;
  req.set_user_id(ctx.args.Get("user"));
  req.set_nudge_id(ctx.args.Get("nudge"));
  int minutes = 0;
  std::string error;
  if (!ParseInt(ctx.args.Get("minutes"), "minutes", &minutes, &error)) throw UsageError(error);
  req.set_minutes(minutes);
  auto stub = reminder::ReminderService::NewStub(ChannelFor(ctx, "reminder"));
  reminder::SnoozeNudgeResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->SnoozeNudge(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
  } else {
    std::cout << "snoozed; next:\n";
    PrintNudge(resp.nudge());
  }
  return 0;
}

int Water(const Context& ctx) {
  reminder::LogWaterIntakeRequest req;
  req.set_user_id(ctx.args.Get("user"));
  int ml = 0;
  std::string error;
  if (!ParseInt(ctx.args.Get("ml"), "ml", &ml, &error)) throw UsageError(error);
  req.set_amount_ml(ml);
  auto stub = reminder::ReminderService::NewStub(ChannelFor(ctx, "reminder"));
  reminder::LogWaterIntakeResponse resp;
  auto c = NewContext(ctx);
  grpc::Status s = stub->LogWaterIntake(c.get(), req, &resp);
  if (!s.ok()) return PrintError(s);
  if (ctx.json) {
    PrintJson(resp);
  } else {
    std::cout << resp.total_today_ml() << " of " << resp.daily_target_ml() << " ml today"
              << (resp.target_reached() ? " - target reached, well done" : "") << "\n";
    if (resp.cancelled_nudges() > 0) {
      std::cout << resp.cancelled_nudges() << " hydration nudge(s) dropped for today\n";
    }
  }
  return 0;
}

// The last few characters of a token, for a human to tell devices apart.
std::string Shortened(const std::string& token) {
  if (token.size() <= 8) return "...";
  return absl::StrCat("...", token.substr(token.size() - 6));
}

void PrintDevice(const reminder::Device& d) {
  std::cout << d.device_id() << "  ";
  switch (d.target_case()) {
    case reminder::Device::kApns:
      std::cout << "apns" << (d.apns().sandbox() ? " (sandbox)" : "") << " token "
                << Shortened(d.apns().device_token());
      break;
    case reminder::Device::kFcm:
      std::cout << "fcm token " << Shortened(d.fcm().registration_token());
      break;
    case reminder::Device::kWebPush: {
      std::string origin = d.web_push().endpoint();
      if (size_t p = origin.find("://"); p != std::string::npos) {
        if (size_t slash = origin.find('/', p + 3); slash != std::string::npos)
          origin.resize(slash);
      }
      std::cout << "web_push " << origin;
      break;
    }
    case reminder::Device::TARGET_NOT_SET:
      std::cout << "(no target)";
      break;
  }
  if (!d.locale().empty()) std::cout << "  locale " << d.locale();
  std::cout << "  since " << FormatTime(d.create_time()) << "\n";
}

int Device(const Context& ctx) {
  if (ctx.args.positional.size() < 2) {
    throw UsageError("usage: legwisectl device register|list|unregister --user U ...");
  }
  const std::string& verb = ctx.args.positional[1];
  auto stub = reminder::ReminderService::NewStub(ChannelFor(ctx, "reminder"));
  auto c = NewContext(ctx);
  if (verb == "register") {
    reminder::RegisterDeviceRequest req;
    req.set_user_id(ctx.args.Get("user"));
    reminder::Device* d = req.mutable_device();
    const int targets = ctx.args.Has("apns") + ctx.args.Has("fcm") + ctx.args.Has("web_push");
    if (targets != 1)
      throw UsageError("device register needs exactly one of --apns, --fcm, --web_push");
    if (ctx.args.Has("apns")) {
      d->mutable_apns()->set_device_token(ctx.args.Get("apns"));
      d->mutable_apns()->set_sandbox(ctx.args.Has("sandbox"));
    } else if (ctx.args.Has("fcm")) {
      d->mutable_fcm()->set_registration_token(ctx.args.Get("fcm"));
    } else {
      d->mutable_web_push()->set_endpoint(ctx.args.Get("web_push"));
      d->mutable_web_push()->set_p256dh(ctx.args.Get("p256dh"));
      d->mutable_web_push()->set_auth(ctx.args.Get("auth"));
    }
    if (ctx.args.Has("locale")) d->set_locale(ctx.args.Get("locale"));
    reminder::RegisterDeviceResponse resp;
    grpc::Status s = stub->RegisterDevice(c.get(), req, &resp);
    if (!s.ok()) return PrintError(s);
    if (ctx.json) {
      PrintJson(resp);
    } else {
      std::cout << "registered ";
      PrintDevice(resp.device());
    }
    return 0;
  }
  if (verb == "list") {
    reminder::ListDevicesRequest req;
    req.set_user_id(ctx.args.Get("user"));
    reminder::ListDevicesResponse resp;
    grpc::Status s = stub->ListDevices(c.get(), req, &resp);
    if (!s.ok()) return PrintError(s);
    if (ctx.json) {
      PrintJson(resp);
    } else if (resp.devices().empty()) {
      std::cout << "no devices\n";
    } else {
      for (const reminder::Device& d : resp.devices()) PrintDevice(d);
    }
    return 0;
  }
  if (verb == "unregister") {
    reminder::UnregisterDeviceRequest req;
    req.set_user_id(ctx.args.Get("user"));
    req.set_device_id(ctx.args.Get("device"));
    reminder::UnregisterDeviceResponse resp;
    grpc::Status s = stub->UnregisterDevice(c.get(), req, &resp);
    if (!s.ok()) return PrintError(s);
    if (ctx.json) {
      PrintJson(resp);
    } else {
      std::cout << "unregistered\n";
    }
    return 0;
  }
  throw UsageError("device verbs: register, list, unregister");
}

int Main(int argc, char** argv) {
  Context ctx;
  ctx.args = ParseArgs(argc, argv);
  ctx.json = ctx.args.Has("json");
  if (ctx.args.Has("timeout") && !absl::ParseDuration(ctx.args.Get("timeout"), &ctx.timeout)) {
    std::cerr << "--timeout must be a duration such as 5s\n";
    return 2;
  }
  if (ctx.args.positional.empty() || ctx.args.positional[0] == "help" || ctx.args.Has("help")) {
    std::cout << kUsage
              << "\nSYMPTOM: " << EnumList(triage::SymptomKind_descriptor(), "SYMPTOM_KIND_")
              << "\nRISK: " << EnumList(triage::RiskFactor_descriptor(), "RISK_FACTOR_") << "\n";
    return ctx.args.positional.empty() && !ctx.args.Has("help") ? 2 : 0;
  }
  const std::map<std::string, int (*)(const Context&)> commands = {{"health", Health},
                                                                   {"triage", Triage},
                                                                   {"rules", Rules},
                                                                   {"guidance", Guidance},
                                                                   {"lookup", Lookup},
                                                                   {"topics", Topics},
                                                                   {"nudge-texts", NudgeTexts},
                                                                   {"plan", Plan},
                                                                   {"nudges", Nudges},
                                                                   {"stream", Stream},
                                                                   {"ack", Ack},
                                                                   {"snooze", Snooze},
                                                                   {"water", Water},
                                                                   {"device", Device}};
  auto it = commands.find(ctx.args.positional[0]);
  if (it == commands.end()) {
    std::cerr << "unknown command '" << ctx.args.positional[0] << "'; try legwisectl help\n";
    return 2;
  }
  try {
    return it->second(ctx);
  } catch (const UsageError& e) {
    std::cerr << "legwisectl: " << e.message << "\n";
    return 2;
  }
}

}  // namespace
}  // namespace legwise::cli

int main(int argc, char** argv) { return legwise::cli::Main(argc, argv); }
