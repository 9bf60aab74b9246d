// The umbrella header compiles on its own and gives the whole API.
#include <spindle/spindle.h>

#include <gtest/gtest.h>

TEST(UmbrellaTest, OneIncludeIsEnough) {
  spindle::Scheduler sched({.workers = 2, .pinning = spindle::Pinning::kNone, .name = "umbrella"});
  spindle::Channel<int> ch(4);
  spindle::WaitGroup wg;
  wg.add(1);
  auto h = spindle::spawn(sched, [&] {
    for (int i = 1; i <= 3; ++i) ch.send(i);
    ch.close();
    wg.done();
  });
  int sum = 0;
  while (auto v = ch.recv()) sum += *v;
  wg.wait();
  h.join();
  EXPECT_EQ(sum, 6);
}
