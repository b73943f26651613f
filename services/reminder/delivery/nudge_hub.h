// Live delivery to StreamNudges subscribers on this replica. The hub tells the store which users
// have a stream open here (Listen, refreshed while they stay connected), and follows the store's
// live log, which holds only the published nudges of such users, from any replica. So a user
// connected to any replica receives nudges published by any replica, and no replica reads the
// whole outbox.
#ifndef LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_HUB_H_
#define LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/common/page_token.h"
#include "services/reminder/store/reminder_store.h"

namespace legwise::reminder {

class NudgeHub {
 public:
  // Called on the hub's thread; must not block. `feed_id` is where the nudge was published (the
  // nudge's resume_token names it too).
  using Sink = std::function<void(const legwise::reminder::v1::Nudge&, const std::string& feed_id)>;

  // `tokens` signs resume tokens (null: the process's default signer).
  explicit NudgeHub(DeliveryFeed* store, const PageTokenSigner* tokens = nullptr)
      : store_(store), tokens_(tokens != nullptr ? tokens : &DefaultPageTokenSigner()) {}
  ~NudgeHub() { Stop(); }
  NudgeHub(const NudgeHub&) = delete;
  NudgeHub& operator=(const NudgeHub&) = delete;

  // How long a Listen mark lasts, and how often the hub renews the marks of its subscribers.
  static constexpr absl::Duration kListenTtl = absl::Seconds(60);
  static constexpr absl::Duration kListenRefresh = absl::Seconds(20);

  // Starts following the live log from its current end.
  void Start();
  void Stop();

  // Registers a subscriber of `user_id`'s nudges; returns its handle. Nudges published from about
  // 100 ms later on reach her sink. After Unsubscribe returns, the sink is never called again.
  uint64_t Subscribe(const std::string& user_id, Sink sink);
  void Unsubscribe(uint64_t handle);
  size_t subscribers();

  // StreamNudges resume tokens: signed "<user key>|<feed id>", so a client cannot make one up or
  // use another user's.
  std::string ResumeToken(const std::string& user_key, const std::string& feed_id) const;
  // The feed id of `token` when it is one of `user_id`'s; INVALID_ARGUMENT otherwise.
  absl::StatusOr<std::string> ParseResumeToken(absl::string_view token,
                                               const std::string& user_id) const;
  // A feed entry as the nudge a client receives (texts included, resume_token set); false when
  // its payload does not parse.
  bool ToNudge(const OutboxEntry& e, legwise::reminder::v1::Nudge* out) const;

 private:
  void Loop();
  // Marks new subscribers as listening, and every subscriber when the marks are due a renewal.
  void RenewListening(absl::Time now);

  DeliveryFeed* store_;
  const PageTokenSigner* tokens_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  absl::Mutex mu_;
  uint64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  std::multimap<std::string, std::pair<uint64_t, Sink>> by_user_ ABSL_GUARDED_BY(mu_);  // user key
  // User keys subscribed since the last Listen.
  std::set<std::string> unmarked_ ABSL_GUARDED_BY(mu_);
  absl::Time next_renewal_ = absl::InfinitePast();  // hub thread only
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_HUB_H_
