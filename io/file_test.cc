// io::File on both netpoller backends (the suite runs under SPINDLE_IO_BACKEND=
// epoll and =io_uring): with io_uring the calls are ring submissions the fiber
// parks on, with epoll they run on the blocking pool; from a plain thread they
// block the thread either way.
#include "spindle/io/file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "io/io_poller.h"
#include "spindle/fibers/spawn.h"
#include "spindle/io/blocking.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/event.h"

namespace io = spindle::io;
using namespace std::chrono_literals;

namespace {

std::string temp_path(const char* name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/spindle_file_test_" + name + "_" + std::to_string(getpid());
}

// The backend the Scheduler's fibers got (installed by this call if none yet).
std::string backend_of(spindle::Scheduler& sched) {
  return spindle::spawn(sched, [&] {
           auto* p = spindle::detail::poller_for(&sched);
           return std::string(p != nullptr ? p->name() : "none");
         })
      .join();
}

char pattern(std::size_t i, int seed) { return static_cast<char>('a' + (i * 7 + static_cast<std::size_t>(seed)) % 26); }

}  // namespace

TEST(File, RoundTripAndShortReadsAtEof) {
  const std::string path = temp_path("roundtrip");
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  spindle::spawn(sched, [&] {
    auto f = io::File::open(path, io::OpenMode::kTruncate);
    ASSERT_TRUE(f.is_open());
    std::vector<char> data(1 << 20);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = pattern(i, 3);
    EXPECT_EQ(f.write_at(io::ConstBuffer(data.data(), data.size()), 4096), data.size());
    f.fsync();
    EXPECT_EQ(f.size(), 4096u + data.size());
    std::vector<char> back(data.size());
    EXPECT_EQ(f.read_at(io::MutableBuffer(back.data(), back.size()), 4096), back.size());
    EXPECT_EQ(back, data);
    // The hole before the data reads as zeros.
    char head[16];
    EXPECT_EQ(f.read_at(head, 0), sizeof head);
    EXPECT_EQ(std::string(head, sizeof head), std::string(sizeof head, '\0'));
    // Short reads only at the end: 100 bytes left, then none at and past the end.
    char tail[4096];
    const std::uint64_t end = 4096 + data.size();
    EXPECT_EQ(f.read_at(tail, end - 100), 100u);
    EXPECT_EQ(std::memcmp(tail, data.data() + data.size() - 100, 100), 0);
    EXPECT_EQ(f.read_at(tail, end), 0u);
    EXPECT_EQ(f.read_at(tail, end + 12345), 0u);
    // Reopened read-only, the data is there.
    f.close();
    auto r = io::File::open(path, io::OpenMode::kRead);
    EXPECT_EQ(r.read_at(tail, 4096), sizeof tail);
    EXPECT_EQ(std::memcmp(tail, data.data(), sizeof tail), 0);
  }).join();
  ::unlink(path.c_str());
}

TEST(File, ErrorsAsErrorCodesAndExceptions) {
  const std::string path = temp_path("errors");
  {
    auto f = io::File::open(path, io::OpenMode::kTruncate);  // from the plain thread
    f.write_at("0123456789", 0);
  }
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  spindle::spawn(sched, [&] {
    std::error_code ec;
    // A missing file.
    io::File missing = io::File::open(path + ".missing", io::OpenMode::kRead, ec);
    EXPECT_EQ(ec, std::errc::no_such_file_or_directory);
    EXPECT_FALSE(missing.is_open());
    try {
      io::File::open(path + ".missing", io::OpenMode::kReadWrite);
      ADD_FAILURE() << "open of a missing file did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
    }
    // A File that is not open: EBADF from every call.
    io::File closed;
    char buf[8];
    EXPECT_EQ(closed.read_at(buf, 0, ec), 0u);
    EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    EXPECT_EQ(closed.write_at("x", 0, ec), 0u);
    EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    closed.fsync(ec);
    EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    EXPECT_THROW(closed.read_at(buf, 0), std::system_error);
    // Writing to a file opened read-only: EBADF, nothing written.
    auto ro = io::File::open(path, io::OpenMode::kRead);
    EXPECT_EQ(ro.write_at("zz", 0, ec), 0u);
    EXPECT_EQ(ec, std::errc::bad_file_descriptor);
    try {
      ro.write_at("zz", 0);
      ADD_FAILURE() << "write to a read-only file did not throw";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::bad_file_descriptor);
    }
    EXPECT_EQ(ro.read_at(buf, 0, ec), sizeof buf);
    EXPECT_FALSE(ec);
    EXPECT_EQ(std::string(buf, 2), "01");
  }).join();
  ::unlink(path.c_str());
}

