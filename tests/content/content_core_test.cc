// GetGuidance, LookupGuidanceByCode, ListTopics and ListNudgeTexts against the embedded catalog:
// locale fallback, validation, personalization, etags, the code table and paging.
#include "services/content/catalog/content_core.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/content/catalog/page_token.h"
#include "tests/content/test_util.h"

namespace legwise::content {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using testing::EmbeddedCatalog;
using ::testing::IsEmpty;
using testing::PinnedTopics;
using ::testing::UnorderedElementsAre;
using testing::ViolatedFields;

v1::GetGuidanceRequest Req(const std::string& topic, const std::string& locale = "") {
  v1::GetGuidanceRequest r;
  r.set_topic_id(topic);
  r.set_locale(locale);
  return r;
}

std::multiset<std::string> TipIds(const v1::Guidance& g) {
  std::multiset<std::string> out;
  for (const auto& s : g.sections()) {
    for (const auto& t : s.tips()) out.insert(t.tip_id());
  }
  return out;
}

// ---- Locale ----

TEST(LocaleTest, FallbackAndNormalization) {
  const std::pair<const char*, const char*> kCases[] = {
      {"", "en"},      {"en", "en"},         {"es", "es"},    {"es-MX", "es"},
      {"ES", "es"},    {"es_419", "es"},     {"en-GB", "en"}, {"fr", "en"},
      {"fr-CA", "en"}, {"zh-Hant-TW", "en"}, {"pt-BR", "en"}, {"spa", "en"}};
  for (const auto& [asked, served] : kCases) {
    absl::StatusOr<v1::GetGuidanceResponse> r =
        GetGuidance(EmbeddedCatalog(), Req("leg-cramps", asked));
    ASSERT_TRUE(r.ok()) << asked << ": " << r.status();
    EXPECT_EQ(r->guidance().locale(), served) << asked;
    EXPECT_EQ(r->guidance().title(), EmbeddedCatalog().Find("leg-cramps", served)->title());
  }
}

TEST(LocaleTest, MalformedLocaleIsInvalidArgument) {
  for (const std::string& bad :
       std::vector<std::string>{"e", "english!", "es--MX", "-es", "es-", "12",
                                "es-MX-toolongsubtag", std::string(36, 'a'), "es MX", "ñ"}) {
    absl::StatusOr<v1::GetGuidanceResponse> r =
        GetGuidance(EmbeddedCatalog(), Req("leg-cramps", bad));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(ViolatedFields(r.status()), ElementsAre("locale")) << bad;
  }
  // 35 characters is still fine.
  std::string longest = "en-" + std::string(8, 'a') + "-" + std::string(8, 'b') + "-" +
                        std::string(8, 'c') + "-" + std::string(5, 'd');
  ASSERT_EQ(longest.size(), 35u);
  EXPECT_TRUE(GetGuidance(EmbeddedCatalog(), Req("leg-cramps", longest)).ok());
}

// ---- GetGuidance validation ----

TEST(GetGuidanceTest, UnknownTopicIsNotFoundMalformedIsInvalid) {
  EXPECT_EQ(GetGuidance(EmbeddedCatalog(), Req("no-such-topic")).status().code(),
            absl::StatusCode::kNotFound);
  for (const std::string& bad : std::vector<std::string>{"", "Leg-Cramps", "leg cramps",
                                                         "leg_cramps", std::string(65, 'a')}) {
    absl::Status s = GetGuidance(EmbeddedCatalog(), Req(bad)).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(ViolatedFields(s), ElementsAre("topic_id")) << bad;
  }
}

TEST(GetGuidanceTest, PersonalContextRangesAreCheckedWithPaths) {
  struct Case {
    int weeks, postpartum;
    std::set<std::string> fields;
  };
  const Case kCases[] = {
      {-1, 0, {"context.gestational_age_weeks"}},
      {46, 0, {"context.gestational_age_weeks"}},
      {0, -1, {"context.postpartum_weeks"}},
      {0, 53, {"context.postpartum_weeks"}},
      {20, 4, {"context.postpartum_weeks"}},
      {50, 60, {"context.gestational_age_weeks", "context.postpartum_weeks"}},
  };
  for (const Case& c : kCases) {
    v1::GetGuidanceRequest r = Req("leg-cramps", "bad!");
    r.mutable_context()->set_gestational_age_weeks(c.weeks);
    r.mutable_context()->set_postpartum_weeks(c.postpartum);
    absl::Status s = GetGuidance(EmbeddedCatalog(), r).status();
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    std::set<std::string> want = c.fields;
    want.insert("locale");  // every problem is reported at once
    EXPECT_EQ(ViolatedFields(s), want) << c.weeks << " " << c.postpartum;
  }
  for (int weeks : {0, 1, 13, 14, 27, 28, 45}) {
    v1::GetGuidanceRequest r = Req("leg-cramps");
    r.mutable_context()->set_gestational_age_weeks(weeks);
    EXPECT_TRUE(GetGuidance(EmbeddedCatalog(), r).ok()) << weeks;
  }
}

// ---- Personalization ----

v1::Guidance Render(const std::string& topic, const std::string& locale, int weeks, int postpartum,
                    bool standing) {
  v1::GetGuidanceRequest r = Req(topic, locale);
  r.mutable_context()->set_gestational_age_weeks(weeks);
  r.mutable_context()->set_postpartum_weeks(postpartum);
  r.mutable_context()->set_stands_for_long_periods(standing);
  absl::StatusOr<v1::GetGuidanceResponse> resp = GetGuidance(EmbeddedCatalog(), r);
  EXPECT_TRUE(resp.ok()) << resp.status();
  return resp.ok() ? resp->guidance() : v1::Guidance();
}

TEST(PersonalizationTest, StandingWorkerTipsComeFirst) {
  // The seed's waitress: third pregnancy, cramps worst at work.
  const auto& priority = EmbeddedCatalog().index().standing_worker_tip_ids();
  for (const std::string locale : {"en", "es"}) {
    v1::Guidance plain = Render("leg-cramps", locale, 30, 0, false);
    v1::Guidance worker = Render("leg-cramps", locale, 30, 0, true);
    ASSERT_GE(worker.sections_size(), 2);
    EXPECT_EQ(worker.sections(0).kind(), v1::SECTION_KIND_ABOUT);
    const v1::Section& first = worker.sections(1);
    EXPECT_EQ(first.kind(), v1::SECTION_KIND_SELF_CARE);
    std::vector<std::string> lead;
    for (int i = 0; i < 3; ++i) lead.push_back(first.tips(i).tip_id());
    EXPECT_THAT(lead, ElementsAre("movement-breaks-at-work", "avoid-long-standing",
                                  "calf-raises-while-standing"));
    for (const std::string& id : lead) EXPECT_THAT(priority, Contains(id));
    // The plain version keeps the catalog's order: causes before self-care.
    EXPECT_EQ(plain.sections(1).kind(), v1::SECTION_KIND_CAUSES);
    EXPECT_NE(plain.sections(2).tips(0).tip_id(), "movement-breaks-at-work");
    // A standing-worker note is added in the served locale.
    EXPECT_EQ(worker.personal_notes_size(), plain.personal_notes_size() + 1);
  }
}

TEST(PersonalizationTest, TrimesterAndPostpartumNotes) {
  auto notes = [](int weeks, int pp) {
    return Render("leg-cramps", "en", weeks, pp, false).personal_notes();
  };
  EXPECT_THAT(notes(0, 0), IsEmpty());
  ASSERT_EQ(notes(8, 0).size(), 1);
  ASSERT_EQ(notes(20, 0).size(), 1);
  ASSERT_EQ(notes(32, 0).size(), 1);
  EXPECT_NE(notes(8, 0)[0], notes(20, 0)[0]);
  EXPECT_NE(notes(20, 0)[0], notes(32, 0)[0]);
  EXPECT_THAT(notes(32, 0)[0], ::testing::HasSubstr("night"));
  // Trimester boundaries (ICD-10-CM): 13 -> 1st, 14 -> 2nd, 27 -> 2nd, 28 -> 3rd.
  EXPECT_EQ(notes(13, 0)[0], notes(1, 0)[0]);
  EXPECT_EQ(notes(14, 0)[0], notes(27, 0)[0]);
  EXPECT_EQ(notes(28, 0)[0], notes(45, 0)[0]);
  // Postpartum: the clot note on the clot topic, in Spanish too.
  v1::Guidance pp = Render("blood-clot-warning-signs", "es", 0, 3, false);
  ASSERT_EQ(pp.personal_notes_size(), 1);
  EXPECT_THAT(pp.personal_notes(0), ::testing::HasSubstr("12"));
  // Postpartum notes hold only for the weeks their sources say: the raised clot risk to 12 weeks,
  // pre-eclampsia to 6.
  EXPECT_EQ(Render("blood-clot-warning-signs", "en", 0, 12, false).personal_notes_size(), 1);
  EXPECT_EQ(Render("blood-clot-warning-signs", "en", 0, 13, false).personal_notes_size(), 0);
  EXPECT_EQ(Render("pre-eclampsia-warning-signs", "en", 0, 6, false).personal_notes_size(), 1);
  EXPECT_EQ(Render("pre-eclampsia-warning-signs", "en", 0, 7, false).personal_notes_size(), 0);
}

// Property: personalization only reorders and annotates; it never drops or adds a tip, never drops
// the when-to-get-help section, and every topic and locale renders for every context.
TEST(PersonalizationTest, NeverDropsTipsForAnyContext) {
  const Catalog& c = EmbeddedCatalog();
  for (const std::string& topic : c.topic_ids()) {
    for (const std::string& locale : c.locales()) {
      const std::multiset<std::string> base = TipIds(*c.Find(topic, locale));
      for (int weeks : {0, 5, 20, 35}) {
        for (int pp : {0, 6}) {
          if (weeks && pp) continue;
          for (bool standing : {false, true}) {
            v1::Guidance g = Render(topic, locale, weeks, pp, standing);
            EXPECT_EQ(TipIds(g), base) << topic << " " << locale;
            EXPECT_TRUE(std::any_of(g.sections().begin(), g.sections().end(), [](const auto& s) {
              return s.kind() == v1::SECTION_KIND_WHEN_TO_GET_HELP;
            }));
            EXPECT_EQ(g.locale(), locale);
            EXPECT_EQ(g.version(), c.version());
            EXPECT_FALSE(g.etag().empty());
            for (const std::string& n : g.personal_notes()) EXPECT_FALSE(n.empty());
          }
        }
      }
    }
  }
}

// ---- Etags ----

TEST(EtagTest, IfNoneMatchAnswersNotModifiedWithoutABody) {
  v1::GetGuidanceRequest r = Req("leg-cramps", "es-MX");
  r.mutable_context()->set_stands_for_long_periods(true);
  absl::StatusOr<v1::GetGuidanceResponse> first = GetGuidance(EmbeddedCatalog(), r);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->not_modified());
  const std::string etag = first->guidance().etag();

