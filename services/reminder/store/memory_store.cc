#include "services/reminder/store/memory_store.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace legwise::reminder {
namespace {
namespace v1 = ::legwise::reminder::v1;

std::string DayString(absl::CivilDay d) {
  return absl::StrFormat("%04d%02d%02d", d.year(), d.month(), d.day());
}
}  // namespace

MemoryReminderStore::MemoryReminderStore(int num_buckets, Clock clock)
    : num_buckets_(num_buckets), clock_(std::move(clock)), buckets_(num_buckets) {}

absl::StatusOr<v1::ReminderPlan> MemoryReminderStore::CreatePlan(const v1::ReminderPlan& plan,
                                                                 const std::string& request_id,
                                                                 const std::string& request_hash) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = users_.try_emplace(UserKey(plan.user_id()));
  if (!inserted && it->second.plan.user_id().empty()) inserted = true;  // state without a plan
  if (!inserted) {
    if (!request_id.empty() && it->second.request_id == request_id) {
      if (it->second.request_hash != request_hash) return RequestIdReused();
      return it->second.plan;
    }
    return absl::AlreadyExistsError("a reminder plan already exists for this user");
  }
  it->second.plan = plan;
  it->second.request_id = request_id;
  it->second.request_hash = request_hash;
  return plan;
}

absl::StatusOr<v1::ReminderPlan> MemoryReminderStore::GetPlan(absl::string_view user_id) {
  return GetPlanByKey(UserKey(user_id));
}

absl::StatusOr<v1::ReminderPlan> MemoryReminderStore::GetPlanByKey(absl::string_view user_key) {
  absl::MutexLock lock(&mu_);
  auto it = users_.find(std::string(user_key));
  if (it == users_.end() || it->second.plan.user_id().empty()) {
    return absl::NotFoundError("no reminder plan for this user");
  }
  return it->second.plan;
}

absl::Status MemoryReminderStore::ReplacePlan(const v1::ReminderPlan& plan,
                                              const std::string& expected_etag) {
  absl::MutexLock lock(&mu_);
  auto it = users_.find(UserKey(plan.user_id()));
  if (it == users_.end() || it->second.plan.user_id().empty()) {
    return absl::NotFoundError("no reminder plan for this user");
  }
  if (it->second.plan.etag() != expected_etag) {
    return absl::AbortedError("the plan changed since it was read (etag mismatch)");
  }
  it->second.plan = plan;
  return absl::OkStatus();
}

absl::Status MemoryReminderStore::DeletePlan(absl::string_view user_id) {
  absl::MutexLock lock(&mu_);
  const std::string uk = UserKey(user_id);
  auto it = users_.find(uk);
  if (it == users_.end() || it->second.plan.user_id().empty()) {
    return absl::NotFoundError("no reminder plan for this user");
  }
  users_.erase(it);
  Bucket& b = buckets_[UserBucket(uk, num_buckets_)];
  for (const auto& [m, due] : b.scheduled[uk]) {
    if (b.due_of.erase(m)) {
      b.due.erase({due, m});
      b.payload.erase(m);
    }
  }
  b.scheduled.erase(uk);
  b.refill.erase(uk);
  return absl::OkStatus();
}

absl::StatusOr<int> MemoryReminderStore::Schedule(absl::string_view user_id,
                                                  const std::vector<ScheduledNudge>& nudges,
                                                  absl::Time from, bool replace,
                                                  absl::Time next_refill) {
  absl::MutexLock lock(&mu_);
  const std::string uk = UserKey(user_id);
  Bucket& b = buckets_[UserBucket(uk, num_buckets_)];
  auto& sched = b.scheduled[uk];
  const int64_t from_ms = absl::ToUnixMillis(from);
  if (replace) {
    for (auto it = sched.begin(); it != sched.end();) {
      if (it->second >= from_ms && b.due_of.erase(it->first)) {
        b.due.erase({it->second, it->first});
        b.payload.erase(it->first);
        it = sched.erase(it);
      } else {
        ++it;
      }
    }
  }
  const int64_t keep_from = NowMs() - 72 * 3600 * 1000LL;
  for (auto it = sched.begin(); it != sched.end();) {
    it = it->second < keep_from ? sched.erase(it) : std::next(it);
  }
  int added = 0;
  for (const ScheduledNudge& n : nudges) {
    const std::string m = MemberOf(uk, n.nudge_id);
    if (sched.count(m)) continue;
    const int64_t due = absl::ToUnixMillis(n.due);
    sched[m] = due;
    b.due.insert({due, m});
    b.due_of[m] = due;
    b.payload[m] = n.payload;
    ++added;
  }
  if (next_refill != absl::InfinitePast()) b.refill[uk] = absl::ToUnixMillis(next_refill);
  return added;
}

