#include "services/reminder/reminder_service.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/common/metrics.h"
#include "services/common/validation.h"
#include "services/reminder/delivery/scheduling.h"
#include "services/reminder/devices/device_proto.h"
#include "services/reminder/planner/plan.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

constexpr int kMaxRequestIdLength = 128;
constexpr int kMaxNudgeIdLength = 80;

// Checks a Timestamp's range (0001-01-01 .. 9999-12-31, nanos 0..999999999).
bool ValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= -62135596800LL && ts.seconds() <= 253402300799LL && ts.nanos() >= 0 &&
         ts.nanos() <= 999999999;
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void CheckUserId(const std::string& user_id, const std::string& path, FieldViolations* v) {
  if (user_id.empty()) {
    v->Add(path, "is required");
  } else if (!IsValidUserId(user_id)) {
    v->Add(path, "must be 1..128 characters of A-Z a-z 0-9 . _ : @ -");
  }
}

void CheckNudgeId(const std::string& nudge_id, FieldViolations* v) {
  if (nudge_id.empty()) {
    v->Add("nudge_id", "is required");
  } else if (nudge_id.size() > static_cast<size_t>(kMaxNudgeIdLength)) {
    v->Add("nudge_id", "too long");
  }
}

}  // namespace

// --- StreamNudges -------------------------------------------------------------------------------

// Writes one user's nudges as the hub hands them over, one write at a time, until she hangs up or
// the server shuts down.
class NudgeStreamReactor : public grpc::ServerWriteReactor<v1::Nudge> {
 public:
  // `resume_after`: the feed id to replay after ("" = live only). Live nudges are buffered from
  // the moment of subscription until Replay() has run, so none falls between replay and live.
  NudgeStreamReactor(ReminderServiceImpl* service, const std::string& user_id,
                     std::string resume_after)
      : service_(service),
        user_id_(user_id),
        last_feed_(std::move(resume_after)),
        replaying_(!last_feed_.empty()) {
    service_->Register(this);
    handle_ = service_->hub_->Subscribe(
        user_id, [this](const v1::Nudge& n, const std::string& feed_id) { Enqueue(n, feed_id); });
  }

  // Sends what was published for her after the resume point, then what arrived live meanwhile
  // (each once, in feed order). Runs in StreamNudges before the reactor is handed to gRPC (one
  // bounded Redis read per reconnect), so no callback can end the call underneath it.
  void Replay() {
    if (!replaying_) return;
    absl::StatusOr<std::vector<OutboxEntry>> entries =
        service_->store_->ReplayFeed(UserKey(user_id_), last_feed_, kMaxReplay);
    absl::MutexLock lock(&mu_);
    replaying_ = false;
    if (!entries.ok()) {
      FinishOnce(ToGrpcStatus(entries.status()));
      return;
    }
    for (const OutboxEntry& e : *entries) {
      v1::Nudge n;
      if (!service_->hub_->ToNudge(e, &n)) continue;
      PushLocked(std::move(n), e.feed_id, /*capped=*/false);
    }
    for (auto& [n, feed_id] : buffered_) PushLocked(std::move(n), feed_id, /*capped=*/false);
    buffered_.clear();
    MaybeWrite();
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
  static constexpr int kMaxReplay = 1000;

  void Enqueue(const v1::Nudge& n, const std::string& feed_id) {
    v1::Nudge copy = n;
    absl::MutexLock lock(&mu_);
    if (finished_ || end_requested_) return;
    if (replaying_) {
      if (buffered_.size() < static_cast<size_t>(kMaxReplay)) buffered_.emplace_back(copy, feed_id);
      return;
    }
    PushLocked(std::move(copy), feed_id, /*capped=*/true);
    MaybeWrite();
  }

  // Queues a nudge unless it is at or before the last one queued (a replayed nudge seen live too).
  void PushLocked(v1::Nudge n, const std::string& feed_id, bool capped)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!last_feed_.empty() && !FeedIdLess(last_feed_, feed_id)) return;
    last_feed_ = feed_id;
    // A stalled live client loses the oldest, not our memory (it resumes from its last token).
    if (capped && queue_.size() >= 256) queue_.pop_front();
    queue_.push_back(std::move(n));
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
  // The feed id of the last nudge queued; later ones only.
  std::string last_feed_ ABSL_GUARDED_BY(mu_);
  bool replaying_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::pair<v1::Nudge, std::string>> buffered_ ABSL_GUARDED_BY(mu_);
  v1::Nudge current_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool end_requested_ ABSL_GUARDED_BY(mu_) = false;
};

// --- service ------------------------------------------------------------------------------------

