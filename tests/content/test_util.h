// Helpers shared by the content unit tests.
#ifndef LEGWISE_TESTS_CONTENT_TEST_UTIL_H_
#define LEGWISE_TESTS_CONTENT_TEST_UTIL_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "services/common/validation.h"
#include "services/content/catalog/catalog.h"

namespace legwise::content::testing {

// The embedded catalog, loaded once per test binary (fails the test when it does not load).
inline const Catalog& EmbeddedCatalog() {
  static const std::shared_ptr<const Catalog> catalog = [] {
    absl::StatusOr<std::shared_ptr<const Catalog>> c = Catalog::Load(EmbeddedCatalogFileMap());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : nullptr;
  }();
  if (catalog == nullptr) std::abort();
  return *catalog;
}

// The field paths of a status' field violations.
inline std::set<std::string> ViolatedFields(const absl::Status& status) {
  std::set<std::string> out;
  for (const auto& v : GetFieldViolations(status)) out.insert(v.field);
  return out;
}

// The contract's pinned topic ids.
inline const std::vector<std::string>& PinnedTopics() {
  static const std::vector<std::string> kTopics = {"leg-cramps",
                                                   "restless-legs",
                                                   "blood-clot-warning-signs",
                                                   "pre-eclampsia-warning-signs",
                                                   "hydration",
                                                   "stretching",
                                                   "swelling"};
  return kTopics;
}

}  // namespace legwise::content::testing

#endif  // LEGWISE_TESTS_CONTENT_TEST_UTIL_H_
