#include "services/reminder/store/redis_store.h"

#include <algorithm>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "services/common/validation.h"
#include "services/reminder/planner/planner.h"

namespace legwise::reminder {
namespace {

namespace v1 = ::legwise::reminder::v1;

constexpr int64_t kUserStateTtlSec = 15 * 24 * 3600;
// The score lanes of rm:{u<k>}:state (see redis_store.h).
constexpr int kAckLane = 0;
constexpr int kSnoozeLane = 1;
constexpr int kCancelLane = 2;

// Her state in the earlier layouts: one sorted set per kind, and before them unbounded sets and a
// hash. Read while they exist (an EXISTS beside the state read tells), deleted with the plan, never
// written.
struct EarlierStateKey {
  const char* suffix;
  const char* read;  // the command that lists its entries
  std::vector<std::string> UserNudgeState::*into;
};
const EarlierStateKey kEarlierStateKeys[] = {
    {"acks", "ZRANGE", &UserNudgeState::acknowledged},
    {"cancels", "ZRANGE", &UserNudgeState::cancelled},
    {"snoozes", "ZRANGE", &UserNudgeState::snoozes},
    {"ack", "SMEMBERS", &UserNudgeState::acknowledged},
    {"snooze", "HVALS", &UserNudgeState::snoozes},
    {"cancel", "SMEMBERS", &UserNudgeState::cancelled},
};
constexpr int64_t kWaterTtlSec = 8 * 24 * 3600;

// Lua's tostring() prints big numbers as 1.7e+12: every number goes out through "%.0f". Commands
// over many members are issued in chunks (one call per chunk, not per member: far fewer
// redis.call()s and AOF entries), small enough for Lua's unpack() limit.
constexpr char kNowLua[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function n2s(x) return string.format('%.0f', x) end
local function chunked(cmd, key, list, step)
  for i = 1, #list, step do
    redis.call(cmd, key, unpack(list, i, math.min(i + step - 1, #list)))
  end
end
local function zmscore(key, list)
  local out = {}
  for i = 1, #list, 1000 do
    local part = redis.call('ZMSCORE', key, unpack(list, i, math.min(i + 999, #list)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end
-- The per-occurrence layout: removes her members of user_key (scored by due ms) from min_score on
-- that are still pending in due (not claimed), from due, pay and user_key.
local function remove_pending(due, pay, user_key, min_score)
  local future = redis.call('ZRANGEBYSCORE', user_key, min_score, '+inf')
  local scores = zmscore(due, future)
  local pending = {}
  for i, m in ipairs(future) do
    if scores[i] then pending[#pending + 1] = m end
  end
  if #pending > 0 then
    chunked('ZREM', due, pending, 1000)
    chunked('HDEL', pay, pending, 1000)
    chunked('ZREM', user_key, pending, 1000)
  end
end
local function hmget(key, list)
  local out = {}
  for i = 1, #list, 1000 do
    local part = redis.call('HMGET', key, unpack(list, i, math.min(i + 999, #list)))
    for _, v in ipairs(part) do out[#out + 1] = v end
    for j = #part + 1, math.min(1000, #list - i + 1) do out[#out + 1] = false end
  end
  return out
end
)lua";

// KEYS: due, pay, leases, claim (rm:{b}:claim:<token>). ARGV: max, token, lease_ms, misfire_ms.
// Moves due members into the claim hash (member -> due ms) leased to the token.
// Returns {now, skipped, member1, due1, payload1, ...}.
const std::string kClaimScript = absl::StrCat(kNowLua, R"lua(
local max = tonumber(ARGV[1])
local cutoff = now - tonumber(ARGV[4])
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. n2s(cutoff), 'LIMIT', 0, max)
if #old > 0 then
  chunked('ZREM', KEYS[1], old, 1000)
  chunked('HDEL', KEYS[2], old, 1000)
end
local out = {n2s(now), #old}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], n2s(cutoff), n2s(now), 'WITHSCORES', 'LIMIT', 0, max)
if #due == 0 then return out end
local members = {}
for i = 1, #due, 2 do members[#members + 1] = due[i] end
chunked('ZREM', KEYS[1], members, 1000)
chunked('HSET', KEYS[4], due, 2000)
redis.call('ZADD', KEYS[3], n2s(now + tonumber(ARGV[3])), ARGV[2])
local payloads = hmget(KEYS[2], members)
for i, m in ipairs(members) do
  out[#out + 1] = m
  out[#out + 1] = due[2 * i]
  out[#out + 1] = payloads[i] or ''
end
return out
)lua");

// KEYS: leases, claim, pay, outbox, due, listen, live. ARGV: token, outbox maxlen, live maxlen,
// then (member, nudge_id, user, payload)*. Only while the token's claim still exists (not reaped):
// XADDs the listed members of the claim to the outbox (and, for users someone is listening for, to
// the live stream), returns any other claimed member to the due index, and forgets the claim.
const std::string kPublishScript = absl::StrCat(kNowLua, R"lua(
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local now_s = n2s(now)
local claimed = redis.call('HGETALL', KEYS[2])
local dues = {}
for i = 1, #claimed, 2 do dues[claimed[i]] = claimed[i + 1] end
local listening = redis.call('ZCARD', KEYS[6]) > 0
local live_until = {}
local done = {}
for i = 4, #ARGV, 4 do
  local m = ARGV[i]
  local d = dues[m]
  if d then
    local oid = redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'nudge_id', ARGV[i + 1],
                           'user', ARGV[i + 2], 'due_ms', d, 'pub_ms', now_s, 'nudge', ARGV[i + 3])
    if listening then
      local u = ARGV[i + 2]
      if live_until[u] == nil then
        live_until[u] = tonumber(redis.call('ZSCORE', KEYS[6], u) or 0)
      end
      if live_until[u] >= now then
        redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[3], '*', 'nudge_id', ARGV[i + 1],
                   'user', u, 'due_ms', d, 'pub_ms', now_s, 'nudge', ARGV[i + 3], 'oid', oid)
      end
    end
    done[#done + 1] = m
    dues[m] = nil
  end
end
local back = {}
for m, d in pairs(dues) do
  back[#back + 1] = d
  back[#back + 1] = m
end
if #back > 0 then chunked('ZADD', KEYS[5], back, 2000) end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
if #done > 0 then chunked('HDEL', KEYS[3], done, 1000) end
return #done
)lua");

// KEYS: listen. ARGV: ttl_ms, user keys. Forgets expired listeners and marks these.
const std::string kListenScript = absl::StrCat(kNowLua, R"lua(
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. n2s(now))
local until_s = n2s(now + tonumber(ARGV[1]))
local args = {}
for i = 2, #ARGV do
  args[#args + 1] = until_s
  args[#args + 1] = ARGV[i]
end
if #args > 0 then chunked('ZADD', KEYS[1], args, 2000) end
return #args / 2
)lua");

// KEYS: leases. ARGV: max. The tokens whose lease has expired (on the server's clock).
const std::string kExpiredLeasesScript = absl::StrCat(kNowLua, R"lua(
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', n2s(now), 'LIMIT', 0, tonumber(ARGV[1]))
)lua");

// KEYS: leases, claim, due. ARGV: token. If the token's lease is still expired, returns its members
// to the due index with their due times and forgets the claim. Returns how many.
const std::string kReapScript = absl::StrCat(kNowLua, R"lua(
local until_ms = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not until_ms or tonumber(until_ms) > now then return 0 end
local claimed = redis.call('HGETALL', KEYS[2])
local back = {}
for i = 1, #claimed, 2 do
  back[#back + 1] = claimed[i + 1]
  back[#back + 1] = claimed[i]
end
if #back > 0 then chunked('ZADD', KEYS[3], back, 2000) end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return #back / 2
)lua");

// KEYS: due, pay, user zset, refill. ARGV: from_ms, replace, user key, next_refill_ms ("" = keep),
// keep_ms, then (member, due_ms, payload)*. Returns how many were added. A few chunked calls per
// script, not a few per occurrence: a new plan schedules two days at once.
const std::string kScheduleScript = absl::StrCat(kNowLua, R"lua(
if ARGV[2] == '1' then remove_pending(KEYS[1], KEYS[2], KEYS[3], ARGV[1]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. n2s(now - tonumber(ARGV[5])))
local members = {}
for i = 6, #ARGV, 3 do members[#members + 1] = ARGV[i] end
local known = zmscore(KEYS[3], members)
local zargs, hargs, seen = {}, {}, {}
for k, m in ipairs(members) do
  if not known[k] and not seen[m] then
    seen[m] = true
    local i = 6 + (k - 1) * 3
    zargs[#zargs + 1] = ARGV[i + 1]
    zargs[#zargs + 1] = m
    hargs[#hargs + 1] = m
    hargs[#hargs + 1] = ARGV[i + 2]
  end
end
if #zargs > 0 then
  chunked('ZADD', KEYS[3], zargs, 2000)
  chunked('ZADD', KEYS[1], zargs, 2000)
  chunked('HSET', KEYS[2], hargs, 2000)
end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3]) end
return #zargs / 2
)lua");

// KEYS: due, pay. ARGV: members. Returns how many were pending.
constexpr char kCancelScript[] = R"lua(
local n = 0
for _, m in ipairs(ARGV) do
  if redis.call('ZREM', KEYS[1], m) == 1 then
    redis.call('HDEL', KEYS[2], m)
    n = n + 1
  end
end
return n
)lua";

// KEYS: due, pay, user zset, refill. ARGV: user key.
constexpr char kUnscheduleScript[] = R"lua(
local all = redis.call('ZRANGE', KEYS[3], 0, -1)
for _, m in ipairs(all) do
  if redis.call('ZREM', KEYS[1], m) == 1 then redis.call('HDEL', KEYS[2], m) end
end
redis.call('DEL', KEYS[3])
redis.call('ZREM', KEYS[4], ARGV[1])
return #all
)lua";

// KEYS: refill. ARGV: max, lease_ms.
const std::string kClaimRefillScript = absl::StrCat(kNowLua, R"lua(
local users = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', n2s(now), 'LIMIT', 0, tonumber(ARGV[1]))
local lease_until = n2s(now + tonumber(ARGV[2]))
for _, u in ipairs(users) do redis.call('ZADD', KEYS[1], lease_until, u) end
return users
)lua");

// KEYS: plan. ARGV: data, etag, request id, request hash. Returns {0} created, {1, data} same
// request, {2} exists, {3} same request id with another request (AIP-155).
constexpr char kCreatePlanScript[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then
  local r = redis.call('HMGET', KEYS[1], 'req', 'reqhash')
  if ARGV[3] ~= '' and r[1] == ARGV[3] then
    if r[2] and r[2] ~= ARGV[4] then return {3} end
    return {1, redis.call('HGET', KEYS[1], 'data')}
  end
  return {2}
end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'etag', ARGV[2], 'req', ARGV[3], 'reqhash', ARGV[4])
return {0}
)lua";

// On a single Redis only (its keys are on different slots): WakeNewPlan's writes, then
// kCreatePlanScript, in one script, so the plan is never stored without her entry. KEYS: plan,
// next, wake. ARGV: those of kCreatePlanScript, then now_ms, user key, her first due time in ms
// ('' when it is not soon: no wake-up), bucket. Answers as kCreatePlanScript.
const std::string kCreateDuePlanScript = absl::StrCat(R"lua(
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
if ARGV[7] ~= '' then redis.pcall('ZADD', KEYS[3], 'LT', ARGV[7], ARGV[8]) end  -- best effort
)lua",
                                                      kCreatePlanScript);

// KEYS: the day's water total. ARGV: amount, max total, ttl seconds. Returns {1, total} added or
// {0, total} refused (the total would pass the cap). Totals are Redis's 64-bit integers.
constexpr char kAddWaterScript[] = R"lua(
local total = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if total + amount > tonumber(ARGV[2]) then return {0, total} end
total = redis.call('INCRBY', KEYS[1], amount)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, total}
)lua";

// KEYS: plan. ARGV: data, etag, expected etag. Returns 0 replaced, 1 none, 2 etag mismatch.
constexpr char kReplacePlanScript[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
if redis.call('HGET', KEYS[1], 'etag') ~= ARGV[3] then return 2 end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'etag', ARGV[2])
return 0
)lua";

// --- the per-plan due index (rm:{b<b>}:next, :wm, :lease, :dirty, :fence) ---------------------

// KEYS: next, wm, lease, dirty, then the per-occurrence layout: due, pay, her u:<k>, refill.
// ARGV: user, due_ms, watermark_ms, wake_within_ms. Returns 2 when it made her due sooner and
// within wake_within of now (the caller leaves a wake-up for her bucket), else 1.
// When she enters the per-plan index (she had no watermark: a new plan, or one scheduled by the
// per-occurrence layout), her pending per-occurrence entries due after the watermark are removed
// (the dispatcher derives exactly those now) and her refill entry goes; the ones due at or before
// it stay in the old index and are drained by the dispatcher's legacy path. Each occurrence comes
// out of exactly one of the two.
const std::string kWakePlanScript = absl::StrCat(kNowLua, R"lua(
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then redis.call('HSET', KEYS[4], ARGV[1], '1') end
local sooner = redis.call('ZADD', KEYS[1], 'LT', 'CH', ARGV[2], ARGV[1]) == 1
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 1 then
  remove_pending(KEYS[5], KEYS[6], KEYS[7], '(' .. ARGV[3])
  redis.call('ZREM', KEYS[8], ARGV[1])
end
if sooner and tonumber(ARGV[2]) < now + tonumber(ARGV[4]) then return 2 end
return 1
)lua");

// KEYS: next, wm, lease, dirty. ARGV: user.
constexpr char kDropDuePlanScript[] = R"lua(
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
)lua";

// KEYS: next, wm, lease, dirty, fence, then the per-occurrence layout: due, pay, refill.
// ARGV: max, lease_ms, the prefix of that layout's per-user sets (rm:{b<b>}:u:).
// Returns {now, earliest (-1 none), fence, user1, watermark1, ...}; a user's entry is moved to the
// lease's end (taken over then if no commit came), her lease hash entry names the fence.
// A user with no watermark was put here by WakeNewPlan, her entry due at the create: she gets one
// now, kept if this claim's commit never comes, and leaves the refill index. It is just before
// her entry's due time (nothing of a new plan falls earlier), or, when she still has entries in
// the per-occurrence layout, this claim's now, as WakePlan(now, now) would hand her over (her
// entries due by now stay for the legacy drain, the later ones are derived).
const std::string kClaimDueScript = absl::StrCat(kNowLua, R"lua(
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', n2s(now), 'WITHSCORES', 'LIMIT', 0,
                         tonumber(ARGV[1]))
local out = {n2s(now), '-1', '0'}
if #found > 0 then
  local users, scores = {}, {}
  for i = 1, #found, 2 do
    users[#users + 1] = found[i]
    scores[#scores + 1] = tonumber(found[i + 1])
  end
  local fence = redis.call('INCR', KEYS[5])
  out[3] = tostring(fence)
  local until_s = n2s(now + tonumber(ARGV[2]))
  local zargs, hargs = {}, {}
  for _, u in ipairs(users) do
    zargs[#zargs + 1] = until_s
    zargs[#zargs + 1] = u
    hargs[#hargs + 1] = u
    hargs[#hargs + 1] = fence
  end
  chunked('ZADD', KEYS[1], zargs, 2000)
  chunked('HSET', KEYS[3], hargs, 2000)
  chunked('HDEL', KEYS[4], users, 1000)
  local wms = hmget(KEYS[2], users)
  local new_wms, handed_over = {}, {}
  for i, u in ipairs(users) do
    local wm = wms[i]
    if not wm then
      local earlier = ARGV[3] .. u
      if redis.call('EXISTS', earlier) == 1 then
        wm = n2s(now)
        remove_pending(KEYS[6], KEYS[7], earlier, '(' .. wm)
      else
        wm = n2s(scores[i] - 1)
      end
      handed_over[#handed_over + 1] = u
      new_wms[#new_wms + 1] = u
      new_wms[#new_wms + 1] = wm
    end
    out[#out + 1] = u
    out[#out + 1] = wm
  end
  chunked('HSET', KEYS[2], new_wms, 2000)
  chunked('ZREM', KEYS[8], handed_over, 1000)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 2 then out[2] = first[2] end
return out
)lua");

// KEYS: next, wm, lease, dirty, outbox, listen, live. ARGV: outbox maxlen, live maxlen, then per
// user: user, fence, watermark, next_due (-1: forget her), n, then n * (nudge_id, due_ms, payload).
// Returns {published, fenced, requeued}. The outbox entry fields are those the push sender reads.
// Leases, dirty marks, watermarks and due entries are read and written for the whole batch in a
// few chunked calls: only the XADDs are per nudge.
const std::string kCommitDueScript = absl::StrCat(kNowLua, R"lua(
local now_s = n2s(now)
local listening = redis.call('ZCARD', KEYS[6]) > 0
local users, at = {}, {}
local i = 3
while i <= #ARGV do
  users[#users + 1] = ARGV[i]
  at[#at + 1] = i
  i = i + 5 + 3 * tonumber(ARGV[i + 4])
end
if #users == 0 then return {0, 0, 0} end
local leases, dirty = hmget(KEYS[3], users), hmget(KEYS[4], users)
-- Her entry due by now means a write made her due since the claim (WakeNewPlan leaves no changed
-- mark) or the lease ran out: due again now, as for a changed mark.
local scores = zmscore(KEYS[1], users)
local published, fenced, requeued = 0, 0, 0
local mine, seen, was_dirty, wm_args, due_args, forget = {}, {}, {}, {}, {}, {}
for k, u in ipairs(users) do
  local a = at[k]
  local fence, wm, nd, n = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
  -- Named twice: her first entry ended the claim, so the second is refused.
  if leases[k] == fence and not seen[u] then
    seen[u] = true
    mine[#mine + 1] = u
    local live_ok = false
    if listening and n > 0 then
      live_ok = tonumber(redis.call('ZSCORE', KEYS[6], u) or 0) >= now
    end
    for j = a + 5, a + 5 + 3 * (n - 1), 3 do
      local oid = redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[1], '*', 'nudge_id', ARGV[j],
                             'user', u, 'due_ms', ARGV[j + 1], 'pub_ms', now_s, 'nudge', ARGV[j + 2])
      if live_ok then
        redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[2], '*', 'nudge_id', ARGV[j], 'user', u,
                   'due_ms', ARGV[j + 1], 'pub_ms', now_s, 'nudge', ARGV[j + 2], 'oid', oid)
      end
      published = published + 1
    end
    if dirty[k] or (scores[k] and tonumber(scores[k]) <= now) then
      -- Changed while claimed: due again now, from this commit's watermark.
      was_dirty[#was_dirty + 1] = u
      wm_args[#wm_args + 1] = u
      wm_args[#wm_args + 1] = wm
      due_args[#due_args + 1] = now_s
      due_args[#due_args + 1] = u
      requeued = requeued + 1
    elseif nd == '-1' then
      forget[#forget + 1] = u
    else
      wm_args[#wm_args + 1] = u
      wm_args[#wm_args + 1] = wm
      due_args[#due_args + 1] = nd
      due_args[#due_args + 1] = u
    end
  else
    fenced = fenced + 1
  end
end
chunked('HDEL', KEYS[3], mine, 1000)
chunked('HDEL', KEYS[4], was_dirty, 1000)
chunked('HSET', KEYS[2], wm_args, 2000)
chunked('ZADD', KEYS[1], due_args, 2000)
chunked('ZREM', KEYS[1], forget, 1000)
chunked('HDEL', KEYS[2], forget, 1000)
return {published, fenced, requeued}
)lua");

// Wake-ups for idle dispatchers: a sorted set of bucket numbers scored by the due time that woke
// them (see WakePlan, WaitWake).
constexpr char kWakeKey[] = "rm:wake";

std::string UserPrefix(absl::string_view user_key) { return absl::StrCat("rm:{u", user_key, "}:"); }
std::string BucketPrefix(int bucket) { return absl::StrCat("rm:{b", bucket, "}:"); }

std::string DayString(absl::CivilDay d) {
  return absl::StrFormat("%04d%02d%02d", d.year(), d.month(), d.day());
}

int64_t ToMs(absl::Time t) { return absl::ToUnixMillis(t); }

absl::Status ScriptError(const RedisReply& r) {
  if (r.is_error()) return absl::InternalError(absl::StrCat("redis script: ", r.str));
  return absl::OkStatus();
}

int64_t AsInt(const RedisReply& r) {
  if (r.type == RedisReply::Type::kInteger) return r.integer;
  int64_t v = 0;
  if (!absl::SimpleAtoi(r.str, &v)) return 0;
  return v;
}

absl::StatusOr<v1::ReminderPlan> ParsePlan(const std::string& data) {
  v1::ReminderPlan plan;
  if (!plan.ParseFromString(data)) return absl::DataLossError("stored plan does not parse");
  return plan;
}

}  // namespace

RedisReminderStore::RedisReminderStore(std::shared_ptr<RedisClient> redis,
                                       RedisStoreOptions options)
    : redis_(std::move(redis)), options_(options) {}

std::string RedisReminderStore::OutboxKey(int bucket) {
  return absl::StrCat(BucketPrefix(bucket), "outbox");
}
std::string RedisReminderStore::DueKey(int bucket) {
  return absl::StrCat(BucketPrefix(bucket), "due");
}
std::string RedisReminderStore::LeasesKey(int bucket) {
  return absl::StrCat(BucketPrefix(bucket), "leases");
}
std::string RedisReminderStore::LiveKey(int bucket) {
  return absl::StrCat(BucketPrefix(bucket), "live");
}

absl::Status RedisReminderStore::EnsureOutboxGroups() {
  std::vector<std::vector<std::string>> cmds;
  for (int b = 0; b < options_.num_buckets; ++b) {
    cmds.push_back({"XGROUP", "CREATE", OutboxKey(b), "push", "0", "MKSTREAM"});
  }
  absl::StatusOr<std::vector<RedisReply>> replies = redis_->Pipeline(cmds);
  if (!replies.ok()) return replies.status();
  for (const RedisReply& r : *replies) {
    if (r.is_error() && r.str.find("BUSYGROUP") == std::string::npos) {
      return absl::InternalError(r.str);
    }
  }
  return absl::OkStatus();
}

namespace {

// kCreatePlanScript's arguments.
std::vector<std::string> CreatePlanArgs(const v1::ReminderPlan& plan, const std::string& request_id,
                                        const std::string& request_hash) {
  return {plan.SerializeAsString(), plan.etag(), request_id, request_hash};
}

// What kCreatePlanScript's reply means.
absl::StatusOr<v1::ReminderPlan> CreateAnswer(const RedisReply& r, const v1::ReminderPlan& plan) {
  if (absl::Status s = ScriptError(r); !s.ok()) return s;
  if (r.elements.empty()) return absl::InternalError("unexpected create reply");
  switch (AsInt(r.elements[0])) {
    case 0:
      return plan;
    case 1:
      if (r.elements.size() < 2) return absl::InternalError("unexpected create reply");
      return ParsePlan(r.elements[1].str);
    case 3:
      return RequestIdReused();
    default:
      return absl::AlreadyExistsError("a reminder plan already exists for this user");
  }
}

}  // namespace

absl::StatusOr<v1::ReminderPlan> RedisReminderStore::CreatePlan(const v1::ReminderPlan& plan,
                                                                const std::string& request_id,
                                                                const std::string& request_hash) {
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kCreatePlanScript, {UserPrefix(UserKey(plan.user_id())) + "plan"},
                   CreatePlanArgs(plan, request_id, request_hash));
  if (!r.ok()) return r.status();
  return CreateAnswer(*r, plan);
}

absl::StatusOr<v1::ReminderPlan> RedisReminderStore::CreateDuePlan(const v1::ReminderPlan& plan,
                                                                   const std::string& request_id,
                                                                   const std::string& request_hash,
                                                                   absl::Time first_due) {
  // On a cluster her entry and her plan are on different slots, which one script cannot touch:
  // one call after the other, the entry first.
  if (redis_->options().cluster) {
    return ReminderStore::CreateDuePlan(plan, request_id, request_hash, first_due);
  }
  const std::string user_key = UserKey(plan.user_id());
  const int bucket = UserBucket(user_key, options_.num_buckets);
  const absl::Time now = absl::Now();
  std::vector<std::string> args = CreatePlanArgs(plan, request_id, request_hash);
  args.insert(args.end(), {absl::StrCat(ToMs(now)), user_key,
                           WakeSoon(first_due, now) ? absl::StrCat(ToMs(first_due)) : std::string(),
                           absl::StrCat(bucket)});
  absl::StatusOr<RedisReply> r = redis_->Eval(
      kCreateDuePlanScript, {UserPrefix(user_key) + "plan", NextKey(bucket), kWakeKey}, args);
  if (!r.ok()) return r.status();
  return CreateAnswer(*r, plan);
}

absl::StatusOr<v1::ReminderPlan> RedisReminderStore::GetPlan(absl::string_view user_id) {
  return GetPlanByKey(UserKey(user_id));
}

absl::StatusOr<v1::ReminderPlan> RedisReminderStore::GetPlanByKey(absl::string_view user_key) {
  absl::StatusOr<RedisReply> r = redis_->Command({"HGET", UserPrefix(user_key) + "plan", "data"});
  if (!r.ok()) return r.status();
  if (r->is_nil()) return absl::NotFoundError("no reminder plan for this user");
  return ParsePlan(r->str);
}

std::vector<absl::StatusOr<v1::ReminderPlan>> RedisReminderStore::GetPlansByKey(
    const std::vector<std::string>& user_keys) {
  std::vector<std::vector<std::string>> cmds;
  cmds.reserve(user_keys.size());
  for (const std::string& k : user_keys) cmds.push_back({"HGET", UserPrefix(k) + "plan", "data"});
  return PipelineEach<v1::ReminderPlan>(
      *redis_, cmds, [](const RedisReply& r) -> absl::StatusOr<v1::ReminderPlan> {
        if (r.is_nil()) return absl::NotFoundError("no reminder plan for this user");
        return ParsePlan(r.str);
      });
}

absl::Status RedisReminderStore::ReplacePlan(const v1::ReminderPlan& plan,
                                             const std::string& expected_etag) {
  const std::string key = UserPrefix(UserKey(plan.user_id())) + "plan";
  absl::StatusOr<RedisReply> r = redis_->Eval(
      kReplacePlanScript, {key}, {plan.SerializeAsString(), plan.etag(), expected_etag});
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  switch (AsInt(*r)) {
    case 0:
      return absl::OkStatus();
    case 1:
      return absl::NotFoundError("no reminder plan for this user");
    default:
      return absl::AbortedError("the plan changed since it was read (etag mismatch)");
  }
}

absl::Status RedisReminderStore::DeletePlan(absl::string_view user_id) {
  const std::string uk = UserKey(user_id);
  const std::string up = UserPrefix(uk);
  std::vector<std::string> del_cmd = {"DEL", up + "plan", up + "state"};
  for (const EarlierStateKey& k : kEarlierStateKeys) del_cmd.push_back(up + k.suffix);
  absl::StatusOr<RedisReply> del = redis_->Command(del_cmd);
  if (!del.ok()) return del.status();
  if (del->integer == 0) return absl::NotFoundError("no reminder plan for this user");
  const int b = UserBucket(uk, options_.num_buckets);
  const std::string bp = BucketPrefix(b);
  absl::StatusOr<RedisReply> r = redis_->Eval(
      kUnscheduleScript, {bp + "due", bp + "pay", bp + "u:" + uk, bp + "refill"}, {uk});
  if (!r.ok()) return r.status();
  return ScriptError(*r);
}

absl::StatusOr<int> RedisReminderStore::Schedule(absl::string_view user_id,
                                                 const std::vector<ScheduledNudge>& nudges,
                                                 absl::Time from, bool replace,
                                                 absl::Time next_refill) {
  const std::string uk = UserKey(user_id);
  const std::string bp = BucketPrefix(UserBucket(uk, options_.num_buckets));
  std::vector<std::string> args = {
      absl::StrCat(ToMs(from)), replace ? "1" : "0", uk,
      next_refill == absl::InfinitePast() ? "" : absl::StrCat(ToMs(next_refill)),
      absl::StrCat(absl::ToInt64Milliseconds(options_.retention))};
  args.reserve(args.size() + 3 * nudges.size());
  for (const ScheduledNudge& n : nudges) {
    args.push_back(MemberOf(uk, n.nudge_id));
    args.push_back(absl::StrCat(ToMs(n.due)));
    args.push_back(n.payload);
  }
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kScheduleScript, {bp + "due", bp + "pay", bp + "u:" + uk, bp + "refill"}, args);
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  return static_cast<int>(AsInt(*r));
}

absl::StatusOr<int64_t> RedisReminderStore::AddState(
    absl::string_view user_key, const std::vector<std::pair<int64_t, std::string>>& entries,
    int lane, int64_t forget_below) {
  const std::string key = StateKey(user_key);
  const int64_t base = lane * kStateLane;
  std::vector<std::string> zadd = {"ZADD", key};
  for (const auto& [score, member] : entries) {
    zadd.push_back(absl::StrCat(base + score));
    zadd.push_back(member);
  }
  absl::StatusOr<std::vector<RedisReply>> rs = redis_->Pipeline(
      {zadd,
       {"ZREMRANGEBYSCORE", key, absl::StrCat(base), absl::StrCat("(", base + forget_below)},
       {"EXPIRE", key, absl::StrCat(kUserStateTtlSec)}});
  if (!rs.ok()) return rs.status();
  if ((*rs)[0].is_error()) return absl::InternalError((*rs)[0].str);
  return (*rs)[0].integer;
}

absl::StatusOr<int> RedisReminderStore::Cancel(absl::string_view user_id,
                                               const std::vector<std::string>& nudge_ids) {
  if (nudge_ids.empty()) return 0;
  const std::string uk = UserKey(user_id);
  const int64_t now = ToMs(absl::Now());
  std::vector<std::pair<int64_t, std::string>> entries;
  for (const std::string& id : nudge_ids) entries.push_back({now, "c:" + id});
  absl::StatusOr<int64_t> added =
      AddState(uk, entries, kCancelLane, now - absl::ToInt64Milliseconds(kCancelMemory));
  if (!added.ok()) return added.status();
  // Occurrences are derived (the dispatcher skips cancelled ids); ones still in the
  // per-occurrence layout (written by the previous version) are removed from it.
  const std::string bp = BucketPrefix(UserBucket(uk, options_.num_buckets));
  std::vector<std::string> members;
  for (const std::string& id : nudge_ids) members.push_back(MemberOf(uk, id));
  absl::StatusOr<RedisReply> r = redis_->Eval(kCancelScript, {bp + "due", bp + "pay"}, members);
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  return static_cast<int>(*added);  // newly cancelled
}

absl::Status RedisReminderStore::Acknowledge(absl::string_view user_id, const std::string& nudge_id,
                                             absl::Time due, absl::Time forget_before) {
  const std::string uk = UserKey(user_id);
  absl::StatusOr<int64_t> added =
      AddState(uk, {{ToMs(due), "a:" + nudge_id}}, kAckLane, ToMs(forget_before));
  if (!added.ok()) return added.status();
  // Still in the per-occurrence layout (written by the previous version): out of it.
  const std::string bp = BucketPrefix(UserBucket(uk, options_.num_buckets));
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kCancelScript, {bp + "due", bp + "pay"}, {MemberOf(uk, nudge_id)});
  if (!r.ok()) return r.status();
  return ScriptError(*r);
}

absl::Status RedisReminderStore::AddSnooze(absl::string_view user_id, const ScheduledNudge& nudge,
                                           absl::Time forget_before) {
  return AddState(UserKey(user_id), {{ToMs(nudge.due), "s:" + nudge.payload}}, kSnoozeLane,
                  ToMs(forget_before))
      .status();
}

absl::StatusOr<UserNudgeState> RedisReminderStore::GetUserState(absl::string_view user_id) {
  auto both = std::move(ReadUsers({UserKey(user_id)}, /*with_plan=*/false)[0]);
  if (!both.ok()) return both.status();
  return std::move(both->second);
}

absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>> RedisReminderStore::GetPlanAndState(
    absl::string_view user_id) {
  return std::move(ReadUsers({UserKey(user_id)}, /*with_plan=*/true)[0]);
}

std::string RedisReminderStore::StateKey(absl::string_view user_key) {
  return UserPrefix(user_key) + "state";
}

std::vector<std::vector<std::string>> RedisReminderStore::UserReadCommands(
    absl::string_view user_key, bool with_plan) {
  const std::string up = UserPrefix(user_key);
  std::vector<std::vector<std::string>> cmds;
  if (with_plan) cmds.push_back({"HGET", up + "plan", "data"});
  cmds.push_back({"ZRANGE", up + "state", "0", "-1"});
  std::vector<std::string> exists = {"EXISTS"};
  for (const EarlierStateKey& k : kEarlierStateKeys) exists.push_back(up + k.suffix);
  cmds.push_back(std::move(exists));
  return cmds;
}

absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>> RedisReminderStore::ParseUserReplies(
    const RedisReply* rs, bool with_plan, bool* earlier) {
  std::pair<v1::ReminderPlan, UserNudgeState> out;
  if (with_plan) {
    const RedisReply& plan = *rs++;
    if (plan.is_error()) return absl::InternalError(plan.str);
    if (plan.is_nil()) return absl::NotFoundError("no reminder plan for this user");
    absl::StatusOr<v1::ReminderPlan> parsed = ParsePlan(plan.str);
    if (!parsed.ok()) return parsed.status();
    out.first = *std::move(parsed);
  }
  if (rs[0].is_error()) return absl::InternalError(rs[0].str);
  UserNudgeState& state = out.second;
  for (const RedisReply& e : rs[0].elements) {
    const absl::string_view m = e.str;
    if (m.size() < 2 || m[1] != ':') continue;
    const std::string rest(m.substr(2));
    switch (m[0]) {
      case 'a':
        state.acknowledged.push_back(rest);
        break;
      case 's':
        state.snoozes.push_back(rest);
        break;
      case 'c':
        state.cancelled.push_back(rest);
        break;
      default:
        break;
    }
  }
  *earlier = rs[1].type == RedisReply::Type::kInteger && rs[1].integer > 0;
  return out;
}

absl::Status RedisReminderStore::ReadEarlierState(const std::vector<std::string>& user_keys,
                                                  const std::vector<UserNudgeState*>& states) {
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& uk : user_keys) {
    for (const EarlierStateKey& k : kEarlierStateKeys) {
      std::vector<std::string> c = {k.read, UserPrefix(uk) + k.suffix};
      if (std::string_view(k.read) == "ZRANGE") c.insert(c.end(), {"0", "-1"});
      cmds.push_back(std::move(c));
    }
  }
  absl::StatusOr<std::vector<RedisReply>> rs = redis_->Pipeline(cmds);
  if (!rs.ok()) return rs.status();
  constexpr size_t kPer = std::size(kEarlierStateKeys);
  for (size_t u = 0; u < states.size(); ++u) {
    for (size_t i = 0; i < kPer; ++i) {
      std::vector<std::string>& into = states[u]->*kEarlierStateKeys[i].into;
      for (const RedisReply& e : (*rs)[kPer * u + i].elements) into.push_back(e.str);
    }
  }
  return absl::OkStatus();
}

std::vector<absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>>>
RedisReminderStore::ReadUsers(const std::vector<std::string>& user_keys, bool with_plan) {
  std::vector<std::vector<std::string>> cmds;
  for (const std::string& k : user_keys) {
    for (std::vector<std::string>& c : UserReadCommands(k, with_plan)) cmds.push_back(std::move(c));
  }
  std::vector<absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>>> out;
  absl::StatusOr<std::vector<RedisReply>> rs = redis_->Pipeline(cmds);
  const size_t per = cmds.size() / std::max<size_t>(1, user_keys.size());
  // Users with state still in an earlier layout: read it for all of them in one more round trip.
  std::vector<std::string> earlier_keys;
  std::vector<size_t> earlier_at;
  for (size_t u = 0; u < user_keys.size(); ++u) {
    if (!rs.ok()) {
      out.push_back(rs.status());
      continue;
    }
    bool earlier = false;
    out.push_back(ParseUserReplies(&(*rs)[u * per], with_plan, &earlier));
    if (earlier && out.back().ok()) {
      earlier_keys.push_back(user_keys[u]);
      earlier_at.push_back(u);
    }
  }
  if (!earlier_keys.empty()) {
    std::vector<UserNudgeState*> states;
    for (size_t i : earlier_at) states.push_back(&out[i]->second);
    if (absl::Status s = ReadEarlierState(earlier_keys, states); !s.ok()) {
      for (size_t i : earlier_at) out[i] = s;
    }
  }
  return out;
}

absl::StatusOr<ReminderStore::WaterAdd> RedisReminderStore::AddWater(absl::string_view user_id,
                                                                     absl::CivilDay day,
                                                                     int32_t amount_ml,
                                                                     int64_t max_total_ml) {
  const std::string key = UserPrefix(UserKey(user_id)) + "water:" + DayString(day);
  absl::StatusOr<RedisReply> r = redis_->Eval(
      kAddWaterScript, {key},
      {absl::StrCat(amount_ml), absl::StrCat(max_total_ml), absl::StrCat(kWaterTtlSec)});
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  if (r->elements.size() != 2) return absl::InternalError("redis script: unexpected reply");
  return WaterAdd{AsInt(r->elements[1]), AsInt(r->elements[0]) == 0};
}

absl::StatusOr<ClaimResult> RedisReminderStore::Claim(int bucket, int max, const std::string& token,
                                                      absl::Duration lease,
                                                      absl::Duration misfire) {
  const std::string bp = BucketPrefix(bucket);
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kClaimScript, {bp + "due", bp + "pay", bp + "leases", bp + "claim:" + token},
                   {absl::StrCat(max), token, absl::StrCat(absl::ToInt64Milliseconds(lease)),
                    absl::StrCat(absl::ToInt64Milliseconds(misfire))});
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  ClaimResult out;
  const auto& e = r->elements;
  if (e.size() < 2) return absl::InternalError("unexpected claim reply");
  out.server_now_ms = AsInt(e[0]);
  out.skipped = static_cast<int>(AsInt(e[1]));
  for (size_t i = 2; i + 2 < e.size(); i += 3) {
    ClaimedNudge c;
    c.member = e[i].str;
    c.due_ms = AsInt(e[i + 1]);
    c.payload = e[i + 2].str;
    out.claimed.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<int> RedisReminderStore::Publish(int bucket, const std::string& token,
                                                const std::vector<PublishItem>& items) {
  if (items.empty()) return 0;
  if (!groups_ready_.load() && EnsureOutboxGroups().ok()) groups_ready_ = true;
  const std::string bp = BucketPrefix(bucket);
  std::vector<std::string> args = {token, absl::StrCat(options_.outbox_max_len),
                                   absl::StrCat(options_.live_max_len)};
  args.reserve(args.size() + 4 * items.size());
  for (const PublishItem& it : items) {
    args.push_back(it.member);
    args.push_back(it.nudge_id);
    args.push_back(it.user_key);
    args.push_back(it.payload);
  }
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kPublishScript,
                   {bp + "leases", bp + "claim:" + token, bp + "pay", bp + "outbox", bp + "due",
                    bp + "listen", bp + "live"},
                   args);
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  return static_cast<int>(AsInt(*r));
}

absl::StatusOr<int> RedisReminderStore::Reap(int bucket, int max) {
  const std::string bp = BucketPrefix(bucket);
  absl::StatusOr<RedisReply> tokens =
      redis_->Eval(kExpiredLeasesScript, {bp + "leases"}, {absl::StrCat(max)});
  if (!tokens.ok()) return tokens.status();
  if (absl::Status s = ScriptError(*tokens); !s.ok()) return s;
  int total = 0;
  for (const RedisReply& t : tokens->elements) {
    // One atomic step per claim, re-checking the lease: a publish may have won meanwhile.
    absl::StatusOr<RedisReply> r =
        redis_->Eval(kReapScript, {bp + "leases", bp + "claim:" + t.str, bp + "due"}, {t.str});
    if (!r.ok()) return r.status();
    if (absl::Status s = ScriptError(*r); !s.ok()) return s;
    total += static_cast<int>(AsInt(*r));
  }
  return total;
}

absl::Status RedisReminderStore::DropRefill(absl::string_view user_key) {
  const std::string bp = BucketPrefix(UserBucket(user_key, options_.num_buckets));
  return redis_->Command({"ZREM", bp + "refill", std::string(user_key)}).status();
}

absl::StatusOr<std::vector<std::string>> RedisReminderStore::ClaimRefills(int bucket, int max,
                                                                          absl::Duration lease) {
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kClaimRefillScript, {BucketPrefix(bucket) + "refill"},
                   {absl::StrCat(max), absl::StrCat(absl::ToInt64Milliseconds(lease))});
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  std::vector<std::string> users;
  for (const RedisReply& e : r->elements) users.push_back(e.str);
  return users;
}

absl::Status RedisReminderStore::Listen(const std::vector<std::string>& user_keys,
                                        absl::Duration ttl) {
  std::vector<std::vector<std::string>> per_bucket(options_.num_buckets);
  for (const std::string& k : user_keys) {
    per_bucket[UserBucket(k, options_.num_buckets)].push_back(k);
  }
  const std::string ttl_ms = absl::StrCat(absl::ToInt64Milliseconds(ttl));
  for (int b = 0; b < options_.num_buckets; ++b) {
    if (per_bucket[b].empty()) continue;
    std::vector<std::string> args = {ttl_ms};
    args.insert(args.end(), per_bucket[b].begin(), per_bucket[b].end());
    absl::StatusOr<RedisReply> r = redis_->Eval(kListenScript, {BucketPrefix(b) + "listen"}, args);
    if (!r.ok()) return r.status();
    if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<OutboxEntry>> RedisReminderStore::ReadOutbox(
    std::vector<std::string>* cursors, int max, absl::Duration block) {
  return ReadStreams(&RedisReminderStore::OutboxKey, cursors, max, block);
}

absl::StatusOr<std::vector<OutboxEntry>> RedisReminderStore::ReplayFeed(absl::string_view user_key,
                                                                        const std::string& after,
                                                                        int max) {
  const std::string key = OutboxKey(UserBucket(user_key, options_.num_buckets));
  std::vector<OutboxEntry> out;
  std::string from = after;
  // The bucket's feed holds every user of the bucket: read it in pages and keep hers. Bounded by
  // the outbox's length (one reconnect reads at most that much once).
  for (int page = 0; page < 1000 && static_cast<int>(out.size()) < max; ++page) {
    absl::StatusOr<RedisReply> r =
        redis_->Command({"XRANGE", key, absl::StrCat("(", from), "+", "COUNT", "1000"});
    if (!r.ok()) return r.status();
    if (r->is_error()) return absl::InternalError(r->str);
    if (r->elements.empty()) break;
    for (const RedisReply& entry : r->elements) {
      if (entry.elements.size() != 2) continue;
      from = entry.elements[0].str;
      OutboxEntry e;
      e.feed_id = from;
      const auto& f = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < f.size(); i += 2) {
        if (f[i].str == "user") e.user_key = f[i + 1].str;
        if (f[i].str == "nudge_id") e.nudge_id = f[i + 1].str;
        if (f[i].str == "nudge") e.payload = f[i + 1].str;
      }
      if (e.user_key == user_key && static_cast<int>(out.size()) < max) out.push_back(std::move(e));
    }
    if (r->elements.size() < 1000) break;
  }
  return out;
}

absl::StatusOr<std::vector<OutboxEntry>> RedisReminderStore::ReadLive(
    std::vector<std::string>* cursors, int max, absl::Duration block) {
  return ReadStreams(&RedisReminderStore::LiveKey, cursors, max, block);
}

absl::StatusOr<std::vector<OutboxEntry>> RedisReminderStore::ReadStreams(
    std::string (*key_of)(int), std::vector<std::string>* cursors, int max, absl::Duration block) {
  const int n = options_.num_buckets;
  cursors->resize(n);
  // Unset cursors start at the current end of their stream.
  std::vector<std::vector<std::string>> init;
  std::vector<int> init_buckets;
  for (int b = 0; b < n; ++b) {
    if ((*cursors)[b].empty()) {
      init.push_back({"XREVRANGE", key_of(b), "+", "-", "COUNT", "1"});
      init_buckets.push_back(b);
    }
  }
  if (!init.empty()) {
    absl::StatusOr<std::vector<RedisReply>> rs = redis_->Pipeline(init);
    if (!rs.ok()) return rs.status();
    for (size_t i = 0; i < rs->size(); ++i) {
      const RedisReply& r = (*rs)[i];
      (*cursors)[init_buckets[i]] = (!r.elements.empty() && !r.elements[0].elements.empty())
                                        ? r.elements[0].elements[0].str
                                        : "0-0";
    }
  }
  // The [key, entries] replies of every stream that had something.
  std::vector<RedisReply> replies;
  if (!redis_->options().cluster) {
    // One XREAD over every bucket's stream, blocking until any has something.
    std::vector<std::string> cmd = {"XREAD", "COUNT", absl::StrCat(max)};
    if (block > absl::ZeroDuration()) {
      cmd.push_back("BLOCK");
      cmd.push_back(absl::StrCat(absl::ToInt64Milliseconds(block)));
    }
    cmd.push_back("STREAMS");
    for (int b = 0; b < n; ++b) cmd.push_back(key_of(b));
    for (int b = 0; b < n; ++b) cmd.push_back((*cursors)[b]);
    absl::StatusOr<RedisReply> r = redis_->Command(cmd);
    if (!r.ok()) return r.status();
    if (r->is_error()) return absl::InternalError(r->str);
    replies = std::move(r->elements);
  } else {
    // Each bucket's stream is on its own slot and a cluster refuses a read over several slots:
    // one XREAD per stream, pipelined (one round trip per node), and when none had anything the
    // wait happens here.
    std::vector<std::vector<std::string>> cmds;
    for (int b = 0; b < n; ++b) {
      cmds.push_back({"XREAD", "COUNT", absl::StrCat(max), "STREAMS", key_of(b), (*cursors)[b]});
    }
    absl::StatusOr<std::vector<RedisReply>> rs = redis_->Pipeline(cmds);
    if (!rs.ok()) return rs.status();
    for (RedisReply& r : *rs) {
      if (r.is_error()) return absl::InternalError(r.str);
      for (RedisReply& stream : r.elements) replies.push_back(std::move(stream));
    }
    if (replies.empty() && block > absl::ZeroDuration()) absl::SleepFor(block);
  }
  std::vector<OutboxEntry> out;
  for (const RedisReply& stream : replies) {
    if (stream.elements.size() != 2) continue;
    int bucket = -1;
    for (int b = 0; b < n; ++b) {
      if (stream.elements[0].str == key_of(b)) bucket = b;
    }
    if (bucket < 0) continue;
    for (const RedisReply& entry : stream.elements[1].elements) {
      if (entry.elements.size() != 2) continue;
      (*cursors)[bucket] = entry.elements[0].str;
      OutboxEntry e;
      e.feed_id = entry.elements[0].str;  // the outbox's own id; a live entry names it in "oid"
      const auto& f = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < f.size(); i += 2) {
        const std::string& k = f[i].str;
        const std::string& v = f[i + 1].str;
        if (k == "nudge_id") {
          e.nudge_id = v;
        } else if (k == "user") {
          e.user_key = v;
        } else if (k == "due_ms") {
          absl::SimpleAtoi(v, &e.due_ms);
        } else if (k == "pub_ms") {
          absl::SimpleAtoi(v, &e.published_ms);
        } else if (k == "nudge") {
          e.payload = v;
        } else if (k == "oid") {
          e.feed_id = v;
        }
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

std::string RedisReminderStore::NextKey(int bucket) {
  return absl::StrCat(BucketPrefix(bucket), "next");
}

namespace {
std::vector<std::string> DueKeys(int bucket) {
  const std::string bp = BucketPrefix(bucket);
  return {bp + "next", bp + "wm", bp + "lease", bp + "dirty"};
}
}  // namespace

absl::Status RedisReminderStore::WakePlan(absl::string_view user_key, absl::Time due,
                                          absl::Time watermark) {
  const int bucket = UserBucket(user_key, options_.num_buckets);
  const std::string bp = BucketPrefix(bucket);
  std::vector<std::string> keys = DueKeys(bucket);
  for (std::string k : {bp + "due", bp + "pay", absl::StrCat(bp, "u:", user_key), bp + "refill"}) {
    keys.push_back(std::move(k));
  }
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kWakePlanScript, keys,
                   {std::string(user_key), absl::StrCat(ToMs(due)), absl::StrCat(ToMs(watermark)),
                    absl::StrCat(absl::ToInt64Milliseconds(options_.wake_within))});
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  if (AsInt(*r) == 2) {
    // Its own key (its own slot in a cluster), so a separate command. If it is lost, her bucket's
    // dispatcher still finds her within wake_within: she is late, never missed.
    (void)redis_->Command({"ZADD", kWakeKey, "LT", absl::StrCat(ToMs(due)), absl::StrCat(bucket)});
  }
  return absl::OkStatus();
}

absl::Status RedisReminderStore::WakeNewPlan(absl::string_view user_key, absl::Time due) {
  const int bucket = UserBucket(user_key, options_.num_buckets);
  const absl::Time now = absl::Now();
  // Unconditional (no LT): her entry always changes, which is how a claim in flight learns of it.
  absl::StatusOr<RedisReply> r =
      redis_->Command({"ZADD", NextKey(bucket), absl::StrCat(ToMs(now)), std::string(user_key)});
  if (!r.ok()) return r.status();
  if (r->is_error()) return absl::InternalError(r->str);
  if (WakeSoon(due, now)) {
    (void)redis_->Command({"ZADD", kWakeKey, "LT", absl::StrCat(ToMs(due)), absl::StrCat(bucket)});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Wake>> RedisReminderStore::WaitWake(absl::Duration timeout) {
  // A blocked BZPOPMIN must answer within the client's command timeout.
  timeout = std::clamp(timeout, absl::Milliseconds(10), redis_->options().command_timeout * 4 / 5);
  absl::StatusOr<RedisReply> r = redis_->Command(
      {"BZPOPMIN", kWakeKey, absl::StrFormat("%.3f", absl::ToDoubleSeconds(timeout))});
  if (!r.ok()) return r.status();
  if (r->is_error()) return absl::InternalError(r->str);
  if (r->is_nil() || r->elements.size() != 3) return std::optional<Wake>();
  int bucket = -1;
  double due_ms = 0;
  if (!absl::SimpleAtoi(r->elements[1].str, &bucket) || bucket < 0 ||
      bucket >= options_.num_buckets || !absl::SimpleAtod(r->elements[2].str, &due_ms)) {
    return std::optional<Wake>();  // not ours: dropped
  }
  return std::optional<Wake>(Wake{bucket, absl::FromUnixMillis(static_cast<int64_t>(due_ms))});
}

absl::Status RedisReminderStore::DropDuePlan(absl::string_view user_key) {
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kDropDuePlanScript, DueKeys(UserBucket(user_key, options_.num_buckets)),
                   {std::string(user_key)});
  if (!r.ok()) return r.status();
  return ScriptError(*r);
}

absl::StatusOr<DueClaim> RedisReminderStore::ClaimDuePlans(int bucket, int max,
                                                           absl::Duration lease) {
  const std::string bp = BucketPrefix(bucket);
  std::vector<std::string> keys = DueKeys(bucket);
  for (std::string k : {bp + "fence", bp + "due", bp + "pay", bp + "refill"}) {
    keys.push_back(std::move(k));
  }
  absl::StatusOr<RedisReply> r =
      redis_->Eval(kClaimDueScript, keys,
                   {absl::StrCat(max), absl::StrCat(absl::ToInt64Milliseconds(lease)), bp + "u:"});
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  const auto& e = r->elements;
  if (e.size() < 3) return absl::InternalError("unexpected claim reply");
  DueClaim out;
  out.server_now_ms = AsInt(e[0]);
  out.earliest_ms = AsInt(e[1]);
  const int64_t fence = AsInt(e[2]);
  for (size_t i = 3; i + 1 < e.size(); i += 2) {
    out.plans.push_back({e[i].str, fence, AsInt(e[i + 1])});
  }
  return out;
}

absl::StatusOr<CommitResult> RedisReminderStore::CommitDuePlans(
    int bucket, const std::vector<PlanCommit>& commits) {
  if (commits.empty()) return CommitResult{};
  if (!groups_ready_.load() && EnsureOutboxGroups().ok()) groups_ready_ = true;
  const std::string bp = BucketPrefix(bucket);
  std::vector<std::string> keys = DueKeys(bucket);
  keys.push_back(bp + "outbox");
  keys.push_back(bp + "listen");
  keys.push_back(bp + "live");
  std::vector<std::string> args = {absl::StrCat(options_.outbox_max_len),
                                   absl::StrCat(options_.live_max_len)};
  for (const PlanCommit& c : commits) {
    args.push_back(c.user_key);
    args.push_back(absl::StrCat(c.fence));
    args.push_back(absl::StrCat(c.watermark_ms));
    args.push_back(absl::StrCat(c.next_due_ms));
    args.push_back(absl::StrCat(c.items.size()));
    for (const FeedItem& it : c.items) {
      args.push_back(it.nudge_id);
      args.push_back(absl::StrCat(it.due_ms));
      args.push_back(it.payload);
    }
  }
  absl::StatusOr<RedisReply> r = redis_->Eval(kCommitDueScript, keys, args);
  if (!r.ok()) return r.status();
  if (absl::Status s = ScriptError(*r); !s.ok()) return s;
  if (r->elements.size() != 3) return absl::InternalError("unexpected commit reply");
  return CommitResult{static_cast<int>(AsInt(r->elements[0])),
                      static_cast<int>(AsInt(r->elements[1])),
                      static_cast<int>(AsInt(r->elements[2]))};
}

absl::StatusOr<std::pair<int64_t, int64_t>> RedisReminderStore::DuePlanCount() {
  std::vector<std::vector<std::string>> cmds;
  for (int b = 0; b < options_.num_buckets; ++b) {
    cmds.push_back({"ZCARD", NextKey(b)});
    cmds.push_back({"HLEN", BucketPrefix(b) + "lease"});
  }
  absl::StatusOr<std::vector<RedisReply>> rs = redis_->Pipeline(cmds);
  if (!rs.ok()) return rs.status();
  std::pair<int64_t, int64_t> out{0, 0};
  for (size_t i = 0; i < rs->size(); i += 2) {
    out.first += (*rs)[i].integer;
    out.second += (*rs)[i + 1].integer;
  }
  return out;
}

std::vector<absl::StatusOr<std::pair<v1::ReminderPlan, UserNudgeState>>>
RedisReminderStore::GetPlansAndStatesByKey(const std::vector<std::string>& user_keys) {
  return ReadUsers(user_keys, /*with_plan=*/true);
}

absl::StatusOr<std::pair<int64_t, int64_t>> RedisReminderStore::Backlog() {
  std::vector<std::vector<std::string>> cmds;
  for (int b = 0; b < options_.num_buckets; ++b) {
    cmds.push_back({"ZCARD", DueKey(b)});
    cmds.push_back({"ZCARD", LeasesKey(b)});
  }
  absl::StatusOr<std::vector<RedisReply>> rs = redis_->Pipeline(cmds);
  if (!rs.ok()) return rs.status();
  std::pair<int64_t, int64_t> out{0, 0};
  for (size_t i = 0; i < rs->size(); i += 2) {
    out.first += (*rs)[i].integer;
    out.second += (*rs)[i + 1].integer;
  }
  return out;
}

// --- shared helpers -----------------------------------------------------------------------------

bool FeedIdLess(absl::string_view a, absl::string_view b) {
  auto parse = [](absl::string_view id, uint64_t* ms, uint64_t* seq) {
    const size_t dash = id.find('-');
    return dash != absl::string_view::npos && absl::SimpleAtoi(id.substr(0, dash), ms) &&
           absl::SimpleAtoi(id.substr(dash + 1), seq);
  };
  uint64_t ams = 0, aseq = 0, bms = 0, bseq = 0;
  const bool aok = parse(a, &ams, &aseq);
  const bool bok = parse(b, &bms, &bseq);
  if (!aok || !bok) return !aok && bok;
  return ams != bms ? ams < bms : aseq < bseq;
}

absl::Status RequestIdReused() {
  FieldViolations v;
  v.Add("request_id", "was already used with a different request");
  return v.ToStatus("REQUEST_ID_REUSED");
}

std::string UserKey(absl::string_view user_id) {
  return absl::StrFormat("%016x", StableHash64(absl::StrCat("user|", user_id)));
}

int UserBucket(absl::string_view user_key, int num_buckets) {
  return static_cast<int>(StableHash64(user_key) % static_cast<uint64_t>(num_buckets));
}

std::string MemberOf(absl::string_view user_key, absl::string_view nudge_id) {
  return absl::StrCat(user_key, ":", nudge_id);
}

}  // namespace legwise::reminder