  r.set_if_none_match(etag);
  absl::StatusOr<v1::GetGuidanceResponse> second = GetGuidance(EmbeddedCatalog(), r);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->not_modified());
  EXPECT_FALSE(second->has_guidance());

  // A different personalization or locale has a different body, so the old etag does not match.
  r.mutable_context()->set_stands_for_long_periods(false);
  absl::StatusOr<v1::GetGuidanceResponse> third = GetGuidance(EmbeddedCatalog(), r);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->not_modified());
  EXPECT_NE(third->guidance().etag(), etag);

  r.set_if_none_match("\"0000000000000000\"");
  EXPECT_FALSE(GetGuidance(EmbeddedCatalog(), r)->not_modified());
}

TEST(EtagTest, DeterministicAndSensitiveToEveryInput) {
  const GuidanceKey base{"leg-cramps", "en", Personalization{3, false, true}};
  EXPECT_EQ(ComputeEtag("v1", base), ComputeEtag("v1", base));
  std::set<std::string> etags = {ComputeEtag("v1", base), ComputeEtag("v2", base)};
  GuidanceKey k = base;
  k.topic_id = "swelling";
  etags.insert(ComputeEtag("v1", k));
  k = base;
  k.locale = "es";
  etags.insert(ComputeEtag("v1", k));
  k = base;
  k.personalization.trimester = 2;
  etags.insert(ComputeEtag("v1", k));
  k = base;
  k.personalization.stands_for_long_periods = false;
  etags.insert(ComputeEtag("v1", k));
  EXPECT_EQ(etags.size(), 6u);
  // Same trimester bucket, same body, same etag; the etag equals the rendered body's.
  EXPECT_EQ(Render("leg-cramps", "en", 30, 0, false).etag(),
            Render("leg-cramps", "en", 31, 0, false).etag());
  EXPECT_EQ(Render("leg-cramps", "en", 30, 0, true).etag(),
            ComputeEtag(EmbeddedCatalog().version(), base));
}

