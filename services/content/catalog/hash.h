// A small stable hash (FNV-1a, 64 bit) for catalog versions, etags and page-token checksums. Stable
// across processes and builds, unlike absl::Hash, so etags survive restarts and replicas agree.
#ifndef LEGWISE_SERVICES_CONTENT_CATALOG_HASH_H_
#define LEGWISE_SERVICES_CONTENT_CATALOG_HASH_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace legwise::content {

// Folds `data` into `h` (start from kFnvOffset). A 0 byte is folded after it, so ("ab","c") and
// ("a","bc") differ.
inline constexpr uint64_t kFnvOffset = 14695981039346656037ull;
inline uint64_t FnvAdd(uint64_t h, absl::string_view data) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= 0;
  h *= 1099511628211ull;
  return h;
}

// 16 lower-case hex digits.
std::string Hex64(uint64_t v);

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CATALOG_HASH_H_
