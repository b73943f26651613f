#include "services/gateway/cds/cds_service.h"

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "services/common/logging.h"
#include "services/common/metrics.h"
#include "services/gateway/transcoder.h"

namespace legwise::gateway {
namespace {

namespace tv1 = triage::v1;

std::string Uuid4() {
  thread_local absl::BitGen gen;
  uint64_t hi = absl::Uniform<uint64_t>(gen), lo = absl::Uniform<uint64_t>(gen);
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff,
                         lo >> 48, lo & 0xffffffffffffULL);
}

// At most `max` bytes, cut at a UTF-8 boundary, with an ellipsis when cut.
std::string Shorten(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max - 3;  // room for "…" (3 bytes)
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut) + "\xE2\x80\xA6";
}

std::string Markdown(absl::string_view s) {
  // Keep the EHR's markdown renderer from reading our text as markup.
  std::string out;
  for (char c : s) {
    if (absl::StrContains("\\`*_[]<>#|", c)) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

void Json(const google::protobuf::Message& m, HttpResponse* r) {
  // Every field printed, default values too: the CDS Hooks format is the HL7 spec's, not proto3
  // JSON (see JsonDefaults).
  absl::StatusOr<std::string> j = MessageToJson(m, JsonDefaults::kPrint);
  r->status = 200;
  r->headers.emplace_back("Content-Type", "application/json");
  r->body = j.ok() ? *j : "{}";
}

}  // namespace

cds::Discovery CdsDiscovery() {
  cds::Discovery d;
  for (const char* hook : {"patient-view", "encounter-start"}) {
    cds::ServiceDescriptor* s = d.add_services();
    s->set_hook(hook);
    s->set_id(absl::StrCat(kCdsServiceId, std::string(hook) == "patient-view" ? "" : "-encounter"));
    s->set_title("legwise: leg symptoms in pregnancy");
    s->set_description(
        "Checks the active findings, vital signs and pregnancy dates of a pregnant or postpartum "
        "patient for the red flags of a blood clot, pre-eclampsia, limb ischaemia and infection, "
        "and says how urgent it is, which rules fired and their sources.");
    auto& p = *s->mutable_prefetch();
    p["patient"] = "Patient/{{context.patientId}}";
    p["observations"] =
        "Observation?patient={{context.patientId}}&code=http://loinc.org|85354-9,"
        "http://loinc.org|8310-5,http://loinc.org|49051-6,http://loinc.org|11884-4,"
        "http://loinc.org|18185-9,http://loinc.org|93857-1&_sort=-date&_count=50";
    p["conditions"] =
        "Condition?patient={{context.patientId}}&clinical-status=active,recurrence,relapse"
        "&_count=100";
    s->set_usage_requirements(
        "Send all three prefetch keys; legwise does not query the FHIR server. The urgency is "
        "computed by the legwise triage rules, which never lower a level for missing data.");
  }
  return d;
}

cds::HookResponse CardsFor(const MappedPrefetch& mapped, const tv1::AssessLegSymptomsResponse* a,
                           const std::string& base_url) {
  cds::HookResponse resp;
  if (a == nullptr) {
    // Nothing assessed: a card only when we could not even look (no conditions prefetch).
    if (!mapped.has_conditions_prefetch) {
      cds::Card* c = resp.add_cards();
      c->set_uuid(Uuid4());
      c->set_indicator("info");
      c->set_summary("legwise could not check leg symptoms: the conditions prefetch is missing");
      std::string detail = "**Not assessed.** Missing data:\n\n";
      for (const std::string& m : mapped.missing) absl::StrAppend(&detail, "- ", m, "\n");
      c->set_detail(detail);
      c->mutable_source()->set_label("legwise triage");
      c->mutable_source()->set_url(base_url);
    }
    return resp;
  }
  cds::Card* c = resp.add_cards();
  c->set_uuid(Uuid4());
  switch (a->urgency()) {
    case tv1::URGENCY_EMERGENCY:
    case tv1::URGENCY_URGENT:
      c->set_indicator("critical");
      break;
    case tv1::URGENCY_ROUTINE:
      c->set_indicator("warning");
      break;
    default:
      c->set_indicator("info");
      break;
  }
  c->set_summary(Shorten(a->summary(), 139));
  std::string level(absl::StripPrefix(tv1::Urgency_Name(a->urgency()), "URGENCY_"));
  std::string d =
      absl::StrCat("**Urgency: ", level, "** (legwise rule set ", a->rule_set_version(), ")\n\n");
  if (a->rule_hits_size() > 0) {
    absl::StrAppend(&d, "**Rules that fired**\n\n");
    for (const tv1::RuleHit& h : a->rule_hits()) {
      std::string hl(absl::StripPrefix(tv1::Urgency_Name(h.urgency()), "URGENCY_"));
      absl::StrAppend(&d, "- `", h.rule_id(), "` (", hl, "): ", Markdown(h.explanation()));
      if (h.sources_size() > 0) {
        absl::StrAppend(&d, " Sources: ", Markdown(absl::StrJoin(h.sources(), "; ")), ".");
      }
      absl::StrAppend(&d, "\n");
    }
    absl::StrAppend(&d, "\n");
  }
  if (a->suspected_conditions_size() > 0) {
    absl::StrAppend(&d, "**Suspected**\n\n");
    for (const tv1::SuspectedCondition& s : a->suspected_conditions()) {
      std::vector<std::string> codes;
      for (const tv1::Coding& k : s.codes()) {
        codes.push_back(absl::StrCat(k.code(), " ", Markdown(k.display())));
      }
      std::string name(absl::StripPrefix(tv1::Condition_Name(s.condition()), "CONDITION_"));
      absl::StrAppend(&d, "- ", Markdown(name), codes.empty() ? "" : ": ",
                      absl::StrJoin(codes, ", "), "\n");
    }
    absl::StrAppend(&d, "\n");
  }
  if (a->left_score().evaluated()) {
    absl::StrAppend(&d, "**LEFt score** ", a->left_score().total(),
                    "/3 (shown for information; it never lowers the urgency)\n\n");
  }
  if (!mapped.missing.empty() || !mapped.unmapped.empty() || !mapped.notes.empty()) {
    absl::StrAppend(&d, "**Data not available or not used**\n\n");
    for (const std::string& m : mapped.missing) absl::StrAppend(&d, "- ", Markdown(m), "\n");
    for (const std::string& m : mapped.unmapped) {
      absl::StrAppend(&d, "- Not mapped: ", Markdown(m), "\n");
    }
    for (const std::string& m : mapped.notes) absl::StrAppend(&d, "- ", Markdown(m), "\n");
  }
  c->set_detail(d);
  c->mutable_source()->set_label(absl::StrCat("legwise triage, rule set ", a->rule_set_version()));
  c->mutable_source()->set_url(base_url);
  absl::flat_hash_set<std::string> topics;
  for (const tv1::SuspectedCondition& s : a->suspected_conditions()) {
    if (s.topic_id().empty() || !topics.insert(s.topic_id()).second) continue;
    cds::Link* l = c->add_links();
    l->set_label(absl::StrCat("Patient guidance: ", s.topic_id()));
    l->set_url(absl::StrCat(base_url, "/v1/topics/", s.topic_id(), "/guidance?locale=en"));
    l->set_type("absolute");
  }
  return resp;
}

bool CdsService::Admit(HttpRequest& request, const std::string& audience, HttpResponse* response) {
  if (options_.verifier == nullptr) {
    if (options_.development_allowed) return true;
    SetError(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "CDS clients are not configured (--cds_client_jwks_file)"),
             response);
    return false;
  }
  absl::optional<std::string> auth = request.Header("Authorization");
  absl::StatusOr<CdsClientVerifier::Client> client =
      options_.verifier->Verify(auth.value_or(""), audience, absl::Now());
  if (!client.ok()) {
    Metrics::Default().Increment("legwise_cds_refusals_total", {});
    LogWarning("cds_client_refused", {{"reason", std::string(client.status().message())}});
    SetError(grpc::Status(static_cast<grpc::StatusCode>(client.status().code()),
                          std::string(client.status().message())),
             response);
    response->headers.emplace_back("WWW-Authenticate", "Bearer");
    return false;
  }
  return true;
}

