#include "io/io_poller.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "io/epoll_poller.h"
#include "io/poll_desc.h"
#include "io/uring_poller.h"
#include "spindle/fibers/fiber.h"
#include "spindle/sched/scheduler.h"

namespace spindle::detail {
namespace {

std::atomic<int> uring_setup_failure{0};

[[noreturn]] void die(const char* what, const char* value, int err) {
  std::fprintf(stderr, "spindle: SPINDLE_IO_BACKEND=%s: %s%s%s\n", value, what, err != 0 ? ": " : "",
               err != 0 ? std::strerror(err) : "");
  std::abort();
}

}  // namespace

void fail_io_uring_setup_for_testing(int err) { uring_setup_failure.store(err, std::memory_order_relaxed); }

void IoPoller::describe_waiters(std::string& out) const {
  const std::uint32_t n = desc_count();
  for (std::uint32_t i = 0; i < n; ++i) {
    PollDesc* d = desc_at(i);
    std::lock_guard<SpinLock> lk(d->lock);
    if (d->poller != this) continue;
    for (IoWait* w : {d->rd.waiter, d->wr.waiter}) {
      if (w == nullptr) continue;
      char line[160];
      const Fiber* f = w->waiter.fiber();
      std::snprintf(line, sizeof line, "  fiber #%llu '%.*s' waits to %s fd %d\n",
                    static_cast<unsigned long long>(f != nullptr ? f->id() : 0),
                    f != nullptr ? static_cast<int>(f->name().size()) : 0, f != nullptr ? f->name().data() : "",
                    w->mode == IoMode::kRead ? "read" : "write", d->fd);
      out += line;
    }
  }
}

void IoPoller::detach_all() {
  const std::uint32_t n = desc_count();
  for (std::uint32_t i = 0; i < n; ++i) {
    PollDesc* d = desc_at(i);
    std::lock_guard<SpinLock> lk(d->lock);
    if (d->poller != this) continue;
    d->poller = nullptr;
    d->armed = false;
  }
}

long IoPoller::run_file_op(const FileOp&) { return -ENOSYS; }

std::unique_ptr<IoPoller> make_poller() {
  // Read at each Scheduler's first I/O (not once per process): cheap, and tests
  // can choose per Scheduler.
  // epoll is the default: it won the echo benchmark at every connection count
  // (bench/echo.sh, README "Server loops"); io_uring readiness costs a task-work
  // hop per event. "auto" takes io_uring where the kernel allows it, else epoll.
  const char* choice = std::getenv("SPINDLE_IO_BACKEND");
  if (choice == nullptr || *choice == '\0' || std::strcmp(choice, "epoll") == 0) return std::make_unique<EpollPoller>();
  const bool forced = std::strcmp(choice, "io_uring") == 0;
  if (!forced && std::strcmp(choice, "auto") != 0) die("unknown backend (use epoll, io_uring or auto)", choice, 0);
  int err = uring_setup_failure.load(std::memory_order_relaxed);
  if (err == 0) {
    if (auto p = UringPoller::create(err)) return p;
  }
  if (forced) die("io_uring cannot be set up here (use auto to fall back to epoll)", choice, err);
  return std::make_unique<EpollPoller>();
}

IoPoller* poller_for(Executor* executor) {
  auto* sched = dynamic_cast<Scheduler*>(executor);
  if (sched == nullptr) return nullptr;
  Poller* p = sched->poller();
  if (p == nullptr) p = sched->install_poller(make_poller());
  // A poller installed by someone else is not ours to register fds with: such a
  // Scheduler's fibers block their thread in I/O, as on other executors.
  return dynamic_cast<IoPoller*>(p);
}

}  // namespace spindle::detail
