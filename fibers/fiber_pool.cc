// FiberPool (fibers/fiber_pool.h): the per-thread caches and the global list.
#include "spindle/fibers/fiber_pool.h"

#include <atomic>
#include <cstddef>
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
}  // namespace

// The global list is a list of batches, each a chain of blocks of one stack
// size as a thread cache gave it back: a refill takes a whole batch under the
// lock without visiting its blocks (each visit would be a cache miss on memory
// another CPU wrote last).
struct FiberPool::Global {
  std::mutex lock;
  Fiber* batches = nullptr;  // first blocks, linked through their BatchLinks
  std::size_t count = 0;     // blocks in all batches
  // g.count, for threads that do not hold the lock (stored under it). While it is
  // zero, a thread holding a batch's worth gives it back at once instead of
  // keeping up to kThreadCache: when fibers are spawned on one thread and end on
  // another (a game loop's main thread and the workers), the spawner would
  // otherwise find the list empty at each refill and map a fresh stack (tens of
  // microseconds on a VM) until every other thread's cache had filled. Relaxed: a
  // hint; a stale read costs one spill too many or too few.
  std::atomic<std::size_t> count_hint{0};
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
    }
    g.count_hint.store(g.count, std::memory_order_relaxed);
  }
  while (to_free != nullptr) delete std::exchange(to_free, to_free->pool_next_);
}

Fiber* FiberPool::acquire(std::size_t stack_size) {
  ThreadCache& c = cache();
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
      break;
    }
  }
  if (got == nullptr) return new Fiber(stack_size);
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
  const std::size_t size = f->coro_.stack().size();
  if (c.count == 0) c.stack_size = size;
  if (c.stack_size != size) {
    f->pool_next_ = nullptr;
    put_global(f, 1);
    return;
  }
  if (c.count >= kThreadCache ||
      (c.count >= kBatch && global().count_hint.load(std::memory_order_relaxed) == 0)) {
    // Full, or the global list is empty (see Global::count_hint): the kBatch most
    // recently cached go to the global list in one lock.
    Fiber* chain = c.head;
    Fiber* last = chain;
    for (std::size_t i = 1; i < kBatch; ++i) last = last->pool_next_;
    c.head = last->pool_next_;
    last->pool_next_ = nullptr;
    c.count -= kBatch;
    put_global(chain, kBatch);
  }
  f->pool_next_ = c.head;
  c.head = f;
  ++c.count;
}

}  // namespace spindle::detail
