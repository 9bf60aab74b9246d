// The game-loop frame: a plain main thread forks N small jobs onto a pool each
// frame and waits for them (issue 12). Per-frame latency runs from the first
// submit to the wait's return; CPU per frame is the whole process's (getrusage),
// so a pool that spins through the gap between frames shows it.
//
//   ./bazelw run --config=bench //bench:frame                  # every peer, table
//   ./bazelw run --config=bench //bench:frame -- --kv          # key/value lines (compare.sh)
//   bench/frame --impl spindle --sleep-us 1000                 # one variant, one process
//   bench/frame --go /tmp/peers                                # with Go (go build bench/go/peers.go)
//   FRAME_DUMP=/tmp/lat bench/frame --impl tbb --sleep-us 0     # also every frame's latency, in order
//   FRAME_STATS=1 bench/frame --impl spindle_many ...           # also the Scheduler's counters (stderr)
//   FRAME_IO=1 bench/frame --impl spindle_many ...              # with a fiber blocked in accept() (netpoller)
//
// Peers, 2 workers each: spindle with default options, unpinned and pinned, each
// as spawn(...).detach() + WaitGroup and as one spawn_many(...).join() burst
// ("spindle_many"), oneTBB task_group (run + wait), and a
// std::thread + std::condition_variable pool written here. Go runs the same
// frame in bench/go/peers.go ("frame" mode) when compare.sh has Go. Each variant
// runs in its own process; the driver interleaves them (A B C A B C ...) and
// reports medians over the processes.
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include "spindle/fibers/spawn.h"
#include "spindle/io/tcp.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/spawn_many.h"
#include "spindle/sync/wait_group.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 2;

// ~`us` microseconds of arithmetic, calibrated once per process.
std::atomic<std::uint64_t> sink{0};
std::uint64_t iters_per_us = 100;

std::uint64_t spin_work(std::uint64_t iters) {
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (std::uint64_t i = 0; i < iters; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  return x;
}

// Calibrated on this thread's CPU time (not wall time), best of several tries, so
// that a calibration preempted on a shared machine does not shrink every job.
void calibrate() {
  auto thread_cpu_us = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) * 1e-3;
  };
  double best = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const std::uint64_t n = 4'000'000;
    const double t0 = thread_cpu_us();
    sink.fetch_add(spin_work(n), std::memory_order_relaxed);
    best = std::max(best, static_cast<double>(n) / (thread_cpu_us() - t0));
  }
  iters_per_us = static_cast<std::uint64_t>(best);
}

struct Options {
  std::string impl = "spindle";
  int frames = 2000;
  int jobs = 64;
  double job_us = 2.0;
  int sleep_us = 0;
  int spin_us = -1;  // spindle's SchedulerOptions::spin_before_park; -1: its default
};

struct Stats {
  double p50 = 0, p99 = 0, max = 0, cpu_per_frame = 0;  // microseconds
};

double cpu_us() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

// Runs `frames` frames of `frame()` with the sleep between them; warm-up frames
// first (not counted).
Stats run_frames(const Options& o, const std::function<void()>& frame) {
  for (int i = 0; i < 50; ++i) frame();
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(o.frames));
  const double cpu0 = cpu_us();
  for (int f = 0; f < o.frames; ++f) {
    if (o.sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(o.sleep_us));
    const auto t0 = Clock::now();
    frame();
    lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  const double cpu1 = cpu_us();
  if (const char* path = std::getenv("FRAME_DUMP")) {  // every frame's latency, in order, for a histogram
    if (FILE* f = std::fopen(path, "w")) {
      for (double l : lat) std::fprintf(f, "%.2f\n", l);
      std::fclose(f);
    }
  }
  std::sort(lat.begin(), lat.end());
  Stats s;
  s.p50 = lat[lat.size() / 2];
  s.p99 = lat[lat.size() * 99 / 100];
  s.max = lat.back();
  s.cpu_per_frame = (cpu1 - cpu0) / o.frames;
  return s;
}

