#include "services/content/catalog/catalog.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "services/content/catalog/codes.h"
#include "services/content/catalog/embedded_catalog.h"
#include "services/content/catalog/hash.h"
#include "services/content/catalog/locale.h"

namespace legwise::content {

std::string Hex64(uint64_t v) { return absl::StrFormat("%016x", v); }

namespace {

// Collects parse errors with their line numbers instead of printing them to stderr.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (errors_.empty()) errors_ = absl::StrCat("line ", line + 1, ":", column + 1, ": ", message);
  }
  void AddWarning(int, int, const std::string&) override {}
  const std::string& error() const { return errors_; }

 private:
  std::string errors_;
};

template <typename M>
absl::Status ParseText(const std::string& path, const std::string& text, M* msg) {
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(text, msg)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", errors.error()));
  }
  return absl::OkStatus();
}

bool IsSlug(absl::string_view s) {
  if (s.empty() || s.size() > 64 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
  }
  return s.find("--") == absl::string_view::npos;
}

std::string CodeKey(v1::CodeSystem system, absl::string_view code) {
  return absl::StrCat(CodeSystemName(system), ":", code);
}

}  // namespace

CatalogFiles EmbeddedCatalogFileMap() {
  CatalogFiles files;
  for (const EmbeddedFile& f : EmbeddedCatalogFiles()) files[f.path] = f.contents;
  return files;
}

absl::StatusOr<CatalogFiles> ReadCatalogDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("catalog directory not found: ", dir));
  }
  CatalogFiles files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".textproto") continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    if (!in.good() && !in.eof()) {
      return absl::UnavailableError(absl::StrCat("cannot read ", it->path().string()));
    }
    files[fs::relative(it->path(), dir).generic_string()] = buf.str();
  }
  if (ec) return absl::UnavailableError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  return files;
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Parse(const CatalogFiles& files) {
  std::unique_ptr<Catalog> c(new Catalog());
  auto index_it = files.find(std::string(kIndexPath));
  if (index_it == files.end()) {
    return absl::InvalidArgumentError(absl::StrCat("catalog has no ", kIndexPath));
  }
  if (absl::Status s = ParseText(index_it->first, index_it->second, &c->index_); !s.ok()) return s;
  c->locales_.assign(c->index_.locales().begin(), c->index_.locales().end());
  c->topic_ids_.assign(c->index_.topic_ids().begin(), c->index_.topic_ids().end());
  std::set<std::string> locales(c->locales_.begin(), c->locales_.end());
  std::set<std::string> topics(c->topic_ids_.begin(), c->topic_ids_.end());

  uint64_t h = kFnvOffset;
  for (const auto& [path, text] : files) {
    h = FnvAdd(FnvAdd(h, path), text);
    if (path == kIndexPath) continue;
    size_t slash = path.find('/');
    constexpr absl::string_view kExt = ".textproto";
    if (slash == std::string::npos || path.size() <= kExt.size() ||
        path.substr(path.size() - kExt.size()) != kExt) {
      c->stray_files_.push_back(path);
      continue;
    }
    std::string locale = path.substr(0, slash);
    std::string topic = path.substr(slash + 1, path.size() - slash - 1 - kExt.size());
    if (!locales.count(locale) || !topics.count(topic)) {
      c->stray_files_.push_back(path);
      continue;
    }
    v1::Guidance g;
    if (absl::Status s = ParseText(path, text, &g); !s.ok()) return s;
    c->topics_[locale][topic] = std::move(g);
  }
  c->version_ = absl::StrCat(c->index_.release(), "-", Hex64(h).substr(0, 12));

  for (const internal::CodeEntry& e : c->index_.codes()) {
    std::vector<std::string>& ids = c->codes_[CodeKey(e.system(), e.code())];
    for (const std::string& t : e.topic_ids()) {
      if (std::find(ids.begin(), ids.end(), t) == ids.end()) ids.push_back(t);
    }
  }
  return c;
}

absl::StatusOr<std::shared_ptr<const Catalog>> Catalog::Load(const CatalogFiles& files) {
  absl::StatusOr<std::unique_ptr<Catalog>> c = Parse(files);
  if (!c.ok()) return c.status();
  std::vector<std::string> problems = (*c)->Problems();
  if (!problems.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "catalog has ", problems.size(), " problem(s): ", absl::StrJoin(problems, "; ")));
  }
  return std::shared_ptr<const Catalog>(std::move(*c));
}

