# Runs the compiler on one source that must NOT compile, and checks that the diagnostics contain every
# pattern listed in the source as `// expect: <regex>`.
# The same source compiled with -DTG_CORRECTED (where it states the corrected line) must compile, so
# the failure is known to come from the mistake and not from the test's own setup. A source may also state
# `// max-diagnostic-bytes: N`.
# -D COMPILER=... -D SOURCE=... -D INCLUDES="dir;dir" -D CXX_STANDARD=20 [-D DEFINITIONS="NAME=VALUE;..."]
# [-D PCH_INCLUDE=dir] (searched first: a precompiled header there is used where it is valid)
file(STRINGS "${SOURCE}" expect_lines REGEX "^// expect: ")
if(NOT expect_lines)
  message(FATAL_ERROR "${SOURCE} lists no '// expect:' patterns")
endif()
set(include_flags)
if(PCH_INCLUDE)  # first: a precompiled typegrad/typegrad.hpp (tests/CMakeLists.txt)
  list(APPEND include_flags "-I${PCH_INCLUDE}")
endif()
foreach(dir IN LISTS INCLUDES)
  list(APPEND include_flags "-I${dir}")
endforeach()
foreach(def IN LISTS DEFINITIONS)
  list(APPEND include_flags "-D${def}")
endforeach()
execute_process(
  COMMAND "${COMPILER}" -std=c++${CXX_STANDARD} -fsyntax-only ${include_flags} "${SOURCE}"
  RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
string(LENGTH "${err}" err_length)
# One mistake, one error: later operations on a failed expression must stay silent.
string(REGEX MATCHALL "error: " error_lines "${err}")
list(LENGTH error_lines error_count)
if(NOT error_count EQUAL 1)
  message(FATAL_ERROR "${SOURCE}: expected exactly one error, the compiler reported ${error_count}:\n${err}")
endif()
file(READ "${SOURCE}" source_text)
if(source_text MATCHES "TG_CORRECTED")
  execute_process(
    COMMAND "${COMPILER}" -std=c++${CXX_STANDARD} -fsyntax-only -DTG_CORRECTED ${include_flags} "${SOURCE}"
    RESULT_VARIABLE fixed_result ERROR_VARIABLE fixed_err)
  if(NOT fixed_result EQUAL 0)
    message(FATAL_ERROR "${SOURCE} with -DTG_CORRECTED must compile, but:\n${fixed_err}")
  endif()
endif()
# `// max-diagnostic-bytes: N`: the whole diagnostic output stays under N bytes (deep models, issue 13)
file(STRINGS "${SOURCE}" limit_lines REGEX "^// max-diagnostic-bytes: [0-9]+")
foreach(line IN LISTS limit_lines)
  string(REGEX REPLACE "^// max-diagnostic-bytes: " "" limit "${line}")
  if(err_length GREATER limit)
    message(FATAL_ERROR "${SOURCE}: ${err_length} bytes of diagnostics, more than ${limit}:\n${err}")
  endif()
endforeach()
foreach(line IN LISTS expect_lines)
  string(REGEX REPLACE "^// expect: " "" pattern "${line}")
  if(NOT err MATCHES "${pattern}")
    message(FATAL_ERROR "${SOURCE}: the diagnostics lack /${pattern}/. They were:\n${err}")
  endif()
endforeach()
message(STATUS "${SOURCE}: failed to compile as intended: one error, ${err_length} characters of diagnostics")
