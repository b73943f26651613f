// docs/clinical-rules.md is what a clinician signs off: it must be exactly what the rule table
// says. Regenerate with `build/release/bin/legwise-rules-doc > docs/clinical-rules.md`.
#include "services/triage/engine/rules_doc.h"

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "services/triage/engine/builtin_rules.h"
#include "services/triage/engine/rule_table.h"

namespace legwise::triage {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

TEST(RulesDocTest, CheckedInDocumentMatchesTheRuleTable) {
  auto doc = RenderRulesDoc(BuiltinRulesText());
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(*doc, ReadFile(LEGWISE_RULES_DOC_FILE))
      << "docs/clinical-rules.md is stale: run build/release/bin/legwise-rules-doc > "
         "docs/clinical-rules.md and have the change reviewed";
}

TEST(RulesDocTest, DocumentShowsEveryRuleWithItsSourcesAndTheVersion) {
  auto table = RuleTable::Builtin();
  ASSERT_TRUE(table.ok());
  auto doc = RenderRulesDoc(BuiltinRulesText());
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(absl::StrContains(*doc, (*table)->version()));
  for (const CompiledRule& r : (*table)->rules()) {
    EXPECT_TRUE(absl::StrContains(*doc, "| `" + r.id + "` |")) << r.id;
    for (const std::string& s : r.sources) EXPECT_TRUE(absl::StrContains(*doc, s)) << s;
  }
}

TEST(RulesDocTest, AChangedRuleChangesTheDocumentAndABrokenTableIsRefused) {
  const std::string text(BuiltinRulesText());
  const std::string changed = absl::StrReplaceAll(text, {{"at_least: 160", "at_least: 170"}});
  ASSERT_NE(changed, text);
  EXPECT_NE(*RenderRulesDoc(changed), *RenderRulesDoc(text));
  EXPECT_FALSE(RenderRulesDoc("version: \"x\" rules { id: \"a\" }").ok());
}

}  // namespace
}  // namespace legwise::triage
