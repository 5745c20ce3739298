// TestPki: a certificate authority for tests, made with OpenSSL's API (no openssl binary needed):
// its certificate and the certificates it issues are written as PEM files into a directory the
// test owns. EC P-256 keys, SHA-256 signatures, valid from an hour ago for a day, so a test
// never meets an expired or not-yet-valid certificate.
//
// Thread-compatible: one test uses one TestPki.
#pragma once

#include <string>
#include <vector>

namespace vmk::fakes {

struct IssuedCertificate {
  std::string certificate_file;  // PEM
  std::string key_file;          // PEM, unencrypted
};

class TestPki {
 public:
  // Makes the CA "<name> test CA" and writes dir/<name>-ca.pem (dir must exist).
  TestPki(std::string dir, std::string name);
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& ca_file() const { return ca_file_; }

  // A certificate for server and client use, with subject CN `common_name` and the subject
  // alternative names `alt_names` (OpenSSL syntax: "DNS:localhost", "IP:127.0.0.1"), signed by
  // this CA, or by itself when `self_signed`. Written as dir/<common_name>.pem and -key.pem.
  IssuedCertificate Issue(const std::string& common_name,
                          const std::vector<std::string>& alt_names, bool self_signed = false);

 private:
  std::string dir_;
  std::string ca_file_;
  void* ca_key_ = nullptr;   // EVP_PKEY*
  void* ca_cert_ = nullptr;  // X509*
  long serial_ = 1;
};

}  // namespace vmk::fakes
