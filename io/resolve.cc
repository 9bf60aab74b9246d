#include "spindle/io/resolve.h"

#include <netdb.h>

#include <cerrno>
#include <string>

#include "spindle/io/blocking.h"
#include "spindle/io/error.h"

namespace spindle::net {
namespace {

class ResolveCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "spindle.resolve"; }
  std::string message(int c) const override { return ::gai_strerror(c); }
};

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const ResolveCategory c;
  return c;
}

std::vector<Endpoint> resolve(std::string_view host, std::uint16_t port, std::error_code& ec) noexcept {
  ec.clear();
  try {
    const std::string h(host), p = std::to_string(port);
    return blocking([&] {
      std::vector<Endpoint> out;
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* res = nullptr;
      const int rc = ::getaddrinfo(h.c_str(), p.c_str(), &hints, &res);
      if (rc != 0) {
        ec = rc == EAI_SYSTEM ? std::error_code(errno, std::system_category()) : std::error_code(rc, resolve_category());
        return out;
      }
      for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
        if (auto e = Endpoint::from_sockaddr(a->ai_addr, a->ai_addrlen)) out.push_back(*e);
      }
      ::freeaddrinfo(res);
      return out;
    });
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
}

std::vector<Endpoint> resolve(std::string_view host, std::uint16_t port) {
  std::error_code ec;
  auto out = resolve(host, port, ec);
  detail::throw_if(ec, "spindle::net::resolve");
  return out;
}

}  // namespace spindle::net
