// Endpoint: an IPv4 or IPv6 address and a port — what a TCP or UDP socket binds
// to, connects to, or receives from.
//
//   auto a = net::Endpoint::parse("127.0.0.1:8080");   // std::optional<Endpoint>
//   auto b = net::Endpoint::parse("[::1]:80");
//   net::Endpoint c = net::Endpoint::loopback_v4(0);   // port 0: any free port
//   std::string s = c.to_string();                     // "127.0.0.1:0"
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace spindle::net {

class Endpoint {
 public:
  // 0.0.0.0:0.
  Endpoint();
  // Parses "a.b.c.d:port" or "[v6-address]:port" (numeric addresses only; use
  // net::resolve for host names). Nullopt if malformed.
  static std::optional<Endpoint> parse(std::string_view text);
  // Like parse, but throws std::invalid_argument when malformed.
  static Endpoint from_string(std::string_view text);
  // 127.0.0.1:port / [::1]:port / 0.0.0.0:port / [::]:port.
  static Endpoint loopback_v4(std::uint16_t port);
  static Endpoint loopback_v6(std::uint16_t port);
  static Endpoint any_v4(std::uint16_t port);
  static Endpoint any_v6(std::uint16_t port);
  // From a socket address (AF_INET or AF_INET6); nullopt for other families.
  static std::optional<Endpoint> from_sockaddr(const sockaddr* addr, socklen_t len);

  // Whether the address is IPv4 / IPv6.
  bool is_v4() const { return storage_.ss_family == AF_INET; }
  bool is_v6() const { return storage_.ss_family == AF_INET6; }
  // The port, in host byte order.
  std::uint16_t port() const;
  // The address alone: "127.0.0.1" or "::1".
  std::string address() const;
  // "127.0.0.1:8080" or "[::1]:80"; parse(to_string()) gives the same Endpoint.
  std::string to_string() const;

  // The socket address, for the socket calls.
  const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t size() const { return is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6); }
  int family() const { return storage_.ss_family; }

  // Same family, address and port.
  friend bool operator==(const Endpoint& a, const Endpoint& b);

 private:
  sockaddr_storage storage_{};
};

}  // namespace spindle::net
