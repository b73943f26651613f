// Turns request validation problems into AIP-193 errors: INVALID_ARGUMENT carrying one
// google.rpc.BadRequest.FieldViolation per problem, plus an ErrorInfo reason; and maps any
// absl::Status to a grpc::Status with google.rpc.Status details in the trailer.
#ifndef LEGWISE_SERVICES_COMMON_VALIDATION_H_
#define LEGWISE_SERVICES_COMMON_VALIDATION_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/status.h"

namespace legwise {

// The ErrorInfo domain of every legwise error.
inline constexpr absl::string_view kErrorDomain = "legwise.app";

// Collects field violations while a request is checked. Field paths follow AIP-193:
// "symptoms[2].severity", "plan.wake_time.hours".
class FieldViolations {
 public:
  struct Violation {
    std::string field;
    std::string description;
  };

  // Records one problem with one field. `description` must not echo the user's value when that
  // value could be health data or free text.
  void Add(std::string field, std::string description);

  bool empty() const { return violations_.empty(); }
  size_t size() const { return violations_.size(); }
  const std::vector<Violation>& violations() const { return violations_; }

  // OK when there is no violation; otherwise INVALID_ARGUMENT whose message names the fields, with
  // a BadRequest payload (every violation) and an ErrorInfo payload with `reason`.
  absl::Status ToStatus(absl::string_view reason = "INVALID_REQUEST") const;

 private:
  std::vector<Violation> violations_;
};

// Returns `status` with an ErrorInfo payload (UPPER_SNAKE `reason`, domain kErrorDomain, metadata).
absl::Status WithErrorInfo(absl::Status status, absl::string_view reason,
                           std::vector<std::pair<std::string, std::string>> metadata = {});

// Converts to a grpc::Status: same code and message; the BadRequest and ErrorInfo payloads become
// the google.rpc.Status details (grpc-status-details-bin). A status without ErrorInfo gets one
// whose reason is the code's name (e.g. "NOT_FOUND").
grpc::Status ToGrpcStatus(const absl::Status& status);

// The reverse, for clients: code and message, and the details payloads, back into an absl::Status.
absl::Status FromGrpcStatus(const grpc::Status& status);

// Reads the field violations carried by a status (empty when none). Used by clients and tests.
std::vector<FieldViolations::Violation> GetFieldViolations(const absl::Status& status);

// Reads the ErrorInfo reason carried by a status ("" when none).
std::string GetErrorReason(const absl::Status& status);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_VALIDATION_H_
