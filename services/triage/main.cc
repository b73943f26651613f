// legwise-triage: wiring only. Flags, the parts, the shared runner.
#include <cstdio>
#include <memory>

#include "legwise/triage/v1/triage.grpc.pb.h"
#include "services/common/client_channel.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/server_runner.h"

int main(int argc, char** argv) {
  legwise::ServerRunner::InstallSignalHandlers();
  legwise::ServerOptions server;
  server.service_name = "triage";
  server.port = 50051;
  server.metrics_port = 9461;
  std::string content_addr = "127.0.0.1:50052";
  legwise::FlagSet flags("legwise-triage");
  legwise::AddServerFlags(&flags, &server);
  flags.AddString("content_addr", &content_addr, "host:port of legwise-content (guidance).");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(s.message()).c_str(), flags.Usage().c_str());
    return 2;
  }
  if (flags.help_requested()) {
    std::fputs(flags.Usage().c_str(), stdout);
    return 0;
  }
  if (absl::Status s = legwise::ValidateHostPort(content_addr, "--content_addr"); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }

  // Until the triage rules land, every RPC answers UNIMPLEMENTED (the generated default).
  legwise::triage::v1::TriageService::CallbackService service;
  std::shared_ptr<grpc::Channel> content = legwise::MakeClientChannel(content_addr);

  legwise::ServerRunner runner(server);
  runner.AddService(&service, "legwise.triage.v1.TriageService");
  // Guidance is optional: triage answers without content, so content does not gate readiness.
  runner.AddDependency(
      "content",
      [content] { return legwise::CheckDownstreamHealth(content.get(), absl::Milliseconds(300)); },
      /*required=*/false);
  if (absl::Status s = runner.Run(); !s.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(s.message())}});
    return 1;
  }
  return 0;
}
