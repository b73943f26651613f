#include "services/reminder/planner/planner.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace legwise::reminder {
namespace {

// Short kind codes used inside nudge ids (the kind table's).
const char* KindCode(NudgeKind kind) { return KindInfo(kind).code; }

bool KindFromCode(absl::string_view code, NudgeKind* kind) {
  const NudgeKindInfo* info = KindByCode(code);
  if (info == nullptr) return false;
  *kind = info->kind;
  return true;
}

uint64_t Mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::string Hex16(uint64_t v) { return absl::StrCat(absl::Hex(v, absl::kZeroPad16)); }

uint64_t PlannedHash(absl::string_view user_id, NudgeKind kind, absl::CivilDay day, int slot) {
  return StableHash64(absl::StrCat(user_id, "|", static_cast<int>(kind), "|", day.year(), "-",
                                   day.month(), "-", day.day(), "|", slot));
}

uint64_t SnoozeHash(absl::string_view user_id, NudgeKind kind, int64_t due_unix) {
  return StableHash64(absl::StrCat(user_id, "|snooze|", static_cast<int>(kind), "|", due_unix));
}

// Cap priority: lower is kept first (the kind table's).
int Priority(NudgeKind kind) { return KindInfo(kind).cap_priority; }

// A planned position before it becomes an instant.
struct Candidate {
  NudgeKind kind;
  int slot;
  int64_t offset_sec;  // local wall-clock seconds after the plan day's wake time
  absl::Time due;
};

// Weekday of a civil day as 0 = Monday ... 6 = Sunday.
int WeekdayIndex(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday:
      return 0;
    case absl::Weekday::tuesday:
      return 1;
    case absl::Weekday::wednesday:
      return 2;
    case absl::Weekday::thursday:
      return 3;
    case absl::Weekday::friday:
      return 4;
    case absl::Weekday::saturday:
      return 5;
    case absl::Weekday::sunday:
      return 6;
  }
  return 0;
}

// Standing-shift intervals touching plan day `day`, in minutes after local midnight of `day`,
// merged.
std::vector<std::pair<int, int>> StandingIntervals(const Plan& plan, absl::CivilDay day) {
  std::vector<std::pair<int, int>> intervals;
  for (const Shift& s : plan.shifts) {
    if (!s.standing) continue;
    const int length = (s.end_minute - s.start_minute + kMinutesPerDay) % kMinutesPerDay;
    for (int rel = -1; rel <= 1; ++rel) {
      if ((s.days_mask >> WeekdayIndex(day + rel)) & 1) {
        const int start = rel * kMinutesPerDay + s.start_minute;
        intervals.emplace_back(start, start + length);
      }
    }
  }
  std::sort(intervals.begin(), intervals.end());
  std::vector<std::pair<int, int>> merged;
  for (const auto& iv : intervals) {
    if (!merged.empty() && iv.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, iv.second);
    } else {
      merged.push_back(iv);
    }
  }
  return merged;
}

// Indices of an evenly spread subset of size k out of n (k < n).
std::vector<size_t> SpreadSubset(size_t n, size_t k) {
  std::vector<size_t> out;
  out.reserve(k);
  for (size_t i = 0; i < k; ++i) out.push_back((2 * i + 1) * n / (2 * k));
  return out;
}

}  // namespace

uint64_t StableHash64(absl::string_view data) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

int JitterSeconds(absl::string_view user_id, const ScheduleRules& rules) {
  if (rules.max_jitter_seconds <= 0) return 0;
  return static_cast<int>(StableHash64(absl::StrCat("jitter|", user_id)) %
                          static_cast<uint64_t>(rules.max_jitter_seconds + 1));
}

std::string MakeNudgeId(absl::string_view user_id, NudgeKind kind, absl::CivilDay plan_day,
                        int slot) {
  // StrCat, not StrFormat: this runs for every listed and dispatched occurrence.
  return absl::StrCat(KindCode(kind), "-", absl::Dec(plan_day.year(), absl::kZeroPad4),
                      absl::Dec(plan_day.month(), absl::kZeroPad2),
                      absl::Dec(plan_day.day(), absl::kZeroPad2), "-", slot, "-",
                      Hex16(PlannedHash(user_id, kind, plan_day, slot)));
}

