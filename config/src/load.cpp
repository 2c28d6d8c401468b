// Settings from defaults < TOML file < environment < flags.
// One table of key descriptors (keys() below) drives every source and --help, so
// each key's name, syntax, range and help text are written exactly once.

#include "pixelmill/config/load.hpp"
#include "pixelmill/config/quote.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <toml++/toml.h>

extern char** environ;  // POSIX: the process environment, to spot unknown variables

namespace pixelmill::config {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

constexpr std::string_view env_prefix = "PIXELMILL_";
constexpr std::string_view config_env = "PIXELMILL_CONFIG";

// ---- text helpers -----------------------------------------------------------

// Collapses line breaks, for texts that come from elsewhere (toml++ messages).
std::string one_line(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// ---- value parsers: each throws InvalidValue, the caller adds key and source ----

struct InvalidValue {
  std::string reason;  // completes `"value" ...`, e.g. "is not an integer"
};

[[noreturn]] void invalid(std::string reason) { throw InvalidValue{std::move(reason)}; }

std::int64_t parse_integer(std::string_view text, std::int64_t lo, std::int64_t hi) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec == std::errc::result_out_of_range) invalid("is out of range");
  if (ec != std::errc{} || ptr != end) invalid("is not an integer");
  if (value < lo || value > hi) invalid("is out of range");
  return value;
}

struct DurationUnit {
  std::string_view suffix;
  milliseconds size;
};
// Largest first: format_duration picks the first unit that divides exactly.
constexpr DurationUnit duration_units[] = {{"m", 1min}, {"s", 1s}, {"ms", 1ms}};

milliseconds parse_duration(std::string_view text, milliseconds lo, milliseconds hi) {
  const auto digits_end = std::min(text.find_first_not_of("0123456789"), text.size());
  const auto amount_text = text.substr(0, digits_end);
  const auto suffix = text.substr(digits_end);
  const auto unit = std::find_if(std::begin(duration_units), std::end(duration_units),
                                 [&](const DurationUnit& u) { return u.suffix == suffix; });
  if (amount_text.empty() || unit == std::end(duration_units)) {
    invalid("is not a duration");
  }
  std::int64_t amount = 0;
  const auto [ptr, ec] = std::from_chars(amount_text.data(), amount_text.data() + amount_text.size(), amount);
  // Anything this large is out of every range; checking first avoids overflow.
  if (ec != std::errc{} || amount > hi.count() / unit->size.count()) invalid("is out of range");
  const milliseconds value = amount * unit->size;
  if (value < lo) invalid("is out of range");
  return value;
}

std::string format_duration(milliseconds value) {
  for (const auto& unit : duration_units) {
    if (value.count() % unit.size.count() == 0 && (value.count() != 0 || unit.size == 1ms)) {
      return std::to_string(value.count() / unit.size.count()) + std::string(unit.suffix);
    }
  }
  return std::to_string(value.count()) + "ms";
}

bool is_ip(int family, std::string_view text) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(family, std::string(text).c_str(), buffer) == 1;
}

std::uint16_t parse_port(std::string_view text) {
  unsigned port = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty() || port > 65535) {
    invalid("has no valid port (0..65535)");
  }
  return static_cast<std::uint16_t>(port);
}

struct Endpoint {
  std::string address;
  std::uint16_t port = 0;
};

// "A.B.C.D:PORT" or "[IPV6]:PORT"; addresses must be literal IPs, so binding never
// depends on name resolution.
Endpoint parse_listen(std::string_view text) {
  if (text.starts_with('[')) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) invalid("is not [ADDR]:PORT");
    const auto address = text.substr(1, close - 1);
    if (!is_ip(AF_INET6, address)) invalid("has no valid IPv6 address");
    return {std::string(address), parse_port(text.substr(close + 2))};
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) invalid("is not ADDR:PORT");
  const auto address = text.substr(0, colon);
  if (address.find(':') != std::string_view::npos) invalid("is not ADDR:PORT (IPv6 needs [ADDR]:PORT)");
  if (!is_ip(AF_INET, address)) invalid("has no valid IPv4 address");
  return {std::string(address), parse_port(text.substr(colon + 1))};
}

