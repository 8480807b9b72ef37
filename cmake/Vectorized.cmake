# Compiles SOURCE with the vectoriser's report on and checks that the fused-region loop (fused_loops.hpp), the
# fused reduction (the host backend's segmented_reduce, core/backend.hpp), the probe's own loop over the
# float activations, and the region backward loop by rows (marked in fused_loops.hpp) are vectorised.
# -D COMPILER=... -D SOURCE=... -D INCLUDES="..." -D FUSED_LOOPS_HPP=...
set(include_flags)
foreach(dir IN LISTS INCLUDES)
  list(APPEND include_flags "-I${dir}")
endforeach()
execute_process(
  COMMAND "${COMPILER}" -std=c++20 -O3 -march=skylake-avx512 -fopt-info-vec-optimized ${include_flags} -c "${SOURCE}" -o /dev/null
  RESULT_VARIABLE result ERROR_VARIABLE report OUTPUT_VARIABLE out)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the probe did not compile:\n${report}")
endif()
foreach(where IN ITEMS "core/fused_loops\\.hpp" "core/backend\\.hpp" "vectorization_probe\\.cpp")
  if(NOT report MATCHES "${where}:[0-9]+:[0-9]+: optimized: loop vectorized")
    message(FATAL_ERROR "no vectorised loop reported in ${where}. Report:\n${report}")
  endif()
endforeach()
# the region backward loop over rows (the line marked in fused_loops.hpp), which pushes into a broadcast bias
file(READ "${FUSED_LOOPS_HPP}" program_text)
string(FIND "${program_text}" "probe: region backward by rows" at)
if(at EQUAL -1)
  message(FATAL_ERROR "no line marked 'probe: region backward by rows' in ${FUSED_LOOPS_HPP}")
endif()
string(SUBSTRING "${program_text}" 0 ${at} before)
string(REGEX MATCHALL "\n" newlines "${before}")
list(LENGTH newlines marked)
math(EXPR marked "${marked} + 1")
if(NOT report MATCHES "core/fused_loops\\.hpp:${marked}:[0-9]+: optimized: loop vectorized")
  message(FATAL_ERROR "the region backward loop (fused_loops.hpp:${marked}) is not vectorised. Report:\n${report}")
endif()
message(STATUS "fused region and fused reduction loops are vectorised")
