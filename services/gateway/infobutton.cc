#include "services/gateway/infobutton.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "services/gateway/http_server.h"
#include "services/gateway/transcoder.h"

namespace legwise::gateway {
namespace {

constexpr char kIcd10Oid[] = "2.16.840.1.113883.6.90";
constexpr char kSnomedOid[] = "2.16.840.1.113883.6.96";

std::string XmlEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out.push_back(c);
    }
  }
  return out;
}

infobutton::Text T(std::string v, std::string type = "") {
  infobutton::Text t;
  t.set_value(std::move(v));
  if (!type.empty()) t.set_type(std::move(type));
  return t;
}

}  // namespace

infobutton::Response InfobuttonFeed(const content::v1::LookupGuidanceByCodeResponse& answer,
                                    const std::string& locale, const std::string& code,
                                    const std::string& base_url, absl::Time now) {
  infobutton::Response r;
  infobutton::Feed* f = r.mutable_feed();
  std::string updated = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone());
  f->set_lang(locale);
  f->set_base(absl::StrCat(base_url, "/"));
  *f->mutable_title() = T("legwise patient education", "text");
  *f->mutable_subtitle() = T(locale == "es" ? "Información para pacientes sobre " + code
                                            : "Patient information about " + code,
                             "text");
  *f->mutable_id() = T(absl::StrCat("urn:legwise:infobutton:", code, ":", locale));
  *f->mutable_updated() = T(updated);
  *f->mutable_author()->mutable_name() = T("legwise");
  *f->mutable_author()->mutable_uri() = T(base_url);
  for (const content::v1::Guidance& g : answer.guidance()) {
    infobutton::Entry* e = f->add_entry();
    e->set_lang(g.locale());
    *e->mutable_title() = T(g.title(), "text");
    infobutton::Link* l = e->add_link();
    l->set_href(
        absl::StrCat(base_url, "/v1/topics/", g.topic_id(), "/guidance?locale=", g.locale()));
    l->set_rel("alternate");
    l->set_type("application/json");
    l->set_title(g.title());
    *e->mutable_id() = T(absl::StrCat("urn:legwise:topic:", g.topic_id(), ":", g.locale()));
    *e->mutable_updated() = T(updated);
    *e->mutable_summary() = T(g.summary(), "text");
  }
  return r;
}

std::string FeedToAtom(const infobutton::Response& r) {
  const infobutton::Feed& f = r.feed();
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  absl::StrAppend(&x, "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"",
                  XmlEscape(f.lang()), "\" xml:base=\"", XmlEscape(f.base()), "\">\n");
  absl::StrAppend(&x, "  <title type=\"text\">", XmlEscape(f.title().value()), "</title>\n");
  absl::StrAppend(&x, "  <subtitle type=\"text\">", XmlEscape(f.subtitle().value()),
                  "</subtitle>\n");
  absl::StrAppend(&x, "  <id>", XmlEscape(f.id().value()), "</id>\n");
  absl::StrAppend(&x, "  <updated>", XmlEscape(f.updated().value()), "</updated>\n");
  absl::StrAppend(&x, "  <author><name>", XmlEscape(f.author().name().value()), "</name><uri>",
                  XmlEscape(f.author().uri().value()), "</uri></author>\n");
  for (const infobutton::Entry& e : f.entry()) {
    absl::StrAppend(&x, "  <entry xml:lang=\"", XmlEscape(e.lang()), "\">\n");
    absl::StrAppend(&x, "    <title type=\"text\">", XmlEscape(e.title().value()), "</title>\n");
    for (const infobutton::Link& l : e.link()) {
      absl::StrAppend(&x, "    <link href=\"", XmlEscape(l.href()), "\" rel=\"", XmlEscape(l.rel()),
                      "\" type=\"", XmlEscape(l.type()), "\" title=\"", XmlEscape(l.title()),
                      "\"/>\n");
    }
    absl::StrAppend(&x, "    <id>", XmlEscape(e.id().value()), "</id>\n");
    absl::StrAppend(&x, "    <updated>", XmlEscape(e.updated().value()), "</updated>\n");
    absl::StrAppend(&x, "    <summary type=\"text\">", XmlEscape(e.summary().value()),
                    "</summary>\n");
    absl::StrAppend(&x, "  </entry>\n");
  }
  absl::StrAppend(&x, "</feed>\n");
  return x;
}

