// FiberPool (fibers/fiber_pool.h): the per-thread caches and the global list.
#include "spindle/fibers/fiber_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <utility>

#include "spindle/fibers/fiber.h"
#include "spindle/sched/os_thread.h"

namespace spindle::detail {

namespace {
constexpr std::size_t kThreadCache = 256;   // blocks a thread keeps
constexpr std::size_t kBatch = 64;          // blocks moved per lock of the global list
constexpr std::size_t kGlobalCache = 16384;  // blocks the global list keeps
// A spawner taking blocks more slowly than one per this long since its last
// refill trickles (see g_starving).
constexpr std::chrono::nanoseconds kTricklePerBlock = std::chrono::microseconds(10);
// ThreadCache::owed: a thread that took kSpawnerOwed blocks more than it gave back
// is a spawner (see g_starving); a new thread starts as one. Capped, so that a
// spawner that turns releaser stops asking within kOwedCap releases.
constexpr std::uint32_t kSpawnerOwed = 16;
constexpr std::uint32_t kOwedCap = 64;
// A spawner's request for blocks of one stack size (0: none pending). While the list is
// empty, a thread holding a batch's worth gives it back at once instead of keeping up
// to kThreadCache; that alone was not enough when fibers are spawned on one thread and
// end on another (a game loop's main thread and the workers): the spawner found the
// list empty at each refill and mapped a fresh stack (tens of microseconds on a VM)
// until another thread had cached 64 — every frame of the game_loop demo's first ~1.5 s
// (one batch fiber per frame; its submit took 50-130 us instead of 2-4). So a spawner
// asks when it has to map, and the next release of that size anywhere gives back all
// its thread has cached, the released block included, and clears the request: the
// spawner finds them at its next refill. A spawner that trickles (took its last refill
// more slowly than one block per kTricklePerBlock) also asks when a refill takes the
// last blocks of its size, so that they come back before it runs out: the blocks it
// spawns end in the releasers' caches each time, and with requests at maps only it
// mapped again at each (24-34 stacks for 300 fibers, fiber_pool_test). One that takes
// blocks in bursts (a frame of 64 spawn()s) does not: the batch rule brings them back,
// and asking there had the releasers give back part-filled caches mid-frame, the
// spawner run short and map (bench/frame spawn+WaitGroup, 2000 frames: 529 maps, p99
// 1.5-2x). Only a thread that takes more blocks than it gives back asks
// (ThreadCache::owed): one whose fibers end elsewhere, if not all of them (a
// detach() or join() that comes after the fiber ended releases its block on the
// spawner; with "released nothing since its last refill" as the test, each such
// release kept the spawner from asking at its next refill, and it mapped:
// fiber_pool_test, 2-5 maps in 300 spawns). Threads that spawn and release alike
// (skynet's workers) keep their blocks: asking for them at every refill after a
// map (tried) moved whole caches back and forth between the two workers, onto the
// CPU whose cache held none of their lines (skynet on 2 workers 9% slower), and
// giving back whenever the list was empty (tried: for 1024 releases after each
// map) 11%. Relaxed: a request to act on, nothing is published through it; its own
// cache line, as every release reads it, and at namespace scope, where reading it
// checks no guard of a function-local static.
alignas(64) constinit std::atomic<std::size_t> g_starving{0};
}  // namespace

// The global list is a list of batches, each a chain of blocks of one stack
// size as a thread cache gave it back: a refill takes a whole batch under the
// lock without visiting its blocks (each visit would be a cache miss on memory
// another CPU wrote last).
struct FiberPool::Global {
  std::mutex lock;
  Fiber* batches = nullptr;  // first blocks, linked through their BatchLinks
  std::size_t count = 0;     // blocks in all batches
  // How many blocks of one stack size the list holds, for threads that do not
  // hold the lock (stored under it). Per size, because blocks of another size (a
  // Scheduler with its own stack_size, a spawn with FiberOptions::stack_size) say
  // nothing about this one: a count of all blocks kept the workers from giving
  // back while the spawner mapped a stack per fiber (fiber_pool_test).
  // kSizeSlots sizes are counted; a size beyond them reads the total. Relaxed: a
  // hint; a stale read (or a slot handed to another size meanwhile) costs one
  // spill too many or too few.
  struct SizeCount {
    std::atomic<std::size_t> size{0};  // 0: free
    std::atomic<std::size_t> count{0};
  };
  static constexpr std::size_t kSizeSlots = 4;
  SizeCount by_size[kSizeSlots];
  std::atomic<std::size_t> count_hint{0};  // g.count

