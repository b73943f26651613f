// The handler executor: tasks run on its workers, concurrently; a full queue refuses instead of
// growing; destruction runs every accepted task before it returns.
#include "services/common/executor.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace legwise {
namespace {

TEST(Executor, RunsTasksOffTheCallersThreadConcurrently) {
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> inside{0}, max_inside{0}, off_caller{0};
  absl::Notification release;
  std::atomic<int> done{0};
  Executor executor(4, 100);  // after what its tasks use: joined before that state goes
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(executor.Submit([&] {
      const int now = ++inside;
      int seen = max_inside.load();
      while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
      }
      off_caller += std::this_thread::get_id() != caller;
      release.WaitForNotificationWithTimeout(absl::Seconds(10));
      --inside;
      ++done;
    }));
  }
  // All four block at once: a blocking task does not hold up the others.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (max_inside.load() < 4 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  release.Notify();
  while (done.load() < 4 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_EQ(max_inside.load(), 4);
  EXPECT_EQ(off_caller.load(), 4);
}

TEST(Executor, FullQueueRefusesAndDestructionRunsWhatWasAccepted) {
  std::atomic<int> ran{0};
  absl::Notification release;
  {
    Executor executor(1, 2);
    ASSERT_TRUE(executor.Submit([&] {
      release.WaitForNotificationWithTimeout(absl::Seconds(10));
      ++ran;
    }));
    // The worker holds the first task; two more may wait, the next is refused and never runs.
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (executor.queued() != 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
    EXPECT_TRUE(executor.Submit([&] { ++ran; }));
    EXPECT_TRUE(executor.Submit([&] { ++ran; }));
    EXPECT_FALSE(executor.Submit([&] { ran += 100; }));
    EXPECT_EQ(executor.queued(), 2u);
    release.Notify();
  }
  EXPECT_EQ(ran.load(), 3);
}

}  // namespace
}  // namespace legwise
