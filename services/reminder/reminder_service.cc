#include "services/reminder/reminder_service.h"

#include <algorithm>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/common/metrics.h"
#include "services/common/validation.h"
#include "services/reminder/delivery/scheduling.h"
#include "services/reminder/planner/plan.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

constexpr int kMaxRequestIdLength = 128;
constexpr int kMaxNudgeIdLength = 80;
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 200;
constexpr absl::Duration kMaxListWindow = absl::Hours(24 * 14);

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

// Checks a Timestamp's range (0001-01-01 .. 9999-12-31, nanos 0..999999999).
bool ValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= -62135596800LL && ts.seconds() <= 253402300799LL && ts.nanos() >= 0 &&
         ts.nanos() <= 999999999;
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

absl::Time DueOf(const v1::Nudge& n) { return FromTimestamp(n.due_time()); }

void CheckUserId(const std::string& user_id, const std::string& path, FieldViolations* v) {
  if (user_id.empty()) {
    v->Add(path, "is required");
  } else if (!IsValidUserId(user_id)) {
    v->Add(path, "must be 1..128 characters of A-Z a-z 0-9 . _ : @ -");
  }
}

std::string MakeEtag(const v1::ReminderPlan& plan) {
  v1::ReminderPlan copy = plan;
  copy.clear_etag();
  return absl::StrFormat("%016x", StableHash64(copy.SerializeAsString()));
}

// The stored form of a plan: client-set fields, server-set times and etag.
v1::ReminderPlan StoredPlan(const v1::ReminderPlan& in, absl::Time create, absl::Time update) {
  v1::ReminderPlan p = in;
  SetTimestamp(create, p.mutable_create_time());
  SetTimestamp(update, p.mutable_update_time());
  p.set_etag(MakeEtag(p));
  return p;
}

// Page tokens: web-safe base64 of "v1|<start ns>|<end ns>|<last due ns>|<last nudge id>".
std::string EncodePageToken(absl::Time start, absl::Time end, const v1::Nudge& last) {
  return absl::WebSafeBase64Escape(
      absl::StrCat("v1|", absl::ToUnixNanos(start), "|", absl::ToUnixNanos(end), "|",
                   absl::ToUnixNanos(DueOf(last)), "|", last.nudge_id()));
}

struct PageCursor {
  absl::Time start, end, last_due;
  std::string last_id;
};

bool DecodePageToken(const std::string& token, PageCursor* c) {
  std::string raw;
  if (token.size() > 512 || !absl::WebSafeBase64Unescape(token, &raw)) return false;
  std::vector<std::string> parts = absl::StrSplit(raw, '|');
  int64_t s = 0, e = 0, d = 0;
  if (parts.size() != 5 || parts[0] != "v1" || !absl::SimpleAtoi(parts[1], &s) ||
      !absl::SimpleAtoi(parts[2], &e) || !absl::SimpleAtoi(parts[3], &d)) {
    return false;
  }
  c->start = absl::FromUnixNanos(s);
  c->end = absl::FromUnixNanos(e);
  c->last_due = absl::FromUnixNanos(d);
  c->last_id = parts[4];
  return true;
}

// A plan read back from the store as the planner's Plan. It was validated when it was stored, so
// a failure here is corruption or a tightened rule: INTERNAL, never the caller's fault.
absl::StatusOr<Plan> ParseStoredPlan(const v1::ReminderPlan& stored) {
  absl::StatusOr<Plan> parsed = PlanFromProto(stored);
  if (!parsed.ok()) return absl::InternalError("stored plan no longer validates");
  return parsed;
}

}  // namespace

// --- StreamNudges -------------------------------------------------------------------------------

// Writes one user's nudges as the hub hands them over, one write at a time, until she hangs up or
// the server shuts down.
class NudgeStreamReactor : public grpc::ServerWriteReactor<v1::Nudge> {
 public:
  NudgeStreamReactor(ReminderServiceImpl* service, const std::string& user_id)
      : service_(service), user_id_(user_id) {
    service_->Register(this);
    handle_ = service_->hub_->Subscribe(user_id, [this](const v1::Nudge& n) { Enqueue(n); });
  }

  const std::string& user_id() const { return user_id_; }

