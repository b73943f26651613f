// The transcoder on the real compiled-in annotations: every RPC has a route, templates match the
// paths they should and no others, requests are built from body, path and query with errors that
// name the field, and gRPC codes map to the HTTP status AIP-193 gives them.
#include "services/gateway/transcoder.h"

#include "absl/strings/match.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "legwise/content/v1/content.pb.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "services/gateway/http_server.h"

namespace legwise::gateway {
namespace {

const std::vector<std::string> kServices = {"legwise.triage.v1.TriageService",
                                            "legwise.content.v1.ContentService",
                                            "legwise.reminder.v1.ReminderService"};

std::vector<Route> Routes() {
  // Make sure the generated services are linked in.
  (void)triage::v1::TriageService::service_full_name();
  (void)reminder::v1::ReminderService::service_full_name();
  auto r = RoutesFromServices(kServices);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<Route>{};
}

TEST(Transcoder, EveryRpcHasARoute) {
  std::vector<Route> routes = Routes();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  int methods = 0;
  for (const std::string& s : kServices) methods += pool->FindServiceByName(s)->method_count();
  EXPECT_EQ(static_cast<int>(routes.size()), methods);
  // The pinned ones.
  bool assess = false, stream = false;
  for (const Route& r : routes) {
    if (r.grpc_path == "/legwise.triage.v1.TriageService/AssessLegSymptoms") {
      assess = r.http_method == "POST" && r.path_template == "/v1/triage:assess" && r.body == "*";
    }
    if (r.grpc_path == "/legwise.reminder.v1.ReminderService/StreamNudges") {
      stream = r.http_method == "GET" && r.path_template == "/v1/users/{user_id}/nudges:stream";
    }
  }
  EXPECT_TRUE(assess);
  EXPECT_TRUE(stream);
  // No two routes share a method and template.
  for (size_t i = 0; i < routes.size(); ++i) {
    for (size_t j = i + 1; j < routes.size(); ++j) {
      EXPECT_FALSE(routes[i].http_method == routes[j].http_method &&
                   routes[i].path_template == routes[j].path_template)
          << routes[i].path_template;
    }
  }
}

TEST(Transcoder, MatchesVerbsVariablesAndNothingElse) {
  std::vector<Route> routes = Routes();
  std::vector<std::pair<std::string, std::string>> vars;
  bool mismatch = false;
  const Route* r = MatchRoute(routes, "POST", "/v1/triage:assess", &vars, &mismatch);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->method->name(), "AssessLegSymptoms");
  EXPECT_EQ(MatchRoute(routes, "GET", "/v1/triage:assess", &vars, &mismatch), nullptr);
  EXPECT_TRUE(mismatch);
  EXPECT_EQ(MatchRoute(routes, "POST", "/v1/triage:assessx", &vars, &mismatch), nullptr);
  EXPECT_FALSE(mismatch);
  EXPECT_EQ(MatchRoute(routes, "POST", "/v1/triage", &vars, &mismatch), nullptr);
  EXPECT_EQ(MatchRoute(routes, "POST", "/v1/triage:assess/", &vars, &mismatch), nullptr);

  r = MatchRoute(routes, "GET", "/v1/users/a%3Ab/nudges:stream", &vars, &mismatch);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->method->name(), "StreamNudges");
  ASSERT_EQ(vars.size(), 1u);
  EXPECT_EQ(vars[0].first, "user_id");
  EXPECT_EQ(vars[0].second, "a:b");
  r = MatchRoute(routes, "GET", "/v1/users/ana/nudges", &vars, &mismatch);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->method->name(), "ListUpcomingNudges");
  // An escaped slash stays inside the variable; an empty variable matches nothing.
  r = MatchRoute(routes, "GET", "/v1/users/a%2Fb/reminderPlan", &vars, &mismatch);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(vars[0].second, "a/b");
  EXPECT_EQ(MatchRoute(routes, "GET", "/v1/users//reminderPlan", &vars, &mismatch), nullptr);
  EXPECT_EQ(MatchRoute(routes, "GET", "/v1/users/%zz/reminderPlan", &vars, &mismatch), nullptr);
  r = MatchRoute(routes, "POST", "/v1/users/ana/nudges/n-1:snooze", &vars, &mismatch);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->method->name(), "SnoozeNudge");
  ASSERT_EQ(vars.size(), 2u);
  EXPECT_EQ(vars[1].second, "n-1");
}

const Route& Find(const std::vector<Route>& routes, const std::string& name) {
  for (const Route& r : routes) {
    if (r.method->name() == name) return r;
  }
  ADD_FAILURE() << name;
  return routes.front();
}

