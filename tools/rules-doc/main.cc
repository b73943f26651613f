// legwise-rules-doc: prints the clinician-facing rule document (docs/clinical-rules.md) for the
// built-in rule table, or for the rules file given as the only argument.
//   build/release/bin/legwise-rules-doc > docs/clinical-rules.md
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "services/triage/engine/builtin_rules.h"
#include "services/triage/engine/rules_doc.h"

int main(int argc, char** argv) {
  std::string text(legwise::triage::BuiltinRulesText());
  if (argc == 2) {
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
      std::cerr << "cannot read " << argv[1] << "\n";
      return 2;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    text = buf.str();
  } else if (argc > 2) {
    std::cerr << "usage: legwise-rules-doc [rules.textproto]\n";
    return 2;
  }
  auto doc = legwise::triage::RenderRulesDoc(text);
  if (!doc.ok()) {
    std::cerr << doc.status() << "\n";
    return 1;
  }
  std::cout << *doc;
  return 0;
}
