// libFuzzer: any bytes as a content request (the first byte picks the RPC) through the content core
// against the embedded catalog. Validation must turn every input into an answer or a clean error.
#include <cstddef>
#include <cstdint>
#include <memory>

#include "google/protobuf/stubs/logging.h"
#include "legwise/content/v1/content.pb.h"
#include "services/content/catalog/catalog.h"
#include "services/content/catalog/content_core.h"

namespace {
using namespace legwise::content;

const Catalog& TheCatalog() {
  static std::shared_ptr<const Catalog> catalog = *Catalog::Load(EmbeddedCatalogFileMap());
  return *catalog;
}
}  // namespace

// Invalid UTF-8 in string fields is an expected input; protobuf's log line for each would drown the
// fuzzer's output.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const Catalog& catalog = TheCatalog();
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  int len = static_cast<int>(size - 1);
  switch (data[0] % 4) {
    case 0: {
      v1::GetGuidanceRequest req;
      if (req.ParseFromArray(bytes, len)) (void)GetGuidance(catalog, req);
      break;
    }
    case 1: {
      v1::LookupGuidanceByCodeRequest req;
      if (req.ParseFromArray(bytes, len)) (void)LookupGuidanceByCode(catalog, req);
      break;
    }
    case 2: {
      v1::ListTopicsRequest req;
      if (req.ParseFromArray(bytes, len)) (void)ListTopics(catalog, req);
      break;
    }
    default: {
      v1::ListNudgeTextsRequest req;
      if (req.ParseFromArray(bytes, len)) (void)ListNudgeTexts(catalog, req);
    }
  }
  return 0;
}
