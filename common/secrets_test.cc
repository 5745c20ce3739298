#include "common/secrets.h"

#include <gtest/gtest.h>

namespace vmk {
namespace {

TEST(SecretsTest, SecretKeysByTheDocumentedRuleWhateverTheirCase) {
  for (const char* key : {"password", "passwd", "PASSWORD", "passphrase", "api_token", "Token",
                          "secret", "client_secret", "apiKey", "ssh_private", "private_key",
                          "credentials", "community", "snmp_community", "psk", "password_script"}) {
    EXPECT_TRUE(IsSecretOptionKey(key)) << key;
  }
  for (const char* key : {"ip", "login", "username", "plug", "port", "ipport", "lanplus", "action",
                          "state_dir", "identity_file", "method"}) {
    EXPECT_FALSE(IsSecretOptionKey(key)) << key;
  }
}

TEST(SecretsTest, FileReferencesEndInFileAndAreNotThemselvesSecret) {
  EXPECT_TRUE(IsSecretFileKey("passwordFile"));
  EXPECT_TRUE(IsSecretFileKey("api_tokenFile"));
  EXPECT_FALSE(IsSecretFileKey("File"));          // nothing before the suffix
  EXPECT_FALSE(IsSecretFileKey("identity_file"));  // the agent's own option, a path it reads
  EXPECT_FALSE(IsSecretFileKey("passwordfile"));
  EXPECT_FALSE(IsSecretOptionKey("passwordFile"));  // its value is a path
  EXPECT_EQ(SecretFileTarget("passwordFile"), "password");
  EXPECT_EQ(SecretFileTarget("api_tokenFile"), "api_token");
  EXPECT_EQ(SecretFileTarget("ip"), "ip");
}

TEST(SecretsTest, RedactSecretsReplacesEveryOccurrenceLongestFirst) {
  EXPECT_EQ(RedactSecrets("a s3cret b s3cret", {"s3cret"}), "a *** b ***");
  // "pw" inside "pw-long" must not leave "-long" behind.
  EXPECT_EQ(RedactSecrets("x=pw-long y=pw", {"pw", "pw-long"}), "x=*** y=***");
  EXPECT_EQ(RedactSecrets("nothing here", {"", "absent"}), "nothing here");
}

}  // namespace
}  // namespace vmk
