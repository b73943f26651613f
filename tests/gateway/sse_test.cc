// The SSE nudge stream against a loopback ReminderService that behaves as reminder.proto documents
// StreamNudges (the real reminder's resume tokens land with its v2 work): it records the request's
// resume_token and the caller's authorization, then streams nudges carrying resume tokens. The
// gateway must send each token as the event id, pass Last-Event-ID on as resume_token, forward the
// authorization, and turn a refusal into an error event.
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "tests/gateway/http_client.h"
#include "tests/support/process.h"

namespace legwise {
namespace {

namespace rv1 = reminder::v1;

class LoopbackReminder final : public rv1::ReminderService::Service {
 public:
  grpc::Status StreamNudges(grpc::ServerContext* ctx, const rv1::StreamNudgesRequest* req,
                            grpc::ServerWriter<rv1::Nudge>* writer) override {
    {
      absl::MutexLock lock(&mu);
      resume_token = req->resume_token();
      auto it = ctx->client_metadata().find("authorization");
      authorization = it == ctx->client_metadata().end()
                          ? ""
                          : std::string(it->second.data(), it->second.size());
    }
    if (req->user_id() == "nobody") {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not yours");
    }
    for (int i = 1; i <= 2; ++i) {
      rv1::Nudge n;
      n.set_nudge_id(absl::StrCat("n", i));
      n.set_user_id(req->user_id());
      n.set_kind(rv1::NUDGE_KIND_HYDRATION);
      n.set_title("Time for a glass of water");
      n.set_resume_token(absl::StrCat("1733130000000-", i));
      writer->Write(n);
    }
    // Then live: nothing more until the client goes.
    while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(20));
    return grpc::Status::OK;
  }
  absl::Mutex mu;
  std::string resume_token ABSL_GUARDED_BY(mu);
  std::string authorization ABSL_GUARDED_BY(mu);
};

TEST(GatewaySse, EventIdsAreResumeTokensAndLastEventIdResumes) {
  LoopbackReminder reminder;
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(&reminder);
  std::unique_ptr<grpc::Server> server = b.BuildAndStart();
  ASSERT_NE(server, nullptr);
  testing::ServiceProcess gateway("legwise-gateway",
                                  {"--triage_addr=127.0.0.1:1", "--content_addr=127.0.0.1:1",
                                   absl::StrCat("--reminder_addr=127.0.0.1:", port),
                                   absl::StrCat("--probe_port=", testing::FreePort())});
  ASSERT_TRUE(gateway.Start().ok()) << gateway.log_path();

  testing::HttpClient http(gateway.port());
  const std::string want_end = "id: 1733130000000-2\nevent: nudge\ndata: ";
  testing::HttpAnswer a =
      http.Call("GET", "/v1/users/ana/nudges:stream", "",
                {"Last-Event-ID: 1733129999999-7", "Authorization: Bearer abc.def.ghi"}, 5000, 400);
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(absl::StrContains(a.body, "id: 1733130000000-1\nevent: nudge\ndata: {")) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, "\"nudgeId\":\"n1\"")) << a.body;
  EXPECT_TRUE(absl::StrContains(a.body, want_end)) << a.body;
  {
    absl::MutexLock lock(&reminder.mu);
    EXPECT_EQ(reminder.resume_token, "1733129999999-7");
    EXPECT_EQ(reminder.authorization, "Bearer abc.def.ghi");
  }
  // An explicit resume_token query parameter wins over Last-Event-ID; none at all is live only.
  a = http.Call("GET", "/v1/users/ana/nudges:stream?resumeToken=5-5", "", {"Last-Event-ID: 1-1"},
                5000, 50);
  {
    absl::MutexLock lock(&reminder.mu);
    EXPECT_EQ(reminder.resume_token, "5-5");
  }
  a = http.Call("GET", "/v1/users/ana/nudges:stream", "", {}, 5000, 50);
  {
    absl::MutexLock lock(&reminder.mu);
    EXPECT_EQ(reminder.resume_token, "");
  }
  // A refusal after the stream began is an error event with the google.rpc.Status.
  a = http.Call("GET", "/v1/users/nobody/nudges:stream", "", {}, 5000);
  EXPECT_TRUE(absl::StrContains(a.body, "event: error\ndata: {\"code\":7")) << a.body;
  // A Last-Event-ID with a line break cannot be smuggled into the request.
  a = http.Call("GET", "/v1/users/ana/nudges:stream", "",
                {"Last-Event-ID: " + std::string(600, 'x')}, 5000);
  EXPECT_EQ(a.status, 400);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace
}  // namespace legwise
