// Redaction of objects: the secret fencing options of a Host (common/secrets.h has the rule)
// masked for every output edge, while the store keeps the real values (vmkeeperd needs them to
// fence). Used by the REST API's GETs (through the control plane), the CLI's renderings (get -o
// yaml/json, describe), diff, and any log or audit record that would show an object.
//
// Only the values of secret keys are masked (spec.fencing.args.password: "***"); a file
// reference (passwordFile: /etc/vmkeeper/ipmi.pw) is a path and stays visible. Masking is
// idempotent: a masked object masks to itself.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "specs/types.h"

namespace vmk::specs {

// What diff shows in place of a secret whose value the change replaces: a change is seen,
// neither value is.
inline constexpr char kRedactedChanged[] = "*** (secret changed)";

// A copy of `spec` of an object of `kind` with every secret value masked (kRedacted).
Json RedactSpec(Kind kind, const Json& spec);
// A copy of `object` with its spec redacted.
Object RedactObject(const Object& object);
// Manifest JSON as ObjectToJson makes it or the REST API serves it: one object
// ({"kind":"Host",...,"spec":...}), a list of them ({"items":[...]}) or an array; anything else
// is returned unchanged. For renderings that get JSON, not Objects (cli/output_format).
Json RedactManifestJson(const Json& manifest);

// For diff: both sides redacted, and where `from` (live) and `to` (applied) both have a secret
// option with different values, `to`'s reads kRedactedChanged so that the diff shows the change
// without either value. Either may be null (created or pruned objects).
void RedactForDiff(Object* from, Object* to);

// The inline secret values of `object` (the values of its secret fencing options), for
// redacting free text that might quote them (RedactSecrets in common/secrets.h). File contents
// are not known here: the fencer redacts those itself.
std::vector<std::string> InlineSecretValues(const Object& object);
std::vector<std::string> InlineSecretValues(const FencingSpec& fencing);

}  // namespace vmk::specs
