// SSRF rules for Web Push endpoints. An endpoint is a URL a user hands us and we then POST to, so
// it must not let her aim our servers at our own network: https on port 443 only, no IP literals,
// no internal names, and (checked again when the socket is opened, so DNS rebinding does not help)
// no resolved address in the loopback, private, link-local, shared, metadata or other non-global
// ranges. Redirects are never followed (see sender.cc).
#ifndef LEGWISE_SERVICES_REMINDER_PUSH_ENDPOINT_H_
#define LEGWISE_SERVICES_REMINDER_PUSH_ENDPOINT_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace legwise::push {

struct EndpointPolicy {
  // Development and tests only (--push_allow_insecure_loopback): also accept
  // http://127.0.0.1:PORT/... endpoints, and connect to 127.0.0.1 for them (HTTP/2 cleartext).
  bool allow_insecure_loopback = false;
};

// The longest endpoint we store or fetch.
inline constexpr size_t kMaxEndpointLength = 2048;

struct ParsedEndpoint {
  std::string url;     // as given
  std::string scheme;  // "https", or "http" for an insecure loopback endpoint
  std::string host;    // lower case, without a trailing dot
  int port = 443;
  bool insecure_loopback = false;
  // The origin (RFC 6454) the VAPID token's "aud" claim names: scheme://host[:port].
  std::string origin() const;
};

// Parses with libcurl's own URL parser (the one that later connects, so the two cannot disagree)
// and applies the rules above. The error message says what is wrong, never echoes the URL.
absl::StatusOr<ParsedEndpoint> ParseWebPushEndpoint(absl::string_view url,
                                                    const EndpointPolicy& policy);

// Whether we may connect to this address for a Web Push endpoint: only global unicast addresses
// (IPv4 and IPv6, IPv4-mapped, NAT64 and 6to4 forms judged by the IPv4 address inside).
bool IsPublicIpv4(uint32_t address_host_order);
bool IsPublicIpv6(const in6_addr& address);
bool IsPublicAddress(const sockaddr* address, socklen_t length);
// 127.0.0.1 exactly (what an insecure loopback endpoint may connect to).
bool IsLoopback127001(const sockaddr* address, socklen_t length);

}  // namespace legwise::push

#endif  // LEGWISE_SERVICES_REMINDER_PUSH_ENDPOINT_H_
