#include "pixelmill/storage/image_store.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "meta_json.hpp"
#include "pixelmill/storage/storage_error.hpp"
#include "posix_io.hpp"

namespace pixelmill::storage {

namespace fs = std::filesystem;
using detail::UniqueFd;

namespace {

std::string meta_name(const ImageId& id) { return id.str() + ".json"; }

void throw_fs(std::string_view operation, const fs::path& path, const std::error_code& ec) {
  // std::filesystem reports OS errors in the generic/system category: the value is errno.
  detail::throw_errno(operation, path, ec.value() != 0 ? ec.value() : EIO);
}

bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

unsigned hex_value(char c) { return c <= '9' ? unsigned(c - '0') : unsigned(c - 'a' + 10); }

bool is_hex_pair(const std::string& s) { return s.size() == 2 && is_hex_digit(s[0]) && is_hex_digit(s[1]); }

// Originals under root/originals/ab/cd whose name is a valid id in its own shard.
std::size_t scan_originals(const fs::path& originals) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::directory_iterator l1(originals, ec), end; !ec && l1 != end; l1.increment(ec)) {
    const std::string ab = l1->path().filename().string();
    if (!is_hex_pair(ab) || !l1->is_directory(ec)) continue;
    for (fs::directory_iterator l2(l1->path(), ec); !ec && l2 != end; l2.increment(ec)) {
      const std::string cd = l2->path().filename().string();
      if (!is_hex_pair(cd) || !l2->is_directory(ec)) continue;
      for (fs::directory_iterator f(l2->path(), ec); !ec && f != end; f.increment(ec)) {
        const std::string name = f->path().filename().string();
        const auto id = parse_image_id(name);
        if (id && name.compare(0, 2, ab) == 0 && name.compare(2, 2, cd) == 0 && f->is_regular_file(ec)) ++n;
      }
      if (ec) throw_fs("scan", l2->path(), ec);
    }
    if (ec) throw_fs("scan", l1->path(), ec);
  }
  if (ec) throw_fs("scan", originals, ec);
  return n;
}

// Writes, fsyncs and removes a temp file, the way put() will: a read-only mount,
// wrong owner or full disk shows up at start, with the path and the errno.
void prove_writable(const fs::path& dir) {
  UniqueFd dirfd = detail::open_dir(dir);
  const std::array<std::uint8_t, 1> probe{0};
  const std::string tmp = detail::write_temp_file(dirfd.get(), dir, probe);
  detail::unlink_quietly(dirfd.get(), tmp);
}

}  // namespace

ImageStore::ImageStore(fs::path root) : root_(std::move(root)), originals_(root_ / "originals") {
  std::error_code ec;
  fs::create_directories(originals_, ec);
  if (ec) throw_fs("create folder", originals_, ec);
  prove_writable(originals_);
  count_.store(scan_originals(originals_), std::memory_order_relaxed);
}

fs::path ImageStore::shard_dir(const ImageId& id) const {
  const std::string& hex = id.str();
  return originals_ / hex.substr(0, 2) / hex.substr(2, 2);
}

std::mutex& ImageStore::stripe(const ImageId& id) {
  // The id is a uniformly distributed hash already: its leading bytes pick the stripe.
  const std::string& hex = id.str();
  return stripes_[(hex_value(hex[4]) << 4 | hex_value(hex[5])) % kStripes];
}

PutResult ImageStore::put(std::span<const std::uint8_t> bytes, const StoredMeta& meta) {
  try {
    PutResult result = put_durably(bytes, meta);
    full_.store(false, std::memory_order_relaxed);
    return result;
  } catch (const StorageError& e) {
    if (e.no_space()) full_.store(true, std::memory_order_relaxed);
    throw;
  }
}

bool ImageStore::recheck_full(std::uintmax_t needed) {
  if (!full()) return false;
  std::error_code ec;
  const auto space = fs::space(originals_, ec);
  if (!ec && space.available >= needed) full_.store(false, std::memory_order_relaxed);
  return full();
}

