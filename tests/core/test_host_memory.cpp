// Host buffers (core/host_memory.hpp): 64-byte aligned and zeroed; from 2 MiB on, aligned to a huge page and
// advised for transparent huge pages (the VMA's "hg" flag in /proc/self/smaps, where the kernel has THP).
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "typegrad/core/host_memory.hpp"
#include "typegrad/core/tensor.hpp"

namespace {
std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// the VmFlags of the mapping holding p (/proc/self/smaps), "" where none holds it
std::string vm_flags(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    const auto dash = line.find('-');
    const auto space = line.find(' ');
    if (dash != std::string::npos && space != std::string::npos && dash < space &&
        line.find_first_not_of("0123456789abcdef") == dash) {  // a mapping's first line: "start-end perms ..."
      const auto begin = std::stoull(line.substr(0, dash), nullptr, 16);
      const auto end = std::stoull(line.substr(dash + 1, space - dash - 1), nullptr, 16);
      inside = begin <= address(p) && address(p) < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line.substr(8);
    }
  }
  return "";
}
bool advised_for_huge_pages(const void* p) {
  std::istringstream flags(vm_flags(p));
  for (std::string flag; flags >> flag;)
    if (flag == "hg") return true;
  return false;
}
// the kernel has transparent huge pages (so MADV_HUGEPAGE takes) and shows mappings' flags
bool kernel_has_thp() {
  const int on_the_stack = 0;
  return std::filesystem::exists("/sys/kernel/mm/transparent_hugepage/enabled") && !vm_flags(&on_the_stack).empty();
}
}  // namespace

TEST_CASE("host_memory: small buffers on cache lines, large ones on huge pages, all zeroed", "[host_memory]") {
  using tg::detail::huge_page_bytes;
  const auto small = tg::detail::allocate_aligned(1000);
  CHECK(address(small.get()) % 64 == 0);
  const std::size_t large_bytes = 2 * huge_page_bytes + 4096;  // two whole huge pages and a bit
  const auto large = tg::detail::allocate_aligned(large_bytes);
  CHECK(address(large.get()) % huge_page_bytes == 0);
  bool zero = true;
  for (std::size_t i = 0; i < large_bytes; ++i) zero = zero && large[i] == std::byte{0};
  CHECK(zero);
  if (kernel_has_thp()) {
    CHECK(advised_for_huge_pages(large.get()));
    CHECK(advised_for_huge_pages(large.get() + huge_page_bytes));
  }
}

TEST_CASE("host_memory: a large tensor and a container's large buffer on huge pages", "[host_memory]") {
  tg::Tensor<float, 1024, 1024> weights;  // 4 MiB
  CHECK(reinterpret_cast<std::uintptr_t>(weights.data()) % tg::detail::huge_page_bytes == 0);
  std::vector<float, tg::detail::buffer_allocator<float>> moments(1 << 20, 0.0f);  // an optimizer's state
  CHECK(reinterpret_cast<std::uintptr_t>(moments.data()) % tg::detail::huge_page_bytes == 0);
  std::vector<float, tg::detail::buffer_allocator<float>> few(100, 1.0f);
  CHECK(reinterpret_cast<std::uintptr_t>(few.data()) % 64 == 0);
  if (kernel_has_thp()) {
    CHECK(advised_for_huge_pages(weights.data()));
    CHECK(advised_for_huge_pages(moments.data()));
  }
  // moved and copied containers keep their buffers' kind
  auto copy = moments;
  CHECK(reinterpret_cast<std::uintptr_t>(copy.data()) % tg::detail::huge_page_bytes == 0);
  CHECK(copy[12345] == 0.0f);
}
