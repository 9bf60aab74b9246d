// sync primitives, spindle against Boost.Fiber and the standard library:
//   uncontended   lock+unlock of a free mutex on one thread (ns per lock+unlock)
//   contended     4 fibers on 2 workers, 1M lock+unlock in total around `++counter`
//                 (ns per lock); Boost.Fiber: 4 fibers on work_stealing over 2
//                 threads (both install it); std::mutex: 4 threads
//   ping-pong     two fibers on one worker bounce a value over two unbuffered
//                 channels (ns per round trip = 2 messages); Boost.Fiber:
//                 unbuffered_channel, round_robin on one thread
//   fork-join     spawn 1000 fibers that each call WaitGroup::done(), then wait()
//                 (us per round, one worker); Boost.Fiber: 1000 detached fibers
//                 counting down under a fibers::mutex + condition_variable
// Best of 5 runs each. Boost variants run on fresh threads, so each installs its
// own scheduling algorithm.
//
//   ./bazelw run --config=bench //bench:sync_compare
#include <algorithm>
#include <atomic>
#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/sched/scheduler.h"
#include "spindle/sync/channel.h"
#include "spindle/sync/mutex.h"
#include "spindle/sync/wait_group.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kReps = 5;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Best ns per op over kReps runs of run() -> seconds.
double best_ns(long ops, const std::function<double()>& run) {
  double best = 1e30;
  for (int r = 0; r < kReps; ++r) best = std::min(best, run() * 1e9 / static_cast<double>(ops));
  return best;
}

// Runs fn on a fresh thread (fresh Boost.Fiber scheduler) and returns its result.
double on_fresh_thread(const std::function<double()>& fn) {
  double out = 0;
  std::thread([&] { out = fn(); }).join();
  return out;
}

spindle::SchedulerOptions opts(std::size_t workers) {
  spindle::SchedulerOptions o;
  o.workers = workers;
  o.name = "bench";
  return o;
}

// --- uncontended -----------------------------------------------------------------------
constexpr long kUncontended = 20'000'000;

template <class M>
double uncontended(M& m) {
  const auto start = Clock::now();
  for (long i = 0; i < kUncontended; ++i) {
    m.lock();
    m.unlock();
  }
  return seconds_since(start);
}

// --- contended ---------------------------------------------------------------------------
constexpr long kContended = 1'000'000;
constexpr int kParties = 4;

double spindle_contended() {
  spindle::Scheduler sched(opts(2));
  spindle::Mutex m;
  long counter = 0;
  const auto start = Clock::now();
  std::vector<spindle::JoinHandle<void>> hs;
  for (int p = 0; p < kParties; ++p) {
    hs.push_back(spindle::spawn(sched, [&] {
      for (long i = 0; i < kContended / kParties; ++i) {
        std::lock_guard<spindle::Mutex> g(m);
        ++counter;
      }
    }));
  }
  for (auto& h : hs) h.join();
  const double s = seconds_since(start);
  if (counter != kContended) std::abort();
  return s;
}

double std_contended() {
  std::mutex m;
  long counter = 0;
  const auto start = Clock::now();
  std::vector<std::thread> ts;
  for (int p = 0; p < kParties; ++p) {
    ts.emplace_back([&] {
      for (long i = 0; i < kContended / kParties; ++i) {
        std::lock_guard<std::mutex> g(m);
        ++counter;
      }
    });
  }
  for (auto& t : ts) t.join();
  const double s = seconds_since(start);
  if (counter != kContended) std::abort();
  return s;
}

// Boost's work_stealing may be set up once per process (its scheduler registry is
// sized by the first pool), so this runs all kReps inside one pool and returns the
// best time.
double boost_contended() {
  // Two threads both install work_stealing; the first runs the fibers, the second
  // steals and then parks until told to finish (as bench/skynet.cc does).
  boost::fibers::barrier ready(2);
  boost::fibers::mutex done_lock;
  boost::fibers::condition_variable_any done_cv;
  bool done = false;
  std::thread helper([&] {
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(2);
    ready.wait();
    std::unique_lock<boost::fibers::mutex> lk(done_lock);
    done_cv.wait(lk, [&] { return done; });
  });
  double s = 0;
  std::thread main([&] {
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(2);
    ready.wait();
    s = 1e30;
    for (int r = 0; r < kReps; ++r) {
      boost::fibers::mutex m;
      long counter = 0;
      const auto start = Clock::now();
      std::vector<boost::fibers::fiber> fs;
      for (int p = 0; p < kParties; ++p) {
        fs.emplace_back([&] {
          for (long i = 0; i < kContended / kParties; ++i) {
            std::lock_guard<boost::fibers::mutex> g(m);
            ++counter;
          }
        });
      }
      for (auto& f : fs) f.join();
      s = std::min(s, seconds_since(start));
      if (counter != kContended) std::abort();
    }
    {
      std::unique_lock<boost::fibers::mutex> lk(done_lock);
      done = true;
    }
    done_cv.notify_all();
  });
  main.join();
  helper.join();
  return s;
}

// --- ping-pong ---------------------------------------------------------------------------
constexpr long kRounds = 200'000;