bool CdsService::Handle(HttpRequest& request, HttpWriter& writer, HttpResponse* base) {
  const std::string& path = request.raw_path();
  if (!absl::StartsWith(path, "/cds-services")) return false;
  HttpResponse& r = *base;
  const std::string service = absl::StrCat("/cds-services/", kCdsServiceId);
  if (path == "/cds-services" || path == "/cds-services/") {
    if (request.method() != "GET") {
      SetError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "use GET"), &r);
      r.status = 405;
    } else {
      Json(CdsDiscovery(), &r);
    }
  } else if (path == service || path == service + "-encounter") {
    if (request.method() != "POST") {
      SetError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "use POST"), &r);
      r.status = 405;
    } else if (Admit(request, options_.public_base_url + path, &r)) {
      Call(request, path == service ? "patient-view" : "encounter-start", &r);
    }
  } else if (path == service + "/feedback" || path == service + "-encounter/feedback") {
    if (request.method() != "POST") {
      SetError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "use POST"), &r);
      r.status = 405;
    } else if (Admit(request, options_.public_base_url + path, &r)) {
      Feedback(request, &r);
    }
  } else {
    SetError(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such CDS service"), &r);
  }
  writer.Send(r);
  return true;
}

void CdsService::Call(HttpRequest& request, absl::string_view expected_hook, HttpResponse* r) {
  std::string body;
  if (absl::Status s = request.ReadBody(&body); !s.ok()) {
    SetError(grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message())), r);
    if (s.code() == absl::StatusCode::kResourceExhausted) r->status = 413;
    return;
  }
  cds::HookRequest hook;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  if (auto s = google::protobuf::util::JsonStringToMessage(body, &hook, parse); !s.ok()) {
    SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("CDS request: ", s.message().ToString())),
             r);
    return;
  }
  if (hook.hook() != expected_hook) {
    SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("hook: this service answers ", expected_hook)),
             r);
    return;
  }
  if (hook.hook_instance().empty()) {
    SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "hookInstance: required"), r);
    return;
  }
  MappedPrefetch mapped = MapPrefetch(hook.prefetch(), table_, absl::Now());
  Metrics::Default().Increment("legwise_cds_calls_total", {{"hook", hook.hook()}});
  if (mapped.request.symptoms_size() == 0) {
    Json(CardsFor(mapped, nullptr, options_.public_base_url), r);
    return;
  }
  mapped.request.set_request_id(hook.hook_instance().substr(0, 128));
  tv1::AssessLegSymptomsResponse assessment;
  grpc::ClientContext ctx;
  // The EHR's JWT is for us (aud = this service), not for triage: the gateway calls triage with
  // its own backend credentials (mTLS), so the caller's token is not forwarded.
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.backend_timeout));
  grpc::Status st = backends_->Call(&ctx, "/legwise.triage.v1.TriageService/AssessLegSymptoms",
                                    mapped.request, &assessment);
  if (!st.ok()) {
    SetError(st, r);
    return;
  }
  Json(CardsFor(mapped, &assessment, options_.public_base_url), r);
}

