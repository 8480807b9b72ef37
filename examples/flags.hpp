#pragma once
// Validators for the examples' flags, so a bad value stops the program before any work with a plain message
// (CLI11's PositiveNumber lets "nan" through and words its range with a 309-digit bound).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <typegrad/core/threads.hpp>

namespace examples::flags {

// a finite number > 0 (learning rates)
inline const CLI::Validator positive_finite(
    [](std::string& text) -> std::string {
      double v = 0;
      if (!CLI::detail::lexical_cast(text, v)) return "'" + text + "' is not a number";
      if (!std::isfinite(v) || v <= 0) return "must be a finite number greater than 0, not " + text;
      return {};
    },
    "> 0, finite", "positive_finite");

// a whole number >= 1 (epochs)
inline const CLI::Validator at_least_one(
    [](std::string& text) -> std::string {
      long long v = 0;
      if (!CLI::detail::lexical_cast(text, v) || v < 1) return "must be a whole number of at least 1, not " + text;
      return {};
    },
    ">= 1", "at_least_one");

// a file that can be created: its directory exists and is writable (checked before training, not after)
inline const CLI::Validator writable_file(
    [](std::string& text) -> std::string {
      const auto parent = std::filesystem::path(text).parent_path();
      const auto dir = parent.empty() ? std::filesystem::path(".") : parent;
      if (!std::filesystem::is_directory(dir)) return "directory " + dir.string() + " does not exist";
      if (::access(dir.c_str(), W_OK) != 0) return "directory " + dir.string() + " is not writable";
      if (std::filesystem::is_directory(text)) return text + " is a directory";
      return {};
    },
    "writable path", "writable_file");

// --threads N: tg::set_num_threads(N), saying so where the process may use fewer CPUs (the pool stops there)
inline void use_threads(std::size_t asked) {
  tg::set_num_threads(asked);
  if (tg::num_threads() < asked)
    std::fprintf(stderr,
                 "--threads %zu: the pool stops at the %zu CPU(s) this process may use (affinity, cgroup quota)\n",
                 asked, tg::num_threads());
}

}  // namespace examples::flags
