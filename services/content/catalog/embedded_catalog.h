// The catalog data files compiled into the binary (generated from data/ by embed_files.cmake), so
// legwise-content serves the reviewed catalog from any working directory.
#ifndef LEGWISE_SERVICES_CONTENT_CATALOG_EMBEDDED_CATALOG_H_
#define LEGWISE_SERVICES_CONTENT_CATALOG_EMBEDDED_CATALOG_H_

#include "absl/types/span.h"

namespace legwise::content {

// One data file: its path relative to data/ ("en/leg-cramps.textproto") and its text.
struct EmbeddedFile {
  const char* path;
  const char* contents;
};

// Every embedded data file, sorted by path.
absl::Span<const EmbeddedFile> EmbeddedCatalogFiles();

}  // namespace legwise::content

#endif  // LEGWISE_SERVICES_CONTENT_CATALOG_EMBEDDED_CATALOG_H_