absl::StatusOr<int> MemoryReminderStore::Cancel(absl::string_view user_id,
                                                const std::vector<std::string>& nudge_ids) {
  absl::MutexLock lock(&mu_);
  const std::string uk = UserKey(user_id);
  UserData& u = users_[uk];
  Bucket& b = buckets_[UserBucket(uk, num_buckets_)];
  int n = 0;
  const int64_t now = NowMs();
  const int64_t cutoff = now - absl::ToInt64Milliseconds(kCancelMemory);
  for (auto c = u.cancel.begin(); c != u.cancel.end();) {
    c = c->second < cutoff ? u.cancel.erase(c) : std::next(c);
  }
  for (const std::string& id : nudge_ids) {
    if (u.cancel.insert_or_assign(id, now).second) ++n;  // newly cancelled
    // Occurrences of the earlier per-occurrence index (still read by its dispatcher path).
    const std::string m = MemberOf(uk, id);
    auto it = b.due_of.find(m);
    if (it != b.due_of.end()) {
      b.due.erase({it->second, m});
      b.payload.erase(m);
      b.due_of.erase(it);
    }
  }
  return n;
}

absl::Status MemoryReminderStore::Acknowledge(absl::string_view user_id,
                                              const std::string& nudge_id, absl::Time due,
                                              absl::Time forget_before) {
  absl::MutexLock lock(&mu_);
  const std::string uk = UserKey(user_id);
  auto& acks = users_[uk].ack;
  acks[nudge_id] = absl::ToUnixMillis(due);
  const int64_t cutoff = absl::ToUnixMillis(forget_before);
  for (auto a = acks.begin(); a != acks.end();) {
    a = a->second < cutoff ? acks.erase(a) : std::next(a);
  }
  Bucket& b = buckets_[UserBucket(uk, num_buckets_)];
  const std::string m = MemberOf(uk, nudge_id);
  auto it = b.due_of.find(m);
  if (it != b.due_of.end()) {
    b.due.erase({it->second, m});
    b.payload.erase(m);
    b.due_of.erase(it);
  }
  return absl::OkStatus();
}

absl::Status MemoryReminderStore::AddSnooze(absl::string_view user_id, const ScheduledNudge& nudge,
                                            absl::Time forget_before) {
  absl::MutexLock lock(&mu_);
  auto& snoozes = users_[UserKey(user_id)].snoozes;
  snoozes[nudge.nudge_id] = {absl::ToUnixMillis(nudge.due), nudge.payload};
  const int64_t cutoff = absl::ToUnixMillis(forget_before);
  for (auto it = snoozes.begin(); it != snoozes.end();) {
    it = it->second.first < cutoff ? snoozes.erase(it) : std::next(it);
  }
  return absl::OkStatus();
}

absl::StatusOr<UserNudgeState> MemoryReminderStore::GetUserState(absl::string_view user_id) {
  absl::MutexLock lock(&mu_);
  UserNudgeState s;
  auto it = users_.find(UserKey(user_id));
  if (it == users_.end()) return s;
  for (const auto& [id, due] : it->second.ack) s.acknowledged.push_back(id);
  for (const auto& [id, when] : it->second.cancel) s.cancelled.push_back(id);
  for (const auto& [id, p] : it->second.snoozes) s.snoozes.push_back(p.second);
  return s;
}

absl::StatusOr<ReminderStore::WaterAdd> MemoryReminderStore::AddWater(absl::string_view user_id,
                                                                      absl::CivilDay day,
                                                                      int32_t amount_ml,
                                                                      int64_t max_total_ml) {
  absl::MutexLock lock(&mu_);
  int64_t& total = users_[UserKey(user_id)].water[DayString(day)];
  if (total + amount_ml > max_total_ml) return WaterAdd{total, true};
  total += amount_ml;
  return WaterAdd{total, false};
}