TEST(EtagTest, OverlongIfNoneMatchIsInvalid) {
  v1::GetGuidanceRequest r = Req("leg-cramps");
  r.set_if_none_match(std::string(200, 'x'));
  EXPECT_THAT(ViolatedFields(GetGuidance(EmbeddedCatalog(), r).status()),
              ElementsAre("if_none_match"));
}

// ---- Code lookup ----

std::vector<std::string> LookupTopics(v1::CodeSystem sys, const std::string& code,
                                      const std::string& locale = "en",
                                      std::string* normalized = nullptr) {
  v1::LookupGuidanceByCodeRequest r;
  r.set_code_system(sys);
  r.set_code(code);
  r.set_locale(locale);
  absl::StatusOr<v1::LookupGuidanceByCodeResponse> resp =
      LookupGuidanceByCode(EmbeddedCatalog(), r);
  EXPECT_TRUE(resp.ok()) << code << ": " << resp.status();
  std::vector<std::string> out;
  if (!resp.ok()) return out;
  if (normalized) *normalized = resp->normalized_code();
  for (const auto& g : resp->guidance()) {
    EXPECT_EQ(g.locale(), locale == "es" ? "es" : "en");
    EXPECT_FALSE(g.sections().empty());
    out.push_back(g.topic_id());
  }
  return out;
}

