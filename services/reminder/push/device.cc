#include "services/reminder/push/device.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "services/reminder/push/crypto.h"

namespace legwise::push {
namespace {

std::string Path(absl::string_view prefix, absl::string_view field) {
  return prefix.empty() ? std::string(field) : absl::StrCat(prefix, ".", field);
}

// BCP-47 in the shape we accept: 2-3 letter language, then subtags of 1-8 letters or digits.
bool IsLocale(absl::string_view locale) {
  if (locale.size() > kMaxLocaleLength) return false;
  size_t start = 0;
  bool first = true;
  while (start <= locale.size()) {
    size_t end = locale.find_first_of("-_", start);
    if (end == absl::string_view::npos) end = locale.size();
    absl::string_view tag = locale.substr(start, end - start);
    if (first) {
      if (tag.size() < 2 || tag.size() > 3) return false;
      for (char c : tag) {
        if (!absl::ascii_isalpha(c)) return false;
      }
    } else {
      if (tag.empty() || tag.size() > 8) return false;
      for (char c : tag) {
        if (!absl::ascii_isalnum(c)) return false;
      }
    }
    first = false;
    start = end + 1;
  }
  return true;
}

}  // namespace

absl::string_view ProviderName(Provider provider) {
  switch (provider) {
    case Provider::kApns:
      return "apns";
    case Provider::kFcm:
      return "fcm";
    case Provider::kWebPush:
      return "web_push";
  }
  return "unknown";
}

bool ProviderOf(const DeviceTarget& target, Provider* provider) {
  if (std::holds_alternative<ApnsTarget>(target)) {
    *provider = Provider::kApns;
  } else if (std::holds_alternative<FcmTarget>(target)) {
    *provider = Provider::kFcm;
  } else if (std::holds_alternative<WebPushTarget>(target)) {
    *provider = Provider::kWebPush;
  } else {
    return false;
  }
  return true;
}

void ValidateApnsTarget(const ApnsTarget& target, absl::string_view prefix,
                        FieldViolations* violations) {
  std::string field = Path(prefix, "device_token");
  if (target.device_token.empty()) {
    violations->Add(field, "is required");
    return;
  }
  bool hex = target.device_token.size() == 64;
  for (char c : target.device_token) hex = hex && absl::ascii_isxdigit(c);
  if (!hex) violations->Add(field, "must be 64 hexadecimal characters");
}

void ValidateFcmTarget(const FcmTarget& target, absl::string_view prefix,
                       FieldViolations* violations) {
  std::string field = Path(prefix, "registration_token");
  const std::string& token = target.registration_token;
  if (token.empty()) {
    violations->Add(field, "is required");
    return;
  }
  if (token.size() < 16 || token.size() > kMaxFcmTokenLength) {
    violations->Add(field, absl::StrCat("must be 16 to ", kMaxFcmTokenLength, " characters"));
    return;
  }
  // Firebase issues tokens of letters, digits and - _ : . (base64url with separators); anything
  // else is not one, and would otherwise travel into our JSON and logs' neighbourhood unchecked.
  for (char c : token) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '_' && c != ':' && c != '.') {
      violations->Add(field, "may hold only letters, digits and - _ : .");
      return;
    }
  }
}

void ValidateWebPushTarget(const WebPushTarget& target, const EndpointPolicy& policy,
                           absl::string_view prefix, FieldViolations* violations) {
  absl::StatusOr<ParsedEndpoint> endpoint = ParseWebPushEndpoint(target.endpoint, policy);
  if (!endpoint.ok()) {
    violations->Add(Path(prefix, "endpoint"), std::string(endpoint.status().message()));
  }
  std::string p256dh;
  std::string field = Path(prefix, "p256dh");
  if (target.p256dh.empty()) {
    violations->Add(field, "is required");
  } else if (target.p256dh.size() > 100 || !Base64UrlDecode(target.p256dh, &p256dh)) {
    violations->Add(field, "must be base64url");
  } else if (!IsP256UncompressedPoint(p256dh)) {
    violations->Add(field, "must be an uncompressed P-256 public key (65 bytes on the curve)");
  }
  std::string auth;
  field = Path(prefix, "auth");
  if (target.auth.empty()) {
    violations->Add(field, "is required");
  } else if (target.auth.size() > 32 || !Base64UrlDecode(target.auth, &auth)) {
    violations->Add(field, "must be base64url");
  } else if (auth.size() != 16) {
    violations->Add(field, "must decode to 16 bytes");
  }
}

void ValidateDevice(const Device& device, const EndpointPolicy& policy, absl::string_view prefix,
                    FieldViolations* violations) {
  if (const auto* apns = std::get_if<ApnsTarget>(&device.target)) {
    ValidateApnsTarget(*apns, Path(prefix, "apns"), violations);
  } else if (const auto* fcm = std::get_if<FcmTarget>(&device.target)) {
    ValidateFcmTarget(*fcm, Path(prefix, "fcm"), violations);
  } else if (const auto* web = std::get_if<WebPushTarget>(&device.target)) {
    ValidateWebPushTarget(*web, policy, Path(prefix, "web_push"), violations);
  } else {
    violations->Add(Path(prefix, "target"), "one of apns, fcm or web_push is required");
  }
  if (!device.locale.empty() && !IsLocale(device.locale)) {
    violations->Add(Path(prefix, "locale"), "must be a BCP-47 language tag such as en or es-MX");
  }
}

absl::Status ValidateDevice(const Device& device, const EndpointPolicy& policy) {
  FieldViolations violations;
  ValidateDevice(device, policy, "device", &violations);
  return violations.ToStatus("INVALID_DEVICE");
}

std::string TargetKey(const DeviceTarget& target) {
  std::string identity;
  if (const auto* apns = std::get_if<ApnsTarget>(&target)) {
    identity = absl::StrCat("apns:", absl::AsciiStrToLower(apns->device_token));
  } else if (const auto* fcm = std::get_if<FcmTarget>(&target)) {
    identity = absl::StrCat("fcm:", fcm->registration_token);
  } else if (const auto* web = std::get_if<WebPushTarget>(&target)) {
    // The endpoint is the subscription; new keys for the same endpoint update the same device.
    identity = absl::StrCat("web_push:", web->endpoint);
  }
  return Base64UrlEncode(Sha256(identity));
}

}  // namespace legwise::push
