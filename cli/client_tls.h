// The CLI's TLS files loaded into an OpenSSL client context: one loader for HttpClient (at
// Create, and for every connection cpprestsdk opens) and for the TLS diagnosis after a failure,
// so that both trust, present and refuse the same things (an encrypted key, say, fails in both
// instead of making OpenSSL prompt for a passphrase on the terminal).
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "common/status.h"

namespace vmk::cli {

struct ClientTlsFiles {
  std::string certificate_authority;  // PEM; empty = leave the context's trusted CAs as they are
  std::string client_certificate;     // PEM chain; empty = none
  std::string client_key;             // unencrypted PEM key of client_certificate
};

// Requires TLS 1.2 or newer; makes the CA file the only trusted one; sets the client certificate
// and key, checking that they belong together. InvalidArgument naming the file that is wrong.
Status ConfigureClientTls(SSL_CTX* ctx, const ClientTlsFiles& files);

}  // namespace vmk::cli
