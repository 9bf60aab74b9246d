#include "spindle/io/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "io/io_poller.h"
#include "spindle/fibers/fiber.h"
#include "spindle/fibers/this_fiber.h"
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

// The io_uring poller of the calling fiber's Scheduler, if that is its backend;
// else null (a plain thread, another executor, or the epoll backend: the caller
// uses the blocking pool, which runs fn inline on a plain thread).
detail::IoPoller* ring_of_caller() {
  detail::Fiber* f = detail::current_fiber();
  if (f == nullptr) return nullptr;
  detail::IoPoller* p = detail::poller_for(f->executor());
  return p != nullptr && p->runs_file_ops() ? p : nullptr;
}

// One read or write at most this long per submission (an SQE's length is 32 bits;
// Linux transfers at most 0x7ffff000 bytes per call anyway).
constexpr std::size_t kMaxChunk = std::size_t{1} << 30;

// The pread/pwrite loops (EINTR, short transfers) with each step either a
// syscall or, on `ring`, a submission the fiber parks on.
template <bool kWrite>
std::size_t transfer(int fd, char* p, std::size_t size, std::uint64_t offset, detail::IoPoller* ring,
                     std::error_code& ec) {
  std::size_t done = 0;
  while (done < size) {
    const std::size_t len = std::min(size - done, kMaxChunk);
    long n;
    if (ring != nullptr) {
      detail::FileOp op{.kind = kWrite ? detail::FileOp::kWrite : detail::FileOp::kRead,
                        .fd = fd,
                        .buf = p + done,
                        .len = static_cast<unsigned>(len),
                        .offset = offset + done};
      n = ring->run_file_op(op);
      if (n == -EINTR || n == -EAGAIN) continue;
      if (n < 0) {
        ec.assign(static_cast<int>(-n), std::system_category());
        break;
      }
    } else {
      n = kWrite ? ::pwrite(fd, p + done, len, static_cast<off_t>(offset + done))
                 : ::pread(fd, p + done, len, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        ec = last_error();
        break;
      }
    }
    if (n == 0) {
      if (!kWrite) break;  // end of file
      ec = std::make_error_code(std::errc::io_error);  // a write that makes no progress
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  return done;
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
  if (detail::IoPoller* ring = ring_of_caller()) {
    detail::FileOp op{.kind = detail::FileOp::kOpen,
                      .path = path.c_str(),
                      .flags = flags_of(mode) | O_CLOEXEC,
                      .mode = 0644};
    long fd;
    do fd = ring->run_file_op(op);
    while (fd == -EINTR);
    if (fd < 0) {
      ec.assign(static_cast<int>(-fd), std::system_category());
      return File();
    }
    return File(static_cast<int>(fd));
  }
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
  auto* p = static_cast<char*>(buf.data());
  if (detail::IoPoller* ring = ring_of_caller()) return transfer<false>(fd_, p, buf.size(), offset, ring, ec);
  return offload([&] { return transfer<false>(fd_, p, buf.size(), offset, nullptr, ec); }, ec);
}

std::size_t File::read_at(MutableBuffer buf, std::uint64_t offset) {
  std::error_code ec;
  const std::size_t n = read_at(buf, offset, ec);
  net::detail::throw_if(ec, "spindle::io::File::read_at");
  return n;
}

std::size_t File::write_at(ConstBuffer buf, std::uint64_t offset, std::error_code& ec) noexcept {
  ec.clear();
  // The kernel only reads from p.
  auto* p = const_cast<char*>(static_cast<const char*>(buf.data()));
  if (detail::IoPoller* ring = ring_of_caller()) return transfer<true>(fd_, p, buf.size(), offset, ring, ec);
  return offload([&] { return transfer<true>(fd_, p, buf.size(), offset, nullptr, ec); }, ec);
}

std::size_t File::write_at(ConstBuffer buf, std::uint64_t offset) {
  std::error_code ec;
  const std::size_t n = write_at(buf, offset, ec);
  net::detail::throw_if(ec, "spindle::io::File::write_at");
  return n;
}

void File::fsync(std::error_code& ec) noexcept {
  ec.clear();
  if (detail::IoPoller* ring = ring_of_caller()) {
    long r;
    do r = ring->run_file_op(detail::FileOp{.kind = detail::FileOp::kFsync, .fd = fd_});
    while (r == -EINTR);
    if (r < 0) ec.assign(static_cast<int>(-r), std::system_category());
    return;
  }
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