// --- std::thread + condition_variable pool --------------------------------------------
class CondvarPool {
 public:
  explicit CondvarPool(int n) {
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~CondvarPool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  // Queues `n` calls of fn and waits until all have run.
  void run_batch(int n, void (*fn)()) {
    {
      std::lock_guard<std::mutex> lk(m_);
      for (int i = 0; i < n; ++i) q_.push_back(fn);
      pending_ += n;
    }
    cv_.notify_all();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [&] { return pending_ == 0; });
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lk(m_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
      if (q_.empty()) return;
      void (*fn)() = q_.front();
      q_.pop_front();
      lk.unlock();
      fn();
      lk.lock();
      if (--pending_ == 0) done_cv_.notify_one();
    }
  }
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  std::deque<void (*)()> q_;
  int pending_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

std::uint64_t job_iters = 0;
void job() { sink.fetch_add(spin_work(job_iters), std::memory_order_relaxed); }

Stats run_impl(const Options& o) {
  job_iters = static_cast<std::uint64_t>(o.job_us * static_cast<double>(iters_per_us));
  if (o.impl == "spindle_many" || o.impl == "spindle_many_unpinned" || o.impl == "spindle_many_pinned") {
    // The burst API: one submission per frame (sync/spawn_many.h).
    spindle::SchedulerOptions so;
    so.workers = kWorkers;
    so.name = "frame";
    if (o.impl == "spindle_many_unpinned") so.pinning = spindle::Pinning::kNone;
    if (o.impl == "spindle_many_pinned") so.pinning = spindle::Pinning::kCores;
    if (o.spin_us >= 0) so.spin_before_park = std::chrono::microseconds(o.spin_us);
    spindle::Scheduler sched(so);
    // FRAME_IO=1: a fiber blocked in accept() on a loopback listener all along (a
    // game that also serves a socket), so the last idle worker waits in the
    // netpoller rather than on its futex, for timers and paced wakes too.
    std::optional<spindle::net::TcpListener> listener;
    std::optional<spindle::JoinHandle<void>> acceptor;
    if (std::getenv("FRAME_IO") != nullptr) {
      listener.emplace(spindle::net::TcpListener::bind(spindle::net::Endpoint::loopback_v4(0)));
      acceptor.emplace(spindle::spawn(sched, [&] {
        std::error_code ec;
        (void)listener->accept(ec);  // ends with an error when the listener closes
      }));
    }
    const Stats s = run_frames(o, [&] {
      spindle::spawn_many(sched, static_cast<std::size_t>(o.jobs), [](std::size_t) { job(); }).join();
    });
    if (acceptor) {
      listener->close();
      acceptor->join();
    }
    if (std::getenv("FRAME_STATS") != nullptr) {  // where the time went: parks are futex sleeps (and wakes)
      const spindle::SchedulerStats st = sched.stats();
      std::fprintf(stderr,
                   "frames %d tasks_run %llu steals %llu parks %llu global_polls %llu parked_s %.3f paced_wakes %llu "
                   "paced_misses %llu\n",
                   o.frames, static_cast<unsigned long long>(st.tasks_run), static_cast<unsigned long long>(st.steals),
                   static_cast<unsigned long long>(st.parks), static_cast<unsigned long long>(st.global_polls),
                   st.parked_seconds, static_cast<unsigned long long>(st.paced_wakes),
                   static_cast<unsigned long long>(st.paced_misses));
    }
    return s;
  }
  if (o.impl == "spindle" || o.impl == "spindle_unpinned" || o.impl == "spindle_pinned") {
    spindle::SchedulerOptions so;
    so.workers = kWorkers;
    so.name = "frame";
    if (o.impl == "spindle_unpinned") so.pinning = spindle::Pinning::kNone;
    if (o.impl == "spindle_pinned") so.pinning = spindle::Pinning::kCores;
    if (o.spin_us >= 0) so.spin_before_park = std::chrono::microseconds(o.spin_us);
    spindle::Scheduler sched(so);
    return run_frames(o, [&] {
      spindle::WaitGroup wg;
      wg.add(o.jobs);
      for (int i = 0; i < o.jobs; ++i) {
        spindle::spawn(sched, [&wg] {
          job();
          wg.done();
        }).detach();
      }
      wg.wait();
    });
  }
  if (o.impl == "tbb") {
    // The main thread joins the arena in wait(), as TBB's callers do: 2 workers in
    // all means the main thread plus one TBB worker thread.
    oneapi::tbb::global_control gc(oneapi::tbb::global_control::max_allowed_parallelism, kWorkers);
    oneapi::tbb::task_group tg;
    return run_frames(o, [&] {
      for (int i = 0; i < o.jobs; ++i) tg.run([] { job(); });
      tg.wait();
    });
  }
  if (o.impl == "pool") {
    CondvarPool pool(kWorkers);
    return run_frames(o, [&] { pool.run_batch(o.jobs, &job); });
  }
  std::fprintf(stderr, "frame: unknown --impl %s\n", o.impl.c_str());
  std::exit(2);
}

std::string go_binary;  // --go BIN: bench/go/peers.go built, run as "BIN frame ..."

// Runs one variant in a child process of this binary (or of the Go peer); parses
// its one-line result.
Stats run_child(const char* self, const Options& o) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    const std::string frames = std::to_string(o.frames), jobs = std::to_string(o.jobs),
                      sleep = std::to_string(o.sleep_us), job_us = std::to_string(o.job_us);
    if (o.impl == "go") {
      setenv("GOMAXPROCS", "2", 1);
      // The driver's own calibration: the same jobs (the same instruction chain) in Go.
      const std::string iters = std::to_string(static_cast<std::uint64_t>(o.job_us * static_cast<double>(iters_per_us)));
      execl(go_binary.c_str(), go_binary.c_str(), "frame", sleep.c_str(), frames.c_str(), jobs.c_str(), job_us.c_str(),
            iters.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    execl(self, self, "--impl", o.impl.c_str(), "--frames", frames.c_str(), "--jobs", jobs.c_str(),
          "--sleep-us", sleep.c_str(), "--job-us", job_us.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  char buf[256] = {};
  std::size_t got = 0;
  for (ssize_t n; got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0;) got += n;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  Stats s;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      std::sscanf(buf, "%lf %lf %lf %lf", &s.p50, &s.p99, &s.max, &s.cpu_per_frame) != 4) {
    std::fprintf(stderr, "frame: variant %s failed\n", o.impl.c_str());
    std::exit(1);
  }
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool kv = false, child = false;
  int processes = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? argv[++i] : (std::fprintf(stderr, "missing value\n"), std::exit(2), ""); };
    if (a == "--impl") {
      o.impl = next();
      child = true;
    } else if (a == "--frames") {
      o.frames = std::atoi(next());
    } else if (a == "--jobs") {
      o.jobs = std::atoi(next());
    } else if (a == "--sleep-us") {
      o.sleep_us = std::atoi(next());
    } else if (a == "--job-us") {
      o.job_us = std::atof(next());
    } else if (a == "--processes") {
      processes = std::atoi(next());
    } else if (a == "--spin-us") {
      o.spin_us = std::atoi(next());
    } else if (a == "--go") {
      go_binary = next();
    } else if (a == "--kv") {
      kv = true;
    } else {
      std::fprintf(stderr, "usage: frame [--kv] [--processes P] [--frames F] [--jobs N] [--impl I --sleep-us S]\n");
      return 2;
    }
  }
  if (child) {
    calibrate();
    const Stats s = run_impl(o);
    std::printf("%.2f %.2f %.2f %.2f\n", s.p50, s.p99, s.max, s.cpu_per_frame);
    return 0;
  }
  calibrate();  // for the Go peer, which takes the iteration count from here
  std::vector<std::string> impls = {"spindle",        "spindle_many", "spindle_unpinned", "spindle_many_unpinned",
                                    "spindle_pinned", "spindle_many_pinned", "tbb", "pool"};
  if (!go_binary.empty()) impls.push_back("go");
  for (int sleep_us : {1000, 0}) {
    o.sleep_us = sleep_us;
    std::vector<std::vector<Stats>> runs(impls.size());
    for (int p = 0; p < processes; ++p) {  // interleaved: A B C D A B C D ...
      for (std::size_t k = 0; k < impls.size(); ++k) {
        o.impl = impls[k];
        std::fprintf(stderr, "frame: sleep %d us, %s, process %d/%d\n", sleep_us, impls[k].c_str(), p + 1, processes);
        runs[k].push_back(run_child("/proc/self/exe", o));
      }
    }
    for (std::size_t k = 0; k < impls.size(); ++k) {
      std::vector<double> p50, p99, mx, cpu;
      for (const Stats& s : runs[k]) {
        p50.push_back(s.p50);
        p99.push_back(s.p99);
        mx.push_back(s.max);
        cpu.push_back(s.cpu_per_frame);
      }
      const char* tag = sleep_us > 0 ? "sleep" : "b2b";
      if (kv) {
        std::printf("frame_%s_%s_p50_us %.2f\nframe_%s_%s_p99_us %.2f\nframe_%s_%s_max_us %.2f\nframe_%s_%s_cpu_us %.2f\n",
                    tag, impls[k].c_str(), median(p50), tag, impls[k].c_str(), median(p99), tag, impls[k].c_str(),
                    median(mx), tag, impls[k].c_str(), median(cpu));
      } else {
        std::printf("sleep %4d us  %-17s p50 %8.1f us  p99 %8.1f us  max %8.1f us  cpu/frame %8.1f us\n", sleep_us,
                    impls[k].c_str(), median(p50), median(p99), median(mx), median(cpu));
      }
    }
  }
  return 0;
}
