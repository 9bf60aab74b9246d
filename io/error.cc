#include "spindle/io/error.h"

namespace spindle::net {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "spindle.net"; }
  std::string message(int c) const override {
    return c == static_cast<int>(Error::kEof) ? "end of stream" : "unknown spindle.net error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category c;
  return c;
}

namespace detail {
void throw_if(const std::error_code& ec, const char* what) {
  if (ec) throw std::system_error(ec, what);
}
}  // namespace detail

}  // namespace spindle::net
