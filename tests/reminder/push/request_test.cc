// Each provider's request for a nudge, read back with protobuf's JSON parser.
#include "services/reminder/push/request.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/reminder/push/push_test_util.h"

namespace legwise::push {
namespace {

using testing::Json;
using testing::Num;
using testing::Obj;
using testing::Str;

const absl::Time kDue = absl::FromUnixSeconds(1'800'000'000);

PushMessage Message() {
  PushMessage m;
  m.nudge_id = "n-7f3a:2027-01-15T07:30";
  m.kind = "NUDGE_KIND_HYDRATION";
  m.title = "Time for \"water\"";
  m.body = "Un vaso de agua ahora\n\xc2\xa1Salud!";
  m.due_time = kDue;
  m.local_time = "2027-01-15T08:30:00+01:00";
  m.locale = "es";
  m.expire_time = kDue + absl::Hours(2);
  return m;
}

bool HasHeader(const std::vector<std::string>& headers, const std::string& line) {
  for (const auto& h : headers) {
    if (h == line) return true;
  }
  return false;
}

void ExpectPayloadFields(const google::protobuf::Struct& s, const PushMessage& m) {
  EXPECT_EQ(Str(s, "nudge_id"), m.nudge_id);
  EXPECT_EQ(Str(s, "kind"), m.kind);
  EXPECT_EQ(Str(s, "title"), m.title);
  EXPECT_EQ(Str(s, "body"), m.body);
  EXPECT_EQ(Str(s, "due_time"), "2027-01-15T08:00:00Z");
  EXPECT_EQ(Str(s, "local_time"), m.local_time);
  EXPECT_EQ(Str(s, "locale"), m.locale);
}

TEST(PayloadTest, CarriesTheContractFields) {
  ExpectPayloadFields(Json(PayloadJson(Message())), Message());
}

TEST(CollapseIdTest, StablePerNudgeAndFitsEveryProvider) {
  std::string id = CollapseId("n-1");
  EXPECT_EQ(id, CollapseId("n-1"));
  EXPECT_NE(id, CollapseId("n-2"));
  EXPECT_EQ(id.size(), 32u);  // Web Push Topic: at most 32; APNs: at most 64 bytes
  for (char c : id) EXPECT_TRUE(absl::ascii_isalnum(c) || c == '-' || c == '_') << id;
  EXPECT_EQ(id.find("n-1"), std::string::npos);
}

TEST(ApnsRequestTest, PassiveAlertWithCollapseIdAndExpiration) {
  PushMessage m = Message();
  google::protobuf::Struct payload = Json(ApnsPayload(m));
  const auto& aps = Obj(payload, "aps");
  EXPECT_EQ(Str(aps, "interruption-level"), "passive");
  EXPECT_EQ(Str(Obj(aps, "alert"), "title"), m.title);
  EXPECT_EQ(Str(Obj(aps, "alert"), "body"), m.body);
  ExpectPayloadFields(payload, m);
  std::vector<std::string> headers = ApnsHeaders(m, "com.legwise.app", "JWT");
  EXPECT_TRUE(HasHeader(headers, "apns-push-type: alert"));
  EXPECT_TRUE(HasHeader(headers, "apns-priority: 5"));
  EXPECT_TRUE(HasHeader(headers, "apns-topic: com.legwise.app"));
  EXPECT_TRUE(HasHeader(headers, "authorization: bearer JWT"));
  EXPECT_TRUE(HasHeader(headers, absl::StrCat("apns-collapse-id: ", CollapseId(m.nudge_id))));
  EXPECT_TRUE(HasHeader(
      headers, absl::StrCat("apns-expiration: ", absl::ToUnixSeconds(kDue + absl::Hours(2)))));
  // Quiet hours before the TTL: APNs must not deliver into them either.
  m.quiet_hours_start = kDue + absl::Minutes(30);
  EXPECT_TRUE(
      HasHeader(ApnsHeaders(m, "t", "j"),
                absl::StrCat("apns-expiration: ", absl::ToUnixSeconds(kDue + absl::Minutes(30)))));
  EXPECT_EQ(ApnsUrl("https://api.push.apple.com", ApnsTarget{std::string(64, 'a'), false}),
            "https://api.push.apple.com/3/device/" + std::string(64, 'a'));
}

TEST(FcmRequestTest, NormalPriorityTtlAndCollapseKey) {
  PushMessage m = Message();
  google::protobuf::Struct body =
      Json(FcmBody(FcmTarget{"token-abcdefghijklmnop"}, m, kDue + absl::Minutes(10)));
  const auto& message = Obj(body, "message");
  EXPECT_EQ(Str(message, "token"), "token-abcdefghijklmnop");
  EXPECT_EQ(Str(Obj(message, "notification"), "title"), m.title);
  ExpectPayloadFields(Obj(message, "data"), m);
  const auto& android = Obj(message, "android");
  EXPECT_EQ(Str(android, "priority"), "NORMAL");
  EXPECT_EQ(Str(android, "ttl"), "6600s");  // 2 h TTL, 10 min gone
  EXPECT_EQ(Str(android, "collapse_key"), CollapseId(m.nudge_id));
  EXPECT_EQ(Str(Obj(android, "notification"), "tag"), CollapseId(m.nudge_id));
  EXPECT_EQ(FcmUrl("https://fcm.googleapis.com", "legwise-prod"),
            "https://fcm.googleapis.com/v1/projects/legwise-prod/messages:send");
  EXPECT_TRUE(HasHeader(FcmHeaders("ya29.x"), "authorization: Bearer ya29.x"));
}

TEST(WebPushRequestTest, TtlUrgencyTopicAndVapid) {
  PushMessage m = Message();
  std::vector<std::string> headers = WebPushHeaders(m, "vapid t=a.b.c, k=K", kDue);
  EXPECT_TRUE(HasHeader(headers, "ttl: 7200"));
  EXPECT_TRUE(HasHeader(headers, "urgency: normal"));
  EXPECT_TRUE(HasHeader(headers, absl::StrCat("topic: ", CollapseId(m.nudge_id))));
  EXPECT_TRUE(HasHeader(headers, "content-encoding: aes128gcm"));
  EXPECT_TRUE(HasHeader(headers, "authorization: vapid t=a.b.c, k=K"));
  EXPECT_TRUE(HasHeader(WebPushHeaders(m, "v", kDue + absl::Hours(3)), "ttl: 0"));
}

TEST(UsefulnessTest, TtlAndQuietHours) {
  PushMessage m = Message();
  bool quiet = true;
  EXPECT_FALSE(PastUsefulness(m, kDue + absl::Minutes(119), &quiet));
  EXPECT_TRUE(PastUsefulness(m, kDue + absl::Hours(2), &quiet));
  EXPECT_FALSE(quiet);
  m.quiet_hours_start = kDue + absl::Minutes(45);
  EXPECT_FALSE(PastUsefulness(m, kDue + absl::Minutes(44), &quiet));
  EXPECT_TRUE(PastUsefulness(m, kDue + absl::Minutes(45), &quiet));
  EXPECT_TRUE(quiet);
  EXPECT_EQ(NotAfter(m), kDue + absl::Minutes(45));
  EXPECT_EQ(RemainingTtlSeconds(m, kDue), 45 * 60);
}

TEST(MessageValidationTest, NamesTheField) {
  EXPECT_TRUE(ValidateMessage(Message()).ok());
  auto field_of = [](PushMessage m) {
    auto v = GetFieldViolations(ValidateMessage(m));
    return v.empty() ? std::string("<none>") : v[0].field;
  };
  PushMessage m = Message();
  m.nudge_id = "";
  EXPECT_EQ(field_of(m), "nudge_id");
  m = Message();
  m.nudge_id = "has space";
  EXPECT_EQ(field_of(m), "nudge_id");
  m = Message();
  m.title = "\xff\xfe";
  EXPECT_EQ(field_of(m), "title");
  m = Message();
  m.title = "\xc0\x80";  // overlong NUL
  EXPECT_EQ(field_of(m), "title");
  m = Message();
  m.body = std::string(1001, 'x');
  EXPECT_EQ(field_of(m), "body");
  m = Message();
  m.kind = "";
  EXPECT_EQ(field_of(m), "kind");
}

}  // namespace
}  // namespace legwise::push
