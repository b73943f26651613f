// Code normalization and parent walking for LookupGuidanceByCode.
#include "services/content/catalog/codes.h"

#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace legwise::content {
namespace {

using ::testing::ElementsAre;
using v1::CODE_SYSTEM_ICD10CM;
using v1::CODE_SYSTEM_SNOMEDCT;

TEST(NormalizeCodeTest, Icd10Variants) {
  const std::pair<const char*, const char*> kCases[] = {
      {"R25.2", "R25.2"},   {"R252", "R25.2"},       {"r25.2", "R25.2"},     {"r252", "R25.2"},
      {" R25.2 ", "R25.2"}, {"o2233", "O22.33"},     {"O22.33", "O22.33"},   {"O14", "O14"},
      {"o14", "O14"},       {"g4762", "G47.62"},     {"L03.116", "L03.116"}, {"z3a20", "Z3A.20"},
      {"O99.35", "O99.35"}, {"S82.101A", "S82.101A"}};
  for (const auto& [in, want] : kCases) {
    absl::StatusOr<std::string> got = NormalizeCode(CODE_SYSTEM_ICD10CM, in);
    ASSERT_TRUE(got.ok()) << in << ": " << got.status();
    EXPECT_EQ(*got, want) << in;
  }
}

TEST(NormalizeCodeTest, MalformedIcd10IsInvalidArgument) {
  for (const char* bad :
       {"", "   ", "R2", "25.2", "RR5.2", "R25..2", "R2.52", "R25.", ".R252", "R25.2.1", "R25-2",
        "R25.2$", "R25.22222", "R25 2", "Ä25.2", "O14.-", "R25.2\n1"}) {
    absl::StatusOr<std::string> got = NormalizeCode(CODE_SYSTEM_ICD10CM, bad);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << "'" << bad << "'";
  }
}

TEST(NormalizeCodeTest, Snomed) {
  EXPECT_EQ(*NormalizeCode(CODE_SYSTEM_SNOMEDCT, "128053003"), "128053003");
  EXPECT_EQ(*NormalizeCode(CODE_SYSTEM_SNOMEDCT, " 55300003 "), "55300003");
  for (const char* bad : {"", "12345", "0128053003", "12805300x", "128053003.1",
                          "1234567890123456789", "-128053003"}) {
    EXPECT_EQ(NormalizeCode(CODE_SYSTEM_SNOMEDCT, bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(NormalizeCodeTest, ErrorNeverEchoesTheInput) {
  for (v1::CodeSystem sys : {CODE_SYSTEM_ICD10CM, CODE_SYSTEM_SNOMEDCT}) {
    absl::Status s = NormalizeCode(sys, "Q99.SECRET").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(s.message().find("SECRET"), absl::string_view::npos) << s;
  }
}

TEST(NormalizeCodeTest, UnspecifiedSystemIsInvalid) {
  EXPECT_EQ(NormalizeCode(v1::CODE_SYSTEM_UNSPECIFIED, "R25.2").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeCode(static_cast<v1::CodeSystem>(99), "R25.2").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CodeAndParentsTest, WalksUpToTheCategory) {
  EXPECT_THAT(CodeAndParents(CODE_SYSTEM_ICD10CM, "O22.33"), ElementsAre("O22.33", "O22.3", "O22"));
  EXPECT_THAT(CodeAndParents(CODE_SYSTEM_ICD10CM, "L03.116"),
              ElementsAre("L03.116", "L03.11", "L03.1", "L03"));
  EXPECT_THAT(CodeAndParents(CODE_SYSTEM_ICD10CM, "O14"), ElementsAre("O14"));
  EXPECT_THAT(CodeAndParents(CODE_SYSTEM_SNOMEDCT, "404223003"), ElementsAre("404223003"));
}

// Property: for random well-formed ICD-10-CM codes, every spelling variant (case, dot or no dot,
// padding) normalizes to the same code, normalization is idempotent, and the parent chain is a
// chain of prefixes ending at the 3-character category.
TEST(CodePropertyTest, Icd10SpellingsAgreeAndParentsArePrefixes) {
  std::mt19937 rng(20261125);
  const std::string kAlnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int i = 0; i < 2000; ++i) {
    std::string compact;
    compact += static_cast<char>('A' + rng() % 26);
    compact += static_cast<char>('0' + rng() % 10);
    compact += kAlnum[rng() % kAlnum.size()];
    const int extra = rng() % 5;
    for (int k = 0; k < extra; ++k) compact += kAlnum[rng() % kAlnum.size()];
    const std::string dotted =
        compact.size() > 3 ? absl::StrCat(compact.substr(0, 3), ".", compact.substr(3)) : compact;

    absl::StatusOr<std::string> canonical = NormalizeCode(CODE_SYSTEM_ICD10CM, dotted);
    ASSERT_TRUE(canonical.ok()) << dotted;
    EXPECT_EQ(*canonical, dotted);
    for (const std::string& variant :
         {compact, absl::AsciiStrToLower(compact), absl::AsciiStrToLower(dotted),
          absl::StrCat("  ", dotted, "\t")}) {
      absl::StatusOr<std::string> n = NormalizeCode(CODE_SYSTEM_ICD10CM, variant);
      ASSERT_TRUE(n.ok()) << variant;
      EXPECT_EQ(*n, *canonical) << variant;
    }
    EXPECT_EQ(*NormalizeCode(CODE_SYSTEM_ICD10CM, *canonical), *canonical);

    std::vector<std::string> chain = CodeAndParents(CODE_SYSTEM_ICD10CM, *canonical);
    ASSERT_FALSE(chain.empty());
    EXPECT_EQ(chain.front(), *canonical);
    EXPECT_EQ(chain.back(), compact.substr(0, 3));
    EXPECT_EQ(chain.size(), compact.size() - 2);
    for (size_t k = 1; k < chain.size(); ++k) {
      EXPECT_TRUE(absl::StartsWith(chain[k - 1], chain[k])) << chain[k - 1] << " " << chain[k];
      EXPECT_TRUE(NormalizeCode(CODE_SYSTEM_ICD10CM, chain[k]).ok());
    }
  }
}

// Property: random printable strings that normalize always yield a code that normalizes to itself.
TEST(CodePropertyTest, NormalizeIsIdempotentOnRandomInput) {
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string s;
    const int len = rng() % 10;
    for (int k = 0; k < len; ++k) s += static_cast<char>(0x20 + rng() % 0x5f);
    for (v1::CodeSystem sys : {CODE_SYSTEM_ICD10CM, CODE_SYSTEM_SNOMEDCT}) {
      absl::StatusOr<std::string> n = NormalizeCode(sys, s);
      if (!n.ok()) {
        EXPECT_EQ(n.status().code(), absl::StatusCode::kInvalidArgument);
        continue;
      }
      EXPECT_EQ(*NormalizeCode(sys, *n), *n) << s;
    }
  }
}

}  // namespace
}  // namespace legwise::content