  // Ends the stream with OK once the current write is done.
  void End() {
    absl::MutexLock lock(&mu_);
    end_requested_ = true;
    if (!writing_) FinishOnce(grpc::Status::OK);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    if (end_requested_) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    MaybeWrite();
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  void OnDone() override {
    service_->hub_->Unsubscribe(handle_);  // no sink call after this returns
    service_->Unregister(this);
    delete this;
  }

 private:
  void Enqueue(const v1::Nudge& n) {
    v1::Nudge copy = n;
    absl::MutexLock lock(&mu_);
    if (finished_ || end_requested_) return;
    if (queue_.size() >= 256) queue_.pop_front();  // a stalled client loses the oldest, not memory
    queue_.push_back(std::move(copy));
    MaybeWrite();
  }

  void MaybeWrite() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_ || queue_.empty()) return;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  void FinishOnce(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  ReminderServiceImpl* service_;
  const std::string user_id_;
  uint64_t handle_ = 0;
  absl::Mutex mu_;
  std::deque<v1::Nudge> queue_ ABSL_GUARDED_BY(mu_);
  v1::Nudge current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool end_requested_ ABSL_GUARDED_BY(mu_) = false;
};

// --- service ------------------------------------------------------------------------------------

ReminderServiceImpl::ReminderServiceImpl(ReminderStore* store, NudgeHub* hub,
                                         NudgeTextProvider* texts, const Planner* planner,
                                         ReminderServiceOptions options)
    : store_(store), hub_(hub), texts_(texts), planner_(planner), options_(options) {
  Metrics::Default().Describe("legwise_reminder_open_streams", "gauge",
                              "StreamNudges streams open on this replica.");
  Metrics::Default().Set("legwise_reminder_open_streams", {}, 0);
}

void ReminderServiceImpl::Register(NudgeStreamReactor* r) {
  absl::MutexLock lock(&streams_mu_);
  streams_.insert(r);
  Metrics::Default().Set("legwise_reminder_open_streams", {}, static_cast<double>(streams_.size()));
}

void ReminderServiceImpl::Unregister(NudgeStreamReactor* r) {
  absl::MutexLock lock(&streams_mu_);
  streams_.erase(r);
  if (auto it = streams_per_user_.find(r->user_id());
      it != streams_per_user_.end() && --it->second <= 0) {
    streams_per_user_.erase(it);
  }
  // A stream whose client went away must come back down here (the fault tests watch it).
  Metrics::Default().Set("legwise_reminder_open_streams", {}, static_cast<double>(streams_.size()));
}

void ReminderServiceImpl::EndStreams() {
  absl::MutexLock lock(&streams_mu_);
  ending_ = true;
  for (NudgeStreamReactor* r : streams_) r->End();
}

void ReminderServiceImpl::FillTexts(v1::Nudge* nudge) {
  const auto texts = texts_->Get(nudge->locale());
  const int k = static_cast<int>(nudge->kind());
  if (IsNudgeKind(k)) {
    const NudgeText& t = texts->For(static_cast<NudgeKind>(k));
    nudge->set_title(t.title);
    nudge->set_body(t.body);
  }
  nudge->set_locale(texts->locale);
}

absl::Status ReminderServiceImpl::LoadPlan(const std::string& user_id, Plan* plan) {
  absl::StatusOr<v1::ReminderPlan> stored = store_->GetPlan(user_id);
  if (!stored.ok()) return stored.status();
  absl::StatusOr<Plan> parsed = ParseStoredPlan(*stored);
  if (!parsed.ok()) return parsed.status();
  *plan = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status ReminderServiceImpl::DoCreate(const v1::CreateReminderPlanRequest& req,
                                           v1::ReminderPlan* out) {
  FieldViolations v;
  if (!req.has_plan()) {
    v.Add("plan", "is required");
  } else {
    ValidatePlan(req.plan(), "plan", &v);
  }
  if (req.request_id().size() > static_cast<size_t>(kMaxRequestIdLength)) {
    v.Add("request_id", "at most 128 characters");
  }
  if (!v.empty()) return v.ToStatus("INVALID_REMINDER_PLAN");
  absl::StatusOr<Plan> plan = PlanFromProto(req.plan());
  if (!plan.ok()) return plan.status();

  const absl::Time now = planner_->Now();
  // A refill entry first, due in a few seconds: if this call dies after storing the plan but before
  // scheduling it, the dispatchers' refill loop schedules her plan anyway (and drops the entry when
  // no plan was stored). The scheduling below moves the entry a day ahead.
  absl::StatusOr<int> safety =
      store_->Schedule(req.plan().user_id(), {}, now, /*replace=*/false, now + absl::Seconds(5));
  if (!safety.ok()) return safety.status();
  absl::StatusOr<v1::ReminderPlan> stored =
      store_->CreatePlan(StoredPlan(req.plan(), now, now), req.request_id());
  if (!stored.ok()) return stored.status();
  // A retried request (same request_id) schedules again without replacing: idempotent.
  absl::StatusOr<Plan> stored_plan = ParseStoredPlan(*stored);
  if (!stored_plan.ok()) return stored_plan.status();
  absl::StatusOr<int> n = ScheduleHorizon(*store_, planner_->rules(), *stored_plan, now,
                                          options_.horizon, /*replace=*/false);
  if (!n.ok()) return n.status();
  *out = *std::move(stored);
  return absl::OkStatus();
}

absl::Status ReminderServiceImpl::DoGet(const v1::GetReminderPlanRequest& req,
                                        v1::ReminderPlan* out) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (!v.empty()) return v.ToStatus();
  absl::StatusOr<v1::ReminderPlan> stored = store_->GetPlan(req.user_id());
  if (!stored.ok()) return stored.status();
  *out = *std::move(stored);
  return absl::OkStatus();
}

absl::Status ReminderServiceImpl::DoUpdate(const v1::UpdateReminderPlanRequest& req,
                                           v1::ReminderPlan* out) {
  FieldViolations v;
  if (!req.has_plan()) {
    v.Add("plan", "is required");
  } else {
    ValidatePlan(req.plan(), "plan", &v);
  }
  if (!v.empty()) return v.ToStatus("INVALID_REMINDER_PLAN");
  absl::StatusOr<Plan> plan = PlanFromProto(req.plan());
  if (!plan.ok()) return plan.status();

  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<v1::ReminderPlan> current = store_->GetPlan(req.plan().user_id());
    if (!current.ok()) return current.status();
    if (!req.plan().etag().empty() && req.plan().etag() != current->etag()) {
      return absl::AbortedError("the plan changed since it was read (etag mismatch)");
    }
    const absl::Time now = planner_->Now();
    v1::ReminderPlan next = req.plan();
    next.clear_etag();
    v1::ReminderPlan stored = StoredPlan(next, FromTimestamp(current->create_time()), now);
    absl::Status s = store_->ReplacePlan(stored, current->etag());
    if (absl::IsAborted(s) && req.plan().etag().empty()) continue;  // raced: read again
    if (!s.ok()) return s;
    absl::StatusOr<int> n =
        ScheduleHorizon(*store_, planner_->rules(), *plan, now, options_.horizon, /*replace=*/true);
    if (!n.ok()) return n.status();
    *out = std::move(stored);
    return absl::OkStatus();
  }
  return absl::AbortedError("the plan kept changing; read it and retry");
}

