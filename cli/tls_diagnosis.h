// TLS diagnosis: why an https:// connection to vmkeeperd failed, in words a user can act on.
//
// cpprestsdk reports every failed TLS handshake alike ("handshake: certificate verify failed",
// or a bare end of stream), whether the CA is unknown, the certificate names another host, the
// server wants a client certificate or speaks plain HTTP. As HttpClient does for refused
// connections, after such a failure we connect once more ourselves with OpenSSL, accept any
// certificate, and look at what the server sent:
//   - a chain that does not verify against the CA file (or the system's CAs): "certificate
//     verify failed: <OpenSSL's reason>; use --certificate-authority ...";
//   - a certificate whose names do not include the URL's host: "certificate is for X, not Y";
//   - a handshake refused for want of a client certificate;
//   - no TLS at all but an answer to a plain HTTP request: "the server speaks plain HTTP".
// Only used after a failure, so it costs nothing when things work. Thread-safe (no shared state).
#pragma once

#include <chrono>
#include <string>

namespace vmk::cli {

struct TlsTarget {
  std::string host;  // as in the URL, without IPv6 brackets
  int port = 443;
  std::string certificate_authority;  // PEM file; empty = the system's CAs
  std::string client_certificate;     // PEM files; empty = none
  std::string client_key;
  bool verify = true;  // false: insecureSkipTlsVerify, only handshake problems count
};

// What is wrong with a TLS connection to `target`; "" when this attempt found nothing wrong (or
// could not connect at all: the caller's own reason stands then). Each step waits at most
// `timeout`.
std::string DiagnoseTlsFailure(const TlsTarget& target, std::chrono::milliseconds timeout);

}  // namespace vmk::cli
