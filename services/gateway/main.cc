// legwise-gateway: the front door for browsers and EHRs. JSON over HTTP/1.1 transcoded to the gRPC
// services from their google.api.http annotations, an SSE nudge stream, OpenAPI, CDS Hooks 2.0 and
// Infobutton. Health over gRPC on --probe_port (the shared ServerRunner: readiness follows the
// triage backend, every backend shows as "dependency/<name>"), Prometheus on --metrics_port,
// graceful shutdown: NOT_SERVING, --drain_delay, then new requests get 503 while the ones in
// flight finish.
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/client_channel.h"
#include "services/common/config.h"
#include "services/common/logging.h"
#include "services/common/security.h"
#include "services/common/server_runner.h"
#include "services/gateway/cds/cds_auth.h"
#include "services/gateway/cds/cds_service.h"
#include "services/gateway/cds/fhir_mapping.h"
#include "services/gateway/gateway.h"
#include "services/gateway/http_server.h"
#include "services/gateway/infobutton.h"
#include "services/gateway/openapi.h"
#include "services/gateway/transcoder.h"

int main(int argc, char** argv) {
  legwise::ServerRunner::PrepareProcess();
  legwise::SetLogServiceName("gateway");

  legwise::gateway::HttpServerOptions http;
  legwise::gateway::GatewayOptions gw;
  legwise::ServerOptions runner_options;
  runner_options.service_name = "gateway";
  runner_options.metrics_port = 9465;
  int probe_port = 8081;
  std::string triage_addr = "127.0.0.1:50051";
  std::string content_addr = "127.0.0.1:50052";
  std::string reminder_addr = "127.0.0.1:50053";
  std::string cors_origins;
  std::string public_base_url;
  std::string cds_jwks_file;
  std::string cds_issuers;
  absl::Duration cds_jwks_refresh = absl::Seconds(2);
  legwise::ClientTlsOptions backend_tls;

  legwise::FlagSet flags("legwise-gateway");
  flags.AddString("listen_host", &http.listen_host,
                  "Interface for HTTP and the probe port (127.0.0.1 = loopback; 0.0.0.0 = all).");
  flags.AddInt("port", &http.port, "HTTP port (0 picks a free one).", 0, 65535);
  flags.AddInt("probe_port", &probe_port,
               "Plaintext gRPC port with only grpc.health.v1, for kubelet probes.", 0, 65535);
  flags.AddInt("metrics_port", &runner_options.metrics_port,
               "Prometheus /metrics HTTP port (0 = off).", 0, 65535);
  flags.AddString("triage_addr", &triage_addr, "host:port of legwise-triage.");
  flags.AddString("content_addr", &content_addr, "host:port of legwise-content.");
  flags.AddString("reminder_addr", &reminder_addr, "host:port of legwise-reminder.");
  flags.AddString("cors_allowed_origins", &cors_origins,
                  "Comma-separated origins (https://app.example.org) browsers may call from; "
                  "nothing else gets CORS headers, and other Origins are refused.");
  flags.AddString("public_base_url", &public_base_url,
                  "The URL clients reach the gateway at (https://api.example.org), for CDS aud "
                  "checks and links.");
  flags.AddString("cds_client_jwks_file", &cds_jwks_file,
                  "JWKS with the public keys of the EHRs allowed to call CDS Hooks (empty: "
                  "development mode, loopback only).");
  flags.AddString("cds_client_issuers", &cds_issuers,
                  "Comma-separated JWT iss values of the trusted CDS clients.");
  flags.AddDuration("cds_client_jwks_refresh_interval", &cds_jwks_refresh,
                    "How often --cds_client_jwks_file is re-read (also on SIGHUP): a rotated EHR "
                    "key is used without a restart; a file that does not load keeps the keys.");
  flags.AddDuration("backend_timeout", &gw.backend_timeout, "Deadline of every backend call.");
  flags.AddDuration("sse_max_duration", &gw.sse_max_duration,
                    "An SSE stream ends after this; the browser reconnects with Last-Event-ID.");
  flags.AddDuration("sse_heartbeat", &gw.sse_heartbeat, "Comment-line interval on idle streams.");
  flags.AddInt("max_sse_streams", &gw.max_sse_streams,
               "SSE streams open at once (each holds an HTTP worker).", 1, 100000);
  flags.AddInt("rate_limit_per_second", &gw.rate_limit_per_second,
               "Requests per second one client address may make (0 = no limit).", 0, 1000000);
  flags.AddInt("rate_limit_burst", &gw.rate_limit_burst, "Burst above the rate.", 0, 10000000);
  flags.AddDuration("shutdown_grace", &runner_options.shutdown_grace,
                    "How long requests in flight may run after SIGTERM.");
  flags.AddDuration("drain_delay", &runner_options.drain_delay,
                    "Pause after reporting NOT_SERVING before new requests are refused.");
  flags.AddDuration("health_interval", &runner_options.health_interval,
                    "How often the backends are probed.");
  flags.AddString("log_level", &runner_options.log_level, "debug, info, warning or error.");
  legwise::gateway::AddHttpServerFlags(&flags, &http);
  legwise::AddClientTlsFlags(&flags, "backend", &backend_tls);
  if (std::optional<int> exit_code = flags.ParseMain(argc, argv)) return *exit_code;
  for (auto [name, value] : {std::pair{"triage_addr", triage_addr},
                             {"content_addr", content_addr},
                             {"reminder_addr", reminder_addr}}) {
    if (absl::Status s = legwise::ValidateHostPort(value, name); !s.ok()) {
      std::cerr << s.message() << "\n";
      return 2;
    }
  }
  for (absl::string_view o : absl::StrSplit(cors_origins, ',', absl::SkipWhitespace())) {
    o = absl::StripAsciiWhitespace(o);
    if (!(absl::StartsWith(o, "https://") || absl::StartsWith(o, "http://")) ||
        absl::EndsWith(o, "/") || o == "*") {
      std::cerr << "cors_allowed_origins: '" << o
                << "' is not an origin (scheme://host[:port], no path, no wildcard)\n";
      return 2;
    }
    gw.cors_allowed_origins.emplace_back(o);
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      legwise::MakeChannelCredentials(backend_tls);
  if (!creds.ok()) {
    std::cerr << creds.status().message() << "\n";
    return 2;
  }
  auto triage = legwise::MakeClientChannel(triage_addr, *creds);
  auto content = legwise::MakeClientChannel(content_addr, *creds);
  auto reminder = legwise::MakeClientChannel(reminder_addr, *creds);
  auto backends = std::make_shared<legwise::gateway::Backends>(triage, content, reminder);

  absl::StatusOr<std::vector<legwise::gateway::Route>> routes =
      legwise::gateway::RoutesFromServices({"legwise.triage.v1.TriageService",
                                            "legwise.content.v1.ContentService",
                                            "legwise.reminder.v1.ReminderService"});
  if (!routes.ok()) {
    legwise::LogError("routes_invalid", {{"error", std::string(routes.status().message())}});
    return 1;
  }
  legwise::gateway::Gateway gateway(gw, backends, *routes);

  // OpenAPI, generated once from the same routes.
  const std::string openapi = legwise::gateway::OpenApiJson(*routes, public_base_url);
  gateway.AddExtraHandler([&openapi](legwise::gateway::HttpRequest& req,
                                     legwise::gateway::HttpWriter& w,
                                     legwise::gateway::HttpResponse* base) {
    if (req.raw_path() != "/openapi.json" || req.method() != "GET") return false;
    base->status = 200;
    base->headers.emplace_back("Content-Type", "application/json");
    base->body = openapi;
    w.Send(*base);
    return true;
  });

  // CDS Hooks: trusted EHRs by JWT; without a JWKS, development mode on loopback only.
  absl::StatusOr<legwise::gateway::FhirMappingTable> table =
      legwise::gateway::FhirMappingTable::Parse(legwise::gateway::BuiltinFhirMappingText());
  if (!table.ok()) {
    legwise::LogError("fhir_mapping_invalid", {{"error", std::string(table.status().message())}});
    return 1;
  }
  legwise::gateway::CdsOptions cds;
  cds.public_base_url = std::string(absl::StripSuffix(public_base_url, "/"));
  cds.backend_timeout = gw.backend_timeout;
  const bool loopback = http.listen_host == "127.0.0.1" || http.listen_host == "::1" ||
                        http.listen_host == "localhost";
  std::unique_ptr<legwise::WatchedKeyFile> cds_jwks;  // reloads cds.verifier's keys
  if (!cds_jwks_file.empty()) {
    if (public_base_url.empty()) {
      std::cerr << "public_base_url: required with --cds_client_jwks_file (the JWT aud)\n";
      return 2;
    }
    std::vector<std::string> issuers = absl::StrSplit(cds_issuers, ',', absl::SkipWhitespace());
    legwise::WatchedKeyFile::Options file;
    file.path = cds_jwks_file;
    file.flag = "--cds_client_jwks_file";
    file.metric = "legwise_gateway_cds_jwks_reloads_total";
    file.log_name = "cds_jwks";
    file.every = cds_jwks_refresh;
    // The first load creates the verifier; later ones replace its keys and keep its replay cache.
    absl::StatusOr<std::unique_ptr<legwise::WatchedKeyFile>> watched =
        legwise::WatchedKeyFile::Start(
            std::move(file), [&cds, issuers](const std::string& jwks) -> absl::Status {
              if (cds.verifier != nullptr) return cds.verifier->ReplaceKeys(jwks);
              absl::StatusOr<std::unique_ptr<legwise::gateway::CdsClientVerifier>> verifier =
                  legwise::gateway::CdsClientVerifier::Create(jwks, issuers);
              if (!verifier.ok()) return verifier.status();
              cds.verifier = std::move(*verifier);
              return absl::OkStatus();
            });
    if (!watched.ok()) {
      std::cerr << watched.status().message() << "\n";
      return 2;
    }
    cds_jwks = *std::move(watched);
  } else {
    cds.development_allowed = loopback;
    legwise::LogWarning(loopback ? "cds_development_mode" : "cds_disabled",
                        {{"reason", "no --cds_client_jwks_file"}});
  }
  if (cds.public_base_url.empty()) {
    cds.public_base_url = absl::StrCat("http://", http.listen_host, ":", http.port);
  }
  auto cds_service = std::make_shared<legwise::gateway::CdsService>(cds, backends, *table);
  gateway.AddExtraHandler([cds_service](legwise::gateway::HttpRequest& req,
                                        legwise::gateway::HttpWriter& w,
                                        legwise::gateway::HttpResponse* base) {
    return cds_service->Handle(req, w, base);
  });
  auto infobutton = std::make_shared<legwise::gateway::Infobutton>(cds.public_base_url,
                                                                   gw.backend_timeout, backends);
  gateway.AddExtraHandler([infobutton](legwise::gateway::HttpRequest& req,
                                       legwise::gateway::HttpWriter& w,
                                       legwise::gateway::HttpResponse* base) {
    return infobutton->Handle(req, w, base);
  });
  legwise::gateway::HttpServer server(
      http, [&gateway](legwise::gateway::HttpRequest& request,
                       legwise::gateway::HttpWriter& writer) { gateway.Handle(request, writer); });

  // The runner's gRPC server is the probe port: it serves only grpc.health.v1 (and reflection of
  // it), plaintext, so kubelet's gRPC probes reach it on any interface.
  runner_options.listen_host = http.listen_host;
  runner_options.port = probe_port;
  runner_options.probe_port = 0;
  runner_options.security.insecure = true;
  legwise::ServerRunner runner(runner_options);
  absl::Duration probe_timeout = absl::Seconds(1);
  runner.AddDependency(
      "triage",
      [triage, probe_timeout] {
        return legwise::CheckDownstreamHealth(triage.get(), probe_timeout);
      },
      /*required=*/true);
  runner.AddDependency(
      "content",
      [content, probe_timeout] {
        return legwise::CheckDownstreamHealth(content.get(), probe_timeout);
      },
      /*required=*/false);
  runner.AddDependency(
      "reminder",
      [reminder, probe_timeout] {
        return legwise::CheckDownstreamHealth(reminder.get(), probe_timeout);
      },
      /*required=*/false);
  runner.OnShutdown([&] {
    gateway.BeginDrain();
    server.Stop();
    legwise::LogInfo("http_stopped");
  });
  if (absl::Status s = server.Start(); !s.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(s.message())}});
    return 1;
  }
  if (absl::Status s = runner.Start(); !s.ok()) {
    legwise::LogError("start_failed", {{"error", std::string(s.message())}});
    return 1;
  }
  legwise::LogInfo("gateway_listening", {{"http_port", absl::StrCat(server.port())},
                                         {"probe_port", absl::StrCat(runner.port())},
                                         {"routes", absl::StrCat(routes->size())}});
  runner.Wait();
  return 0;
}