absl::Status ReminderServiceImpl::DoDelete(const v1::DeleteReminderPlanRequest& req) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (!v.empty()) return v.ToStatus();
  return store_->DeletePlan(req.user_id());
}

absl::Status ReminderServiceImpl::DoList(const v1::ListUpcomingNudgesRequest& req,
                                         v1::ListUpcomingNudgesResponse* resp) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (req.page_size() < 0) v.Add("page_size", "must not be negative");
  if (req.has_start_time() && !ValidTimestamp(req.start_time())) {
    v.Add("start_time", "is not a valid timestamp");
  }
  if (req.has_end_time() && !ValidTimestamp(req.end_time())) {
    v.Add("end_time", "is not a valid timestamp");
  }
  PageCursor cursor;
  const bool has_cursor = !req.page_token().empty();
  if (has_cursor && !DecodePageToken(req.page_token(), &cursor)) {
    v.Add("page_token", "is not a token from a previous answer");
  }
  if (!v.empty()) return v.ToStatus();

  absl::Time start = req.has_start_time() ? FromTimestamp(req.start_time()) : planner_->Now();
  absl::Time end = req.has_end_time() ? FromTimestamp(req.end_time()) : start + absl::Hours(24);
  if (has_cursor) {
    // The token carries the window; an explicit window must be the same one.
    if ((req.has_start_time() && start != cursor.start) ||
        (req.has_end_time() && end != cursor.end)) {
      v.Add("page_token", "belongs to a different time window");
      return v.ToStatus();
    }
    start = cursor.start;
    end = cursor.end;
  }
  if (end <= start) v.Add("end_time", "must be after start_time");
  if (end - start > kMaxListWindow) v.Add("end_time", "at most 14 days after start_time");
  if (!v.empty()) return v.ToStatus();

  absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>> stored =
      store_->GetPlanAndState(req.user_id());
  if (!stored.ok()) return stored.status();
  absl::StatusOr<Plan> parsed = ParseStoredPlan(stored->first);
  if (!parsed.ok()) return parsed.status();
  const Plan& plan = *parsed;
  const UserNudgeState& state = stored->second;
  const std::set<std::string> acked(state.acknowledged.begin(), state.acknowledged.end());
  const std::set<std::string> cancelled(state.cancelled.begin(), state.cancelled.end());

  std::vector<v1::Nudge> all;
  for (const Occurrence& o : planner_->Occurrences(plan, start, end)) {
    if (cancelled.count(o.nudge_id)) continue;
    all.push_back(NudgeFromOccurrence(plan, o));
  }
  for (const std::string& payload : state.snoozes) {
    v1::Nudge n;
    if (n.ParseFromString(payload) && DueOf(n) >= start && DueOf(n) < end &&
        !cancelled.count(n.nudge_id())) {
      all.push_back(std::move(n));
    }
  }
  std::sort(all.begin(), all.end(), [](const v1::Nudge& a, const v1::Nudge& b) {
    if (DueOf(a) != DueOf(b)) return DueOf(a) < DueOf(b);
    return a.nudge_id() < b.nudge_id();
  });
  const int page_size =
      req.page_size() == 0 ? kDefaultPageSize : std::min(req.page_size(), kMaxPageSize);
  size_t i = 0;
  if (has_cursor) {
    while (i < all.size() &&
           (DueOf(all[i]) < cursor.last_due ||
            (DueOf(all[i]) == cursor.last_due && all[i].nudge_id() <= cursor.last_id))) {
      ++i;
    }
  }
  for (; i < all.size() && resp->nudges_size() < page_size; ++i) {
    v1::Nudge* n = resp->add_nudges();
    *n = std::move(all[i]);
    n->set_acknowledged(acked.count(n->nudge_id()) > 0);
    FillTexts(n);
  }
  if (i < all.size() && resp->nudges_size() > 0) {
    resp->set_next_page_token(EncodePageToken(start, end, resp->nudges(resp->nudges_size() - 1)));
  }
  return absl::OkStatus();
}

