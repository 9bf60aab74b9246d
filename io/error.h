// Errors of spindle::net and spindle::io beyond the errno values (which come as
// std::system_category codes, compared with std::errc):
//   std::errc::timed_out            the call's deadline (or the socket's) passed
//   std::errc::operation_canceled   the fiber's stop was requested (JoinHandle::request_stop)
//   std::errc::bad_file_descriptor  the socket was closed, also from another fiber meanwhile
//   std::errc::operation_in_progress two fibers read (or write) one socket at once
//   net::Error::kEof                read_exact met the end of the stream first
//
// Every call comes in two forms, as in std::filesystem: one that throws
// std::system_error, and one that takes a std::error_code& last-but-deadline and
// is noexcept.
#pragma once

#include <string>
#include <system_error>

namespace spindle::net {

// spindle's own error codes (category "spindle.net").
enum class Error {
  kEof = 1,  // the stream ended before the requested bytes arrived
};

// The category of net::Error.
const std::error_category& error_category() noexcept;

// Makes a std::error_code of a net::Error (found by ADL, so `ec == Error::kEof` works).
inline std::error_code make_error_code(Error e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace spindle::net

template <>
struct std::is_error_code_enum<spindle::net::Error> : std::true_type {};

namespace spindle::net::detail {
// Throws std::system_error(ec, what) if ec is set.
void throw_if(const std::error_code& ec, const char* what);
}  // namespace spindle::net::detail
