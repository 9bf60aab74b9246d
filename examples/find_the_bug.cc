// find_the_bug: a small, plausible piece of user code with a real concurrency bug,
// found by spindle's harness, which prints the failing seed and replays it.
//
//   ./bazelw run //examples:find_the_bug
//
// The code: a job queue whose consumer checks for work and, finding none, goes to
// sleep on a condition variable. The check happens before taking the lock, so a
// producer can push and notify in between: the notification finds nobody waiting,
// the consumer then sleeps on an item that is already there. A lost wakeup — rare
// on real threads, found by the simulator in a handful of seeds.
#include <cstdio>
#include <deque>
#include <mutex>

#include "spindle/fibers/spawn.h"
#include "spindle/sync/cond_var.h"
#include "spindle/sync/mutex.h"
#include "spindle/testing/simulation.h"

namespace {

class JobQueue {
 public:
  void push(int job) {
    {
      std::lock_guard<spindle::Mutex> g(lock_);
      jobs_.push_back(job);
      empty_ = false;
    }
    ready_.notify_one();
  }

  int pop() {
    if (empty_) {  // BUG: checked without the lock; a push + notify can slip in here
      spindle::fault_point();
      std::unique_lock<spindle::Mutex> lk(lock_);
      ready_.wait(lk);  // ...and then this sleeps although a job is queued
    }
    std::lock_guard<spindle::Mutex> g(lock_);
    const int job = jobs_.front();
    jobs_.pop_front();
    empty_ = jobs_.empty();
    return job;
  }

 private:
  spindle::Mutex lock_;
  spindle::CondVar ready_;
  std::deque<int> jobs_;
  bool empty_ = true;
};

// The test body: one producer, one consumer, three jobs.
void scenario() {
  JobQueue queue;
  auto consumer = spindle::spawn(spindle::FiberOptions{.name = "consumer"}, [&] {
    int sum = 0;
    for (int i = 0; i < 3; ++i) sum += queue.pop();
    return sum;
  });
  auto producer = spindle::spawn(spindle::FiberOptions{.name = "producer"}, [&] {
    for (int job = 1; job <= 3; ++job) {
      spindle::fault_point();
      queue.push(job);
    }
  });
  producer.join();
  if (consumer.join() != 6) throw std::runtime_error("jobs lost");
}

}  // namespace

int main() {
  using namespace spindle::testing;
  std::setvbuf(stdout, nullptr, _IONBF, 0);  // interleave with the harness's stderr lines
  std::puts("find_the_bug: exploring JobQueue under the deterministic simulator...");
  ExploreOptions options;
  options.seeds = 10'000;
  const ExploreResult found = explore(&scenario, options);
  if (!found.found_failure) {
    std::printf("no failure in %llu seeds\n", static_cast<unsigned long long>(found.seeds_run));
    return 1;
  }
  std::printf("found after %llu seed(s) (%.3f s): seed %llu\n%s\n", static_cast<unsigned long long>(found.seeds_run),
              found.seconds, static_cast<unsigned long long>(found.failure.seed), found.failure.message.c_str());
  std::puts("replaying that seed twice:");
  for (int i = 1; i <= 2; ++i) {
    const SimResult again = simulate(found.failure.seed, &scenario);
    const bool same = again.outcome == found.failure.outcome && again.steps == found.failure.steps &&
                      again.message == found.failure.message;
    std::printf("  replay %d: %s after %llu steps%s\n", i, again.ok() ? "passed" : "failed",
                static_cast<unsigned long long>(again.steps), same ? " — the same failure" : " — DIFFERENT");
    if (!same) return 1;
  }
  std::puts("fix: check `empty_` under the lock, in a loop: ready_.wait(lk, [&] { return !jobs_.empty(); });");
  return 0;
}
