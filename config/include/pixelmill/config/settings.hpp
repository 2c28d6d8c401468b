#pragma once
// Every setting pixelmill reads, with its compiled-in default.
// The same struct is filled, in order of increasing precedence, from the defaults
// below, an optional TOML file, PIXELMILL_<SECTION>_<KEY> environment variables and
// command-line flags (see load.hpp). config/pixelmill.toml documents each key.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace pixelmill::config {

// Where image work (decode, resize, encode) runs. Only cpu_pool is for production;
// the other two reproduce the classic starvation traps so they can be measured.
enum class OffloadMode {
  cpu_pool,  // dedicated CPU threads; I/O threads only wait
  io_pool,   // posted onto the I/O threads: parallel, but starves I/O
  inline_,   // run in the handler: blocks its I/O thread
};

enum class LogFormat { text, json };

struct ServerSettings {
  std::string address = "127.0.0.1";  // from server.listen = "ADDR:PORT"
  std::uint16_t port = 8080;           // 0 = ephemeral (tests)
  std::size_t max_connections = 10'000;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_body_bytes = 32 * 1024 * 1024;
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds body_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(20)};
  bool playground = true;  // GET / serves the embedded playground page; false: 404
};

struct RuntimeSettings {
  unsigned io_threads = 0;   // 0 = auto: 1 on <= 2 cores, else 2
  unsigned io_rt_priority = 0;  // 1..99: I/O threads in SCHED_RR at it; 0 = normal
  unsigned cpu_threads = 0;  // 0 = auto: every core
  std::size_t cpu_queue_length = 0;  // 0 = auto: 4 jobs per CPU thread
  OffloadMode offload = OffloadMode::cpu_pool;
  std::chrono::milliseconds heartbeat_period{10};
  std::chrono::milliseconds stall_threshold{50};
  std::chrono::milliseconds job_deadline{std::chrono::seconds(30)};
  bool malloc_huge_pages = true;  // glibc.malloc.hugetlb=1 (runtime/allocator.hpp)
};

struct StorageSettings {
  std::filesystem::path data_dir = "./data";
  std::uint64_t cache_max_bytes = 1ull << 30;  // on-disk variant cache budget; 0 = disabled
};

struct LogSettings {
  std::string level = "info";  // trace | debug | info | warn | error | critical | off
  LogFormat format = LogFormat::text;
};

// Caps on what one image request may cost. The source limits are checked against
// the image header before any pixel is decoded, so a small upload that would decode
// to gigabytes (a "decompression bomb") is refused cheaply.
struct LimitsSettings {
  std::uint64_t max_source_pixels = 50'000'000;  // width * height of an uploaded image
  unsigned max_source_dimension = 32768;         // longest side of an uploaded image
  unsigned max_output_dimension = 8192;          // largest w or h a client may ask for
};

// Who may change the store and which image URLs need a signature. Keys are secrets:
// they are never logged, printed by --help or echoed in a config error.
struct AuthSettings {
  std::vector<std::string> api_keys;      // non-empty: POST and DELETE need a Bearer key
  bool sign_urls = false;                 // GET of a variant needs sig=HMAC-SHA256(...)
  std::vector<std::string> signing_keys;  // the first signs, every one verifies (rotation)
};

struct MetricsSettings {
  // A second listener serving only /metrics (and /healthz), so the scrape endpoint
  // need not be public; /metrics then answers 404 on server.listen. Empty address:
  // /metrics stays on the main listener.
  std::string address;
  std::uint16_t port = 0;
};

struct Settings {
  ServerSettings server;
  RuntimeSettings runtime;
  StorageSettings storage;
  LogSettings log;
  LimitsSettings limits;
  AuthSettings auth;
  MetricsSettings metrics;
};

// Resolves the "auto" (0) values against the machine's core count.
Settings resolve_auto(Settings s, unsigned hardware_threads);

}  // namespace pixelmill::config
