#include "spindle/io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "spindle/io/blocking.h"
#include "spindle/io/error.h"

namespace spindle::io {
namespace {

std::error_code last_error() { return {errno, std::system_category()}; }

int flags_of(OpenMode m) {
  switch (m) {
    case OpenMode::kRead: return O_RDONLY;
    case OpenMode::kReadWrite: return O_RDWR;
    case OpenMode::kCreate: return O_RDWR | O_CREAT;
    case OpenMode::kTruncate: return O_RDWR | O_CREAT | O_TRUNC;
  }
  return O_RDONLY;
}

// blocking() only throws what fn throws (nothing here) or bad_alloc.
template <class Fn>
auto offload(Fn&& fn, std::error_code& ec) noexcept -> decltype(fn()) {
  try {
    return blocking(fn);
  } catch (...) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

}  // namespace

File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

File File::open(const std::string& path, OpenMode mode, std::error_code& ec) noexcept {
  ec.clear();
  const int fd = offload([&] {
    const int r = ::open(path.c_str(), flags_of(mode) | O_CLOEXEC, 0644);
    if (r < 0) ec = last_error();
    return r;
  }, ec);
  return fd >= 0 ? File(fd) : File();
}

File File::open(const std::string& path, OpenMode mode) {
  std::error_code ec;
  File f = open(path, mode, ec);
  net::detail::throw_if(ec, "spindle::io::File::open");
  return f;
}

std::size_t File::read_at(MutableBuffer buf, std::uint64_t offset, std::error_code& ec) noexcept {
  ec.clear();
  return offload([&]() -> std::size_t {
    auto* p = static_cast<char*>(buf.data());
    std::size_t done = 0;
    while (done < buf.size()) {
      const ssize_t n = ::pread(fd_, p + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ec = last_error();
        break;
      }
      if (n == 0) break;  // end of file
      done += static_cast<std::size_t>(n);
    }
    return done;
  }, ec);
}

std::size_t File::read_at(MutableBuffer buf, std::uint64_t offset) {
  std::error_code ec;
  const std::size_t n = read_at(buf, offset, ec);
  net::detail::throw_if(ec, "spindle::io::File::read_at");
  return n;
}

std::size_t File::write_at(ConstBuffer buf, std::uint64_t offset, std::error_code& ec) noexcept {
  ec.clear();
  return offload([&]() -> std::size_t {
    const auto* p = static_cast<const char*>(buf.data());
    std::size_t done = 0;
    while (done < buf.size()) {
      const ssize_t n = ::pwrite(fd_, p + done, buf.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ec = last_error();
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    return done;
  }, ec);
}

std::size_t File::write_at(ConstBuffer buf, std::uint64_t offset) {
  std::error_code ec;
  const std::size_t n = write_at(buf, offset, ec);
  net::detail::throw_if(ec, "spindle::io::File::write_at");
  return n;
}

void File::fsync(std::error_code& ec) noexcept {
  ec.clear();
  offload([&] {
    if (::fsync(fd_) != 0) ec = last_error();
    return 0;
  }, ec);
}

void File::fsync() {
  std::error_code ec;
  fsync(ec);
  net::detail::throw_if(ec, "spindle::io::File::fsync");
}

std::uint64_t File::size(std::error_code& ec) noexcept {
  ec.clear();
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    ec = last_error();
    return 0;
  }
  return static_cast<std::uint64_t>(st.st_size);
}

std::uint64_t File::size() {
  std::error_code ec;
  const std::uint64_t n = size(ec);
  net::detail::throw_if(ec, "spindle::io::File::size");
  return n;
}

void File::close() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

}  // namespace spindle::io