double spindle_ping_pong() {
  spindle::Scheduler sched(opts(1));
  return spindle::spawn(sched, [] {
           spindle::Channel<long> ping, pong;
           const auto start = Clock::now();
           auto echo = spindle::spawn([&] {
             while (auto v = ping.recv()) pong.send(*v);
           });
           for (long i = 0; i < kRounds; ++i) {
             ping.send(i);
             if (pong.recv() != i) std::abort();
           }
           ping.close();
           echo.join();
           return seconds_since(start);
         }).join();
}

double boost_ping_pong() {
  boost::fibers::unbuffered_channel<long> ping, pong;
  const auto start = Clock::now();
  boost::fibers::fiber echo([&] {
    long v;
    while (ping.pop(v) == boost::fibers::channel_op_status::success) pong.push(v);
  });
  for (long i = 0; i < kRounds; ++i) {
    ping.push(i);
    long v = -1;
    pong.pop(v);
    if (v != i) std::abort();
  }
  ping.close();
  echo.join();
  return seconds_since(start);
}

// --- fork-join -----------------------------------------------------------------------------
constexpr int kForks = 1000;
constexpr int kForkRounds = 50;

double spindle_fork_join() {
  spindle::Scheduler sched(opts(1));
  return spindle::spawn(sched, [] {
           const auto start = Clock::now();
           for (int r = 0; r < kForkRounds; ++r) {
             spindle::WaitGroup wg;
             wg.add(kForks);
             for (int i = 0; i < kForks; ++i) spindle::spawn([&wg] { wg.done(); }).detach();
             wg.wait();
           }
           return seconds_since(start);
         }).join();
}

double boost_fork_join() {
  const auto start = Clock::now();
  for (int r = 0; r < kForkRounds; ++r) {
    boost::fibers::mutex m;
    boost::fibers::condition_variable cv;
    int left = kForks;
    for (int i = 0; i < kForks; ++i) {
      boost::fibers::fiber([&] {
        std::lock_guard<boost::fibers::mutex> g(m);
        if (--left == 0) cv.notify_all();
      }).detach();
    }
    std::unique_lock<boost::fibers::mutex> lk(m);
    cv.wait(lk, [&] { return left == 0; });
  }
  return seconds_since(start);
}

bool g_kv = false;  // --kv: "key value" lines for bench/compare.sh instead of the table

void row(const char* key, const char* name, const char* unit, double spindle_v, double boost_v, double std_v) {
  if (g_kv) {
    std::printf("%s_spindle_%s %.2f\n%s_boost_%s %.2f\n", key, unit[0] == 'u' ? "us" : "ns", spindle_v, key,
                unit[0] == 'u' ? "us" : "ns", boost_v);
    if (std_v > 0) std::printf("%s_std_ns %.2f\n", key, std_v);
    return;
  }
  char std_cell[32] = "-", std_ratio[32] = "-";
  if (std_v > 0) {
    std::snprintf(std_cell, sizeof std_cell, "%.1f", std_v);
    std::snprintf(std_ratio, sizeof std_ratio, "%.2fx", spindle_v / std_v);
  }
  std::printf("| %-34s | %-8s | %9.1f | %11.1f | %9s | %14.2fx | %12s |\n", name, unit, spindle_v, boost_v, std_cell,
              spindle_v / boost_v, std_ratio);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  g_kv = argc == 2 && std::string(argv[1]) == "--kv";
  if (!g_kv) std::printf("| %-34s | %-8s | %9s | %11s | %9s | %15s | %12s |\n", "benchmark", "unit", "spindle", "Boost.Fiber",
              "std", "spindle / Boost", "spindle / std");
  if (!g_kv) std::printf("|%s|%s|%s|%s|%s|%s|%s|\n", std::string(36, '-').c_str(), std::string(10, '-').c_str(),
              std::string(11, '-').c_str(), std::string(13, '-').c_str(), std::string(11, '-').c_str(),
              std::string(17, '-').c_str(), std::string(14, '-').c_str());
  {
    spindle::Mutex sm;
    std::mutex stdm;
    const double s = best_ns(kUncontended, [&] { return uncontended(sm); });
    const double b = best_ns(kUncontended, [] {
      return on_fresh_thread([] {
        boost::fibers::mutex bm;
        return uncontended(bm);
      });
    });
    const double st = best_ns(kUncontended, [&] { return uncontended(stdm); });
    row("mutex_uncontended", "uncontended mutex lock+unlock", "ns", s, b, st);
  }
  row("mutex_contended", "contended mutex, 4 on 2 cores, 1M", "ns/lock", best_ns(kContended, spindle_contended),
      boost_contended() * 1e9 / kContended, best_ns(kContended, std_contended));
  row("chan_pingpong", "unbuffered channel ping-pong", "ns/round", best_ns(kRounds, spindle_ping_pong),
      best_ns(kRounds, [] { return on_fresh_thread(boost_ping_pong); }), 0);
  row("waitgroup_1000", "WaitGroup fork-join of 1000 fibers", "us/round", best_ns(kForkRounds, spindle_fork_join) / 1000,
      best_ns(kForkRounds, [] { return on_fresh_thread(boost_fork_join); }) / 1000, 0);
  return 0;
}
