// Compiled (not run) by tools/check_public_headers.sh with users' strictest usual
// flags (-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror) under g++ and
// clang++: every public header, and every public type used the way the README and
// the headers' own examples use them, must compile warning-free. Linked and run by
// CMake's public_api test (CMakeLists.txt), so that it also proves the installed
// library provides what the headers declare.
#include <spindle/spindle.h>
#include <spindle/testing/fault_injector.h>
#include <spindle/testing/simulation.h>
#include <spindle/version.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

static_assert(SPINDLE_VERSION_MAJOR >= 0 && SPINDLE_VERSION_MINOR >= 0 && SPINDLE_VERSION_PATCH >= 0);

namespace {

struct Tally {
  int value = 0;
};

int use_everything() {
  using namespace std::chrono_literals;
  // Designated initializers naming only some fields: no -Wmissing-field-initializers.
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "api"});
  spindle::Scheduler synthetic({.workers = 2,
                                .pinning = spindle::Pinning::kNone,
                                .topology = spindle::Topology::synthetic("package:1 core:2 pu:1")});
  spindle::ThreadPool pool(1, "api-pool");
  spindle::ManualExecutor manual;
  spindle::SchedulerStats stats = sched.stats();
  const spindle::Topology& topo = sched.topology();
  int total = static_cast<int>(topo.cores().size()) + static_cast<int>(stats.tasks_run);

  spindle::Mutex mutex;
  spindle::Event event;
  spindle::WaitGroup wg;
  spindle::Barrier barrier(1);
  spindle::CondVar cv;
  spindle::Semaphore sem(1);
  spindle::Channel<int> ch(2);
  spindle::Channel<std::string> names(1);
  spindle::FiberLocal<Tally> local;
  spindle::Version v = spindle::version();
  total += v.major;

  wg.add(1);
  auto h = spindle::spawn(sched, [&](int x) {
    spindle::this_fiber::yield();
    spindle::this_fiber::sleep_for(1ms);
    local->value = x;
    {
      std::lock_guard<spindle::Mutex> g(mutex);
      ch.send(local->value);
    }
    event.set();
    (void)barrier.arrive_and_wait();
    sem.acquire();
    sem.release();
    wg.done();
    return spindle::this_fiber::id() != 0 && !spindle::this_fiber::name().empty();
  }, 21);
  auto opt = spindle::spawn(spindle::FiberOptions{.executor = &pool, .name = "pooled"}, [] { return 1; });
  auto on_manual = spindle::spawn(manual, [] {});
  (void)manual.run_all();
  on_manual.join();
  event.wait();
  wg.wait();
  total += ch.recv().value_or(0);
  total += h.join() ? 1 : 0;
  total += opt.join();

  {
    std::unique_lock<spindle::Mutex> lk(mutex);
    (void)cv.wait_for(lk, 1ms, [] { return true; });
  }
  (void)names.try_send(std::string("x"));
  std::size_t which = spindle::select(
      spindle::recv_case(names, [&](std::optional<std::string> s) { total += static_cast<int>(s ? s->size() : 0); }),
      spindle::send_case(ch, 2, [] {}), spindle::timeout_case(1ms, [] {}));
  total += static_cast<int>(which);

  {
    spindle::Scope scope(&sched);
    scope.spawn([&] { (void)spindle::this_fiber::stop_requested(); });
    scope.join();
  }

  spindle::Coroutine co([] { spindle::Coroutine::current()->suspend(); }, {.stack_size = 64 * 1024});
  co.resume();
  co.resume();
  total += co.done() ? 1 : 0;
  spindle::StackPool stacks;
  stacks.release(stacks.acquire());

  {
    spindle::testing::FaultInjector faults({.seed = 7, .rate = 0.2});
    (void)faults.points_reached();
  }
  spindle::testing::SimResult r = spindle::testing::simulate(1, [] { spindle::this_fiber::yield(); });
  total += r.ok() ? 1 : 0;
  return total;
}

}  // namespace

int main() {
  const int total = use_everything();
  std::printf("spindle %s public API ok (%d)\n", SPINDLE_VERSION_STRING, total);
  return total > 0 ? 0 : 1;
}
