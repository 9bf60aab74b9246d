// FiberPool (fibers/fiber_pool.h): the per-thread caches and the global list.
#include "spindle/fibers/fiber_pool.h"

#include <cstddef>
#include <mutex>
#include <utility>

#include "spindle/fibers/fiber.h"
#include "spindle/sched/os_thread.h"

namespace spindle::detail {

namespace {
constexpr std::size_t kThreadCache = 256;   // blocks a thread keeps
constexpr std::size_t kBatch = 64;          // blocks moved per lock of the global list
constexpr std::size_t kGlobalCache = 16384;  // blocks the global list keeps
}  // namespace

struct FiberPool::Global {
  std::mutex lock;
  Fiber* head = nullptr;
  std::size_t count = 0;
};

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

// Puts the chain `f` (n blocks linked through pool_next_) on the global list
// under one lock; what does not fit is freed, unless a timer may still refer to it.
void FiberPool::put_global(Fiber* f, std::size_t n) {
  if (n == 0) return;
  Global& g = global();
  Fiber* to_free = nullptr;
  {
    std::lock_guard<std::mutex> lk(g.lock);
    while (f != nullptr) {
      Fiber* next = f->pool_next_;
      if (g.count >= kGlobalCache && f->timers_pending_.load(std::memory_order_acquire) == 0) {
        f->pool_next_ = to_free;
        to_free = f;
      } else {
        f->pool_next_ = g.head;
        g.head = f;
        ++g.count;
      }
      f = next;
    }
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
  // Refill: up to kBatch blocks of this size under one lock; the first is
  // returned, the rest cached here if the cache is empty (it holds one size).
  Global& g = global();
  Fiber* got = nullptr;
  std::size_t n = 0;
  const std::size_t want = c.head == nullptr ? kBatch : 1;
  {
    std::lock_guard<std::mutex> lk(g.lock);
    for (Fiber** p = &g.head; *p != nullptr && n < want;) {
      if ((*p)->coro_.stack().size() == stack_size) {
        Fiber* f = *p;
        *p = f->pool_next_;
        --g.count;
        f->pool_next_ = got;
        got = f;
        ++n;
      } else {
        p = &(*p)->pool_next_;
      }
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
  if (c.count == kThreadCache) {
    // Full: the kBatch most recently cached go to the global list in one lock.
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