TEST(Transcoder, BuildsRequestsFromBodyPathAndQuery) {
  std::vector<Route> routes = Routes();
  reminder::v1::CreateReminderPlanRequest create;
  ASSERT_TRUE(BuildRequest(Find(routes, "CreateReminderPlan"),
                           R"({"plan": {"timeZone": "Europe/Madrid"}, "requestId": "r1"})",
                           {{"plan.user_id", "ana"}}, {}, &create)
                  .ok());
  EXPECT_EQ(create.plan().user_id(), "ana");
  EXPECT_EQ(create.plan().time_zone(), "Europe/Madrid");
  EXPECT_EQ(create.request_id(), "r1");
  // The same user in body and path is fine; a different one is not.
  create.Clear();
  EXPECT_TRUE(BuildRequest(Find(routes, "CreateReminderPlan"), R"({"plan": {"userId": "ana"}})",
                           {{"plan.user_id", "ana"}}, {}, &create)
                  .ok());
  create.Clear();
  absl::Status s =
      BuildRequest(Find(routes, "CreateReminderPlan"), R"({"plan": {"userId": "bea"}})",
                   {{"plan.user_id", "ana"}}, {}, &create);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "plan.user_id")) << s;
  // body "*": no query parameters.
  create.Clear();
  EXPECT_FALSE(BuildRequest(Find(routes, "CreateReminderPlan"), "{}", {{"plan.user_id", "ana"}},
                            {{"requestId", "x"}}, &create)
                   .ok());
  // body "plan": the body is the plan itself.
  reminder::v1::UpdateReminderPlanRequest update;
  ASSERT_TRUE(BuildRequest(Find(routes, "UpdateReminderPlan"), R"({"locale": "es"})",
                           {{"plan.user_id", "ana"}}, {}, &update)
                  .ok());
  EXPECT_EQ(update.plan().locale(), "es");
  EXPECT_EQ(update.plan().user_id(), "ana");

  // Query: JSON or proto names, enums by name or number, timestamps in RFC 3339.
  reminder::v1::ListUpcomingNudgesRequest list;
  ASSERT_TRUE(BuildRequest(Find(routes, "ListUpcomingNudges"), "", {{"user_id", "ana"}},
                           {{"page_size", "5"}, {"startTime", "2026-03-29T09:00:00Z"}}, &list)
                  .ok());
  EXPECT_EQ(list.page_size(), 5);
  EXPECT_EQ(list.start_time().seconds(), 1774774800);
  list.Clear();
  s = BuildRequest(Find(routes, "ListUpcomingNudges"), "", {{"user_id", "ana"}},
                   {{"startTime", "yesterday"}}, &list);
  EXPECT_TRUE(absl::StrContains(s.message(), "startTime")) << s;
  list.Clear();
  s = BuildRequest(Find(routes, "ListUpcomingNudges"), "", {{"user_id", "ana"}},
                   {{"page_size", "5"}, {"page_size", "6"}}, &list);
  EXPECT_TRUE(absl::StrContains(s.message(), "more than once")) << s;
  list.Clear();
  s = BuildRequest(Find(routes, "ListUpcomingNudges"), "", {{"user_id", "ana"}},
                   {{"user_id", "bea"}}, &list);
  EXPECT_FALSE(s.ok());

  content::v1::LookupGuidanceByCodeRequest lookup;
  ASSERT_TRUE(BuildRequest(Find(routes, "LookupGuidanceByCode"), "", {},
                           {{"codeSystem", "2"}, {"code", "55300003"}}, &lookup)
                  .ok());
  EXPECT_EQ(lookup.code_system(), content::v1::CODE_SYSTEM_SNOMEDCT);
  lookup.Clear();
  s = BuildRequest(Find(routes, "LookupGuidanceByCode"), "", {}, {{"codeSystem", "LOINC"}},
                   &lookup);
  EXPECT_TRUE(absl::StrContains(s.message(), "codeSystem")) << s;
  lookup.Clear();
  // A GET takes no body.
  EXPECT_FALSE(BuildRequest(Find(routes, "LookupGuidanceByCode"), "{}", {}, {}, &lookup).ok());

  triage::v1::AssessLegSymptomsRequest assess;
  s = BuildRequest(Find(routes, "AssessLegSymptoms"), R"({"symptoms": [{"kind": "NOPE"}]})", {}, {},
                   &assess);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(Transcoder, SetFieldFromTextChecksTypes) {
  triage::v1::AssessLegSymptomsRequest r;
  EXPECT_TRUE(SetFieldFromText(&r, "pregnancy.gestationalAgeWeeks", "30").ok());
  EXPECT_EQ(r.pregnancy().gestational_age_weeks(), 30);
  EXPECT_FALSE(SetFieldFromText(&r, "pregnancy.postpartum_weeks", "1e99").ok());
  EXPECT_FALSE(SetFieldFromText(&r, "measurements.temperature_c", "nan").ok());
  EXPECT_TRUE(SetFieldFromText(&r, "measurements.temperature_c", "38.5").ok());
  EXPECT_FALSE(SetFieldFromText(&r, "include_guidance", "maybe").ok());
  EXPECT_TRUE(SetFieldFromText(&r, "include_guidance", "true").ok());
  EXPECT_TRUE(SetFieldFromText(&r, "risk_factors", "RISK_FACTOR_SMOKING").ok());
  EXPECT_TRUE(SetFieldFromText(&r, "risk_factors", "1").ok());
  EXPECT_EQ(r.risk_factors_size(), 2);
  EXPECT_FALSE(SetFieldFromText(&r, "symptoms", "x").ok());
  EXPECT_FALSE(SetFieldFromText(&r, "no_such_field", "x").ok());
  EXPECT_FALSE(SetFieldFromText(&r, "pregnancy.no_such", "x").ok());
  EXPECT_FALSE(SetFieldFromText(&r, "locale.x", "x").ok());
}