std::string MakeSnoozeId(absl::string_view user_id, NudgeKind kind, absl::Time due) {
  const int64_t unix = absl::ToUnixSeconds(due);
  return absl::StrFormat("snz-%d-%d-%s", static_cast<int>(kind), unix,
                         Hex16(SnoozeHash(user_id, kind, unix)));
}

absl::StatusOr<NudgeRef> ParseNudgeId(absl::string_view user_id, absl::string_view nudge_id) {
  const absl::Status malformed = absl::InvalidArgumentError("malformed nudge_id");
  if (nudge_id.size() > 80) return malformed;
  std::vector<absl::string_view> parts = absl::StrSplit(nudge_id, '-');
  if (parts.size() != 4 || parts[3].size() != 16) return malformed;
  NudgeRef ref;
  uint64_t expected = 0;
  if (parts[0] == "snz") {
    int kind = 0;
    int64_t unix = 0;
    if (!absl::SimpleAtoi(parts[1], &kind) || !IsNudgeKind(kind) ||
        !absl::SimpleAtoi(parts[2], &unix)) {
      return malformed;
    }
    ref.snoozed = true;
    ref.kind = static_cast<NudgeKind>(kind);
    ref.due = absl::FromUnixSeconds(unix);
    expected = SnoozeHash(user_id, ref.kind, unix);
  } else {
    int date = 0;
    int slot = 0;
    if (!KindFromCode(parts[0], &ref.kind) || parts[1].size() != 8 ||
        !absl::SimpleAtoi(parts[1], &date) || !absl::SimpleAtoi(parts[2], &slot) || slot < 0 ||
        slot > 100000) {
      return malformed;
    }
    ref.plan_day = absl::CivilDay(date / 10000, (date / 100) % 100, date % 100);
    if (ref.plan_day.year() * 10000 + ref.plan_day.month() * 100 + ref.plan_day.day() != date) {
      return malformed;  // not a real calendar date (CivilDay normalizes e.g. 20260230)
    }
    ref.slot = slot;
    expected = PlannedHash(user_id, ref.kind, ref.plan_day, slot);
  }
  if (Hex16(expected) != parts[3]) return absl::NotFoundError("no such nudge for this user");
  return ref;
}

std::string FormatLocalTime(absl::Time t, const absl::TimeZone& zone) {
  // What absl::FormatTime("%Y-%m-%dT%H:%M:%S%Ez") gives (planner_test holds it to that), written
  // out because the general formatter costs about a microsecond per listed occurrence.
  const absl::TimeZone::CivilInfo info = zone.At(t);
  const absl::CivilSecond& cs = info.cs;
  int offset_min = std::abs(info.offset) / 60;
  // Like %Ez, an offset that rounds to zero minutes is printed "+00:00".
  const char* sign = info.offset < 0 && offset_min != 0 ? "-" : "+";
  return absl::StrCat(
      cs.year(), "-", absl::Dec(cs.month(), absl::kZeroPad2), "-",
      absl::Dec(cs.day(), absl::kZeroPad2), "T", absl::Dec(cs.hour(), absl::kZeroPad2), ":",
      absl::Dec(cs.minute(), absl::kZeroPad2), ":", absl::Dec(cs.second(), absl::kZeroPad2), sign,
      absl::Dec(offset_min / 60, absl::kZeroPad2), ":",
      absl::Dec(offset_min % 60, absl::kZeroPad2));
}

absl::Time ResolveLocal(const absl::TimeZone& zone, absl::CivilSecond cs) {
  const absl::TimeZone::TimeInfo info = zone.At(cs);
  if (info.kind == absl::TimeZone::TimeInfo::SKIPPED) return info.trans;
  return info.pre;  // UNIQUE: pre == post; REPEATED: the first of the two.
}

absl::CivilDay PlanDayOf(const Plan& plan, absl::Time t) {
  const absl::CivilSecond cs = plan.zone.At(t).cs;
  const absl::CivilDay date(cs);
  const int minute = cs.hour() * 60 + cs.minute();
  return minute >= plan.wake_minute ? date : date - 1;
}

int32_t WaterTargetMl(const Plan& plan, const ScheduleRules& rules) {
  return plan.water_target_ml > 0 ? plan.water_target_ml : rules.default_water_target_ml;
}

void LabelOccurrence(const Plan& plan, Occurrence* o) {
  o->nudge_id = MakeNudgeId(plan.user_id, o->kind, o->plan_day, o->slot);
  o->local_time = FormatLocalTime(o->due, plan.zone);
}

