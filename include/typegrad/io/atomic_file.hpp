#pragma once
// Replacing a file so that a crash at any moment leaves either the old file or the whole new one:
//   1. create a temporary file beside the target with O_CREAT | O_EXCL | O_NOFOLLOW and an unpredictable name
//      (a planted file or symlink makes the open fail; it is never followed or overwritten),
//   2. write, flush, fsync it,
//   3. rename it over the target (atomic within a file system), then fsync the directory so the rename is durable.
// Every failure removes the temporary file and names the file, the step and strerror(errno).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>

namespace tg::io {

class FileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

inline std::string errno_text(int code) { return std::strerror(code); }

// A temporary file opened for writing; removed on destruction unless committed.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::filesystem::path& target) {
    std::random_device entropy;
    for (int attempt = 0; attempt < 100; ++attempt) {
      char suffix[24];
      std::snprintf(suffix, sizeof suffix, ".tmp-%08x%08x", entropy(), entropy());
      path_ = target.string() + suffix;
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      if (errno != EEXIST) break;
    }
    throw FileError(path_.string() + ": cannot create the temporary file (" + errno_text(errno) + ")");
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  const std::filesystem::path& path() const { return path_; }

  void write(const void* data, std::size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail("write failed");
      p += w;
      n -= std::size_t(w);
    }
  }

  // fsync, close, rename over `target`, fsync the directory
  void commit(const std::filesystem::path& target) {
    if (::fsync(fd_) != 0) fail("fsync failed");
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) fail("close failed");
    if (std::rename(path_.c_str(), target.c_str()) != 0)
      throw FileError(target.string() + ": cannot replace it with " + path_.string() + " (" + errno_text(errno) + ")");
    committed_ = true;
    const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) throw FileError(dir.string() + ": cannot open the directory to sync it (" + errno_text(errno) + ")");
    const bool synced = ::fsync(dfd) == 0;
    const int code = errno;
    ::close(dfd);
    if (!synced) throw FileError(dir.string() + ": directory fsync failed (" + errno_text(code) + ")");
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw FileError(path_.string() + ": " + what + " (" + errno_text(errno) + ")");
  }
  std::filesystem::path path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace detail

// Replaces `path` with what `write(put)` produces, where put(const void*, std::size_t) appends bytes.
// `after_first_write` is a test seam for crash tests: it runs once the first bytes are in the temporary file,
// which it receives.
inline void atomic_write(const std::filesystem::path& path,
                         const std::function<void(const std::function<void(const void*, std::size_t)>&)>& write,
                         const std::function<void(const std::filesystem::path&)>& after_first_write = {}) {
  detail::TemporaryFile tmp(path);
  bool first = true;
  write([&](const void* data, std::size_t n) {
    tmp.write(data, n);
    if (first && after_first_write) after_first_write(tmp.path());
    first = false;
  });
  tmp.commit(path);
}

}  // namespace tg::io
