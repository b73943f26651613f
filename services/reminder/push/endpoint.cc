#include "services/reminder/push/endpoint.h"

#include <arpa/inet.h>
#include <curl/curl.h>

#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace legwise::push {
namespace {

struct CurluDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};

// One URL part, or "" when absent.
std::string Part(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, flags) != CURLUE_OK || value == nullptr) return "";
  std::string out(value);
  curl_free(value);
  return out;
}

bool InRange(uint32_t a, uint32_t base, int prefix) {
  uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (a & mask) == (base & mask);
}

constexpr uint32_t Ip(int a, int b, int c, int d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d);
}

// A DNS label of letters, digits and hyphens, not starting or ending with a hyphen.
bool IsLdhLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
    return false;
  }
  for (char c : label) {
    if (!absl::ascii_isalnum(c) && c != '-') return false;
  }
  return true;
}

// Names that only ever mean something inside a network, refused before any lookup.
bool IsInternalName(absl::string_view host) {
  for (absl::string_view suffix :
       {"localhost", "local", "internal", "home.arpa", "lan", "intranet", "corp", "localdomain"}) {
    if (host == suffix || absl::EndsWith(host, absl::StrCat(".", suffix))) return true;
  }
  return false;
}

}  // namespace

std::string ParsedEndpoint::origin() const {
  bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return default_port ? absl::StrCat(scheme, "://", host)
                      : absl::StrCat(scheme, "://", host, ":", port);
}

absl::StatusOr<ParsedEndpoint> ParseWebPushEndpoint(absl::string_view url,
                                                    const EndpointPolicy& policy) {
  if (url.empty()) return absl::InvalidArgumentError("is required");
  if (url.size() > kMaxEndpointLength) {
    return absl::InvalidArgumentError(absl::StrCat("is longer than ", kMaxEndpointLength));
  }
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      return absl::InvalidArgumentError("must be an ASCII URL without spaces or controls");
    }
  }
  std::unique_ptr<CURLU, CurluDeleter> u(curl_url());
  // Only absolute URLs with an explicit scheme; no guessing.
  if (curl_url_set(u.get(), CURLUPART_URL, std::string(url).c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError("is not a URL");
  }
  ParsedEndpoint out;
  out.url = std::string(url);
  out.scheme = absl::AsciiStrToLower(Part(u.get(), CURLUPART_SCHEME));
  if (!Part(u.get(), CURLUPART_USER).empty() || !Part(u.get(), CURLUPART_PASSWORD).empty() ||
      !Part(u.get(), CURLUPART_OPTIONS).empty()) {
    return absl::InvalidArgumentError("must not carry credentials");
  }
  if (!Part(u.get(), CURLUPART_FRAGMENT).empty()) {
    return absl::InvalidArgumentError("must not have a fragment");
  }
  std::string host = absl::AsciiStrToLower(Part(u.get(), CURLUPART_HOST));
  std::string port_text = Part(u.get(), CURLUPART_PORT);
  int port = 0;
  if (!port_text.empty() && !absl::SimpleAtoi(port_text, &port)) {
    return absl::InvalidArgumentError("has a bad port");
  }

  if (policy.allow_insecure_loopback && out.scheme == "http") {
    if (host != "127.0.0.1" || port <= 0) {
      return absl::InvalidArgumentError(
          "over http must be http://127.0.0.1:PORT/... (insecure loopback, development only)");
    }
    out.host = host;
    out.port = port;
    out.insecure_loopback = true;
    return out;
  }
  if (out.scheme != "https") return absl::InvalidArgumentError("must use https");
  if (!port_text.empty() && port != 443) {
    return absl::InvalidArgumentError("must use the https port 443");
  }
  if (absl::EndsWith(host, ".")) host.pop_back();
  if (host.empty() || host.size() > 253) return absl::InvalidArgumentError("has a bad host");
  if (host.front() == '[') return absl::InvalidArgumentError("must name a host, not an IP address");
  in_addr v4;
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return absl::InvalidArgumentError("must name a host, not an IP address");
  }
  std::vector<absl::string_view> labels = absl::StrSplit(host, '.');
  if (labels.size() < 2) return absl::InvalidArgumentError("must be a fully qualified host name");
  for (absl::string_view label : labels) {
    if (!IsLdhLabel(label)) return absl::InvalidArgumentError("has a bad host name");
  }
  // A numeric last label ("2130706433", "0x7f.1", "127.1") would be read as an IPv4 address by
  // some resolvers; no public top-level domain is numeric.
  absl::string_view tld = labels.back();
  bool numeric = absl::StartsWith(tld, "0x");
  uint64_t ignored;
  numeric = numeric || absl::SimpleAtoi(tld, &ignored);
  if (numeric) return absl::InvalidArgumentError("must name a host, not an IP address");
  if (IsInternalName(host)) return absl::InvalidArgumentError("must be a public host");
  out.host = host;
  out.port = 443;
  return out;
}

