// libFuzzer: any bytes as a ReminderPlan through validation and, when valid, the planner over the
// next three days. Beyond "no crash": no occurrence is ever in her quiet hours, occurrences are in
// time order, ids are unique, and no day exceeds the cap.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>

#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/reminder/planner/plan.h"
#include "services/reminder/planner/planner.h"

// Invalid UTF-8 in string fields is an expected input; protobuf's log line for each would drown the
// fuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace legwise::reminder;
  legwise::reminder::v1::ReminderPlan proto;
  if (!proto.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<Plan> plan = PlanFromProto(proto);
  if (!plan.ok()) return 0;
  static const ScheduleRules rules;
  const absl::Time start = absl::FromUnixSeconds(1774828800);  // 2026-03-30, near DST changes
  std::vector<Occurrence> occurrences =
      PlanOccurrences(*plan, rules, start, start + absl::Hours(72));
  std::set<std::string> ids;
  std::map<absl::CivilDay, int> per_day;
  for (size_t i = 0; i < occurrences.size(); ++i) {
    const Occurrence& o = occurrences[i];
    if (plan->IsQuiet(o.due)) std::abort();
    if (i > 0 && o.due < occurrences[i - 1].due) std::abort();
    if (!ids.insert(o.nudge_id).second) std::abort();
    ++per_day[o.plan_day];
  }
  const int cap = proto.max_nudges_per_day() > 0 ? proto.max_nudges_per_day() : 24;
  for (const auto& [day, count] : per_day) {
    if (count > cap) std::abort();
  }
  return 0;
}
