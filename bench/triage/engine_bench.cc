// Engine time per assessment (target: well under 5 us). Measures validation + assessment of typical
// reports, reusing the response message the way the service does per call.
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "google/protobuf/arena.h"
#include "services/triage/engine/request_validation.h"
#include "services/triage/engine/triage_engine.h"

namespace legwise::triage {
namespace {

const TriageEngine& Engine() {
  static const TriageEngine* engine = new TriageEngine(*RuleTable::Builtin());
  return *engine;
}

v1::AssessLegSymptomsRequest Make(std::initializer_list<std::pair<v1::SymptomKind, v1::Side>> s,
                                  int weeks) {
  v1::AssessLegSymptomsRequest r;
  for (const auto& [kind, side] : s) {
    v1::Symptom* x = r.add_symptoms();
    x->set_kind(kind);
    x->set_side(side);
    x->set_severity(5);
  }
  r.mutable_pregnancy()->set_gestational_age_weeks(weeks);
  r.set_locale("en");
  r.set_request_id("bench-0001");
  return r;
}

v1::AssessLegSymptomsRequest Scenario(int which) {
  switch (which) {
    case 0:  // a plain night cramp
      return Make({{v1::SYMPTOM_KIND_MUSCLE_CRAMP, v1::SIDE_LEFT}}, 30);
    case 1:  // DVT signs, side unknown, weeks unknown
      return Make({{v1::SYMPTOM_KIND_LEG_SWELLING, v1::SIDE_UNSPECIFIED},
                   {v1::SYMPTOM_KIND_LEG_TENDERNESS, v1::SIDE_UNSPECIFIED},
                   {v1::SYMPTOM_KIND_MUSCLE_CRAMP, v1::SIDE_UNSPECIFIED}},
                  0);
    default: {  // a long report: 12 symptoms and measurements
      auto r = Make({{v1::SYMPTOM_KIND_URGE_TO_MOVE_LEGS, v1::SIDE_BOTH},
                     {v1::SYMPTOM_KIND_WORSE_AT_REST, v1::SIDE_BOTH},
                     {v1::SYMPTOM_KIND_RELIEVED_BY_MOVEMENT, v1::SIDE_BOTH},
                     {v1::SYMPTOM_KIND_WORSE_IN_EVENING, v1::SIDE_BOTH},
                     {v1::SYMPTOM_KIND_SLEEP_DISRUPTION, v1::SIDE_BOTH},
                     {v1::SYMPTOM_KIND_MUSCLE_CRAMP, v1::SIDE_RIGHT},
                     {v1::SYMPTOM_KIND_LEG_SWELLING, v1::SIDE_BOTH},
                     {v1::SYMPTOM_KIND_SEVERE_HEADACHE, v1::SIDE_UNSPECIFIED},
                     {v1::SYMPTOM_KIND_LEG_REDNESS, v1::SIDE_LEFT},
                     {v1::SYMPTOM_KIND_LEG_WARMTH, v1::SIDE_LEFT},
                     {v1::SYMPTOM_KIND_FEVER, v1::SIDE_UNSPECIFIED},
                     {v1::SYMPTOM_KIND_SHORTNESS_OF_BREATH, v1::SIDE_UNSPECIFIED}},
                    33);
      r.mutable_measurements()->set_systolic_bp_mmhg(150);
      r.mutable_measurements()->set_diastolic_bp_mmhg(95);
      r.mutable_measurements()->set_calf_circumference_difference_cm(2.2f);
      return r;
    }
  }
}

void BM_Assess(benchmark::State& state) {
  const TriageEngine& engine = Engine();
  const v1::AssessLegSymptomsRequest request = Scenario(static_cast<int>(state.range(0)));
  v1::AssessLegSymptomsResponse response;
  for (auto _ : state) {
    engine.Assess(request, &response);
    benchmark::DoNotOptimize(response.urgency());
  }
  state.SetLabel(std::string(v1::Urgency_Name(response.urgency())) + ", " +
                 std::to_string(request.symptoms_size()) + " symptoms");
}
BENCHMARK(BM_Assess)->Arg(0)->Arg(1)->Arg(2);

void BM_ValidateAndAssessFreshResponse(benchmark::State& state) {
  const TriageEngine& engine = Engine();
  const v1::AssessLegSymptomsRequest request = Scenario(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    FieldViolations v = ValidateAssessRequest(request);
    benchmark::DoNotOptimize(v.empty());
    v1::AssessLegSymptomsResponse response = engine.Assess(request);
    benchmark::DoNotOptimize(response.urgency());
  }
}
BENCHMARK(BM_ValidateAndAssessFreshResponse)->Arg(0)->Arg(1)->Arg(2);

// Everything the server does per AssessLegSymptoms call besides gRPC itself: parse the request,
// validate, assess, serialize the answer. Messages: 0 = fresh on the heap each call, 1 = on a
// per-call arena, 2 = recycled (cleared, storage kept), as the service's PooledMessageAllocator
// does.
void BM_RpcWork(benchmark::State& state) {
  const TriageEngine& engine = Engine();
  const std::string wire = Scenario(static_cast<int>(state.range(0))).SerializeAsString();
  const int mode = static_cast<int>(state.range(1));
  v1::AssessLegSymptomsRequest pooled_request;
  v1::AssessLegSymptomsResponse pooled_response;
  std::string out;
  for (auto _ : state) {
    alignas(16) char block[8192];
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = sizeof(block);
    google::protobuf::Arena arena(options);
    v1::AssessLegSymptomsRequest heap_request;
    v1::AssessLegSymptomsResponse heap_response;
    v1::AssessLegSymptomsRequest* request = &heap_request;
    v1::AssessLegSymptomsResponse* response = &heap_response;
    if (mode == 1) {
      request = google::protobuf::Arena::CreateMessage<v1::AssessLegSymptomsRequest>(&arena);
      response = google::protobuf::Arena::CreateMessage<v1::AssessLegSymptomsResponse>(&arena);
    } else if (mode == 2) {
      pooled_request.Clear();
      pooled_response.Clear();
      request = &pooled_request;
      response = &pooled_response;
    }
    request->ParseFromString(wire);
    FieldViolations v = ValidateAssessRequest(*request);
    benchmark::DoNotOptimize(v.empty());
    engine.Assess(*request, response);
    response->SerializeToString(&out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(absl::StrCat(out.size(), "-byte answer"));
}
BENCHMARK(BM_RpcWork)->ArgsProduct({{0, 1, 2}, {0, 1, 2}});

void BM_DescribeRules(benchmark::State& state) {
  const TriageEngine& engine = Engine();
  for (auto _ : state) {
    v1::GetRuleSetResponse r = engine.DescribeRules("en");
    benchmark::DoNotOptimize(r.rules_size());
  }
}
BENCHMARK(BM_DescribeRules);

}  // namespace
}  // namespace legwise::triage
