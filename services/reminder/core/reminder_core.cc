#include "services/reminder/core/reminder_core.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "services/common/validation.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

constexpr absl::string_view kListPurpose = "reminder.ListUpcomingNudges";

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t ns = absl::ToUnixNanos(t);
  int64_t s = ns / 1000000000;
  int64_t r = ns % 1000000000;
  if (r < 0) {
    r += 1000000000;
    --s;
  }
  ts->set_seconds(s);
  ts->set_nanos(static_cast<int32_t>(r));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Time DueOf(const v1::Nudge& n) { return FromTimestamp(n.due_time()); }

std::string MakeEtag(const v1::ReminderPlan& plan) {
  v1::ReminderPlan copy = plan;
  copy.clear_etag();
  return absl::StrFormat("%016x", StableHash64(copy.SerializeAsString()));
}

v1::ReminderPlan Stamped(const v1::ReminderPlan& in, absl::Time create, absl::Time update) {
  v1::ReminderPlan p = in;
  p.clear_etag();
  SetTimestamp(create, p.mutable_create_time());
  SetTimestamp(update, p.mutable_update_time());
  p.set_etag(MakeEtag(p));
  return p;
}

absl::Status InvalidField(absl::string_view field, absl::string_view description) {
  FieldViolations v;
  v.Add(std::string(field), std::string(description));
  return v.ToStatus();
}

}  // namespace

std::string ReminderCore::RequestHash(const v1::CreateReminderPlanRequest& req) {
  v1::CreateReminderPlanRequest copy = req;
  copy.mutable_plan()->clear_etag();
  copy.mutable_plan()->clear_create_time();
  copy.mutable_plan()->clear_update_time();
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    copy.SerializeToCodedStream(&coded);
  }
  return absl::StrFormat("%016x", StableHash64(bytes));
}

v1::Nudge ReminderCore::ToNudge(const Plan& plan, const Occurrence& o) {
  v1::Nudge n;
  n.set_nudge_id(o.nudge_id);
  n.set_user_id(plan.user_id);
  n.set_kind(static_cast<v1::NudgeKind>(static_cast<int>(o.kind)));
  SetTimestamp(o.due, n.mutable_due_time());
  n.set_local_time(o.local_time);
  n.set_locale(plan.locale.empty() ? "en" : plan.locale);
  return n;
}

absl::StatusOr<ValidPlan> ReminderCore::NewPlan(const v1::ReminderPlan& in, absl::Time now) const {
  absl::StatusOr<Plan> parsed = PlanFromProto(in);
  if (!parsed.ok()) return parsed.status();
  return ValidPlan{Stamped(in, now, now), *std::move(parsed)};
}

absl::StatusOr<ValidPlan> ReminderCore::ReplacePlan(const ValidPlan& next,
                                                    absl::string_view client_etag,
                                                    const v1::ReminderPlan& current,
                                                    absl::Time now) const {
  if (!client_etag.empty() && client_etag != current.etag()) {
    return absl::AbortedError("the plan changed since it was read (etag mismatch)");
  }
  return ValidPlan{Stamped(next.proto, FromTimestamp(current.create_time()), now), next.plan};
}

absl::StatusOr<ValidPlan> ReminderCore::FromStored(v1::ReminderPlan stored) {
  absl::StatusOr<Plan> parsed = PlanFromProto(stored);
  if (!parsed.ok()) return absl::InternalError("stored plan no longer validates");
  return ValidPlan{std::move(stored), *std::move(parsed)};
}

bool ReminderCore::IsHerPageToken(absl::string_view token, absl::string_view user_id) const {
  absl::StatusOr<std::string> payload = tokens_->Verify(kListPurpose, token);
  return payload.ok() && absl::StartsWith(*payload, absl::StrCat(user_id, "|"));
}

absl::StatusOr<ReminderCore::Window> ReminderCore::ListWindow(const ListQuery& q,
                                                              const std::string& user_id,
                                                              absl::Time now) const {
  Window w;
  w.start = q.has_start ? q.start : now;
  w.end = q.has_end ? q.end : w.start + absl::Hours(24);
  if (!q.page_token.empty()) {
    absl::StatusOr<std::string> payload = tokens_->Verify(kListPurpose, q.page_token);
    if (!payload.ok()) return InvalidField("page_token", "is not a token from a previous answer");
    std::vector<std::string> parts = absl::StrSplit(*payload, absl::MaxSplits('|', 4));
    int64_t s = 0, e = 0, d = 0;
    if (parts.size() != 5 || !absl::SimpleAtoi(parts[1], &s) || !absl::SimpleAtoi(parts[2], &e) ||
        !absl::SimpleAtoi(parts[3], &d)) {
      return InvalidField("page_token", "is not a token from a previous answer");
    }
    if (parts[0] != user_id) return InvalidField("page_token", "belongs to another user");
    const absl::Time ts = absl::FromUnixNanos(s), te = absl::FromUnixNanos(e);
    // The token carries the window; an explicit window must be the same one.
    if ((q.has_start && q.start != ts) || (q.has_end && q.end != te)) {
      return InvalidField("page_token", "belongs to a different time window");
    }
    w.start = ts;
    w.end = te;
    w.has_cursor = true;
    w.last_due = absl::FromUnixNanos(d);
    w.last_id = parts[4];
  }
  FieldViolations v;
  if (w.end <= w.start) v.Add("end_time", "must be after start_time");
  if (w.end - w.start > limits_.max_list_window) {
    v.Add("end_time", "at most 14 days after start_time");
  }
  if (!v.empty()) return v.ToStatus();
  return w;
}

