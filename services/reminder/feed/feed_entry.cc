#include "services/reminder/feed/feed_entry.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "services/reminder/devices/device_proto.h"
#include "services/reminder/planner/nudge_kinds.h"

namespace legwise::reminder {
namespace {
namespace v1 = ::legwise::reminder::v1;
}  // namespace

absl::StatusOr<FeedEntry> ParseFeedEntry(
    const std::vector<std::pair<std::string, std::string>>& fields) {
  FeedEntry e;
  bool have_nudge = false, have_due = false;
  for (const auto& [k, v] : fields) {
    if (k == "nudge_id") {
      e.nudge_id = v;
    } else if (k == "user") {
      e.user_key = v;
    } else if (k == "due_ms") {
      int64_t ms = 0;
      if (!absl::SimpleAtoi(v, &ms)) return absl::DataLossError("feed entry: due_ms");
      e.due_time = absl::FromUnixMillis(ms);
      have_due = true;
    } else if (k == "nudge") {
      if (!e.nudge.ParseFromString(v)) return absl::DataLossError("feed entry: nudge");
      have_nudge = true;
    }
  }
  if (e.nudge_id.empty()) return absl::DataLossError("feed entry: nudge_id");
  if (e.user_key.empty()) return absl::DataLossError("feed entry: user");
  if (!have_due) return absl::DataLossError("feed entry: due_ms");
  if (!have_nudge) return absl::DataLossError("feed entry: nudge");
  return e;
}

const std::vector<PushTtl>& PushTtls() {
  // A hydration nudge an hour late has been overtaken by the next one; a stretch or movement
  // break half an hour late no longer fits the moment it was planned for (before bed, a break in
  // a shift).
  static const auto* kTable = new std::vector<PushTtl>{
      {v1::NUDGE_KIND_HYDRATION, absl::Minutes(60)},
      {v1::NUDGE_KIND_STRETCHING, absl::Minutes(30)},
      {v1::NUDGE_KIND_MOVEMENT_BREAK, absl::Minutes(30)},
      {v1::NUDGE_KIND_BEDTIME_STRETCH, absl::Minutes(30)},
  };
  return *kTable;
}

absl::Duration PushTtlFor(v1::NudgeKind kind) {
  absl::Duration shortest = absl::InfiniteDuration();
  for (const PushTtl& t : PushTtls()) {
    if (t.kind == kind) return t.ttl;
    shortest = std::min(shortest, t.ttl);
  }
  return shortest;
}

push::PushMessage MessageFor(const FeedEntry& entry, const v1::Device& device,
                             absl::Time quiet_hours_start, const DeviceTexts& texts) {
  push::PushMessage m;
  m.nudge_id = entry.nudge_id;
  m.kind = v1::NudgeKind_Name(entry.nudge.kind());
  m.title = entry.nudge.title();
  m.body = entry.nudge.body();
  m.locale = entry.nudge.locale();
  const int kind = static_cast<int>(entry.nudge.kind());
  if (texts.provider != nullptr && !device.locale().empty() &&
      device.locale() != entry.nudge.locale() && IsNudgeKind(kind)) {
    const std::shared_ptr<const NudgeTextSet> set = texts.provider->Get(device.locale());
    const NudgeText t = set->Render(static_cast<NudgeKind>(kind), texts.water_target_ml);
    m.title = t.title;
    m.body = t.body;
    m.locale = set->locale;
  }
  m.due_time = entry.due_time;
  m.local_time = entry.nudge.local_time();
  m.expire_time = entry.due_time + PushTtlFor(entry.nudge.kind());
  m.quiet_hours_start = quiet_hours_start;
  return m;
}

std::vector<push::PushJob> JobsFor(const FeedEntry& entry, const std::vector<v1::Device>& devices,
                                   absl::Time quiet_hours_start, const DeviceTexts& texts) {
  std::vector<push::PushJob> jobs;
  for (const v1::Device& d : devices) {
    if (d.target_case() == v1::Device::TARGET_NOT_SET) continue;
    push::PushJob job;
    job.device_id = d.device_id();
    job.target = FromProto(d).target;
    job.message = MessageFor(entry, d, quiet_hours_start, texts);
    jobs.push_back(std::move(job));
  }
  return jobs;
}

}  // namespace legwise::reminder
