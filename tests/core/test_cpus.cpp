// tg::detail::usable_cpus's cgroup quota (core/cpus.hpp), read from the texts of /proc/self/cgroup,
// /proc/self/mountinfo and the cgroup's files, given here as a v2-only machine, a container without a cgroup
// namespace and a v1 / v2 hybrid (as this project's CI machines are) would show them.
#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>

#include "typegrad/core/cpus.hpp"

namespace {
struct files {
  std::map<std::string, std::string> text;
  std::optional<std::string> operator()(const std::string& path) const {
    const auto f = text.find(path);
    return f == text.end() ? std::nullopt : std::optional<std::string>(f->second);
  }
};

const std::string v2_mounts = "24 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev - cgroup2 cgroup2 rw,nsdelegate\n";
const std::string hybrid_mounts =
    "25 24 0:23 / /sys/fs/cgroup/unified rw,relatime shared:4 - cgroup2 cgroup2 rw\n"
    "27 24 0:25 / /sys/fs/cgroup/cpuset rw,relatime shared:6 - cgroup cgroup rw,cpuset\n"
    "28 24 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:7 - cgroup cgroup rw,cpu,cpuacct\n";
const std::string hybrid_cgroup = "5:cpuset:/batch\n4:cpu,cpuacct:/batch\n1:name=systemd:/\n0::/batch\n";
}  // namespace

TEST_CASE("cpus: a quota in whole CPUs, rounded up", "[cpus]") {
  using tg::detail::cpus_of_quota;
  CHECK(cpus_of_quota(200000, 100000) == 2);
  CHECK(cpus_of_quota(150000, 100000) == 2);  // 1.5 CPUs: a second thread still has half a CPU
  CHECK(cpus_of_quota(50000, 100000) == 1);
  CHECK(cpus_of_quota(400000, 100000) == 4);
  CHECK_FALSE(cpus_of_quota(-1, 100000));  // v1's "no limit"
  CHECK_FALSE(cpus_of_quota(100000, 0));
}

TEST_CASE("cpus: cgroup v2's cpu.max in the process's cgroup", "[cpus]") {
  const std::string cgroup = "0::/user.slice/job.scope\n";
  const std::string file = "/sys/fs/cgroup/user.slice/job.scope/cpu.max";
  CHECK(tg::detail::cgroup_cpu_limit(cgroup, v2_mounts, files{{{file, "250000 100000\n"}}}) == 3);
  CHECK_FALSE(tg::detail::cgroup_cpu_limit(cgroup, v2_mounts, files{{{file, "max 100000\n"}}}));
  CHECK_FALSE(tg::detail::cgroup_cpu_limit(cgroup, v2_mounts, files{{{file, "lots 100000\n"}}}));
  CHECK_FALSE(tg::detail::cgroup_cpu_limit(cgroup, v2_mounts, files{{{file, "250000\n"}}}));
  CHECK_FALSE(tg::detail::cgroup_cpu_limit(cgroup, v2_mounts, files{}));  // no cpu controller there
  // another cgroup's limit is not this process's
  CHECK_FALSE(tg::detail::cgroup_cpu_limit("0::/other\n", v2_mounts, files{{{file, "250000 100000\n"}}}));
}

TEST_CASE("cpus: a container's cgroup mounted at its own root", "[cpus]") {
  // without a cgroup namespace the process sees its full path, and the mount shows only the part below its root
  const std::string cgroup = "0::/docker/4f2a\n";
  const std::string mounts = "610 600 0:22 /docker/4f2a /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n";
  CHECK(tg::detail::cgroup_directory("", cgroup, mounts) == "/sys/fs/cgroup");
  CHECK(tg::detail::cgroup_cpu_limit(cgroup, mounts, files{{{"/sys/fs/cgroup/cpu.max", "100000 100000"}}}) == 1);
}

TEST_CASE("cpus: cgroup v1's cfs quota where the cpu controller is on v1 (a hybrid)", "[cpus]") {
  CHECK(tg::detail::cgroup_directory("cpu", hybrid_cgroup, hybrid_mounts) == "/sys/fs/cgroup/cpu,cpuacct/batch");
  CHECK(tg::detail::cgroup_directory("", hybrid_cgroup, hybrid_mounts) == "/sys/fs/cgroup/unified/batch");
  const std::string dir = "/sys/fs/cgroup/cpu,cpuacct/batch/";
  // v2's directory has no cpu.max there: v1's files are read
  CHECK(tg::detail::cgroup_cpu_limit(
            hybrid_cgroup, hybrid_mounts,
            files{{{dir + "cpu.cfs_quota_us", "150000\n"}, {dir + "cpu.cfs_period_us", "100000\n"}}}) == 2);
  CHECK_FALSE(tg::detail::cgroup_cpu_limit(
      hybrid_cgroup, hybrid_mounts,
      files{{{dir + "cpu.cfs_quota_us", "-1\n"}, {dir + "cpu.cfs_period_us", "100000\n"}}}));
  CHECK_FALSE(
      tg::detail::cgroup_cpu_limit(hybrid_cgroup, hybrid_mounts, files{{{dir + "cpu.cfs_quota_us", "150000\n"}}}));
  // cpuset is another controller, not cpu
  CHECK_FALSE(tg::detail::cgroup_directory("cpu", "5:cpuset:/batch\n", hybrid_mounts));
}

TEST_CASE("cpus: this process's CPUs, at least one and no more than the hardware's", "[cpus]") {
  const std::size_t cpus = tg::detail::usable_cpus();
  CHECK(cpus >= 1);
  if (std::thread::hardware_concurrency() > 0) CHECK(cpus <= std::thread::hardware_concurrency());
}
