# Writes a C++ source holding a text file as a raw string literal (the FHIR mapping table travels
# inside the executable). Usage: cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DSYMBOL=<name> -P ...
file(READ "${INPUT}" _text)
string(FIND "${_text}" ")legwise_text\"" _bad)
if(NOT _bad EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by embed_text.cmake. Do not edit.\n"
  "#include \"absl/strings/string_view.h\"\n\n"
  "namespace legwise::gateway {\n\n"
  "absl::string_view ${SYMBOL}() {\n"
  "  static constexpr char kText[] = R\"legwise_text(${_text})legwise_text\";\n"
  "  return absl::string_view(kText, sizeof(kText) - 1);\n"
  "}\n\n"
  "}  // namespace legwise::gateway\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
