#include "pixelmill/storage/variant_cache.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <span>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include "pixelmill/storage/storage_error.hpp"
#include "posix_io.hpp"

namespace pixelmill::storage {

namespace fs = std::filesystem;

namespace {

void throw_fs(std::string_view operation, const fs::path& path, const std::error_code& ec) {
  detail::throw_errno(operation, path, ec.value() != 0 ? ec.value() : EIO);
}

bool is_format(std::string_view format) { return format == "jpeg" || format == "png" || format == "webp"; }

void check_key(const std::string& key) {
  if (!parse_image_id(key)) {
    throw std::invalid_argument("VariantCache: key must be 64 lowercase hex characters");
  }
}

// unlink that never throws: a file already gone is fine, and a failed unlink of an
// evicted entry only costs disk space until the next startup scan.
void unlink_quietly(const fs::path& path) noexcept { ::unlink(path.c_str()); }

}  // namespace

VariantCache::VariantCache(fs::path root, std::uint64_t max_bytes)
    : root_(std::move(root)), variants_(root_ / "variants"), max_bytes_(max_bytes) {
  std::error_code ec;
  if (max_bytes_ > 0) {
    fs::create_directories(variants_, ec);
    if (ec) throw_fs("create folder", variants_, ec);
  } else if (!fs::exists(variants_, ec)) {
    return;  // disabled and nothing to clean up
  }

  struct Found {
    fs::file_time_type mtime;
    std::string key;
    ImageId source;
    std::uint64_t size;
    std::string format;
  };
  std::vector<Found> found;
  for (fs::directory_iterator d(variants_, ec), end; !ec && d != end; d.increment(ec)) {
    const auto source = parse_image_id(d->path().filename().string());
    if (!source || !d->is_directory(ec)) continue;
    for (fs::directory_iterator f(d->path(), ec); !ec && f != end; f.increment(ec)) {
      const std::string name = f->path().filename().string();
      if (!f->is_regular_file(ec)) continue;
      if (name.starts_with(detail::kTempPrefix)) {
        if (detail::is_abandoned_temp(*f)) unlink_quietly(f->path());
        continue;
      }
      const auto dot = name.find('.');
      if (dot == std::string::npos || !parse_image_id(std::string_view(name).substr(0, dot)) ||
          !is_format(std::string_view(name).substr(dot + 1))) {
        continue;  // not ours: left alone
      }
      const auto size = f->file_size(ec);
      const auto mtime = f->last_write_time(ec);
      if (ec) break;
      found.push_back({mtime, name.substr(0, dot), *source, size, name.substr(dot + 1)});
    }
    if (ec) throw_fs("scan", d->path(), ec);
  }
  if (ec) throw_fs("scan", variants_, ec);

  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return std::tie(a.mtime, a.key) < std::tie(b.mtime, b.key);
  });
  const std::lock_guard lock(mutex_);
  for (auto& f : found) {
    // The same key twice (another source or format): the newer file wins.
    if (const auto it = index_.find(f.key); it != index_.end()) {
      unlink_quietly(entry_path(it->first, it->second));
      erase_locked(it);
    }
    insert_locked(f.key, f.source, f.size, f.format);
  }
  evict_locked();
}

fs::path VariantCache::source_dir(const ImageId& source) const { return variants_ / source.str(); }

fs::path VariantCache::entry_path(const std::string& key, const Entry& e) const {
  return source_dir(e.source) / (key + "." + e.format);
}

void VariantCache::insert_locked(const std::string& key, const ImageId& source, std::uint64_t size,
                                 const std::string& format) {
  lru_.push_back(key);
  index_.insert_or_assign(key, Entry{source, size, format, std::prev(lru_.end())});
  stats_.bytes += size;
  stats_.entries = index_.size();
}

void VariantCache::erase_locked(std::unordered_map<std::string, Entry>::iterator it) {
  stats_.bytes -= it->second.size;
  lru_.erase(it->second.lru);
  index_.erase(it);
  stats_.entries = index_.size();
}

void VariantCache::evict_locked() {
  // Unlinking is a quick metadata operation; doing it under the lock means a key is
  // never re-stored while its old file is still waiting to be deleted.
  while (stats_.bytes > max_bytes_ && !lru_.empty()) {
    const auto it = index_.find(lru_.front());
    unlink_quietly(entry_path(it->first, it->second));
    erase_locked(it);
  }
}

