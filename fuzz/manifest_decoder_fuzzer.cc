// libFuzzer target: the manifest decoder (specs/decoder.h) on arbitrary bytes, as vmkeeperd
// decodes every file of an apply request. Beyond "no crash, no sanitizer report", it checks the
// decoder's documented round trip: an object that decoded renders (CanonicalYaml, with its status)
// to a document that decodes back, without errors, to the same name, labels, spec and status.
// The object set is then run through the cross-object validator.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

#include "specs/canonical.h"
#include "specs/decoder.h"
#include "specs/limits.h"
#include "specs/validator.h"

namespace {

[[noreturn]] void Fail(const std::string& what, const std::string& text) {
  std::cerr << "manifest_decoder_fuzzer: " << what << "\n--- canonical text ---\n"
            << text << "\n";
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vmk::specs;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  DecodeResult result = DecodeManifests(text, "fuzz.yaml");
  for (const Object& object : result.objects) {
    const std::string canonical = CanonicalYaml(object, /*include_status=*/true);
    // Aliases may expand a small document past the document limit: not a round-trip failure.
    if (canonical.size() > kMaxDocumentBytes) continue;
    DecodeResult again = DecodeManifests(canonical, "canonical.yaml");
    if (!again.ok()) Fail("canonical form does not decode: " + again.errors[0].ToString(), canonical);
    if (again.objects.size() != 1) Fail("canonical form is not one object", canonical);
    const Object& back = again.objects[0];
    if (back.kind != object.kind || back.metadata.name != object.metadata.name) {
      Fail("kind or name changed", canonical);
    }
    if (!LabelsEqual(back, object)) Fail("labels changed", canonical);
    if (back.metadata.generation != object.metadata.generation) Fail("generation changed", canonical);
    if (!SpecEquals(back.spec, object.spec)) Fail("spec changed", canonical);
    // Status is free-form and kept as written, bytes that are not UTF-8 included (apply ignores
    // it); NaN and infinities render as null. Compared as JSON text when it has one.
    std::string status_text;
    try {
      status_text = object.status.dump();
    } catch (const Json::exception&) {
      continue;
    }
    if (back.status.dump() != status_text) Fail("status changed", canonical);
  }
  (void)ValidateObjectSet(result.objects, [](Kind, const std::string&) { return false; });
  return 0;
}
