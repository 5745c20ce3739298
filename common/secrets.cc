#include "common/secrets.h"

#include <algorithm>
#include <cctype>

namespace vmk {
namespace {

constexpr std::string_view kFileSuffix = "File";

}  // namespace

bool IsSecretFileKey(std::string_view key) {
  return key.size() > kFileSuffix.size() &&
         key.substr(key.size() - kFileSuffix.size()) == kFileSuffix;
}

bool IsSecretOptionKey(std::string_view key) {
  if (IsSecretFileKey(key)) return false;
  std::string lower(key);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* word : kSecretKeyWords) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string SecretFileTarget(std::string_view file_key) {
  if (!IsSecretFileKey(file_key)) return std::string(file_key);
  return std::string(file_key.substr(0, file_key.size() - kFileSuffix.size()));
}

std::string RedactSecrets(std::string text, std::vector<std::string> secrets) {
  std::sort(secrets.begin(), secrets.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  constexpr size_t kMarkerSize = sizeof(kRedacted) - 1;
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + kMarkerSize)) {
      text.replace(pos, secret.size(), kRedacted);
    }
  }
  return text;
}

}  // namespace vmk