std::vector<std::string> Catalog::Problems() const {
  std::vector<std::string> p;
  auto add = [&p](auto&&... parts) { p.push_back(absl::StrCat(parts...)); };

  if (index_.release().empty()) add("index: release is empty");
  if (locales_.empty()) add("index: no locales");
  std::set<std::string> seen;
  for (const std::string& l : locales_) {
    if (!seen.insert(l).second) add("index: locale listed twice: ", l);
    if (l.size() < 2 || l.size() > 3 ||
        !std::all_of(l.begin(), l.end(), [](char ch) { return absl::ascii_islower(ch); })) {
      add("index: locale is not a lower-case language subtag: ", l);
    }
  }
  seen.clear();
  if (topic_ids_.empty()) add("index: no topics");
  for (const std::string& t : topic_ids_) {
    if (!seen.insert(t).second) add("index: topic listed twice: ", t);
    if (!IsSlug(t)) add("index: malformed topic id: ", t);
  }
  for (const std::string& f : stray_files_) {
    add(f, ": not index.textproto nor <indexed locale>/<indexed topic>.textproto");
  }

  std::set<std::string> all_tip_ids;
  for (const std::string& locale : locales_) {
    for (const std::string& topic : topic_ids_) {
      const std::string where = absl::StrCat(locale, "/", topic);
      const v1::Guidance* g = Find(topic, locale);
      if (g == nullptr) {
        add(where, ": missing");
        continue;
      }
      if (g->topic_id() != topic) add(where, ": topic_id is '", g->topic_id(), "'");
      if (!g->locale().empty() && g->locale() != locale) add(where, ": locale field disagrees");
      if (!g->version().empty() || !g->etag().empty() || g->codes_size() > 0 ||
          g->personal_notes_size() > 0) {
        add(where,
            ": version, etag, codes and personal_notes are set when served, not in the file");
      }
      if (g->title().empty()) add(where, ": empty title");
      if (g->summary().empty()) add(where, ": empty summary");
      if (g->sources().empty()) add(where, ": no sources");
      for (const std::string& s : g->sources()) {
        if (s.empty()) add(where, ": empty source");
      }
      std::set<v1::SectionKind> kinds;
      std::set<std::string> tip_ids;
      for (int si = 0; si < g->sections_size(); ++si) {
        const v1::Section& s = g->sections(si);
        const std::string swhere = absl::StrCat(where, " sections[", si, "]");
        if (s.kind() == v1::SECTION_KIND_UNSPECIFIED) add(swhere, ": kind unset");
        kinds.insert(s.kind());
        if (s.heading().empty()) add(swhere, ": empty heading");
        if (s.tips().empty()) add(swhere, ": no tips");
        for (const v1::Tip& tip : s.tips()) {
          const std::string twhere = absl::StrCat(where, " tip '", tip.tip_id(), "'");
          if (!IsSlug(tip.tip_id())) add(twhere, ": malformed tip id");
          if (!tip_ids.insert(tip.tip_id()).second) add(twhere, ": tip id used twice in the topic");
          all_tip_ids.insert(tip.tip_id());
          if (tip.text().empty()) add(twhere, ": empty text");
          if (tip.evidence() == v1::EVIDENCE_LEVEL_UNSPECIFIED) add(twhere, ": evidence unset");
          if ((tip.ask_clinician_first() || tip.evidence() == v1::EVIDENCE_LEVEL_LOW) &&
              tip.evidence_note().empty()) {
            add(twhere, ": ask-clinician-first and low-evidence tips need an evidence_note");
          }
          // Care levels and warning signs: only when-to-get-help tips call for action, and an
          // urgent or emergency one names the signs it means (tests check them against triage).
          if (s.kind() != v1::SECTION_KIND_WHEN_TO_GET_HELP &&
              (tip.care_level() != v1::CARE_LEVEL_UNSPECIFIED || tip.warning_signs_size() > 0)) {
            add(twhere, ": care_level and warning_signs belong in the when-to-get-help section");
          }
          if (!v1::CareLevel_IsValid(tip.care_level())) add(twhere, ": unknown care_level");
          if (tip.care_level() >= v1::CARE_LEVEL_URGENT && tip.warning_signs().empty()) {
            add(twhere, ": an urgent or emergency tip must list its warning_signs");
          }
          if (tip.care_level() == v1::CARE_LEVEL_UNSPECIFIED && tip.warning_signs_size() > 0) {
            add(twhere, ": warning_signs without a care_level");
          }
          std::set<std::string> signs;
          for (const std::string& w : tip.warning_signs()) {
            if (w.empty() || w.size() > 64 || !std::all_of(w.begin(), w.end(), [](char ch) {
                  return absl::ascii_islower(ch) || absl::ascii_isdigit(ch) || ch == '_';
                })) {
              add(twhere, ": malformed warning sign id '", w, "'");
            }
            if (!signs.insert(w).second) add(twhere, ": warning sign '", w, "' listed twice");
          }
        }
      }
      for (v1::SectionKind k : {v1::SECTION_KIND_ABOUT, v1::SECTION_KIND_SELF_CARE,
                                v1::SECTION_KIND_WHEN_TO_GET_HELP}) {
        if (!kinds.count(k)) add(where, ": no ", v1::SectionKind_Name(k), " section");
      }

      // Every locale has the same shape as the fallback locale.
      const v1::Guidance* base =
          locale == locales_.front() ? nullptr : Find(topic, locales_.front());
      if (base == nullptr) continue;
      if (base->sections_size() != g->sections_size()) {
        add(where, ": ", g->sections_size(), " sections, ", locales_.front(), " has ",
            base->sections_size());
        continue;
      }
      if (base->sources_size() != g->sources_size()) {
        add(where, ": sources differ in number from ", locales_.front());
      }
      for (int si = 0; si < g->sections_size(); ++si) {
        const v1::Section& a = base->sections(si);
        const v1::Section& b = g->sections(si);
        if (a.kind() != b.kind())
          add(where, " sections[", si, "]: kind differs from ", locales_.front());
        std::vector<std::string> ia, ib;
        for (const v1::Tip& t : a.tips()) ia.push_back(t.tip_id());
        for (const v1::Tip& t : b.tips()) ib.push_back(t.tip_id());
        if (ia != ib) {
          add(where, " sections[", si, "]: tip ids [", absl::StrJoin(ib, ","), "] differ from ",
              locales_.front(), " [", absl::StrJoin(ia, ","), "]");
          continue;
        }
        for (int ti = 0; ti < a.tips_size(); ++ti) {
          if (a.tips(ti).evidence() != b.tips(ti).evidence() ||
              a.tips(ti).ask_clinician_first() != b.tips(ti).ask_clinician_first()) {
            add(where, " tip '", b.tips(ti).tip_id(),
                "': evidence or ask_clinician_first differs from ", locales_.front());
          }
          if (a.tips(ti).care_level() != b.tips(ti).care_level() ||
              !std::equal(a.tips(ti).warning_signs().begin(), a.tips(ti).warning_signs().end(),
                          b.tips(ti).warning_signs().begin(), b.tips(ti).warning_signs().end())) {
            add(where, " tip '", b.tips(ti).tip_id(), "': care_level or warning_signs differ from ",
                locales_.front());
          }
        }
      }
    }
  }

  std::set<std::string> code_keys;
  for (const internal::CodeEntry& e : index_.codes()) {
    const std::string where = absl::StrCat("index code ", CodeKey(e.system(), e.code()));
    absl::StatusOr<std::string> norm = NormalizeCode(e.system(), e.code());
    if (!norm.ok()) {
      add(where, ": malformed: ", norm.status().message());
    } else if (*norm != e.code()) {
      add(where, ": not normalized (", *norm, ")");
    }
    if (!code_keys.insert(CodeKey(e.system(), e.code())).second) add(where, ": listed twice");
    if (e.topic_ids().empty()) add(where, ": no topics");
    for (const std::string& t : e.topic_ids()) {
      if (!HasTopic(t)) add(where, ": unknown topic ", t);
    }
  }
  for (const std::string& t : index_.standing_worker_tip_ids()) {
    if (!all_tip_ids.count(t)) add("index standing_worker_tip_ids: no tip '", t, "'");
  }

  std::set<std::string> note_ids;
  std::set<internal::NoteTrigger> triggers;
  for (const internal::PersonalNote& n : index_.personal_notes()) {
    const std::string where = absl::StrCat("index personal note '", n.note_id(), "'");
    if (!IsSlug(n.note_id())) add(where, ": malformed note id");
    if (!note_ids.insert(n.note_id()).second) add(where, ": listed twice");
    if (n.trigger() == internal::NOTE_TRIGGER_UNSPECIFIED) add(where, ": trigger unset");
    if (n.max_postpartum_weeks() != 0 &&
        (n.trigger() != internal::NOTE_TRIGGER_POSTPARTUM || n.max_postpartum_weeks() < 1 ||
         n.max_postpartum_weeks() > 52)) {
      add(where, ": max_postpartum_weeks is 1..52 and only for a postpartum note");
    }
    triggers.insert(n.trigger());
    for (const std::string& t : n.topic_ids()) {
      if (!HasTopic(t)) add(where, ": unknown topic ", t);
    }
    for (const std::string& l : locales_) {
      int count = 0;
      for (const internal::LocalizedText& lt : n.texts()) {
        if (lt.locale() == l) {
          ++count;
          if (lt.text().empty()) add(where, ": empty ", l, " text");
        }
      }
      if (count != 1) add(where, ": needs exactly one ", l, " text, has ", count);
    }
    if (n.texts_size() != static_cast<int>(locales_.size()))
      add(where, ": texts for unknown locales");
  }
  for (int t = internal::NoteTrigger_MIN + 1; t <= internal::NoteTrigger_MAX; ++t) {
    if (!triggers.count(static_cast<internal::NoteTrigger>(t))) {
      add("index: no personal note for ",
          internal::NoteTrigger_Name(static_cast<internal::NoteTrigger>(t)));
    }
  }

  if (index_.nudge_types().empty()) add("index: no nudge_types");
  for (const std::string& l : locales_) {
    const internal::NudgeTextSet* set = NudgeTexts(l);
    if (set == nullptr) {
      add("index: no nudge texts for ", l);
      continue;
    }
    std::set<std::string> types;
    for (const v1::NudgeText& n : set->nudge_texts()) {
      if (!types.insert(n.nudge_type()).second)
        add("index nudge ", l, "/", n.nudge_type(), ": twice");
      if (std::find(index_.nudge_types().begin(), index_.nudge_types().end(), n.nudge_type()) ==
          index_.nudge_types().end()) {
        add("index nudge ", l, "/", n.nudge_type(), ": not in nudge_types");
      }
      if (n.title().empty() || n.body().empty()) {
        add("index nudge ", l, "/", n.nudge_type(), ": empty title or body");
      }
    }
    for (const std::string& t : index_.nudge_types()) {
      if (!types.count(t)) add("index nudge ", l, "/", t, ": missing");
    }
  }
  return p;
}

