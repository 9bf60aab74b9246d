#include "spindle/io/endpoint.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace net = spindle::net;

TEST(Endpoint, ParsesV4AndV6) {
  auto a = net::Endpoint::parse("127.0.0.1:8080");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v4());
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->address(), "127.0.0.1");
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  auto b = net::Endpoint::parse("[::1]:80");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->is_v6());
  EXPECT_EQ(b->port(), 80);
  EXPECT_EQ(b->to_string(), "[::1]:80");
  EXPECT_EQ(*b, net::Endpoint::loopback_v6(80));
  EXPECT_EQ(*a, net::Endpoint::loopback_v4(8080));
  EXPECT_EQ(net::Endpoint::parse(a->to_string()), a);
}

TEST(Endpoint, RejectsMalformed) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "1.2.3:4", "::1:80", "[::1]80",
                          "[::1]:x", "localhost:80", "1.2.3.4:-1", "[1.2.3.4]:5"}) {
    EXPECT_FALSE(net::Endpoint::parse(bad)) << bad;
  }
  EXPECT_THROW(net::Endpoint::from_string("nope"), std::invalid_argument);
}

#include "spindle/io/buffer.h"

#include <string>
#include <vector>

TEST(Buffer, SizesOfWhatUsersPass) {
  EXPECT_EQ(net::ConstBuffer("hello").size(), 5u);  // a literal: without its NUL
  std::string s = "abc";
  EXPECT_EQ(net::ConstBuffer(s).size(), 3u);
  EXPECT_EQ(net::ConstBuffer(std::string_view("abcd")).size(), 4u);
  char raw[8] = {};
  EXPECT_EQ(net::MutableBuffer(raw).size(), 8u);
  EXPECT_EQ(net::ConstBuffer(raw).size(), 8u);  // a writable array: whole
  std::vector<std::uint32_t> v(3);
  EXPECT_EQ(net::ConstBuffer(v).size(), 12u);
  EXPECT_EQ(net::MutableBuffer(v).size(), 12u);
}
