// JSON/HTTP to gRPC transcoding driven by the `google.api.http` annotations (AIP-127) on the
// services' methods, read from the compiled-in descriptors: every annotated RPC becomes a route.
// Requests are built with protobuf's own JSON parser (JsonStringToMessage) from the body, plus path
// variables and query parameters set by field path; answers are printed with MessageToJsonString
// (see JsonDefaults for which fields at their default value are printed).
// Nothing here writes JSON for an API message by hand.
#ifndef LEGWISE_SERVICES_GATEWAY_TRANSCODER_H_
#define LEGWISE_SERVICES_GATEWAY_TRANSCODER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"

namespace legwise::gateway {

// One route: an HTTP method and path template bound to an RPC.
struct Route {
  std::string http_method;    // "GET", "POST", "PUT", "DELETE", "PATCH"
  std::string path_template;  // as annotated, e.g. "/v1/users/{user_id}/nudges:stream"
  struct Segment {
    bool is_variable = false;
    std::string text;  // literal text, or the variable's field path ("plan.user_id")
  };
  std::vector<Segment> segments;
  std::string verb;  // custom method verb after ':' ("assess"), or ""
  std::string body;  // "" (no body), "*" or a top-level field name
  const google::protobuf::MethodDescriptor* method = nullptr;
  // "/legwise.triage.v1.TriageService/AssessLegSymptoms"
  std::string grpc_path;
};

// The routes of the given services (full names), in declaration order. An unparsable template or a
// variable naming no field is an error (caught by the gateway's tests, never at a caller).
absl::StatusOr<std::vector<Route>> RoutesFromServices(const std::vector<std::string>& services);

// The route for a method and raw (percent-encoded) path, with the decoded path variables. NOT_FOUND
// when no template matches the path; a path matched with another method is reported in
// *method_mismatch (answer 405).
const Route* MatchRoute(const std::vector<Route>& routes, absl::string_view http_method,
                        absl::string_view raw_path,
                        std::vector<std::pair<std::string, std::string>>* variables,
                        bool* method_mismatch);

// Builds the request message for a route: body (per the route's body rule), then path variables,
// then query parameters (field paths in proto or JSON names; repeated fields may repeat). Every
// problem is INVALID_ARGUMENT naming the field or parameter.
absl::Status BuildRequest(const Route& route, absl::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& variables,
                          const std::vector<std::pair<std::string, std::string>>& query,
                          google::protobuf::Message* request);

// Whether a printed answer carries the fields that are at their default value (0, "", false, an
// enum's zero value, an empty repeated field or map). Every caller says which it wants:
// - kOmit for the transcoded /v1 routes and the SSE nudge events. The proto3 JSON mapping lets a
//   printer leave them out and every conforming parser (JsonStringToMessage, protobuf-es, ...)
//   reads a missing field as its default, so the answer means the same; it also costs a third of
//   the printing (protobuf 3.21's DefaultValueObjectWriter was ~2/3 of MessageToJsonString's time
//   on POST /v1/triage:assess, bench/gateway/README.md). JsonPrintOptions'
//   always_print_primitive_fields = false, protobuf's own default.
// - kPrint for CDS Hooks cards and the Infobutton feed: their JSON formats are fixed by HL7 specs
//   whose consumers (EHRs, MedlinePlus-style clients) are not proto3 JSON parsers and expect the
//   fields to be there.
enum class JsonDefaults { kOmit, kPrint };

// Prints an answer as proto3 JSON (lowerCamelCase names).
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message,
                                          JsonDefaults defaults);

// Protobuf's own JSON mapping (JsonToBinaryString / BinaryToJsonString, the functions behind
// JsonStringToMessage and MessageToJsonString) through one process-wide TypeResolver that keeps the
// google.protobuf.Type and Enum of every type it has converted. protobuf 3.21 otherwise converts
// each descriptor anew on every call, and going through the binary form lets the hot path hand the
// backend's bytes straight to the printer (and the parser's bytes straight to the backend).
// Output is byte-for-byte what MessageToJson / JsonStringToMessage give.
// INVALID_ARGUMENT (with protobuf's reason) for JSON that does not fit `type`.
absl::Status JsonToBinary(const google::protobuf::Descriptor* type, absl::string_view json,
                          std::string* binary);
// The binary form of a message of `type` as proto3 JSON (as MessageToJson prints it).
absl::StatusOr<std::string> BinaryToJson(const google::protobuf::Descriptor* type,
                                         absl::string_view binary, JsonDefaults defaults);

// The request of a route in binary form: BuildRequest's message, serialized; for a route taking
// the whole body and nothing else (POST /v1/triage:assess), the body's binary form directly.
absl::Status BuildRequestBinary(const Route& route, absl::string_view body,
                                const std::vector<std::pair<std::string, std::string>>& variables,
                                const std::vector<std::pair<std::string, std::string>>& query,
                                std::string* binary);

// Sets one field, by dotted path of proto or JSON names, from its text form (as in a query
// parameter). Repeated scalar fields get the value appended.
absl::Status SetFieldFromText(google::protobuf::Message* message, absl::string_view field_path,
                              absl::string_view value);

// The HTTP status AIP-193 gives a gRPC code.
int HttpStatusForCode(grpc::StatusCode code);

// A gRPC status as google.rpc.Status JSON: the backend's own google.rpc.Status (with its details,
// e.g. BadRequest field violations) when it sent one, else code and message.
std::string StatusToJson(const grpc::Status& status);

}  // namespace legwise::gateway

#endif  // LEGWISE_SERVICES_GATEWAY_TRANSCODER_H_