void CdsService::Feedback(HttpRequest& request, HttpResponse* r) {
  std::string body;
  if (absl::Status s = request.ReadBody(&body); !s.ok()) {
    SetError(grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message())), r);
    if (s.code() == absl::StatusCode::kResourceExhausted) r->status = 413;
    return;
  }
  cds::FeedbackRequest fb;
  if (auto s = google::protobuf::util::JsonStringToMessage(body, &fb); !s.ok()) {
    SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("feedback: ", s.message().ToString())),
             r);
    return;
  }
  if (fb.feedback_size() == 0 || fb.feedback_size() > 100) {
    SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "feedback: 1 to 100 entries"), r);
    return;
  }
  for (int i = 0; i < fb.feedback_size(); ++i) {
    const cds::Feedback& f = fb.feedback(i);
    if (f.card().empty() || (f.outcome() != "accepted" && f.outcome() != "overridden") ||
        f.outcome_timestamp().empty()) {
      SetError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("feedback[", i,
                                         "]: card, outcome (accepted or overridden) and "
                                         "outcomeTimestamp are required")),
               r);
      return;
    }
  }
  for (const cds::Feedback& f : fb.feedback()) {
    Metrics::Default().Increment("legwise_cds_feedback_total", {{"outcome", f.outcome()}});
  }
  r->status = 200;
  r->headers.emplace_back("Content-Type", "application/json");
  r->body = "{}";
}

}  // namespace legwise::gateway
