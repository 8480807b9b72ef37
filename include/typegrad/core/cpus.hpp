#pragma once
// The CPUs this process may use, the most threads tg::set_num_threads starts (core/threads.hpp): the smaller of
// its affinity mask (taskset, a cpuset) and its cgroup's CPU quota (a container's `--cpus`, systemd's CPUQuota=).
// Past either, a spinning pool waits for its own threads: past the mask two of them share a CPU and spin until the
// scheduler's tick (a LeNet step 56 ms instead of 2); past the quota the kernel stops the whole process until the
// next period once the spinning has spent it.
//
// The quota, rounded up to whole CPUs (1.5 CPUs: 2): cgroup v2's cpu.max ("<quota> <period>" in us, "max ..." for
// none) or v1's cpu.cfs_quota_us (-1 for none) over cpu.cfs_period_us, in the process's own cgroup
// (/proc/self/cgroup) under the hierarchy's mount point (/proc/self/mountinfo). A parent cgroup's smaller quota is
// not read.
#include <algorithm>
#include <charconv>
#include <cstddef>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifdef __linux__
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#endif

namespace tg::detail {

// ceil(quota / period) whole CPUs; none for no limit (a quota <= 0, v1's -1)
inline std::optional<std::size_t> cpus_of_quota(long long quota_us, long long period_us) {
  if (quota_us <= 0 || period_us <= 0) return std::nullopt;
  return std::size_t((quota_us + period_us - 1) / period_us);
}

// a whole decimal number with nothing else around it but white space
inline std::optional<long long> whole_number(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\n')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n')) text.remove_suffix(1);
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Where a cgroup's files are: for the hierarchy named `wanted` ("" for cgroup v2, else a v1 controller such as
// "cpu"), the directory of the process's cgroup in it, from /proc/self/cgroup's text ("<id>:<controllers>:<path>"
// lines) and /proc/self/mountinfo's ("<id> <parent> <dev> <root> <mount point> <options> ... - <type> <source>
// <super options>"); none where that hierarchy is not mounted here.
inline std::optional<std::string> cgroup_directory(std::string_view wanted, const std::string& cgroup,
                                                   const std::string& mountinfo) {
  const auto has_controller = [](std::string_view list, std::string_view name) {
    for (std::size_t b = 0; b <= list.size();) {
      const std::size_t e = std::min(list.find(',', b), list.size());
      if (list.substr(b, e - b) == name) return true;
      b = e + 1;
    }
    return false;
  };
  std::optional<std::string> path;
  std::istringstream groups(cgroup);
  for (std::string line; std::getline(groups, line);) {
    const std::size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string_view controllers = std::string_view(line).substr(a + 1, b - a - 1);
    if (wanted.empty() ? controllers.empty() && line.compare(0, a, "0") == 0 : has_controller(controllers, wanted))
      path = line.substr(b + 1);
  }
  if (!path) return std::nullopt;
  std::istringstream mounts(mountinfo);
  for (std::string line; std::getline(mounts, line);) {
    std::istringstream fields(line);
    const std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
    const auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 4) continue;
    const std::string &root = f[3], &mount_point = f[4], &type = dash[1], &options = dash[3];
    if (wanted.empty() ? type != "cgroup2" : type != "cgroup" || !has_controller(options, wanted)) continue;
    // the cgroup's path is relative to the hierarchy's root; the mount shows the part below `root`
    if (path->compare(0, root.size(), root) != 0) continue;
    const std::string below = root == "/" ? *path : path->substr(root.size());
    return mount_point + below;
  }
  return std::nullopt;
}

// The quota of the process's cgroup in whole CPUs, none if it has none; `read(path)` gives a file's text.
template <class Read>
std::optional<std::size_t> cgroup_cpu_limit(const std::string& cgroup, const std::string& mountinfo, Read read) {
  if (const auto dir = cgroup_directory("", cgroup, mountinfo)) {
    if (const std::optional<std::string> text = read(*dir + "/cpu.max")) {
      const std::size_t space = text->find(' ');
      const std::string_view quota = std::string_view(*text).substr(0, space);
      if (quota == "max" || space == std::string::npos) return std::nullopt;
      const auto q = whole_number(quota), p = whole_number(std::string_view(*text).substr(space + 1));
      return q && p ? cpus_of_quota(*q, *p) : std::nullopt;
    }
  }
  if (const auto dir = cgroup_directory("cpu", cgroup, mountinfo)) {
    const auto quota = read(*dir + "/cpu.cfs_quota_us"), period = read(*dir + "/cpu.cfs_period_us");
    if (quota && period) {
      const auto q = whole_number(*quota), p = whole_number(*period);
      return q && p ? cpus_of_quota(*q, *p) : std::nullopt;
    }
  }
  return std::nullopt;
}

#ifdef __linux__
// a file's whole text (POSIX reads: <fstream> would add its templates to every translation unit of the library)
inline std::optional<std::string> file_text(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buffer[4096];
  ssize_t got = 0;
  while ((got = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, std::size_t(got));
  ::close(fd);
  if (got < 0) return std::nullopt;
  return text;
}
#endif

// The CPUs this process may use: the affinity mask's count and the cgroup's quota on Linux, the smaller; the
// hardware's threads elsewhere.
inline std::size_t usable_cpus() {
  std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = std::size_t(std::max(1, CPU_COUNT(&set)));
  const auto cgroup = file_text("/proc/self/cgroup"), mountinfo = file_text("/proc/self/mountinfo");
  if (cgroup && mountinfo)
    if (const auto quota = cgroup_cpu_limit(*cgroup, *mountinfo, file_text)) cpus = std::min(cpus, *quota);
#endif
  return std::max<std::size_t>(1, cpus);
}

}  // namespace tg::detail
