#include "spindle/io/socket.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "io/poll_desc.h"

namespace spindle::detail {
namespace {

IoMode mode_of(Socket::Dir d) { return d == Socket::Dir::kRead ? IoMode::kRead : IoMode::kWrite; }

// Holds a reference on the descriptor for one call.
class Ref {
 public:
  Ref(PollDesc* d, std::uint32_t seq) : d_(d != nullptr && desc_acquire(d, seq) ? d : nullptr) {}
  ~Ref() {
    if (d_ != nullptr) desc_release(d_);
  }
  explicit operator bool() const { return d_ != nullptr; }

 private:
  PollDesc* d_;
};

std::error_code closed() { return std::make_error_code(std::errc::bad_file_descriptor); }

}  // namespace

Socket::Socket(int fd, std::error_code& ec) {
  ec.clear();
  const int fl = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  desc_ = desc_open(fd);
  if (desc_ == nullptr) {
    ::close(fd);
    ec = std::make_error_code(std::errc::too_many_files_open);
    return;
  }
  seq_ = desc_->seq;  // desc_open's descriptor is ours alone until we publish it
  fd_ = fd;
}

Socket::Socket(Socket&& other) noexcept { *this = std::move(other); }

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    desc_ = std::exchange(other.desc_, nullptr);
    seq_ = other.seq_;
    fd_ = std::exchange(other.fd_, -1);
    read_deadline_.store(other.read_deadline_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    write_deadline_.store(other.write_deadline_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    read_drained_.store(other.read_drained_.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  return *this;
}

bool Socket::is_open() const {
  return desc_ != nullptr && !desc_->closing.load(std::memory_order_acquire);
}

void Socket::close() noexcept {
  if (desc_ != nullptr) desc_close(desc_, seq_);
}

void Socket::set_deadline(Dir dir, net::Deadline deadline) {
  const std::int64_t v = deadline ? deadline.at()->time_since_epoch().count() : kNone;
  (dir == Dir::kRead ? read_deadline_ : write_deadline_).store(v, std::memory_order_relaxed);
}

std::optional<Clock::time_point> Socket::deadline(Dir dir) const {
  const std::int64_t v = (dir == Dir::kRead ? read_deadline_ : write_deadline_).load(std::memory_order_relaxed);
  if (v == kNone) return std::nullopt;
  return Clock::time_point(Clock::duration(v));
}

long Socket::run(Dir dir, net::Deadline deadline, long (*op)(int fd, void* ctx), void* ctx, std::error_code& ec,
                 bool wait_first) {
  ec.clear();
  Ref ref(desc_, seq_);
  if (!ref) {
    ec = closed();
    return -1;
  }
  const std::optional<Clock::time_point> until = deadline ? deadline.at() : this->deadline(dir);
  if (wait_first) {
    // Only close() ends the call here. A deadline, a stop request or a second
    // reader still tries the syscall once, as a call without the hint would: bytes
    // may be there whose edge no poller has read yet. The loop then reports them.
    ec = desc_wait(desc_, mode_of(dir), until, /*after_drain=*/true);
    if (ec == std::errc::bad_file_descriptor) return -1;
    ec.clear();
  }
  for (;;) {
    if (desc_->closing.load(std::memory_order_acquire)) {
      ec = closed();
      return -1;
    }
    const long n = op(fd_, ctx);
    if (n >= 0) return n;
    const int err = errno;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) {
      ec.assign(err, std::system_category());
      return -1;
    }
    if (until && Clock::now() >= *until) {
      ec = std::make_error_code(std::errc::timed_out);
      return -1;
    }
    ec = desc_wait(desc_, mode_of(dir), until);
    if (ec) return -1;
  }
}

std::error_code Socket::wait(Dir dir, net::Deadline deadline, bool after_drain, bool* parked) {
  Ref ref(desc_, seq_);
  if (!ref) return closed();
  const std::optional<Clock::time_point> until = deadline ? deadline.at() : this->deadline(dir);
  if (until && Clock::now() >= *until) return std::make_error_code(std::errc::timed_out);
  return desc_wait(desc_, mode_of(dir), until, after_drain, parked);
}

}  // namespace spindle::detail