ReminderServiceImpl::ReminderServiceImpl(ReminderStore* store, NudgeHub* hub,
                                         NudgeTextProvider* texts, const Planner* planner,
                                         ReminderServiceOptions options)
    : store_(store),
      hub_(hub),
      texts_(texts),
      planner_(planner),
      options_(options),
      core_(planner->rules(), options.limits,
            options.page_tokens != nullptr ? options.page_tokens : &DefaultPageTokenSigner()) {
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

void ReminderServiceImpl::FillTexts(const Plan& plan, v1::Nudge* nudge) {
  const auto texts = texts_->Get(nudge->locale());
  const int k = static_cast<int>(nudge->kind());
  if (IsNudgeKind(k)) {
    const NudgeText t = texts->Render(static_cast<NudgeKind>(k), core_.WaterTarget(plan));
    nudge->set_title(t.title);
    nudge->set_body(t.body);
  }
  nudge->set_locale(texts->locale);
}

absl::StatusOr<ValidPlan> ReminderServiceImpl::LoadPlan(const std::string& user_id) {
  absl::StatusOr<v1::ReminderPlan> stored = store_->GetPlan(user_id);
  if (!stored.ok()) return stored.status();
  return ReminderCore::FromStored(*std::move(stored));
}

absl::StatusOr<std::pair<ValidPlan, UserState>> ReminderServiceImpl::LoadPlanAndState(
    const std::string& user_id) {
  absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>> stored =
      store_->GetPlanAndState(user_id);
  if (!stored.ok()) return stored.status();
  absl::StatusOr<ValidPlan> plan = ReminderCore::FromStored(std::move(stored->first));
  if (!plan.ok()) return plan.status();
  return std::make_pair(*std::move(plan), ToCoreState(stored->second));
}

absl::Time ReminderServiceImpl::FirstDue(const Plan& plan, absl::Time now) const {
  return DueForDispatch(plan, planner_->rules(), UserState{}, now, now, absl::ZeroDuration(), now)
      .next_due;
}

absl::Status ReminderServiceImpl::WakeFor(const Plan& plan, absl::Time now) {
  return store_->WakePlan(UserKey(plan.user_id), FirstDue(plan, now), now);
}

absl::Status ReminderServiceImpl::DoCreate(const v1::CreateReminderPlanRequest& req,
                                           v1::ReminderPlan* out) {
  FieldViolations v;
  if (!req.has_plan()) v.Add("plan", "is required");
  if (req.request_id().size() > static_cast<size_t>(kMaxRequestIdLength)) {
    v.Add("request_id", "at most 128 characters");
  }
  if (!v.empty()) return v.ToStatus("INVALID_REMINDER_PLAN");
  const absl::Time now = planner_->Now();
  absl::StatusOr<ValidPlan> plan = core_.NewPlan(req.plan(), now);
  if (!plan.ok()) return plan.status();
  // Her due entry first, due now (her first claim gives her a watermark from it and moves her to
  // her first occurrence), then the plan: if this call dies between, the dispatcher finds no plan
  // there and forgets the entry. Nothing is scheduled per occurrence.
  absl::StatusOr<v1::ReminderPlan> stored = store_->CreateDuePlan(
      plan->proto, req.request_id(), ReminderCore::RequestHash(req), FirstDue(plan->plan, now));
  if (!stored.ok()) return stored.status();
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
  if (!req.has_plan()) {
    FieldViolations v;
    v.Add("plan", "is required");
    return v.ToStatus("INVALID_REMINDER_PLAN");
  }
  // Validated once, before any store call.
  absl::StatusOr<ValidPlan> validated = core_.NewPlan(req.plan(), planner_->Now());
  if (!validated.ok()) return validated.status();
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<v1::ReminderPlan> current = store_->GetPlan(req.plan().user_id());
    if (!current.ok()) return current.status();
    const absl::Time now = planner_->Now();
    absl::StatusOr<ValidPlan> next =
        core_.ReplacePlan(*validated, req.plan().etag(), *current, now);
    if (!next.ok()) return next.status();
    // Due no later than the new plan's next occurrence, before the plan changes (a dispatcher
    // holding her claim meanwhile is told to look again at its commit).
    if (absl::Status w = WakeFor(next->plan, now); !w.ok()) return w;
    absl::Status s = store_->ReplacePlan(next->proto, current->etag());
    if (absl::IsAborted(s) && req.plan().etag().empty()) continue;  // raced: read again
    if (!s.ok()) return s;
    absl::StatusOr<absl::Time> moved = RelocateSnoozes(*store_, next->plan, now);
    if (!moved.ok()) return moved.status();
    if (*moved != absl::InfiniteFuture()) {
      if (absl::Status w = store_->WakePlan(UserKey(next->plan.user_id), *moved, now); !w.ok()) {
        return w;
      }
    }
    *out = std::move(next->proto);
    return absl::OkStatus();
  }
  return absl::AbortedError("the plan kept changing; read it and retry");
}

