#include "services/content/catalog/locale.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace legwise::content {

bool IsWellFormedLocale(absl::string_view tag) {
  if (tag.empty()) return true;
  if (tag.size() > kMaxLocaleLength) return false;
  bool first = true;
  for (absl::string_view sub : absl::StrSplit(tag, absl::ByAnyChar("-_"))) {
    if (first) {
      if (sub.size() < 2 || sub.size() > 3) return false;
      if (!std::all_of(sub.begin(), sub.end(), [](char c) { return absl::ascii_isalpha(c); })) {
        return false;
      }
      first = false;
      continue;
    }
    if (sub.empty() || sub.size() > 8) return false;
    if (!std::all_of(sub.begin(), sub.end(), [](char c) { return absl::ascii_isalnum(c); })) {
      return false;
    }
  }
  return true;
}

std::string ServedLocale(absl::string_view tag, const std::vector<std::string>& supported) {
  if (supported.empty()) return "en";
  std::string language = absl::AsciiStrToLower(tag.substr(0, tag.find_first_of("-_")));
  for (const std::string& s : supported) {
    if (s == language) return s;
  }
  return supported.front();
}

}  // namespace legwise::content
