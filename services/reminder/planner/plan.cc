#include "services/reminder/planner/plan.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

bool IsUserIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == ':' ||
         c == '@' || c == '-';
}

// IANA names are ASCII letters, digits and "/_+-" (e.g. "America/Argentina/Buenos_Aires",
// "Etc/GMT+5"). Anything else (absolute or relative paths, "localtime", cctz's "Fixed/UTC+..."
// form) is refused before absl sees it, so a name can never make the loader open an arbitrary file.
bool IsIanaShaped(absl::string_view name) {
  if (name.empty() || name.size() > static_cast<size_t>(kMaxTimeZoneLength)) return false;
  if (name.front() == '/' || name.back() == '/' || absl::StrContains(name, "..") ||
      absl::StrContains(name, "//")) {
    return false;
  }
  if (name == "localtime" || absl::StartsWith(name, "Fixed/") || absl::StartsWith(name, "posix/") ||
      absl::StartsWith(name, "right/")) {
    return false;
  }
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '+' ||
          c == '-')) {
      return false;
    }
  }
  return absl::ascii_isalpha(static_cast<unsigned char>(name.front()));
}

// BCP-47-shaped: 2..8 letters, then "-" subtags of 1..8 letters or digits.
bool IsLocaleShaped(absl::string_view locale) {
  if (locale.size() > static_cast<size_t>(kMaxLocaleLength)) return false;
  size_t i = 0;
  bool first = true;
  while (i <= locale.size()) {
    size_t j = locale.find('-', i);
    if (j == absl::string_view::npos) j = locale.size();
    absl::string_view part = locale.substr(i, j - i);
    if (part.empty() || part.size() > 8) return false;
    for (char c : part) {
      const auto u = static_cast<unsigned char>(c);
      if (first ? !absl::ascii_isalpha(u) : !absl::ascii_isalnum(u)) return false;
    }
    if (first && part.size() < 2) return false;
    first = false;
    i = j + 1;
  }
  return true;
}

void ValidateLocalTime(const v1::LocalTime& t, const std::string& path, FieldViolations* v) {
  if (t.hours() < 0 || t.hours() > 23) v->Add(path + ".hours", "must be 0..23");
  if (t.minutes() < 0 || t.minutes() > 59) v->Add(path + ".minutes", "must be 0..59");
}

int MinuteOf(const v1::LocalTime& t) { return t.hours() * 60 + t.minutes(); }

}  // namespace

bool Plan::Wants(NudgeKind kind) const {
  switch (kind) {
    case NudgeKind::kHydration:
      return hydration;
    case NudgeKind::kStretching:
      return stretching;
    case NudgeKind::kMovementBreak:
      return movement_break;
    case NudgeKind::kBedtimeStretch:
      return bedtime_stretch;
  }
  return false;
}

bool Plan::IsQuiet(absl::Time t) const {
  const absl::CivilSecond cs = zone.At(t).cs;
  return IsQuietMinute(cs.hour() * 60 + cs.minute());
}

bool IsValidUserId(absl::string_view user_id) {
  if (user_id.empty() || user_id.size() > static_cast<size_t>(kMaxUserIdLength)) return false;
  for (char c : user_id) {
    if (!IsUserIdChar(c)) return false;
  }
  return true;
}