absl::Status ReminderServiceImpl::DoDelete(const v1::DeleteReminderPlanRequest& req) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (!v.empty()) return v.ToStatus();
  if (absl::Status s = store_->DeletePlan(req.user_id()); !s.ok()) return s;
  // If this step fails, the dispatcher finds no plan at her entry and forgets it.
  return store_->DropDuePlan(UserKey(req.user_id()));
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
  if (!req.page_token().empty() && !core_.IsHerPageToken(req.page_token(), req.user_id())) {
    v.Add("page_token", "is not a token from a previous answer");
  }
  if (!v.empty()) return v.ToStatus();
  ListQuery q;
  q.has_start = req.has_start_time();
  if (q.has_start) q.start = FromTimestamp(req.start_time());
  q.has_end = req.has_end_time();
  if (q.has_end) q.end = FromTimestamp(req.end_time());
  q.page_size = req.page_size();
  q.page_token = req.page_token();
  absl::StatusOr<ReminderCore::Window> window = core_.ListWindow(q, req.user_id(), planner_->Now());
  if (!window.ok()) return window.status();

  absl::StatusOr<std::pair<ValidPlan, UserState>> loaded = LoadPlanAndState(req.user_id());
  if (!loaded.ok()) return loaded.status();
  std::string next;
  for (v1::Nudge& n : core_.List(loaded->first, loaded->second, *window, req.page_size(), &next)) {
    FillTexts(loaded->first.plan, &n);
    *resp->add_nudges() = std::move(n);
  }
  resp->set_next_page_token(next);
  return absl::OkStatus();
}

absl::Status ReminderServiceImpl::DoAcknowledge(const v1::AcknowledgeNudgeRequest& req) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  CheckNudgeId(req.nudge_id(), &v);
  if (!v.empty()) return v.ToStatus();
  if (absl::StatusOr<NudgeRef> ref = ParseNudgeId(req.user_id(), req.nudge_id());
      absl::IsInvalidArgument(ref.status())) {
    v.Add("nudge_id", "is not a nudge id");
    return v.ToStatus();
  }
  absl::StatusOr<std::pair<ValidPlan, UserState>> loaded = LoadPlanAndState(req.user_id());
  if (!loaded.ok()) return loaded.status();
  const absl::Time now = planner_->Now();
  absl::StatusOr<absl::Time> due =
      core_.CheckAcknowledge(loaded->first, loaded->second, req.nudge_id(), now);
  if (!due.ok()) return due.status();
  return store_->Acknowledge(req.user_id(), req.nudge_id(), *due, now - core_.limits().ack_past);
}

