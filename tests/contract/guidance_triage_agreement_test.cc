// Triage and guidance must agree: what the content catalog tells her to do for a warning sign is
// what the triage service answers for it. Three promises are checked across the two services' data:
// 1. every sign a when-to-get-help tip names (both locales) gets exactly the tip's care level from
//    triage (tests/contract/warning_signs.txt says what each sign means as a report);
// 2. every URGENT or EMERGENCY answer carries when-to-get-help guidance: each condition such an
//    answer can suspect has a topic with an urgent or emergency tip;
// 3. every code triage can give resolves in LookupGuidanceByCode.
// A change to either side fails here until the other follows.
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "services/content/catalog/catalog.h"
#include "services/content/catalog/content_core.h"
#include "services/triage/engine/request_validation.h"
#include "services/triage/engine/triage_engine.h"
#include "tests/triage/test_util.h"

namespace legwise {
namespace {

namespace cv1 = content::v1;
namespace tv1 = triage::v1;

// One line of warning_signs.txt.
struct Presentation {
  int line = 0;
  bool triage_input = true;
  tv1::AssessLegSymptomsRequest request;
};

std::map<std::string, std::vector<Presentation>> LoadVocabulary() {
  std::ifstream in(LEGWISE_WARNING_SIGNS_FILE);
  EXPECT_TRUE(in.good()) << LEGWISE_WARNING_SIGNS_FILE;
  std::map<std::string, std::vector<Presentation>> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::vector<std::string> f = triage::testing::DataFields(line);
    if (f.empty()) continue;
    Presentation p;
    p.line = n;
    if (f.size() == 3 && f[1] == "NOT_A_TRIAGE_INPUT") {
      p.triage_input = false;
      EXPECT_FALSE(f[2].empty()) << "line " << n << ": say why it is not a triage input";
    } else if (f.size() == 4) {
      triage::testing::AddSymptoms(f[1], &p.request);
      triage::testing::ParseContext(f[2], p.request.mutable_pregnancy());
      triage::testing::ParseExtras(f[3], &p.request);
      EXPECT_TRUE(triage::ValidateAssessRequest(p.request).empty()) << "line " << n;
    } else {
      ADD_FAILURE() << "warning_signs.txt line " << n << ": expected 3 or 4 fields";
      continue;
    }
    out[f[0]].push_back(std::move(p));
  }
  return out;
}

struct TipRef {
  std::string where;  // locale/topic tip 'id'
  const cv1::Tip* tip;
};

class AgreementTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto catalog = content::Catalog::Load(content::EmbeddedCatalogFileMap());
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    catalog_ = new std::shared_ptr<const content::Catalog>(*catalog);
    auto table = triage::RuleTable::Builtin();
    ASSERT_TRUE(table.ok()) << table.status();
    engine_ = new triage::TriageEngine(*table);
    vocabulary_ = new std::map<std::string, std::vector<Presentation>>(LoadVocabulary());
  }
  static const content::Catalog& catalog() { return **catalog_; }

  // Every tip of every when-to-get-help section, in every locale.
  static std::vector<TipRef> HelpTips() {
    std::vector<TipRef> out;
    for (const std::string& locale : catalog().locales()) {
      for (const std::string& topic : catalog().topic_ids()) {
        const cv1::Guidance* g = catalog().Find(topic, locale);
        if (g == nullptr) continue;
        for (const cv1::Section& s : g->sections()) {
          if (s.kind() != cv1::SECTION_KIND_WHEN_TO_GET_HELP) continue;
          for (const cv1::Tip& t : s.tips()) {
            out.push_back({absl::StrCat(locale, "/", topic, " tip '", t.tip_id(), "'"), &t});
          }
        }
      }
    }
    return out;
  }

  static std::shared_ptr<const content::Catalog>* catalog_;
  static triage::TriageEngine* engine_;
  static std::map<std::string, std::vector<Presentation>>* vocabulary_;
};
std::shared_ptr<const content::Catalog>* AgreementTest::catalog_ = nullptr;
triage::TriageEngine* AgreementTest::engine_ = nullptr;
std::map<std::string, std::vector<Presentation>>* AgreementTest::vocabulary_ = nullptr;

TEST_F(AgreementTest, TriageAnswersEverySignWithTheTipsCareLevel) {
  std::set<std::string> used;
  int checked = 0, emergency = 0, urgent = 0;
  for (const TipRef& ref : HelpTips()) {
    const cv1::Tip& tip = *ref.tip;
    if (tip.care_level() == cv1::CARE_LEVEL_UNSPECIFIED) continue;
    // The care levels are the triage urgency levels, number for number.
    const auto expected = static_cast<tv1::Urgency>(tip.care_level());
    for (const std::string& sign : tip.warning_signs()) {
      SCOPED_TRACE(absl::StrCat(ref.where, " sign ", sign));
      used.insert(sign);
      auto it = vocabulary_->find(sign);
      ASSERT_NE(it, vocabulary_->end()) << "sign missing from warning_signs.txt";
      for (const Presentation& p : it->second) {
        if (!p.triage_input) continue;
        const tv1::AssessLegSymptomsResponse r = engine_->Assess(p.request);
        EXPECT_EQ(r.urgency(), expected) << "warning_signs.txt line " << p.line << ": triage says "
                                         << tv1::Urgency_Name(r.urgency()) << ", the guidance says "
                                         << cv1::CareLevel_Name(tip.care_level());
        ++checked;
        emergency += expected == tv1::URGENCY_EMERGENCY;
        urgent += expected == tv1::URGENCY_URGENT;
      }
    }
  }
  // Every sign in the vocabulary is named by some tip (no stale entries).
  for (const auto& [sign, presentations] : *vocabulary_) {
    EXPECT_TRUE(used.contains(sign)) << "warning_signs.txt: " << sign << " is named by no tip";
  }
  EXPECT_GE(emergency, 50);
  EXPECT_GE(urgent, 50);
  EXPECT_GE(checked, 150);
}

