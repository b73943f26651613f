#include "services/reminder/delivery/nudge_texts.h"

#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "grpcpp/client_context.h"
#include "services/common/client_channel.h"
#include "services/common/logging.h"

namespace legwise::reminder {
namespace {
namespace cv1 = ::legwise::content::v1;

constexpr size_t kMaxCachedLocales = 64;

std::shared_ptr<NudgeTextSet> MakeBuiltin(const char* lang) {
  auto set = std::make_shared<NudgeTextSet>();
  set->locale = lang;
  set->builtin = true;
  for (const NudgeKindInfo& info : kNudgeKinds) {
    const FallbackText& t = FallbackFor(info.kind, lang);
    set->by_kind[static_cast<int>(info.kind)] = {t.title, t.body};
  }
  return set;
}
}  // namespace

NudgeText NudgeTextSet::Render(NudgeKind kind, int32_t daily_target_ml) const {
  const NudgeText& t = For(kind);
  return {FillTextTemplate(t.title, daily_target_ml, locale),
          FillTextTemplate(t.body, daily_target_ml, locale)};
}

std::shared_ptr<const NudgeTextSet> BuiltinNudgeTexts(absl::string_view locale) {
  static const auto* en = new std::shared_ptr<const NudgeTextSet>(MakeBuiltin("en"));
  static const auto* es = new std::shared_ptr<const NudgeTextSet>(MakeBuiltin("es"));
  return FallbackLanguage(locale) == "es" ? *es : *en;
}

NudgeTextProvider::NudgeTextProvider(std::shared_ptr<grpc::Channel> content,
                                     absl::Duration deadline, absl::Duration ttl)
    : deadline_(deadline), ttl_(ttl) {
  if (!content) return;
  stub_ = cv1::ContentService::NewStub(content);
  // A locale's first Get answers the built-in texts while it fetches: fetch the built-in locales
  // now, so the first nudges after a start already carry content's texts.
  Get("en");
  Get("es");
}

NudgeTextProvider::~NudgeTextProvider() {
  // Wait for callbacks still running (they touch mu_ and cache_).
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(
                           +[](int* n) { return *n == 0; }, &in_flight_),
                       absl::Seconds(2));
}

std::shared_ptr<const NudgeTextSet> NudgeTextProvider::Get(absl::string_view locale_in) {
  const std::string locale = locale_in.empty() ? "en" : absl::AsciiStrToLower(locale_in);
  absl::MutexLock lock(&mu_);
  auto it = cache_.find(locale);
  const absl::Time now = absl::Now();
  if (it == cache_.end()) {
    if (cache_.size() >= kMaxCachedLocales) return BuiltinNudgeTexts(locale);
    it = cache_.emplace(locale, Entry{}).first;
  }
  Entry& e = it->second;
  if (stub_ && !e.in_flight && now - e.fetched > ttl_ && now >= e.retry_after) Fetch(locale);
  return e.texts ? e.texts : BuiltinNudgeTexts(locale);
}

void NudgeTextProvider::Fetch(const std::string& locale) {
  struct Call {
    grpc::ClientContext ctx;
    cv1::ListNudgeTextsRequest req;
    cv1::ListNudgeTextsResponse resp;
  };
  auto call = std::make_shared<Call>();
  call->req.set_locale(locale);
  PrepareClientContext(&call->ctx, deadline_);
  cache_[locale].in_flight = true;
  ++in_flight_;
  const absl::Time started = absl::Now();
  stub_->async()->ListNudgeTexts(
      &call->ctx, &call->req, &call->resp, [this, call, locale, started](grpc::Status status) {
        RecordDownstreamCall("content", status, started);
        std::shared_ptr<NudgeTextSet> set;
        if (status.ok()) {
          set = std::make_shared<NudgeTextSet>(*BuiltinNudgeTexts(call->resp.locale()));
          set->builtin = false;
          set->locale = call->resp.locale().empty() ? locale : call->resp.locale();
          for (const auto& t : call->resp.nudge_texts()) {
            const NudgeKindInfo* info = KindByName(t.nudge_type());
            if (info != nullptr && !t.title().empty()) {
              set->by_kind[static_cast<int>(info->kind)] = {t.title(), t.body()};
            }
          }
        } else {
          LogWarning("nudge_texts_unavailable", {{"code", static_cast<int>(status.error_code())}});
        }
        absl::MutexLock lock(&mu_);
        Entry& e = cache_[locale];
        e.in_flight = false;
        if (set) {
          e.texts = std::move(set);
          e.fetched = absl::Now();
        } else {
          e.retry_after = absl::Now() + absl::Seconds(5);  // keep old texts; do not hammer content
        }
        --in_flight_;
      });
}

}  // namespace legwise::reminder
