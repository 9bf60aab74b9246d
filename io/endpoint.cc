#include "spindle/io/endpoint.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace spindle::net {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned v = 0;
  if (s.empty() || s.size() > 5) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

Endpoint make(int family, const void* addr, std::uint16_t port) {
  sockaddr_storage ss{};
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    std::memcpy(&a->sin_addr, addr, sizeof a->sin_addr);
    return *Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in));
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  a->sin6_family = AF_INET6;
  a->sin6_port = htons(port);
  std::memcpy(&a->sin6_addr, addr, sizeof a->sin6_addr);
  return *Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), sizeof(sockaddr_in6));
}

}  // namespace

Endpoint::Endpoint() { storage_.ss_family = AF_INET; }

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string host;
  std::string_view port;
  int family;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host.assign(text.substr(1, close - 1));
    port = text.substr(close + 2);
    family = AF_INET6;
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    host.assign(text.substr(0, colon));
    port = text.substr(colon + 1);
    family = AF_INET;
  }
  const auto p = parse_port(port);
  if (!p) return std::nullopt;
  unsigned char addr[sizeof(in6_addr)];
  if (::inet_pton(family, host.c_str(), addr) != 1) return std::nullopt;
  return make(family, addr, *p);
}

Endpoint Endpoint::from_string(std::string_view text) {
  auto e = parse(text);
  if (!e) throw std::invalid_argument("spindle::net::Endpoint: not an address:port: " + std::string(text));
  return *e;
}

Endpoint Endpoint::loopback_v4(std::uint16_t port) {
  const in_addr a{htonl(INADDR_LOOPBACK)};
  return make(AF_INET, &a, port);
}
Endpoint Endpoint::loopback_v6(std::uint16_t port) { return make(AF_INET6, &in6addr_loopback, port); }
Endpoint Endpoint::any_v4(std::uint16_t port) {
  const in_addr a{htonl(INADDR_ANY)};
  return make(AF_INET, &a, port);
}
Endpoint Endpoint::any_v6(std::uint16_t port) { return make(AF_INET6, &in6addr_any, port); }

std::optional<Endpoint> Endpoint::from_sockaddr(const sockaddr* addr, socklen_t len) {
  Endpoint e;
  if (addr->sa_family == AF_INET && len >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    std::memcpy(&e.storage_, addr, sizeof(sockaddr_in));
  } else if (addr->sa_family == AF_INET6 && len >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    std::memcpy(&e.storage_, addr, sizeof(sockaddr_in6));
  } else {
    return std::nullopt;
  }
  return e;
}

std::uint16_t Endpoint::port() const {
  return ntohs(is_v4() ? reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port
                       : reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
}

std::string Endpoint::address() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf, sizeof buf);
  } else {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

std::string Endpoint::to_string() const {
  return is_v4() ? address() + ":" + std::to_string(port()) : "[" + address() + "]:" + std::to_string(port());
}

bool operator==(const Endpoint& a, const Endpoint& b) {
  if (a.family() != b.family() || a.port() != b.port()) return false;
  if (a.is_v4()) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in*>(&a.storage_)->sin_addr,
                       &reinterpret_cast<const sockaddr_in*>(&b.storage_)->sin_addr, sizeof(in_addr)) == 0;
  }
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&a.storage_)->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6*>(&b.storage_)->sin6_addr, sizeof(in6_addr)) == 0;
}

}  // namespace spindle::net
