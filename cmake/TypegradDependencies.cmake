# GEMM libraries, as target typegrad::blas:
#  - BLAS with the CBLAS interface (OpenBLAS from Debian's libopenblas-dev): required, the general path;
#  - libxsmm (Debian's libxsmm-dev): optional, JIT kernels per fixed GEMM shape (core/blas.hpp).
#    TYPEGRAD_USE_LIBXSMM=OFF leaves it out.
option(TYPEGRAD_USE_LIBXSMM "Use libxsmm for fixed-shape GEMM when it is installed" ON)
if(NOT TARGET typegrad::blas)
  find_path(TYPEGRAD_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
  find_library(TYPEGRAD_OPENBLAS_LIBRARY NAMES openblas)
  if(NOT TYPEGRAD_CBLAS_INCLUDE_DIR OR NOT TYPEGRAD_OPENBLAS_LIBRARY)
    message(FATAL_ERROR "typegrad needs OpenBLAS with cblas.h (Debian: apt-get install libopenblas-dev)")
  endif()
  add_library(typegrad::blas INTERFACE IMPORTED)
  set_target_properties(typegrad::blas PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${TYPEGRAD_CBLAS_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${TYPEGRAD_OPENBLAS_LIBRARY}")
  if(TYPEGRAD_USE_LIBXSMM)
    find_path(TYPEGRAD_LIBXSMM_INCLUDE_DIR libxsmm.h)
    find_library(TYPEGRAD_LIBXSMM_LIBRARY NAMES xsmm)
    if(TYPEGRAD_LIBXSMM_INCLUDE_DIR AND TYPEGRAD_LIBXSMM_LIBRARY)
      find_package(Threads REQUIRED)
      # libxsmm falls back to BLAS symbols itself: it comes before OpenBLAS on the link line
      set_target_properties(typegrad::blas PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${TYPEGRAD_CBLAS_INCLUDE_DIR};${TYPEGRAD_LIBXSMM_INCLUDE_DIR}"
        INTERFACE_COMPILE_DEFINITIONS TYPEGRAD_HAVE_LIBXSMM
        INTERFACE_LINK_LIBRARIES
          "${TYPEGRAD_LIBXSMM_LIBRARY};${TYPEGRAD_OPENBLAS_LIBRARY};Threads::Threads;${CMAKE_DL_LIBS}")
      message(STATUS "typegrad: fixed-shape GEMM through libxsmm (${TYPEGRAD_LIBXSMM_LIBRARY})")
    else()
      message(STATUS "typegrad: libxsmm not found (Debian: libxsmm-dev); GEMM through OpenBLAS only")
    endif()
  endif()
endif()
