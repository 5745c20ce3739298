// JsonSchema: the published JSON Schema (draft 2020-12) of vmkeeper/v1 manifests, generated from
// the same schema table the decoder uses (schema.h), so editors validate exactly what vmkeeper
// accepts (give or take what JSON Schema cannot say: label key prefix lengths, unique disk names,
// references between objects). `vmkeeper schema` prints it. Pure; thread-safe.
#pragma once

#include "specs/types.h"

namespace vmk::specs {

// One document: `oneOf` the kinds, keyed on the `kind` const; `$defs` holds one definition per
// kind (named after it) and ObjectMeta. Fields carry type, description, default, minimum/maximum,
// pattern, min/maxLength, required and additionalProperties: false.
Json JsonSchema();

}  // namespace vmk::specs
