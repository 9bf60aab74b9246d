// FiberPool: recycled fiber control blocks, each with its stack: a cache per
// thread, spilling into a process-wide list. Blocks are freed only when the global
// list is full and no timer refers to them (a stale timer entry may outlive the
// wait that set it). The global list moves in batches (64 blocks a lock as a rule): a game
// loop's main thread spawns a frame's fibers and the workers release them, so
// without batches both sides would take the global lock once per fiber, against
// each other. A thread that takes more blocks than it gives back (a game loop's
// main thread, whose fibers end on the workers) asks for its blocks back when it
// runs out or, spawning at a trickle, takes the last of its size, and the next
// release of that size anywhere gives back its thread's whole cache
// (fiber_pool.cc: g_starving); a thread holding a batch while the list has none
// of its size gives it back too (Global::hint, per stack size).
// Internal to fibers/.
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

  // For tests (fibers/fiber_pool_test.cc, sync/spawn_many_stack_reuse_test.cc):
  // how many blocks this thread has made (each a stack mapped), and how many of
  // the stack size it last acquired it could take now without making one (its
  // own cache and the global list).
  static std::size_t made_by_this_thread();
  static std::size_t at_hand_for_this_thread();

 private:
  struct Global;
  struct ThreadCache;
  static Global& global();
  static ThreadCache& cache();
  static void put_global(Fiber* f, std::size_t n);
};

}  // namespace spindle::detail
