// Checks the catalog data itself (every topic in every locale, same tip ids across locales,
// well-formed codes, sources...) and proves the checks catch broken data.
#include "services/content/catalog/catalog.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/content/catalog/codes.h"
#include "tests/content/test_util.h"

namespace legwise::content {
namespace {

using ::testing::Contains;
using testing::EmbeddedCatalog;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::PinnedTopics;

std::string AllProblems(const Catalog& c) { return absl::StrJoin(c.Problems(), "\n"); }

// Parses `files` and returns the problems (a parse failure is returned as one problem).
std::vector<std::string> ProblemsOf(const CatalogFiles& files) {
  absl::StatusOr<std::unique_ptr<Catalog>> c = Catalog::Parse(files);
  if (!c.ok()) return {std::string(c.status().message())};
  return (*c)->Problems();
}

bool AnyContains(const std::vector<std::string>& problems, const std::string& needle) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const std::string& p) { return p.find(needle) != std::string::npos; });
}

TEST(CatalogTest, EmbeddedCatalogHasNoProblems) {
  absl::StatusOr<std::unique_ptr<Catalog>> c = Catalog::Parse(EmbeddedCatalogFileMap());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT((*c)->Problems(), IsEmpty()) << AllProblems(**c);
}

TEST(CatalogTest, EmbeddedCopyMatchesTheFilesOnDisk) {
  absl::StatusOr<CatalogFiles> disk = ReadCatalogDir(LEGWISE_CONTENT_CATALOG_DIR);
  ASSERT_TRUE(disk.ok()) << disk.status();
  EXPECT_EQ(*disk, EmbeddedCatalogFileMap()) << "rebuild: the embedded catalog is stale";
}

TEST(CatalogTest, EveryPinnedTopicInEveryLocale) {
  const Catalog& c = EmbeddedCatalog();
  EXPECT_THAT(c.locales(), ::testing::ElementsAre("en", "es"));
  for (const std::string& topic : PinnedTopics()) {
    EXPECT_THAT(c.topic_ids(), Contains(topic));
    for (const std::string& locale : c.locales()) {
      const v1::Guidance* g = c.Find(topic, locale);
      ASSERT_NE(g, nullptr) << locale << "/" << topic;
      EXPECT_FALSE(g->sources().empty()) << locale << "/" << topic;
      std::set<v1::SectionKind> kinds;
      for (const v1::Section& s : g->sections()) kinds.insert(s.kind());
      EXPECT_TRUE(kinds.count(v1::SECTION_KIND_WHEN_TO_GET_HELP)) << locale << "/" << topic;
      EXPECT_TRUE(kinds.count(v1::SECTION_KIND_SELF_CARE)) << locale << "/" << topic;
    }
  }
}

TEST(CatalogTest, SpanishIsNotACopyOfEnglish) {
  const Catalog& c = EmbeddedCatalog();
  for (const std::string& topic : c.topic_ids()) {
    const v1::Guidance* en = c.Find(topic, "en");
    const v1::Guidance* es = c.Find(topic, "es");
    ASSERT_NE(en, nullptr);
    ASSERT_NE(es, nullptr);
    EXPECT_NE(en->title(), es->title()) << topic;
    EXPECT_NE(en->summary(), es->summary()) << topic;
    for (int s = 0; s < en->sections_size(); ++s) {
      for (int t = 0; t < en->sections(s).tips_size(); ++t) {
        EXPECT_NE(en->sections(s).tips(t).text(), es->sections(s).tips(t).text())
            << topic << " " << en->sections(s).tips(t).tip_id();
      }
    }
  }
}

TEST(CatalogTest, SpanishUsesUstedConsistently) {
  // The Spanish catalog addresses the reader as "usted"; informal imperatives would mix registers.
  const Catalog& c = EmbeddedCatalog();
  for (const std::string& topic : c.topic_ids()) {
    const v1::Guidance* es = c.Find(topic, "es");
    ASSERT_NE(es, nullptr);
    std::string all = es->summary();
    for (const v1::Section& s : es->sections()) {
      for (const v1::Tip& t : s.tips()) all += " " + t.text();
    }
    for (const char* informal :
         {" tú ", " tu ", " tienes ", " puedes ", " necesitas ", " estás ", " bebes "}) {
      EXPECT_THAT(all, ::testing::Not(HasSubstr(informal))) << topic;
    }
  }
}

