#include "spindle/testing/simulation.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_set>
#include <vector>

#include "spindle/coro/sanitizers.h"
#if SPINDLE_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#include "spindle/fibers/fiber.h"
#include "spindle/fibers/spawn.h"
#include "spindle/fibers/this_fiber.h"
#include "spindle/sched/fault_point.h"
#include "spindle/sched/timer_heap.h"
#include "spindle/testing/fault_injector.h"

namespace spindle::testing {
namespace {

// The simulation's executor: one thread, a bag of runnable tasks, a PRNG that
// picks from it, and a clock that only moves when nothing can run.
class SimExecutor final : public Executor {
 public:
  SimExecutor(std::uint64_t seed, const SimOptions& options)
      : rng_(seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL), options_(options), now_(Clock::now()) {}

  void submit(Task* task, Placement) override {
    runnable_.push_back(task);
    auto* fiber = static_cast<detail::Fiber*>(task);  // only fibers run here
    if (known_.insert(fiber).second) order_[fiber] = order_.size();
  }
  void add_timer(Task* task, std::uint64_t tag, Clock::time_point deadline) override {
    timers_.add(task, tag, deadline);
  }
  void on_work_started() override { ++outstanding_; }
  void on_work_finished() noexcept override { --outstanding_; }
  Clock::time_point now() const override { return now_; }
  const char* name() const override { return "simulation"; }
  // An exception escaping a detached fiber fails the run (with its seed) instead
  // of terminating the process.
  std::shared_ptr<const UnhandledExceptionHandler> unhandled_exception_handler() const override {
    return unhandled_handler_;
  }
  const std::string& unhandled_exceptions() const { return unhandled_; }

  std::uint64_t random() {  // xorshift64*
    rng_ ^= rng_ >> 12;
    rng_ ^= rng_ << 25;
    rng_ ^= rng_ >> 27;
    return rng_ * 0x2545F4914F6CDD1DULL;
  }
  bool chance(double p) { return static_cast<double>(random() >> 11) * 0x1.0p-53 < p; }
  const SimOptions& options() const { return options_; }

  // Runs one scheduling decision. False when nothing can run any more.
  bool step() {
    if (runnable_.empty()) {
      if (timers_.empty()) return false;
      now_ = timers_.next_deadline();  // simulated time: jump to the next timer
      timers_.fire_due(now_, [](const detail::TimerHeap::Entry& e) { e.task->timer_expired(e.task, e.tag); });
      return true;
    }
    const std::size_t i = static_cast<std::size_t>(random() % runnable_.size());
    Task* task = runnable_[i];
    runnable_[i] = runnable_.back();
    runnable_.pop_back();
    ++steps_;
    Executor* previous = Executor::current();
    set_current(this);
    task->run(task);
    set_current(previous);
    return true;
  }

  // Fibers that can never finish (deadlock, livelock) are kept forever in a
  // process-wide list: their stacks may hold the only references to each other and
  // to the test's objects, and nothing may free them while they are parked.
  void abandon_unfinished() {
    static auto* graveyard = new std::vector<const detail::Fiber*>;
    for (const detail::Fiber* f : known_) {
      if (f->finished()) continue;
      graveyard->push_back(f);
#if SPINDLE_ASAN
      // LeakSanitizer does not scan mmap'd fiber stacks; what an abandoned fiber
      // still points at (its locals, its children's handles) is not a leak.
      const Stack& stack = f->coroutine().stack();
      __lsan_register_root_region(stack.bottom(), stack.size());
#endif
    }
  }

  std::uint64_t steps() const { return steps_; }
  std::int64_t outstanding() const { return outstanding_; }

  // Every fiber that is parked, in the order the simulation first saw them.
  std::string deadlock_report() const {
    std::vector<const detail::Fiber*> parked;
    for (const detail::Fiber* f : known_) {
      if (!f->finished() && f->wait_kind != nullptr) parked.push_back(f);
    }
    std::sort(parked.begin(), parked.end(),
              [&](const detail::Fiber* a, const detail::Fiber* b) { return order_.at(a) < order_.at(b); });
    std::map<const void*, int> objects;  // numbered by first mention: stable across replays
    std::string out = "deadlock: no fiber can run and no timer is pending; " + std::to_string(parked.size()) +
                      " fiber(s) parked:\n";
    for (const detail::Fiber* f : parked) {
      auto [it, inserted] = objects.emplace(f->wait_object, static_cast<int>(objects.size()));
      out += "  fiber " + std::to_string(order_.at(f));
      if (!f->name().empty()) out += " '" + std::string(f->name()) + "'";
      out += " waits in " + std::string(f->wait_kind) + " on object O" + std::to_string(it->second) + "\n";
    }
    return out;
  }

