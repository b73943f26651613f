#include "services/triage/guidance_client.h"

#include <atomic>
#include <utility>

#include "grpcpp/client_context.h"
#include "services/common/client_channel.h"

namespace legwise::triage {
namespace {

// The state of one Fetch: every outgoing call's context, request and response must live until its
// callback ran. Deleted by the last callback.
struct FetchState {
  struct Call {
    grpc::ClientContext context;
    content::v1::GetGuidanceRequest request;
    content::v1::GetGuidanceResponse response;
    grpc::Status status;
  };
  explicit FetchState(size_t n) : calls(n), pending(static_cast<int>(n)) {}
  std::vector<Call> calls;
  std::atomic<int> pending;
  std::function<void(GuidanceResult)> done;

  // Called once per finished call; the last one assembles the result.
  void OneDone() {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    GuidanceResult result;
    result.complete = true;
    for (Call& c : calls) {
      if (c.status.ok() && c.response.has_guidance()) {
        result.guidance.push_back(std::move(*c.response.mutable_guidance()));
      } else {
        result.complete = false;
      }
    }
    auto callback = std::move(done);
    delete this;
    callback(std::move(result));
  }
};

}  // namespace

GrpcGuidanceClient::GrpcGuidanceClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)), stub_(content::v1::ContentService::NewStub(channel_)) {}

void GrpcGuidanceClient::Fetch(const std::vector<std::string>& topic_ids, const std::string& locale,
                               const content::v1::PersonalContext& context, absl::Duration timeout,
                               const grpc::ServerContextBase* parent,
                               std::function<void(GuidanceResult)> done) {
  if (topic_ids.empty()) {
    done(GuidanceResult{{}, true});
    return;
  }
  auto* state = new FetchState(topic_ids.size());
  state->done = std::move(done);
  for (size_t i = 0; i < topic_ids.size(); ++i) {
    FetchState::Call& call = state->calls[i];
    PrepareClientContext(&call.context, timeout, parent);
    call.request.set_topic_id(topic_ids[i]);
    call.request.set_locale(locale);
    *call.request.mutable_context() = context;
  }
  // Start them only once every call is prepared: a callback may run (and the last one delete the
  // state) as soon as its call starts.
  const size_t n = topic_ids.size();
  const absl::Time started = absl::Now();
  for (size_t i = 0; i < n; ++i) {
    FetchState::Call& call = state->calls[i];
    stub_->async()->GetGuidance(&call.context, &call.request, &call.response,
                                [state, &call, started](grpc::Status status) {
                                  RecordDownstreamCall("content", status, started);
                                  call.status = std::move(status);
                                  state->OneDone();
                                });
  }
}

}  // namespace legwise::triage
