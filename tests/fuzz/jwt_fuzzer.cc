// libFuzzer: arbitrary bearer tokens through the JWT verifier: UNAUTHENTICATED or a verified claim,
// never a crash, and never accepted without a valid signature (the key's private half is unknown).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "services/common/security.h"

namespace {
// A fixed public P-256 key (RFC 7515 appendix A.3 example key, public part only).
constexpr char kJwks[] = R"({"keys":[{"kty":"EC","crv":"P-256","kid":"k",)"
                         R"("x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                         R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto verifier = *legwise::JwtVerifier::FromJwks(kJwks, "iss", "aud", absl::Seconds(30));
  std::string token(reinterpret_cast<const char*>(data), size);
  auto claims = verifier->Verify(token, absl::Now());
  if (claims.ok()) std::abort();  // no input here can carry a valid ES256 signature for that key
  return 0;
}