std::string format_listen(const std::string& address, std::uint16_t port) {
  const bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// Access keys: at least this long, from the characters an HTTP Bearer token
// (RFC 6750 b64token) may hold, so any key can be sent as it is written.
constexpr std::size_t min_secret_length = 16;
constexpr std::string_view secret_chars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=";

// "k1,k2" -> {"k1", "k2"}; "" -> {}. Reasons name the key by position, never by
// value: the value is a secret.
std::vector<std::string> parse_secret_list(std::string_view text) {
  std::vector<std::string> out;
  for (std::size_t start = 0; !text.empty() && start <= text.size();) {
    const auto end = std::min(text.find(',', start), text.size());
    const auto item = text.substr(start, end - start);
    const auto which = "key " + std::to_string(out.size() + 1);
    if (item.empty()) invalid(which + " is empty");
    if (item.size() < min_secret_length) invalid(which + " is shorter than " + std::to_string(min_secret_length));
    if (item.find_first_not_of(secret_chars) != std::string_view::npos) invalid(which + " has a character not allowed");
    out.emplace_back(item);
    start = end + 1;
  }
  return out;
}

// ---- the key table ----------------------------------------------------------

enum class TomlType { integer, boolean, string, string_list };

std::string_view toml_type_name(TomlType type) {
  switch (type) {
    case TomlType::integer: return "integer";
    case TomlType::boolean: return "boolean";
    case TomlType::string_list: return "array of strings";
    case TomlType::string: break;
  }
  return "string";
}

struct KeyDescriptor {
  std::string_view section;
  std::string_view key;
  std::string_view flag;  // "" when only --set reaches the key
  std::string_view help;
  std::string metavar;    // placeholder after the flag in --help
  std::string allowed;    // what is accepted, for errors and --help
  TomlType toml_type = TomlType::string;
  std::function<void(Settings&, std::string_view)> set;  // throws InvalidValue
  std::function<std::string(const Settings&)> show;      // in the syntax set() reads
  bool secret = false;    // its values are never echoed in messages

  std::string name() const { return std::string(section) + "." + std::string(key); }
  std::string env_name() const {
    return std::string(env_prefix) + upper(section) + "_" + upper(key);
  }
};

// The parts every row spells out by hand.
struct Names {
  std::string_view section, key, flag, help;
};

// Typed access to one member of one section of Settings.
template <class Section, class T>
struct Field {
  Section Settings::*section;
  T Section::*member;
  T& operator()(Settings& s) const { return (s.*section).*member; }
  const T& operator()(const Settings& s) const { return (s.*section).*member; }
};

// A descriptor without its set/show functions, which the typed makers below add.
KeyDescriptor describe(Names n, std::string metavar, std::string allowed, TomlType type) {
  return {n.section, n.key, n.flag, n.help, std::move(metavar), std::move(allowed), type, {}, {}, false};
}

template <class Section, class T>
KeyDescriptor integer_key(Names n, Field<Section, T> field, std::int64_t lo, std::int64_t hi,
                          std::string_view note = {}) {
  auto allowed = "integer " + std::to_string(lo) + ".." + std::to_string(hi);
  if (!note.empty()) allowed += ", " + std::string(note);
  auto k = describe(n, "N", allowed, TomlType::integer);
  k.set = [=](Settings& s, std::string_view v) { field(s) = static_cast<T>(parse_integer(v, lo, hi)); };
  k.show = [=](const Settings& s) { return std::to_string(field(s)); };
  return k;
}

// TOML true/false; environment and flags spell it true/false (no 1/0, yes/no: one
// spelling per value keeps files, variables and flags greppable).
template <class Section>
KeyDescriptor bool_key(Names n, Field<Section, bool> field) {
  auto k = describe(n, "true|false", "true or false", TomlType::boolean);
  k.set = [=](Settings& s, std::string_view v) {
    if (v != "true" && v != "false") invalid("is not a boolean");
    field(s) = v == "true";
  };
  k.show = [=](const Settings& s) { return std::string(field(s) ? "true" : "false"); };
  return k;
}

template <class Section>
KeyDescriptor duration_key(Names n, Field<Section, milliseconds> field, milliseconds lo,
                           milliseconds hi) {
  auto allowed = "duration " + format_duration(lo) + ".." + format_duration(hi) +
                 ", an integer with unit ms, s or m";
  auto k = describe(n, "DURATION", allowed, TomlType::string);
  k.set = [=](Settings& s, std::string_view v) { field(s) = parse_duration(v, lo, hi); };
  k.show = [=](const Settings& s) { return format_duration(field(s)); };
  return k;
}

template <class T>
struct Choice {
  std::string_view name;
  T value;
};

template <class Section, class T>
KeyDescriptor choice_key(Names n, Field<Section, T> field, std::vector<Choice<T>> choices) {
  std::vector<std::string> names;
  for (const auto& c : choices) names.emplace_back(c.name);
  auto k = describe(n, join(names, "|"), "one of " + join(names, ", "), TomlType::string);
  k.set = [=](Settings& s, std::string_view v) {
    const auto it = std::find_if(choices.begin(), choices.end(), [&](const auto& c) { return c.name == v; });
    if (it == choices.end()) invalid("is not a known choice");
    field(s) = it->value;
  };
  k.show = [=](const Settings& s) {
    const auto it = std::find_if(choices.begin(), choices.end(), [&](const auto& c) { return c.value == field(s); });
    return it == choices.end() ? std::string("?") : std::string(it->name);
  };
  return k;
}

KeyDescriptor listen_key(Names n) {
  auto k = describe(n, "ADDR:PORT", "IPV4:PORT or [IPV6]:PORT, port 0..65535, 0 = any free port",
                    TomlType::string);
  k.set = [](Settings& s, std::string_view v) {
    auto endpoint = parse_listen(v);
    s.server.address = std::move(endpoint.address);
    s.server.port = endpoint.port;
  };
  k.show = [](const Settings& s) { return format_listen(s.server.address, s.server.port); };
  return k;
}

// Like listen_key, plus "" for "no such listener".
KeyDescriptor optional_listen_key(Names n) {
  auto k = describe(n, "ADDR:PORT", "\"\" (none) or IPV4:PORT or [IPV6]:PORT, port 0..65535", TomlType::string);
  k.set = [](Settings& s, std::string_view v) {
    auto endpoint = v.empty() ? Endpoint{} : parse_listen(v);
    s.metrics.address = std::move(endpoint.address);
    s.metrics.port = endpoint.port;
  };
  k.show = [](const Settings& s) {
    return s.metrics.address.empty() ? std::string("\"\"") : format_listen(s.metrics.address, s.metrics.port);
  };
  return k;
}

KeyDescriptor secret_list_key(Names n, Field<AuthSettings, std::vector<std::string>> field) {
  auto k = describe(n, "KEY[,KEY...]",
                    "comma-separated keys (TOML: an array of strings), each " + std::to_string(min_secret_length) +
                        "+ characters from A-Z a-z 0-9 - . _ ~ + / =",
                    TomlType::string_list);
  k.set = [=](Settings& s, std::string_view v) { field(s) = parse_secret_list(v); };
  // Only --help shows values, and only defaults; the count is all it ever needs.
  k.show = [=](const Settings& s) {
    return field(s).empty() ? std::string("[]") : "[" + std::to_string(field(s).size()) + " hidden]";
  };
  k.secret = true;
  return k;
}

KeyDescriptor path_key(Names n, Field<StorageSettings, std::filesystem::path> field) {
  auto k = describe(n, "DIR", "a non-empty path", TomlType::string);
  k.set = [=](Settings& s, std::string_view v) {
    if (v.empty()) invalid("is empty");
    field(s) = std::filesystem::path(v);
  };
  k.show = [=](const Settings& s) { return field(s).string(); };
  return k;
}

std::vector<KeyDescriptor> make_keys() {
  using S = Settings;
  using Srv = ServerSettings;
  using Rt = RuntimeSettings;
  using Lim = LimitsSettings;
  using Auth = AuthSettings;
  const std::vector<Choice<OffloadMode>> offload_modes = {
      {"cpu_pool", OffloadMode::cpu_pool}, {"io_pool", OffloadMode::io_pool}, {"inline", OffloadMode::inline_}};
  std::vector<Choice<std::string>> levels;
  for (std::string_view l : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    levels.push_back({l, std::string(l)});
  }
  const std::vector<Choice<LogFormat>> formats = {{"text", LogFormat::text}, {"json", LogFormat::json}};
  return {
      listen_key({"server", "listen", "--listen", "address and port to accept connections on"}),
      integer_key({"server", "max_connections", "--max-connections", "most connections open at once"},
                  Field{&S::server, &Srv::max_connections}, 1, 1'000'000),
      integer_key({"server", "max_header_bytes", "", "largest request line + headers, in bytes"},
                  Field{&S::server, &Srv::max_header_bytes}, 1024, 1'048'576),
      integer_key({"server", "max_body_bytes", "", "largest request body (upload), in bytes"},
                  Field{&S::server, &Srv::max_body_bytes}, 1, std::int64_t{4} << 30, "up to 4 GiB"),
      duration_key({"server", "header_timeout", "", "time a client has to send the request headers"},
                   Field{&S::server, &Srv::header_timeout}, 1ms, 24h),
      duration_key({"server", "body_timeout", "", "time a client has to send the request body"},
                   Field{&S::server, &Srv::body_timeout}, 1ms, 24h),
      duration_key({"server", "idle_timeout", "", "an idle keep-alive connection is closed after this"},
                   Field{&S::server, &Srv::idle_timeout}, 1ms, 24h),
      duration_key({"server", "drain_timeout", "--drain-timeout", "on shutdown, time in-flight requests get to finish"},
                   Field{&S::server, &Srv::drain_timeout}, 1ms, 24h),
      bool_key({"server", "playground", "", "serve the playground page at GET / (false: 404)"},
               Field{&S::server, &Srv::playground}),
      integer_key({"runtime", "io_threads", "--io-threads", "threads running the network event loops"},
                  Field{&S::runtime, &Rt::io_threads}, 0, 64, "0 = auto"),
      integer_key({"runtime", "io_rt_priority", "--io-rt-priority",
                   "real-time (SCHED_RR) priority of the I/O threads; needs CAP_SYS_NICE"},
                  Field{&S::runtime, &Rt::io_rt_priority}, 0, 99, "0 = off"),
      integer_key({"runtime", "cpu_threads", "--cpu-threads", "threads decoding, resizing and encoding images"},
                  Field{&S::runtime, &Rt::cpu_threads}, 0, 256, "0 = auto"),
      integer_key({"runtime", "cpu_queue_length", "--cpu-queue-length", "image jobs that may wait; beyond, 503"},
                  Field{&S::runtime, &Rt::cpu_queue_length}, 0, 100'000, "0 = auto"),
      choice_key({"runtime", "offload", "--offload", "where image work runs; only cpu_pool is for production"},
                 Field{&S::runtime, &Rt::offload}, offload_modes),
      duration_key({"runtime", "heartbeat_period", "", "how often each I/O thread checks its own lateness"},
                   Field{&S::runtime, &Rt::heartbeat_period}, 1ms, 10s),
      duration_key({"runtime", "stall_threshold", "--stall-threshold", "heartbeat lateness counted and logged as a stall"},
                   Field{&S::runtime, &Rt::stall_threshold}, 1ms, 60s),
      duration_key({"runtime", "job_deadline", "", "time limit of one image job; past it, 504"},
                   Field{&S::runtime, &Rt::job_deadline}, 1ms, 1h),
      bool_key({"runtime", "malloc_huge_pages", "--malloc-huge-pages",
                "back malloc's memory with transparent huge pages (the process re-executes itself "
                "once with GLIBC_TUNABLES=glibc.malloc.hugetlb=1)"},
               Field{&S::runtime, &Rt::malloc_huge_pages}),
      path_key({"storage", "data_dir", "--data-dir", "directory holding stored images and variants"},
               Field{&S::storage, &StorageSettings::data_dir}),
      integer_key({"storage", "cache_max_bytes", "", "disk space for cached variants, in bytes; LRU beyond"},
                  Field{&S::storage, &StorageSettings::cache_max_bytes}, 0, std::int64_t{1} << 40,
                  "up to 1 TiB, 0 = cache disabled"),
      choice_key({"log", "level", "--log-level", "least severe level logged"}, Field{&S::log, &LogSettings::level},
                 levels),
      choice_key({"log", "format", "--log-format", "log line format"}, Field{&S::log, &LogSettings::format},
                 formats),
      integer_key({"limits", "max_source_pixels", "",
                   "most pixels (width * height) of an uploaded image, read from its header before decoding"},
                  Field{&S::limits, &Lim::max_source_pixels}, 1, 1'000'000'000),
      integer_key({"limits", "max_source_dimension", "", "longest side of an uploaded image, in pixels"},
                  Field{&S::limits, &Lim::max_source_dimension}, 1, 65535),
      integer_key({"limits", "max_output_dimension", "", "largest output width or height a client may ask for"},
                  Field{&S::limits, &Lim::max_output_dimension}, 1, 32768),
      secret_list_key({"auth", "api_keys", "", "keys for POST and DELETE (Authorization: Bearer KEY); none: open"},
                      Field{&S::auth, &Auth::api_keys}),
      bool_key({"auth", "sign_urls", "", "GET of a resized variant needs a sig= HMAC-SHA256 signature"},
               Field{&S::auth, &Auth::sign_urls}),
      secret_list_key({"auth", "signing_keys", "", "URL signing keys: the first signs, every one verifies"},
                      Field{&S::auth, &Auth::signing_keys}),
      optional_listen_key({"metrics", "listen", "--metrics-listen",
                           "serve /metrics only on this second address (\"\": on server.listen)"}),
  };
}

const std::vector<KeyDescriptor>& keys() {
  static const auto table = make_keys();
  return table;
}

std::vector<std::string> sections() {
  std::vector<std::string> out;
  for (const auto& k : keys()) {
    if (std::find(out.begin(), out.end(), k.section) == out.end()) out.emplace_back(k.section);
  }
  return out;
}

bool is_section(std::string_view name) {
  const auto all = sections();
  return std::find(all.begin(), all.end(), name) != all.end();
}

std::string keys_in(std::string_view section) {
  std::vector<std::string> out;
  for (const auto& k : keys()) {
    if (k.section == section) out.emplace_back(k.key);
  }
  return join(out, ", ");
}

const KeyDescriptor* find_key(std::string_view section, std::string_view key) {
  for (const auto& k : keys()) {
    if (k.section == section && k.key == key) return &k;
  }
  return nullptr;
}

const KeyDescriptor* find_flag(std::string_view flag) {
  for (const auto& k : keys()) {
    if (!k.flag.empty() && k.flag == flag) return &k;
  }
  return nullptr;
}

// ---- applying values ----------------------------------------------------------

// `who` names the key as the user wrote it: "runtime.io_threads",
// "PIXELMILL_RUNTIME_IO_THREADS (runtime.io_threads)", "--io-threads (...)".
// A section holding secrets echoes no values at all, not even for a mistyped key:
// PIXELMILL_AUTH_API_KEY=... is most likely a real key.
bool secret_section(std::string_view section) {
  return std::any_of(keys().begin(), keys().end(), [&](const auto& k) { return k.secret && k.section == section; });
}

constexpr std::string_view hidden_value = "(value hidden)";

// A value as a message shows it.
std::string shown(std::string_view section, std::string_view value) {
  return secret_section(section) ? std::string(hidden_value) : quote(value);
}

void apply(const KeyDescriptor& k, Settings& s, std::string_view value, const std::string& who) {
  try {
    k.set(s, value);
  } catch (const InvalidValue& e) {
    throw ConfigError(who + ": " + shown(k.section, value) + " " + e.reason + " (allowed: " + k.allowed + ")");
  }
}

// Settings that are valid one by one but not together.
void check_combinations(const Settings& s) {
  if (s.auth.sign_urls && s.auth.signing_keys.empty()) {
    throw ConfigError("auth.sign_urls: true needs at least one key in auth.signing_keys");
  }
}

// `setting` is e.g. `storage.colour = "red"` or `--set storage.colour = "red"`.
[[noreturn]] void unknown_key(const std::string& setting, std::string_view section) {
  if (!is_section(section)) {
    throw ConfigError(setting + ": unknown section " + std::string(section) +
                      " (allowed: " + join(sections(), ", ") + ")");
  }
  throw ConfigError(setting + ": unknown key (allowed in [" + std::string(section) + "]: " + keys_in(section) + ")");
}

// ---- TOML file ----------------------------------------------------------------

std::string where(const std::filesystem::path& file, const toml::node& node) {
  return file.string() + ":" + std::to_string(node.source().begin.line) + ": ";
}

// A TOML value as it appears in a message.
std::string toml_value_text(std::string_view section, const toml::node& node) {
  if (secret_section(section)) return std::string(hidden_value);
  if (const auto* s = node.as_string()) return quote(s->get());
  std::ostringstream out;
  node.visit([&](const auto& value) { out << value; });
  return one_line(out.str());
}

// An array of strings as the comma-separated text a list key's parser reads; nullopt
// when an element is not a string or holds a ',' (which would split it in two).
std::optional<std::string> toml_list_text(const toml::node& node) {
  const auto* array = node.as_array();
  if (array == nullptr) return std::nullopt;
  std::vector<std::string> items;
  for (const auto& element : *array) {
    const auto* item = element.as_string();
    if (item == nullptr || item->get().find(',') != std::string::npos) return std::nullopt;
    items.push_back(item->get());
  }
  return join(items, ",");
}

// The text a key's parser reads, from a TOML value of the key's TOML type.
std::optional<std::string> toml_text(const toml::node& node, TomlType type) {
  if (type == TomlType::string_list) return toml_list_text(node);
  if (type == TomlType::integer) {
    if (const auto* v = node.as_integer()) return std::to_string(v->get());
  } else if (type == TomlType::boolean) {
    if (const auto* v = node.as_boolean()) return v->get() ? "true" : "false";
  } else if (const auto* v = node.as_string()) {
    return v->get();
  }
  return std::nullopt;
}

toml::table read_toml(const std::filesystem::path& file) {
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    throw ConfigError("config file " + quote(file.string()) + ": cannot read it (is a directory)");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw ConfigError("config file " + quote(file.string()) + ": cannot read it (" + std::strerror(errno) + ")");
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return toml::parse(text.str(), file.string());
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    throw ConfigError(file.string() + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                      ": not valid TOML: " + one_line(std::string(e.description())));
  }
}

void apply_toml_value(Settings& s, const std::filesystem::path& file, std::string_view section,
                      std::string_view key, const toml::node& node) {
  const auto at = where(file, node);
  const auto* k = find_key(section, key);
  const auto name = std::string(section) + "." + std::string(key);
  if (k == nullptr) unknown_key(at + name + " = " + toml_value_text(section, node), section);
  const auto text = toml_text(node, k->toml_type);
  if (!text) {
    std::ostringstream type;
    type << node.type();
    throw ConfigError(at + name + ": " + toml_value_text(section, node) + " is a TOML " + type.str() + ", not " +
                      std::string(toml_type_name(k->toml_type)) + " (allowed: " + k->allowed + ")");
  }
  apply(*k, s, *text, at + name);
}

// A table's entries in the order they appear in the file (toml++ sorts them by
// name), so that the first error reported is the first one in the file.
std::vector<std::pair<std::string_view, const toml::node*>> in_file_order(const toml::table& table) {
  std::vector<std::pair<std::string_view, const toml::node*>> entries;
  for (auto&& [key, node] : table) entries.emplace_back(key.str(), &node);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    const auto& pa = a.second->source().begin;
    const auto& pb = b.second->source().begin;
    return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
  });
  return entries;
}

