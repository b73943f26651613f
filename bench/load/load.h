// A closed-loop gRPC load generator for benchmarks: keeps N calls in flight against one method for
// a duration and reports throughput and latency percentiles. Requests are pre-serialized and
// responses are not parsed (generic stub), so the client does the same small work for every method
// and the figures measure the server. Numbers are reported next to the same server's Health/Check
// measured in the same run, because these machines are noisy.
#ifndef LEGWISE_BENCH_LOAD_LOAD_H_
#define LEGWISE_BENCH_LOAD_LOAD_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"

namespace legwise::bench {

struct LoadResult {
  double requests_per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  int64_t completed = 0;
  int64_t failed = 0;
};

// One call to make: the serialized request and, when not empty, its `authorization` metadata.
struct Request {
  std::string bytes;
  std::string authorization;
};

// Makes call number `i` (so a scenario can vary it, e.g. a new user id per CreateReminderPlan).
using RequestMaker = std::function<Request(int64_t i)>;

// The same request every time, with `authorization` (e.g. "Bearer <jwt>") when not empty.
RequestMaker Fixed(const google::protobuf::Message& request, std::string authorization = "");

// Runs `inflight` concurrent callers of `method` ("/pkg.Service/Method") for `duration`.
LoadResult RunClosedLoop(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                         const RequestMaker& make_request, int inflight, absl::Duration duration);

// Issues calls at a fixed rate (open loop) for `duration`: for soak runs.
LoadResult RunFixedRate(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                        const RequestMaker& make_request, double per_second,
                        absl::Duration duration);

}  // namespace legwise::bench

#endif  // LEGWISE_BENCH_LOAD_LOAD_H_
