// Limits of the manifest decoder: how much input one manifest stream, one document and one apply
// may be. They live in the decoder (decoder.cc) so the CLI (which decodes files before sending
// them) and vmkeeperd (which decodes what it is sent) refuse the same input with the same
// errors. Each is far above what a real fleet needs (docs/manifests.md has the figures) and far
// below what exhausts the daemon's memory. Constants only; thread-safe.
#pragma once

#include <cstddef>

namespace vmk::specs {

// Bytes of one manifest stream (one file, or one file of an apply request). Refused before it is
// parsed. A 1,000-VM fleet in one file is about 400 KiB; the REST API's default body cap is the
// same 8 MiB.
inline constexpr size_t kMaxManifestBytes = 8 * 1024 * 1024;
// Bytes of one document of a stream ("---"-separated), measured from where it starts to where the
// next one starts. A VirtualMachine is about 1 KiB, one with its status a few KiB.
inline constexpr size_t kMaxDocumentBytes = 1024 * 1024;
// Documents in one stream, and objects in one apply (all its streams together, see
// DecodeResult::Append). The scale benchmark applies 11,000 objects (1,000 hosts, 10,000 VMs) in
// one call; 80,000 tiny VMs in one 7 MB request took 774 MB of memory.
inline constexpr size_t kMaxObjectsPerApply = 20000;
// Values one document may expand to (every mapping, list and scalar the decoder visits, YAML
// aliases counted each time they are used): a few hundred bytes of nested aliases name billions
// of nodes (Kubernetes caps them likewise since CVE-2019-11253). A VM with a hundred snapshots
// in its status is a few thousand.
inline constexpr size_t kMaxNodesPerDocument = 100000;
// Nesting of the free-form parts (status); the schema bounds the nesting of the rest, and the
// YAML parser itself refuses more than 2,000 levels (yaml-cpp's DepthGuard).
inline constexpr int kMaxNestingDepth = 64;

}  // namespace vmk::specs
