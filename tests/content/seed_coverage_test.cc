// Every piece of advice in the seed article (clinical-knowledge.md, "Seed coverage") is served, in
// English and Spanish, by a tip with the same id in both, carrying the fact in its text.
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/content/catalog/content_core.h"
#include "tests/content/test_util.h"

namespace legwise::content {
namespace {

using testing::EmbeddedCatalog;

struct SeedItem {
  const char* what;  // the seed's point, for the failure message
  const char* topic_id;
  const char* tip_id;
  std::vector<std::string> en_words;  // every one must appear (case-insensitive)
  std::vector<std::string> es_words;
};

const std::vector<SeedItem>& SeedItems() {
  static const std::vector<SeedItem> kItems = {
      // Causes.
      {"circulatory and metabolic changes",
       "leg-cramps",
       "circulation-and-metabolism",
       {"circulat"},
       {"circula"}},
      {"calcium and potassium metabolism",
       "leg-cramps",
       "calcium-and-potassium",
       {"calcium", "potassium"},
       {"calcio", "potasio"}},
      {"too little water", "leg-cramps", "not-enough-water", {"drink"}, {"agua"}},
      {"carrying the extra weight", "leg-cramps", "extra-weight", {"weight"}, {"peso"}},
      {"uterus pressing on vessels",
       "leg-cramps",
       "uterus-presses-on-vessels",
       {"womb", "blood vessels"},
       {"útero", "vasos sanguíneos"}},
      // Restless legs.
      {"RLS: what it feels like",
       "restless-legs",
       "what-it-feels-like",
       {"feeling", "not painful", "moving"},
       {"sensación", "no duele", "mover"}},
      {"RLS disturbs sleep", "restless-legs", "disturbs-sleep", {"sleep"}, {"dormir"}},
      // When to worry.
      {"swelling and tenderness may be a clot: call a doctor immediately",
       "leg-cramps",
       "swelling-and-tenderness",
       {"swollen", "tender", "blood clot", "now"},
       {"hinchada", "coágulo", "ahora"}},
      {"clot topic says the same",
       "blood-clot-warning-signs",
       "swelling-and-tenderness",
       {"swollen", "tender", "now"},
       {"hinchada", "ahora"}},
      // Relief.
      {"stretching and ankle rotations several times a day",
       "leg-cramps",
       "stretching-and-ankle-circles",
       {"stretch", "ankle", "several times a day"},
       {"estirar", "tobillos", "varias veces al día"}},
      {"stretching topic: several times a day",
       "stretching",
       "several-times-a-day",
       {"several times a day"},
       {"varias veces al día"}},
      {"ankle circles", "stretching", "ankle-circles", {"ankle"}, {"tobillo"}},
      {"stay active, regular walks",
       "leg-cramps",
       "stay-active",
       {"active", "walks"},
       {"activa", "pasear"}},
      {"avoid long standing and crossing legs",
       "leg-cramps",
       "avoid-long-standing",
       {"stand", "crossed"},
       {"de pie", "cruzadas"}},
      {"bananas (potassium)",
       "leg-cramps",
       "eat-bananas",
       {"banana", "potassium"},
       {"plátano", "potasio"}},
      {"supplements only after asking a doctor",
       "leg-cramps",
       "ask-before-supplements",
       {"calcium", "magnesium", "vitamin", "ask"},
       {"calcio", "magnesio", "vitaminas", "consúltelo"}},
      {"drink plenty of water",
       "leg-cramps",
       "drink-plenty",
       {"drink", "2.3 litres"},
       {"beba", "2,3 litros"}},
      {"relaxation such as meditation", "leg-cramps", "relax", {"meditation"}, {"meditación"}},
      {"warm bath before sleep",
       "leg-cramps",
       "warm-bath-before-bed",
       {"warm", "bath", "bed"},
       {"baño", "templado", "acostarse"}},
      {"avoid over-tiredness", "leg-cramps", "avoid-over-tiredness", {"overtired"}, {"agotarse"}},
      {"lie on the left side", "leg-cramps", "lie-on-left-side", {"left side"}, {"lado izquierdo"}},
      // Clinical knowledge beyond the seed.
      {"quinine is not for pregnancy",
       "leg-cramps",
       "no-quinine",
       {"quinine", "not safe"},
       {"quinina", "no es segura"}},
      {"hydration default 2.3 L (EFSA)",
       "hydration",
       "how-much",
       {"2.3 litres", "EFSA"},
       {"2,3 litros", "EFSA"}},
      {"ask about an iron check for RLS",
       "restless-legs",
       "ask-about-iron",
       {"ferritin"},
       {"ferritina"}},
  };
  return kItems;
}

const v1::Tip* FindTip(const v1::Guidance& g, const std::string& tip_id) {
  for (const auto& s : g.sections()) {
    for (const auto& t : s.tips()) {
      if (t.tip_id() == tip_id) return &t;
    }
  }
  return nullptr;
}

TEST(SeedCoverageTest, EverySeedItemIsServedInEnglishAndSpanish) {
  for (const SeedItem& item : SeedItems()) {
    for (const std::string locale : {"en", "es"}) {
      v1::GetGuidanceRequest r;
      r.set_topic_id(item.topic_id);
      r.set_locale(locale);
      absl::StatusOr<v1::GetGuidanceResponse> resp = GetGuidance(EmbeddedCatalog(), r);
      ASSERT_TRUE(resp.ok()) << item.what << ": " << resp.status();
      const v1::Tip* tip = FindTip(resp->guidance(), item.tip_id);
      ASSERT_NE(tip, nullptr) << item.what << " (" << locale << ")";
      const std::string text = absl::AsciiStrToLower(tip->text() + " " + tip->evidence_note());
      for (const std::string& w : locale == "en" ? item.en_words : item.es_words) {
        EXPECT_NE(text.find(absl::AsciiStrToLower(w)), std::string::npos)
            << item.what << " (" << locale << "): '" << w << "' not in: " << tip->text();
      }
      EXPECT_NE(tip->evidence(), v1::EVIDENCE_LEVEL_UNSPECIFIED) << item.what;
    }
  }
}

TEST(SeedCoverageTest, SupplementsAreAskFirstWithHonestWeakEvidence) {
  for (const std::string locale : {"en", "es"}) {
    const v1::Guidance* g = EmbeddedCatalog().Find("leg-cramps", locale);
    ASSERT_NE(g, nullptr);
    const v1::Tip* tip = FindTip(*g, "ask-before-supplements");
    ASSERT_NE(tip, nullptr);
    EXPECT_TRUE(tip->ask_clinician_first());
    EXPECT_EQ(tip->evidence(), v1::EVIDENCE_LEVEL_LOW);
    EXPECT_THAT(tip->evidence_note(), ::testing::HasSubstr("Cochrane"));
    EXPECT_THAT(tip->evidence_note(), ::testing::HasSubstr("2021"));
    EXPECT_THAT(tip->evidence_note(), ::testing::HasSubstr("332"));
  }
}

TEST(SeedCoverageTest, NoSupplementOrMedicineTipWithoutAskingFirst) {
  // Anything that names a supplement or medicine to take must be an ask-first tip.
  const std::vector<std::string> kWords = {"supplement", "tablet", "suplemento",
                                           "pastillas de hierro"};
  for (const std::string& topic : EmbeddedCatalog().topic_ids()) {
    for (const std::string& locale : EmbeddedCatalog().locales()) {
      for (const auto& s : EmbeddedCatalog().Find(topic, locale)->sections()) {
        for (const auto& t : s.tips()) {
          const std::string text = absl::AsciiStrToLower(t.text());
          for (const std::string& w : kWords) {
            if (text.find(w) != std::string::npos) {
              EXPECT_TRUE(t.ask_clinician_first()) << topic << "/" << locale << " " << t.tip_id();
            }
          }
        }
      }
    }
  }
}

TEST(SeedCoverageTest, EveryTopicTellsWhenToCallForHelp) {
  // Every topic, in every locale, has a when-to-get-help tip that calls for help now (urgent) or
  // the emergency number (tests/contract checks that the words and triage agree with its level).
  for (const std::string& topic : EmbeddedCatalog().topic_ids()) {
    for (const std::string& locale : EmbeddedCatalog().locales()) {
      bool ok = false;
      for (const auto& s : EmbeddedCatalog().Find(topic, locale)->sections()) {
        if (s.kind() != v1::SECTION_KIND_WHEN_TO_GET_HELP) continue;
        for (const auto& t : s.tips()) ok |= t.care_level() >= v1::CARE_LEVEL_URGENT;
      }
      EXPECT_TRUE(ok) << topic << "/" << locale;
    }
  }
}

}  // namespace
}  // namespace legwise::content
