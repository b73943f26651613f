#include "services/reminder/delivery/scheduling.h"

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/timestamp.pb.h"
#include "google/protobuf/unknown_field_set.h"

namespace legwise::reminder {
namespace v1 = ::legwise::reminder::v1;

v1::Nudge NudgeFromOccurrence(const Plan& plan, const Occurrence& o) {
  v1::Nudge n;
  n.set_nudge_id(o.nudge_id);
  n.set_user_id(plan.user_id);
  n.set_kind(static_cast<v1::NudgeKind>(static_cast<int>(o.kind)));
  const int64_t ns = absl::ToUnixNanos(o.due);
  n.mutable_due_time()->set_seconds(ns / 1000000000);
  n.mutable_due_time()->set_nanos(static_cast<int32_t>(ns % 1000000000));
  n.set_local_time(o.local_time);
  n.set_locale(plan.locale.empty() ? "en" : plan.locale);
  return n;
}

ScheduledNudge ToScheduled(const Plan& plan, const Occurrence& o) {
  v1::Nudge n = NudgeFromOccurrence(plan, o);
  if (plan.water_target_ml > 0) {
    n.GetReflection()->MutableUnknownFields(&n)->AddVarint(
        kPayloadWaterTargetField, static_cast<uint64_t>(plan.water_target_ml));
  }
  return {o.nudge_id, o.due, n.SerializeAsString()};
}

int32_t TakePayloadWaterTarget(v1::Nudge* n) {
  int32_t target = 0;
  const google::protobuf::UnknownFieldSet& unknown = n->GetReflection()->GetUnknownFields(*n);
  for (int i = 0; i < unknown.field_count(); ++i) {
    const google::protobuf::UnknownField& f = unknown.field(i);
    if (f.number() == kPayloadWaterTargetField &&
        f.type() == google::protobuf::UnknownField::TYPE_VARINT && f.varint() > 0 &&
        f.varint() <= 1000000) {
      target = static_cast<int32_t>(f.varint());
    }
  }
  n->DiscardUnknownFields();
  return target;
}

UserState ToCoreState(const UserNudgeState& in) {
  UserState out;
  out.acknowledged = in.acknowledged;
  out.cancelled = in.cancelled;
  for (const std::string& payload : in.snoozes) {
    v1::Nudge n;
    if (n.ParseFromString(payload)) {
      TakePayloadWaterTarget(&n);
      out.snoozes.push_back(std::move(n));
    }
  }
  return out;
}

namespace {

// Her pending snoozes (due at or after `from`, neither acknowledged nor cancelled) under `plan`:
// each one the plan places elsewhere (e.g. in her new quiet hours) is recorded at its new time
// under a new id, the new one first (if a later step fails she keeps a snooze: at worst both, never
// none), then the old ids are cancelled so they are neither listed nor delivered. Every pending
// snooze, moved or not, is appended to `pending` when given. Returns the earliest due time of the
// moved ones (InfiniteFuture when none moved).
absl::StatusOr<absl::Time> MovePendingSnoozes(ReminderStore& store, const Plan& plan,
                                              const UserNudgeState& state,
                                              const std::set<std::string>& skip, absl::Time from,
                                              std::vector<ScheduledNudge>* pending) {
  std::vector<std::string> moved;
  absl::Time earliest = absl::InfiniteFuture();
  for (const std::string& payload : state.snoozes) {
    v1::Nudge n;
    if (!n.ParseFromString(payload) || skip.count(n.nudge_id())) continue;
    const absl::Time due = absl::FromUnixSeconds(n.due_time().seconds());
    const int kind = static_cast<int>(n.kind());
    if (due < from || !IsNudgeKind(kind)) continue;
    const Occurrence o = MakeSnoozeOccurrence(plan, static_cast<NudgeKind>(kind), due, 0);
    ScheduledNudge sn = ToScheduled(plan, o);
    if (o.nudge_id != n.nudge_id()) {
      if (absl::Status s = store.AddSnooze(plan.user_id, sn, from - absl::Hours(48)); !s.ok()) {
        return s;
      }
      moved.push_back(n.nudge_id());
      earliest = std::min(earliest, o.due);
    }
    if (pending != nullptr) pending->push_back(std::move(sn));
  }
  if (!moved.empty()) {
    if (absl::StatusOr<int> c = store.Cancel(plan.user_id, moved); !c.ok()) return c.status();
  }
  return earliest;
}

std::set<std::string> SkippedIds(const UserNudgeState& state) {
  std::set<std::string> skip(state.acknowledged.begin(), state.acknowledged.end());
  skip.insert(state.cancelled.begin(), state.cancelled.end());
  return skip;
}

}  // namespace

absl::StatusOr<int> ScheduleHorizon(ReminderStore& store, const ScheduleRules& rules,
                                    const Plan& plan, absl::Time from, absl::Duration horizon,
                                    bool replace) {
  absl::StatusOr<UserNudgeState> state = store.GetUserState(plan.user_id);
  if (!state.ok()) return state.status();
  const std::set<std::string> skip = SkippedIds(*state);
  std::vector<ScheduledNudge> nudges;
  for (const Occurrence& o : PlanOccurrences(plan, rules, from, from + horizon)) {
    if (!skip.count(o.nudge_id)) nudges.push_back(ToScheduled(plan, o));
  }
  // Replacing removes her pending snoozes with the rest: put back the ones still ahead, under the
  // changed plan. The moved snooze is recorded and the old one cancelled before the schedule is
  // replaced: if that step fails, the next update or refill schedules from a consistent state. (A
  // snooze recorded while an update runs can still drop out of the schedule: these steps are
  // separate round trips, not one script.)
  if (replace) {
    if (absl::StatusOr<absl::Time> m = MovePendingSnoozes(store, plan, *state, skip, from, &nudges);
        !m.ok()) {
      return m.status();
    }
  }
  return store.Schedule(plan.user_id, nudges, from, replace, from + horizon / 2);
}

absl::StatusOr<absl::Time> RelocateSnoozes(ReminderStore& store, const Plan& plan,
                                           absl::Time from) {
  absl::StatusOr<UserNudgeState> state = store.GetUserState(plan.user_id);
  if (!state.ok()) return state.status();
  return MovePendingSnoozes(store, plan, *state, SkippedIds(*state), from, nullptr);
}

}  // namespace legwise::reminder
