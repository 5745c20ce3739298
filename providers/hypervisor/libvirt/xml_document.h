// XmlDocument: a read-only XML document parsed by libxml2, and XmlElement, a view of one of its
// elements. domain_xml.cc reads domain definitions and owner marks with it.
//
// The input is untrusted (any domain defined on a host, or a file someone wrote), so the parser
// sees nothing but the document: no network (XML_PARSE_NONET), no external DTD or entity is
// loaded, and no entity is expanded (no XML_PARSE_NOENT). The five predefined entities and
// character references are decoded; a document that refers to any other entity is refused, as
// the document alone cannot say what it stands for. libxml2's own limits (nesting depth, sizes,
// entity amplification) stay on. Errors come back as InvalidArgument naming the line; libxml2
// prints nothing (its default is stderr).
//
// Namespaces are libxml2's: an element's namespace_uri() is what its prefix (or the default
// namespace) resolves to, so a name is matched by URI whatever prefix a document chose.
//
// No libxml2 type appears here, so including this header does not need libxml2's.
//
// Thread-safety: Parse may run on several threads at once. A parsed document is immutable: it
// and its elements may be read from several threads. An XmlElement is valid while its document
// lives.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

// libxml2's node and document structs (xmlNode, xmlDoc), declared here so that the header does
// not pull in libxml2's.
struct _xmlNode;
struct _xmlDoc;

namespace vmk::providers {

class XmlElement {
 public:
  // The local name: "owner" for <vmk:owner>.
  std::string_view name() const;
  // The URI the element's namespace prefix or the default namespace resolves to; empty for none.
  std::string_view namespace_uri() const;
  // Whether the element is called `local_name` in the namespace `namespace_uri` (none if empty).
  bool Is(std::string_view local_name, std::string_view namespace_uri = {}) const;
  // The value of the attribute `name` that has no namespace prefix, entities decoded.
  std::optional<std::string> Attribute(std::string_view name) const;
  // The character data directly inside the element (text and CDATA, not that of child elements),
  // entities decoded, whitespace as written.
  std::string Text() const;
  // The child elements, in document order.
  std::vector<XmlElement> Children() const;
  // The first child element called `local_name` in no namespace.
  std::optional<XmlElement> Child(std::string_view local_name) const;
  // Where the element starts in the document (1-based).
  int line() const;

 private:
  friend class XmlDocument;
  explicit XmlElement(const _xmlNode* node) : node_(node) {}

  const _xmlNode* node_;  // never null
};

class XmlDocument {
 public:
  // InvalidArgument for an empty or malformed document or one that refers to an entity other
  // than the predefined ones; the message names the line.
  static StatusOr<XmlDocument> Parse(std::string_view text);

  XmlDocument(XmlDocument&&) noexcept = default;
  XmlDocument& operator=(XmlDocument&&) noexcept = default;

  XmlElement root() const;

 private:
  struct FreeDoc {
    void operator()(_xmlDoc* doc) const;
  };
  explicit XmlDocument(_xmlDoc* doc) : doc_(doc) {}

  std::unique_ptr<_xmlDoc, FreeDoc> doc_;  // never null; has a root element
};

}  // namespace vmk::providers
