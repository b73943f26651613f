#include "services/common/validation.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace legwise {
namespace {

TEST(FieldViolationsTest, EmptyIsOk) {
  FieldViolations v;
  EXPECT_TRUE(v.empty());
  EXPECT_TRUE(v.ToStatus().ok());
}

TEST(FieldViolationsTest, OneViolationPerProblemWithPaths) {
  FieldViolations v;
  v.Add("symptoms[2].severity", "must be between 1 and 10 (0 = not given)");
  v.Add("pregnancy", "gestational_age_weeks and postpartum_weeks cannot both be set");
  absl::Status s = v.ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("symptoms[2].severity"), absl::string_view::npos) << s;
  auto got = GetFieldViolations(s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].field, "symptoms[2].severity");
  EXPECT_EQ(got[1].field, "pregnancy");
  EXPECT_EQ(GetErrorReason(s), "INVALID_REQUEST");
}

TEST(ToGrpcStatusTest, CarriesGoogleRpcStatusDetails) {
  FieldViolations v;
  v.Add("code", "not a well-formed ICD-10-CM code");
  grpc::Status g = ToGrpcStatus(v.ToStatus("MALFORMED_CODE"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(g.error_details()));
  EXPECT_EQ(rpc.code(), 3);
  bool saw_bad_request = false, saw_info = false;
  for (const auto& any : rpc.details()) {
    google::rpc::BadRequest br;
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&br)) {
      saw_bad_request = true;
      ASSERT_EQ(br.field_violations_size(), 1);
      EXPECT_EQ(br.field_violations(0).field(), "code");
    } else if (any.UnpackTo(&info)) {
      saw_info = true;
      EXPECT_EQ(info.reason(), "MALFORMED_CODE");
      EXPECT_EQ(info.domain(), "legwise.app");
    }
  }
  EXPECT_TRUE(saw_bad_request);
  EXPECT_TRUE(saw_info);
}

TEST(ToGrpcStatusTest, AddsErrorInfoNamedAfterTheCode) {
  grpc::Status g = ToGrpcStatus(absl::NotFoundError("no topic 'x'"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::NOT_FOUND);
  absl::Status back = FromGrpcStatus(g);
  EXPECT_EQ(back.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(back), "NOT_FOUND");
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(ToGrpcStatusTest, RoundTripKeepsViolations) {
  FieldViolations v;
  v.Add("plan.time_zone", "unknown IANA time zone");
  absl::Status back = FromGrpcStatus(ToGrpcStatus(v.ToStatus()));
  auto got = GetFieldViolations(back);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].field, "plan.time_zone");
}

}  // namespace
}  // namespace legwise
