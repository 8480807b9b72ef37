# BLAS with the CBLAS interface (OpenBLAS from Debian's libopenblas-dev), as target typegrad::blas.
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
endif()
