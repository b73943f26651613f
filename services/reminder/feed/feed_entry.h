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

// The message for one device: the nudge's texts and their locale, its due and local time,
// expire_time = due + the kind's TTL, quiet_hours_start as given (InfiniteFuture when unknown).
push::PushMessage MessageFor(const FeedEntry& entry, const legwise::reminder::v1::Device& device,
                             absl::Time quiet_hours_start);

// One job per device with a target, in the devices' order.
std::vector<push::PushJob> JobsFor(const FeedEntry& entry,
                                   const std::vector<legwise::reminder::v1::Device>& devices,
                                   absl::Time quiet_hours_start);

}  // namespace legwise::reminder

#endif  // LEGWISE_SERVICES_REMINDER_FEED_FEED_ENTRY_H_
