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

// Admission by deadline: once tasks have been timed, a task whose expected wait plus run would end
// after its deadline is refused at once (and never runs); one with room, or with no deadline, is
// queued. Nothing is refused before anything has been measured.
TEST(Executor, RefusesTasksThatWouldFinishAfterTheirDeadline) {
  std::atomic<int> ran{0};
  Executor executor(2, 1000);
  // Unmeasured: even a tight deadline is admitted.
  ASSERT_TRUE(executor.Submit(
      [&] {
        absl::SleepFor(absl::Milliseconds(40));
        ++ran;
      },
      absl::Now() + absl::Milliseconds(1)));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(executor.Submit([&] {
      absl::SleepFor(absl::Milliseconds(40));
      ++ran;
    }));
  }
  const absl::Time measured_by = absl::Now() + absl::Seconds(10);
  while (ran.load() < 4 && absl::Now() < measured_by) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(ran.load(), 4);
  // Both workers busy and 20 tasks queued, at about 40 ms each over 2 workers: about 440 ms.
  absl::Notification release;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        executor.Submit([&] { release.WaitForNotificationWithTimeout(absl::Seconds(10)); }));
  }
  while (executor.queued() != 0 && absl::Now() < measured_by) absl::SleepFor(absl::Milliseconds(1));
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(executor.Submit([&] { ++ran; }));
  const absl::Time now = absl::Now();
  EXPECT_GT(executor.ExpectedCompletion(now), now + absl::Milliseconds(300));
  EXPECT_FALSE(executor.Submit([&] { ran += 1000; }, now + absl::Milliseconds(100)))
      << "would wait past its deadline";
  EXPECT_FALSE(executor.Submit([&] { ran += 1000; }, now - absl::Seconds(1))) << "already late";
  EXPECT_TRUE(executor.Submit([&] { ++ran; }, now + absl::Seconds(30))) << "room enough";
  EXPECT_TRUE(executor.Submit([&] { ++ran; })) << "no deadline";
  release.Notify();
  while (ran.load() < 26 && absl::Now() < measured_by) absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(ran.load(), 26) << "refused tasks never run";
}

// The estimate follows the work: once tasks get fast again, the same backlog admits tight
// deadlines again.
TEST(Executor, EstimateFollowsRecentRunTimes) {
  Executor executor(1, 1000);
  std::atomic<int> ran{0};
  auto run_all = [&](int n, absl::Duration each) {
    ran = 0;
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(executor.Submit([&, each] {
        absl::SleepFor(each);
        ++ran;
      }));
    }
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (ran.load() < n && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
  };
  run_all(5, absl::Milliseconds(50));
  EXPECT_GT(executor.ExpectedCompletion(absl::Now()) - absl::Now(), absl::Milliseconds(15));
  run_all(40, absl::ZeroDuration());
  EXPECT_LT(executor.ExpectedCompletion(absl::Now()) - absl::Now(), absl::Milliseconds(5));
}

}  // namespace
}  // namespace legwise
