// MutableBuffer / ConstBuffer: the bytes a read fills or a write sends. Made
// implicitly from any contiguous range of trivially copyable elements (a char
// array, std::array, std::vector, std::string, std::string_view, std::span) and
// from a pointer and a byte count. A string literal (a const char array ending in
// NUL) is sent without its NUL.
#pragma once

#include <cstddef>
#include <cstring>
#include <iterator>
#include <ranges>
#include <string_view>
#include <type_traits>

namespace spindle::net {

// Bytes to be filled: data() .. data() + size().
class MutableBuffer {
 public:
  // `size` bytes at `data`.
  MutableBuffer(void* data, std::size_t size) : data_(data), size_(size) {}
  // The elements of a writable contiguous range.
  template <std::ranges::contiguous_range R>
    requires(!std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<R>>> &&
             std::is_trivially_copyable_v<std::ranges::range_value_t<R>>)
  MutableBuffer(R&& r)  // NOLINT: implicit on purpose
      : data_(std::ranges::data(r)), size_(std::ranges::size(r) * sizeof(std::ranges::range_value_t<R>)) {}

  // Start of the bytes.
  void* data() const { return data_; }
  // Number of bytes.
  std::size_t size() const { return size_; }

 private:
  void* data_;
  std::size_t size_;
};

// Bytes to be sent: data() .. data() + size().
class ConstBuffer {
 public:
  // `size` bytes at `data`.
  ConstBuffer(const void* data, std::size_t size) : data_(data), size_(size) {}
  // A string literal (a const char array), without its terminating NUL; an array
  // whose last element is not NUL is taken whole. More specialised than the range
  // constructor, so it wins for const char arrays.
  template <std::size_t N>
  ConstBuffer(const char (&s)[N])  // NOLINT: implicit on purpose
      : data_(s), size_(N > 0 && s[N - 1] == '\0' ? N - 1 : N) {}
  // The characters of `s`.
  ConstBuffer(std::string_view s) : data_(s.data()), size_(s.size()) {}  // NOLINT
  // The elements of a contiguous range.
  template <std::ranges::contiguous_range R>
    requires(std::is_trivially_copyable_v<std::ranges::range_value_t<R>>)
  ConstBuffer(R&& r)  // NOLINT: implicit on purpose
      : data_(std::ranges::data(r)), size_(std::ranges::size(r) * sizeof(std::ranges::range_value_t<R>)) {}
  // The bytes of a MutableBuffer.
  ConstBuffer(MutableBuffer b) : data_(b.data()), size_(b.size()) {}  // NOLINT

  // Start of the bytes.
  const void* data() const { return data_; }
  // Number of bytes.
  std::size_t size() const { return size_; }

 private:
  const void* data_;
  std::size_t size_;
};

}  // namespace spindle::net
