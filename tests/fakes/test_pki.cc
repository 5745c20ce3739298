#include "tests/fakes/test_pki.h"

#include <cstdio>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace vmk::fakes {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("TestPki: ") + what + " failed");
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr, value);
  Check(X509_add_ext(cert, ext, -1) == 1, "X509_add_ext");
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `common_name`, valid from an hour ago for a day, not signed yet.
X509* NewCertificate(EVP_PKEY* key, const std::string& common_name, long serial) {
  X509* cert = X509_new();
  Check(cert != nullptr, "X509_new");
  X509_set_version(cert, 2);  // v3
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  return cert;
}

void WriteCertificate(X509* cert, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  Check(f != nullptr, "fopen");
  Check(PEM_write_X509(f, cert) == 1, "PEM_write_X509");
  std::fclose(f);
}

void WriteKey(EVP_PKEY* key, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  Check(f != nullptr, "fopen");
  Check(PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_PrivateKey");
  std::fclose(f);
}

}  // namespace

TestPki::TestPki(std::string dir, std::string name) : dir_(std::move(dir)) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  Check(key != nullptr, "EVP_EC_gen");
  X509* cert = NewCertificate(key, name + " test CA", serial_++);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  AddExtension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddExtension(cert, cert, NID_subject_key_identifier, "hash");
  Check(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign");
  ca_key_ = key;
  ca_cert_ = cert;
  ca_file_ = dir_ + "/" + name + "-ca.pem";
  WriteCertificate(cert, ca_file_);
}

TestPki::~TestPki() {
  X509_free(static_cast<X509*>(ca_cert_));
  EVP_PKEY_free(static_cast<EVP_PKEY*>(ca_key_));
}

IssuedCertificate TestPki::Issue(const std::string& common_name,
                                 const std::vector<std::string>& alt_names, bool self_signed) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  Check(key != nullptr, "EVP_EC_gen");
  X509* cert = NewCertificate(key, common_name, serial_++);
  X509* issuer = self_signed ? cert : static_cast<X509*>(ca_cert_);
  EVP_PKEY* issuer_key = self_signed ? key : static_cast<EVP_PKEY*>(ca_key_);
  X509_set_issuer_name(cert, X509_get_subject_name(issuer));
  AddExtension(cert, issuer, NID_basic_constraints, "critical,CA:FALSE");
  AddExtension(cert, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment");
  AddExtension(cert, issuer, NID_ext_key_usage, "serverAuth,clientAuth");
  if (!alt_names.empty()) {
    std::string names;
    for (const auto& n : alt_names) names += (names.empty() ? "" : ",") + n;
    AddExtension(cert, issuer, NID_subject_alt_name, names.c_str());
  }
  Check(X509_sign(cert, issuer_key, EVP_sha256()) > 0, "X509_sign");
  IssuedCertificate out;
  out.certificate_file = dir_ + "/" + common_name + ".pem";
  out.key_file = dir_ + "/" + common_name + "-key.pem";
  WriteCertificate(cert, out.certificate_file);
  WriteKey(key, out.key_file);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace vmk::fakes