std::vector<Occurrence> PlanDay(const Plan& plan, const ScheduleRules& rules, absl::CivilDay day,
                                bool labels) {
  const int waking_min = plan.WakingMinutes();
  const int64_t waking_sec = int64_t{waking_min} * 60;
  std::vector<Candidate> cands;

  if (plan.hydration && rules.glass_ml > 0) {
    const int n = (WaterTargetMl(plan, rules) + rules.glass_ml - 1) / rules.glass_ml;
    int64_t start = int64_t{rules.hydration_start_after_wake_min} * 60;
    int64_t end = waking_sec - int64_t{rules.hydration_stop_before_sleep_min} * 60;
    if (end - start < int64_t{n - 1} * rules.hydration_min_spacing_min * 60) {
      start = 0;  // a short waking window: use all of it
      end = std::max<int64_t>(0, waking_sec - 60);
    }
    for (int i = 0; i < n; ++i) {
      const int64_t off = n == 1 ? start : start + (end - start) * i / (n - 1);
      cands.push_back({NudgeKind::kHydration, i, off, {}});
    }
  }
  if (plan.stretching) {
    const int k = rules.daytime_stretches;
    for (int i = 0; i < k; ++i) {
      cands.push_back({NudgeKind::kStretching, i, waking_sec * (i + 1) / (k + 1), {}});
    }
  }
  if (plan.bedtime_stretch) {
    const int64_t off =
        std::max<int64_t>(0, waking_sec - int64_t{rules.bedtime_stretch_before_sleep_min} * 60);
    cands.push_back({NudgeKind::kBedtimeStretch, 0, off, {}});
  }
  if (plan.movement_break && rules.movement_break_interval_min > 0) {
    for (const auto& [s, e] : StandingIntervals(plan, day)) {
      for (int t = s + rules.movement_break_interval_min;
           t <= e - rules.movement_break_end_margin_min; t += rules.movement_break_interval_min) {
        const int off_min = t - plan.wake_minute;
        if (off_min >= 0 && off_min < waking_min) {
          cands.push_back({NudgeKind::kMovementBreak, off_min, int64_t{off_min} * 60, {}});
        }
      }
    }
  }

  // Per-user jitter, kept inside the waking window, then local time -> instant.
  const int jitter = JitterSeconds(plan.user_id, rules);
  const absl::CivilSecond wake_cs = absl::CivilSecond(day) + int64_t{plan.wake_minute} * 60;
  std::vector<Candidate> kept;
  kept.reserve(cands.size());
  for (Candidate& c : cands) {
    int64_t off = c.offset_sec + jitter;
    if (off >= waking_sec) off = c.offset_sec - jitter;
    if (off < 0) off = c.offset_sec;
    c.offset_sec = off;
    c.due = ResolveLocal(plan.zone, wake_cs + off);
    if (plan.IsQuiet(c.due)) continue;  // only a DST gap at the end of the window gets here
    kept.push_back(c);
  }

  // Merge same-kind occurrences on one instant (a DST gap maps many local times to one instant).
  std::sort(kept.begin(), kept.end(), [](const Candidate& a, const Candidate& b) {
    if (a.kind != b.kind) return a.kind < b.kind;
    if (a.due != b.due) return a.due < b.due;
    return a.slot < b.slot;
  });
  kept.erase(std::unique(kept.begin(), kept.end(),
                         [](const Candidate& a, const Candidate& b) {
                           return a.kind == b.kind && a.due == b.due;
                         }),
             kept.end());

  // Daily cap by priority; a kind that does not fit keeps an evenly spread subset.
  const size_t cap = static_cast<size_t>(
      plan.max_nudges_per_day > 0 ? plan.max_nudges_per_day : rules.default_max_nudges_per_day);
  if (kept.size() > cap) {
    std::vector<Candidate> capped;
    for (int prio = 0; prio <= 3 && capped.size() < cap; ++prio) {
      std::vector<Candidate> group;
      for (const Candidate& c : kept) {
        if (Priority(c.kind) == prio) group.push_back(c);
      }
      const size_t room = cap - capped.size();
      if (group.size() <= room) {
        capped.insert(capped.end(), group.begin(), group.end());
      } else {
        for (size_t idx : SpreadSubset(group.size(), room)) capped.push_back(group[idx]);
      }
    }
    kept.swap(capped);
  }

  std::sort(kept.begin(), kept.end(), [](const Candidate& a, const Candidate& b) {
    if (a.due != b.due) return a.due < b.due;
    if (a.kind != b.kind) return a.kind < b.kind;
    return a.slot < b.slot;
  });
  std::vector<Occurrence> out;
  out.reserve(kept.size());
  for (const Candidate& c : kept) {
    Occurrence o;
    o.kind = c.kind;
    o.due = c.due;
    o.plan_day = day;
    o.slot = c.slot;
    if (labels) LabelOccurrence(plan, &o);
    out.push_back(std::move(o));
  }
  return out;
}

