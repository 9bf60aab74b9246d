// The OS seam for a process-wide memory barrier: every thread of the process that
// is running at the time executes a full memory barrier (or passes through a point
// that orders memory as one would) before process_barrier() returns. It lets one
// side of a Dekker-style handshake pay for both (sync/parking_lot.h): the other
// side needs only a compiler barrier. One file per OS:
// sync/process_barrier_linux.cc (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED)
// and sync/process_barrier_win32.cc (FlushProcessWriteBuffers).
#pragma once

namespace spindle::detail {

// Prepares the process for process_barrier(); false if this OS or kernel cannot
// provide it (callers then use real fences on both sides). Called once.
bool process_barrier_register();

// The barrier. Only after process_barrier_register() returned true. Returns false
// if it failed (it should not once registered).
bool process_barrier();

}  // namespace spindle::detail