absl::Status ReminderServiceImpl::DoSnooze(const v1::SnoozeNudgeRequest& req,
                                           v1::SnoozeNudgeResponse* resp) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  CheckNudgeId(req.nudge_id(), &v);
  if (req.minutes() < 1 || req.minutes() > 240) v.Add("minutes", "must be 1..240");
  if (!v.empty()) return v.ToStatus();
  if (absl::StatusOr<NudgeRef> ref = ParseNudgeId(req.user_id(), req.nudge_id());
      absl::IsInvalidArgument(ref.status())) {
    v.Add("nudge_id", "is not a nudge id");
    return v.ToStatus();
  }
  absl::StatusOr<std::pair<ValidPlan, UserState>> loaded = LoadPlanAndState(req.user_id());
  if (!loaded.ok()) return loaded.status();
  const ValidPlan& plan = loaded->first;
  const absl::Time now = planner_->Now();
  absl::StatusOr<Occurrence> o =
      core_.Snooze(plan, loaded->second, req.nudge_id(), req.minutes(), now);
  if (!o.ok()) return o.status();
  const ScheduledNudge sn = ToScheduled(plan.plan, *o);
  if (absl::Status s = store_->WakePlan(UserKey(req.user_id()), o->due, now); !s.ok()) return s;
  if (absl::Status s = store_->AddSnooze(req.user_id(), sn, now - core_.limits().ack_past);
      !s.ok()) {
    return s;
  }
  *resp->mutable_nudge() = ReminderCore::ToNudge(plan.plan, *o);
  FillTexts(plan.plan, resp->mutable_nudge());
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
  absl::StatusOr<ValidPlan> plan = LoadPlan(req.user_id());
  if (!plan.ok()) return plan.status();
  const absl::CivilDay day = PlanDayOf(plan->plan, when);
  absl::StatusOr<ReminderStore::WaterAdd> added =
      store_->AddWater(req.user_id(), day, req.amount_ml(), core_.limits().max_water_per_day_ml);
  if (!added.ok()) return added.status();
  if (added->refused) return core_.CheckWater(added->total_ml, req.amount_ml());
  const WaterResult r = core_.AfterWater(*plan, day, added->total_ml, now);
  resp->set_total_today_ml(static_cast<int32_t>(std::min<int64_t>(r.total_ml, INT32_MAX)));
  resp->set_daily_target_ml(r.target_ml);
  resp->set_target_reached(r.target_reached);
  if (!r.drop.empty()) {
    absl::StatusOr<int> cancelled = store_->Cancel(req.user_id(), r.drop);
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
  std::string resume_after;
  if (!req->resume_token().empty() && v.empty()) {
    absl::StatusOr<std::string> feed = hub_->ParseResumeToken(req->resume_token(), req->user_id());
    if (feed.ok()) {
      resume_after = *std::move(feed);
    } else {
      v.Add("resume_token", "is not the resume_token of one of her nudges");
    }
  }
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
  auto* reactor = new NudgeStreamReactor(this, req->user_id(), std::move(resume_after));
  reactor->Replay();
  return reactor;
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

// --- devices (issue 16) -------------------------------------------------------------------------

namespace {
constexpr size_t kMaxDeviceIdLength = 64;

absl::Status NoDeviceStore() {
  return absl::UnimplementedError("push devices are not configured on this server");
}
}  // namespace

absl::Status ReminderServiceImpl::DoRegisterDevice(const v1::RegisterDeviceRequest& req,
                                                   v1::RegisterDeviceResponse* resp) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (!req.has_device()) v.Add("device", "is required");
  if (!v.empty()) return v.ToStatus("INVALID_DEVICE");
  if (absl::Status s = ValidateDeviceProto(req.device(), options_.push_endpoints); !s.ok()) {
    return s;
  }
  if (options_.devices == nullptr) return NoDeviceStore();
  v1::Device device = req.device();
  device.set_device_id(NewDeviceId());
  const absl::Time now = planner_->Now();
  // Full precision: List answers oldest first, and devices registered within one second must keep
  // their order.
  const int64_t seconds = absl::ToUnixSeconds(now);
  device.mutable_create_time()->set_seconds(seconds);
  device.mutable_create_time()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(now - absl::FromUnixSeconds(seconds))));
  absl::StatusOr<v1::Device> stored =
      options_.devices->Register(req.user_id(), device, push::kMaxDevicesPerUser);
  if (!stored.ok()) return stored.status();
  *resp->mutable_device() = *std::move(stored);
  return absl::OkStatus();
}

absl::Status ReminderServiceImpl::DoListDevices(const v1::ListDevicesRequest& req,
                                                v1::ListDevicesResponse* resp) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (!v.empty()) return v.ToStatus();
  if (options_.devices == nullptr) return NoDeviceStore();
  absl::StatusOr<std::vector<v1::Device>> devices = options_.devices->List(req.user_id());
  if (!devices.ok()) return devices.status();
  for (v1::Device& d : *devices) *resp->add_devices() = std::move(d);
  return absl::OkStatus();
}

absl::Status ReminderServiceImpl::DoUnregisterDevice(const v1::UnregisterDeviceRequest& req) {
  FieldViolations v;
  CheckUserId(req.user_id(), "user_id", &v);
  if (req.device_id().empty()) {
    v.Add("device_id", "is required");
  } else if (req.device_id().size() > kMaxDeviceIdLength) {
    v.Add("device_id", "too long");
  }
  if (!v.empty()) return v.ToStatus();
  if (options_.devices == nullptr) return NoDeviceStore();
  return options_.devices->Unregister(req.user_id(), req.device_id());
}

grpc::ServerUnaryReactor* ReminderServiceImpl::RegisterDevice(grpc::CallbackServerContext* ctx,
                                                              const v1::RegisterDeviceRequest* req,
                                                              v1::RegisterDeviceResponse* resp) {
  return Respond(ctx, req->user_id(), [this, req, resp] { return DoRegisterDevice(*req, resp); });
}

grpc::ServerUnaryReactor* ReminderServiceImpl::ListDevices(grpc::CallbackServerContext* ctx,
                                                           const v1::ListDevicesRequest* req,
                                                           v1::ListDevicesResponse* resp) {
  return Respond(ctx, req->user_id(), [this, req, resp] { return DoListDevices(*req, resp); });
}

grpc::ServerUnaryReactor* ReminderServiceImpl::UnregisterDevice(
    grpc::CallbackServerContext* ctx, const v1::UnregisterDeviceRequest* req,
    v1::UnregisterDeviceResponse* /*resp*/) {
  return Respond(ctx, req->user_id(), [this, req] { return DoUnregisterDevice(*req); });
}

}  // namespace legwise::reminder
