// The Boost.Context backend: the same two entry points as coro/arch/*.S, built on
// make_fcontext/jump_fcontext. Used on targets without a hand-written switch and as
// a cross-check of ours (every coro test runs against both).
//
// fcontext hands the *suspended* context back to the side that gets resumed, so each
// jump carries a `Jump` record naming both ends; the arriving side stores the
// fcontext it received into the `from` Context.
#include <boost/context/detail/fcontext.hpp>

#include "spindle/coro/context.h"

namespace bctx = boost::context::detail;
using spindle::detail::Context;

namespace {

struct Jump {
  Context* from;
  Context* to;
};

// Lives on the suspended side's stack, which stays untouched until someone
// switches back to it, so the arriving side may read it.
void boost_entry(bctx::transfer_t t) {
  auto* jump = static_cast<Jump*>(t.data);
  Context* self = jump->to;
  jump->from->sp = t.fctx;
  self->entry(self->entry_arg);
  __builtin_trap();  // entries never return
}

}  // namespace

extern "C" void spindle_make_context(Context* ctx, void* stack_top, std::size_t stack_size,
                                     spindle::detail::ContextEntry entry, void* arg) {
  ctx->entry = entry;
  ctx->entry_arg = arg;
  ctx->sp = bctx::make_fcontext(stack_top, stack_size, &boost_entry);
}

extern "C" void spindle_switch_context(Context* from, Context* to) {
  Jump jump{from, to};
  bctx::transfer_t t = bctx::jump_fcontext(to->sp, &jump);
  static_cast<Jump*>(t.data)->from->sp = t.fctx;
}
