# The Thrust device backend (cuda/). TYPEGRAD_DEVICE picks the variant that is built and tested:
#   OMP   Thrust's OpenMP system, compiled by the C++ compiler: device code paths run on the CPU (CI)
#   CUDA  nvcc for sm_80 and sm_90, cuBLAS (needs a GPU to run the tests)
#   OFF   host backend only
set(TYPEGRAD_DEVICE "OMP" CACHE STRING "Device backend variant to build and test: OMP, CUDA or OFF")
set_property(CACHE TYPEGRAD_DEVICE PROPERTY STRINGS OMP CUDA OFF)

if(NOT TYPEGRAD_DEVICE STREQUAL "OFF")
  # Thrust: the CUDA toolkit's CCCL, else Debian's libthrust-dev (scripts/setup.sh installs one of them)
  find_path(TYPEGRAD_THRUST_INCLUDE_DIR thrust/version.h PATHS /usr/local/cuda/include/cccl /usr/include NO_DEFAULT_PATH)
  if(NOT TYPEGRAD_THRUST_INCLUDE_DIR)
    message(FATAL_ERROR "TYPEGRAD_DEVICE=${TYPEGRAD_DEVICE} needs Thrust: install the CUDA toolkit or libthrust-dev "
                        "(scripts/setup.sh does), or configure with -DTYPEGRAD_DEVICE=OFF")
  endif()
  add_library(typegrad_device INTERFACE)
  add_library(typegrad::device ALIAS typegrad_device)
  set_target_properties(typegrad_device PROPERTIES EXPORT_NAME device)
  target_include_directories(typegrad_device INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/cuda>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_include_directories(typegrad_device SYSTEM INTERFACE ${TYPEGRAD_THRUST_INCLUDE_DIR})
  target_link_libraries(typegrad_device INTERFACE typegrad::typegrad)
  if(TYPEGRAD_DEVICE STREQUAL "OMP")
    find_package(OpenMP REQUIRED)
    target_compile_definitions(typegrad_device INTERFACE THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_OMP)
    target_link_libraries(typegrad_device INTERFACE OpenMP::OpenMP_CXX)
  elseif(TYPEGRAD_DEVICE STREQUAL "CUDA")
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    # C++20 for every CUDA translation unit. CMake 3.25 (Debian 12) does not know that nvcc 13 supports
    # cuda_std_20, so CMAKE_CUDA_STANDARD 20 silently falls back to nvcc's default (C++17) and adds no flag:
    # pass the flag ourselves where CMake cannot.
    if("cuda_std_20" IN_LIST CMAKE_CUDA_COMPILE_FEATURES)
      target_compile_features(typegrad_device INTERFACE cuda_std_20)
    else()
      target_compile_options(typegrad_device INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
    endif()
    target_link_libraries(typegrad_device INTERFACE CUDA::cublas CUDA::cudart)
    target_compile_options(typegrad_device INTERFACE
      $<$<COMPILE_LANGUAGE:CUDA>:--extended-lambda --expt-relaxed-constexpr -diag-suppress=186>)
  else()
    message(FATAL_ERROR "TYPEGRAD_DEVICE must be OMP, CUDA or OFF (got '${TYPEGRAD_DEVICE}')")
  endif()
  message(STATUS "typegrad device backend: ${TYPEGRAD_DEVICE} (Thrust in ${TYPEGRAD_THRUST_INCLUDE_DIR})")
endif()

# typegrad_device_sources(<files>): built as CUDA in the CUDA variant, as C++ otherwise.
function(typegrad_device_sources)
  if(TYPEGRAD_DEVICE STREQUAL "CUDA")
    set_source_files_properties(${ARGN} PROPERTIES LANGUAGE CUDA)
  endif()
endfunction()

# typegrad_device_target(<target>): a test, example or benchmark built on typegrad::device. It links the
# project's warning flags (for nvcc: every nvcc diagnostic is an error) and joins `typegrad_device_targets`, the
# targets whose code differs between the variants: `cmake --build <dir> --target typegrad_device_targets` builds
# what the CUDA variant adds to the host build (CI does, where nvcc is installed).
if(NOT TYPEGRAD_DEVICE STREQUAL "OFF")
  add_custom_target(typegrad_device_targets)
endif()
function(typegrad_device_target target)
  target_link_libraries(${target} PRIVATE typegrad::device typegrad_warnings)
  add_dependencies(typegrad_device_targets ${target})
endfunction()