absl::StatusOr<ClaimResult> MemoryReminderStore::Claim(int bucket, int max,
                                                       const std::string& token,
                                                       absl::Duration lease,
                                                       absl::Duration misfire) {
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[bucket];
  ClaimResult out;
  out.server_now_ms = NowMs();
  const int64_t cutoff = out.server_now_ms - absl::ToInt64Milliseconds(misfire);
  while (!b.due.empty() && b.due.begin()->first < cutoff && out.skipped < max) {
    const std::string m = b.due.begin()->second;
    b.due.erase(b.due.begin());
    b.due_of.erase(m);
    b.payload.erase(m);
    ++out.skipped;
  }
  while (!b.due.empty() && b.due.begin()->first <= out.server_now_ms &&
         static_cast<int>(out.claimed.size()) < max) {
    auto [due, m] = *b.due.begin();
    b.due.erase(b.due.begin());
    b.due_of.erase(m);
    b.inflight[m] = {token, due};
    b.lease_until[m] = out.server_now_ms + absl::ToInt64Milliseconds(lease);
    out.claimed.push_back({m, due, b.payload[m]});
  }
  return out;
}

absl::StatusOr<int> MemoryReminderStore::Publish(int bucket, const std::string& token,
                                                 const std::vector<PublishItem>& items) {
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[bucket];
  int n = 0;
  for (const PublishItem& it : items) {
    auto f = b.inflight.find(it.member);
    if (f == b.inflight.end() || f->second.first != token) continue;
    outbox_.push_back({absl::StrCat("0-", outbox_.size() + 1), it.nudge_id, it.user_key,
                       f->second.second, NowMs(), it.payload});
    if (auto l = listening_.find(it.user_key); l != listening_.end() && l->second >= NowMs()) {
      live_.push_back(outbox_.back());
    }
    b.inflight.erase(f);
    b.lease_until.erase(it.member);
    b.payload.erase(it.member);
    ++n;
  }
  return n;
}

absl::StatusOr<int> MemoryReminderStore::Reap(int bucket, int max) {
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[bucket];
  const int64_t now = NowMs();
  int n = 0;
  for (auto it = b.lease_until.begin(); it != b.lease_until.end() && n < max;) {
    if (it->second > now) {
      ++it;
      continue;
    }
    const std::string m = it->first;
    const int64_t due = b.inflight[m].second;
    b.inflight.erase(m);
    it = b.lease_until.erase(it);
    b.due.insert({due, m});
    b.due_of[m] = due;
    ++n;
  }
  return n;
}

