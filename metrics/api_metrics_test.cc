// ApiMetricsText: the three API families with every listed reason, at 0 too.
#include "metrics/api_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace vmk::metrics {
namespace {

using ::testing::HasSubstr;

TEST(ApiMetricsTest, EveryReasonIsExposedWithItsTotal) {
  ApiFigures figures;
  figures.refused = {{"host", 0}, {"rate_limited", 7}};
  figures.connections_closed = {{"idle_timeout", 3}, {"over_limit", 0}};
  figures.open_connections = 12;
  const std::string text = ApiMetricsText(figures);
  EXPECT_THAT(text, HasSubstr("# TYPE vmkeeper_api_requests_refused_total counter\n"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_api_requests_refused_total{reason=\"host\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_api_requests_refused_total{reason=\"rate_limited\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE vmkeeper_api_connections_closed_total counter\n"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_api_connections_closed_total{reason=\"idle_timeout\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_api_connections_closed_total{reason=\"over_limit\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE vmkeeper_api_open_connections gauge\n"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_api_open_connections 12\n"));
}

TEST(ApiMetricsTest, FamiliesAreThereWithoutChildren) {
  const std::string text = ApiMetricsText({});
  EXPECT_THAT(text, HasSubstr("# TYPE vmkeeper_api_requests_refused_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE vmkeeper_api_connections_closed_total counter\n"));
  EXPECT_THAT(text, HasSubstr("vmkeeper_api_open_connections 0\n"));
}

}  // namespace
}  // namespace vmk::metrics