 private:
  std::uint64_t rng_;
  SimOptions options_;
  Clock::time_point now_;
  std::vector<Task*> runnable_;
  detail::TimerHeap timers_;
  std::int64_t outstanding_ = 0;
  std::uint64_t steps_ = 0;
  std::unordered_set<const detail::Fiber*> known_;
  std::map<const detail::Fiber*, std::size_t> order_;
  std::string unhandled_;  // one line per exception that escaped a detached fiber
  std::shared_ptr<const UnhandledExceptionHandler> unhandled_handler_ =
      std::make_shared<const UnhandledExceptionHandler>([this](const FiberInfo& fiber, std::exception_ptr error) {
        std::string what = "exception of unknown type";
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        unhandled_ += "exception escaped detached fiber '" + std::string(fiber.name) + "': " + what + "\n";
      });
};

thread_local SimExecutor* tls_sim = nullptr;
std::atomic<std::uint64_t> g_current_seed{0};
std::atomic<bool> g_exploring{false};

void print_replay_hint(std::uint64_t seed) {
  std::fprintf(stderr, "spindle: replay with SPINDLE_SEED=%llu\n", static_cast<unsigned long long>(seed));
}

// A crash (assertion abort, segfault) in the middle of exploration still names its
// seed before the process dies.
void on_crash(int sig) {
  if (g_exploring.load()) {
    char msg[128];
    const int n = std::snprintf(msg, sizeof msg, "\nspindle: crashed (signal %d) under seed %llu; replay with SPINDLE_SEED=%llu\n",
                                sig, static_cast<unsigned long long>(g_current_seed.load()),
                                static_cast<unsigned long long>(g_current_seed.load()));
    ssize_t ignored = write(STDERR_FILENO, msg, static_cast<std::size_t>(n));
    (void)ignored;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void install_crash_reporting() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  for (int sig : {SIGABRT, SIGFPE, SIGILL}) signal(sig, &on_crash);
#ifdef SIGBUS  // POSIX; Windows has no SIGBUS
  signal(SIGBUS, &on_crash);
#endif
}

}  // namespace

bool in_simulation() { return tls_sim != nullptr; }

namespace detail_sim {
// Called by the fault hook (fault_injector.cc) while a simulation runs here: maybe
// hand the thread to another fiber. Never with a SpinLock held (see fault_point.h).
void fault_point() {
  SimExecutor* sim = tls_sim;
  if (sim == nullptr || !this_fiber::on_fiber() || detail::spin_locks_held() != 0) return;
  if (sim->chance(sim->options().preempt_probability)) this_fiber::yield();
}
}  // namespace detail_sim

SimResult simulate(std::uint64_t seed, const std::function<void()>& body, const SimOptions& options) {
  install_fault_hook();
  SimResult result;
  result.seed = seed;
  SimExecutor sim(seed, options);
  SimExecutor* outer = std::exchange(tls_sim, &sim);
  auto root = spawn(FiberOptions{.executor = &sim, .name = "root"}, [&body] { body(); });
  bool livelock = false;
#if SPINDLE_ASAN
  // A deadlocked run abandons its fibers, and with ASan's fake stacks (use after
  // return detection) what they own is out of LeakSanitizer's sight: allocations
  // made inside a simulation are not leak-checked.
  __lsan_disable();
#endif
  while (sim.step()) {
    if (sim.steps() > options.max_steps) {
      livelock = true;
      break;
    }
  }
#if SPINDLE_ASAN
  __lsan_enable();
#endif
  tls_sim = outer;
  result.steps = sim.steps();
  if (livelock) {
    result.outcome = SimResult::Outcome::kLivelock;
    result.message = "livelock: still running after " + std::to_string(options.max_steps) + " steps";
    sim.abandon_unfinished();
    root.detach();
    result.message += sim.unhandled_exceptions();
    return result;
  }
  if (sim.outstanding() > 0) {
    result.outcome = SimResult::Outcome::kDeadlock;
    result.message = sim.deadlock_report();
    sim.abandon_unfinished();
    root.detach();
    result.message += sim.unhandled_exceptions();
    return result;
  }
  try {
    root.join();
  } catch (const std::exception& e) {
    result.outcome = SimResult::Outcome::kFailed;
    result.message = std::string("exception: ") + e.what();
  } catch (...) {
    result.outcome = SimResult::Outcome::kFailed;
    result.message = "exception of unknown type";
  }
  if (!sim.unhandled_exceptions().empty()) {
    if (result.outcome == SimResult::Outcome::kPassed) result.outcome = SimResult::Outcome::kFailed;
    if (!result.message.empty()) result.message += "\n";
    result.message += sim.unhandled_exceptions();
  }
  return result;
}

ExploreResult explore(const std::function<void()>& body, const ExploreOptions& options) {
  install_crash_reporting();
  ExploreResult out;
  std::uint64_t first = options.first_seed;
  std::uint64_t count = options.seeds;
  if (const char* env = std::getenv("SPINDLE_SEED")) {
    first = std::strtoull(env, nullptr, 10);
    count = 1;
    std::fprintf(stderr, "spindle: SPINDLE_SEED=%llu: replaying that seed only\n", static_cast<unsigned long long>(first));
  }
  const auto start = std::chrono::steady_clock::now();
  g_exploring = true;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    g_current_seed = seed;
    SimResult r = simulate(seed, body, options.sim);
    ++out.seeds_run;
    if (r.ok() && options.failed_after_run && options.failed_after_run()) {
      r.outcome = SimResult::Outcome::kFailed;
      r.message = "the test recorded a failure";
    }
    if (!r.ok()) {
      out.found_failure = true;
      out.failure = r;
      std::fprintf(stderr, "spindle: seed %llu failed after %llu steps: %s\n", static_cast<unsigned long long>(seed),
                   static_cast<unsigned long long>(r.steps), r.message.c_str());
      print_replay_hint(seed);
      break;
    }
    if (options.time_budget_seconds > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > options.time_budget_seconds) {
      break;
    }
  }
  g_exploring = false;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

}  // namespace spindle::testing
