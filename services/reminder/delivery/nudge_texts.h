// Localized nudge texts from legwise-content (ListNudgeTexts), cached per locale, never blocking
// the caller: Get() answers from the cache (or the built-in texts) at once and refreshes in the
// background with an async call that has a deadline. When content is unreachable the built-in texts
// are used.
#ifndef LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_TEXTS_H_
#define LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_TEXTS_H_

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "legwise/content/v1/content.grpc.pb.h"
#include "services/reminder/planner/nudge_kinds.h"

namespace legwise::reminder {

// Title and body of one kind of nudge.
struct NudgeText {
  std::string title;
  std::string body;
};

// Texts for every kind in one locale.
struct NudgeTextSet {
  std::string locale;  // the locale served (after content's fallback)
  std::array<NudgeText, kNumNudgeKinds + 1> by_kind;  // index = NudgeKind number; [0] unused
  bool builtin = false;                               // true when these are the built-in texts

  // The text as stored (may hold `{daily_target}`).
  const NudgeText& For(NudgeKind kind) const { return by_kind[static_cast<int>(kind)]; }
  // The text for her plan: `{daily_target}` becomes her daily water target in this locale.
  NudgeText Render(NudgeKind kind, int32_t daily_target_ml) const;
};

// The built-in texts for `locale` ("es..." -> Spanish, anything else -> English).
std::shared_ptr<const NudgeTextSet> BuiltinNudgeTexts(absl::string_view locale);

class NudgeTextProvider {
 public:
  // `content` may be null (no content service configured): built-in texts only. Otherwise the
  // texts of the built-in locales (en, es) are fetched at once, in the background.
  NudgeTextProvider(std::shared_ptr<grpc::Channel> content,
                    absl::Duration deadline = absl::Milliseconds(300),
                    absl::Duration ttl = absl::Minutes(10));
  ~NudgeTextProvider();

  // The texts for `locale` ("" = "en"), never blocking. Starts a refresh when missing or stale.
  std::shared_ptr<const NudgeTextSet> Get(absl::string_view locale);

 private:
  struct Entry {
    std::shared_ptr<const NudgeTextSet> texts;
    absl::Time fetched = absl::InfinitePast();
    absl::Time retry_after = absl::InfinitePast();
    bool in_flight = false;
  };
  void Fetch(const std::string& locale) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<legwise::content::v1::ContentService::Stub> stub_;
  absl::Duration deadline_;
  absl::Duration ttl_;
  absl::Mutex mu_;
  std::map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_DELIVERY_NUDGE_TEXTS_H_