PutResult ImageStore::put_durably(std::span<const std::uint8_t> bytes, const StoredMeta& meta) {
  if (meta.bytes != bytes.size()) {
    throw std::invalid_argument("ImageStore::put: meta.bytes (" + std::to_string(meta.bytes) +
                                ") differs from the size of the bytes (" + std::to_string(bytes.size()) + ")");
  }
  ImageId id = compute_image_id(bytes);
  const std::shared_lock writers(writers_);
  const std::lock_guard lock(stripe(id));

  const fs::path dir = shard_dir(id);
  detail::make_dir_durable(dir.parent_path());
  detail::make_dir_durable(dir);
  UniqueFd dirfd = detail::open_dir(dir);
  const std::string image_name = id.str();
  const std::string json_name = meta_name(id);
  const std::string json = detail::meta_to_json(meta);
  const std::span<const std::uint8_t> json_bytes(reinterpret_cast<const std::uint8_t*>(json.data()), json.size());

  // Commits the metadata: temp file, fsync, rename over <id>.json, fsync the folder.
  auto commit_meta = [&] {
    const std::string tmp = detail::write_temp_file(dirfd.get(), dir, json_bytes);
    try {
      detail::rename_replace(dirfd.get(), tmp, json_name, dir);
    } catch (...) {
      detail::unlink_quietly(dirfd.get(), tmp);
      throw;
    }
    detail::fsync_fd(dirfd.get(), dir);
  };

  if (detail::file_size(dir / image_name)) {
    // Already stored: nothing is rewritten. (Only repair metadata lost outside our
    // protocol, so that the image stays readable.)
    if (!detail::file_size(dir / json_name)) commit_meta();
    return {std::move(id), false};
  }

  // Image bytes first (the slow part), then metadata committed, then the image made
  // visible: a visible image always has its metadata.
  const std::string image_tmp = detail::write_temp_file(dirfd.get(), dir, bytes);
  bool created = false;
  try {
    commit_meta();
    created = detail::rename_noreplace(dirfd.get(), image_tmp, image_name, dir);
  } catch (...) {
    detail::unlink_quietly(dirfd.get(), image_tmp);
    throw;
  }
  if (!created) {
    // Another process stored the same bytes first: its file is complete; drop ours.
    detail::unlink_quietly(dirfd.get(), image_tmp);
    return {std::move(id), false};
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  detail::fsync_fd(dirfd.get(), dir);
  return {std::move(id), true};
}

std::optional<StoredMeta> ImageStore::load_meta(const ImageId& id) const {
  const fs::path dir = shard_dir(id);
  const fs::path json_path = dir / meta_name(id);
  std::optional<std::vector<std::uint8_t>> text;
  for (int look = 0; look < 2 && !text; ++look) {
    text = detail::read_file(json_path);
    // No metadata and no image: not stored (an orphaned .json without its image, left
    // by a crash during remove, is never read without the image either).
    if (!text && !detail::file_size(dir / id.str())) return std::nullopt;
    // No metadata but an image: a put may have committed both between our two looks
    // (metadata first, then image), so look once more before calling it damage.
  }
  if (!text) throw StorageError("integrity: " + (dir / id.str()).string() + " has no metadata", EIO);
  auto meta = detail::meta_from_json(std::string_view(reinterpret_cast<const char*>(text->data()), text->size()));
  if (!meta) throw StorageError("integrity: unreadable metadata in " + json_path.string(), EIO);
  return meta;
}

std::optional<StoredImage> ImageStore::get(const ImageId& id) const {
  // Metadata first, then the image: put commits them in that order and remove deletes
  // them in the reverse one, so a concurrent put or remove yields nullopt, never an error.
  auto meta = load_meta(id);
  if (!meta) return std::nullopt;
  auto bytes = detail::read_file(shard_dir(id) / id.str(), meta->bytes);
  if (!bytes) return std::nullopt;
  return StoredImage{std::move(*bytes), std::move(*meta)};
}

std::optional<StoredMeta> ImageStore::meta(const ImageId& id) const {
  auto meta = load_meta(id);
  if (!meta) return std::nullopt;
  const fs::path image_path = shard_dir(id) / id.str();
  const auto size = detail::file_size(image_path);
  if (!size) return std::nullopt;
  if (*size != meta->bytes) {
    throw StorageError("integrity: " + image_path.string() + " has " + std::to_string(*size) +
                           " bytes, metadata says " + std::to_string(meta->bytes),
                       EIO);
  }
  return meta;
}

bool ImageStore::exists(const ImageId& id) const { return detail::file_size(shard_dir(id) / id.str()).has_value(); }

bool ImageStore::remove(const ImageId& id) {
  const std::shared_lock writers(writers_);
  const std::lock_guard lock(stripe(id));
  const fs::path dir = shard_dir(id);
  const fs::path image_path = dir / id.str();
  if (::unlink(image_path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    detail::throw_errno("unlink", image_path, errno);
  }
  std::size_t n = count_.load(std::memory_order_relaxed);
  while (n > 0 && !count_.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
  }
  // The image is gone; its metadata alone is harmless (never served, overwritten by a
  // later put), so a failure to remove it is not an error of remove().
  const fs::path json_path = dir / meta_name(id);
  ::unlink(json_path.c_str());
  UniqueFd dirfd = detail::open_dir(dir);
  detail::fsync_fd(dirfd.get(), dir);
  return true;
}

std::size_t ImageStore::cleanup_temp_files() {
  // Waits for this instance's puts in progress and holds new ones off meanwhile.
  const std::unique_lock writers(writers_);

  std::size_t removed = 0;
  std::error_code ec;
  fs::recursive_directory_iterator it(root_, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::path& path = it->path();
    if (!detail::is_abandoned_temp(*it)) continue;
    if (!it->is_regular_file(ec) || ec) {
      ec.clear();
      continue;
    }
    std::error_code rm;
    if (fs::remove(path, rm)) ++removed;
    else if (rm) throw_fs("remove", path, rm);
  }
  if (ec && ec != std::errc::no_such_file_or_directory) throw_fs("scan", root_, ec);
  return removed;
}

}  // namespace pixelmill::storage