TEST(CatalogTest, IndexCodesAreNormalizedAndResolve) {
  const Catalog& c = EmbeddedCatalog();
  ASSERT_FALSE(c.index().codes().empty());
  for (const auto& e : c.index().codes()) {
    absl::StatusOr<std::string> n = NormalizeCode(e.system(), e.code());
    ASSERT_TRUE(n.ok()) << e.code();
    EXPECT_EQ(*n, e.code());
    for (const std::string& t : e.topic_ids()) EXPECT_TRUE(c.HasTopic(t)) << t;
  }
}

TEST(CatalogTest, VersionDependsOnEveryFile) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  absl::StatusOr<std::unique_ptr<Catalog>> a = Catalog::Parse(files);
  ASSERT_TRUE(a.ok());
  for (const auto& [path, text] : EmbeddedCatalogFileMap()) {
    CatalogFiles changed = files;
    changed[path] = text + "\n# reviewed\n";
    absl::StatusOr<std::unique_ptr<Catalog>> b = Catalog::Parse(changed);
    ASSERT_TRUE(b.ok()) << path;
    EXPECT_NE((*a)->version(), (*b)->version()) << path;
  }
  absl::StatusOr<std::unique_ptr<Catalog>> again = Catalog::Parse(files);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*a)->version(), (*again)->version());
  EXPECT_THAT((*a)->version(), ::testing::StartsWith((*a)->index().release() + "-"));
}

// ---- The checks catch broken data ----

TEST(CatalogChecksTest, MissingLocaleFileIsAProblem) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  ASSERT_EQ(files.erase("es/swelling.textproto"), 1u);
  EXPECT_TRUE(AnyContains(ProblemsOf(files), "es/swelling: missing"));
  absl::StatusOr<std::shared_ptr<const Catalog>> loaded = Catalog::Load(files);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CatalogChecksTest, TipIdsThatDifferAcrossLocalesAreAProblem) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  std::string& es = files["es/leg-cramps.textproto"];
  es = absl::StrReplaceAll(es, {{"tip_id: \"eat-bananas\"", "tip_id: \"eat-platanos\""}});
  EXPECT_TRUE(AnyContains(ProblemsOf(files), "differ from en"));
}

TEST(CatalogChecksTest, DroppedTipInOneLocaleIsAProblem) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  std::string& es = files["es/hydration.textproto"];
  size_t at = es.find("  tips {\n    tip_id: \"pale-urine\"");
  ASSERT_NE(at, std::string::npos);
  size_t end = es.find("\n  }\n", at);
  es.erase(at, end + 5 - at);
  EXPECT_TRUE(AnyContains(ProblemsOf(files), "es/hydration sections[1]: tip ids"));
}

TEST(CatalogChecksTest, MalformedOrDanglingCodesAreProblems) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  files[std::string(kIndexPath)] +=
      "codes { system: CODE_SYSTEM_ICD10CM code: \"r25.2x\" topic_ids: \"leg-cramps\" }\n"
      "codes { system: CODE_SYSTEM_ICD10CM code: \"X\" topic_ids: \"leg-cramps\" }\n"
      "codes { system: CODE_SYSTEM_SNOMEDCT code: \"123456789\" topic_ids: \"no-such-topic\" }\n";
  std::vector<std::string> p = ProblemsOf(files);
  EXPECT_TRUE(AnyContains(p, "not normalized (R25.2X)"));
  EXPECT_TRUE(AnyContains(p, "ICD10CM:X: malformed"));
  EXPECT_TRUE(AnyContains(p, "unknown topic no-such-topic"));
}

TEST(CatalogChecksTest, EmptySectionsMissingSourcesAndNotesAreProblems) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  std::string& en = files["en/stretching.textproto"];
  en =
      absl::StrReplaceAll(en, {{"sources: \"NHS: Deep vein thrombosis\"", ""},
                               {"sources: \"NICE Clinical Knowledge Summaries: Leg cramps\"", ""},
                               {"sources: \"Cochrane Database", "# sources: \"Cochrane Database"}});
  en += "sections { kind: SECTION_KIND_CAUSES heading: \"Empty\" }\n";
  std::string& es = files["es/leg-cramps.textproto"];
  es = absl::StrReplaceAll(es, {{"    ask_clinician_first: true\n    evidence_note:",
                                 "    ask_clinician_first: true\n    # evidence_note:"}});
  std::vector<std::string> p = ProblemsOf(files);
  EXPECT_TRUE(AnyContains(p, "en/stretching: no sources")) << absl::StrJoin(p, "\n");
  EXPECT_TRUE(AnyContains(p, ": no tips"));
  EXPECT_TRUE(AnyContains(p, "need an evidence_note"));
}

