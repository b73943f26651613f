// Device targets as a user registers them, and the SSRF rules for Web Push endpoints.
#include "services/reminder/push/device.h"

#include <arpa/inet.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/reminder/push/crypto.h"
#include "services/reminder/push/endpoint.h"

namespace legwise::push {
namespace {

// RFC 8291 Appendix A's user agent key and auth secret: a real PushSubscription's shape.
constexpr char kP256dh[] =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr char kAuth[] = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr char kEndpoint[] = "https://fcm.googleapis.com/fcm/send/dQw4w9WgXcQ:APA91bH";
const std::string kApnsToken(64, 'a');

std::vector<std::string> Fields(const Device& device, EndpointPolicy policy = {}) {
  FieldViolations v;
  ValidateDevice(device, policy, "device", &v);
  std::vector<std::string> out;
  for (const auto& violation : v.violations()) out.push_back(violation.field);
  return out;
}

Device Web(std::string endpoint, std::string p256dh = kP256dh, std::string auth = kAuth) {
  return Device{"", WebPushTarget{std::move(endpoint), std::move(p256dh), std::move(auth)}, "en"};
}

using Strings = std::vector<std::string>;

TEST(DeviceValidationTest, AcceptsEachProvidersTarget) {
  EXPECT_EQ(Fields(Device{"", ApnsTarget{kApnsToken, false}, "en"}), Strings{});
  EXPECT_EQ(Fields(Device{"", ApnsTarget{std::string(32, 'A') + std::string(32, '9'), true}}),
            Strings{});
  EXPECT_EQ(Fields(Device{"", FcmTarget{"dQw4w9WgXcQ:APA91bHun4MxP5egoKMwt2KZFBaFUH-1RYqx"}}),
            Strings{});
  EXPECT_EQ(Fields(Web(kEndpoint)), Strings{});
  EXPECT_TRUE(ValidateDevice(Web(kEndpoint), EndpointPolicy{}).ok());
}

TEST(DeviceValidationTest, ApnsTokenMustBe64Hex) {
  for (const std::string& bad : {std::string(), std::string(63, 'a'), std::string(65, 'a'),
                                 std::string(63, 'a') + "g", std::string(62, 'a') + "\n\n"}) {
    EXPECT_EQ(Fields(Device{"", ApnsTarget{bad, false}}), Strings{"device.apns.device_token"});
  }
}

TEST(DeviceValidationTest, FcmTokenIsBoundedAndPlain) {
  for (const std::string& bad : {std::string(), std::string("short"), std::string(5000, 'a'),
                                 std::string(40, 'a') + "\"}", std::string(40, 'a') + " x"}) {
    EXPECT_EQ(Fields(Device{"", FcmTarget{bad}}), Strings{"device.fcm.registration_token"});
  }
}

TEST(DeviceValidationTest, P256dhMustBeAnUncompressedPointOnTheCurve) {
  std::string point;
  ASSERT_TRUE(Base64UrlDecode(kP256dh, &point));
  std::string off_curve = point;
  off_curve[64] ^= 0x01;  // y no longer matches x
  std::string compressed = point.substr(0, 33);
  compressed[0] = 0x02;
  std::string wrong_prefix = point;
  wrong_prefix[0] = 0x05;
  for (const std::string& bad :
       {std::string(), Base64UrlEncode(off_curve), Base64UrlEncode(compressed),
        Base64UrlEncode(wrong_prefix), Base64UrlEncode(std::string(65, '\0')),
        std::string("not base64!"),
        // Standard base64 (+ and /) is not what PushSubscription.toJSON() gives.
        std::string(
            "BCVxsr7N/"
            "eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6+AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4")}) {
    EXPECT_EQ(Fields(Web(kEndpoint, bad)), Strings{"device.web_push.p256dh"}) << bad;
  }
  // Padding is harmless and accepted.
  EXPECT_EQ(Fields(Web(kEndpoint, std::string(kP256dh) + "=")), Strings{});
}

TEST(DeviceValidationTest, AuthMustBe16Bytes) {
  for (const std::string& bad : {std::string(), Base64UrlEncode(std::string(15, 'x')),
                                 Base64UrlEncode(std::string(17, 'x')), std::string("@@@@")}) {
    EXPECT_EQ(Fields(Web(kEndpoint, kP256dh, bad)), Strings{"device.web_push.auth"}) << bad;
  }
}

TEST(DeviceValidationTest, EveryProblemIsNamedAtOnce) {
  Device device = Web("http://10.0.0.1/", "xx", "");
  device.locale = "not a locale";
  EXPECT_EQ(Fields(device), (Strings{"device.web_push.endpoint", "device.web_push.p256dh",
                                     "device.web_push.auth", "device.locale"}));
  absl::Status status = ValidateDevice(device, EndpointPolicy{});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(status), "INVALID_DEVICE");
  EXPECT_EQ(Fields(Device{}), Strings{"device.target"});
}

TEST(DeviceValidationTest, ErrorsNeverEchoTheValue) {
  Device device =
      Web("https://attacker-secret-host.example.com:8443/x", "secretp256dh", "secretauth");
  absl::Status status = ValidateDevice(device, EndpointPolicy{});
  EXPECT_EQ(status.message().find("secret"), absl::string_view::npos) << status;
  for (const auto& v : GetFieldViolations(status)) {
    EXPECT_EQ(v.description.find("secret"), std::string::npos) << v.description;
  }
}

TEST(DeviceValidationTest, Locales) {
  for (const std::string& ok : {"", "en", "es", "es-MX", "zh-Hant-TW", "en_US"}) {
    Device d{"", ApnsTarget{kApnsToken, false}, ok};
    EXPECT_EQ(Fields(d), Strings{}) << ok;
  }
  for (const std::string& bad : {"e", "english", "en-", "en--US", "en US", "es-toolongsubtag"}) {
    Device d{"", ApnsTarget{kApnsToken, false}, bad};
    EXPECT_EQ(Fields(d), Strings{"device.locale"}) << bad;
  }
}

TEST(DeviceValidationTest, TargetKeyIdentifiesTheTargetNotTheToken) {
  std::string upper(64, 'A');
  EXPECT_EQ(TargetKey(ApnsTarget{kApnsToken, false}), TargetKey(ApnsTarget{upper, false}));
  EXPECT_NE(TargetKey(ApnsTarget{kApnsToken, false}), TargetKey(ApnsTarget{std::string(64, 'b')}));
  EXPECT_NE(TargetKey(FcmTarget{kApnsToken}), TargetKey(ApnsTarget{kApnsToken, false}));
  // New keys for the same subscription endpoint: the same device.
  EXPECT_EQ(TargetKey(WebPushTarget{kEndpoint, kP256dh, kAuth}),
            TargetKey(WebPushTarget{kEndpoint, "other", "other"}));
  EXPECT_EQ(TargetKey(ApnsTarget{kApnsToken, false}).find(kApnsToken), std::string::npos);
}

// --- SSRF ----------------------------------------------------------------------------------------

TEST(EndpointTest, RealPushServicesAreAccepted) {
  for (const std::string& url :
       {std::string(kEndpoint),
        std::string("https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk"),
        std::string("https://web.push.apple.com/QOfKSTbHRbn0_9pGWL4h8Q"),
        std::string("https://wns2-par02p.notify.windows.com/w/?token=BQYAAAB"),
        std::string("https://push.example.com:443/x"),
        std::string("https://Push.Example.COM./x")}) {
    absl::StatusOr<ParsedEndpoint> parsed = ParseWebPushEndpoint(url, EndpointPolicy{});
    ASSERT_TRUE(parsed.ok()) << url << ": " << parsed.status();
    EXPECT_EQ(parsed->scheme, "https");
    EXPECT_FALSE(parsed->insecure_loopback);
  }
  EXPECT_EQ(ParseWebPushEndpoint("https://Push.Example.COM./x", {})->origin(),
            "https://push.example.com");
}

TEST(EndpointTest, InternalTargetsAreRefused) {
  for (const std::string& url : {
           "",
           "http://push.example.com/x",  // not https
           "ftp://push.example.com/x",
           "file:///etc/passwd",
           "gopher://push.example.com/",
           "https://127.0.0.1/x",  // IP literals, any form
           "https://10.0.0.7/x",
           "https://169.254.169.254/latest/meta-data/",
           "https://[::1]/x",
           "https://[fd00:ec2::254]/x",
           "https://[::ffff:127.0.0.1]/x",
           "https://2130706433/x",
           "https://0x7f000001/x",
           "https://0x7f.1/x",
           "https://127.1/x",
           "https://localhost/x",  // internal names
           "https://foo.localhost/x",
           "https://metadata.google.internal/computeMetadata/v1/",
           "https://printer.local/x",
           "https://router.home.arpa/x",
           "https://intranet/x",                  // single label
           "https://user:pw@push.example.com/x",  // credentials
           "https://push.example.com:8443/x",     // other ports
           "https://push.example.com:22/x",
           "https://push.example.com/x#fragment",
           "https://push.example.com/ x",
           "https://push.example.com/\r\nHost: evil",
           "https://bad_host.example.com/x",
           "https://-bad.example.com/x",
           "https://caf\xc3\xa9.example.com/x",  // non-ASCII
           "push.example.com/x",                 // no scheme
       }) {
    EXPECT_FALSE(ParseWebPushEndpoint(url, EndpointPolicy{}).ok()) << url;
    EXPECT_FALSE(ParseWebPushEndpoint(url, EndpointPolicy{true}).ok()) << url;
  }
  EXPECT_FALSE(ParseWebPushEndpoint("https://push.example.com/" + std::string(2100, 'a'), {}).ok());
}

TEST(EndpointTest, InsecureLoopbackOnlyWhenAllowedAndOnlyHttp127001WithAPort) {
  constexpr char kUrl[] = "http://127.0.0.1:8123/push/sub1";
  EXPECT_FALSE(ParseWebPushEndpoint(kUrl, EndpointPolicy{false}).ok());
  absl::StatusOr<ParsedEndpoint> parsed = ParseWebPushEndpoint(kUrl, EndpointPolicy{true});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->insecure_loopback);
  EXPECT_EQ(parsed->origin(), "http://127.0.0.1:8123");
  for (const std::string& url :
       {"http://127.0.0.1/push", "http://localhost:8123/push", "http://127.0.0.2:8123/push",
        "http://10.0.0.1:80/push", "http://[::1]:8123/push", "https://127.0.0.1:8123/push"}) {
    EXPECT_FALSE(ParseWebPushEndpoint(url, EndpointPolicy{true}).ok()) << url;
  }
}

