#include "bench/load/load.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace legwise::bench {
namespace {

struct Call {
  grpc::ClientContext ctx;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  absl::Time start;
};

// Latencies of completed calls, percentiles at the end.
class Recorder {
 public:
  void Add(absl::Duration latency, bool ok) {
    absl::MutexLock lock(&mu_);
    latencies_us_.push_back(absl::ToDoubleMicroseconds(latency));
    if (!ok) ++failed_;
  }
  LoadResult Finish(absl::Duration elapsed) {
    absl::MutexLock lock(&mu_);
    LoadResult r;
    r.completed = static_cast<int64_t>(latencies_us_.size());
    r.failed = failed_;
    r.requests_per_second = r.completed / absl::ToDoubleSeconds(elapsed);
    if (!latencies_us_.empty()) {
      std::sort(latencies_us_.begin(), latencies_us_.end());
      r.p50_us = latencies_us_[latencies_us_.size() / 2];
      r.p99_us = latencies_us_[std::min(latencies_us_.size() - 1, latencies_us_.size() * 99 / 100)];
    }
    return r;
  }

 private:
  absl::Mutex mu_;
  std::vector<double> latencies_us_;
  int64_t failed_ = 0;
};

void Issue(grpc::GenericStub* stub, const std::string& method, Request request,
           std::function<void(absl::Duration, bool)> done) {
  auto* c = new Call();
  c->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  if (!request.authorization.empty()) c->ctx.AddMetadata("authorization", request.authorization);
  grpc::Slice slice(request.bytes);
  c->request = grpc::ByteBuffer(&slice, 1);
  c->start = absl::Now();
  stub->UnaryCall(&c->ctx, method, grpc::StubOptions(), &c->request, &c->response,
                  [c, done = std::move(done)](grpc::Status s) {
                    absl::Duration latency = absl::Now() - c->start;
                    delete c;
                    done(latency, s.ok());
                  });
}

}  // namespace

RequestMaker Fixed(const google::protobuf::Message& request, std::string authorization) {
  auto call = std::make_shared<const Request>(
      Request{request.SerializeAsString(), std::move(authorization)});
  return [call](int64_t) { return *call; };
}

LoadResult RunClosedLoop(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                         const RequestMaker& make_request, int inflight, absl::Duration duration) {
  grpc::GenericStub stub(channel);
  Recorder recorder;
  std::mutex mu;
  std::condition_variable cv;
  int active = inflight;
  std::atomic<int64_t> next{0};
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  std::function<void(absl::Duration, bool)> on_done;
  on_done = [&](absl::Duration latency, bool ok) {
    recorder.Add(latency, ok);
    if (absl::Now() < end) {
      Issue(&stub, method, make_request(next.fetch_add(1)), on_done);
      return;
    }
    std::lock_guard<std::mutex> lock(mu);
    if (--active == 0) cv.notify_all();
  };
  for (int i = 0; i < inflight; ++i) Issue(&stub, method, make_request(next.fetch_add(1)), on_done);
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return active == 0; });
  return recorder.Finish(absl::Now() - start);
}

LoadResult RunFixedRate(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                        const RequestMaker& make_request, double per_second,
                        absl::Duration duration) {
  grpc::GenericStub stub(channel);
  Recorder recorder;
  std::atomic<int64_t> outstanding{0};
  const absl::Time start = absl::Now();
  const absl::Duration interval = absl::Seconds(1) / per_second;
  int64_t i = 0;
  for (absl::Time t = start; t < start + duration; t += interval, ++i) {
    absl::SleepFor(t - absl::Now());
    outstanding.fetch_add(1);
    Issue(&stub, method, make_request(i), [&](absl::Duration latency, bool ok) {
      recorder.Add(latency, ok);
      outstanding.fetch_sub(1);
    });
  }
  while (outstanding.load() > 0) absl::SleepFor(absl::Milliseconds(10));
  return recorder.Finish(absl::Now() - start);
}

}  // namespace legwise::bench
