// libFuzzer: any bytes as an AssessLegSymptomsRequest through validation and, when valid, the
// engine. Beyond "no crash" it checks the safety invariants on every valid input: an urgency is
// always set, it is the highest level of the rules that fired, and adding a chest-pain report never
// lowers it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "google/protobuf/stubs/logging.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/triage/engine/request_validation.h"
#include "services/triage/engine/rule_table.h"
#include "services/triage/engine/triage_engine.h"

// Invalid UTF-8 in string fields is an expected input; protobuf's log line for each would drown the
// fuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace legwise::triage;
  static const TriageEngine engine(*RuleTable::Builtin());
  v1::AssessLegSymptomsRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (!ValidateAssessRequest(request).empty()) return 0;
  v1::AssessLegSymptomsResponse response = engine.Assess(request);
  if (response.urgency() == v1::URGENCY_UNSPECIFIED) std::abort();
  int highest = 0;
  for (const auto& hit : response.rule_hits()) highest = std::max<int>(highest, hit.urgency());
  if (highest != response.urgency()) std::abort();
  if (request.symptoms_size() < 32) {
    v1::AssessLegSymptomsRequest more = request;
    more.add_symptoms()->set_kind(v1::SYMPTOM_KIND_CHEST_PAIN);
    if (ValidateAssessRequest(more).empty() && engine.Assess(more).urgency() < response.urgency()) {
      std::abort();  // monotonicity
    }
  }
  return 0;
}