TEST(CatalogChecksTest, MissingNudgeTextAndStrayFileAreProblems) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  std::string& index = files[std::string(kIndexPath)];
  const std::string kEntry = "nudge_type: \"bedtime_stretch\" title: \"Estírese";
  size_t at = index.find(kEntry);
  ASSERT_NE(at, std::string::npos);
  index.replace(at, kEntry.size(), "nudge_type: \"bedtime_stretch_x\" title: \"Estírese");
  files["fr/leg-cramps.textproto"] = "topic_id: \"leg-cramps\"";
  std::vector<std::string> p = ProblemsOf(files);
  EXPECT_TRUE(AnyContains(p, "index nudge es/bedtime_stretch: missing")) << absl::StrJoin(p, "\n");
  EXPECT_TRUE(AnyContains(p, "index nudge es/bedtime_stretch_x: not in nudge_types"));
  EXPECT_TRUE(AnyContains(p, "fr/leg-cramps.textproto: not index.textproto"));
}

// Care levels are what the agreement test with triage reads: they must be where they belong, name
// their warning signs, and agree across locales.
TEST(CatalogChecksTest, CareLevelsAndWarningSignsAreChecked) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  // A care level outside the when-to-get-help section.
  std::string& en = files["en/leg-cramps.textproto"];
  en = absl::StrReplaceAll(en,
                           {{"    tip_id: \"eat-bananas\"\n",
                             "    tip_id: \"eat-bananas\"\n    care_level: CARE_LEVEL_ROUTINE\n"}});
  // An urgent tip without its signs, in Spanish only (so the locales disagree too).
  std::string& es = files["es/hydration.textproto"];
  es = absl::StrReplaceAll(es, {{"    warning_signs: \"cannot_keep_fluids_down\"\n", ""}});
  // A malformed sign id.
  std::string& sw = files["en/swelling.textproto"];
  sw = absl::StrReplaceAll(
      sw, {{"warning_signs: \"bothersome_swelling\"", "warning_signs: \"Bothersome swelling\""}});
  // A postpartum window on a trimester note.
  files[std::string(kIndexPath)] =
      absl::StrReplaceAll(files[std::string(kIndexPath)],
                          {{"note_id: \"second-trimester\"\n",
                            "note_id: \"second-trimester\"\n  max_postpartum_weeks: 6\n"}});
  std::vector<std::string> p = ProblemsOf(files);
  EXPECT_TRUE(AnyContains(p,
                          "en/leg-cramps tip 'eat-bananas': care_level and warning_signs belong in "
                          "the when-to-get-help section"))
      << absl::StrJoin(p, "\n");
  EXPECT_TRUE(AnyContains(p,
                          "es/hydration tip 'cannot-keep-fluids-down': an urgent or emergency tip "
                          "must list its warning_signs"));
  EXPECT_TRUE(AnyContains(p,
                          "es/hydration tip 'cannot-keep-fluids-down': care_level or "
                          "warning_signs differ from en"));
  EXPECT_TRUE(AnyContains(p, "malformed warning sign id 'Bothersome swelling'"));
  EXPECT_TRUE(AnyContains(p,
                          "'second-trimester': max_postpartum_weeks is 1..52 and only for a "
                          "postpartum note"));
}

TEST(CatalogChecksTest, SyntaxErrorFailsParseWithTheFileAndLine) {
  CatalogFiles files = EmbeddedCatalogFileMap();
  files["en/hydration.textproto"] += "\nsections { kind: SECTION_KIND_NOPE }\n";
  absl::StatusOr<std::unique_ptr<Catalog>> c = Catalog::Parse(files);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("en/hydration.textproto: line "));
}

TEST(CatalogChecksTest, ReadCatalogDirFailsForAMissingDirectory) {
  EXPECT_EQ(ReadCatalogDir("/nonexistent/legwise/catalog").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace legwise::content
