// net::resolve: host name to endpoints, through getaddrinfo(3) run on the
// blocking pool (spindle::blocking), so the calling fiber parks and its worker
// runs others meanwhile.
//
//   for (const net::Endpoint& e : net::resolve("localhost", 8080)) ...
#pragma once

#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

#include "spindle/io/endpoint.h"

namespace spindle::net {

// The endpoints `host` (a name or a numeric address) resolves to, with `port`,
// for TCP, in getaddrinfo's order (IPv4 and IPv6 as configured). Errors are
// codes of resolve_category() (EAI_* values, gai_strerror messages).
std::vector<Endpoint> resolve(std::string_view host, std::uint16_t port);
std::vector<Endpoint> resolve(std::string_view host, std::uint16_t port, std::error_code& ec) noexcept;

// The category of getaddrinfo's errors ("spindle.resolve").
const std::error_category& resolve_category() noexcept;

}  // namespace spindle::net
