#include "cli/client_tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vmk::cli {

namespace {

// A readable file, or the reason it is not.
Status CheckReadable(const std::string& path, const std::string& what) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return Status::InvalidArgument(what + " " + path + ": " + std::strerror(errno));
  }
  std::fclose(f);
  return Status::Ok();
}

}  // namespace

Status ConfigureClientTls(SSL_CTX* ctx, const ClientTlsFiles& options) {
  // As the server (http_server.cc): nothing older than TLS 1.2, whatever the system allows.
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Status::Internal("OpenSSL could not require TLS 1.2");
  }
  if (!options.certificate_authority.empty()) {
    VMK_RETURN_IF_ERROR(CheckReadable(options.certificate_authority, "certificate authority"));
    X509_STORE* store = X509_STORE_new();
    if (store == nullptr ||
        X509_STORE_load_file(store, options.certificate_authority.c_str()) != 1) {
      X509_STORE_free(store);
      ERR_clear_error();
      return Status::InvalidArgument("certificate authority " + options.certificate_authority +
                                     ": holds no PEM certificate");
    }
    SSL_CTX_set_cert_store(ctx, store);  // takes it; replaces the system's CAs
  }
  if (!options.client_certificate.empty() || !options.client_key.empty()) {
    if (options.client_certificate.empty() || options.client_key.empty()) {
      return Status::InvalidArgument(
          "a client certificate needs its key, and a key its certificate");
    }
    VMK_RETURN_IF_ERROR(CheckReadable(options.client_certificate, "client certificate"));
    VMK_RETURN_IF_ERROR(CheckReadable(options.client_key, "client key"));
    if (SSL_CTX_use_certificate_chain_file(ctx, options.client_certificate.c_str()) != 1) {
      ERR_clear_error();
      return Status::InvalidArgument("client certificate " + options.client_certificate +
                                     ": holds no PEM certificate");
    }
    FILE* key_file = std::fopen(options.client_key.c_str(), "rb");
    // No password callback: an encrypted key must fail here, not prompt on the terminal.
    EVP_PKEY* key = key_file == nullptr
                        ? nullptr
                        : PEM_read_PrivateKey(
                              key_file, nullptr, [](char*, int, int, void*) { return 0; },
                              nullptr);
    if (key_file != nullptr) std::fclose(key_file);
    if (key == nullptr) {
      ERR_clear_error();
      return Status::InvalidArgument("client key " + options.client_key +
                                     ": holds no unencrypted PEM private key");
    }
    const bool matches =
        SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
    EVP_PKEY_free(key);
    if (!matches) {
      ERR_clear_error();
      return Status::InvalidArgument("client key " + options.client_key +
                                     " does not belong to client certificate " +
                                     options.client_certificate);
    }
  }
  return Status::Ok();
}

}  // namespace vmk::cli