void apply_file(Settings& s, const std::filesystem::path& file) {
  const toml::table root = read_toml(file);
  for (const auto& [section, node_ptr] : in_file_order(root)) {
    const toml::node& node = *node_ptr;
    const auto* table = node.as_table();
    if (!is_section(section)) {
      throw ConfigError(where(file, node) + std::string(section) + ": unknown section (allowed: " +
                        join(sections(), ", ") + ")");
    }
    if (table == nullptr) {
      throw ConfigError(where(file, node) + std::string(section) + ": " + toml_value_text(section, node) +
                        " is not a table (allowed: a [" + std::string(section) + "] section)");
    }
    for (const auto& [key, value] : in_file_order(*table)) apply_toml_value(s, file, section, key, *value);
  }
}

// ---- environment ----------------------------------------------------------------

void apply_env(Settings& s, const EnvLookup& env) {
  for (const auto& k : keys()) {
    const auto name = k.env_name();
    if (const auto value = env(name)) apply(k, s, *value, name + " (" + k.name() + ")");
  }
}

// The section a PIXELMILL_<SECTION>_... variable addresses, or "" when none.
std::string env_section(std::string_view name) {
  for (const auto& section : sections()) {
    if (name.starts_with(std::string(env_prefix) + upper(section) + "_")) return section;
  }
  return "";
}