// More fibers than the ring has submission entries (64) or the blocking pool has
// threads, each writing, syncing and reading back its own block at once.
TEST(File, ManyFibersAtOnce) {
  const std::string path = temp_path("many");
  constexpr int kFibers = 300;
  constexpr std::size_t kBlock = 4096;
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  const std::string backend = backend_of(sched);
  const std::size_t pool_threads_before = spindle::BlockingPool::default_pool().thread_count();
  auto f = io::File::open(path, io::OpenMode::kTruncate);
  std::atomic<int> good{0};
  spindle::Event go;
  std::vector<spindle::JoinHandle<void>> fibers;
  for (int i = 0; i < kFibers; ++i) {
    fibers.push_back(spindle::spawn(sched, [&, i] {
      go.wait();
      std::vector<char> mine(kBlock), back(kBlock);
      for (std::size_t k = 0; k < kBlock; ++k) mine[k] = pattern(k, i);
      const std::uint64_t at = static_cast<std::uint64_t>(i) * kBlock;
      for (int round = 0; round < 3; ++round) {
        if (f.write_at(io::ConstBuffer(mine.data(), kBlock), at) != kBlock) return;
        if (round == 1) f.fsync();
        if (f.read_at(io::MutableBuffer(back.data(), kBlock), at) != kBlock || back != mine) return;
      }
      good.fetch_add(1);
    }));
  }
  go.set();
  for (auto& h : fibers) h.join();
  EXPECT_EQ(good.load(), kFibers);
  EXPECT_EQ(f.size(), kFibers * kBlock);
  if (backend == "io_uring") {
    // Through the ring: no blocking-pool thread was needed.
    EXPECT_EQ(spindle::BlockingPool::default_pool().thread_count(), pool_threads_before);
  }
  ::unlink(path.c_str());
}

// File I/O is not cancellable: a fiber whose stop was requested still completes
// its calls (an io_uring read owns the buffer until the kernel is done with it, a
// blocking-pool call runs to its end).
TEST(File, RequestStopDoesNotCancelFileCalls) {
  const std::string path = temp_path("stop");
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone});
  spindle::Event stopped;
  auto h = spindle::spawn(sched, [&] {
    stopped.wait();
    auto f = io::File::open(path, io::OpenMode::kTruncate);
    std::error_code ec;
    EXPECT_EQ(f.write_at("still written", 0, ec), 13u);
    EXPECT_FALSE(ec);
    f.fsync(ec);
    EXPECT_FALSE(ec);
    char buf[13];
    EXPECT_EQ(f.read_at(buf, 0, ec), 13u);
    EXPECT_FALSE(ec);
    return std::string(buf, 13);
  });
  h.request_stop();
  stopped.set();
  EXPECT_EQ(h.join(), "still written");
  ::unlink(path.c_str());
}

TEST(File, PlainThreadBlocksTheThread) {
  const std::string path = temp_path("thread");
  const std::size_t pool_threads_before = spindle::BlockingPool::default_pool().thread_count();
  auto f = io::File::open(path, io::OpenMode::kTruncate);
  EXPECT_EQ(f.write_at("plain", 0), 5u);
  f.fsync();
  char buf[8];
  EXPECT_EQ(f.read_at(buf, 0), 5u);
  EXPECT_EQ(std::string(buf, 5), "plain");
  EXPECT_EQ(spindle::BlockingPool::default_pool().thread_count(), pool_threads_before);  // ran inline
  ::unlink(path.c_str());
}