bool Infobutton::Handle(HttpRequest& request, HttpWriter& writer, HttpResponse* base) {
  if (request.raw_path() != "/infobutton") return false;
  HttpResponse& r = *base;
  auto fail = [&](grpc::StatusCode code, std::string msg) {
    SetError(grpc::Status(code, std::move(msg)), &r);
    writer.Send(r);
    return true;
  };
  if (request.method() != "GET") {
    SetError(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "use GET"), &r);
    r.status = 405;
    writer.Send(r);
    return true;
  }
  std::vector<std::pair<std::string, std::string>> query;
  if (absl::Status s = ParseQuery(request.raw_query(), &query); !s.ok()) {
    return fail(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
  }
  std::string code, cs, lang = "en", type = "application/json";
  for (const auto& [k, v] : query) {
    if (k == "mainSearchCriteria.v.c") {
      code = v;
    } else if (k == "mainSearchCriteria.v.cs") {
      cs = v;
    } else if (k == "informationRecipient.languageCode.c") {
      lang = absl::AsciiStrToLower(v);
    } else if (k == "knowledgeResponseType") {
      type = v;
    }
    // Other Infobutton parameters (patientPerson, taskContext, ...) do not change our answer.
  }
  if (code.empty()) {
    return fail(grpc::StatusCode::INVALID_ARGUMENT, "mainSearchCriteria.v.c: required");
  }
  content::v1::LookupGuidanceByCodeRequest req;
  if (cs == kIcd10Oid) {
    req.set_code_system(content::v1::CODE_SYSTEM_ICD10CM);
  } else if (cs == kSnomedOid) {
    req.set_code_system(content::v1::CODE_SYSTEM_SNOMEDCT);
  } else {
    return fail(grpc::StatusCode::INVALID_ARGUMENT,
                absl::StrCat("mainSearchCriteria.v.cs: expected ", kIcd10Oid, " (ICD-10-CM) or ",
                             kSnomedOid, " (SNOMED CT)"));
  }
  if (type != "application/json" && type != "text/xml") {
    return fail(grpc::StatusCode::INVALID_ARGUMENT,
                "knowledgeResponseType: application/json or text/xml");
  }
  if (lang == "sp" || lang == "spa") lang = "es";
  if (lang == "eng") lang = "en";
  req.set_code(code);
  req.set_locale(lang);
  content::v1::LookupGuidanceByCodeResponse resp;
  grpc::ClientContext ctx;
  PrepareBackendContext(request, timeout_, &ctx);
  grpc::Status st =
      backends_->Call(&ctx, "/legwise.content.v1.ContentService/LookupGuidanceByCode", req, &resp);
  if (!st.ok()) {
    SetError(st, &r);
    writer.Send(r);
    return true;
  }
  std::string served = lang;
  if (resp.guidance_size() > 0) served = resp.guidance(0).locale();
  infobutton::Response feed =
      InfobuttonFeed(resp, served, resp.normalized_code(), base_url_, absl::Now());
  r.status = 200;
  if (type == "text/xml") {
    r.headers.emplace_back("Content-Type", "application/atom+xml; charset=utf-8");
    r.body = FeedToAtom(feed);
  } else {
    r.headers.emplace_back("Content-Type", "application/json");
    // Every field printed, default values too: the feed's format is fixed (see JsonDefaults).
    absl::StatusOr<std::string> j = MessageToJson(feed, JsonDefaults::kPrint);
    r.body = j.ok() ? *j : "{}";
  }
  writer.Send(r);
  return true;
}

}  // namespace legwise::gateway