// A PIXELMILL_<SECTION>_... variable that matches no key is most likely a typo;
// ignoring it would silently run without the setting the operator intended.
void reject_unknown_env(char** envp) {
  for (char** entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view text = *entry;
    const auto eq = std::min(text.find('='), text.size());
    const auto name = text.substr(0, eq);
    const auto section = env_section(name);
    if (section.empty() || name == config_env) continue;
    if (std::any_of(keys().begin(), keys().end(), [&](const auto& k) { return k.env_name() == name; })) continue;
    std::string key(name.substr(env_prefix.size() + section.size() + 1));
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    const auto value = eq < text.size() ? text.substr(eq + 1) : std::string_view{};
    throw ConfigError(std::string(name) + " = " + shown(section, value) + ": no such setting " + section + "." + key +
                      " (allowed in [" + section + "]: " + keys_in(section) + ")");
  }
}

// ---- command line -------------------------------------------------------------

struct FlagValue {
  const KeyDescriptor* key;
  std::string value;
  std::string who;  // for messages
};

struct ParsedArgs {
  Action action = Action::run;
  std::filesystem::path config_file;
  std::vector<FlagValue> values;  // applied in order, so the last one wins
};

// Reads the command line once, in order; i_ indexes the current argument.
class ArgReader {
 public:
  explicit ArgReader(std::span<const std::string_view> args) : args_(args) {}

