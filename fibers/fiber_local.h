// FiberLocal<T>: a variable with one instance per fiber (per thread, on plain
// threads), created on first access with T's default constructor and destroyed
// when the fiber ends (or the thread exits; the main thread's instances are left
// to the process's exit).
//
//   spindle::FiberLocal<RequestContext> ctx;
//   ctx->user = "alice";   // this fiber's instance
//
// Unlike thread_local, the value follows the fiber when it migrates between
// workers. At most detail::kMaxFiberLocals FiberLocals exist at once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spindle/fibers/fiber.h"

namespace spindle {

namespace detail {
struct LocalSlotId {
  std::size_t index;
  std::uint64_t generation;  // unique per FiberLocal
};
LocalSlotId allocate_local_slot();
void free_local_slot(std::size_t index);
// The calling fiber's slots, or the calling thread's off fibers. Not inlined.
[[gnu::noinline]] LocalSlots& current_local_slots();
}  // namespace detail

template <class T>
class FiberLocal {
 public:
  // Throws std::length_error when all kMaxFiberLocals slots are taken.
  FiberLocal() : slot_(detail::allocate_local_slot()) {}
  // Instances still held by live fibers are destroyed when those fibers end.
  ~FiberLocal() { detail::free_local_slot(slot_.index); }
  FiberLocal(const FiberLocal&) = delete;
  FiberLocal& operator=(const FiberLocal&) = delete;

  // This fiber's (or thread's) instance, default-constructed on first access.
  // Throws what T() throws, and std::bad_alloc (the instance, and on a fiber's
  // first FiberLocal access its table of slots, are allocated).
  T& get() {
    detail::LocalSlots::Table& slots = detail::current_local_slots().get();
    const std::size_t i = slot_.index;
    if (slots.values[i] != nullptr && slots.generation[i] != slot_.generation) {
      slots.destroy[i](slots.values[i]);  // left by an earlier FiberLocal in this slot
      slots.values[i] = nullptr;
    }
    if (slots.values[i] == nullptr) {
      slots.values[i] = new T();
      slots.any = true;
      slots.destroy[i] = [](void* p) { delete static_cast<T*>(p); };
      slots.generation[i] = slot_.generation;
    }
    return *static_cast<T*>(slots.values[i]);
  }
  T& operator*() { return get(); }
  T* operator->() { return &get(); }

 private:
  detail::LocalSlotId slot_;
};

}  // namespace spindle
