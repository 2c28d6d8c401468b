#pragma once
// VariantCache: an on-disk, size-bounded LRU cache of derived images ("variants": an
// original resized / re-encoded with some parameters).
//
// Layout under `root`:
//   root/variants/<image id>/<key>.<format>   one variant (format: jpeg, png or webp)
//   root/variants/<image id>/.tmp-<random>    a write in progress (or a crash's leftover)
//
// `key` is chosen by the caller: the SHA-256 (64 lowercase hex chars) of the source id
// plus the canonical transform parameters, so equal requests share one entry.
//
// Writes reuse ImageStore's protocol (temp file in the same folder, fsync, rename,
// fsync the folder): a visible variant is always complete. The index (key -> source,
// size, format, last use) lives in memory and is rebuilt at construction by scanning
// root/variants, oldest modification time first as the initial LRU order; leftover
// ".tmp-" files are deleted then. A root shared by several processes is not supported.
//
// Caching is best-effort: if storing a computed variant fails (disk full, I/O error),
// the variant is still returned and stats().store_failures is incremented.
//
// All calls are synchronous and block on the filesystem: call them from the CPU pool.
// Thread safety: every member function may be called concurrently on one instance.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "pixelmill/storage/image_id.hpp"

namespace pixelmill::storage {

struct Variant {
  std::vector<std::uint8_t> bytes;
  std::string format;  // "jpeg" | "png" | "webp"
};

struct CacheStats {
  std::uint64_t hits = 0;     // served from disk, or shared with a concurrent computation
  std::uint64_t misses = 0;   // compute() was run for the call
  std::uint64_t bytes = 0;    // total size of the cached variants
  std::uint64_t entries = 0;  // number of cached variants
  std::uint64_t store_failures = 0;  // computed variants that could not be written
};

class VariantCache {
public:
  // Creates root/variants if missing (unless max_bytes is 0), scans it, deletes ".tmp-"
  // leftovers and evicts down to max_bytes. max_bytes = 0 disables the cache: existing
  // variants are deleted, get_or_compute always computes and stores nothing.
  // Throws StorageError if the folder cannot be created or read.
  VariantCache(std::filesystem::path root, std::uint64_t max_bytes);

  VariantCache(const VariantCache&) = delete;
  VariantCache& operator=(const VariantCache&) = delete;

  // The cached variant of `key`, or the result of compute(), which is then stored and
  // least-recently-used entries evicted until the total is <= max_bytes. A variant
  // larger than max_bytes is returned but not stored.
  //
  // Single-flight: concurrent callers of the same key run compute() once; the others
  // block until it is done and get a copy of the same result, or the same exception
  // (nothing is cached then, and a later call computes again). compute() must not call
  // get_or_compute with the same key (it would wait for itself).
  //
  // *hit (if non-null) is set to true if the variant came from the cache or from a
  // concurrent caller's computation, false if this call ran compute().
  // Throws std::invalid_argument if `key` is not 64 chars of [0-9a-f] or compute()
  // returns a format other than jpeg/png/webp; rethrows whatever compute() throws;
  // StorageError if reading a cached variant fails.
  Variant get_or_compute(const ImageId& source, const std::string& key, const std::function<Variant()>& compute,
                         bool* hit = nullptr);

  // Deletes every variant of `source` (its folder), cached or not (call on DELETE of an
  // original). A computation in flight while it runs returns its result but does not
  // cache it, so no variant of a deleted original survives on disk.
  // Throws StorageError if the folder cannot be removed.
  void remove_variants_of(const ImageId& source);

  [[nodiscard]] CacheStats stats() const;

  [[nodiscard]] std::uint64_t max_bytes() const noexcept { return max_bytes_; }
  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }

private:
  struct Entry {
    ImageId source;
    std::uint64_t size = 0;
    std::string format;
    std::list<std::string>::iterator lru;  // position in lru_
  };

  [[nodiscard]] std::filesystem::path source_dir(const ImageId& source) const;
  [[nodiscard]] std::filesystem::path entry_path(const std::string& key, const Entry& e) const;
  // Writes the variant file (temp + fsync + rename + folder fsync). Throws StorageError.
  void write_variant(const ImageId& source, const std::string& key, const Variant& v) const;
  // The following require mutex_ held.
  void insert_locked(const std::string& key, const ImageId& source, std::uint64_t size, const std::string& format);
  void erase_locked(std::unordered_map<std::string, Entry>::iterator it);
  void evict_locked();  // unlinks LRU entries until bytes_ <= max_bytes_

  std::filesystem::path root_;
  std::filesystem::path variants_;
  std::uint64_t max_bytes_;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> index_;
  std::list<std::string> lru_;  // keys, least recently used first
  std::unordered_map<std::string, std::shared_future<Variant>> in_flight_;
  CacheStats stats_;  // bytes/entries kept in step with index_
  std::uint64_t removals_ = 0;  // remove_variants_of calls so far (see get_or_compute)
};

}  // namespace pixelmill::storage
