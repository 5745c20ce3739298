#include "providers/hypervisor/libvirt/xml_document.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace vmk::providers {
namespace {

std::string RootText(const std::string& xml) {
  auto doc = XmlDocument::Parse(xml);
  if (!doc.ok()) return "error: " + doc.status().message();
  return doc->root().Text();
}

TEST(XmlDocumentTest, ReadsElementsAttributesAndText) {
  auto doc = XmlDocument::Parse(
      "<?xml version='1.0'?>\n<a x='1' y=\"two\">\n  <b>first</b>\n  <c/>\n  <b>second</b>\n</a>");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  XmlElement a = doc->root();
  EXPECT_EQ(a.name(), "a");
  EXPECT_EQ(a.namespace_uri(), "");
  EXPECT_EQ(a.Attribute("x"), "1");
  EXPECT_EQ(a.Attribute("y"), "two");
  EXPECT_FALSE(a.Attribute("z").has_value());
  std::vector<XmlElement> children = a.Children();
  ASSERT_EQ(children.size(), 3u);
  EXPECT_EQ(children[1].name(), "c");
  EXPECT_EQ(children[1].line(), 4);
  ASSERT_TRUE(a.Child("b").has_value());
  EXPECT_EQ(a.Child("b")->Text(), "first");
  EXPECT_FALSE(a.Child("d").has_value());
  EXPECT_EQ(a.Text(), "\n  \n  \n  \n");  // whitespace is kept as written
}

TEST(XmlDocumentTest, DecodesPredefinedEntitiesCharacterReferencesAndCdata) {
  EXPECT_EQ(RootText("<a>&lt;&gt;&amp;&apos;&quot; &#65;&#x42;&#x2603;</a>"),
            "<>&'\" AB\xE2\x98\x83");
  EXPECT_EQ(RootText("<a>x<![CDATA[<not> &markup;]]>y</a>"), "x<not> &markup;y");
  auto doc = XmlDocument::Parse("<a v='&lt;&amp;&#x41;&quot;'/>");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->root().Attribute("v"), "<&A\"");
}

TEST(XmlDocumentTest, CommentsAndProcessingInstructionsAreNotText) {
  EXPECT_EQ(RootText("<!-- before --><a>one<!-- <b>not</b> -->two<?pi data?>three</a><!-- x -->"),
            "onetwothree");
  auto doc = XmlDocument::Parse("<a><!-- <b/> --><c/></a>");
  ASSERT_TRUE(doc.ok());
  ASSERT_EQ(doc->root().Children().size(), 1u);
  EXPECT_EQ(doc->root().Children()[0].name(), "c");
}

TEST(XmlDocumentTest, NamespacesResolveByUri) {
  auto doc = XmlDocument::Parse(
      "<a xmlns:p='urn:one' xmlns:q='urn:one'>"
      "<p:x/><q:x/><x/><r:x xmlns:r='urn:two'/><y xmlns='urn:three' p:attr='ns' attr='plain'/>"
      "</a>");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  std::vector<XmlElement> c = doc->root().Children();
  ASSERT_EQ(c.size(), 5u);
  EXPECT_TRUE(c[0].Is("x", "urn:one"));
  EXPECT_TRUE(c[1].Is("x", "urn:one"));  // another prefix, the same URI
  EXPECT_TRUE(c[2].Is("x"));
  EXPECT_FALSE(c[2].Is("x", "urn:one"));
  EXPECT_TRUE(c[3].Is("x", "urn:two"));
  EXPECT_TRUE(c[4].Is("y", "urn:three"));  // the default namespace
  EXPECT_EQ(c[4].Attribute("attr"), "plain");  // the prefixed one is another attribute
  // Child() looks in no namespace only.
  EXPECT_EQ(doc->root().Child("x")->line(), 1);
  EXPECT_FALSE(doc->root().Child("y").has_value());
}

TEST(XmlDocumentTest, MalformedDocumentsAreInvalidArgumentWithTheLine) {
  struct Case {
    const char* xml;
    const char* expected;  // in the message
  };
  const Case cases[] = {
      {"", "empty"},
      {"   \n", "line"},
      {"<a>\n<b>\n</a>", "at line 3"},
      {"<a>\n\n<b x=1/></a>", "at line 3"},
      {"<a/><b/>", "at line 1"},
      {"<a>&undeclared;</a>", "undeclared"},
      {"<a>\n<b>&#0;</b></a>", "at line 2"},
      {"<a>\xff\xfe</a>", "at line 1"},
      {"<?xml version='1.0' encoding='no-such-encoding'?><a/>", "at line 1"},
      {"text", "at line 1"},
  };
  for (const Case& c : cases) {
    auto doc = XmlDocument::Parse(c.xml);
    ASSERT_FALSE(doc.ok()) << c.xml;
    EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument) << c.xml;
    EXPECT_NE(doc.status().message().find(c.expected), std::string::npos)
        << c.xml << " -> " << doc.status().message();
  }
}

