// A program outside spindle's tree, built against its installed CMake package
// (examples/consumer/CMakeLists.txt): spawns fibers that talk over a channel and
// join them. Exits 0 and prints "consumer: ok" when every result arrived.
#include <spindle/spindle.h>

#include <cstdio>
#include <vector>

int main() {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "consumer"});
  spindle::Channel<int> squares(8);
  std::vector<spindle::JoinHandle<int>> workers;
  for (int i = 1; i <= 10; ++i) {
    workers.push_back(spindle::spawn(sched, [&squares, i] {
      spindle::this_fiber::yield();
      squares.send(i * i);
      return i;
    }));
  }
  auto sum = spindle::spawn(sched, [&squares] {
    int total = 0;
    for (int k = 0; k < 10; ++k) total += squares.recv().value();
    return total;
  });
  int ids = 0;
  for (auto& w : workers) ids += w.join();
  const int total = sum.join();
  std::printf("consumer: spindle %s, ids %d, sum of squares %d\n", spindle::version().string, ids, total);
  if (ids != 55 || total != 385) {
    std::printf("consumer: wrong results\n");
    return 1;
  }
  std::printf("consumer: ok\n");
  return 0;
}
