# Installs typegrad into a scratch prefix, then configures, builds and runs a consumer that uses
# find_package(typegrad) and links typegrad::typegrad, and typegrad::device in the variant DEVICE (OMP or CUDA).
file(REMOVE_RECURSE "${WORK_DIR}")
set(build "${WORK_DIR}/typegrad-build")
set(prefix "${WORK_DIR}/prefix")
set(consumer "${WORK_DIR}/consumer-build")
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE r OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT r EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${build}" -G "${GENERATOR}" -DTYPEGRAD_BUILD_TESTS=OFF
    -DTYPEGRAD_BUILD_EXAMPLES=OFF -DTYPEGRAD_BUILD_BENCH=OFF "-DTYPEGRAD_DEVICE=${DEVICE}"
    "-DCMAKE_INSTALL_PREFIX=${prefix}")
run(${CMAKE_COMMAND} --install "${build}")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${consumer}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}")
run(${CMAKE_COMMAND} --build "${consumer}")
run("${consumer}/consumer")
if(NOT DEVICE STREQUAL "OFF")
  if(NOT EXISTS "${consumer}/consumer_device")
    message(FATAL_ERROR "the install of TYPEGRAD_DEVICE=${DEVICE} gave the consumer no typegrad::device")
  endif()
  if(NOT DEVICE STREQUAL "CUDA")  # a CUDA build needs a GPU to run
    run("${consumer}/consumer_device")
  endif()
endif()
message(STATUS "find_package(typegrad) consumer built and ran, with typegrad::device (${DEVICE})")
