// Kernels without MADV_GUARD_INSTALL: every stack's mprotect'ed guard costs a
// memory mapping, and once the process reaches vm.max_map_count allocation fails
// with an error that says so (never a hang or a bare ENOMEM). Its own binary: it
// uses up the process's mappings.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

#include "spindle/coro/stack.h"
#include "spindle/coro/stack_platform.h"

namespace spindle {
namespace {

#if !defined(_WIN32)
long max_map_count() {
  std::FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r");
  long v = -1;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld", &v) != 1) v = -1;
    std::fclose(f);
  }
  return v;
}

TEST(MapCountTest, MprotectGuardsEndAtTheMapCountLimitWithAClearError) {
  const long limit = max_map_count();
  if (limit <= 0 || limit > 200'000) GTEST_SKIP() << "vm.max_map_count is " << limit;
  // ASan's and TSan's runtimes map memory of their own as they go, and abort when
  // the process has no mappings left: this test runs in the other configs only.
  if (SPINDLE_ASAN || SPINDLE_TSAN) GTEST_SKIP() << "sanitizer runtimes cannot run out of mappings";
  detail::use_mprotect_guards();
  std::vector<Stack> stacks;
  stacks.reserve(static_cast<std::size_t>(limit));  // no allocation once mappings run out
  std::string error;
  try {
    while (stacks.size() < static_cast<std::size_t>(limit)) stacks.push_back(Stack::allocate(16 * 1024));
  } catch (const std::system_error& e) {
    error = e.what();
  }
  std::printf("after %zu stacks: %s\n", stacks.size(), error.c_str());
  EXPECT_NE(error.find("vm.max_map_count"), std::string::npos) << "error: " << error;
  EXPECT_GT(stacks.size(), static_cast<std::size_t>(limit) / 4);  // two mappings per stack, others in use
  EXPECT_LT(stacks.size(), static_cast<std::size_t>(limit) / 2 + 1);
  EXPECT_TRUE(Stack::guard_splits_mapping());
  stacks.clear();
  EXPECT_TRUE(Stack::allocate(16 * 1024).valid()) << "mappings given back are usable again";
}
#endif

}  // namespace
}  // namespace spindle
