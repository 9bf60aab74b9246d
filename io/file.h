// io::File: positional file I/O that parks the calling fiber instead of blocking
// its worker. On a Scheduler whose netpoller backend is io_uring, each call is a
// ring submission (IORING_OP_OPENAT / READ / WRITE / FSYNC) made from the calling
// fiber, which parks until its completion (uring_poller.h); on the epoll backend
// (and other executors) the syscall runs on the blocking pool (spindle::blocking).
// From a plain thread the calls block the thread. The calls are not cancellable:
// a fiber whose stop was requested still completes them.
//
//   auto f = spindle::io::File::open("data.bin", spindle::io::OpenMode::kCreate);
//   f.write_at("hello", 0);
//   char buf[5];
//   std::size_t n = f.read_at(buf, 0);
//   f.fsync();
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <utility>

#include "spindle/io/buffer.h"

namespace spindle::io {

using net::ConstBuffer;
using net::MutableBuffer;

// How File::open opens.
enum class OpenMode {
  kRead,       // read only; the file must exist
  kReadWrite,  // read and write; the file must exist
  kCreate,     // read and write; created (0644 before umask) if missing
  kTruncate,   // read and write; created if missing, emptied if not
};

class File {
 public:
  // Not open.
  File() = default;
  File(File&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  // Closes (on the calling thread: close(2) of a regular file does not block).
  ~File() { close(); }

  // Opens `path` (the open itself runs on the blocking pool).
  static File open(const std::string& path, OpenMode mode);
  static File open(const std::string& path, OpenMode mode, std::error_code& ec) noexcept;

  // Reads up to buf.size() bytes at `offset`; fewer only at the end of the file
  // (0: at or past the end).
  std::size_t read_at(MutableBuffer buf, std::uint64_t offset);
  std::size_t read_at(MutableBuffer buf, std::uint64_t offset, std::error_code& ec) noexcept;
  // Writes all of buf at `offset`; returns the bytes written (buf.size() unless ec).
  std::size_t write_at(ConstBuffer buf, std::uint64_t offset);
  std::size_t write_at(ConstBuffer buf, std::uint64_t offset, std::error_code& ec) noexcept;
  // fsync(2): the data and metadata reach the disk.
  void fsync();
  void fsync(std::error_code& ec) noexcept;
  // The file's size in bytes.
  std::uint64_t size();
  std::uint64_t size(std::error_code& ec) noexcept;

  // Closes; idempotent. Must not race with calls on this File.
  void close() noexcept;
  // Whether it is open.
  bool is_open() const { return fd_ >= 0; }
  // The fd (-1 when closed).
  int native_handle() const { return fd_; }

 private:
  explicit File(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace spindle::io
