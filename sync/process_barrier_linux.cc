// sync/process_barrier.h on Linux: membarrier(2). After registration,
// MEMBARRIER_CMD_PRIVATE_EXPEDITED interrupts only the CPUs currently running
// this process's threads, each of which executes a full barrier.
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "spindle/sync/process_barrier.h"

namespace spindle::detail {

bool process_barrier_register() {
#if defined(__NR_membarrier)
  return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
  return false;  // kernel headers older than membarrier: fences on both sides
#endif
}

bool process_barrier() {
#if defined(__NR_membarrier)
  return syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
#else
  return false;
#endif
}

}  // namespace spindle::detail