uint32_t V4(const char* text) {
  in_addr a;
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return ntohl(a.s_addr);
}

in6_addr V6(const char* text) {
  in6_addr a;
  EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1) << text;
  return a;
}

TEST(AddressTest, Ipv4Ranges) {
  for (const char* bad :
       {"0.0.0.0",        "0.1.2.3",         "10.1.2.3",        "100.64.0.1",    "100.100.100.200",
        "127.0.0.1",      "127.255.255.254", "169.254.169.254", "169.254.170.2", "172.16.0.1",
        "172.31.255.255", "192.0.0.8",       "192.0.2.1",       "192.168.1.1",   "198.18.0.1",
        "198.19.255.255", "198.51.100.7",    "203.0.113.5",     "224.0.0.1",     "239.255.255.250",
        "240.0.0.1",      "255.255.255.255"}) {
    EXPECT_FALSE(IsPublicIpv4(V4(bad))) << bad;
  }
  for (const char* good :
       {"8.8.8.8", "1.1.1.1", "142.250.184.10", "17.188.143.33", "172.15.255.255", "172.32.0.1",
        "100.63.255.255", "100.128.0.1", "192.169.0.1", "11.0.0.1", "223.255.255.254"}) {
    EXPECT_TRUE(IsPublicIpv4(V4(good))) << good;
  }
}

