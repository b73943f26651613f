// Fuzzes what legwise-gateway reads from callers: query strings and percent escapes, route
// matching on raw paths, building API requests from a JSON body plus path and query values, FHIR
// prefetch mapping from arbitrary JSON, and CDS client JWTs. The first byte picks the part; no
// input may crash, hang or trip ASan/UBSan.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "legwise/reminder/v1/reminder.grpc.pb.h"
#include "legwise/triage/v1/triage.grpc.pb.h"
#include "services/gateway/cds/cds_auth.h"
#include "services/gateway/cds/fhir_mapping.h"
#include "services/gateway/http_server.h"
#include "services/gateway/transcoder.h"

namespace {

using namespace legwise::gateway;  // NOLINT

const std::vector<Route>& Routes() {
  static const std::vector<Route>* routes = [] {
    (void)legwise::triage::v1::TriageService::service_full_name();
    (void)legwise::reminder::v1::ReminderService::service_full_name();
    auto r =
        RoutesFromServices({"legwise.triage.v1.TriageService", "legwise.content.v1.ContentService",
                            "legwise.reminder.v1.ReminderService"});
    return new std::vector<Route>(r.ok() ? *r : std::vector<Route>{});
  }();
  return *routes;
}

const FhirMappingTable& Table() {
  static const FhirMappingTable* t =
      new FhirMappingTable(*FhirMappingTable::Parse(BuiltinFhirMappingText()));
  return *t;
}

CdsClientVerifier* Verifier() {
  // A real P-384 public key (its private half was thrown away): fuzzed tokens never verify against
  // it, which is fine: the fuzzer exercises everything before and around the signature check.
  static CdsClientVerifier* v = [] {
    auto r = CdsClientVerifier::Create(
        R"({"keys":[{"kty":"EC","crv":"P-384","kid":"k",)"
        R"("x":"-CZzcwYVGVMrOcxFReGVPP3kpKGNLo_nEksMHBVxrsRi2M-UevSlDeqINqAsPsAW",)"
        R"("y":"_9-piKPAoe7j9xtfDVz7P8MD7uQ1C8Yg40S_zy2tMAUUc5iPhNH6dzWGeZkvw-dv"}]})",
        {"https://ehr.example"}, 1000);
    return r.ok() ? r->release() : nullptr;
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t mode = data[0] % 4;
  const uint8_t pick = data[1];
  std::string in(reinterpret_cast<const char*>(data) + 2, size - 2);
  switch (mode) {
    case 0: {
      // "query\nbody": parameters and body into the picked route's request.
      const std::vector<Route>& routes = Routes();
      if (routes.empty()) return 0;
      const Route& route = routes[pick % routes.size()];
      size_t nl = in.find('\n');
      std::string query = in.substr(0, nl);
      std::string body = nl == std::string::npos ? "" : in.substr(nl + 1);
      std::vector<std::pair<std::string, std::string>> q;
      if (!ParseQuery(query, &q).ok()) return 0;
      std::vector<std::pair<std::string, std::string>> vars;
      for (const Route::Segment& s : route.segments) {
        if (s.is_variable) vars.emplace_back(s.text, "x");
      }
      auto* factory = google::protobuf::MessageFactory::generated_factory();
      std::unique_ptr<google::protobuf::Message> m(
          factory->GetPrototype(route.method->input_type())->New());
      if (BuildRequest(route, body, vars, q, m.get()).ok())
        (void)MessageToJson(*m, JsonDefaults::kOmit);
      break;
    }
    case 1: {
      std::vector<std::pair<std::string, std::string>> vars;
      bool mismatch = false;
      static const char* kMethods[] = {"GET", "POST", "PUT", "DELETE", "PATCH"};
      (void)MatchRoute(Routes(), kMethods[pick % 5], in, &vars, &mismatch);
      std::string out;
      (void)PercentDecode(in, pick & 1, &out);
      break;
    }
    case 2: {
      google::protobuf::Struct prefetch;
      if (!google::protobuf::util::JsonStringToMessage(in, &prefetch).ok()) return 0;
      MappedPrefetch m = MapPrefetch(prefetch, Table(), absl::FromUnixSeconds(1764669600));
      (void)m;
      break;
    }
    case 3: {
      if (CdsClientVerifier* v = Verifier()) {
        (void)v->Verify("Bearer " + in, "https://gw.example/cds-services/legwise-leg-symptoms",
                        absl::FromUnixSeconds(1764669600));
      }
      break;
    }
  }
  return 0;
}