  ParsedArgs read() {
    for (i_ = 0; i_ < args_.size() && parsed_.action == Action::run; ++i_) read_one(args_[i_]);
    return std::move(parsed_);
  }

 private:
  void read_one(std::string_view arg) {
    if (!arg.starts_with('-') || arg == "-") {
      throw ConfigError(quote(arg) + ": unexpected argument (settings are flags; see --help)");
    }
    const auto eq = arg.find('=');
    flag_ = arg.substr(0, eq);
    inline_value_.reset();
    if (eq != std::string_view::npos) inline_value_ = arg.substr(eq + 1);

    if (flag_ == "--help" || flag_ == "-h") return no_value(Action::help);
    if (flag_ == "--version" || flag_ == "-V") return no_value(Action::version);
    if (flag_ == "--config") return read_config();
    if (flag_ == "--set") return read_set();
    const auto* k = find_flag(flag_);
    if (k == nullptr) throw ConfigError(std::string(flag_) + ": unknown flag (see --help)");
    parsed_.values.push_back({k, std::string(value(k->allowed)), std::string(flag_) + " (" + k->name() + ")"});
  }

  void no_value(Action action) {
    if (inline_value_) throw ConfigError(std::string(flag_) + ": takes no value, got " + quote(*inline_value_));
    parsed_.action = action;
  }

