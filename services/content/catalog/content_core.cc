#include "services/content/catalog/content_core.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "services/content/catalog/codes.h"
#include "services/content/catalog/hash.h"
#include "services/content/catalog/locale.h"
#include "services/content/catalog/page_token.h"

namespace legwise::content {
namespace {

bool IsTopicIdShape(absl::string_view s) {
  if (s.empty() || s.size() > kMaxTopicIdLength) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
  });
}

bool NoteApplies(const internal::PersonalNote& note, const Personalization& p,
                 absl::string_view topic_id) {
  if (!note.topic_ids().empty() && std::find(note.topic_ids().begin(), note.topic_ids().end(),
                                             topic_id) == note.topic_ids().end()) {
    return false;
  }
  switch (note.trigger()) {
    case internal::NOTE_TRIGGER_FIRST_TRIMESTER:
      return p.trimester == 1;
    case internal::NOTE_TRIGGER_SECOND_TRIMESTER:
      return p.trimester == 2;
    case internal::NOTE_TRIGGER_THIRD_TRIMESTER:
      return p.trimester == 3;
    case internal::NOTE_TRIGGER_POSTPARTUM:
      return p.postpartum && (note.max_postpartum_weeks() == 0 ||
                              p.postpartum_weeks <= note.max_postpartum_weeks());
    case internal::NOTE_TRIGGER_STANDS_FOR_LONG_PERIODS:
      return p.stands_for_long_periods;
    default:
      return false;
  }
}

// Moves the standing-worker tips to the front of their sections (in the index's order), and the
// sections holding them right after the ABOUT sections, so a standing worker reads them first.
void PutStandingWorkerTipsFirst(const Catalog& catalog, v1::Guidance* g) {
  const auto& priority = catalog.index().standing_worker_tip_ids();
  auto rank = [&priority](const v1::Tip& t) {
    auto it = std::find(priority.begin(), priority.end(), t.tip_id());
    return it == priority.end() ? priority.size() : static_cast<size_t>(it - priority.begin());
  };
  std::vector<v1::Section> about, standing, rest;
  for (v1::Section& s : *g->mutable_sections()) {
    std::vector<v1::Tip> tips(s.tips().begin(), s.tips().end());
    std::stable_sort(tips.begin(), tips.end(),
                     [&](const v1::Tip& a, const v1::Tip& b) { return rank(a) < rank(b); });
    bool has_standing = !tips.empty() && rank(tips.front()) < static_cast<size_t>(priority.size());
    s.clear_tips();
    for (v1::Tip& t : tips) *s.add_tips() = std::move(t);
    if (s.kind() == v1::SECTION_KIND_ABOUT) {
      about.push_back(std::move(s));
    } else if (has_standing) {
      standing.push_back(std::move(s));
    } else {
      rest.push_back(std::move(s));
    }
  }
  g->clear_sections();
  for (auto* group : {&about, &standing, &rest}) {
    for (v1::Section& s : *group) *g->add_sections() = std::move(s);
  }
}

}  // namespace

std::string Personalization::Key() const {
  std::string k;
  if (trimester > 0) absl::StrAppend(&k, "t", trimester);
  if (postpartum) absl::StrAppend(&k, "pp", postpartum_weeks);
  if (stands_for_long_periods) k += "s";
  return k.empty() ? "-" : k;
}

Personalization CheckPersonalContext(const v1::PersonalContext& context,
                                     absl::string_view field_prefix, FieldViolations* violations) {
  Personalization p;
  const int weeks = context.gestational_age_weeks();
  const int pp = context.postpartum_weeks();
  const std::string prefix = field_prefix.empty() ? "" : absl::StrCat(field_prefix, ".");
  if (weeks < 0 || weeks > 45) {
    violations->Add(absl::StrCat(prefix, "gestational_age_weeks"), "must be 0 (unknown) or 1..45");
  } else if (weeks > 0) {
    p.trimester = weeks < 14 ? 1 : (weeks < 28 ? 2 : 3);
  }
  if (pp < 0 || pp > 52) {
    violations->Add(absl::StrCat(prefix, "postpartum_weeks"),
                    "must be 0 (not postpartum) or 1..52");
  } else if (pp > 0) {
    p.postpartum = true;
    p.postpartum_weeks = pp;
  }
  if (weeks != 0 && pp != 0) {
    violations->Add(absl::StrCat(prefix, "postpartum_weeks"),
                    "cannot be set together with gestational_age_weeks");
  }
  p.stands_for_long_periods = context.stands_for_long_periods();
  return p;
}

