// gRPC server reflection, v1 and v1alpha, served by our own handler over the generated descriptor
// pool (gRPC 1.51's plugin only has v1alpha, lists only some services, and cannot refuse a
// caller). Every served service is listed, grpc.health.v1.Health and reflection itself included.
// In production mode (a CallGuard given) a caller without the services' credentials gets
// UNAUTHENTICATED before anything is answered.
#ifndef LEGWISE_SERVICES_COMMON_REFLECTION_H_
#define LEGWISE_SERVICES_COMMON_REFLECTION_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/impl/codegen/service_type.h"
#include "services/common/security.h"

namespace legwise {

// Both reflection services; `services` are the full names to list (health and reflection are
// added). `guard` may be null (development mode) and must outlive the services.
std::vector<std::unique_ptr<grpc::Service>> MakeReflectionServices(
    std::vector<std::string> services, CallGuard* guard);

}  // namespace legwise

#endif  // LEGWISE_SERVICES_COMMON_REFLECTION_H_