std::vector<v1::Nudge> ReminderCore::List(const ValidPlan& vp, const UserState& state,
                                          const Window& w, int32_t page_size,
                                          std::string* next_page_token) const {
  const Plan& plan = vp.plan;
  const std::set<std::string> acked(state.acknowledged.begin(), state.acknowledged.end());
  const std::set<std::string> cancelled(state.cancelled.begin(), state.cancelled.end());
  // What falls in the window, in (due, id) order; only the page becomes Nudge messages.
  struct Entry {
    absl::Time due;
    const std::string* id;
    const Occurrence* occurrence;  // a planned one, or else
    const v1::Nudge* snooze;       // a snoozed one
  };
  const std::vector<Occurrence> occurrences = PlanOccurrences(plan, rules_, w.start, w.end);
  std::vector<Entry> all;
  all.reserve(occurrences.size() + state.snoozes.size());
  for (const Occurrence& o : occurrences) {
    if (!cancelled.count(o.nudge_id)) all.push_back({o.due, &o.nudge_id, &o, nullptr});
  }
  for (const v1::Nudge& n : state.snoozes) {
    const absl::Time due = DueOf(n);
    if (due >= w.start && due < w.end && !cancelled.count(n.nudge_id())) {
      all.push_back({due, &n.nudge_id(), nullptr, &n});
    }
  }
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) {
    if (a.due != b.due) return a.due < b.due;
    return *a.id < *b.id;
  });
  const int size =
      page_size == 0 ? limits_.default_page_size : std::min<int>(page_size, limits_.max_page_size);
  size_t i = 0;
  if (w.has_cursor) {
    while (i < all.size() &&
           (all[i].due < w.last_due || (all[i].due == w.last_due && *all[i].id <= w.last_id))) {
      ++i;
    }
  }
  std::vector<v1::Nudge> page;
  for (; i < all.size() && static_cast<int>(page.size()) < size; ++i) {
    page.push_back(all[i].occurrence != nullptr ? ToNudge(plan, *all[i].occurrence)
                                                : *all[i].snooze);
    page.back().set_acknowledged(acked.count(page.back().nudge_id()) > 0);
  }
  next_page_token->clear();
  if (i < all.size() && !page.empty()) {
    *next_page_token = tokens_->Sign(
        kListPurpose,
        absl::StrCat(plan.user_id, "|", absl::ToUnixNanos(w.start), "|", absl::ToUnixNanos(w.end),
                     "|", absl::ToUnixNanos(DueOf(page.back())), "|", page.back().nudge_id()));
  }
  return page;
}

absl::StatusOr<absl::Time> ReminderCore::CheckAcknowledge(const ValidPlan& vp,
                                                          const UserState& state,
                                                          absl::string_view nudge_id,
                                                          absl::Time now) const {
  absl::StatusOr<NudgeRef> ref = ParseNudgeId(vp.plan.user_id, nudge_id);
  if (absl::IsInvalidArgument(ref.status())) return InvalidField("nudge_id", "is not a nudge id");
  if (!ref.ok()) return ref.status();
  absl::Time due = absl::InfinitePast();
  bool found = false;
  if (ref->snoozed) {
    for (const v1::Nudge& n : state.snoozes) {
      if (n.nudge_id() == nudge_id) {
        due = DueOf(n);
        found = true;
      }
    }
  } else {
    // A plan day far from now cannot hold an occurrence inside the window: refuse before planning.
    const absl::CivilDay today = PlanDayOf(vp.plan, now);
    if (ref->plan_day >= today - 3 && ref->plan_day <= today + 2) {
      for (const Occurrence& o : PlanDay(vp.plan, rules_, ref->plan_day)) {
        if (o.nudge_id == nudge_id) {
          due = o.due;
          found = true;
        }
      }
    } else {
      return WithErrorInfo(
          absl::FailedPreconditionError(
              "nudge_id is outside the acknowledgement window (48 hours back, 24 hours ahead)"),
          "ACK_WINDOW");
    }
  }
  if (!found) return absl::NotFoundError("nudge_id is not a nudge of her schedule");
  if (due < now - limits_.ack_past || due > now + limits_.ack_future) {
    return WithErrorInfo(
        absl::FailedPreconditionError(
            "nudge_id is outside the acknowledgement window (48 hours back, 24 hours ahead)"),
        "ACK_WINDOW");
  }
  return due;
}

