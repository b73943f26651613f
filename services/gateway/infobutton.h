// GET /infobutton: HL7 Version 3 Standard: Context-Aware Knowledge Retrieval (Infobutton),
// URL-based implementation, as MedlinePlus Connect answers it. Reads mainSearchCriteria.v.c (the
// code), mainSearchCriteria.v.cs (ICD-10-CM 2.16.840.1.113883.6.90 or SNOMED CT
// 2.16.840.1.113883.6.96), informationRecipient.languageCode.c (en, es; "sp" as MedlinePlus
// spells Spanish) and knowledgeResponseType (application/json, default, or text/xml for Atom),
// looks the code up with ContentService.LookupGuidanceByCode and answers a feed of the matching
// topics with title, summary and link.
#ifndef LEGWISE_SERVICES_GATEWAY_INFOBUTTON_H_
#define LEGWISE_SERVICES_GATEWAY_INFOBUTTON_H_

#include <memory>
#include <string>

#include "legwise/content/v1/content.pb.h"
#include "services/gateway/gateway.h"
#include "services/gateway/infobutton_feed.pb.h"

namespace legwise::gateway {

// The feed for a lookup answer.
infobutton::Response InfobuttonFeed(const content::v1::LookupGuidanceByCodeResponse& answer,
                                    const std::string& locale, const std::string& code,
                                    const std::string& base_url, absl::Time now);
// The same feed as Atom XML (RFC 4287).
std::string FeedToAtom(const infobutton::Response& feed);

class Infobutton {
 public:
  Infobutton(std::string public_base_url, absl::Duration timeout,
             std::shared_ptr<Backends> backends)
      : base_url_(std::move(public_base_url)), timeout_(timeout), backends_(std::move(backends)) {}
  bool Handle(HttpRequest& request, HttpWriter& writer, HttpResponse* base);

 private:
  std::string base_url_;
  absl::Duration timeout_;
  std::shared_ptr<Backends> backends_;
};

}  // namespace legwise::gateway

#endif  // LEGWISE_SERVICES_GATEWAY_INFOBUTTON_H_
