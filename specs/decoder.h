// Decoder: strict YAML (and JSON, which is YAML) manifests to Objects with canonical specs.
//
// Driven by the schema table (schema.h). Every document is checked completely and every problem
// is reported, never just the first: wrong types, unknown fields, duplicate keys, missing required
// fields, bad names and labels, values out of range, a wrong apiVersion or kind, YAML syntax
// errors. Each error is a Diagnostic "file:line:col: field.path: message". Specs come out in
// canonical form: every default filled in (this is the one place defaults are applied), keys
// sorted. Checks that span objects (duplicates, references) are in validator.h.
//
// yaml-cpp stays inside this module: its exceptions are caught here and its types never leave.
// Stateless; safe to call from any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "specs/diagnostic.h"
#include "specs/types.h"

namespace vmk::specs {

struct DecodeResult {
  // Objects of the documents that decoded without error, in input order. Each carries `source`
  // (its document's location) and `field_locations` (every field path the user wrote, e.g.
  // "metadata.name", "spec.placement.requiredHosts[0]"). `status`, if the document has one as a
  // mapping, is kept as JSON but is controller-owned: apply must ignore it. metadata.generation is
  // read when present (canonical output carries it) and must be ignored by apply as well.
  std::vector<Object> objects;
  // All problems of all documents, per file in line order.
  std::vector<Diagnostic> errors;

  bool ok() const { return errors.empty(); }
  // Appends the objects and errors of `other` (e.g. of the next file). At most
  // kMaxObjectsPerApply (limits.h) objects are kept: the first one past it is an error at its
  // location, the rest are dropped.
  void Append(DecodeResult other);

 private:
  bool too_many_objects_ = false;  // said once
};

// Decodes every document of `text` ("---"-separated; empty documents are skipped). `file_name`
// is used in locations only. The limits of limits.h apply: a stream over kMaxManifestBytes is one
// error at file:1:1, unparsed; a document over kMaxDocumentBytes or past kMaxObjectsPerApply
// documents is an error at its start; a document expanding to more than kMaxNodesPerDocument
// values is an error at the value that passed it.
DecodeResult DecodeManifests(std::string_view text, const std::string& file_name);

// Decodes a file, or every manifest file under a directory (see manifest_files.h) in sorted
// order. A missing path or a directory without manifests is an error.
DecodeResult LoadManifests(const std::string& path);

// Field path of `key` under `parent`: "spec.cpus", or `metadata.labels["example.com/rack"]` when
// the key is not a plain identifier.
std::string JoinFieldPath(const std::string& parent, const std::string& key);
// "spec.disks[2]".
std::string IndexFieldPath(const std::string& parent, size_t index);

}  // namespace vmk::specs
