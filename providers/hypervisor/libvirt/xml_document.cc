#include "providers/hypervisor/libvirt/xml_document.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <climits>
#include <mutex>

namespace vmk::providers {
namespace {

// No XML_PARSE_NOENT (entities stay references, refused below), XML_PARSE_DTDLOAD,
// XML_PARSE_DTDATTR, XML_PARSE_DTDVALID, XML_PARSE_XINCLUDE or XML_PARSE_HUGE: nothing outside
// the document is read and libxml2's limits hold. NOERROR and NOWARNING keep libxml2's default
// handlers quiet; ErrorCapture takes what is reported anyway. COMPACT keeps short text inside its
// node instead of allocating it (the tree is read, never modified).
constexpr int kParseOptions =
    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_COMPACT;

// libxml2 2.9 must be initialised once before threads use it concurrently. (libvirt initialises
// it too; calling xmlInitParser again is harmless.)
void InitLibxml() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

std::string_view View(const xmlChar* text) {
  return text == nullptr ? std::string_view() : reinterpret_cast<const char*>(text);
}

// Takes libxml2's error reports on this thread while it lives, and keeps the first error. libxml2
// 2.9 keeps its error handlers per thread, so this neither sees nor silences libvirt's parsing on
// other threads. The structured handler receives the parser's errors and also those raised
// without a parser context (character encoding conversion); the generic one anything else.
class ErrorCapture {
 public:
  ErrorCapture()
      : previous_structured_(xmlStructuredError),
        previous_structured_context_(xmlStructuredErrorContext),
        previous_generic_(xmlGenericError),
        previous_generic_context_(xmlGenericErrorContext) {
    xmlSetStructuredErrorFunc(this, &ErrorCapture::OnError);
    xmlSetGenericErrorFunc(this, &ErrorCapture::IgnoreGeneric);
  }
  ~ErrorCapture() {
    xmlSetStructuredErrorFunc(previous_structured_context_, previous_structured_);
    xmlSetGenericErrorFunc(previous_generic_context_, previous_generic_);
  }
  ErrorCapture(const ErrorCapture&) = delete;
  ErrorCapture& operator=(const ErrorCapture&) = delete;

  // "malformed XML at line 3: <what libxml2 said>", from the first fatal error if there was one
  // (it is why the document was refused), else the first error; empty when none was reported.
  std::string Message() const {
    const std::string& what = first_fatal_.empty() ? first_error_ : first_fatal_;
    return what.empty() ? what : "malformed XML" + what;
  }

 private:
  static void OnError(void* self_ptr, xmlErrorPtr error) {
    auto* self = static_cast<ErrorCapture*>(self_ptr);
    if (error == nullptr || error->level < XML_ERR_ERROR) return;
    std::string& slot = error->level == XML_ERR_FATAL ? self->first_fatal_ : self->first_error_;
    if (!slot.empty()) return;
    // On one line: some messages end in a newline, some carry a second line.
    std::string message = error->message != nullptr ? error->message : "unknown error";
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    std::replace(message.begin(), message.end(), '\n', ' ');
    slot = (error->line > 0 ? " at line " + std::to_string(error->line) : std::string()) + ": " +
           message;
  }
  static void IgnoreGeneric(void*, const char*, ...) {}

