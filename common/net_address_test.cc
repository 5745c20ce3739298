#include "common/net_address.h"

#include <gtest/gtest.h>

namespace vmk {
namespace {

TEST(NetAddressTest, IpLiterals) {
  for (const char* ip : {"10.0.0.1", "127.0.0.1", "::1", "fe80::1", "::ffff:10.0.0.1"}) {
    EXPECT_TRUE(IsIpLiteral(ip)) << ip;
  }
  for (const char* name : {"", "localhost", "a.example", "[::1]", "1.2.3", "1.2.3.4.", "10.0.0.256"}) {
    EXPECT_FALSE(IsIpLiteral(name)) << name;
  }
}

TEST(NetAddressTest, Loopback) {
  for (const char* host : {"localhost", "LocalHost", "127.0.0.1", "127.8.9.10", "::1",
                           "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"}) {
    EXPECT_TRUE(IsLoopbackHost(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "::ffff:10.0.0.1",
                           "vmkeeper.example", "localhost.example", "[::1]", ""}) {
    EXPECT_FALSE(IsLoopbackHost(host)) << host;
  }
}

TEST(NetAddressTest, WriteMethods) {
  for (const char* m : {"POST", "PUT", "PATCH", "DELETE"}) EXPECT_TRUE(IsWriteMethod(m)) << m;
  for (const char* m : {"GET", "HEAD", "OPTIONS", "TRACE", "post", ""}) {
    EXPECT_FALSE(IsWriteMethod(m)) << m;
  }
}

}  // namespace
}  // namespace vmk