absl::Status ReminderServiceImpl::DoAcknowledge(const v1::AcknowledgeNudgeRequest& req) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (req.nudge_id().empty()) v.Add("nudge_id", "is required");
  if (req.nudge_id().size() > static_cast<size_t>(kMaxNudgeIdLength)) v.Add("nudge_id", "too long");
  if (!v.empty()) return v.ToStatus();
  absl::StatusOr<NudgeRef> ref = ParseNudgeId(req.user_id(), req.nudge_id());
  if (absl::IsInvalidArgument(ref.status())) {
    v.Add("nudge_id", "is not a nudge id");
    return v.ToStatus();
  }
  if (!ref.ok()) return ref.status();
  absl::StatusOr<v1::ReminderPlan> stored = store_->GetPlan(req.user_id());
  if (!stored.ok()) return stored.status();
  return store_->Acknowledge(req.user_id(), req.nudge_id());
}

absl::Status ReminderServiceImpl::DoSnooze(const v1::SnoozeNudgeRequest& req,
                                           v1::SnoozeNudgeResponse* resp) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (req.nudge_id().empty()) v.Add("nudge_id", "is required");
  if (req.minutes() < 1 || req.minutes() > 240) v.Add("minutes", "must be 1..240");
  if (!v.empty()) return v.ToStatus();
  absl::StatusOr<NudgeRef> ref = ParseNudgeId(req.user_id(), req.nudge_id());
  if (absl::IsInvalidArgument(ref.status())) {
    v.Add("nudge_id", "is not a nudge id");
    return v.ToStatus();
  }
  if (!ref.ok()) return ref.status();
  Plan plan;
  if (absl::Status s = LoadPlan(req.user_id(), &plan); !s.ok()) return s;
  const Occurrence o = MakeSnoozeOccurrence(plan, ref->kind, planner_->Now(), req.minutes());
  const ScheduledNudge sn = ToScheduled(plan, o);
  if (absl::Status s = store_->AddSnooze(req.user_id(), sn); !s.ok()) return s;
  absl::StatusOr<int> n =
      store_->Schedule(req.user_id(), {sn}, planner_->Now(), false, absl::InfinitePast());
  if (!n.ok()) return n.status();
  *resp->mutable_nudge() = NudgeFromOccurrence(plan, o);
  FillTexts(resp->mutable_nudge());
  return absl::OkStatus();
}