std::string CheckLocale(const Catalog& catalog, absl::string_view locale, absl::string_view field,
                        FieldViolations* violations) {
  if (!IsWellFormedLocale(locale)) {
    violations->Add(
        std::string(field),
        "must be a BCP-47 language tag such as \"es\" or \"es-MX\" (at most 35 characters)");
  }
  return ServedLocale(locale, catalog.locales());
}

std::string GuidanceKey::CacheKey() const {
  return absl::StrCat("g|", topic_id, "|", locale, "|", personalization.Key());
}

std::string LookupKey::CacheKey() const {
  return absl::StrCat("c|", CodeSystemName(system), "|", normalized_code, "|", locale, "|",
                      personalization.Key());
}

absl::StatusOr<GuidanceKey> PrepareGetGuidance(const Catalog& catalog,
                                               const v1::GetGuidanceRequest& request) {
  FieldViolations v;
  GuidanceKey key;
  if (request.topic_id().empty()) {
    v.Add("topic_id", "is required");
  } else if (!IsTopicIdShape(request.topic_id())) {
    v.Add("topic_id", "must be lower-case letters, digits and '-', at most 64 characters");
  }
  key.locale = CheckLocale(catalog, request.locale(), "locale", &v);
  key.personalization = CheckPersonalContext(request.context(), "context", &v);
  if (request.if_none_match().size() > kMaxEtagLength) {
    v.Add("if_none_match", "is longer than any etag this server issues");
  }
  if (!v.empty()) return v.ToStatus();
  if (!catalog.HasTopic(request.topic_id())) {
    return absl::NotFoundError("no such topic");
  }
  key.topic_id = request.topic_id();
  return key;
}

std::string ComputeEtag(absl::string_view version, const GuidanceKey& key) {
  uint64_t h = kFnvOffset;
  // Held in a local: a view of the temporary Key() inside the list below would dangle.
  const std::string personalization = key.personalization.Key();
  for (absl::string_view part :
       {absl::string_view("etag.v1"), version, absl::string_view(key.topic_id),
        absl::string_view(key.locale), absl::string_view(personalization)}) {
    h = FnvAdd(h, part);
  }
  return absl::StrCat("\"", Hex64(h), "\"");
}

absl::StatusOr<v1::Guidance> RenderGuidance(const Catalog& catalog, const GuidanceKey& key) {
  const v1::Guidance* stored = catalog.Find(key.topic_id, key.locale);
  if (stored == nullptr) return absl::NotFoundError("no such topic");
  v1::Guidance g = *stored;
  if (key.personalization.stands_for_long_periods) PutStandingWorkerTipsFirst(catalog, &g);
  // Notes in index order; the index lists trimester and postpartum notes before standing ones.
  for (const internal::PersonalNote& note : catalog.index().personal_notes()) {
    if (!NoteApplies(note, key.personalization, key.topic_id)) continue;
    for (const internal::LocalizedText& t : note.texts()) {
      if (t.locale() == key.locale) g.add_personal_notes(t.text());
    }
  }
  g.set_locale(key.locale);
  g.set_version(catalog.version());
  g.set_etag(ComputeEtag(catalog.version(), key));
  for (std::string& c : catalog.CodesForTopic(key.topic_id)) g.add_codes(std::move(c));
  return g;
}

absl::StatusOr<v1::GetGuidanceResponse> GetGuidance(const Catalog& catalog,
                                                    const v1::GetGuidanceRequest& request) {
  absl::StatusOr<GuidanceKey> key = PrepareGetGuidance(catalog, request);
  if (!key.ok()) return key.status();
  v1::GetGuidanceResponse response;
  if (!request.if_none_match().empty() &&
      request.if_none_match() == ComputeEtag(catalog.version(), *key)) {
    response.set_not_modified(true);
    return response;
  }
  absl::StatusOr<v1::Guidance> g = RenderGuidance(catalog, *key);
  if (!g.ok()) return g.status();
  *response.mutable_guidance() = std::move(*g);
  return response;
}

