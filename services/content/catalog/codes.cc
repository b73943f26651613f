#include "services/content/catalog/codes.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace legwise::content {
namespace {

bool IsAlnum(char c) { return absl::ascii_isdigit(c) || absl::ascii_isupper(c); }

absl::StatusOr<std::string> NormalizeIcd10(absl::string_view code) {
  std::string compact;
  for (char c : code) {
    if (c == '.') continue;
    compact.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  if (code.size() > 16 || compact.size() < 3 || compact.size() > 7) {
    return absl::InvalidArgumentError("an ICD-10-CM code has 3 to 7 characters");
  }
  // At most one dot, and only right after the category (third character).
  size_t dots = 0;
  for (size_t i = 0; i < code.size(); ++i) {
    if (code[i] == '.') {
      ++dots;
      if (i != 3 || i + 1 == code.size()) {
        return absl::InvalidArgumentError("an ICD-10-CM code has its dot after the 3rd character");
      }
    }
  }
  if (dots > 1) return absl::InvalidArgumentError("an ICD-10-CM code has at most one dot");
  if (!absl::ascii_isupper(compact[0]) || !absl::ascii_isdigit(compact[1]) ||
      !IsAlnum(compact[2])) {
    return absl::InvalidArgumentError(
        "an ICD-10-CM code starts with a letter, a digit and a letter or digit");
  }
  for (size_t i = 3; i < compact.size(); ++i) {
    if (!IsAlnum(compact[i])) {
      return absl::InvalidArgumentError("an ICD-10-CM code has only letters and digits");
    }
  }
  if (compact.size() == 3) return compact;
  return absl::StrCat(compact.substr(0, 3), ".", compact.substr(3));
}

absl::StatusOr<std::string> NormalizeSnomed(absl::string_view code) {
  if (code.size() < 6 || code.size() > 18) {
    return absl::InvalidArgumentError("a SNOMED CT identifier has 6 to 18 digits");
  }
  for (char c : code) {
    if (!absl::ascii_isdigit(c)) {
      return absl::InvalidArgumentError("a SNOMED CT identifier has only digits");
    }
  }
  if (code[0] == '0') {
    return absl::InvalidArgumentError("a SNOMED CT identifier has no leading zero");
  }
  return std::string(code);
}

}  // namespace

absl::StatusOr<std::string> NormalizeCode(v1::CodeSystem system, absl::string_view code) {
  code = absl::StripAsciiWhitespace(code);
  if (code.empty()) return absl::InvalidArgumentError("code is required");
  switch (system) {
    case v1::CODE_SYSTEM_ICD10CM:
      return NormalizeIcd10(code);
    case v1::CODE_SYSTEM_SNOMEDCT:
      return NormalizeSnomed(code);
    default:
      return absl::InvalidArgumentError("unsupported code system");
  }
}

std::vector<std::string> CodeAndParents(v1::CodeSystem system, absl::string_view normalized_code) {
  std::vector<std::string> out;
  std::string code(normalized_code);
  if (system != v1::CODE_SYSTEM_ICD10CM) {
    out.push_back(code);
    return out;
  }
  while (code.size() > 3) {
    out.push_back(code);
    code.pop_back();
    if (code.back() == '.') code.pop_back();
  }
  out.push_back(code);
  return out;
}

absl::string_view CodeSystemName(v1::CodeSystem system) {
  switch (system) {
    case v1::CODE_SYSTEM_ICD10CM:
      return "ICD10CM";
    case v1::CODE_SYSTEM_SNOMEDCT:
      return "SNOMEDCT";
    default:
      return "UNSPECIFIED";
  }
}

}  // namespace legwise::content
