# Writes a C++ source that holds a text file as a raw string literal, so the rule table travels inside
# the executable and does not depend on the working directory.
# Usage: cmake -DINPUT=<file> -DOUTPUT=<file.cc> -P embed_rules.cmake
file(READ "${INPUT}" _text)
string(FIND "${_text}" ")legwise_rules\"" _bad)
if(NOT _bad EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by embed_rules.cmake. Do not edit.\n"
  "#include \"services/triage/engine/builtin_rules.h\"\n\n"
  "namespace legwise::triage {\n\n"
  "absl::string_view BuiltinRulesText() {\n"
  "  static constexpr char kText[] = R\"legwise_rules(${_text})legwise_rules\";\n"
  "  return absl::string_view(kText, sizeof(kText) - 1);\n"
  "}\n\n"
  "}  // namespace legwise::triage\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