TEST(LookupTest, CodeTable) {
  using v1::CODE_SYSTEM_ICD10CM;
  using v1::CODE_SYSTEM_SNOMEDCT;
  struct Case {
    v1::CodeSystem sys;
    const char* code;
    const char* first_topic;
  };
  const Case kCases[] = {
      {CODE_SYSTEM_ICD10CM, "R25.2", "leg-cramps"},
      {CODE_SYSTEM_ICD10CM, "G47.62", "leg-cramps"},
      {CODE_SYSTEM_ICD10CM, "G25.81", "restless-legs"},
      {CODE_SYSTEM_ICD10CM, "O99.35", "restless-legs"},
      {CODE_SYSTEM_ICD10CM, "O99.351", "restless-legs"},
      {CODE_SYSTEM_ICD10CM, "O22.30", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "O22.31", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "O22.32", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "O22.33", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "O87.1", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "O22.23", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "O22.03", "swelling"},
      {CODE_SYSTEM_ICD10CM, "O14.13", "pre-eclampsia-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "O14", "pre-eclampsia-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "L03.115", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "L03.116", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "L03.119", "blood-clot-warning-signs"},
      {CODE_SYSTEM_ICD10CM, "R60.0", "swelling"},
      {CODE_SYSTEM_SNOMEDCT, "55300003", "leg-cramps"},
      {CODE_SYSTEM_SNOMEDCT, "449918009", "leg-cramps"},
      {CODE_SYSTEM_SNOMEDCT, "32914008", "restless-legs"},
      {CODE_SYSTEM_SNOMEDCT, "128053003", "blood-clot-warning-signs"},
      {CODE_SYSTEM_SNOMEDCT, "404223003", "blood-clot-warning-signs"},
      {CODE_SYSTEM_SNOMEDCT, "59282003", "blood-clot-warning-signs"},
  };
  for (const Case& c : kCases) {
    for (const std::string locale : {"en", "es"}) {
      std::vector<std::string> topics = LookupTopics(c.sys, c.code, locale);
      ASSERT_FALSE(topics.empty()) << c.code;
      EXPECT_EQ(topics.front(), c.first_topic) << c.code;
      EXPECT_EQ(std::set<std::string>(topics.begin(), topics.end()).size(), topics.size());
    }
  }
}

