// Secrets of fence-agent options: which option keys hold one, and how a text is cleaned of
// secret values before anyone sees it. The rule lives here, below everything, so that the
// fencer (which resolves and redacts), the specs (which mask what is printed and served) and any
// other edge (logs, notifications, the audit log) agree on it. docs/secrets.md describes it.
//
// The rule, for an option key K:
//   - K ends in "File" (exactly that spelling, passwordFile, api_tokenFile) and is longer than
//     it: a secret file reference. The value is a path, shown as it is; the file's content is
//     the secret, passed to the agent as the key without the suffix.
//   - otherwise K is secret when, compared case-insensitively, it contains one of
//     kSecretKeyWords (pass, secret, token, key, private, credential, community, psk): password,
//     passwd, passphrase, api_token, apiKey, ssh_private, snmp_community ... Better one option
//     too many masked than one secret shown.
// The value of a secret key is shown nowhere: kRedacted stands in for it.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vmk {

// What is shown in place of a secret value (the fencer's excerpts used it first).
inline constexpr char kRedacted[] = "***";

// The substrings that make an option key secret (lowercase).
inline constexpr const char* kSecretKeyWords[] = {"pass",       "secret",    "token", "key",
                                                  "private",    "credential", "community", "psk"};

// passwordFile -> true; "File" alone, identity_file -> false.
bool IsSecretFileKey(std::string_view key);
// password, API_TOKEN, snmp_community -> true; ip, login, plug, passwordFile -> false (a file
// reference is not itself a secret: its value is a path).
bool IsSecretOptionKey(std::string_view key);
// "passwordFile" -> "password": the option the agent gets from a file reference.
std::string SecretFileTarget(std::string_view file_key);

// `text` with every occurrence of each of `secrets` replaced by kRedacted; longer secrets first,
// so that a secret containing another is not left half visible. Empty secrets are ignored.
std::string RedactSecrets(std::string text, std::vector<std::string> secrets);

}  // namespace vmk