bool IsPublicIpv4(uint32_t a) {
  static constexpr struct {
    uint32_t base;
    int prefix;
  } kForbidden[] = {
      {Ip(0, 0, 0, 0), 8},       // "this network"
      {Ip(10, 0, 0, 0), 8},      // private
      {Ip(100, 64, 0, 0), 10},   // shared address space (CGNAT; Alibaba's metadata 100.100.100.200)
      {Ip(127, 0, 0, 0), 8},     // loopback
      {Ip(169, 254, 0, 0), 16},  // link-local, the clouds' metadata service 169.254.169.254
      {Ip(172, 16, 0, 0), 12},   // private
      {Ip(192, 0, 0, 0), 24},    // IETF protocol assignments
      {Ip(192, 0, 2, 0), 24},    // documentation
      {Ip(192, 88, 99, 0), 24},  // 6to4 relay anycast
      {Ip(192, 168, 0, 0), 16},  // private
      {Ip(198, 18, 0, 0), 15},   // benchmarking
      {Ip(198, 51, 100, 0), 24},  // documentation
      {Ip(203, 0, 113, 0), 24},   // documentation
      {Ip(224, 0, 0, 0), 4},      // multicast
      {Ip(240, 0, 0, 0), 4},      // reserved, broadcast
  };
  for (const auto& range : kForbidden) {
    if (InRange(a, range.base, range.prefix)) return false;
  }
  return true;
}

bool IsPublicIpv6(const in6_addr& address) {
  const uint8_t* b = address.s6_addr;
  auto embedded_v4 = [&](int offset) {
    return (uint32_t(b[offset]) << 24) | (uint32_t(b[offset + 1]) << 16) |
           (uint32_t(b[offset + 2]) << 8) | uint32_t(b[offset + 3]);
  };
  auto prefix_is = [&](std::initializer_list<uint8_t> bytes) {
    int i = 0;
    for (uint8_t v : bytes) {
      if (b[i++] != v) return false;
    }
    return true;
  };
  // IPv4-mapped ::ffff:a.b.c.d: the IPv4 address decides.
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, 12) == 0) return IsPublicIpv4(embedded_v4(12));
  // NAT64 64:ff9b::/96 (RFC 6052): the IPv4 address decides.
  static const uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b, kNat64, 12) == 0) return IsPublicIpv4(embedded_v4(12));
  // 6to4 2002::/16 (RFC 3056): the IPv4 address in bits 16..47 decides.
  if (prefix_is({0x20, 0x02})) return IsPublicIpv4(embedded_v4(2));
  // Only global unicast 2000::/3 from here (this refuses ::, ::1, ::/96, fc00::/7 unique local,
  // fe80::/10 link-local, fec0::/10, ff00::/8 multicast, 64:ff9b:1::/48, 100::/64 discard).
  if ((b[0] & 0xe0) != 0x20) return false;
  // Special ranges inside 2000::/3: 2001::/23 IETF protocol assignments (Teredo 2001::/32
  // included, it embeds addresses), 2001:db8::/32 documentation, 3fff::/20 documentation.
  if (b[0] == 0x20 && b[1] == 0x01 && (b[2] & 0xfe) == 0x00) return false;
  if (prefix_is({0x20, 0x01, 0x0d, 0xb8})) return false;
  if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0x00) return false;
  return true;
}

bool IsPublicAddress(const sockaddr* address, socklen_t length) {
  if (address == nullptr) return false;
  if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    return IsPublicIpv4(ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr));
  }
  if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    return IsPublicIpv6(reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr);
  }
  return false;  // Unix sockets and anything else
}

bool IsLoopback127001(const sockaddr* address, socklen_t length) {
  return address != nullptr && address->sa_family == AF_INET &&
         length >= static_cast<socklen_t>(sizeof(sockaddr_in)) &&
         ntohl(reinterpret_cast<const sockaddr_in*>(address)->sin_addr.s_addr) == Ip(127, 0, 0, 1);
}

}  // namespace legwise::push