absl::Status ReminderServiceImpl::DoLogWater(const v1::LogWaterIntakeRequest& req,
                                             v1::LogWaterIntakeResponse* resp) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (req.amount_ml() < 1 || req.amount_ml() > 2000) v.Add("amount_ml", "must be 1..2000");
  const absl::Time now = planner_->Now();
  absl::Time when = now;
  if (req.has_time()) {
    if (!ValidTimestamp(req.time())) {
      v.Add("time", "is not a valid timestamp");
    } else {
      when = FromTimestamp(req.time());
      if (when > now + absl::Minutes(1)) v.Add("time", "must not be in the future");
      if (when < now - absl::Hours(24 * 7)) v.Add("time", "at most 7 days ago");
    }
  }
  if (!v.empty()) return v.ToStatus();
  Plan plan;
  if (absl::Status s = LoadPlan(req.user_id(), &plan); !s.ok()) return s;
  const absl::CivilDay day = PlanDayOf(plan, when);
  absl::StatusOr<int32_t> total = store_->AddWater(req.user_id(), day, req.amount_ml());
  if (!total.ok()) return total.status();
  const int32_t target = WaterTargetMl(plan, planner_->rules());
  resp->set_total_today_ml(*total);
  resp->set_daily_target_ml(target);
  resp->set_target_reached(*total >= target);
  if (*total >= target) {
    const std::vector<std::string> drop =
        HydrationNudgesToDrop(PlanDay(plan, planner_->rules(), day), *total, target, now);
    absl::StatusOr<int> cancelled = store_->Cancel(req.user_id(), drop);
    if (!cancelled.ok()) return cancelled.status();
    resp->set_cancelled_nudges(*cancelled);
  }
  return absl::OkStatus();
}

// --- RPC entry points ---------------------------------------------------------------------------

template <typename Handle>
grpc::ServerUnaryReactor* ReminderServiceImpl::Respond(grpc::CallbackServerContext* ctx,
                                                       const std::string& user_id,
                                                       Handle&& handle) {
  auto* reactor = ctx->DefaultReactor();
  absl::Status status = Authorize(ctx, user_id);
  if (!status.ok() || options_.executor == nullptr) {
    if (status.ok()) status = handle();
    reactor->Finish(ToGrpcStatus(status));
    return reactor;
  }
  // Refused at once when the queue is full or its wait would outlast the caller's deadline.
  const bool queued = options_.executor->Submit(
      [ctx, reactor, handle = std::forward<Handle>(handle)]() mutable {
        // A call that waited past its deadline (or whose client left) is not worth the Redis work.
        if (ctx->IsCancelled()) {
          reactor->Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled while queued"));
          return;
        }
        reactor->Finish(ToGrpcStatus(handle()));
      },
      absl::FromChrono(ctx->deadline()));
  if (!queued) {
    reactor->Finish(ToGrpcStatus(WithErrorInfo(
        absl::ResourceExhaustedError("the reminder service is overloaded; retry with backoff"),
        "OVERLOADED")));
  }
  return reactor;
}

absl::Status ReminderServiceImpl::Authorize(grpc::CallbackServerContext* ctx,
                                            const std::string& user_id) const {
  if (options_.guard == nullptr) return absl::OkStatus();
  absl::StatusOr<Caller> caller = options_.guard->Admit(ctx);
  if (!caller.ok()) return caller.status();
  return AuthorizeUserData(*caller, user_id);
}

grpc::ServerUnaryReactor* ReminderServiceImpl::CreateReminderPlan(
    grpc::CallbackServerContext* ctx, const v1::CreateReminderPlanRequest* req,
    v1::CreateReminderPlanResponse* resp) {
  return Respond(ctx, req->plan().user_id(),
                 [this, req, resp] { return DoCreate(*req, resp->mutable_plan()); });
}

