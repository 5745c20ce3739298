// Host names and addresses as the API's edge, the CLI and the daemon's listen check see them.
// One set of rules, so that "is this loopback?" has the same answer where a token may be sent in
// clear (the CLI) and where the API may be served without TLS (the daemon).
#pragma once

#include <string>

namespace vmk {

// An IPv4 or IPv6 address literal (without brackets): "10.0.0.1", "::1", "fe80::1".
bool IsIpLiteral(const std::string& host);

// Reachable from this machine only: "localhost" (any case), 127.0.0.0/8, ::1 and
// ::ffff:127.x.y.z. Not "0.0.0.0" or "::" (every address).
bool IsLoopbackHost(const std::string& host);

// An HTTP method that changes something: POST, PUT, PATCH, DELETE.
bool IsWriteMethod(const std::string& method);

}  // namespace vmk
