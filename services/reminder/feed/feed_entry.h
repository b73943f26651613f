// One delivery-feed (outbox) entry as legwise-push reads it, and the PushJobs it fans out to.
// The entry's fields are written by RedisReminderStore's publish script:
//   nudge_id, user (UserKey(user_id), never the id), due_ms, pub_ms, nudge (a serialized Nudge).
#ifndef LEGWISE_SERVICES_REMINDER_FEED_FEED_ENTRY_H_
#define LEGWISE_SERVICES_REMINDER_FEED_FEED_ENTRY_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "legwise/reminder/v1/reminder.pb.h"
#include "services/reminder/delivery/nudge_texts.h"
#include "services/reminder/push/sender.h"

namespace legwise::reminder {

struct FeedEntry {
  std::string nudge_id;
  std::string user_key;
  absl::Time due_time = absl::UnixEpoch();
  legwise::reminder::v1::Nudge nudge;
};

// The entry from its stream fields (name, value pairs). DATA_LOSS when a field is missing or the
// nudge does not parse (the caller acknowledges such an entry: it can never be sent).
absl::StatusOr<FeedEntry> ParseFeedEntry(
    const std::vector<std::pair<std::string, std::string>>& fields);

// How long after its due time a nudge of each kind is still worth showing; past it, it is dropped
// and counted, never sent late. A table, not scattered ifs.
struct PushTtl {
  legwise::reminder::v1::NudgeKind kind;
  absl::Duration ttl;
};
const std::vector<PushTtl>& PushTtls();
// The kind's TTL (the shortest in the table for an unknown kind).
absl::Duration PushTtlFor(legwise::reminder::v1::NudgeKind kind);

// Where a device's texts come from when its locale is not the nudge's: the localized texts
// (legwise-content's, cached; built-in while content is unreachable) and her daily water target
// for `{daily_target}`.
struct DeviceTexts {
  NudgeTextProvider* provider = nullptr;  // nullptr: every device gets the nudge's texts
  int32_t water_target_ml = 0;
};

// The message for one device: its due and local time, expire_time = due + the kind's TTL,
// quiet_hours_start as given (InfiniteFuture when unknown), and the texts in the device's own
// locale: the nudge's texts when the device has no locale or the nudge's, else rendered again for
// the device's locale (its `locale` field then says which locale content served).
push::PushMessage MessageFor(const FeedEntry& entry, const legwise::reminder::v1::Device& device,
                             absl::Time quiet_hours_start, const DeviceTexts& texts = {});

// One job per device with a target, in the devices' order.
std::vector<push::PushJob> JobsFor(const FeedEntry& entry,
                                   const std::vector<legwise::reminder::v1::Device>& devices,
                                   absl::Time quiet_hours_start, const DeviceTexts& texts = {});

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_FEED_FEED_ENTRY_H_
