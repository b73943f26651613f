#include "services/reminder/delivery/nudge_hub.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/logging.h"

namespace legwise::reminder {

void NudgeHub::Start() {
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void NudgeHub::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

uint64_t NudgeHub::Subscribe(const std::string& user_id, Sink sink) {
  absl::MutexLock lock(&mu_);
  const uint64_t h = next_handle_++;
  by_user_.emplace(UserKey(user_id), std::make_pair(h, std::move(sink)));
  unmarked_.insert(UserKey(user_id));
  return h;
}

void NudgeHub::Unsubscribe(uint64_t handle) {
  absl::MutexLock lock(&mu_);
  for (auto it = by_user_.begin(); it != by_user_.end(); ++it) {
    if (it->second.first == handle) {
      by_user_.erase(it);
      return;
    }
  }
}

size_t NudgeHub::subscribers() {
  absl::MutexLock lock(&mu_);
  return by_user_.size();
}

void NudgeHub::RenewListening(absl::Time now) {
  const bool renew_all = now >= next_renewal_;
  std::vector<std::string> keys;
  {
    absl::MutexLock lock(&mu_);
    if (renew_all) {
      for (auto it = by_user_.begin(); it != by_user_.end(); it = by_user_.upper_bound(it->first)) {
        keys.push_back(it->first);
      }
    } else {
      keys.assign(unmarked_.begin(), unmarked_.end());
    }
    unmarked_.clear();
  }
  if (!keys.empty()) {
    if (absl::Status s = store_->Listen(keys, kListenTtl); !s.ok()) {
      absl::MutexLock lock(&mu_);
      unmarked_.insert(keys.begin(), keys.end());  // try again on the next turn
      return;
    }
  }
  if (renew_all) next_renewal_ = now + kListenRefresh;
}

namespace {
constexpr absl::string_view kResumePurpose = "reminder.StreamNudges.resume";
}  // namespace

std::string NudgeHub::ResumeToken(const std::string& user_key, const std::string& feed_id) const {
  return tokens_->Sign(kResumePurpose, absl::StrCat(user_key, "|", feed_id));
}

absl::StatusOr<std::string> NudgeHub::ParseResumeToken(absl::string_view token,
                                                       const std::string& user_id) const {
  absl::StatusOr<std::string> payload = tokens_->Verify(kResumePurpose, token);
  const std::string prefix = absl::StrCat(UserKey(user_id), "|");
  if (!payload.ok() || !absl::StartsWith(*payload, prefix)) {
    return absl::InvalidArgumentError("resume_token is not a token of one of her nudges");
  }
  return payload->substr(prefix.size());
}

bool NudgeHub::ToNudge(const OutboxEntry& e, legwise::reminder::v1::Nudge* out) const {
  if (!out->ParseFromString(e.payload)) return false;
  out->set_resume_token(ResumeToken(e.user_key, e.feed_id));
  return true;
}

void NudgeHub::Loop() {
  std::vector<std::string> cursors;
  bool was_down = false;
  while (!stop_) {
    RenewListening(absl::Now());
    absl::StatusOr<std::vector<OutboxEntry>> entries =
        store_->ReadLive(&cursors, 1000, absl::Milliseconds(100));
    if (!entries.ok()) {
      if (!was_down)
        LogWarning("live_read_failed", {{"code", static_cast<int>(entries.status().code())}});
      was_down = true;
      absl::SleepFor(absl::Milliseconds(200));
      continue;
    }
    was_down = false;
    absl::MutexLock lock(&mu_);
    for (const OutboxEntry& e : *entries) {
      auto range = by_user_.equal_range(e.user_key);
      if (range.first == range.second) continue;
      legwise::reminder::v1::Nudge nudge;
      if (!ToNudge(e, &nudge)) continue;
      for (auto it = range.first; it != range.second; ++it) it->second.second(nudge, e.feed_id);
    }
  }
}

}  // namespace legwise::reminder
