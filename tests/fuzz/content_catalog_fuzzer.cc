// libFuzzer: the catalog loader with one file replaced by arbitrary text (a clinician's typo, a
// truncated file): Load() must refuse or accept, never crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "services/content/catalog/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using legwise::content::Catalog;
  static const legwise::content::CatalogFiles base = legwise::content::EmbeddedCatalogFileMap();
  if (size < 1) return 0;
  legwise::content::CatalogFiles files = base;
  // The first byte picks which file the rest replaces.
  auto it = files.begin();
  std::advance(it, data[0] % files.size());
  it->second.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  auto catalog = Catalog::Load(files);
  if (catalog.ok()) (void)(*catalog)->version();
  return 0;
}