absl::Status MemoryReminderStore::DropRefill(absl::string_view user_key) {
  absl::MutexLock lock(&mu_);
  buckets_[UserBucket(user_key, num_buckets_)].refill.erase(std::string(user_key));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> MemoryReminderStore::ClaimRefills(int bucket, int max,
                                                                           absl::Duration lease) {
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[bucket];
  const int64_t now = NowMs();
  std::vector<std::string> users;
  for (auto& [uk, when] : b.refill) {
    if (static_cast<int>(users.size()) >= max) break;
    if (when <= now) {
      users.push_back(uk);
      when = now + absl::ToInt64Milliseconds(lease);
    }
  }
  return users;
}

absl::StatusOr<std::vector<OutboxEntry>> MemoryReminderStore::ReadOutbox(
    std::vector<std::string>* cursors, int max, absl::Duration block) {
  absl::MutexLock lock(&mu_);
  return ReadLog(outbox_, cursors, max, block);
}

absl::Status MemoryReminderStore::Listen(const std::vector<std::string>& user_keys,
                                         absl::Duration ttl) {
  absl::MutexLock lock(&mu_);
  const int64_t until = NowMs() + absl::ToInt64Milliseconds(ttl);
  for (const std::string& k : user_keys) listening_[k] = until;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutboxEntry>> MemoryReminderStore::ReplayFeed(absl::string_view user_key,
                                                                         const std::string& after,
                                                                         int max) {
  absl::MutexLock lock(&mu_);
  std::vector<OutboxEntry> out;
  for (const OutboxEntry& e : outbox_) {
    if (static_cast<int>(out.size()) >= max) break;
    if (e.user_key == user_key && FeedIdLess(after, e.feed_id)) out.push_back(e);
  }
  return out;
}

absl::StatusOr<std::vector<OutboxEntry>> MemoryReminderStore::ReadLive(
    std::vector<std::string>* cursors, int max, absl::Duration block) {
  absl::MutexLock lock(&mu_);
  return ReadLog(live_, cursors, max, block);
}

std::vector<OutboxEntry> MemoryReminderStore::ReadLog(const std::vector<OutboxEntry>& log,
                                                      std::vector<std::string>* cursors, int max,
                                                      absl::Duration block) {
  cursors->resize(1);
  size_t pos = 0;
  if ((*cursors)[0].empty()) {
    pos = log.size();
  } else {
    absl::SimpleAtoi((*cursors)[0], &pos);
  }
  if (pos >= log.size() && block > absl::ZeroDuration()) {
    struct Waiter {
      const std::vector<OutboxEntry>* log;
      size_t want;
      bool Ready() const { return log->size() > want; }
    } waiter{&log, pos};
    mu_.AwaitWithTimeout(absl::Condition(&waiter, &Waiter::Ready), block);
  }
  std::vector<OutboxEntry> out;
  while (pos < log.size() && static_cast<int>(out.size()) < max) out.push_back(log[pos++]);
  (*cursors)[0] = absl::StrCat(pos);
  return out;
}

absl::StatusOr<std::pair<int64_t, int64_t>> MemoryReminderStore::Backlog() {
  absl::MutexLock lock(&mu_);
  std::pair<int64_t, int64_t> out{0, 0};
  for (const Bucket& b : buckets_) {
    out.first += static_cast<int64_t>(b.due.size());
    out.second += static_cast<int64_t>(b.inflight.size());
  }
  return out;
}

std::vector<absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>>>
MemoryReminderStore::GetPlansAndStatesByKey(const std::vector<std::string>& user_keys) {
  std::vector<absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>>> out;
  for (const std::string& k : user_keys) {
    absl::StatusOr<v1::ReminderPlan> plan = GetPlanByKey(k);
    if (!plan.ok()) {
      out.push_back(plan.status());
      continue;
    }
    absl::StatusOr<UserNudgeState> state = GetUserState(plan->user_id());
    if (!state.ok()) {
      out.push_back(state.status());
      continue;
    }
    out.push_back(std::make_pair(*std::move(plan), *std::move(state)));
  }
  return out;
}

void MemoryReminderStore::WakeIfSoon(int bucket, int64_t ms) {
  if (ms >= NowMs() + absl::ToInt64Milliseconds(wake_within_)) return;
  if (auto w = wakes_.find(bucket); w == wakes_.end() || ms < w->second) wakes_[bucket] = ms;
}

void MemoryReminderStore::Bucket::HandOver(const std::string& u, int64_t wm) {
  // Her pending per-occurrence entries after the watermark are now derived by the dispatcher
  // (see the Redis store's WakePlan).
  auto& sched = scheduled[u];
  for (auto it = sched.begin(); it != sched.end();) {
    if (it->second > wm && due_of.erase(it->first)) {
      due.erase({it->second, it->first});
      payload.erase(it->first);
      it = sched.erase(it);
    } else {
      ++it;
    }
  }
  refill.erase(u);
}

absl::Status MemoryReminderStore::WakePlan(absl::string_view user_key, absl::Time due,
                                           absl::Time watermark) {
  absl::MutexLock lock(&mu_);
  const int bucket = UserBucket(user_key, num_buckets_);
  Bucket& b = buckets_[bucket];
  const std::string u(user_key);
  if (b.fence_of.count(u)) b.dirty.insert(u);
  const int64_t ms = absl::ToUnixMillis(due);
  if (auto it = b.next_of.find(u); it == b.next_of.end() || ms < it->second) {
    b.SetNext(u, ms);
    WakeIfSoon(bucket, ms);
  }
  const int64_t wm = absl::ToUnixMillis(watermark);
  if (b.watermark.try_emplace(u, wm).second) b.HandOver(u, wm);
  return absl::OkStatus();
}

absl::Status MemoryReminderStore::WakeNewPlan(absl::string_view user_key, absl::Time due) {
  absl::MutexLock lock(&mu_);
  const std::string u(user_key);
  const int bucket = UserBucket(u, num_buckets_);
  buckets_[bucket].SetNext(u, NowMs());
  WakeIfSoon(bucket, absl::ToUnixMillis(due));
  return absl::OkStatus();
}

absl::Status MemoryReminderStore::DropDuePlan(absl::string_view user_key) {
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[UserBucket(user_key, num_buckets_)];
  const std::string u(user_key);
  b.EraseNext(u);
  b.watermark.erase(u);
  b.fence_of.erase(u);
  b.dirty.erase(u);
  return absl::OkStatus();
}

absl::StatusOr<DueClaim> MemoryReminderStore::ClaimDuePlans(int bucket, int max,
                                                            absl::Duration lease) {
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[bucket];
  DueClaim out;
  out.server_now_ms = NowMs();
  std::vector<std::pair<int64_t, std::string>> users;  // (due ms, user key)
  for (auto it = b.next.begin();
       it != b.next.end() && it->first <= out.server_now_ms && static_cast<int>(users.size()) < max;
       ++it) {
    users.push_back(*it);
  }
  if (!users.empty()) {
    const int64_t fence = ++b.fence;
    for (const auto& [due_ms, u] : users) {
      b.SetNext(u, out.server_now_ms + absl::ToInt64Milliseconds(lease));
      b.fence_of[u] = fence;
      b.dirty.erase(u);
      auto w = b.watermark.find(u);
      if (w == b.watermark.end()) {
        // Put here by WakeNewPlan (see the Redis store's claim script).
        auto sched = b.scheduled.find(u);
        const bool earlier_layout = sched != b.scheduled.end() && !sched->second.empty();
        const int64_t wm = earlier_layout ? out.server_now_ms : due_ms - 1;
        w = b.watermark.emplace(u, wm).first;
        b.HandOver(u, wm);
      }
      out.plans.push_back({u, fence, w->second});
    }
  }
  if (!b.next.empty()) out.earliest_ms = b.next.begin()->first;
  return out;
}

absl::StatusOr<CommitResult> MemoryReminderStore::CommitDuePlans(
    int bucket, const std::vector<PlanCommit>& commits) {
  absl::MutexLock lock(&mu_);
  Bucket& b = buckets_[bucket];
  CommitResult out;
  const int64_t now = NowMs();
  for (const PlanCommit& c : commits) {
    auto f = b.fence_of.find(c.user_key);
    if (f == b.fence_of.end() || f->second != c.fence) {
      ++out.fenced;
      continue;
    }
    auto l = listening_.find(c.user_key);
    const bool live = l != listening_.end() && l->second >= now;
    for (const FeedItem& it : c.items) {
      outbox_.push_back({absl::StrCat("0-", outbox_.size() + 1), it.nudge_id, c.user_key, it.due_ms,
                         now, it.payload});
      if (live) live_.push_back(outbox_.back());
      ++out.published;
    }
    b.fence_of.erase(f);
    // Due by now: made due since the claim, or the lease ran out (see the Redis commit script).
    auto at = b.next_of.find(c.user_key);
    const bool moved = at != b.next_of.end() && at->second <= now;
    if (b.dirty.erase(c.user_key) > 0 || moved) {
      b.watermark[c.user_key] = c.watermark_ms;
      b.SetNext(c.user_key, now);
      ++out.requeued;
    } else if (c.next_due_ms < 0) {
      b.EraseNext(c.user_key);
      b.watermark.erase(c.user_key);
    } else {
      b.watermark[c.user_key] = c.watermark_ms;
      b.SetNext(c.user_key, c.next_due_ms);
    }
  }
  return out;
}

absl::StatusOr<std::pair<int64_t, int64_t>> MemoryReminderStore::DuePlanCount() {
  absl::MutexLock lock(&mu_);
  std::pair<int64_t, int64_t> out{0, 0};
  for (const Bucket& b : buckets_) {
    out.first += static_cast<int64_t>(b.next_of.size());
    out.second += static_cast<int64_t>(b.fence_of.size());
  }
  return out;
}

absl::StatusOr<std::optional<Wake>> MemoryReminderStore::WaitWake(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const auto any = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !wakes_.empty(); };
  mu_.AwaitWithTimeout(absl::Condition(&any), timeout);
  if (wakes_.empty()) return std::optional<Wake>();
  // The earliest first, as BZPOPMIN.
  auto first = std::min_element(wakes_.begin(), wakes_.end(),
                                [](const auto& a, const auto& b) { return a.second < b.second; });
  Wake w{first->first, absl::FromUnixMillis(first->second)};
  wakes_.erase(first);
  return std::optional<Wake>(w);
}

}  // namespace legwise::reminder
