// A fixed pool of threads for work that blocks (synchronous Redis calls), so that gRPC's callback
// threads never wait on I/O: a unary handler hands its blocking part to the executor and finishes
// the reactor from there. The queue is bounded; when it is full Submit refuses and the caller
// answers RESOURCE_EXHAUSTED instead of queueing without limit.
#ifndef LEGWISE_SERVICES_COMMON_EXECUTOR_H_
#define LEGWISE_SERVICES_COMMON_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace legwise {

class Executor {
 public:
  // Starts `threads` workers (at least 1); at most `max_queue` tasks wait for one.
  Executor(int threads, size_t max_queue);
  // Runs every task already accepted, then joins the workers.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task` to run on a worker. False (and `task` is dropped unrun) when the queue is full
  // or the executor is being destroyed.
  bool Submit(absl::AnyInvocable<void() &&> task);

  // Tasks waiting for a worker.
  size_t queued();

 private:
  void Work();
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queue_.empty(); }

  const size_t max_queue_;
  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_EXECUTOR_H_