  void read_config() {
    const auto file = value("path of a TOML file");
    if (file.empty()) throw ConfigError("--config: \"\" is not a file name (allowed: path of a TOML file)");
    parsed_.config_file = file;
  }

  // --set section.key=value reaches every key, including those without a flag.
  void read_set() {
    const auto setting = value("SECTION.KEY=VALUE");
    const auto eq = setting.find('=');
    const auto dot = setting.find('.');
    if (eq == std::string_view::npos || dot == std::string_view::npos || dot > eq) {
      throw ConfigError("--set: " + quote(setting) + " is not SECTION.KEY=VALUE (see --help for keys)");
    }
    const auto section = setting.substr(0, dot);
    const auto key = setting.substr(dot + 1, eq - dot - 1);
    const auto text = setting.substr(eq + 1);
    const auto* k = find_key(section, key);
    const auto name = "--set " + std::string(setting.substr(0, eq));
    if (k == nullptr) unknown_key(name + " = " + shown(section, text), section);
    parsed_.values.push_back({k, std::string(text), name});
  }

  // The flag's value: after '=' or the next argument, which must not be a flag.
  std::string_view value(std::string_view allowed) {
    if (inline_value_) return *inline_value_;
    if (i_ + 1 < args_.size() && !args_[i_ + 1].starts_with("--")) return args_[++i_];
    throw ConfigError(std::string(flag_) + ": missing value (allowed: " + std::string(allowed) + ")");
  }

