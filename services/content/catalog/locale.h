// Locale handling: which BCP-47-ish tags are accepted and which catalog locale answers them.
#ifndef LEGWISE_SERVICES_CONTENT_CATALOG_LOCALE_H_
#define LEGWISE_SERVICES_CONTENT_CATALOG_LOCALE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace legwise::content {

// Longest tag accepted (the BCP-47 recommended buffer size).
inline constexpr size_t kMaxLocaleLength = 35;

// True for "" and for tags shaped like BCP-47: a 2-3 letter language, then subtags of 1-8 letters
// or digits separated by '-' (or '_', which some platforms send), at most kMaxLocaleLength
// characters.
bool IsWellFormedLocale(absl::string_view tag);

// The catalog locale that answers a well-formed `tag`: its lower-cased language subtag when that is
// in `supported` ("es-MX" -> "es"), else supported.front() (the fallback, "en").
std::string ServedLocale(absl::string_view tag, const std::vector<std::string>& supported);

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CATALOG_LOCALE_H_
