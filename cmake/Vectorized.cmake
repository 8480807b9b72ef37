# Compiles SOURCE with the vectoriser's report on and checks that the fused-region loop (fused_loops.hpp), the
# fused reduction (the host backend's segmented_reduce, core/backend.hpp), the probe's loop over the float
# activations (the line marked "probe: activations" in SOURCE), the region backward loop by rows and both loops
# by runs (marked in fused_loops.hpp) are vectorised. Twice: for AVX-512 (masks) and for AVX2 (none: GCC if-converts less there).
# -D COMPILER=... -D SOURCE=... -D INCLUDES="..." -D FUSED_LOOPS_HPP=...
set(include_flags)
foreach(dir IN LISTS INCLUDES)
  list(APPEND include_flags "-I${dir}")
endforeach()

# the 1-based line of the first line of FILE holding MARKER, in OUT
function(marked_line file marker out)
  file(READ "${file}" text)
  string(FIND "${text}" "${marker}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "no line marked '${marker}' in ${file}")
  endif()
  string(SUBSTRING "${text}" 0 ${at} before)
  string(REGEX MATCHALL "\n" newlines "${before}")
  list(LENGTH newlines line)
  math(EXPR line "${line} + 1")
  set(${out} ${line} PARENT_SCOPE)
endfunction()
marked_line("${FUSED_LOOPS_HPP}" "probe: region backward by rows" backward_line)
marked_line("${FUSED_LOOPS_HPP}" "probe: region forward by runs" forward_runs_line)
marked_line("${FUSED_LOOPS_HPP}" "probe: region backward by runs" backward_runs_line)
marked_line("${SOURCE}" "probe: activations" activations_line)
get_filename_component(source_name "${SOURCE}" NAME)
string(REPLACE "." "\\." source_pattern "${source_name}")

foreach(arch IN ITEMS skylake-avx512 haswell)
  execute_process(
    COMMAND "${COMPILER}" -std=c++20 -O3 -march=${arch} -fopt-info-vec-optimized -fopt-info-loop-optimized ${include_flags} -c "${SOURCE}" -o /dev/null
    RESULT_VARIABLE result ERROR_VARIABLE report OUTPUT_VARIABLE out)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "the probe did not compile (-march=${arch}):\n${report}")
  endif()
  foreach(where IN ITEMS "core/fused_loops\\.hpp" "core/backend\\.hpp" "${source_pattern}:${activations_line}"
                         "core/fused_loops\\.hpp:${backward_line}" "core/fused_loops\\.hpp:${backward_runs_line}")
    if(NOT report MATCHES "${where}:[0-9]+:?[0-9]*: optimized: loop vectorized")
      message(FATAL_ERROR "-march=${arch}: no vectorised loop reported at ${where}. Report:\n${report}")
    endif()
  endforeach()
  # a run that the region only copies becomes a library call (memcpy / memmove of the run), as good
  if(NOT report MATCHES "core/fused_loops\\.hpp:${forward_runs_line}:[0-9]+:?[0-9]*: optimized: (loop vectorized|Loop [0-9]+ distributed: split to 0 loops and 1 library calls)")
    message(FATAL_ERROR "-march=${arch}: the region loop by runs is neither vectorised nor a copy. Report:\n${report}")
  endif()
endforeach()
message(STATUS "fused region (flat, by rows, by runs), fused reduction and activation loops are vectorised (AVX-512 and AVX2)")