  std::span<const std::string_view> args_;
  std::size_t i_ = 0;
  std::string_view flag_;
  std::optional<std::string_view> inline_value_;
  ParsedArgs parsed_;
};

// ---- help ----------------------------------------------------------------------

// "  LEFT   text", with text on its own line when LEFT is too wide.
void help_row(std::string& out, const std::string& left, std::string_view text) {
  constexpr std::size_t column = 30;
  out += "  " + left;
  if (left.size() + 2 < column) {
    out += std::string(column - left.size() - 2, ' ');
  } else {
    out += "\n" + std::string(column, ' ');
  }
  out += std::string(text) + "\n";
}

}  // namespace

LoadResult load(std::span<const std::string_view> args, const EnvLookup& env) {
  auto parsed = ArgReader(args).read();
  LoadResult result;
  result.action = parsed.action;
  if (result.action != Action::run) return result;  // help and version read nothing else

  result.config_file = parsed.config_file;
  if (result.config_file.empty()) {
    if (const auto from_env = env(std::string(config_env)); from_env && !from_env->empty()) {
      result.config_file = *from_env;
    }
  }
  if (!result.config_file.empty()) apply_file(result.settings, result.config_file);
  apply_env(result.settings, env);
  for (const auto& f : parsed.values) apply(*f.key, result.settings, f.value, f.who);
  check_combinations(result.settings);
  return result;
}

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
  };
}

