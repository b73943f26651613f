#include "services/common/executor.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"

namespace legwise {

Executor::Executor(int threads, size_t max_queue)
    : max_queue_(max_queue), thread_count_(std::max(1, threads)) {
  for (int i = 0; i < thread_count_; ++i) threads_.emplace_back([this] { Work(); });
}

Executor::~Executor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

absl::Time Executor::ExpectedCompletionLocked(absl::Time now) const {
  // A free worker takes the task at once; otherwise it waits for the tasks ahead of it, which the
  // workers share, one average run each.
  const int64_t ahead = static_cast<int64_t>(queue_.size()) + busy_ - thread_count_ + 1;
  const absl::Duration wait =
      ahead <= 0 ? absl::ZeroDuration() : average_run_ * ahead / thread_count_;
  return now + wait + average_run_;
}

absl::Time Executor::ExpectedCompletion(absl::Time now) {
  absl::MutexLock lock(&mu_);
  return ExpectedCompletionLocked(now);
}

bool Executor::Submit(absl::AnyInvocable<void() &&> task, absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= max_queue_) return false;
  if (deadline != absl::InfiniteFuture() && ExpectedCompletionLocked(absl::Now()) > deadline) {
    return false;
  }
  queue_.push_back(std::move(task));
  return true;
}

size_t Executor::queued() {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void Executor::Work() {
  absl::Duration last_run = absl::ZeroDuration();
  bool measured = false;
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      if (measured) {
        --busy_;
        // A quick-moving average: a slow dependency shows within a few calls, and so does its
        // recovery.
        average_run_ =
            average_run_ == absl::ZeroDuration() ? last_run : (average_run_ * 7 + last_run) / 8;
      }
      mu_.Await(absl::Condition(this, &Executor::HasWork));
      if (queue_.empty()) return;  // stopping, and everything accepted has run
      task = std::move(queue_.front());
      queue_.pop_front();
      ++busy_;
    }
    const absl::Time start = absl::Now();
    std::move(task)();
    last_run = absl::Now() - start;
    measured = true;
  }
}

}  // namespace legwise
