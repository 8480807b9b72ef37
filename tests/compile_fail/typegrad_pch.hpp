// Precompiled as typegrad/typegrad.hpp.gch for the compile-fail tests (tests/CMakeLists.txt): a wrapper, so
// that g++ does not warn about `#pragma once` in the main file.
#include <typegrad/typegrad.hpp>