  // Under the lock: `delta` blocks of `size` came (or went, negative). A size
  // without a slot takes one whose count is zero.
  void count_locked(std::size_t size, std::ptrdiff_t delta) {
    SizeCount* free_slot = nullptr;
    for (SizeCount& slot : by_size) {
      const std::size_t s = slot.size.load(std::memory_order_relaxed);
      if (s == size) {
        slot.count.store(slot.count.load(std::memory_order_relaxed) + static_cast<std::size_t>(delta),
                         std::memory_order_relaxed);
        return;
      }
      if (free_slot == nullptr && (s == 0 || slot.count.load(std::memory_order_relaxed) == 0)) free_slot = &slot;
    }
    if (free_slot != nullptr && delta > 0) {
      free_slot->size.store(size, std::memory_order_relaxed);
      free_slot->count.store(static_cast<std::size_t>(delta), std::memory_order_relaxed);
    }
  }
  // Without the lock: about how many blocks of `size` the list holds.
  std::size_t hint(std::size_t size) const {
    for (const SizeCount& slot : by_size) {
      if (slot.size.load(std::memory_order_relaxed) == size) return slot.count.load(std::memory_order_relaxed);
    }
    return count_hint.load(std::memory_order_relaxed);  // no slot: its blocks are in the total, if any
  }
};

namespace {
// A batch's links, kept on its first block in the storage of the block's inline
// payload: a pooled block has none (recycle() destroyed it; the next spawn
// constructs its own there). Keeping them there, rather than in two more fields
// of Fiber, keeps the control block as it was (two more fields slowed the yield
// ping-pong of bench/fiber_ops by ~7%, 20.1 -> 21.6 ns, medians of 5).
struct BatchLinks {
  Fiber* next_batch;
  std::size_t len;
};
static_assert(sizeof(BatchLinks) <= Fiber::kInlinePayload);

BatchLinks& links(Fiber* first) { return *std::launder(static_cast<BatchLinks*>(first->inline_payload())); }
void set_links(Fiber* first, Fiber* next_batch, std::size_t len) {
  ::new (first->inline_payload()) BatchLinks{next_batch, len};
}
}  // namespace

FiberPool::Global& FiberPool::global() {
  static Global* g = new Global;  // never destroyed: thread caches spill into it at exit
  return *g;
}

struct FiberPool::ThreadCache {
  Fiber* head = nullptr;
  std::size_t count = 0;
  std::size_t stack_size = 0;
  // Blocks taken minus blocks given back, within [0, kOwedCap] (see g_starving).
  std::uint32_t owed = kSpawnerOwed;
  std::chrono::steady_clock::time_point last_refill{};  // and how many it took
  std::size_t last_refill_blocks = 0;
  std::size_t last_size = 0;  // of the last refill or new block (at_hand_for_this_thread)
  std::size_t made = 0;       // blocks made (made_by_this_thread)
  ~ThreadCache() { put_global(std::exchange(head, nullptr), std::exchange(count, 0)); }
};

// Heap-allocated and spilled by at_thread_exit rather than a thread_local with a
// destructor, which under mingw's emulated TLS would run on freed memory (see
// sched/os_thread.h). No switch happens between cache() and the use of its
// result, so the thread-local pointer is read on the right thread.
FiberPool::ThreadCache& FiberPool::cache() {
  constinit thread_local ThreadCache* c = nullptr;
  if (c == nullptr) [[unlikely]] {
    c = new ThreadCache;
    at_thread_exit([](void* p) { delete static_cast<ThreadCache*>(p); }, c);
  }
  return *c;
}

// Puts the chain `f` (n blocks of one stack size linked through pool_next_) on
// the global list as one batch under one lock; what does not fit is freed,
// unless a timer may still refer to it.
void FiberPool::put_global(Fiber* f, std::size_t n) {
  if (n == 0) return;
  Global& g = global();
  Fiber* to_free = nullptr;
  {
    std::lock_guard<std::mutex> lk(g.lock);
    if (g.count + n > kGlobalCache) {  // rare: keep what fits and what timers still hold
      Fiber* keep = nullptr;
      std::size_t kept = 0;
      while (f != nullptr) {
        Fiber* next = f->pool_next_;
        if (g.count + kept >= kGlobalCache && f->timers_pending_.load(std::memory_order_acquire) == 0) {
          f->pool_next_ = to_free;
          to_free = f;
        } else {
          f->pool_next_ = keep;
          keep = f;
          ++kept;
        }
        f = next;
      }
      f = keep;
      n = kept;
    }
    if (f != nullptr) {
      set_links(f, g.batches, n);
      g.batches = f;
      g.count += n;
      g.count_locked(f->coro_.stack().size(), static_cast<std::ptrdiff_t>(n));
    }
    g.count_hint.store(g.count, std::memory_order_relaxed);
  }
  while (to_free != nullptr) delete std::exchange(to_free, to_free->pool_next_);
}

Fiber* FiberPool::acquire(std::size_t stack_size) {
  ThreadCache& c = cache();
  c.owed += c.owed < kOwedCap;
  if (c.head != nullptr && c.stack_size == stack_size) {
    Fiber* f = c.head;
    c.head = f->pool_next_;
    --c.count;
    return f;
  }
  // Refill: the first batch of this size. If the cache is empty it keeps the rest
  // (it holds one size); else only one block is taken and the rest stays a batch.
  Global& g = global();
  Fiber* got = nullptr;
  std::size_t n = 0;
  // May ask (g_starving): a thread that takes more than it gives back, and
  // before it runs out only if it trickles.
  const bool spawner = c.owed >= kSpawnerOwed;
  const auto now = std::chrono::steady_clock::now();
  const bool trickles = now - c.last_refill >= kTricklePerBlock * static_cast<long>(c.last_refill_blocks);
  {
    std::lock_guard<std::mutex> lk(g.lock);
    for (Fiber** p = &g.batches; *p != nullptr; p = &links(*p).next_batch) {
      Fiber* b = *p;
      if (b->coro_.stack().size() != stack_size) continue;
      const BatchLinks l = links(b);
      if (c.head == nullptr || l.len == 1) {
        *p = l.next_batch;
        n = l.len;
      } else {
        Fiber* rest = b->pool_next_;
        set_links(rest, l.next_batch, l.len - 1);
        *p = rest;
        b->pool_next_ = nullptr;
        n = 1;
      }
      got = b;
      g.count -= n;
      g.count_hint.store(g.count, std::memory_order_relaxed);
      g.count_locked(stack_size, -static_cast<std::ptrdiff_t>(n));
      // A trickling spawner asks as it takes the last blocks of its size,
      // before it runs out (g_starving).
      if (spawner && trickles && g.hint(stack_size) == 0) g_starving.store(stack_size, std::memory_order_relaxed);
      break;
    }
  }
  c.last_refill = now;
  c.last_size = stack_size;
  if (got == nullptr) {
    if (spawner) g_starving.store(stack_size, std::memory_order_relaxed);  // ask the releasers
    c.last_refill_blocks = 1;
    Fiber* fresh = new Fiber(stack_size);
    ++c.made;
    return fresh;
  }
  c.last_refill_blocks = n;
  Fiber* f = got;
  if (n > 1) {
    c.head = f->pool_next_;
    c.count = n - 1;
    c.stack_size = stack_size;
  }
  return f;
}

void FiberPool::release(Fiber* f) {
  ThreadCache& c = cache();
  c.owed -= c.owed > 0;
  const std::size_t size = f->coro_.stack().size();
  if (c.count == 0) c.stack_size = size;
  if (c.stack_size != size) {
    f->pool_next_ = nullptr;
    put_global(f, 1);
    return;
  }
  if (g_starving.load(std::memory_order_relaxed) == size) [[unlikely]] {
    // A spawner asked for blocks of this size (g_starving): all of this
    // cache and f go back, as one batch.
    g_starving.store(0, std::memory_order_relaxed);
    f->pool_next_ = c.head;
    put_global(f, c.count + 1);
    c.head = nullptr;
    c.count = 0;
    return;
  }
  if (c.count >= kThreadCache || (c.count >= kBatch && global().hint(size) == 0)) {
    // Full, or the list has none of this size (Global::hint) and this thread
    // has a batch cached: the kBatch most recently cached go back in one lock.
    const std::size_t n = kBatch;
    Fiber* chain = c.head;
    Fiber* last = chain;
    for (std::size_t i = 1; i < n; ++i) last = last->pool_next_;
    c.head = last->pool_next_;
    last->pool_next_ = nullptr;
    c.count -= n;
    put_global(chain, n);
  }
  f->pool_next_ = c.head;
  c.head = f;
  ++c.count;
}

std::size_t FiberPool::made_by_this_thread() { return cache().made; }

std::size_t FiberPool::at_hand_for_this_thread() {
  const ThreadCache& c = cache();
  std::size_t n = c.stack_size == c.last_size ? c.count : 0;
  Global& g = global();
  std::lock_guard<std::mutex> lk(g.lock);
  for (Fiber* b = g.batches; b != nullptr; b = links(b).next_batch) {
    if (b->coro_.stack().size() == c.last_size) n += links(b).len;
  }
  return n;
}

}  // namespace spindle::detail
