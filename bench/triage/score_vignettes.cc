// Scores the triage engine against a file of vignettes in the format of
// tests/triage/data/vignettes.txt (for example a set written blind by a clinician): how many are
// under-triaged, over-triaged and exact, how many emergencies are answered EMERGENCY, how many
// requests are invalid. Prints every miss.
//   build/release/bin/triage_score_vignettes FILE
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/triage/engine/request_validation.h"
#include "services/triage/engine/triage_engine.h"
#include "tests/triage/test_util.h"

using legwise::triage::v1::Urgency;
namespace v1 = legwise::triage::v1;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: triage_score_vignettes FILE\n";
    return 2;
  }
  auto table = legwise::triage::RuleTable::Builtin();
  if (!table.ok()) {
    std::cerr << table.status() << "\n";
    return 1;
  }
  legwise::triage::TriageEngine engine(*table);
  std::ifstream in(argv[1]);
  std::string line;
  int total = 0, exact = 0, under = 0, over = 0, invalid = 0, emergencies = 0, emergency_ok = 0;
  for (int n = 1; std::getline(in, line); ++n) {
    const std::vector<std::string> f = legwise::triage::testing::DataFields(line);
    if (f.empty()) continue;
    if (f.size() != 7) {
      std::cerr << "line " << n << ": expected 7 fields\n";
      return 2;
    }
    const Urgency want = legwise::triage::testing::LevelFromLetter(f[0]);
    v1::AssessLegSymptomsRequest r;
    legwise::triage::testing::AddSymptoms(f[1], &r);
    legwise::triage::testing::ParseContext(f[2], r.mutable_pregnancy());
    legwise::triage::testing::ParseExtras(f[3], &r);
    ++total;
    if (!legwise::triage::ValidateAssessRequest(r).empty()) {
      ++invalid;
      std::cout << "INVALID line " << n << ": " << line << "\n";
      continue;
    }
    const Urgency got = engine.Assess(r).urgency();
    if (want == v1::URGENCY_EMERGENCY) {
      ++emergencies;
      emergency_ok += got == v1::URGENCY_EMERGENCY;
    }
    if (got == want) {
      ++exact;
    } else {
      (got < want ? under : over)++;
      std::cout << (got < want ? "UNDER" : "OVER ") << " line " << n << " got "
                << v1::Urgency_Name(got) << ": " << line << "\n";
    }
  }
  std::cout << "cases " << total << ", exact " << exact << " (" << 100.0 * exact / total
            << "%), under-triaged " << under << ", over-triaged " << over << ", invalid " << invalid
            << ", emergencies answered EMERGENCY " << emergency_ok << "/" << emergencies << "\n";
  return under == 0 ? 0 : 1;
}
