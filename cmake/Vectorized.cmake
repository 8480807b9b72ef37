# Compiles SOURCE with the vectoriser's report on and checks that the fused-region loop (program.hpp), the
# fused reduction (the host backend's segmented_reduce, core/backend.hpp) and the probe's own loop over the
# float activations are vectorised.  -D COMPILER=... -D SOURCE=... -D INCLUDES="..."
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
foreach(where IN ITEMS "core/program\\.hpp" "core/backend\\.hpp" "vectorization_probe\\.cpp")
  if(NOT report MATCHES "${where}:[0-9]+:[0-9]+: optimized: loop vectorized")
    message(FATAL_ERROR "no vectorised loop reported in ${where}. Report:\n${report}")
  endif()
endforeach()
message(STATUS "fused region and fused reduction loops are vectorised")
