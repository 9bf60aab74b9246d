// FiberPool: recycled fiber control blocks, each with its stack: a cache per
// thread, spilling into a process-wide list. Blocks are freed only when the global
// list is full and no timer refers to them (a stale timer entry may outlive the
// wait that set it). The global list moves in batches (up to 64 blocks a lock): a game
// loop's main thread spawns a frame's fibers and the workers release them, so
// without batches both sides would take the global lock once per fiber, against
// each other. While the global list is empty, a thread that has a few blocks
// cached gives half back at its next release, so that a thread spawning fibers
// that end elsewhere finds blocks there rather than mapping new stacks
// (fiber_pool.cc: Global::hint, counted per stack size). Internal to fibers/.
#pragma once

#include <cstddef>

namespace spindle::detail {

class Fiber;

struct FiberPool {
  // A block whose stack is `stack_size` bytes (already rounded to pages): from this
  // thread's cache, else a batch from the global list, else a new one.
  static Fiber* acquire(std::size_t stack_size);
  // Gives a finished (or never started) block back to this thread's cache.
  static void release(Fiber* f);

 private:
  struct Global;
  struct ThreadCache;
  static Global& global();
  static ThreadCache& cache();
  static void put_global(Fiber* f, std::size_t n);
};

}  // namespace spindle::detail
