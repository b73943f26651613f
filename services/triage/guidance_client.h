// How triage gets patient guidance for the suspected conditions: from legwise-content, in parallel,
// under one short deadline. Behind an interface so the adapter can be tested with an in-memory
// client. The urgency never waits on or depends on this.
#ifndef LEGWISE_SERVICES_TRIAGE_GUIDANCE_CLIENT_H_
#define LEGWISE_SERVICES_TRIAGE_GUIDANCE_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/server_context.h"
#include "legwise/content/v1/content.grpc.pb.h"

namespace legwise::triage {

// What one fetch brought back: the guidance that arrived in time, in the order the topics were
// asked, and whether every topic arrived.
struct GuidanceResult {
  std::vector<content::v1::Guidance> guidance;
  bool complete = false;
};

// Fetches guidance for a set of topics.
class GuidanceClient {
 public:
  virtual ~GuidanceClient() = default;

  // Asks for every topic in `topic_ids` (already de-duplicated) in `locale`, personalized by
  // `context`, and calls `done` exactly once, on any thread, no later than about `timeout` from
  // now. `parent` (may be null) is the call being served: its request id and trace are propagated.
  virtual void Fetch(const std::vector<std::string>& topic_ids, const std::string& locale,
                     const content::v1::PersonalContext& context, absl::Duration timeout,
                     const grpc::ServerContextBase* parent,
                     std::function<void(GuidanceResult)> done) = 0;
};

// The real client: one async GetGuidance per topic on a shared channel, all in flight at once, each
// with the same deadline. Never blocks the calling thread.
class GrpcGuidanceClient final : public GuidanceClient {
 public:
  explicit GrpcGuidanceClient(std::shared_ptr<grpc::Channel> channel);

  void Fetch(const std::vector<std::string>& topic_ids, const std::string& locale,
             const content::v1::PersonalContext& context, absl::Duration timeout,
             const grpc::ServerContextBase* parent,
             std::function<void(GuidanceResult)> done) override;

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<content::v1::ContentService::Stub> stub_;
};

}  // namespace legwise::triage

#endif  // LEGWISE_SERVICES_TRIAGE_GUIDANCE_CLIENT_H_