TEST(LookupTest, ParentsMatchAndCodesNormalize) {
  std::string normalized;
  EXPECT_THAT(LookupTopics(v1::CODE_SYSTEM_ICD10CM, "o2233", "en", &normalized),
              ElementsAre("blood-clot-warning-signs"));
  EXPECT_EQ(normalized, "O22.33");
  for (const char* spelling : {"R252", "r25.2", "r252", " R25.2 "}) {
    EXPECT_THAT(LookupTopics(v1::CODE_SYSTEM_ICD10CM, spelling, "en", &normalized),
                ElementsAre("leg-cramps", "stretching"));
    EXPECT_EQ(normalized, "R25.2");
  }
  // O22.4 (haemorrhoids in pregnancy) shares the O22 category but is not a clot.
  EXPECT_THAT(LookupTopics(v1::CODE_SYSTEM_ICD10CM, "O22.43"), IsEmpty());
}

TEST(LookupTest, UnknownWellFormedCodeAnswersEmpty) {
  std::string normalized;
  EXPECT_THAT(LookupTopics(v1::CODE_SYSTEM_ICD10CM, "J45.909", "en", &normalized), IsEmpty());
  EXPECT_EQ(normalized, "J45.909");
  EXPECT_THAT(LookupTopics(v1::CODE_SYSTEM_SNOMEDCT, "195967001"), IsEmpty());
}

TEST(LookupTest, MalformedCodeIsInvalidArgumentOnFieldCode) {
  v1::LookupGuidanceByCodeRequest r;
  r.set_code_system(v1::CODE_SYSTEM_ICD10CM);
  for (const char* bad : {"", "R2", "R25..2", "hello", "128053003"}) {
    r.set_code(bad);
    absl::Status s = LookupGuidanceByCode(EmbeddedCatalog(), r).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(ViolatedFields(s), ElementsAre("code")) << bad;
  }
  r.set_code("R25.2");
  r.set_code_system(v1::CODE_SYSTEM_UNSPECIFIED);
  EXPECT_THAT(ViolatedFields(LookupGuidanceByCode(EmbeddedCatalog(), r).status()),
              ElementsAre("code_system"));
  r.set_code_system(v1::CODE_SYSTEM_SNOMEDCT);
  r.set_code("R25.2");
  r.set_locale("x");
  EXPECT_THAT(ViolatedFields(LookupGuidanceByCode(EmbeddedCatalog(), r).status()),
              UnorderedElementsAre("code", "locale"));
}

TEST(LookupTest, GuidanceCarriesItsCodesAndTheSameEtagAsGetGuidance) {
  v1::LookupGuidanceByCodeRequest r;
  r.set_code_system(v1::CODE_SYSTEM_ICD10CM);
  r.set_code("O22.33");
  r.set_locale("es");
  r.mutable_context()->set_gestational_age_weeks(34);
  absl::StatusOr<v1::LookupGuidanceByCodeResponse> resp =
      LookupGuidanceByCode(EmbeddedCatalog(), r);
  ASSERT_TRUE(resp.ok());
  ASSERT_EQ(resp->guidance_size(), 1);
  EXPECT_THAT(resp->guidance(0).codes(), Contains("ICD10CM:O22.3"));
  EXPECT_THAT(resp->guidance(0).codes(), Contains("SNOMEDCT:128053003"));
  EXPECT_EQ(resp->guidance(0).etag(),
            Render("blood-clot-warning-signs", "es", 34, 0, false).etag());
}

// ---- ListTopics ----

TEST(ListTopicsTest, PagesCoverEveryTopicOnceForEveryPageSize) {
  const Catalog& c = EmbeddedCatalog();
  std::vector<std::string> all = c.topic_ids();
  std::sort(all.begin(), all.end());
  for (int size = 1; size <= static_cast<int>(all.size()) + 1; ++size) {
    std::vector<std::string> seen;
    v1::ListTopicsRequest r;
    r.set_page_size(size);
    r.set_locale("es-AR");
    int pages = 0;
    do {
      absl::StatusOr<v1::ListTopicsResponse> resp = ListTopics(c, r);
      ASSERT_TRUE(resp.ok()) << resp.status();
      EXPECT_EQ(resp->locale(), "es");
      EXPECT_LE(resp->topics_size(), size);
      for (const auto& t : resp->topics()) {
        seen.push_back(t.topic_id());
        EXPECT_EQ(t.title(), c.Find(t.topic_id(), "es")->title());
      }
      r.set_page_token(resp->next_page_token());
      ASSERT_LT(++pages, 100);
    } while (!r.page_token().empty());
    EXPECT_EQ(seen, all) << "page size " << size;
    EXPECT_EQ(pages, (static_cast<int>(all.size()) + size - 1) / size);
  }
}

