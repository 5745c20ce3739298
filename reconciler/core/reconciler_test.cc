#include "reconciler/core/reconciler.h"

#include <gtest/gtest.h>

namespace vmk::reconciler {
namespace {

class Named : public Reconciler {
 public:
  explicit Named(std::string name) : name_(std::move(name)) {}
  std::string_view Name() const override { return name_; }
  ReconcileResult Reconcile(const ReconcileRequest&) override { return ReconcileResult::Done(); }

 private:
  std::string name_;
};

TEST(ReconcilerSetTest, AKeyFindsItsReconcilerAndTheWholeRestIsTheName) {
  Named vm("vm"), heartbeat("heartbeat");
  ReconcilerSet set;
  set.Register(&vm);
  set.Register(&heartbeat);
  auto target = set.Find(WorkKey("vm", "wms01"));
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->reconciler, &vm);
  EXPECT_EQ(target->name, "wms01");
  // Names may contain '/' after the first one (the key splits at the first).
  target = set.Find("heartbeat/a/b");
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->reconciler, &heartbeat);
  EXPECT_EQ(target->name, "a/b");
  EXPECT_EQ(set.all().size(), 2u);
}

TEST(ReconcilerSetTest, KeysOfNoReconcilerAreNotFound) {
  Named vm("vm");
  ReconcilerSet set;
  set.Register(&vm);
  EXPECT_FALSE(set.Find("host/hv01").has_value());
  EXPECT_FALSE(set.Find("vm").has_value());
  EXPECT_FALSE(set.Find("").has_value());
  EXPECT_FALSE(set.Find("v/wms01").has_value()) << "a prefix of a name is not the name";
}

}  // namespace
}  // namespace vmk::reconciler
