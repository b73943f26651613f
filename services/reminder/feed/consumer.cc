#include "services/reminder/feed/consumer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "services/common/logging.h"
#include "services/reminder/planner/planner.h"
#include "services/reminder/store/redis_store.h"

namespace legwise::reminder {
namespace {
namespace v1 = ::legwise::reminder::v1;

// "1700000000000-3" -> {ms, seq}; false when malformed.
bool ParseId(const std::string& id, uint64_t* ms, uint64_t* seq) {
  std::pair<std::string, std::string> p = absl::StrSplit(id, absl::MaxSplits('-', 1));
  return absl::SimpleAtoi(p.first, ms) && absl::SimpleAtoi(p.second.empty() ? "0" : p.second, seq);
}
bool IdLess(const std::string& a, const std::string& b) {
  uint64_t am = 0, as = 0, bm = 0, bs = 0;
  ParseId(a, &am, &as);
  ParseId(b, &bm, &bs);
  return am != bm ? am < bm : as < bs;
}
std::string NextId(const std::string& id) {
  uint64_t ms = 0, seq = 0;
  ParseId(id, &ms, &seq);
  return absl::StrCat(ms, "-", seq + 1);
}

std::vector<std::pair<std::string, std::string>> Fields(const RedisReply& list) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i + 1 < list.elements.size(); i += 2) {
    out.emplace_back(list.elements[i].str, list.elements[i + 1].str);
  }
  return out;
}

}  // namespace

absl::Time NextQuietStart(const Plan& plan, absl::Time due) {
  if (plan.IsQuiet(due)) return due;
  const absl::CivilDay day = absl::CivilDay(plan.zone.At(due).cs);
  for (int d = -1; d <= 2; ++d) {
    absl::CivilSecond cs = absl::CivilSecond(day + d) + plan.sleep_minute * 60;
    absl::Time t = ResolveLocal(plan.zone, cs);
    if (t >= due) return t;
  }
  return absl::InfiniteFuture();
}

absl::StatusOr<std::string> TrimPoint(RedisClient* redis, const std::string& stream,
                                      absl::Time replay_start) {
  absl::StatusOr<RedisReply> groups = redis->Command({"XINFO", "GROUPS", stream});
  if (!groups.ok()) return groups.status();
  if (groups->is_error() || groups->elements.empty()) return std::string();
  std::string point = absl::StrCat(absl::ToUnixMillis(replay_start), "-0");
  for (const RedisReply& g : groups->elements) {
    std::string name, last_delivered;
    int64_t pending = 0;
    for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
      const std::string& k = g.elements[i].str;
      if (k == "name") name = g.elements[i + 1].str;
      if (k == "last-delivered-id") last_delivered = g.elements[i + 1].str;
      if (k == "pending") pending = g.elements[i + 1].integer;
    }
    std::string keep = NextId(last_delivered);
    if (pending > 0) {
      absl::StatusOr<RedisReply> summary = redis->Command({"XPENDING", stream, name});
      if (!summary.ok()) return summary.status();
      if (summary->elements.size() >= 2 && !summary->elements[1].is_nil()) {
        keep = summary->elements[1].str;  // the oldest pending id
      }
    }
    if (IdLess(keep, point)) point = keep;
  }
  return point;
}

absl::StatusOr<int64_t> TrimFeed(RedisClient* redis, const std::string& stream,
                                 absl::Time replay_start) {
  absl::StatusOr<std::string> point = TrimPoint(redis, stream, replay_start);
  if (!point.ok()) return point.status();
  if (point->empty()) return 0;
  absl::StatusOr<RedisReply> r = redis->Command({"XTRIM", stream, "MINID", "~", *point});
  if (!r.ok()) return r.status();
  if (r->is_error()) return absl::InternalError(r->str);
  return r->integer;
}

