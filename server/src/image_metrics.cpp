#include "pixelmill/server/image_metrics.hpp"

namespace pixelmill::server {

ImageMetrics::ImageMetrics(runtime::MetricsRegistry& metrics)
    : images_stored_(prometheus::BuildGauge()
                         .Name("pixelmill_images_stored")
                         .Help("Original images in the store.")
                         .Register(metrics.registry())
                         .Add({})),
      bytes_in_(prometheus::BuildCounter()
                    .Name("pixelmill_image_bytes_in_total")
                    .Help("Bytes of images received (uploads and stateless resizes).")
                    .Register(metrics.registry())
                    .Add({})),
      bytes_out_(prometheus::BuildCounter()
                     .Name("pixelmill_image_bytes_out_total")
                     .Help("Bytes of images sent (originals and variants).")
                     .Register(metrics.registry())
                     .Add({})),
      source_pixels_(prometheus::BuildHistogram()
                         .Name("pixelmill_source_pixels")
                         .Help("Pixels (width x height) of the source images processed.")
                         .Register(metrics.registry())
                         .Add({}, prometheus::Histogram::BucketBoundaries{
                                      1e4, 1e5, 1e6, 2e6, 4e6, 8e6, 12e6, 16e6, 24e6, 50e6})),
      cache_hits_(prometheus::BuildCounter()
                      .Name("pixelmill_cache_hits_total")
                      .Help("Variant requests served from the cache (or shared with one in flight).")
                      .Register(metrics.registry())
                      .Add({})),
      cache_misses_(prometheus::BuildCounter()
                        .Name("pixelmill_cache_misses_total")
                        .Help("Variant requests that had to decode, resize and encode.")
                        .Register(metrics.registry())
                        .Add({})) {}

}  // namespace pixelmill::server
