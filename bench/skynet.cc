// skynet: 1M leaf fibers (111,111 more inside the tree), each node spawning ten
// children and summing what they return. spindle against Boost.Fiber, each variant
// in its own process so that peak RSS is its own.
//
//   ./bazelw run --config=bench //bench:skynet                 # the whole table
//   ./bazelw run --config=bench //bench:skynet -- spindle 2    # one variant
//
// Boost.Fiber runs round_robin on 1 thread and work_stealing on 2 (every thread
// joins the pool), its default stacks, joining children with fiber::join().
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/fiber/all.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "spindle/fibers/spawn.h"
#include "spindle/sched/scheduler.h"

namespace {

constexpr long long kLeaves = 1'000'000;
constexpr long long kExpected = kLeaves * (kLeaves - 1) / 2;

long long spindle_skynet(long long num, long long size) {
  if (size == 1) return num;
  spindle::JoinHandle<long long> children[10];
  const long long sub = size / 10;
  for (int i = 0; i < 10; ++i) children[i] = spindle::spawn(spindle_skynet, num + i * sub, sub);
  long long sum = 0;
  for (auto& c : children) sum += c.join();
  return sum;
}

long long run_spindle(int workers) {
  spindle::Scheduler sched({.workers = static_cast<std::size_t>(workers), .name = "skynet"});
  return spindle::spawn(sched, spindle_skynet, 0LL, kLeaves).join();
}

void boost_skynet(long long& result, long long num, long long size) {
  if (size == 1) {
    result = num;
    return;
  }
  long long partial[10];
  std::vector<boost::fibers::fiber> children;
  children.reserve(10);
  const long long sub = size / 10;
  for (int i = 0; i < 10; ++i) children.emplace_back(boost_skynet, std::ref(partial[i]), num + i * sub, sub);
  for (auto& c : children) c.join();
  result = 0;
  for (long long p : partial) result += p;
}

long long run_boost(int threads) {
  long long result = 0;
  if (threads == 1) {
    boost::fibers::use_scheduling_algorithm<boost::fibers::algo::round_robin>();
    boost::fibers::fiber(boost_skynet, std::ref(result), 0LL, kLeaves).join();
    return result;
  }
  // work_stealing wants every participating thread to install it; helpers then
  // park until the main fiber is done.
  boost::fibers::barrier ready(static_cast<std::size_t>(threads));
  boost::fibers::mutex done_lock;
  boost::fibers::condition_variable_any done_cv;
  bool done = false;
  std::vector<std::thread> helpers;
  for (int i = 1; i < threads; ++i) {
    helpers.emplace_back([&] {
      boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads);
      ready.wait();
      std::unique_lock<boost::fibers::mutex> lk(done_lock);
      done_cv.wait(lk, [&] { return done; });
    });
  }
  boost::fibers::use_scheduling_algorithm<boost::fibers::algo::work_stealing>(threads);
  ready.wait();
  boost::fibers::fiber(boost_skynet, std::ref(result), 0LL, kLeaves).join();
  {
    std::unique_lock<boost::fibers::mutex> lk(done_lock);
    done = true;
  }
  done_cv.notify_all();
  for (auto& t : helpers) t.join();
  return result;
}

// Runs one variant in this process and prints "<seconds> <peak RSS MiB>".
int run_one(const std::string& impl, int workers) {
  const auto start = std::chrono::steady_clock::now();
  const long long sum = impl == "spindle" ? run_spindle(workers) : run_boost(workers);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  if (sum != kExpected) {
    std::fprintf(stderr, "%s: wrong sum %lld (expected %lld)\n", impl.c_str(), sum, kExpected);
    return 1;
  }
  std::printf("%.4f %.1f\n", seconds, static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
}

struct Result {
  double seconds = 1e9;
  double rss_mib = 0;
};

// Best of `runs` child processes of this binary.
Result measure(const char* self, const char* impl, int workers, int runs) {
  Result best;
  for (int r = 0; r < runs; ++r) {
    int fds[2];
    if (pipe(fds) != 0) std::abort();
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      const std::string w = std::to_string(workers);
      execl(self, self, impl, w.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    char buf[128] = {};
    const ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    Result res;
    if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        std::sscanf(buf, "%lf %lf", &res.seconds, &res.rss_mib) != 2) {
      std::fprintf(stderr, "variant %s/%d failed\n", impl, workers);
      std::exit(1);
    }
    if (res.seconds < best.seconds) best = res;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3) return run_one(argv[1], std::atoi(argv[2]));
  const int runs = 3;
  if (argc == 2 && std::strcmp(argv[1], "--kv") == 0) {  // for bench/compare.sh
    for (int workers : {1, 2}) {
      const Result s = measure("/proc/self/exe", "spindle", workers, runs);
      const Result b = measure("/proc/self/exe", "boost", workers, runs);
      std::printf("skynet_%d_spindle_s %.4f\nskynet_%d_spindle_rss_mib %.1f\n", workers, s.seconds, workers, s.rss_mib);
      std::printf("skynet_%d_boost_s %.4f\nskynet_%d_boost_rss_mib %.1f\n", workers, b.seconds, workers, b.rss_mib);
    }
    return 0;
  }
  std::printf("skynet, %lld leaves, best of %d runs, each in its own process\n\n", kLeaves, runs);
  std::printf("| workers | spindle | Boost.Fiber | time ratio | spindle RSS | Boost.Fiber RSS | RSS ratio |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  Result s1{}, s2{};
  for (int workers : {1, 2}) {
    const Result s = measure("/proc/self/exe", "spindle", workers, runs);
    const Result b = measure("/proc/self/exe", "boost", workers, runs);
    (workers == 1 ? s1 : s2) = s;
    std::printf("| %d | %.3f s | %.3f s | %.3fx | %.0f MiB | %.0f MiB | %.2fx |\n", workers, s.seconds, b.seconds,
                s.seconds / b.seconds, s.rss_mib, b.rss_mib, s.rss_mib / b.rss_mib);
  }
  std::printf("\nspindle 1 -> 2 workers speedup: %.2fx\n", s1.seconds / s2.seconds);
  return 0;
}