TEST(Transcoder, Aip193HttpCodes) {
  using C = grpc::StatusCode;
  const std::vector<std::pair<C, int>> table = {{C::OK, 200},
                                                {C::CANCELLED, 499},
                                                {C::UNKNOWN, 500},
                                                {C::INVALID_ARGUMENT, 400},
                                                {C::DEADLINE_EXCEEDED, 504},
                                                {C::NOT_FOUND, 404},
                                                {C::ALREADY_EXISTS, 409},
                                                {C::PERMISSION_DENIED, 403},
                                                {C::UNAUTHENTICATED, 401},
                                                {C::RESOURCE_EXHAUSTED, 429},
                                                {C::FAILED_PRECONDITION, 400},
                                                {C::ABORTED, 409},
                                                {C::OUT_OF_RANGE, 400},
                                                {C::UNIMPLEMENTED, 501},
                                                {C::INTERNAL, 500},
                                                {C::UNAVAILABLE, 503},
                                                {C::DATA_LOSS, 500}};
  for (auto [code, http] : table) EXPECT_EQ(HttpStatusForCode(code), http) << code;
}

// kOmit leaves out fields at their default value (a zero enum, false, "", an empty repeated field)
// and what it prints still parses back into the same message; kPrint prints them.
TEST(Transcoder, AnswersOmitDefaultValuesAndStillRoundTrip) {
  triage::v1::AssessLegSymptomsResponse answer;
  answer.set_summary("Rest and stretch.");
  answer.set_rule_set_version("2026.11");
  answer.add_follow_up_questions("Is the calf swollen?");
  // urgency (enum 0), guidance_degraded (false), locale (""), rule_hits (empty) at their defaults.
  const std::string binary = answer.SerializeAsString();
  for (JsonDefaults defaults : {JsonDefaults::kOmit, JsonDefaults::kPrint}) {
    absl::StatusOr<std::string> json =
        BinaryToJson(triage::v1::AssessLegSymptomsResponse::descriptor(), binary, defaults);
    ASSERT_TRUE(json.ok()) << json.status();
    const bool printed = defaults == JsonDefaults::kPrint;
    for (const char* key : {"\"urgency\"", "\"guidanceDegraded\"", "\"locale\"", "\"ruleHits\""}) {
      EXPECT_EQ(absl::StrContains(*json, key), printed) << key << " in " << *json;
    }
    EXPECT_TRUE(absl::StrContains(*json, "\"ruleSetVersion\":\"2026.11\"")) << *json;
    triage::v1::AssessLegSymptomsResponse back;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &back).ok()) << *json;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, answer))
        << back.DebugString() << " vs " << answer.DebugString();
    // MessageToJson prints the same as BinaryToJson.
    absl::StatusOr<std::string> via_message = MessageToJson(answer, defaults);
    ASSERT_TRUE(via_message.ok());
    EXPECT_EQ(*via_message, *json);
  }
}

TEST(Transcoder, StatusJsonKeepsTheBackendsDetails) {
  google::rpc::Status rich;
  rich.set_code(3);
  rich.set_message("bad symptoms");
  google::rpc::BadRequest br;
  auto* v = br.add_field_violations();
  v->set_field("symptoms");
  v->set_description("at least one");
  rich.add_details()->PackFrom(br);
  grpc::Status st(grpc::StatusCode::INVALID_ARGUMENT, "bad symptoms", rich.SerializeAsString());
  std::string json = StatusToJson(st);
  google::rpc::Status back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
  EXPECT_EQ(back.code(), 3);
  ASSERT_EQ(back.details_size(), 1);
  google::rpc::BadRequest br2;
  ASSERT_TRUE(back.details(0).UnpackTo(&br2));
  EXPECT_EQ(br2.field_violations(0).field(), "symptoms");
  // Details that disagree with the status code are not trusted.
  grpc::Status odd(grpc::StatusCode::NOT_FOUND, "gone", rich.SerializeAsString());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(StatusToJson(odd), &back).ok());
  EXPECT_EQ(back.code(), 5);
  EXPECT_EQ(back.details_size(), 0);
}

TEST(HttpServer, QueryParsingAndDecoding) {
  std::vector<std::pair<std::string, std::string>> q;
  ASSERT_TRUE(ParseQuery("a=1&b=x+y&c=%41%42&&d", &q).ok());
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q[1].second, "x y");
  EXPECT_EQ(q[2].second, "AB");
  EXPECT_EQ(q[3].first, "d");
  EXPECT_FALSE(ParseQuery("a=%4", &q).ok());
  EXPECT_FALSE(ParseQuery("a=%g1", &q).ok());
  std::string out;
  EXPECT_FALSE(PercentDecode("%", false, &out));
  EXPECT_TRUE(PercentDecode("a+b", false, &out));
  EXPECT_EQ(out, "a+b");
}

}  // namespace
}  // namespace legwise::gateway