void VariantCache::write_variant(const ImageId& source, const std::string& key, const Variant& v) const {
  const fs::path dir = source_dir(source);
  detail::make_dir_durable(variants_);
  detail::make_dir_durable(dir);
  detail::UniqueFd dirfd = detail::open_dir(dir);
  const std::string tmp = detail::write_temp_file(dirfd.get(), dir, std::span<const std::uint8_t>(v.bytes));
  try {
    detail::rename_replace(dirfd.get(), tmp, key + "." + v.format, dir);
  } catch (...) {
    detail::unlink_quietly(dirfd.get(), tmp);
    throw;
  }
  detail::fsync_fd(dirfd.get(), dir);
}

Variant VariantCache::get_or_compute(const ImageId& source, const std::string& key,
                                     const std::function<Variant()>& compute, bool* hit) {
  check_key(key);
  if (hit != nullptr) *hit = false;

  if (max_bytes_ == 0) {
    {
      const std::lock_guard lock(mutex_);
      ++stats_.misses;
    }
    Variant v = compute();
    if (!is_format(v.format)) throw std::invalid_argument("VariantCache: unknown format \"" + v.format + "\"");
    return v;
  }

  std::promise<Variant> promise;
  std::unique_lock lock(mutex_);
  for (bool tried_disk = false;;) {
    if (const auto it = index_.find(key); it != index_.end() && !tried_disk) {
      lru_.splice(lru_.end(), lru_, it->second.lru);  // most recently used
      const fs::path path = entry_path(key, it->second);
      std::string format = it->second.format;
      lock.unlock();
      auto bytes = detail::read_file(path);
      lock.lock();
      if (bytes) {
        ++stats_.hits;
        if (hit != nullptr) *hit = true;
        return {std::move(*bytes), std::move(format)};
      }
      // Deleted behind our back (or by a racing eviction): forget it and compute.
      if (const auto again = index_.find(key); again != index_.end()) erase_locked(again);
      tried_disk = true;
      continue;
    }
    if (const auto it = in_flight_.find(key); it != in_flight_.end()) {
      const std::shared_future<Variant> shared = it->second;
      lock.unlock();
      Variant v = shared.get();  // rethrows the computation's exception
      lock.lock();
      ++stats_.hits;
      if (hit != nullptr) *hit = true;
      return v;
    }
    break;
  }
  in_flight_.emplace(key, promise.get_future().share());
  ++stats_.misses;
  const std::uint64_t removals_before = removals_;
  lock.unlock();

  Variant v;
  try {
    v = compute();
    if (!is_format(v.format)) throw std::invalid_argument("VariantCache: unknown format \"" + v.format + "\"");
  } catch (...) {
    lock.lock();
    in_flight_.erase(key);
    lock.unlock();
    promise.set_exception(std::current_exception());
    throw;
  }

  bool stored = false;
  if (v.bytes.size() <= max_bytes_) {
    try {
      write_variant(source, key, v);
      stored = true;
    } catch (const StorageError&) {
      // Best-effort: serve the variant anyway (counted in store_failures).
    }
  }

  lock.lock();
  if (stored && removals_ != removals_before) {
    // A remove_variants_of ran meanwhile, perhaps for this source and before our write
    // landed: don't cache (deletes are rare; this keeps a deleted original's variants gone).
    unlink_quietly(source_dir(source) / (key + "." + v.format));
    if (const auto old = index_.find(key); old != index_.end()) erase_locked(old);
  } else if (stored) {
    if (const auto old = index_.find(key); old != index_.end()) erase_locked(old);
    insert_locked(key, source, v.bytes.size(), v.format);
    evict_locked();
  } else if (v.bytes.size() <= max_bytes_) {
    ++stats_.store_failures;
  }
  in_flight_.erase(key);
  lock.unlock();
  promise.set_value(v);  // waiters copy it
  return v;
}

void VariantCache::remove_variants_of(const ImageId& source) {
  const std::lock_guard lock(mutex_);
  ++removals_;
  for (auto it = index_.begin(); it != index_.end();) {
    const auto next = std::next(it);
    if (it->second.source == source) erase_locked(it);
    it = next;
  }
  std::error_code ec;
  fs::remove_all(source_dir(source), ec);
  if (ec) throw_fs("remove", source_dir(source), ec);
}

CacheStats VariantCache::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace pixelmill::storage
