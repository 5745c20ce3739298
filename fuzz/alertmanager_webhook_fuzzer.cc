// libFuzzer target: the Alertmanager webhook parser (providers/alerts/alert_signal.h) on
// arbitrary bytes, as vmkeeperd's /api/v1/alerts hands it a request body. Checks the parser's
// promises besides "no crash": never more signals than kMaxAlertsPerWebhook, every signal names
// its target, and a resolved signal carries its end time.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "providers/alerts/alert_signal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmk::providers;
  const std::string body(reinterpret_cast<const char*>(data), size);
  static const AlertLabelNames kDefault;
  static const AlertLabelNames kNoInstance = [] {
    AlertLabelNames names;
    names.host_from_instance = false;
    return names;
  }();
  for (const AlertLabelNames* names : {&kDefault, &kNoInstance}) {
    auto parsed = ParseAlertmanagerWebhook(body, *names);
    if (!parsed.ok()) continue;
    if (parsed->signals.size() > kMaxAlertsPerWebhook) std::abort();
    for (const AlertSignal& signal : parsed->signals) {
      if (signal.name.empty()) std::abort();
      if (!signal.firing && !signal.ends_at) std::abort();
    }
  }
  return 0;
}