grpc::ServerUnaryReactor* ReminderServiceImpl::GetReminderPlan(
    grpc::CallbackServerContext* ctx, const v1::GetReminderPlanRequest* req,
    v1::GetReminderPlanResponse* resp) {
  return Respond(ctx, req->user_id(),
                 [this, req, resp] { return DoGet(*req, resp->mutable_plan()); });
}

grpc::ServerUnaryReactor* ReminderServiceImpl::UpdateReminderPlan(
    grpc::CallbackServerContext* ctx, const v1::UpdateReminderPlanRequest* req,
    v1::UpdateReminderPlanResponse* resp) {
  return Respond(ctx, req->plan().user_id(),
                 [this, req, resp] { return DoUpdate(*req, resp->mutable_plan()); });
}

grpc::ServerUnaryReactor* ReminderServiceImpl::DeleteReminderPlan(
    grpc::CallbackServerContext* ctx, const v1::DeleteReminderPlanRequest* req,
    v1::DeleteReminderPlanResponse* /*resp*/) {
  return Respond(ctx, req->user_id(), [this, req] { return DoDelete(*req); });
}

grpc::ServerUnaryReactor* ReminderServiceImpl::ListUpcomingNudges(
    grpc::CallbackServerContext* ctx, const v1::ListUpcomingNudgesRequest* req,
    v1::ListUpcomingNudgesResponse* resp) {
  return Respond(ctx, req->user_id(), [this, req, resp] { return DoList(*req, resp); });
}

grpc::ServerWriteReactor<v1::Nudge>* ReminderServiceImpl::StreamNudges(
    grpc::CallbackServerContext* ctx, const v1::StreamNudgesRequest* req) {
  absl::Status authorized = Authorize(ctx, req->user_id());
  FieldViolations v;
  CheckUserId(req->user_id(), "user_id", &v);
  bool ending = false;
  bool too_many = false;
  {
    absl::MutexLock lock(&streams_mu_);
    ending = ending_;
    if (authorized.ok() && v.empty() && !ending) {
      // Reserved here, released in Unregister when the stream ends.
      int& open = streams_per_user_[req->user_id()];
      too_many = open >= options_.max_streams_per_user;
      if (!too_many) ++open;
    }
  }
  if (!authorized.ok() || !v.empty() || ending || too_many) {
    // A reactor that finishes at once.
    class Rejected : public grpc::ServerWriteReactor<v1::Nudge> {
     public:
      explicit Rejected(grpc::Status s) { Finish(std::move(s)); }
      void OnDone() override { delete this; }
    };
    return new Rejected(!authorized.ok() ? ToGrpcStatus(authorized)
                        : !v.empty()     ? ToGrpcStatus(v.ToStatus())
                        : ending ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "shutting down")
                                 : ToGrpcStatus(WithErrorInfo(
                                       absl::ResourceExhaustedError("too many open nudge streams"),
                                       "TOO_MANY_STREAMS")));
  }
  return new NudgeStreamReactor(this, req->user_id());
}

grpc::ServerUnaryReactor* ReminderServiceImpl::AcknowledgeNudge(
    grpc::CallbackServerContext* ctx, const v1::AcknowledgeNudgeRequest* req,
    v1::AcknowledgeNudgeResponse* /*resp*/) {
  return Respond(ctx, req->user_id(), [this, req] { return DoAcknowledge(*req); });
}

grpc::ServerUnaryReactor* ReminderServiceImpl::SnoozeNudge(grpc::CallbackServerContext* ctx,
                                                           const v1::SnoozeNudgeRequest* req,
                                                           v1::SnoozeNudgeResponse* resp) {
  return Respond(ctx, req->user_id(), [this, req, resp] { return DoSnooze(*req, resp); });
}

grpc::ServerUnaryReactor* ReminderServiceImpl::LogWaterIntake(grpc::CallbackServerContext* ctx,
                                                              const v1::LogWaterIntakeRequest* req,
                                                              v1::LogWaterIntakeResponse* resp) {
  return Respond(ctx, req->user_id(), [this, req, resp] { return DoLogWater(*req, resp); });
}

}  // namespace legwise::reminder