void VisitOccurrences(const Plan& plan, const ScheduleRules& rules, absl::Time start,
                      absl::Time end, absl::FunctionRef<bool(Occurrence&)> visit) {
  if (end <= start) return;
  if (end - start > absl::Hours(24 * 400)) end = start + absl::Hours(24 * 400);
  const absl::CivilSecond start_cs = plan.zone.At(start).cs;
  absl::CivilDay first = absl::CivilDay(start_cs) - 1;
  // The previous date's plan day ends at its sleep time: skip it when start is well past that
  // (two hours of margin for a DST change in between).
  const int64_t first_end_min = int64_t{plan.wake_minute} + plan.WakingMinutes() + 120;
  if (start_cs >= absl::CivilSecond(first) + first_end_min * 60) ++first;
  const absl::CivilDay last = absl::CivilDay(plan.zone.At(end).cs);
  for (absl::CivilDay d = first; d <= last; ++d) {
    for (Occurrence& o : PlanDay(plan, rules, d, /*labels=*/false)) {
      if (o.due >= start && o.due < end && !visit(o)) return;
    }
  }
}

std::vector<Occurrence> PlanOccurrences(const Plan& plan, const ScheduleRules& rules,
                                        absl::Time start, absl::Time end, bool labels) {
  std::vector<Occurrence> out;
  VisitOccurrences(plan, rules, start, end, [&out](Occurrence& o) {
    out.push_back(std::move(o));
    return true;
  });
  // Day order is due order; this only orders equal instants of two days (both in one DST gap).
  std::stable_sort(out.begin(), out.end(), [](const Occurrence& a, const Occurrence& b) {
    if (a.due != b.due) return a.due < b.due;
    if (a.kind != b.kind) return a.kind < b.kind;
    return a.slot < b.slot;
  });
  // Labelled after the window cut: the days around it hold about twice as many as it keeps.
  if (labels) {
    for (Occurrence& o : out) LabelOccurrence(plan, &o);
  }
  return out;
}

std::vector<std::string> HydrationNudgesToDrop(const std::vector<Occurrence>& day_occurrences,
                                               int32_t total_ml, int32_t target_ml,
                                               absl::Time now) {
  std::vector<std::string> ids;
  if (total_ml < target_ml) return ids;
  for (const Occurrence& o : day_occurrences) {
    if (o.kind == NudgeKind::kHydration && o.due > now) ids.push_back(o.nudge_id);
  }
  return ids;
}

absl::Time SnoozeTarget(const Plan& plan, absl::Time now, int minutes) {
  const absl::Time t = now + absl::Minutes(minutes);
  if (!plan.IsQuiet(t)) return t;
  // Next wake time strictly after t on her wall clock.
  const absl::CivilSecond cs = plan.zone.At(t).cs;
  absl::CivilSecond wake = absl::CivilSecond(absl::CivilDay(cs)) + int64_t{plan.wake_minute} * 60;
  if (wake <= cs) wake = absl::CivilSecond(absl::CivilDay(cs) + 1) + int64_t{plan.wake_minute} * 60;
  return ResolveLocal(plan.zone, wake);
}

Occurrence MakeSnoozeOccurrence(const Plan& plan, NudgeKind kind, absl::Time now, int minutes) {
  Occurrence o;
  o.kind = kind;
  o.due = absl::FromUnixSeconds(absl::ToUnixSeconds(SnoozeTarget(plan, now, minutes)));
  o.plan_day = PlanDayOf(plan, o.due);
  o.slot = -1;
  o.nudge_id = MakeSnoozeId(plan.user_id, kind, o.due);
  o.local_time = FormatLocalTime(o.due, plan.zone);
  return o;
}

}  // namespace legwise::reminder
