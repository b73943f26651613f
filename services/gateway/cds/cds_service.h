// CDS Hooks 2.0 endpoints of legwise-gateway:
//   GET  /cds-services                              discovery: legwise-leg-symptoms on patient-view
//                                                    and encounter-start, with prefetch templates
//   POST /cds-services/legwise-leg-symptoms         prefetch -> AssessLegSymptoms -> cards
//   POST /cds-services/legwise-leg-symptoms/feedback accepted and counted by outcome
// Callers are trusted by the spec's JWT (cds_auth.h); without a JWKS only on loopback
// (development).
#ifndef LEGWISE_SERVICES_GATEWAY_CDS_CDS_SERVICE_H_
#define LEGWISE_SERVICES_GATEWAY_CDS_CDS_SERVICE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "legwise/triage/v1/triage.pb.h"
#include "services/gateway/cds/cds_auth.h"
#include "services/gateway/cds/cds_hooks.pb.h"
#include "services/gateway/cds/fhir_mapping.h"
#include "services/gateway/gateway.h"

namespace legwise::gateway {

constexpr char kCdsServiceId[] = "legwise-leg-symptoms";

struct CdsOptions {
  // e.g. "https://api.example.org" (no trailing slash).
  std::string public_base_url;
  // Null: development mode (no caller check); refused unless `development_allowed`.
  std::shared_ptr<CdsClientVerifier> verifier;
  bool development_allowed = false;
  absl::Duration backend_timeout = absl::Seconds(5);
};

// The discovery document.
cds::Discovery CdsDiscovery();

// Cards for an assessment and what the mapping reported. Empty when nothing applies.
cds::HookResponse CardsFor(const MappedPrefetch& mapped,
                           const triage::v1::AssessLegSymptomsResponse* assessment,
                           const std::string& public_base_url);

class CdsService {
 public:
  CdsService(CdsOptions options, std::shared_ptr<Backends> backends, FhirMappingTable table)
      : options_(std::move(options)), backends_(std::move(backends)), table_(std::move(table)) {}
  // An ExtraHandler: answers the /cds-services paths.
  bool Handle(HttpRequest& request, HttpWriter& writer, HttpResponse* base);

 private:
  // OK, or the refusal to send.
  bool Admit(HttpRequest& request, const std::string& audience, HttpResponse* response);
  // `hook`: the hook the called service is registered on (each service answers only its own).
  void Call(HttpRequest& request, absl::string_view hook, HttpResponse* response);
  void Feedback(HttpRequest& request, HttpResponse* response);

  CdsOptions options_;
  std::shared_ptr<Backends> backends_;
  FhirMappingTable table_;
};

}  // namespace legwise::gateway

#endif  // LEGWISE_SERVICES_GATEWAY_CDS_CDS_SERVICE_H_
