#include "spindle/coro/overflow_message.h"

#include <string_view>

#include "spindle/coro/coroutine.h"

namespace spindle::detail {
namespace {

// Appends `s` to buf[*len..cap), keeping room for nothing else; async-signal-safe.
void append(char* buf, std::size_t cap, std::size_t* len, std::string_view s) {
  for (char c : s) {
    if (*len + 1 >= cap) return;
    buf[(*len)++] = c;
  }
}

void append_number(char* buf, std::size_t cap, std::size_t* len, unsigned long long v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) append(buf, cap, len, std::string_view(&digits[--n], 1));
}

}  // namespace

std::size_t format_stack_overflow(const Coroutine& co, char* buf, std::size_t cap) {
  std::size_t len = 0;
  append(buf, cap, &len, "stack overflow in fiber ");
  if (!co.name().empty()) {
    append(buf, cap, &len, co.name());
  } else {
    append(buf, cap, &len, "#");
    append_number(buf, cap, &len, co.id());
  }
  append(buf, cap, &len, " (stack size ");
  append_number(buf, cap, &len, co.stack().size());
  append(buf, cap, &len, " bytes); raise Coroutine::Options::stack_size\n");
  return len;
}

}  // namespace spindle::detail
