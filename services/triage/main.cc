// legwise-triage: wiring only. Flags, the rule table, the engine, the guidance client, the shared
// runner.
#include <cstdio>
#include <memory>
#include <string>

#include "services/common/client_channel.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/security.h"
#include "services/common/server_runner.h"
#include "services/triage/engine/rule_table.h"
#include "services/triage/engine/triage_engine.h"
#include "services/triage/guidance_client.h"
#include "services/triage/triage_service.h"

int main(int argc, char** argv) {
  legwise::ServerRunner::PrepareProcess();
  legwise::ServerOptions server;
  server.service_name = "triage";
  server.port = 50051;
  server.metrics_port = 9461;
  std::string content_addr = "127.0.0.1:50052";
  std::string rules_file;
  legwise::triage::TriageServiceOptions options;
  legwise::ClientTlsOptions content_tls;
  legwise::FlagSet flags("legwise-triage");
  legwise::AddServerFlags(&flags, &server);
  flags.AddString("content_addr", &content_addr, "host:port of legwise-content (guidance).");
  legwise::AddClientTlsFlags(&flags, "content", &content_tls);
  flags.AddDuration("guidance_timeout", &options.guidance_timeout,
                    "Total time allowed for fetching guidance; then the answer goes out with "
                    "guidance_degraded = true.");
  flags.AddString("rules_file", &rules_file,
                  "Rule table (text format) to use instead of the one built into the binary.");
  if (std::optional<int> exit_code = flags.ParseMain(argc, argv)) return *exit_code;
  if (absl::Status s = legwise::ValidateHostPort(content_addr, "--content_addr"); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  legwise::SetLogServiceName("triage");
  absl::StatusOr<std::unique_ptr<legwise::CallGuard>> guard =
      legwise::CallGuard::Create(server.security);
  if (!guard.ok()) {
    std::fprintf(stderr, "%s\n", std::string(guard.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> content_credentials =
      legwise::MakeChannelCredentials(content_tls);
  if (!content_credentials.ok()) {
    std::fprintf(stderr, "%s\n", std::string(content_credentials.status().message()).c_str());
    return 2;
  }

  auto table = rules_file.empty() ? legwise::triage::RuleTable::Builtin()
                                  : legwise::triage::RuleTable::FromFile(rules_file);
  if (!table.ok()) {
    legwise::LogError("rules_invalid", {{"error", std::string(table.status().message())}});
    return 1;
  }
  legwise::LogInfo("rules_loaded", {{"version", (*table)->version()},
                                    {"rules", static_cast<int>((*table)->rules().size())}});

  std::shared_ptr<grpc::Channel> content =
      legwise::MakeClientChannel(content_addr, *content_credentials);
  legwise::triage::GrpcGuidanceClient guidance(content);
  legwise::triage::TriageServiceImpl service(legwise::triage::TriageEngine(*table), &guidance,
                                             options, guard->get());

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
