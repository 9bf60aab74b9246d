// One line in a gtest test runs a body under many seeds of the deterministic
// simulator and fails the test with the seed that breaks it:
//
//   TEST(MyQueue, NeverLosesAnItem) {
//     SPINDLE_EXPLORE(1000, [] { ...spawn fibers, EXPECT_... ... });
//   }
//
// An EXPECT/ASSERT failing inside the body, an exception escaping it, a deadlock
// or a livelock all count. The failure message names the seed; rerun with
// SPINDLE_SEED=<seed> to replay exactly that interleaving. (The body is variadic so
// that commas inside the lambda need no extra parentheses.)
#pragma once

#include <gtest/gtest.h>

#include "spindle/testing/simulation.h"

#define SPINDLE_EXPLORE(seed_count, ...)                                                        \
  do {                                                                                          \
    ::spindle::testing::ExploreOptions spindle_explore_options;                                 \
    spindle_explore_options.seeds = (seed_count);                                               \
    spindle_explore_options.failed_after_run = [] { return ::testing::Test::HasFailure(); };   \
    const auto spindle_explore_result = ::spindle::testing::explore((__VA_ARGS__), spindle_explore_options); \
    if (spindle_explore_result.found_failure) {                                                 \
      ADD_FAILURE() << "spindle: seed " << spindle_explore_result.failure.seed << " failed: "    \
                    << spindle_explore_result.failure.message                                   \
                    << "\n  replay with SPINDLE_SEED=" << spindle_explore_result.failure.seed;   \
    }                                                                                           \
  } while (false)
