// The shared signed page tokens: a known answer computed with Python's hmac module (an independent
// HMAC-SHA256), and the property that any edit of a token is refused.
#include "services/common/page_token.h"

#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "gtest/gtest.h"

namespace legwise {
namespace {

TEST(PageTokenTest, MatchesAnIndependentHmacSha256) {
  // python3: base64.urlsafe_b64encode(b'hello' + hmac.new(b'0123456789abcdef-key',
  //   b'test.Purpose\x00hello', hashlib.sha256).digest()[:16]).rstrip(b'=')
  const PageTokenSigner signer("0123456789abcdef-key");
  EXPECT_EQ(signer.Sign("test.Purpose", "hello"), "aGVsbG9uP_3Hpm8R0-V82Xbondo0");
  absl::StatusOr<std::string> back = signer.Verify("test.Purpose", "aGVsbG9uP_3Hpm8R0-V82Xbondo0");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, "hello");
}

TEST(PageTokenTest, EveryEditedTokenIsRefused) {
  const PageTokenSigner signer("0123456789abcdef-key");
  std::mt19937 rng(7);
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int round = 0; round < 200; ++round) {
    std::string payload;
    for (int i = 0; i < static_cast<int>(rng() % 60); ++i)
      payload.push_back(static_cast<char>(rng()));
    const std::string token = signer.Sign("p", payload);
    ASSERT_TRUE(signer.Verify("p", token).ok());
    // One character changed anywhere.
    std::string edited = token;
    const size_t pos = rng() % edited.size();
    char c;
    do c = alphabet[rng() % alphabet.size()];
    while (c == edited[pos]);
    edited[pos] = c;
    EXPECT_EQ(signer.Verify("p", edited).status().code(), absl::StatusCode::kInvalidArgument)
        << "round " << round;
    // Truncated, extended, another purpose, another key.
    EXPECT_FALSE(signer.Verify("p", token.substr(0, token.size() - 1)).ok());
    EXPECT_FALSE(signer.Verify("p", token + "A").ok());
    EXPECT_FALSE(signer.Verify("q", token).ok());
    EXPECT_FALSE(PageTokenSigner("another-key-of-16+").Verify("p", token).ok());
  }
  EXPECT_FALSE(signer.Verify("p", "").ok());
  EXPECT_FALSE(signer.Verify("p", std::string(kMaxPageTokenLength + 1, 'A')).ok());
  EXPECT_FALSE(signer.Verify("p", "!!!").ok());
}

TEST(PageTokenTest, KeyFileNeedsSixteenBytes) {
  const std::string path = ::testing::TempDir() + "/page_token_key";
  { std::ofstream(path) << "short\n"; }
  EXPECT_FALSE(PageTokenSigner::FromKeyFile(path).ok());
  { std::ofstream(path) << "0123456789abcdef-key\n"; }
  absl::StatusOr<PageTokenSigner> s = PageTokenSigner::FromKeyFile(path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->Sign("test.Purpose", "hello"), "aGVsbG9uP_3Hpm8R0-V82Xbondo0");
  std::remove(path.c_str());
  EXPECT_FALSE(PageTokenSigner::FromKeyFile(path).ok());
}

}  // namespace
}  // namespace legwise
