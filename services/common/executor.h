// A fixed pool of threads for work that blocks (synchronous Redis calls), so that gRPC's callback
// threads never wait on I/O: a unary handler hands its blocking part to the executor and finishes
// the reactor from there. The queue is bounded, and a task that would wait past its caller's
// deadline is refused at once: Submit refuses and the caller answers RESOURCE_EXHAUSTED instead
// of queueing work whose answer would come too late.
#ifndef LEGWISE_SERVICES_COMMON_EXECUTOR_H_
#define LEGWISE_SERVICES_COMMON_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace legwise {

class Executor {
 public:
  // Starts `threads` workers (at least 1); at most `max_queue` tasks wait for one.
  Executor(int threads, size_t max_queue);
  // Runs every task already accepted, then joins the workers.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task` to run on a worker. False (and `task` is dropped unrun) when the queue is full,
  // the executor is being destroyed, or the task would not finish by `deadline`: its expected
  // wait for a worker (the tasks ahead of it, shared over the workers, at the average run time
  // measured so far) plus one average run ends after it.
  bool Submit(absl::AnyInvocable<void() &&> task, absl::Time deadline = absl::InfiniteFuture());

  // Tasks waiting for a worker.
  size_t queued();
  // When a task submitted now is expected to be done (now while nothing has been measured).
  absl::Time ExpectedCompletion(absl::Time now);

 private:
  void Work();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }
  absl::Time ExpectedCompletionLocked(absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_queue_;
  const int thread_count_;
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int busy_ ABSL_GUARDED_BY(mu_) = 0;
  // Moving average of how long one task runs (zero until one has run).
  absl::Duration average_run_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  std::vector<std::thread> threads_;
};

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_EXECUTOR_H_
