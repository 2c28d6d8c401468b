// Unit tests of config/: defaults < file < environment < flags, validation
// messages, the shipped pixelmill.toml, resolve_auto, --help and --version.

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include "pixelmill/config/load.hpp"

namespace cfg = pixelmill::config;
using namespace std::chrono_literals;

namespace {

using EnvMap = std::map<std::string, std::string>;

cfg::EnvLookup env_of(EnvMap vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

cfg::LoadResult load(const std::vector<std::string>& args, EnvMap env = {}) {
  const std::vector<std::string_view> views(args.begin(), args.end());
  return cfg::load(views, env_of(std::move(env)));
}

// The message load() fails with, or "" (and a failed check) when it succeeds.
std::string error_of(const std::vector<std::string>& args, EnvMap env = {}) {
  try {
    load(args, std::move(env));
  } catch (const cfg::ConfigError& e) {
    const std::string message = e.what();
    CHECK_MESSAGE(message.find('\n') == std::string::npos, "not one line: " << message);
    return message;
  }
  FAIL_CHECK("no ConfigError");
  return "";
}

#define CHECK_CONTAINS(text, part) CHECK_MESSAGE((text).find(part) != std::string::npos, (text))

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("pixelmill-test-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string write(const std::string& name, const std::string& text) const {
    const auto file = path_ / name;
    std::ofstream(file) << text;
    return file.string();
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void check_same(const cfg::Settings& a, const cfg::Settings& b) {
  CHECK(a.server.address == b.server.address);
  CHECK(a.server.port == b.server.port);
  CHECK(a.server.max_connections == b.server.max_connections);
  CHECK(a.server.max_header_bytes == b.server.max_header_bytes);
  CHECK(a.server.max_body_bytes == b.server.max_body_bytes);
  CHECK(a.server.header_timeout == b.server.header_timeout);
  CHECK(a.server.body_timeout == b.server.body_timeout);
  CHECK(a.server.idle_timeout == b.server.idle_timeout);
  CHECK(a.server.drain_timeout == b.server.drain_timeout);
  CHECK(a.server.playground == b.server.playground);
  CHECK(a.runtime.io_threads == b.runtime.io_threads);
  CHECK(a.runtime.io_rt_priority == b.runtime.io_rt_priority);
  CHECK(a.runtime.cpu_threads == b.runtime.cpu_threads);
  CHECK(a.runtime.cpu_queue_length == b.runtime.cpu_queue_length);
  CHECK(a.runtime.offload == b.runtime.offload);
  CHECK(a.runtime.heartbeat_period == b.runtime.heartbeat_period);
  CHECK(a.runtime.stall_threshold == b.runtime.stall_threshold);
  CHECK(a.runtime.job_deadline == b.runtime.job_deadline);
  CHECK(a.storage.data_dir == b.storage.data_dir);
  CHECK(a.storage.cache_max_bytes == b.storage.cache_max_bytes);
  CHECK(a.log.level == b.log.level);
  CHECK(a.log.format == b.log.format);
  CHECK(a.limits.max_source_pixels == b.limits.max_source_pixels);
  CHECK(a.limits.max_source_dimension == b.limits.max_source_dimension);
  CHECK(a.limits.max_output_dimension == b.limits.max_output_dimension);
  CHECK(a.auth.api_keys == b.auth.api_keys);
  CHECK(a.auth.sign_urls == b.auth.sign_urls);
  CHECK(a.auth.signing_keys == b.auth.signing_keys);
  CHECK(a.metrics.address == b.metrics.address);
  CHECK(a.metrics.port == b.metrics.port);
}

// One non-default value for every key, as text (env, --set) and as TOML.
struct KeyValue {
  std::string section, key, text;
  bool integer;      // written bare in TOML, quoted otherwise
  std::string toml;  // the TOML spelling when it is not text (arrays)
};

const std::vector<KeyValue> non_defaults = {
    {"server", "listen", "[::1]:9090", false},
    {"server", "max_connections", "77", true},
    {"server", "max_header_bytes", "2048", true},
    {"server", "max_body_bytes", "4294967296", true},
    {"server", "header_timeout", "250ms", false},
    {"server", "body_timeout", "2m", false},
    {"server", "idle_timeout", "5s", false},
    {"server", "drain_timeout", "1ms", false},
    {"server", "playground", "false", true},  // bare in TOML: a boolean
    {"runtime", "io_threads", "64", true},
    {"runtime", "io_rt_priority", "99", true},
    {"runtime", "cpu_threads", "256", true},
    {"runtime", "cpu_queue_length", "100000", true},
    {"runtime", "offload", "inline", false},
    {"runtime", "heartbeat_period", "10s", false},
    {"runtime", "stall_threshold", "60s", false},
    {"runtime", "job_deadline", "60m", false},
    {"storage", "data_dir", "/var/lib/pixelmill", false},
    {"storage", "cache_max_bytes", "1099511627776", true},
    {"log", "level", "critical", false},
    {"log", "format", "json", false},
    {"limits", "max_source_pixels", "1000000000", true},
    {"limits", "max_source_dimension", "65535", true},
    {"limits", "max_output_dimension", "1", true},
    {"auth", "api_keys", "key-one-0123456789,key-two-0123456789", false,
     R"(["key-one-0123456789", "key-two-0123456789"])"},
    {"auth", "sign_urls", "true", true},
    {"auth", "signing_keys", "sign-key-0123456789", false, R"(["sign-key-0123456789"])"},
    {"metrics", "listen", "127.0.0.1:9100", false},
};

cfg::Settings expected_non_defaults() {
  cfg::Settings s;
  s.server.address = "::1";
  s.server.port = 9090;
  s.server.max_connections = 77;
  s.server.max_header_bytes = 2048;
  s.server.max_body_bytes = std::size_t{4} << 30;
  s.server.header_timeout = 250ms;
  s.server.body_timeout = 2min;
  s.server.idle_timeout = 5s;
  s.server.drain_timeout = 1ms;
  s.server.playground = false;
  s.runtime.io_threads = 64;
  s.runtime.io_rt_priority = 99;
  s.runtime.cpu_threads = 256;
  s.runtime.cpu_queue_length = 100000;
  s.runtime.offload = cfg::OffloadMode::inline_;
  s.runtime.heartbeat_period = 10s;
  s.runtime.stall_threshold = 60s;
  s.runtime.job_deadline = 1h;
  s.storage.data_dir = "/var/lib/pixelmill";
  s.storage.cache_max_bytes = std::uint64_t{1} << 40;
  s.log.level = "critical";
  s.log.format = cfg::LogFormat::json;
  s.limits.max_source_pixels = 1'000'000'000;
  s.limits.max_source_dimension = 65535;
  s.limits.max_output_dimension = 1;
  s.auth.api_keys = {"key-one-0123456789", "key-two-0123456789"};
  s.auth.sign_urls = true;
  s.auth.signing_keys = {"sign-key-0123456789"};
  s.metrics.address = "127.0.0.1";
  s.metrics.port = 9100;
  return s;
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

TEST_CASE("no file, environment or flags gives the compiled-in defaults") {
  const auto r = load({});
  CHECK(r.action == cfg::Action::run);
  CHECK(r.config_file.empty());
  check_same(r.settings, cfg::Settings{});
  CHECK(r.settings.server.address == "127.0.0.1");
  CHECK(r.settings.server.port == 8080);
  CHECK(r.settings.runtime.offload == cfg::OffloadMode::cpu_pool);
  CHECK(r.settings.runtime.stall_threshold == 50ms);
  CHECK(r.settings.limits.max_source_pixels == 50'000'000);
  CHECK(r.settings.limits.max_source_dimension == 32768);
  CHECK(r.settings.limits.max_output_dimension == 8192);
  CHECK(r.settings.storage.cache_max_bytes == std::uint64_t{1} << 30);
}

TEST_CASE("precedence: defaults < file < environment < flags") {
  TempDir dir;
  const auto file = dir.write("p.toml", "[runtime]\nio_threads = 3\n[server]\nlisten = \"10.0.0.1:1\"\n");
  const EnvMap env = {{"PIXELMILL_RUNTIME_IO_THREADS", "5"}, {"PIXELMILL_SERVER_LISTEN", "10.0.0.2:2"}};
  const std::vector<std::string> flags = {"--io-threads", "7", "--listen=10.0.0.3:3"};
  const auto with_file = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--config", file});
    return args;
  };

  SUBCASE("each layer alone") {
    CHECK(load({}).settings.runtime.io_threads == 0);
    CHECK(load(with_file({})).settings.runtime.io_threads == 3);
    CHECK(load({}, env).settings.runtime.io_threads == 5);
    CHECK(load(flags).settings.runtime.io_threads == 7);
    CHECK(load(flags).settings.server.address == "10.0.0.3");
  }
  SUBCASE("environment beats file") {
    const auto s = load(with_file({}), env).settings;
    CHECK(s.runtime.io_threads == 5);
    CHECK(s.server.address == "10.0.0.2");
    CHECK(s.server.port == 2);
  }
  SUBCASE("flags beat file") { CHECK(load(with_file(flags)).settings.runtime.io_threads == 7); }
  SUBCASE("flags beat environment and file") {
    const auto s = load(with_file(flags), env).settings;
    CHECK(s.runtime.io_threads == 7);
    CHECK(s.server.address == "10.0.0.3");
    CHECK(s.server.port == 3);
  }
  SUBCASE("a layer leaves the keys it does not set alone") {
    const auto s = load(with_file({"--cpu-threads", "9"}), env).settings;
    CHECK(s.runtime.cpu_threads == 9);
    CHECK(s.runtime.io_threads == 5);
    CHECK(s.server.max_connections == cfg::Settings{}.server.max_connections);
  }
  SUBCASE("the last of repeated flags wins, --set and dedicated flags alike") {
    CHECK(load({"--io-threads=1", "--set", "runtime.io_threads=2"}).settings.runtime.io_threads == 2);
    CHECK(load({"--set=runtime.io_threads=2", "--io-threads", "1"}).settings.runtime.io_threads == 1);
  }
}

TEST_CASE("the config file comes from --config or PIXELMILL_CONFIG") {
  TempDir dir;
  const auto a = dir.write("a.toml", "[log]\nlevel = \"debug\"\n");
  const auto b = dir.write("b.toml", "[log]\nlevel = \"warn\"\n");

  const auto from_env = load({}, {{"PIXELMILL_CONFIG", a}});
  CHECK(from_env.settings.log.level == "debug");
  CHECK(from_env.config_file == a);

  const auto from_flag = load({"--config=" + b}, {{"PIXELMILL_CONFIG", a}});
  CHECK(from_flag.settings.log.level == "warn");
  CHECK(from_flag.config_file == b);

  CHECK(load({}, {{"PIXELMILL_CONFIG", ""}}).config_file.empty());
}

TEST_CASE("every key can be set from each source") {
  const auto expected = expected_non_defaults();

  SUBCASE("TOML file") {
    std::string toml;
    std::string section;
    for (const auto& kv : non_defaults) {
      if (kv.section != section) toml += "[" + (section = kv.section) + "]\n";
      toml += kv.key + " = " + (!kv.toml.empty() ? kv.toml : kv.integer ? kv.text : "\"" + kv.text + "\"") + "\n";
    }
    TempDir dir;
    check_same(load({"--config", dir.write("all.toml", toml)}).settings, expected);
  }
  SUBCASE("environment") {
    EnvMap env;
    for (const auto& kv : non_defaults) env["PIXELMILL_" + upper(kv.section) + "_" + upper(kv.key)] = kv.text;
    check_same(load({}, env).settings, expected);
  }
  SUBCASE("--set") {
    std::vector<std::string> args;
    for (const auto& kv : non_defaults) {
      args.insert(args.end(), {"--set", kv.section + "." + kv.key + "=" + kv.text});
    }
    check_same(load(args).settings, expected);
  }
}

TEST_CASE("dedicated flags, as --flag VALUE and --flag=VALUE") {
  const std::vector<std::string> args = {
      "--listen", "[::1]:9090", "--io-threads=64", "--io-rt-priority", "99", "--cpu-threads", "256", "--cpu-queue-length=100000",
      "--offload", "inline", "--data-dir=/var/lib/pixelmill", "--log-level", "critical",
      "--log-format=json", "--max-connections", "77", "--drain-timeout=1ms", "--stall-threshold", "60s"};
  const auto s = load(args).settings;
  const auto e = expected_non_defaults();
  CHECK(s.server.address == e.server.address);
  CHECK(s.server.port == e.server.port);
  CHECK(s.runtime.io_threads == e.runtime.io_threads);
  CHECK(s.runtime.io_rt_priority == e.runtime.io_rt_priority);
  CHECK(s.runtime.cpu_threads == e.runtime.cpu_threads);
  CHECK(s.runtime.cpu_queue_length == e.runtime.cpu_queue_length);
  CHECK(s.runtime.offload == e.runtime.offload);
  CHECK(s.storage.data_dir == e.storage.data_dir);
  CHECK(s.log.level == e.log.level);
  CHECK(s.log.format == e.log.format);
  CHECK(s.server.max_connections == e.server.max_connections);
  CHECK(s.server.drain_timeout == e.server.drain_timeout);
  CHECK(s.runtime.stall_threshold == e.runtime.stall_threshold);
  // A value may itself contain '=' and start with a single '-'.
  CHECK(load({"--data-dir", "-odd=dir"}).settings.storage.data_dir == "-odd=dir");
}

TEST_CASE("durations take ms, s or m") {
  const auto timeout = [](const std::string& text) {
    return load({"--drain-timeout", text}).settings.server.drain_timeout;
  };
  CHECK(timeout("250ms") == 250ms);
  CHECK(timeout("10s") == 10s);
  CHECK(timeout("2m") == 2min);
  CHECK(timeout("1ms") == 1ms);
  for (const std::string bad : {"10", "ms", "1.5s", "-1s", "10 s", " 10s", "1h", "10S", ""}) {
    const auto message = error_of({"--drain-timeout", bad});
    CHECK_CONTAINS(message, "server.drain_timeout");
    CHECK_CONTAINS(message, "\"" + bad + "\" is not a duration");
  }
  CHECK_CONTAINS(error_of({"--drain-timeout", "0ms"}), "\"0ms\" is out of range");
  CHECK_CONTAINS(error_of({"--stall-threshold", "61s"}), "\"61s\" is out of range (allowed: duration 1ms..1m");
  CHECK_CONTAINS(error_of({"--set", "runtime.heartbeat_period=99999999999999999999m"}), "is out of range");
}

TEST_CASE("listen takes a literal IPv4 or [IPv6] address and a port") {
  const auto listen = [](const std::string& text) { return load({"--listen", text}).settings.server; };
  CHECK(listen("0.0.0.0:0").address == "0.0.0.0");
  CHECK(listen("0.0.0.0:0").port == 0);
  CHECK(listen("192.168.1.2:65535").port == 65535);
  CHECK(listen("[::]:80").address == "::");
  CHECK(listen("[2001:db8::1]:443").address == "2001:db8::1");
  for (const std::string bad : {"999.1.1.1:80", "localhost:80", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:",
                                "127.0.0.1:-1", "::1:80", "[::1]80", "[::1]:x", "[1.2.3.4]:80", ":80", ""}) {
    const auto message = error_of({"--listen", bad});
    CHECK_CONTAINS(message, "--listen (server.listen): \"" + bad + "\"");
    CHECK_CONTAINS(message, "(allowed: IPV4:PORT or [IPV6]:PORT");
  }
}

TEST_CASE("invalid values name the key, the value and what is allowed") {
  TempDir dir;
  const auto file_error = [&](const std::string& toml) {
    return error_of({"--config", dir.write("bad.toml", toml)});
  };

  SUBCASE("the exact message format") {
    CHECK(error_of({"--io-threads", "abc"}) ==
          "--io-threads (runtime.io_threads): \"abc\" is not an integer (allowed: integer 0..64, 0 = auto)");
  }
  SUBCASE("unknown key in the file") {
    const auto message = file_error("[storage]\ncolour = \"red\"\n");
    CHECK_CONTAINS(message, "bad.toml:2: storage.colour = \"red\": unknown key");
    CHECK_CONTAINS(message, "(allowed in [storage]: data_dir, cache_max_bytes)");
  }
  SUBCASE("unknown section in the file") {
    const auto message = file_error("[bogus]\nx = 1\n");
    CHECK_CONTAINS(message, "bogus: unknown section (allowed: server, runtime, storage, log, limits, auth, metrics)");
  }
  SUBCASE("a key outside any section") {
    CHECK_CONTAINS(file_error("io_threads = 4\n"), "io_threads: unknown section");
  }
  SUBCASE("a section that is not a table") {
    CHECK_CONTAINS(file_error("runtime = 4\n"), "runtime: 4 is not a table");
  }
  SUBCASE("wrong TOML type") {
    CHECK_CONTAINS(file_error("[runtime]\nio_threads = \"4\"\n"),
                   "runtime.io_threads: \"4\" is a TOML string, not integer (allowed: integer 0..64");
    CHECK_CONTAINS(file_error("[server]\nheader_timeout = 10\n"),
                   "server.header_timeout: 10 is a TOML integer, not string (allowed: duration");
    CHECK_CONTAINS(file_error("[log]\nlevel = true\n"), "log.level: true is a TOML boolean");
    CHECK_CONTAINS(file_error("[runtime]\ncpu_threads = 1.5\n"), "runtime.cpu_threads: 1.5 is a TOML floating-point");
  }
  SUBCASE("out of range, from the file") {
    CHECK_CONTAINS(file_error("[runtime]\ncpu_threads = 257\n"),
                   "bad.toml:2: runtime.cpu_threads: \"257\" is out of range (allowed: integer 0..256, 0 = auto)");
    CHECK_CONTAINS(file_error("[server]\nmax_header_bytes = -1\n"), "server.max_header_bytes: \"-1\" is out of range");
    CHECK_CONTAINS(file_error("[server]\nmax_body_bytes = 4294967297\n"),
                   "server.max_body_bytes: \"4294967297\" is out of range");
  }
  SUBCASE("out of range, from a flag") {
    const auto message = error_of({"--io-threads=65"});
    CHECK_CONTAINS(message, "--io-threads (runtime.io_threads): \"65\" is out of range");
    CHECK_CONTAINS(message, "(allowed: integer 0..64, 0 = auto)");
    CHECK_CONTAINS(error_of({"--max-connections", "0"}), "server.max_connections): \"0\" is out of range");
    CHECK(error_of({"--io-rt-priority", "100"}) ==
          "--io-rt-priority (runtime.io_rt_priority): \"100\" is out of range (allowed: integer 0..99, 0 = off)");
    CHECK_CONTAINS(error_of({"--set", "storage.cache_max_bytes=1099511627777"}),
                   "--set storage.cache_max_bytes: \"1099511627777\" is out of range");
    CHECK(load({"--set", "storage.cache_max_bytes=0"}).settings.storage.cache_max_bytes == 0);  // 0 = disabled
    CHECK_CONTAINS(error_of({"--cpu-queue-length", "100001"}), "\"100001\" is out of range");
    CHECK_CONTAINS(error_of({"--io-threads", "99999999999999999999999"}), "is out of range");
  }
  SUBCASE("limits: out of range and wrong type") {
    CHECK(error_of({"--set", "limits.max_source_pixels=0"}) ==
          "--set limits.max_source_pixels: \"0\" is out of range (allowed: integer 1..1000000000)");
    CHECK(error_of({"--set", "limits.max_source_pixels=1000000001"}) ==
          "--set limits.max_source_pixels: \"1000000001\" is out of range (allowed: integer 1..1000000000)");
    CHECK(error_of({"--set", "limits.max_source_dimension=65536"}) ==
          "--set limits.max_source_dimension: \"65536\" is out of range (allowed: integer 1..65535)");
    CHECK(error_of({"--set", "limits.max_output_dimension=32769"}) ==
          "--set limits.max_output_dimension: \"32769\" is out of range (allowed: integer 1..32768)");
    CHECK(error_of({"--set", "limits.max_output_dimension=0"}) ==
          "--set limits.max_output_dimension: \"0\" is out of range (allowed: integer 1..32768)");
    CHECK(error_of({"--set", "limits.max_source_dimension=big"}) ==
          "--set limits.max_source_dimension: \"big\" is not an integer (allowed: integer 1..65535)");
    CHECK_CONTAINS(error_of({}, {{"PIXELMILL_LIMITS_MAX_SOURCE_PIXELS", "-5"}}),
                   "PIXELMILL_LIMITS_MAX_SOURCE_PIXELS (limits.max_source_pixels): \"-5\" is out of range");
    CHECK_CONTAINS(error_of({}, {{"PIXELMILL_LIMITS_MAX_OUTPUT_DIMENSION", "99999999999999999999999"}}),
                   "(limits.max_output_dimension): \"99999999999999999999999\" is out of range");
    CHECK_CONTAINS(file_error("[limits]\nmax_source_pixels = \"100\"\n"),
                   "bad.toml:2: limits.max_source_pixels: \"100\" is a TOML string, not integer "
                   "(allowed: integer 1..1000000000)");
    CHECK_CONTAINS(file_error("[limits]\nmax_source_dimension = 1.5\n"),
                   "limits.max_source_dimension: 1.5 is a TOML floating-point");
    CHECK_CONTAINS(file_error("[limits]\nmax_output_dimension = 40000\n"),
                   "bad.toml:2: limits.max_output_dimension: \"40000\" is out of range (allowed: integer 1..32768)");
    CHECK_CONTAINS(file_error("[limits]\nmax_pixels = 1\n"),
                   "limits.max_pixels = 1: unknown key (allowed in [limits]: max_source_pixels, "
                   "max_source_dimension, max_output_dimension)");
  }
  SUBCASE("bad address") {
    CHECK_CONTAINS(error_of({"--set", "server.listen=999.1.1.1:80"}),
                   "--set server.listen: \"999.1.1.1:80\" has no valid IPv4 address");
  }
  SUBCASE("bad duration") {
    CHECK_CONTAINS(file_error("[runtime]\njob_deadline = \"5h\"\n"), "runtime.job_deadline: \"5h\" is not a duration");
  }
  SUBCASE("bad choice") {
    CHECK_CONTAINS(error_of({"--offload=bogus"}),
                   "--offload (runtime.offload): \"bogus\" is not a known choice (allowed: one of cpu_pool, io_pool, inline)");
    CHECK_CONTAINS(error_of({"--log-level", "INFO"}), "log.level): \"INFO\"");
    CHECK_CONTAINS(error_of({"--log-format", "xml"}), "log.format): \"xml\"");
  }
  SUBCASE("empty data_dir") {
    CHECK_CONTAINS(error_of({"--data-dir="}), "--data-dir (storage.data_dir): \"\" is empty");
  }
  SUBCASE("environment variables name themselves and the key") {
    CHECK_CONTAINS(error_of({}, {{"PIXELMILL_RUNTIME_IO_THREADS", "abc"}}),
                   "PIXELMILL_RUNTIME_IO_THREADS (runtime.io_threads): \"abc\" is not an integer");
    CHECK_CONTAINS(error_of({}, {{"PIXELMILL_RUNTIME_OFFLOAD", "bogus"}}),
                   "PIXELMILL_RUNTIME_OFFLOAD (runtime.offload): \"bogus\"");
  }
  SUBCASE("unknown flag") {
    CHECK(error_of({"--frobnicate", "3"}) == "--frobnicate: unknown flag (see --help)");
    CHECK_CONTAINS(error_of({"--frobnicate=3"}), "--frobnicate: unknown flag");
    CHECK_CONTAINS(error_of({"-x"}), "-x: unknown flag");
    CHECK_CONTAINS(error_of({"stray"}), "\"stray\": unexpected argument");
  }
  SUBCASE("missing flag value") {
    CHECK(error_of({"--io-threads"}) == "--io-threads: missing value (allowed: integer 0..64, 0 = auto)");
    CHECK_CONTAINS(error_of({"--listen", "--io-threads", "2"}), "--listen: missing value");
    CHECK_CONTAINS(error_of({"--config"}), "--config: missing value");
    CHECK_CONTAINS(error_of({"--set"}), "--set: missing value");
  }
  SUBCASE("--set with an unknown or malformed key") {
    CHECK_CONTAINS(error_of({"--set", "runtime.colour=red"}),
                   "--set runtime.colour = \"red\": unknown key (allowed in [runtime]: io_threads");
    CHECK_CONTAINS(error_of({"--set", "bogus.x=1"}), "--set bogus.x = \"1\": unknown section bogus");
    CHECK_CONTAINS(error_of({"--set", "io_threads=1"}), "--set: \"io_threads=1\" is not SECTION.KEY=VALUE");
    CHECK_CONTAINS(error_of({"--set", "runtime.io_threads"}), "\"runtime.io_threads\" is not SECTION.KEY=VALUE");
  }
  SUBCASE("unreadable or unparsable file") {
    const auto missing = (dir.path() / "missing.toml").string();
    CHECK_CONTAINS(error_of({"--config", missing}), "config file \"" + missing + "\": cannot read it");
    CHECK_CONTAINS(error_of({"--config", dir.path().string()}), "is a directory");
    const auto message = file_error("[runtime\nio_threads = 1\n");
    CHECK_CONTAINS(message, "bad.toml:1:");
    CHECK_CONTAINS(message, "not valid TOML");
  }
  SUBCASE("values are quoted so that a message stays on one line") {
    CHECK_CONTAINS(error_of({"--log-level", "a\nb\"c"}), "\"a\\x0ab\\\"c\"");
  }
}

TEST_CASE("config/pixelmill.toml documents every key with its default") {
  const auto file = std::filesystem::path(PIXELMILL_SOURCE_DIR) / "config" / "pixelmill.toml";
  const auto r = load({"--config", file.string()});
  check_same(r.settings, cfg::Settings{});

  // Every key help_text() lists must be an active `key = ...` line in its section.
  const auto text = read_file(file);
  std::istringstream help(cfg::help_text());
  int keys = 0;
  for (std::string line; std::getline(help, line);) {
    const auto dot = line.find('.');
    const auto eq = line.find(" = ");
    if (!line.starts_with("  ") || line.starts_with("   ") || dot == std::string::npos || eq == std::string::npos) {
      continue;
    }
    const auto section = line.substr(2, dot - 2);
    const auto key = line.substr(dot + 1, eq - dot - 1);
    const auto section_at = text.find("\n[" + section + "]\n");
    const auto key_at = text.find("\n" + key + " = ", section_at);
    const auto next_section = text.find("\n[", section_at + 1);
    CHECK_MESSAGE(section_at != std::string::npos, section);
    CHECK_MESSAGE((key_at != std::string::npos && key_at < next_section), (section + "." + key));
    ++keys;
  }
  CHECK(keys == 29);
}

TEST_CASE("resolve_auto fills the 0 = auto values from the core count") {
  const auto resolved = [](unsigned cores) { return cfg::resolve_auto(cfg::Settings{}, cores).runtime; };
  CHECK(resolved(1).io_threads == 1);
  CHECK(resolved(2).io_threads == 1);
  CHECK(resolved(3).io_threads == 2);
  CHECK(resolved(64).io_threads == 2);
  CHECK(resolved(8).cpu_threads == 8);
  CHECK(resolved(0).cpu_threads == 1);  // core count unknown
  CHECK(resolved(0).io_threads == 1);
  CHECK(resolved(8).cpu_queue_length == 32);

  cfg::Settings explicit_values;
  explicit_values.runtime.io_threads = 5;
  explicit_values.runtime.cpu_threads = 3;
  explicit_values.runtime.cpu_queue_length = 7;
  const auto kept = cfg::resolve_auto(explicit_values, 16).runtime;
  CHECK(kept.io_threads == 5);
  CHECK(kept.cpu_threads == 3);
  CHECK(kept.cpu_queue_length == 7);

  explicit_values.runtime.cpu_queue_length = 0;
  CHECK(cfg::resolve_auto(explicit_values, 16).runtime.cpu_queue_length == 12);  // 4 x the set 3
}

TEST_CASE("--help and --version") {
  CHECK(load({"--help"}).action == cfg::Action::help);
  CHECK(load({"-h"}).action == cfg::Action::help);
  CHECK(load({"--version"}).action == cfg::Action::version);
  CHECK(load({"-V"}).action == cfg::Action::version);
  // Asking for help never fails on the settings it would have read.
  CHECK(load({"--io-threads", "1", "--help", "--bogus"}, {{"PIXELMILL_RUNTIME_IO_THREADS", "abc"}}).action ==
        cfg::Action::help);
  CHECK(load({"--config", "/nonexistent.toml", "-V"}).action == cfg::Action::version);
  CHECK_CONTAINS(error_of({"--help=yes"}), "--help: takes no value");

  // The project version, "MAJOR.MINOR.PATCH".
  const auto v = cfg::version();
  CHECK(std::count(v.begin(), v.end(), '.') == 2);
  CHECK(v.find_first_not_of("0123456789.") == std::string_view::npos);

  const auto help = cfg::help_text();
  for (const std::string flag :
       {"--help", "-h", "--version", "-V", "--config FILE", "--listen ADDR:PORT", "--io-threads N",
        "--cpu-threads N", "--cpu-queue-length N", "--offload ", "--data-dir DIR", "--log-level ",
        "--log-format ", "--max-connections N", "--drain-timeout ", "--stall-threshold ",
        "--set SECTION.KEY=VALUE", "PIXELMILL_"}) {
    CHECK_CONTAINS(help, flag);
  }
  CHECK_CONTAINS(help, "runtime.heartbeat_period = 10ms");  // keys without a flag, with defaults
  CHECK_CONTAINS(help, "allowed: integer 0..64, 0 = auto");
  CHECK_CONTAINS(help, "limits.max_source_pixels = 50000000");
  CHECK_CONTAINS(help, "limits.max_source_dimension = 32768");
  CHECK_CONTAINS(help, "limits.max_output_dimension = 8192");
  CHECK_CONTAINS(help, "storage.cache_max_bytes = 1073741824");
  CHECK_CONTAINS(help, "allowed: integer 0..1099511627776, up to 1 TiB, 0 = cache disabled");
}

TEST_CASE("load_from_process reads argv and the real environment") {
  // Sets a variable for one scope only, so other tests see an unchanged environment.
  struct ScopedEnv {
    std::string name;
    ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
    ~ScopedEnv() { ::unsetenv(name.c_str()); }
  };
  std::vector<std::string> args = {"pixelmill", "--cpu-threads", "3"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(args.size());

  SUBCASE("flags and variables") {
    const ScopedEnv env("PIXELMILL_RUNTIME_IO_THREADS", "4");
    const ScopedEnv unrelated("PIXELMILL_SOMETHING_ELSE", "x");  // not PIXELMILL_<SECTION>_: ignored
    const auto s = cfg::load_from_process(argc, argv.data()).settings;
    CHECK(s.runtime.cpu_threads == 3);
    CHECK(s.runtime.io_threads == 4);
  }
  SUBCASE("an unknown PIXELMILL_<SECTION>_ variable is an error") {
    const ScopedEnv env("PIXELMILL_RUNTIME_IOTHREADS", "4");
    try {
      cfg::load_from_process(argc, argv.data());
      FAIL_CHECK("no ConfigError");
    } catch (const cfg::ConfigError& e) {
      const std::string message = e.what();
      CHECK_CONTAINS(message, "PIXELMILL_RUNTIME_IOTHREADS = \"4\": no such setting runtime.iothreads");
      CHECK_CONTAINS(message, "(allowed in [runtime]: io_threads");
    }
  }
  SUBCASE("PIXELMILL_CONFIG names the file") {
    TempDir dir;
    const ScopedEnv env("PIXELMILL_CONFIG", dir.write("p.toml", "[runtime]\ncpu_threads = 2\nio_threads = 2\n"));
    const auto s = cfg::load_from_process(argc, argv.data()).settings;
    CHECK(s.runtime.io_threads == 2);
    CHECK(s.runtime.cpu_threads == 3);  // the flag still wins
  }
}

TEST_CASE("server.playground is a boolean in every source") {
  TempDir dir;
  CHECK(load({}).settings.server.playground);
  CHECK_FALSE(load({"--set", "server.playground=false"}).settings.server.playground);
  CHECK_FALSE(load({}, {{"PIXELMILL_SERVER_PLAYGROUND", "false"}}).settings.server.playground);
  CHECK_CONTAINS(error_of({}, {{"PIXELMILL_SERVER_PLAYGROUND", "yes"}}),
                 "PIXELMILL_SERVER_PLAYGROUND (server.playground): \"yes\" is not a boolean (allowed: true or false)");
  CHECK_CONTAINS(error_of({"--config", dir.write("bad.toml", "[server]\nplayground = \"false\"\n")}),
                 "bad.toml:2: server.playground: \"false\" is a TOML string, not boolean (allowed: true or false)");
}

TEST_CASE("auth keys are lists: TOML arrays, comma-separated in the environment and --set") {
  TempDir dir;
  const std::vector<std::string> two = {"first-key-0123456789", "second-key-0123456789"};
  const auto toml = dir.write("a.toml", "[auth]\napi_keys = [\"first-key-0123456789\", \"second-key-0123456789\"]\n");
  CHECK(load({"--config", toml}).settings.auth.api_keys == two);
  CHECK(load({}, {{"PIXELMILL_AUTH_API_KEYS", "first-key-0123456789,second-key-0123456789"}}).settings.auth.api_keys ==
        two);
  CHECK(load({"--set", "auth.signing_keys=first-key-0123456789,second-key-0123456789"}).settings.auth.signing_keys ==
        two);
  // An empty value clears a list set by a lower layer.
  CHECK(load({"--config", toml, "--set", "auth.api_keys="}).settings.auth.api_keys.empty());
  CHECK(load({"--config", dir.write("e.toml", "[auth]\napi_keys = []\n")}).settings.auth.api_keys.empty());
  CHECK_FALSE(load({}).settings.auth.sign_urls);
  CHECK(load({}).settings.auth.api_keys.empty());
}

TEST_CASE("auth key errors never echo a key") {
  TempDir dir;
  const std::string secret = "s3cr3t-value-that-must-not-leak";
  const auto check_hidden = [&](const std::string& message) {
    CHECK_MESSAGE(message.find(secret) == std::string::npos, message);
    CHECK_MESSAGE(message.find("s3cr3t") == std::string::npos, message);
  };
  SUBCASE("a short key, named by position") {
    const auto message = error_of({"--set", "auth.api_keys=" + secret + ",short"});
    CHECK(message ==
          "--set auth.api_keys: (value hidden) key 2 is shorter than 16 (allowed: comma-separated keys (TOML: an "
          "array of strings), each 16+ characters from A-Z a-z 0-9 - . _ ~ + / =)");
  }
  SUBCASE("an empty key and a bad character") {
    check_hidden(error_of({}, {{"PIXELMILL_AUTH_SIGNING_KEYS", secret + ",,"}}));
    CHECK_CONTAINS(error_of({}, {{"PIXELMILL_AUTH_SIGNING_KEYS", secret + ",,"}}), "key 2 is empty");
    const auto message = error_of({"--set", "auth.api_keys=" + secret + " x"});
    check_hidden(message);
    CHECK_CONTAINS(message, "key 1 has a character not allowed");
  }
  SUBCASE("a string instead of an array, an element with a comma") {
    auto message = error_of({"--config", dir.write("s.toml", "[auth]\napi_keys = \"" + secret + "\"\n")});
    check_hidden(message);
    CHECK_CONTAINS(message, "s.toml:2: auth.api_keys: (value hidden) is a TOML string, not array of strings");
    message = error_of({"--config", dir.write("c.toml", "[auth]\napi_keys = [\"" + secret + ",x\"]\n")});
    check_hidden(message);
    CHECK_CONTAINS(message, "not array of strings");
  }
  SUBCASE("a mistyped key in [auth]") {
    auto message = error_of({"--set", "auth.api_key=" + secret});
    check_hidden(message);
    CHECK_CONTAINS(message, "--set auth.api_key = (value hidden): unknown key (allowed in [auth]: api_keys, sign_urls, "
                            "signing_keys)");
    message = error_of({"--config", dir.write("t.toml", "[auth]\napikeys = [\"" + secret + "\"]\n")});
    check_hidden(message);
    CHECK_CONTAINS(message, "unknown key");
  }
  SUBCASE("--help shows no key") {
    CHECK_CONTAINS(cfg::help_text(), "auth.api_keys = []");
    CHECK_CONTAINS(cfg::help_text(), "auth.sign_urls = false");
    CHECK_CONTAINS(cfg::help_text(), "metrics.listen = \"\"");
  }
}

TEST_CASE("auth.sign_urls needs a signing key") {
  CHECK(error_of({"--set", "auth.sign_urls=true"}) ==
        "auth.sign_urls: true needs at least one key in auth.signing_keys");
  const auto s = load({"--set", "auth.sign_urls=true", "--set", "auth.signing_keys=sign-key-0123456789"}).settings;
  CHECK(s.auth.sign_urls);
  CHECK(s.auth.signing_keys == std::vector<std::string>{"sign-key-0123456789"});
}

TEST_CASE("metrics.listen is empty or an address") {
  CHECK(load({}).settings.metrics.address.empty());
  const auto s = load({"--metrics-listen", "[::1]:0"}).settings;
  CHECK(s.metrics.address == "::1");
  CHECK(s.metrics.port == 0);
  CHECK(load({"--metrics-listen=127.0.0.1:9100", "--set", "metrics.listen="}).settings.metrics.address.empty());
  CHECK_CONTAINS(error_of({}, {{"PIXELMILL_METRICS_LISTEN", "localhost:9100"}}),
                 "PIXELMILL_METRICS_LISTEN (metrics.listen): \"localhost:9100\" has no valid IPv4 address");
}