int ReminderCore::PendingSnoozes(const UserState& state, absl::Time now) {
  int n = 0;
  for (const v1::Nudge& s : state.snoozes) {
    if (DueOf(s) > now) ++n;
  }
  return n;
}

absl::StatusOr<Occurrence> ReminderCore::Snooze(const ValidPlan& vp, const UserState& state,
                                                absl::string_view nudge_id, int minutes,
                                                absl::Time now) const {
  absl::StatusOr<NudgeRef> ref = ParseNudgeId(vp.plan.user_id, nudge_id);
  if (absl::IsInvalidArgument(ref.status())) return InvalidField("nudge_id", "is not a nudge id");
  if (!ref.ok()) return ref.status();
  const Occurrence o = MakeSnoozeOccurrence(vp.plan, ref->kind, now, minutes);
  for (const v1::Nudge& s : state.snoozes) {
    if (s.nudge_id() == o.nudge_id) return o;  // the same snooze again: idempotent
  }
  if (PendingSnoozes(state, now) >= limits_.max_pending_snoozes) {
    return WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                             "at most ", limits_.max_pending_snoozes, " pending snoozes")),
                         "SNOOZE_LIMIT");
  }
  return o;
}

absl::Status ReminderCore::CheckWater(int64_t total_before_ml, int32_t amount_ml) const {
  if (total_before_ml + amount_ml > limits_.max_water_per_day_ml) {
    return WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                             "at most ", limits_.max_water_per_day_ml, " ml a day can be logged")),
                         "WATER_DAILY_CAP");
  }
  return absl::OkStatus();
}

WaterResult ReminderCore::AfterWater(const ValidPlan& vp, absl::CivilDay day, int64_t total_ml,
                                     absl::Time now) const {
  WaterResult r;
  r.total_ml = total_ml;
  r.target_ml = WaterTarget(vp.plan);
  r.target_reached = total_ml >= r.target_ml;
  if (r.target_reached) {
    r.drop = HydrationNudgesToDrop(PlanDay(vp.plan, rules_, day),
                                   static_cast<int32_t>(std::min<int64_t>(total_ml, INT32_MAX)),
                                   r.target_ml, now);
  }
  return r;
}

DueWork DueForDispatch(const Plan& plan, const ScheduleRules& rules, const UserState& state,
                       absl::Time watermark, absl::Time now, absl::Duration misfire,
                       absl::Time not_before) {
  DueWork w;
  std::set<std::string> skip(state.acknowledged.begin(), state.acknowledged.end());
  skip.insert(state.cancelled.begin(), state.cancelled.end());
  // A watermark days old (long downtime) cannot hold anything deliverable before the misfire
  // threshold: plan from at most two days back (misfires counted there), so a claim costs about
  // the same whatever her watermark.
  const absl::Time bound = now - std::max(misfire + absl::Hours(1), absl::Hours(48));
  const absl::Time start = std::max({watermark, bound, not_before});
  const absl::Time cutoff = now - misfire;
  auto take = [&](v1::Nudge n, absl::Time due) {
    if (due < cutoff) {
      ++w.misfired;
    } else {
      w.publish.push_back(std::move(n));
    }
  };
  const absl::Time lookahead = now + absl::Hours(24);
  w.next_due = absl::InfiniteFuture();
  // Occurrences are whole seconds; the window is (watermark, now]. Planned unlabelled, in due
  // order: only those published (and, while she has acknowledged or cancelled anything, those
  // checked against that) get their id and local time; the first one after now is the next due.
  VisitOccurrences(plan, rules, start, lookahead + absl::Milliseconds(1), [&](Occurrence& o) {
    if (o.due <= watermark) return true;
    if (o.due <= now || !skip.empty()) LabelOccurrence(plan, &o);
    if (skip.count(o.nudge_id)) return true;
    if (o.due > now) {
      w.next_due = o.due;
      return false;  // the days after it are not planned
    }
    take(ReminderCore::ToNudge(plan, o), o.due);
    return true;
  });
  for (const v1::Nudge& n : state.snoozes) {
    const absl::Time due = DueOf(n);
    if (due <= watermark || skip.count(n.nudge_id())) continue;
    if (due <= now) {
      if (due >= bound) take(n, due);
    } else {
      w.next_due = std::min(w.next_due, due);
    }
  }
  std::sort(w.publish.begin(), w.publish.end(), [](const v1::Nudge& a, const v1::Nudge& b) {
    if (DueOf(a) != DueOf(b)) return DueOf(a) < DueOf(b);
    return a.nudge_id() < b.nudge_id();
  });
  if (w.next_due == absl::InfiniteFuture()) w.next_due = lookahead;
  return w;
}

}  // namespace legwise::reminder
