// The floor under the game-loop frame (issue 12): what waking one sleeping thread
// costs on this machine, with no spindle code in the way. The main thread sleeps
// (as a game loop does between frames), then FUTEX_WAKEs a thread parked on a
// futex and measures the wake call and the time until the woken thread runs.
//
//   ./bazelw run --config=bench //bench:wake_latency
//
// Placements: the sleeper pinned to another CPU than the waker, pinned to the same
// CPU, and unpinned (the kernel chooses). On a VM a wake across vCPUs may need an
// inter-processor interrupt to a halted vCPU, which the hypervisor delivers.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }

void pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

enum class Placement { kOtherCpu, kSameCpu, kUnpinned };

struct Result {
  double call_p50, call_p90, run_p50, run_p90;
  int same_cpu;  // rounds in which the woken thread ran on the waker's CPU
};

Result measure(Placement placement, int sleep_us, int rounds) {
  std::atomic<std::uint32_t> word{0};  // 0 asleep, 1 woken, 2 exit
  std::atomic<std::int64_t> ran_at{0};
  std::atomic<int> ran_on{-1};
  pin_self(0);
  std::thread sleeper([&] {
    if (placement == Placement::kOtherCpu) pin_self(1);
    if (placement == Placement::kSameCpu) pin_self(0);
    for (;;) {
      while (word.load() == 0) syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
      ran_at.store(now_ns());
      ran_on.store(sched_getcpu());
      if (word.load() == 2) return;
      word.store(0);
    }
  });
  std::vector<double> call, run;
  int same = 0;
  for (int i = 0; i < rounds; ++i) {
    if (sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    while (word.load() != 0) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(20));  // the sleeper is back in FUTEX_WAIT
    ran_at.store(0);
    const std::int64_t t0 = now_ns();
    word.store(1);
    syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
    const std::int64_t t1 = now_ns();
    while (ran_at.load() == 0) std::this_thread::yield();  // lets a same-CPU sleeper run
    call.push_back(static_cast<double>(t1 - t0) / 1e3);
    run.push_back(static_cast<double>(ran_at.load() - t0) / 1e3);
    same += ran_on.load() == sched_getcpu();
  }
  word.store(2);
  syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  sleeper.join();
  std::sort(call.begin(), call.end());
  std::sort(run.begin(), run.end());
  const auto at = [&](const std::vector<double>& v, int pct) { return v[v.size() * static_cast<std::size_t>(pct) / 100]; };
  return {at(call, 50), at(call, 90), at(run, 50), at(run, 90), same};
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

}  // namespace

int main() {
  if (std::thread::hardware_concurrency() < 2) {
    std::fprintf(stderr, "wake_latency: needs 2 CPUs\n");
    return 2;
  }
  constexpr int kRounds = 2000;
  std::printf("CPU: %s, %u CPUs\n", cpu_model().c_str(), std::thread::hardware_concurrency());
  std::printf("%-22s %-9s %12s %12s %14s %14s %10s\n", "sleeper", "waker", "call p50 us", "call p90 us", "runs p50 us", "runs p90 us", "same CPU");
  for (int sleep_us : {1000, 0}) {
    for (auto [placement, name] : {std::pair{Placement::kOtherCpu, "pinned, other CPU"},
                                   std::pair{Placement::kSameCpu, "pinned, same CPU"},
                                   std::pair{Placement::kUnpinned, "unpinned"}}) {
      const Result r = measure(placement, sleep_us, kRounds);
      std::printf("%-22s %-9s %12.1f %12.1f %14.1f %14.1f %9d%%\n", name, sleep_us ? "slept 1ms" : "busy", r.call_p50,
                  r.call_p90, r.run_p50, r.run_p90, r.same_cpu * 100 / kRounds);
    }
  }
}
