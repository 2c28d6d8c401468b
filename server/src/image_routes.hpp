#pragma once

#include "pixelmill/imaging/probe.hpp"
#include "pixelmill/runtime/runtime_metrics.hpp"
#include "pixelmill/server/image_metrics.hpp"
#include "pixelmill/server/router.hpp"
#include "pixelmill/storage/image_store.hpp"
#include "pixelmill/storage/variant_cache.hpp"

namespace pixelmill::server {

struct ImageServices {
  storage::ImageStore& store;
  storage::VariantCache& cache;
  imaging::SourceLimits limits;
  unsigned max_output_dimension;
  runtime::RuntimeMetrics& runtime_metrics;
  ImageMetrics& metrics;
};

// POST /v1/images, GET|HEAD|DELETE /v1/images/{id} (with resize parameters: a
// variant), POST /v1/resize. Every probe, decode, resize, encode, hash and file
// read or write runs on the CPU pool through the offloader; the handlers only
// check headers and parameters on the I/O thread.
void add_image_routes(Router& router, ImageServices services);

}  // namespace pixelmill::server