void ValidatePlan(const v1::ReminderPlan& plan, absl::string_view prefix, FieldViolations* v) {
  const std::string p(prefix.data(), prefix.size());
  if (plan.user_id().empty()) {
    v->Add(p + ".user_id", "is required");
  } else if (!IsValidUserId(plan.user_id())) {
    v->Add(p + ".user_id", "must be 1..128 characters of A-Z a-z 0-9 . _ : @ -");
  }

  if (plan.time_zone().empty()) {
    v->Add(p + ".time_zone", "is required (an IANA time zone name, e.g. Europe/London)");
  } else {
    absl::TimeZone tz;
    // LoadTimeZone answers false for a name it does not know (and then sets UTC): the bool decides.
    if (!IsIanaShaped(plan.time_zone()) || !absl::LoadTimeZone(plan.time_zone(), &tz)) {
      v->Add(p + ".time_zone", "is not a known IANA time zone name");
    }
  }

  if (!plan.has_wake_time()) {
    v->Add(p + ".wake_time", "is required");
  } else {
    ValidateLocalTime(plan.wake_time(), p + ".wake_time", v);
  }
  if (!plan.has_sleep_time()) {
    v->Add(p + ".sleep_time", "is required");
  } else {
    ValidateLocalTime(plan.sleep_time(), p + ".sleep_time", v);
  }
  if (plan.has_wake_time() && plan.has_sleep_time() &&
      MinuteOf(plan.wake_time()) == MinuteOf(plan.sleep_time())) {
    v->Add(p + ".sleep_time", "must differ from wake_time");
  }

  if (plan.kinds().empty()) {
    v->Add(p + ".kinds", "at least one nudge kind is required");
  }
  if (plan.kinds_size() > kNumNudgeKinds) {
    v->Add(p + ".kinds", absl::StrCat("at most ", kNumNudgeKinds, " kinds"));
  }
  bool seen[kNumNudgeKinds + 1] = {};
  for (int i = 0; i < plan.kinds_size() && i < 16; ++i) {
    const int k = plan.kinds(i);
    const std::string path = absl::StrCat(p, ".kinds[", i, "]");
    if (!IsNudgeKind(k)) {
      v->Add(path, "must be a known NudgeKind other than NUDGE_KIND_UNSPECIFIED");
    } else if (seen[k]) {
      v->Add(path, "duplicate kind");
    } else {
      seen[k] = true;
    }
  }

  const int32_t water = plan.daily_water_target_ml();
  if (water != 0 && (water < kMinWaterTargetMl || water > kMaxWaterTargetMl)) {
    v->Add(p + ".daily_water_target_ml", "must be 0 (default 2300) or 500..6000");
  }
  const int32_t cap = plan.max_nudges_per_day();
  if (cap != 0 && (cap < 1 || cap > kMaxNudgesPerDayLimit)) {
    v->Add(p + ".max_nudges_per_day", "must be 0 (default 24) or 1..48");
  }

  if (plan.work_shifts_size() > kMaxWorkShifts) {
    v->Add(p + ".work_shifts", "at most 14 work shifts");
  }
  for (int i = 0; i < plan.work_shifts_size() && i < kMaxWorkShifts; ++i) {
    const v1::WorkShift& s = plan.work_shifts(i);
    const std::string sp = absl::StrCat(p, ".work_shifts[", i, "]");
    if (s.days().empty()) v->Add(sp + ".days", "at least one day is required");
    if (s.days_size() > 7) v->Add(sp + ".days", "at most 7 days");
    bool day_seen[8] = {};
    for (int d = 0; d < s.days_size() && d < 7; ++d) {
      const int day = s.days(d);
      const std::string dp = absl::StrCat(sp, ".days[", d, "]");
      if (day < 1 || day > 7) {
        v->Add(dp, "must be a known DayOfWeek other than DAY_OF_WEEK_UNSPECIFIED");
      } else if (day_seen[day]) {
        v->Add(dp, "duplicate day");
      } else {
        day_seen[day] = true;
      }
    }
    if (!s.has_start()) {
      v->Add(sp + ".start", "is required");
    } else {
      ValidateLocalTime(s.start(), sp + ".start", v);
    }
    if (!s.has_end()) {
      v->Add(sp + ".end", "is required");
    } else {
      ValidateLocalTime(s.end(), sp + ".end", v);
    }
    if (s.has_start() && s.has_end() && MinuteOf(s.start()) == MinuteOf(s.end())) {
      v->Add(sp + ".end", "must differ from start");
    }
  }

  if (!plan.locale().empty() && !IsLocaleShaped(plan.locale())) {
    v->Add(p + ".locale", "must be a BCP-47 language tag, e.g. en or es-MX");
  }
}

absl::StatusOr<Plan> PlanFromProto(const v1::ReminderPlan& proto) {
  FieldViolations violations;
  ValidatePlan(proto, "plan", &violations);
  if (!violations.empty()) return violations.ToStatus("INVALID_REMINDER_PLAN");

  Plan plan;
  plan.user_id = proto.user_id();
  plan.time_zone_name = proto.time_zone();
  if (!absl::LoadTimeZone(proto.time_zone(), &plan.zone)) {
    // Validated just above; the zone database cannot vanish in between on a healthy host.
    return absl::InternalError("time zone could not be loaded twice");
  }
  plan.wake_minute = MinuteOf(proto.wake_time());
  plan.sleep_minute = MinuteOf(proto.sleep_time());
  for (int k : proto.kinds()) {
    switch (static_cast<NudgeKind>(k)) {
      case NudgeKind::kHydration:
        plan.hydration = true;
        break;
      case NudgeKind::kStretching:
        plan.stretching = true;
        break;
      case NudgeKind::kMovementBreak:
        plan.movement_break = true;
        break;
      case NudgeKind::kBedtimeStretch:
        plan.bedtime_stretch = true;
        break;
    }
  }
  plan.water_target_ml = proto.daily_water_target_ml();
  plan.max_nudges_per_day = proto.max_nudges_per_day();
  for (const v1::WorkShift& s : proto.work_shifts()) {
    Shift shift;
    for (int d : s.days()) shift.days_mask |= static_cast<uint8_t>(1u << (d - 1));
    shift.start_minute = MinuteOf(s.start());
    shift.end_minute = MinuteOf(s.end());
    shift.standing = s.standing();
    plan.shifts.push_back(shift);
  }
  plan.locale = proto.locale();
  return plan;
}

}  // namespace legwise::reminder