const v1::Guidance* Catalog::Find(absl::string_view topic_id, absl::string_view locale) const {
  auto l = topics_.find(locale);
  if (l == topics_.end()) return nullptr;
  auto t = l->second.find(std::string(topic_id));
  return t == l->second.end() ? nullptr : &t->second;
}

bool Catalog::HasTopic(absl::string_view topic_id) const {
  return std::find(topic_ids_.begin(), topic_ids_.end(), topic_id) != topic_ids_.end();
}

const std::vector<std::string>* Catalog::TopicsForCode(v1::CodeSystem system,
                                                       absl::string_view normalized_code) const {
  auto it = codes_.find(CodeKey(system, normalized_code));
  return it == codes_.end() ? nullptr : &it->second;
}

std::vector<std::string> Catalog::CodesForTopic(absl::string_view topic_id) const {
  std::vector<std::string> out;
  for (const internal::CodeEntry& e : index_.codes()) {
    if (std::find(e.topic_ids().begin(), e.topic_ids().end(), topic_id) != e.topic_ids().end()) {
      out.push_back(CodeKey(e.system(), e.code()));
    }
  }
  return out;
}

const internal::NudgeTextSet* Catalog::NudgeTexts(absl::string_view locale) const {
  for (const internal::NudgeTextSet& s : index_.nudge_texts()) {
    if (s.locale() == locale) return &s;
  }
  return nullptr;
}

}  // namespace legwise::content