  std::string first_fatal_;
  std::string first_error_;
  const xmlStructuredErrorFunc previous_structured_;
  void* const previous_structured_context_;
  const xmlGenericErrorFunc previous_generic_;
  void* const previous_generic_context_;
};

// The first reference to an entity in the tree under `root` (element content or attribute
// values). Without XML_PARSE_NOENT libxml2 decodes the predefined entities and character
// references and leaves any other reference as a node of its own.
const xmlNode* FindEntityReference(const xmlNode* root) {
  std::vector<const xmlNode*> todo = {root};
  while (!todo.empty()) {
    const xmlNode* node = todo.back();
    todo.pop_back();
    if (node->type == XML_ENTITY_REF_NODE) return node;  // its children are the declaration
    if (node->type != XML_ELEMENT_NODE) continue;
    for (const xmlAttr* attr = node->properties; attr != nullptr; attr = attr->next) {
      for (const xmlNode* part = attr->children; part != nullptr; part = part->next) {
        if (part->type == XML_ENTITY_REF_NODE) return part;
      }
    }
    for (const xmlNode* child = node->last; child != nullptr; child = child->prev) {
      todo.push_back(child);  // last first, so the first child is looked at first
    }
  }
  return nullptr;
}

}  // namespace

std::string_view XmlElement::name() const { return View(node_->name); }

std::string_view XmlElement::namespace_uri() const {
  return node_->ns == nullptr ? std::string_view() : View(node_->ns->href);
}

bool XmlElement::Is(std::string_view local_name, std::string_view uri) const {
  return name() == local_name && namespace_uri() == uri;
}

std::optional<std::string> XmlElement::Attribute(std::string_view attribute) const {
  // Walked by hand rather than with xmlHasNsProp, which would also offer a default value that
  // a DTD in the document declares.
  for (const xmlAttr* attr = node_->properties; attr != nullptr; attr = attr->next) {
    if (attr->ns != nullptr || View(attr->name) != attribute) continue;
    std::string value;
    for (const xmlNode* part = attr->children; part != nullptr; part = part->next) {
      if (part->type == XML_TEXT_NODE) value += View(part->content);
    }
    return value;
  }
  return std::nullopt;
}

std::string XmlElement::Text() const {
  std::string text;
  for (const xmlNode* child = node_->children; child != nullptr; child = child->next) {
    if (child->type == XML_TEXT_NODE || child->type == XML_CDATA_SECTION_NODE) {
      text += View(child->content);
    }
  }
  return text;
}

std::vector<XmlElement> XmlElement::Children() const {
  std::vector<XmlElement> children;
  for (const xmlNode* child = node_->children; child != nullptr; child = child->next) {
    if (child->type == XML_ELEMENT_NODE) children.push_back(XmlElement(child));
  }
  return children;
}

std::optional<XmlElement> XmlElement::Child(std::string_view local_name) const {
  for (const xmlNode* child = node_->children; child != nullptr; child = child->next) {
    if (child->type != XML_ELEMENT_NODE) continue;
    XmlElement element(child);
    if (element.Is(local_name)) return element;
  }
  return std::nullopt;
}

int XmlElement::line() const { return static_cast<int>(xmlGetLineNo(node_)); }

void XmlDocument::FreeDoc::operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }

StatusOr<XmlDocument> XmlDocument::Parse(std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("malformed XML: the document is empty");
  if (text.size() > static_cast<size_t>(INT_MAX)) {
    return Status::InvalidArgument("malformed XML: the document is too large");
  }
  InitLibxml();
  xmlDoc* raw = nullptr;
  std::string error;
  {
    ErrorCapture capture;
    raw = xmlReadMemory(text.data(), static_cast<int>(text.size()), /*URL=*/nullptr,
                        /*encoding=*/nullptr, kParseOptions);
    error = capture.Message();
  }
  if (raw == nullptr) {
    return Status::InvalidArgument(error.empty() ? "malformed XML" : error);
  }
  XmlDocument doc(raw);
  const xmlNode* root = xmlDocGetRootElement(raw);
  if (root == nullptr) return Status::InvalidArgument("malformed XML: no root element");
  if (const xmlNode* ref = FindEntityReference(root)) {
    return Status::InvalidArgument(
        "XML at line " + std::to_string(xmlGetLineNo(ref)) + ": entity &" +
        std::string(View(ref->name)) +
        "; refused: only the predefined entities and character references are accepted");
  }
  return doc;
}

XmlElement XmlDocument::root() const { return XmlElement(xmlDocGetRootElement(doc_.get())); }

}  // namespace vmk::providers
