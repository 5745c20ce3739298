// ControlLoop: the one wiring of the controller's parts, driven one work item at a time over
// fakes. The reconcile logic itself is tested with ReconcileFixture (which uses this wiring);
// here: dispatch by work key, metrics of every reconciler, exceptions, cancellation.
#include "reconciler/controller/control_loop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "reconciler/store/store_wrapper.h"
#include "tests/fakes/reconcile_fixture.h"

namespace vmk::reconciler {
namespace {

using ::testing::HasSubstr;

class ControlLoopTest : public ReconcileFixture {
 protected:
  ReconcileResult Run(const std::string& key) { return loop_.Run(key, CancelToken()); }
  std::string Metrics() { return loop_.metrics().ExpositionText(); }
};

TEST_F(ControlLoopTest, EveryKeyGoesToItsReconcilerAndIsCountedUnderItsName) {
  Apply(HostYaml("hv01") + VmYaml("wms01"));
  ASSERT_TRUE(Run(HostKey("hv01")).status.ok());
  ASSERT_TRUE(Run(VmKey("wms01")).status.ok());
  EXPECT_EQ(Host("hv01").Domain("wms01")->state, providers::DomainState::kRunning);
  auto beat = Run(HeartbeatKey("hv01"));
  ASSERT_TRUE(beat.status.ok());
  EXPECT_TRUE(beat.requeue_after.has_value()) << "heartbeats ask to run again";
  const std::string text = Metrics();
  EXPECT_THAT(text, HasSubstr("vmkeeper_reconcile_total{kind=\"host\",result=\"success\"} 1"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_reconcile_total{kind=\"vm\",result=\"success\"} 1"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_reconcile_total{kind=\"heartbeat\",result=\"requeue\"} 1"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_reconcile_total{kind=\"probe\",result=\"success\"} 0"))
      << "every reconciler's children exist from the start";
  EXPECT_THAT(text, HasSubstr("vmkeeper_heartbeat_duration_seconds_count 1"));
}

TEST_F(ControlLoopTest, AKeyNoReconcilerOwnsIsDroppedNotRetried) {
  auto r = Run("nonsense/x");
  EXPECT_TRUE(r.status.ok());
  EXPECT_FALSE(r.requeue_after.has_value());
}

// A reconcile that throws is a bug, not a state of the world: the loop survives, counts it,
// and the key is retried with backoff.
TEST_F(ControlLoopTest, AnExceptionIsCountedAsAPanicAndRetried) {
  struct ThrowingStore : StoreWrapper {
    using StoreWrapper::StoreWrapper;
    StatusOr<std::optional<specs::Object>> Get(specs::Kind, const std::string&) override {
      throw std::runtime_error("a bug");
    }
  } throwing(&store_);
  ControlLoop loop(&throwing, &factory_, &clock_, LoopOptions(&fencer_, &prober_, storage_.get()));
  Apply(VmYaml("wms01"));
  ReconcileResult r = loop.Run(VmKey("wms01"), CancelToken());
  EXPECT_EQ(r.status.code(), StatusCode::kInternal);
  EXPECT_THAT(r.status.message(), HasSubstr("a bug"));
  const std::string text = loop.metrics().ExpositionText();
  EXPECT_THAT(text, HasSubstr("vmkeeper_reconcile_panics_total{kind=\"vm\"} 1"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_reconcile_panics_total{kind=\"host\"} 0"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_reconcile_total{kind=\"vm\",result=\"error\"} 1"));

  ControlLoop::Finish(loop.queue(), VmKey("wms01"), r);
  EXPECT_EQ(loop.queue().NumRequeues(VmKey("wms01")), 1) << "retried with backoff";
}

// A cancelled reconcile (shutdown, lost leadership) stops before its first step: nothing is
// placed or defined.
TEST_F(ControlLoopTest, ACancelledReconcileDoesNothing) {
  Apply(HostYaml("hv01") + VmYaml("wms01"));
  ASSERT_TRUE(Run(HostKey("hv01")).status.ok());
  CancelSource cancel;
  cancel.Cancel("the controller is stopping");
  auto r = loop_.Run(VmKey("wms01"), cancel.Token());
  EXPECT_EQ(r.status.code(), StatusCode::kAborted);
  EXPECT_EQ(StatusOf("wms01").host, "");
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
}

// The reconcile's own deadline ends it the same way, between steps.
TEST_F(ControlLoopTest, AReconcilePastItsDeadlineStops) {
  Apply(HostYaml("hv01") + VmYaml("wms01"));
  ASSERT_TRUE(Run(HostKey("hv01")).status.ok());
  CancelToken expired = CancelToken::WithDeadline(CancelToken(), &clock_, clock_.Now());
  auto r = vms_.Reconcile({"wms01", expired});
  EXPECT_EQ(r.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(Host("hv01").Domain("wms01").has_value());
}

// The admin notifier's own counts become counters that only grow with them.
TEST_F(ControlLoopTest, TheNotifiersCountsAreExported) {
  struct CountingNotifier : providers::Notifier {
    void Notify(providers::Notification) override {}
    providers::DeliveryCounts Counts() const override { return counts; }
    providers::DeliveryCounts counts;
  } notifier;
  ControlLoopOptions options = LoopOptions(&fencer_, &prober_, storage_.get());
  options.notifier = &notifier;
  ControlLoop loop(&store_, &factory_, &clock_, options);
  notifier.counts = {3, 1, 2, 7};
  loop.PublishGauges();
  std::string text = loop.metrics().ExpositionText();
  EXPECT_THAT(text, HasSubstr("vmkeeper_notifications_total{result=\"sent\"} 3"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_notifications_total{result=\"failed\"} 1"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_notifications_total{result=\"dropped\"} 2"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_notification_attempts_total 7"));
  notifier.counts = {5, 1, 2, 9};
  loop.PublishGauges();
  text = loop.metrics().ExpositionText();
  EXPECT_THAT(text, HasSubstr("vmkeeper_notifications_total{result=\"sent\"} 5"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_notification_attempts_total 9"));
}

}  // namespace
}  // namespace vmk::reconciler
