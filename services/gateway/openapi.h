// GET /openapi.json: an OpenAPI 3.0 document generated at startup from the same descriptors and
// google.api.http annotations the transcoder routes by, so it cannot drift from what is served:
// every route with its path and query parameters, request body and answer schemas (proto3 JSON
// mapping: lowerCamelCase names, enums as strings, 64-bit integers as strings, Timestamp as
// date-time), google.rpc.Status for errors; plus the CDS Hooks and Infobutton endpoints.
#ifndef LEGWISE_SERVICES_GATEWAY_OPENAPI_H_
#define LEGWISE_SERVICES_GATEWAY_OPENAPI_H_

#include <string>
#include <vector>

#include "services/gateway/transcoder.h"

namespace legwise::gateway {

std::string OpenApiJson(const std::vector<Route>& routes, const std::string& public_base_url);

}  // namespace legwise::gateway

#endif  // LEGWISE_SERVICES_GATEWAY_OPENAPI_H_
