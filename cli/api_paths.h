// The REST API's resource names: the plural path segment of each kind (/api/v1/virtualmachines)
// and the lowercase kind used in user-facing messages ("virtualmachine/wms01 created").
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "specs/types.h"

namespace vmk::cli {

inline constexpr char kApiPrefix[] = "/api/v1";

// "hosts", "virtualmachines", "snapshotpolicies".
std::string_view KindPlural(specs::Kind kind);
std::optional<specs::Kind> KindFromPlural(std::string_view plural);
// "host", "virtualmachine", "snapshotpolicy".
std::string KindLower(specs::Kind kind);
// "/api/v1/virtualmachines" or, with a name, "/api/v1/virtualmachines/wms01" (name escaped).
std::string ResourcePath(specs::Kind kind, const std::string& name = "");
// Percent-encodes everything but unreserved characters (RFC 3986).
std::string PercentEncode(std::string_view text);

}  // namespace vmk::cli