LoadResult load_from_process(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + std::min(argc, 1), argv + argc);
  auto result = load(args, process_env());
  // load() can only look variables up, not list them: the scan for typos is here.
  if (result.action == Action::run) reject_unknown_env(environ);
  return result;
}

std::string help_text() {
  std::string out =
      "Usage: pixelmill [FLAGS]\n"
      "\n"
      "An HTTP image service. Settings come from, lowest precedence first: built-in\n"
      "defaults, a TOML file (--config or PIXELMILL_CONFIG), environment variables\n"
      "PIXELMILL_<SECTION>_<KEY> (e.g. PIXELMILL_RUNTIME_IO_THREADS) and flags.\n"
      "Flags take --flag VALUE or --flag=VALUE.\n"
      "\n"
      "Flags:\n";
  help_row(out, "-h, --help", "print this help and exit");
  help_row(out, "-V, --version", "print the version and exit");
  help_row(out, "--config FILE", "read settings from a TOML file (see config/pixelmill.toml)");
  for (const auto& k : keys()) {
    if (!k.flag.empty()) help_row(out, std::string(k.flag) + " " + k.metavar, std::string(k.help) + " [" + k.name() + "]");
  }
  help_row(out, "--set SECTION.KEY=VALUE", "sets any key below");
  out += "\nKeys, with defaults (TOML: [section] key; environment: PIXELMILL_SECTION_KEY):\n";
  const Settings defaults;
  for (const auto& k : keys()) {
    out += "  " + k.name() + " = " + k.show(defaults) + "\n";
    out += "      " + std::string(k.help) + "\n";
    out += "      allowed: " + k.allowed + "\n";
  }
  return out;
}

std::string_view version() { return PIXELMILL_VERSION; }

}  // namespace pixelmill::config