TEST(ListTopicsTest, DefaultAndMaximumPageSize) {
  v1::ListTopicsRequest r;
  absl::StatusOr<v1::ListTopicsResponse> resp = ListTopics(EmbeddedCatalog(), r);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->topics_size(), static_cast<int>(EmbeddedCatalog().topic_ids().size()));
  EXPECT_TRUE(resp->next_page_token().empty());
  EXPECT_EQ(resp->locale(), "en");
  r.set_page_size(1000000);
  EXPECT_TRUE(ListTopics(EmbeddedCatalog(), r).ok());
  r.set_page_size(-1);
  absl::Status s = ListTopics(EmbeddedCatalog(), r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("page_size"));
}

TEST(ListTopicsTest, TamperedOrForeignTokensAreRejected) {
  v1::ListTopicsRequest r;
  r.set_page_size(2);
  absl::StatusOr<v1::ListTopicsResponse> first = ListTopics(EmbeddedCatalog(), r);
  ASSERT_TRUE(first.ok());
  const std::string token = first->next_page_token();
  ASSERT_FALSE(token.empty());

  // Every single-character edit is caught.
  const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = 0; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = kAlphabet[(kAlphabet.find(bad[i]) + 1) % kAlphabet.size()];
    r.set_page_token(bad);
    absl::Status s = ListTopics(EmbeddedCatalog(), r).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << i;
    EXPECT_THAT(ViolatedFields(s), ElementsAre("page_token"));
  }
  for (const std::string bad : {std::string("garbage"), token.substr(0, token.size() - 2),
                                token + "AA", std::string(600, 'A'), std::string("@@@")}) {
    r.set_page_token(bad);
    EXPECT_THAT(ViolatedFields(ListTopics(EmbeddedCatalog(), r).status()),
                ElementsAre("page_token"))
        << bad;
  }
  // A token for English is not valid for Spanish.
  r.set_page_token(token);
  r.set_locale("es");
  EXPECT_THAT(ViolatedFields(ListTopics(EmbeddedCatalog(), r).status()), ElementsAre("page_token"));
  r.set_locale("en-US");
  EXPECT_TRUE(ListTopics(EmbeddedCatalog(), r).ok());
}

TEST(ListTopicsTest, TokenRoundTrip) {
  internal::PageToken t;
  t.set_last_topic_id("leg-cramps");
  t.set_locale("es");
  t.set_version("x");
  absl::StatusOr<internal::PageToken> back = DecodePageToken(EncodePageToken(t));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->last_topic_id(), "leg-cramps");
  EXPECT_EQ(back->locale(), "es");
}

// ---- Nudge texts ----

TEST(NudgeTextsTest, EveryTypeInEveryLocale) {
  for (const auto& [asked, served] : std::vector<std::pair<std::string, std::string>>{
           {"", "en"}, {"es-MX", "es"}, {"de", "en"}}) {
    v1::ListNudgeTextsRequest r;
    r.set_locale(asked);
    absl::StatusOr<v1::ListNudgeTextsResponse> resp = ListNudgeTexts(EmbeddedCatalog(), r);
    ASSERT_TRUE(resp.ok());
    EXPECT_EQ(resp->locale(), served);
    EXPECT_EQ(resp->version(), EmbeddedCatalog().version());
    std::set<std::string> types;
    for (const auto& n : resp->nudge_texts()) {
      types.insert(n.nudge_type());
      EXPECT_FALSE(n.title().empty());
      EXPECT_LE(n.body().size(), 200u) << "nudges are short";
    }
    EXPECT_THAT(types, UnorderedElementsAre("hydration", "stretching", "movement_break",
                                            "bedtime_stretch"));
  }
  v1::ListNudgeTextsRequest bad;
  bad.set_locale("!!");
  EXPECT_THAT(ViolatedFields(ListNudgeTexts(EmbeddedCatalog(), bad).status()),
              ElementsAre("locale"));
}

}  // namespace
}  // namespace legwise::content