TEST(XmlDocumentTest, ErrorsAreNotPrinted) {
  testing::internal::CaptureStderr();
  testing::internal::CaptureStdout();
  EXPECT_FALSE(XmlDocument::Parse("<a><b></a>").ok());
  EXPECT_FALSE(XmlDocument::Parse("<a>\xff</a>").ok());
  EXPECT_FALSE(XmlDocument::Parse("<?xml version='1.0' encoding='bogus'?><a/>").ok());
  EXPECT_FALSE(XmlDocument::Parse("<!DOCTYPE a [<!ENTITY e SYSTEM 'file:///no/such/file'>]>"
                                  "<a>&e;&missing;</a>")
                   .ok());
  // Namespace errors leave the document readable (<q:b> reads as a name without namespace).
  EXPECT_TRUE(XmlDocument::Parse("<a xmlns:p='not a uri'><q:b/></a>").ok());
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(XmlDocumentTest, InternalEntitiesAreRefused) {
  auto doc = XmlDocument::Parse("<!DOCTYPE a [<!ENTITY name 'expanded'>]>\n<a>\n<b>&name;</b></a>");
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(doc.status().message().find("&name;"), std::string::npos) << doc.status().message();
  EXPECT_NE(doc.status().message().find("line 3"), std::string::npos) << doc.status().message();
  // In an attribute value too.
  EXPECT_FALSE(XmlDocument::Parse("<!DOCTYPE a [<!ENTITY name 'expanded'>]><a v='&name;'/>").ok());
  // Declared but not used: nothing to refuse.
  EXPECT_EQ(RootText("<!DOCTYPE a [<!ENTITY name 'expanded'>]><a>plain</a>"), "plain");
}

TEST(XmlDocumentTest, BillionLaughsIsRefused) {
  std::string xml = "<!DOCTYPE a [<!ENTITY l0 'ha'>";
  for (int i = 1; i <= 10; ++i) {
    std::string prev = "&l" + std::to_string(i - 1) + ";";
    std::string value;
    for (int j = 0; j < 10; ++j) value += prev;
    xml += "<!ENTITY l" + std::to_string(i) + " '" + value + "'>";
  }
  xml += "]><a>&l10;</a>";
  auto doc = XmlDocument::Parse(xml);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().code(), StatusCode::kInvalidArgument);
}

class ExternalEntityTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("vmk-xml-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    secret_ = (dir_ / "secret.txt").string();
    std::ofstream(secret_) << "TOP-SECRET";
    dtd_ = (dir_ / "evil.dtd").string();
    std::ofstream(dtd_) << "<!ENTITY leak 'TOP-SECRET'>\n<!ATTLIST a v CDATA 'TOP-SECRET'>\n";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::string secret_;
  std::string dtd_;
};

TEST_F(ExternalEntityTest, ExternalGeneralEntityIsNotRead) {
  std::string xml = "<!DOCTYPE a [<!ENTITY xxe SYSTEM 'file://" + secret_ + "'>]><a>&xxe;</a>";
  auto doc = XmlDocument::Parse(xml);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.status().message().find("TOP-SECRET"), std::string::npos);
  EXPECT_NE(doc.status().message().find("&xxe;"), std::string::npos) << doc.status().message();
}

TEST_F(ExternalEntityTest, ExternalDtdAndParameterEntitiesAreNotLoaded) {
  // Were the DTD loaded, &leak; would be declared and `v` would get a default value.
  for (const std::string& doctype :
       {"<!DOCTYPE a SYSTEM 'file://" + dtd_ + "'>",
        "<!DOCTYPE a [<!ENTITY % ext SYSTEM 'file://" + dtd_ + "'> %ext;]>"}) {
    auto plain = XmlDocument::Parse(doctype + "<a>text</a>");
    ASSERT_TRUE(plain.ok()) << doctype << ": " << plain.status().ToString();
    EXPECT_FALSE(plain->root().Attribute("v").has_value()) << doctype;
    auto with_ref = XmlDocument::Parse(doctype + "<a>&leak;</a>");
    ASSERT_FALSE(with_ref.ok()) << doctype;
    EXPECT_EQ(with_ref.status().message().find("TOP-SECRET"), std::string::npos);
  }
}

TEST(XmlDocumentTest, NothingIsFetchedFromTheNetwork) {
  // A listener on a free local port: were the DTD or the entity fetched, it would see a
  // connection.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/x";

  (void)XmlDocument::Parse("<!DOCTYPE a SYSTEM '" + url + ".dtd'><a/>");
  (void)XmlDocument::Parse("<!DOCTYPE a [<!ENTITY e SYSTEM '" + url + "'>]><a>&e;</a>");
  (void)XmlDocument::Parse("<!DOCTYPE a [<!ENTITY % p SYSTEM '" + url + "'> %p;]><a/>");
  (void)XmlDocument::Parse("<a xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='" +
                           url + "'/></a>");

  ASSERT_EQ(::fcntl(listener, F_SETFL, O_NONBLOCK), 0);
  int conn = ::accept(listener, nullptr, nullptr);
  EXPECT_LT(conn, 0) << "the parser connected to " << url;
  if (conn >= 0) ::close(conn);
  ::close(listener);
}

TEST(XmlDocumentTest, ParsesOnManyThreadsAtOnce) {
  std::atomic<int> good{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (RootText("<a>ok<b/></a>") == "ok") ++good;
        if (!XmlDocument::Parse("<a><b></a>").ok()) ++bad;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(good.load(), 1600);
  EXPECT_EQ(bad.load(), 1600);
}

TEST(XmlDocumentTest, DocumentsMove) {
  auto parsed = XmlDocument::Parse("<a>x</a>");
  ASSERT_TRUE(parsed.ok());
  XmlDocument doc = std::move(parsed).value();
  XmlDocument other = std::move(doc);
  EXPECT_EQ(other.root().Text(), "x");
}

}  // namespace
}  // namespace vmk::providers
