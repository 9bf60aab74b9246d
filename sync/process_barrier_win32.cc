// sync/process_barrier.h on Windows: FlushProcessWriteBuffers (Vista and later)
// makes every processor running a thread of the process flush its write queue
// (an inter-processor interrupt, which serialises each of them), the same
// guarantee membarrier gives on Linux.
#include <windows.h>

#include "spindle/sync/process_barrier.h"

namespace spindle::detail {

bool process_barrier_register() { return true; }

bool process_barrier() {
  FlushProcessWriteBuffers();
  return true;
}

}  // namespace spindle::detail
