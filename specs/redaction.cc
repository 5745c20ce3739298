#include "specs/redaction.h"

#include <utility>

#include "common/secrets.h"

namespace vmk::specs {
namespace {

// The fencing options of a Host spec, when it has any (a pointer into `spec`).
template <typename J>
J* FencingArgs(J& spec) {
  if (!spec.is_object()) return nullptr;
  auto fencing = spec.find("fencing");
  if (fencing == spec.end() || !fencing->is_object()) return nullptr;
  auto args = fencing->find("args");
  if (args == fencing->end() || !args->is_object()) return nullptr;
  return &*args;
}

void MaskArgs(Json* args) {
  for (auto it = args->begin(); it != args->end(); ++it) {
    if (IsSecretOptionKey(it.key())) *it = kRedacted;
  }
}

bool IsHostManifest(const Json& json) {
  auto kind = json.find("kind");
  return kind != json.end() && kind->is_string() &&
         kind->get_ref<const std::string&>() == KindName(Kind::kHost);
}

}  // namespace

Json RedactSpec(Kind kind, const Json& spec) {
  Json copy = spec;
  if (kind != Kind::kHost) return copy;
  if (Json* args = FencingArgs(copy)) MaskArgs(args);
  return copy;
}

Object RedactObject(const Object& object) {
  Object copy = object;
  copy.spec = RedactSpec(object.kind, object.spec);
  return copy;
}

Json RedactManifestJson(const Json& manifest) {
  if (manifest.is_array()) {
    Json out = Json::array();
    for (const Json& item : manifest) out.push_back(RedactManifestJson(item));
    return out;
  }
  if (!manifest.is_object()) return manifest;
  Json copy = manifest;
  if (auto items = copy.find("items"); items != copy.end() && items->is_array()) {
    *items = RedactManifestJson(*items);
  }
  if (IsHostManifest(copy)) {
    if (auto spec = copy.find("spec"); spec != copy.end()) *spec = RedactSpec(Kind::kHost, *spec);
  }
  return copy;
}

void RedactForDiff(Object* from, Object* to) {
  std::vector<std::string> changed;  // secret keys on both sides, with different values
  if (from && to && from->kind == Kind::kHost && to->kind == Kind::kHost) {
    const Json* before = FencingArgs(std::as_const(from->spec));
    const Json* after = FencingArgs(std::as_const(to->spec));
    if (before && after) {
      for (auto it = after->begin(); it != after->end(); ++it) {
        auto old = before->find(it.key());
        if (IsSecretOptionKey(it.key()) && old != before->end() && *old != *it) {
          changed.push_back(it.key());
        }
      }
    }
  }
  if (from) *from = RedactObject(*from);
  if (!to) return;
  *to = RedactObject(*to);
  if (Json* args = FencingArgs(to->spec)) {
    for (const std::string& key : changed) (*args)[key] = kRedactedChanged;
  }
}

std::vector<std::string> InlineSecretValues(const Object& object) {
  std::vector<std::string> values;
  if (object.kind != Kind::kHost) return values;
  const Json* args = FencingArgs(object.spec);
  if (!args) return values;
  for (auto it = args->begin(); it != args->end(); ++it) {
    if (IsSecretOptionKey(it.key()) && it->is_string()) values.push_back(it->get<std::string>());
  }
  return values;
}

std::vector<std::string> InlineSecretValues(const FencingSpec& fencing) {
  std::vector<std::string> values;
  for (const auto& [key, value] : fencing.args) {
    if (IsSecretOptionKey(key)) values.push_back(value);
  }
  return values;
}

}  // namespace vmk::specs
