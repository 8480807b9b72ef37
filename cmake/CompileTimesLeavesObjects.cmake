# CTest script: bench/compile_times measures a unit without touching the build's object file of that unit.
# When it wrote that object (without the dependency file CMake's own command writes), make no longer knew the
# object's headers and did not rebuild it after they changed. The object is set aside, a stand-in takes its
# place while compile_times runs, and the object is put back.
#   cmake -DCOMPILE_TIMES=<exe> -DBUILD=<build dir> -DUNIT=<target> -DOBJECT=<its object> -P CompileTimesLeavesObjects.cmake
set(saved "${OBJECT}.saved-by-test")
if(EXISTS "${OBJECT}")
  file(RENAME "${OBJECT}" "${saved}")
endif()
file(WRITE "${OBJECT}" "not an object: a stand-in that compile_times must leave as it is\n")
file(SHA256 "${OBJECT}" before)
execute_process(COMMAND "${COMPILE_TIMES}" --build "${BUILD}" --repeat 1 --only "${UNIT}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
file(SHA256 "${OBJECT}" after)
file(REMOVE "${OBJECT}")
if(EXISTS "${saved}")
  file(RENAME "${saved}" "${OBJECT}")
endif()
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compile_times failed (${rc}):\n${out}${err}")
endif()
if(NOT out MATCHES "compile ${UNIT} wall_s")
  message(FATAL_ERROR "compile_times did not measure ${UNIT}:\n${out}${err}")
endif()
if(NOT before STREQUAL after)
  message(FATAL_ERROR "compile_times overwrote the build's object ${OBJECT}")
endif()
message(STATUS "${out}")