absl::StatusOr<LookupKey> PrepareLookup(const Catalog& catalog,
                                        const v1::LookupGuidanceByCodeRequest& request) {
  FieldViolations v;
  LookupKey key;
  key.system = request.code_system();
  if (key.system != v1::CODE_SYSTEM_ICD10CM && key.system != v1::CODE_SYSTEM_SNOMEDCT) {
    v.Add("code_system", "must be CODE_SYSTEM_ICD10CM or CODE_SYSTEM_SNOMEDCT");
  } else {
    absl::StatusOr<std::string> code = NormalizeCode(key.system, request.code());
    if (code.ok()) {
      key.normalized_code = *std::move(code);
    } else {
      v.Add("code", std::string(code.status().message()));
    }
  }
  key.locale = CheckLocale(catalog, request.locale(), "locale", &v);
  key.personalization = CheckPersonalContext(request.context(), "context", &v);
  if (!v.empty()) return v.ToStatus();
  return key;
}

std::vector<std::string> MatchTopics(const Catalog& catalog, const LookupKey& key) {
  std::vector<std::string> out;
  for (const std::string& code : CodeAndParents(key.system, key.normalized_code)) {
    const std::vector<std::string>* topics = catalog.TopicsForCode(key.system, code);
    if (topics == nullptr) continue;
    for (const std::string& t : *topics) {
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    }
  }
  return out;
}

absl::StatusOr<v1::LookupGuidanceByCodeResponse> RenderLookup(const Catalog& catalog,
                                                              const LookupKey& key) {
  v1::LookupGuidanceByCodeResponse response;
  response.set_normalized_code(key.normalized_code);
  for (const std::string& topic : MatchTopics(catalog, key)) {
    absl::StatusOr<v1::Guidance> g =
        RenderGuidance(catalog, GuidanceKey{topic, key.locale, key.personalization});
    if (!g.ok()) return g.status();
    *response.add_guidance() = std::move(*g);
  }
  return response;
}

absl::StatusOr<v1::LookupGuidanceByCodeResponse> LookupGuidanceByCode(
    const Catalog& catalog, const v1::LookupGuidanceByCodeRequest& request) {
  absl::StatusOr<LookupKey> key = PrepareLookup(catalog, request);
  if (!key.ok()) return key.status();
  return RenderLookup(catalog, *key);
}

absl::StatusOr<v1::ListTopicsResponse> ListTopics(const Catalog& catalog,
                                                  const v1::ListTopicsRequest& request) {
  FieldViolations v;
  if (request.page_size() < 0) v.Add("page_size", "must not be negative");
  const std::string locale = CheckLocale(catalog, request.locale(), "locale", &v);
  std::string after;
  if (!request.page_token().empty()) {
    absl::StatusOr<internal::PageToken> token = DecodePageToken(request.page_token());
    if (!token.ok()) {
      v.Add("page_token", std::string(token.status().message()));
    } else if (token->locale() != locale) {
      v.Add("page_token", "was issued for another locale");
    } else {
      after = token->last_topic_id();
    }
  }
  if (!v.empty()) return v.ToStatus();
  const int size =
      request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);

  // Topics are served sorted by id, so a token (the last id served) stays valid across reloads.
  std::vector<std::string> ids = catalog.topic_ids();
  std::sort(ids.begin(), ids.end());
  auto it = after.empty() ? ids.begin() : std::upper_bound(ids.begin(), ids.end(), after);
  v1::ListTopicsResponse response;
  response.set_locale(locale);
  for (; it != ids.end() && response.topics_size() < size; ++it) {
    const v1::Guidance* g = catalog.Find(*it, locale);
    if (g == nullptr) continue;
    v1::TopicSummary* s = response.add_topics();
    s->set_topic_id(*it);
    s->set_title(g->title());
  }
  if (it != ids.end() && response.topics_size() > 0) {
    internal::PageToken next;
    next.set_last_topic_id(response.topics(response.topics_size() - 1).topic_id());
    next.set_locale(locale);
    next.set_version(catalog.version());
    response.set_next_page_token(EncodePageToken(next));
  }
  return response;
}

absl::StatusOr<v1::ListNudgeTextsResponse> ListNudgeTexts(
    const Catalog& catalog, const v1::ListNudgeTextsRequest& request) {
  FieldViolations v;
  const std::string locale = CheckLocale(catalog, request.locale(), "locale", &v);
  if (!v.empty()) return v.ToStatus();
  const internal::NudgeTextSet* set = catalog.NudgeTexts(locale);
  if (set == nullptr) return absl::InternalError("catalog has no nudge texts for the locale");
  v1::ListNudgeTextsResponse response;
  response.set_locale(locale);
  response.set_version(catalog.version());
  *response.mutable_nudge_texts() = set->nudge_texts();
  return response;
}

}  // namespace legwise::content
