// gtest main for spindle's own tests. In fault-injection builds (--config=faults)
// it runs every test under a FaultInjector, so the runtime's SPINDLE_FAULT_POINT()s
// perturb the stress tests; the seed comes from SPINDLE_FAULT_SEED (default 1) and
// is printed, the rate from SPINDLE_FAULT_RATE (default 0.05).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "spindle/testing/fault_injector.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
#if defined(SPINDLE_FAULT_INJECTION) && SPINDLE_FAULT_INJECTION
  spindle::testing::FaultOptions options;
  if (const char* seed = std::getenv("SPINDLE_FAULT_SEED")) options.seed = std::strtoull(seed, nullptr, 10);
  options.rate = 0.05;
  if (const char* rate = std::getenv("SPINDLE_FAULT_RATE")) options.rate = std::strtod(rate, nullptr);
  std::printf("spindle: fault injection on (seed %llu, rate %.3f)\n", static_cast<unsigned long long>(options.seed),
              options.rate);
  auto injector = std::make_unique<spindle::testing::FaultInjector>(options);
  const int rc = RUN_ALL_TESTS();
  std::printf("spindle: %llu fault points reached, %llu faults injected\n",
              static_cast<unsigned long long>(injector->points_reached()),
              static_cast<unsigned long long>(injector->faults_injected()));
  return rc;
#else
  return RUN_ALL_TESTS();
#endif
}