TEST(AddressTest, Ipv6Ranges) {
  for (const char* bad : {"::",
                          "::1",
                          "fe80::1",
                          "fc00::1",
                          "fd00:ec2::254",
                          "fec0::1",
                          "ff02::1",
                          "::ffff:127.0.0.1",
                          "::ffff:10.0.0.1",
                          "::ffff:169.254.169.254",
                          "::127.0.0.1",
                          "64:ff9b::a00:1",
                          "64:ff9b::7f00:1",
                          "64:ff9b:1::1",
                          "2002:7f00:1::",
                          "2002:a9fe:a9fe::1",
                          "2001::1",
                          "2001:db8::1",
                          "100::1",
                          "3fff::1"}) {
    EXPECT_FALSE(IsPublicIpv6(V6(bad))) << bad;
  }
  for (const char* good : {"2607:f8b0:4005:80a::200e", "2a00:1450:4001::1", "::ffff:8.8.8.8",
                           "64:ff9b::808:808", "2002:808:808::1", "2620:149:a44::1"}) {
    EXPECT_TRUE(IsPublicIpv6(V6(good))) << good;
  }
}

// Property: every address in a forbidden IPv4 range is refused, in every form it can take (plain,
// IPv4-mapped, NAT64, 6to4), and through the sockaddr entry point the connect hook uses.
TEST(AddressTest, ForbiddenRangesAreRefusedInEveryForm) {
  std::mt19937 rng(16);
  const struct {
    const char* base;
    int prefix;
  } ranges[] = {{"10.0.0.0", 8},     {"127.0.0.0", 8},   {"169.254.0.0", 16}, {"172.16.0.0", 12},
                {"192.168.0.0", 16}, {"100.64.0.0", 10}, {"0.0.0.0", 8},      {"224.0.0.0", 4}};
  for (const auto& range : ranges) {
    for (int i = 0; i < 500; ++i) {
      uint32_t host = range.prefix == 32 ? 0 : rng() & ((uint32_t{1} << (32 - range.prefix)) - 1);
      uint32_t a = V4(range.base) | host;
      ASSERT_FALSE(IsPublicIpv4(a)) << a;
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_addr.s_addr = htonl(a);
      ASSERT_FALSE(IsPublicAddress(reinterpret_cast<sockaddr*>(&sin), sizeof(sin)));
      for (const char* prefix : {"::ffff:0.0.0.0", "64:ff9b::"}) {
        sockaddr_in6 sin6{};
        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr = V6(prefix);
        for (int k = 0; k < 4; ++k) sin6.sin6_addr.s6_addr[12 + k] = (a >> (24 - 8 * k)) & 0xff;
        ASSERT_FALSE(IsPublicAddress(reinterpret_cast<sockaddr*>(&sin6), sizeof(sin6)));
      }
      in6_addr six_to_four = V6("2002::");
      for (int k = 0; k < 4; ++k) six_to_four.s6_addr[2 + k] = (a >> (24 - 8 * k)) & 0xff;
      ASSERT_FALSE(IsPublicIpv6(six_to_four));
    }
  }
}

TEST(AddressTest, OnlyExactly127001IsTheInsecureLoopback) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(V4("127.0.0.1"));
  EXPECT_TRUE(IsLoopback127001(reinterpret_cast<sockaddr*>(&sin), sizeof(sin)));
  sin.sin_addr.s_addr = htonl(V4("127.0.0.2"));
  EXPECT_FALSE(IsLoopback127001(reinterpret_cast<sockaddr*>(&sin), sizeof(sin)));
  EXPECT_FALSE(IsPublicAddress(nullptr, 0));
}

}  // namespace
}  // namespace legwise::push