// The words say what the care level says: an emergency tip says to call the emergency number, an
// urgent one says "now" (never "today" or "the same day"), a routine one neither; a tip without a
// care level never sends her to the emergency number.
TEST_F(AgreementTest, WordingMatchesTheCareLevel) {
  struct Words {
    std::regex emergency, now, later;
  };
  const std::map<std::string, Words> words = {
      {"en",
       {std::regex("emergency number"), std::regex("\\bnow\\b"),
        std::regex("\\btoday\\b|same day|same-day|straight away")}},
      {"es",
       {std::regex("emergencias"), std::regex("\\bahora\\b"),
        std::regex("\\bhoy\\b|mismo día|enseguida")}},
  };
  for (const TipRef& ref : HelpTips()) {
    SCOPED_TRACE(ref.where);
    const std::string locale(ref.where.substr(0, ref.where.find('/')));
    ASSERT_TRUE(words.count(locale)) << "no wording rules for locale " << locale;
    const Words& w = words.at(locale);
    const std::string& text = ref.tip->text();
    EXPECT_FALSE(std::regex_search(text, w.later)) << text;
    switch (ref.tip->care_level()) {
      case cv1::CARE_LEVEL_EMERGENCY:
        EXPECT_TRUE(std::regex_search(text, w.emergency)) << text;
        break;
      case cv1::CARE_LEVEL_URGENT:
        EXPECT_TRUE(std::regex_search(text, w.now)) << text;
        EXPECT_FALSE(std::regex_search(text, w.emergency)) << text;
        break;
      default:
        EXPECT_FALSE(std::regex_search(text, w.now)) << text;
        EXPECT_FALSE(std::regex_search(text, w.emergency)) << text;
        break;
    }
  }
}

TEST_F(AgreementTest, EveryUrgentAnswerCarriesWhenToGetHelpGuidance) {
  const triage::RuleTable& t = engine_->table();
  std::set<tv1::Condition> urgent_conditions = {tv1::CONDITION_NEEDS_ASSESSMENT};  // the fallback
  for (const triage::CompiledRule& r : t.rules()) {
    if (r.level >= tv1::URGENCY_URGENT)
      urgent_conditions.insert(r.conditions.begin(), r.conditions.end());
  }
  for (tv1::Condition c : urgent_conditions) {
    SCOPED_TRACE(tv1::Condition_Name(c));
    const triage::CompiledCondition* cc = t.condition(c);
    ASSERT_NE(cc, nullptr);
    ASSERT_FALSE(cc->topic_id.empty()) << "an urgent condition without guidance";
    for (const std::string& locale : catalog().locales()) {
      const cv1::Guidance* g = catalog().Find(cc->topic_id, locale);
      ASSERT_NE(g, nullptr) << locale << "/" << cc->topic_id;
      bool help = false;
      for (const cv1::Section& s : g->sections()) {
        if (s.kind() != cv1::SECTION_KIND_WHEN_TO_GET_HELP) continue;
        for (const cv1::Tip& tip : s.tips()) help |= tip.care_level() >= cv1::CARE_LEVEL_URGENT;
      }
      EXPECT_TRUE(help) << locale << "/" << cc->topic_id << " has no urgent when-to-get-help tip";
    }
  }
  // And the engine really gives a topic for an answer that suspects only NEEDS_ASSESSMENT.
  tv1::AssessLegSymptomsRequest r;
  triage::testing::AddSymptoms("sob", &r);
  const auto a = engine_->Assess(r);
  ASSERT_EQ(a.urgency(), tv1::URGENCY_URGENT);
  EXPECT_EQ(a.suspected_conditions(0).topic_id(), "pregnancy-warning-signs");
}

TEST_F(AgreementTest, EveryCodeTriageGivesResolvesInLookupGuidanceByCode) {
  const triage::RuleTable& t = engine_->table();
  int codes = 0;
  for (int c = tv1::Condition_MIN; c <= tv1::Condition_MAX; ++c) {
    const triage::CompiledCondition* cc = t.condition(static_cast<tv1::Condition>(c));
    if (cc == nullptr) continue;
    for (const triage::CodeChoice& code : cc->codes) {
      SCOPED_TRACE(absl::StrCat(tv1::Condition_Name(cc->condition), " ", code.coding.code()));
      cv1::LookupGuidanceByCodeRequest req;
      req.set_code_system(code.coding.system() == "http://snomed.info/sct"
                              ? cv1::CODE_SYSTEM_SNOMEDCT
                              : cv1::CODE_SYSTEM_ICD10CM);
      req.set_code(code.coding.code());
      for (const char* locale : {"en", "es"}) {
        req.set_locale(locale);
        auto resp = content::LookupGuidanceByCode(catalog(), req);
        ASSERT_TRUE(resp.ok()) << resp.status();
        ASSERT_FALSE(resp->guidance().empty()) << "no guidance for this code";
        // The condition's own topic is among the answers.
        bool own = false;
        for (const cv1::Guidance& g : resp->guidance()) own |= g.topic_id() == cc->topic_id;
        EXPECT_TRUE(own) << "lookup does not answer with " << cc->topic_id;
      }
      ++codes;
    }
  }
  EXPECT_GE(codes, 50);
}

}  // namespace
}  // namespace legwise
