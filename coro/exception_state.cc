#include "spindle/coro/exception_state.h"

#include <cxxabi.h>

namespace spindle::detail {

ExceptionState* thread_exception_state() noexcept {
  // Constant-initialised: reading it needs no TLS wrapper call. The runtime's
  // globals live as long as the thread does.
  thread_local ExceptionState* state = nullptr;
  if (state == nullptr) [[unlikely]] {
    state = reinterpret_cast<ExceptionState*>(abi::__cxa_get_globals());
  }
  return state;
}

}  // namespace spindle::detail