absl::Status RefreshPending(RedisClient* redis, const std::string& stream, const std::string& group,
                            const std::string& consumer, const std::vector<std::string>& ids) {
  constexpr size_t kChunk = 1000;
  std::vector<std::vector<std::string>> cmds;
  for (size_t at = 0; at < ids.size(); at += kChunk) {
    std::vector<std::string> cmd = {"XCLAIM", stream, group, consumer, "0"};
    cmd.insert(cmd.end(), ids.begin() + at, ids.begin() + std::min(ids.size(), at + kChunk));
    cmd.push_back("JUSTID");
    cmds.push_back(std::move(cmd));
  }
  if (cmds.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<RedisReply>> r = redis->Pipeline(cmds);
  if (!r.ok()) return r.status();
  for (const RedisReply& reply : *r) {
    if (reply.is_error()) return absl::InternalError(reply.str);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> RemoveIdleConsumers(RedisClient* redis, const std::string& stream,
                                        const std::string& group, const std::string& keep,
                                        absl::Duration min_idle) {
  absl::StatusOr<std::vector<RedisReply>> info =
      redis->Pipeline({{"XINFO", "CONSUMERS", stream, group}});
  if (!info.ok()) return info.status();
  const RedisReply* consumers = &info->front();
  if (consumers->is_error()) return 0;  // no stream or no group yet
  std::vector<std::vector<std::string>> cmds;
  for (const RedisReply& c : consumers->elements) {
    std::string name;
    int64_t pending = -1, idle = -1;
    for (size_t i = 0; i + 1 < c.elements.size(); i += 2) {
      const std::string& k = c.elements[i].str;
      if (k == "name") name = c.elements[i + 1].str;
      if (k == "pending") pending = c.elements[i + 1].integer;
      if (k == "idle") idle = c.elements[i + 1].integer;
    }
    if (name.empty() || name == keep || pending != 0) continue;
    if (idle < absl::ToInt64Milliseconds(min_idle)) continue;
    cmds.push_back({"XGROUP", "DELCONSUMER", stream, group, name});
  }
  if (cmds.empty()) return 0;
  absl::StatusOr<std::vector<RedisReply>> r = redis->Pipeline(cmds);
  if (!r.ok()) return r.status();
  int removed = 0;
  for (const RedisReply& reply : *r) removed += reply.is_error() ? 0 : 1;
  return removed;
}

FeedConsumer::FeedConsumer(std::shared_ptr<RedisClient> redis, PlanStore* plans,
                           DeviceStore* devices, push::PushSender* sender,
                           FeedConsumerOptions options)
    : redis_(std::move(redis)),
      plans_(plans),
      devices_(devices),
      sender_(sender),
      options_(std::move(options)),
      metrics_(options_.metrics != nullptr ? options_.metrics : &Metrics::Default()) {
  metrics_->Describe("legwise_push_feed_entries_total", "counter",
                     "Delivery-feed entries by what became of them (acked, no_devices, "
                     "malformed, left_pending).");
  metrics_->Describe("legwise_push_feed_claimed_total", "counter",
                     "Entries taken over from an idle consumer (XAUTOCLAIM).");
  metrics_->Describe("legwise_push_feed_trimmed_total", "counter",
                     "Entries trimmed from the feed after every group acknowledged them.");
  metrics_->Describe("legwise_push_feed_consumers_removed_total", "counter",
                     "Consumers removed from the group: idle long with nothing pending.");
  metrics_->Describe("legwise_push_feed_redis_errors_total", "counter",
                     "Redis calls of the feed consumer that failed.");
}

std::vector<std::string> FeedConsumer::Streams() const {
  std::vector<std::string> out;
  for (int b = 0; b < options_.num_buckets; ++b) out.push_back(RedisReminderStore::OutboxKey(b));
  return out;
}

std::string FeedConsumer::DoneKey(const std::string& stream, const std::string& id) const {
  // rm:{b<b>}:outbox -> rm:{b<b>}:pushdone:<id>: the same hash slot as the stream.
  std::string prefix = stream.substr(0, stream.rfind(':') + 1);
  return absl::StrCat(prefix, "pushdone:", id);
}

int FeedConsumer::tracked_entries() { return tracked_count_.load(); }

void FeedConsumer::HandleBatch(const std::vector<Read>& reads, bool claimed) {
  // Entries with a final answer before any push (malformed, no devices, nothing left to send):
  // acknowledged together at the end, one round trip.
  std::vector<std::vector<std::string>> acks;
  auto ack = [&](const std::string& stream, const std::string& id, const char* why) {
    acks.push_back({"XACK", stream, options_.group, id});
    acks.push_back({"DEL", DoneKey(stream, id)});
    metrics_->Increment("legwise_push_feed_entries_total", {{"result", why}});
  };
  struct Parsed {
    const std::string* stream;
    std::string id;
    FeedEntry entry;
  };
  std::vector<Parsed> parsed;
  parsed.reserve(reads.size());
  for (const Read& read : reads) {
    const RedisReply& entry = *read.entry;
    if (entry.elements.size() < 2) continue;
    const std::string& id = entry.elements[0].str;
    if (tracked_.contains(absl::StrCat(*read.stream, " ", id))) continue;  // ours, in flight
    absl::StatusOr<FeedEntry> e = ParseFeedEntry(Fields(entry.elements[1]));
    if (!e.ok()) {
      LogWarning("feed_entry_malformed", {{"reason", std::string(e.status().message())}});
      ack(*read.stream, id, "malformed");
      continue;
    }
    parsed.push_back(Parsed{read.stream, id, *std::move(e)});
  }
  // Her devices, then the plans of those with any: two pipelined round trips per batch.
  std::vector<std::string> keys;
  keys.reserve(parsed.size());
  for (const Parsed& p : parsed) keys.push_back(p.entry.user_key);
  std::vector<absl::StatusOr<std::vector<v1::Device>>> devices = devices_->ListForUserKeys(keys);
  keys.clear();
  for (size_t i = 0; i < parsed.size(); ++i) {
    if (devices[i].ok() && !devices[i]->empty()) keys.push_back(parsed[i].entry.user_key);
  }
  std::vector<absl::StatusOr<v1::ReminderPlan>> plans = plans_->GetPlansByKey(keys);
  size_t next_plan = 0;
  for (size_t i = 0; i < parsed.size(); ++i) {
    const Parsed& p = parsed[i];
    if (!devices[i].ok()) {
      metrics_->Increment("legwise_push_feed_redis_errors_total");
      metrics_->Increment("legwise_push_feed_entries_total", {{"result", "left_pending"}});
      continue;  // pending; taken over later
    }
    if (devices[i]->empty()) {
      ack(*p.stream, p.id, "no_devices");
      continue;
    }
    const absl::StatusOr<v1::ReminderPlan>& proto = plans[next_plan++];
    absl::Time quiet_start = absl::InfiniteFuture();
    DeviceTexts texts{options_.texts, options_.rules.default_water_target_ml};
    if (proto.ok()) {
      absl::StatusOr<Plan> plan = PlanFromProto(*proto);
      if (plan.ok()) {
        quiet_start = NextQuietStart(*plan, p.entry.due_time);
        texts.water_target_ml = WaterTargetMl(*plan, options_.rules);
      }
    } else if (!absl::IsNotFound(proto.status())) {
      metrics_->Increment("legwise_push_feed_redis_errors_total");
      continue;  // pending
    }
    if (!Send(*p.stream, p.id, p.entry, *devices[i], quiet_start, texts, claimed)) {
      ack(*p.stream, p.id, "acked");
    }
  }
  if (!acks.empty() && !redis_->Pipeline(acks).ok()) {
    metrics_->Increment("legwise_push_feed_redis_errors_total");
  }
}

bool FeedConsumer::Send(const std::string& stream, const std::string& id, const FeedEntry& entry,
                        const std::vector<v1::Device>& devices, absl::Time quiet_start,
                        const DeviceTexts& texts, bool claimed) {
  std::vector<push::PushJob> jobs = JobsFor(entry, devices, quiet_start, texts);
  if (claimed && jobs.size() > 1) {
    absl::StatusOr<RedisReply> done = redis_->Command({"HKEYS", DoneKey(stream, id)});
    if (!done.ok()) return true;  // pending
    for (const RedisReply& d : done->elements) {
      jobs.erase(std::remove_if(jobs.begin(), jobs.end(),
                                [&](const push::PushJob& j) { return j.device_id == d.str; }),
                 jobs.end());
    }
  }
  if (jobs.empty()) return false;
  const std::string key = absl::StrCat(stream, " ", id);
  Tracked& t = tracked_[key];
  t.stream = stream;
  t.id = id;
  t.user_key = entry.user_key;
  t.devices = static_cast<int>(devices.size());
  tracked_count_.store(static_cast<int>(tracked_.size()));
  for (push::PushJob& job : jobs) {
    std::string device_id = job.device_id;
    ++t.outstanding;
    absl::Status s =
        sender_->Submit(std::move(job), [this, key, device_id](const push::PushResult& r) {
          absl::MutexLock lock(&mu_);
          done_.push_back(Done{key, device_id, r.outcome});
        });
    if (!s.ok()) {
      --t.outstanding;
      if (absl::IsResourceExhausted(s) || absl::IsUnavailable(s)) {
        t.incomplete = true;  // full or stopping: the entry stays pending
      }
      // INVALID_ARGUMENT / FAILED_PRECONDITION: this device can never be sent; final.
    }
  }
  if (t.outstanding > 0) return true;
  const bool incomplete = t.incomplete;
  tracked_.erase(key);
  tracked_count_.store(static_cast<int>(tracked_.size()));
  if (!incomplete) return false;
  metrics_->Increment("legwise_push_feed_entries_total", {{"result", "left_pending"}});
  return true;
}

int FeedConsumer::ProcessCompletions() {
  std::deque<Done> done;
  {
    absl::MutexLock lock(&mu_);
    done.swap(done_);
  }
  if (done.empty()) return 0;
  std::vector<std::vector<std::string>> cmds;
  int acked = 0;
  for (const Done& d : done) {
    auto it = tracked_.find(d.entry);
    if (it == tracked_.end()) continue;
    Tracked& t = it->second;
    --t.outstanding;
    if (push::IsFinal(d.outcome)) {
      if (d.outcome == push::Outcome::kUnregistered) {
        // Before the XACK: a crash in between sends once more to a device that is gone (harmless).
        absl::Status s = devices_->ForgetForUserKey(t.user_key, d.device_id);
        if (!s.ok()) {
          metrics_->Increment("legwise_push_feed_redis_errors_total");
          t.incomplete = true;
        }
      }
      if (t.devices > 1) {
        const std::string dk = DoneKey(t.stream, t.id);
        cmds.push_back({"HSET", dk, d.device_id, "1"});
        cmds.push_back(
            {"PEXPIRE", dk, absl::StrCat(absl::ToInt64Milliseconds(options_.done_retention))});
      }
    } else {
      t.incomplete = true;
    }
    if (t.outstanding == 0) {
      if (!t.incomplete) {
        cmds.push_back({"XACK", t.stream, options_.group, t.id});
        if (t.devices > 1) cmds.push_back({"DEL", DoneKey(t.stream, t.id)});
        ++acked;
      } else {
        metrics_->Increment("legwise_push_feed_entries_total", {{"result", "left_pending"}});
      }
      tracked_.erase(it);
    }
  }
  tracked_count_.store(static_cast<int>(tracked_.size()));
  if (!cmds.empty()) {
    absl::StatusOr<std::vector<RedisReply>> r = redis_->Pipeline(cmds);
    if (!r.ok()) {
      // Not acknowledged: the entries stay pending and are taken over later (each device's
      // collapse id makes the second send replace the first notification).
      metrics_->Increment("legwise_push_feed_redis_errors_total");
    } else if (acked > 0) {
      metrics_->Increment("legwise_push_feed_entries_total", {{"result", "acked"}}, acked);
    }
  }
  return static_cast<int>(done.size());
}

void FeedConsumer::ReadNew() {
  // Backpressure: read only when a whole batch (each entry up to 10 devices) fits.
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& s : Streams()) {
    cmds.push_back({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT",
                    absl::StrCat(options_.batch), "STREAMS", s, ">"});
  }
  absl::StatusOr<std::vector<RedisReply>> replies = redis_->Pipeline(cmds);
  if (!replies.ok()) {
    metrics_->Increment("legwise_push_feed_redis_errors_total");
    absl::SleepFor(options_.idle_poll);
    return;
  }
  std::vector<Read> reads;
  bool nogroup = false;
  for (const RedisReply& r : *replies) {
    if (r.is_error()) {
      if (r.str.find("NOGROUP") != std::string::npos) nogroup = true;
      continue;
    }
    for (const RedisReply& stream : r.elements) {
      if (stream.elements.size() < 2) continue;
      for (const RedisReply& e : stream.elements[1].elements) {
        reads.push_back(Read{&stream.elements[0].str, &e});
      }
    }
  }
  HandleBatch(reads, /*claimed=*/false);
  if (nogroup) {
    std::vector<std::vector<std::string>> create;
    for (const std::string& s : Streams()) {
      create.push_back({"XGROUP", "CREATE", s, options_.group, "0", "MKSTREAM"});
    }
    (void)redis_->Pipeline(create);  // BUSYGROUP answers are fine
  }
  if (reads.empty()) absl::SleepFor(options_.idle_poll);
}

void FeedConsumer::AutoClaim() {
  const std::string min_idle = absl::StrCat(absl::ToInt64Milliseconds(options_.claim_min_idle));
  const std::vector<std::string> streams = Streams();
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& s : streams) {
    cmds.push_back({"XAUTOCLAIM", s, options_.group, options_.consumer, min_idle, "0-0", "COUNT",
                    absl::StrCat(options_.batch)});
  }
  absl::StatusOr<std::vector<RedisReply>> replies = redis_->Pipeline(cmds);
  if (!replies.ok()) {
    metrics_->Increment("legwise_push_feed_redis_errors_total");
    return;
  }
  std::vector<Read> reads;
  for (size_t i = 0; i < replies->size() && i < streams.size(); ++i) {
    const RedisReply& r = (*replies)[i];
    if (r.is_error() || r.elements.size() < 2) continue;
    for (const RedisReply& e : r.elements[1].elements) {
      if (e.elements.size() < 2 || e.elements[1].is_nil()) continue;
      // Our own entries still in flight come back too once idle long enough: not a takeover.
      if (tracked_.contains(absl::StrCat(streams[i], " ", e.elements[0].str))) continue;
      metrics_->Increment("legwise_push_feed_claimed_total");
      reads.push_back(Read{&streams[i], &e});
    }
    // Entries trimmed while pending (the third element) were removed from the PEL by Redis.
  }
  HandleBatch(reads, /*claimed=*/true);
}

void FeedConsumer::Trim() {
  const absl::Time replay_start = options_.clock() - options_.replay_window;
  for (const std::string& s : Streams()) {
    absl::StatusOr<int64_t> n = TrimFeed(redis_.get(), s, replay_start);
    absl::StatusOr<int> removed = RemoveIdleConsumers(
        redis_.get(), s, options_.group, options_.consumer, options_.consumer_idle_limit);
    if (!n.ok() || !removed.ok()) {
      metrics_->Increment("legwise_push_feed_redis_errors_total");
      return;
    }
    if (*n > 0) metrics_->Increment("legwise_push_feed_trimmed_total", {}, *n);
    if (*removed > 0)
      metrics_->Increment("legwise_push_feed_consumers_removed_total", {}, *removed);
  }
}

void FeedConsumer::RefreshInFlight() {
  absl::flat_hash_map<std::string, std::vector<std::string>> by_stream;
  for (const auto& [key, t] : tracked_) by_stream[t.stream].push_back(t.id);
  for (const auto& [stream, ids] : by_stream) {
    if (!RefreshPending(redis_.get(), stream, options_.group, options_.consumer, ids).ok()) {
      metrics_->Increment("legwise_push_feed_redis_errors_total");
      return;
    }
  }
}

void FeedConsumer::Run() {
  absl::Time next_claim = options_.clock();
  absl::Time next_trim = options_.clock() + options_.trim_interval;
  // Never slower than a third of claim_min_idle: a refreshed entry never looks abandoned.
  const absl::Duration refresh = std::min(options_.refresh_interval, options_.claim_min_idle / 3);
  absl::Time next_refresh = options_.clock() + refresh;
  while (!stop_.load()) {
    ProcessCompletions();
    const absl::Time now = options_.clock();
    if (now >= next_refresh) {
      RefreshInFlight();
      next_refresh = now + refresh;
    }
    if (now >= next_claim) {
      AutoClaim();
      next_claim = now + options_.claim_interval;
    }
    if (now >= next_trim) {
      Trim();
      next_trim = now + options_.trim_interval;
    }
    if (sender_->pending() + options_.batch * 10 <= options_.max_pending) {
      ReadNew();
    } else {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
}

void FeedConsumer::Stop() { stop_.store(true); }

void FeedConsumer::Drain() {
  while (ProcessCompletions() > 0) {
  }
}

}  // namespace legwise::reminder
