#pragma once
// ImageStore: the content-addressed store of original images on the local filesystem.
//
// Layout under `root`:
//   root/originals/ab/cd/<id>        the original's bytes (ab = id[0..2], cd = id[2..4])
//   root/originals/ab/cd/<id>.json   its StoredMeta
//   root/**/.tmp-<random>            writes in progress (or a crash's leftovers)
//
// Writes are atomic and durable: each file is written to a ".tmp-" file in the same
// folder (O_CREAT|O_EXCL, 0644), fsync'ed, renamed into place and the folder fsync'ed.
// The metadata is committed before the image, so a visible image always has its
// metadata, and a crash never leaves a partial file under a valid id. The image is
// renamed with RENAME_NOREPLACE: an existing original is never rewritten, and of
// several concurrent writers of the same bytes exactly one reports created=true.
//
// All calls are synchronous and block on the filesystem (fsync!): call them from the
// CPU pool, never on an I/O thread. The store starts no threads and opens no sockets.
//
// Thread safety: every member function may be called concurrently on one instance.
// put() and remove() of the same id are serialised inside the instance (striped
// locks), so count() stays exact and a put racing a remove cannot leave an image
// without metadata. get()/meta()/exists() take no locks; a concurrent remove makes them
// return nullopt/false, never a partial image. Several processes may share one root for
// put/get (rename is atomic: concurrent identical puts still end with one complete
// file), but count() only reflects the startup scan plus this instance's own puts and
// removes, and put/remove of the same id from different processes is not coordinated.
// cleanup_temp_files() excludes this instance's writers but must not run while another
// process writes to the same root (it would delete that process's in-progress files).
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <vector>

#include "pixelmill/storage/image_id.hpp"
#include "pixelmill/storage/stored_meta.hpp"

namespace pixelmill::storage {

struct PutResult {
  ImageId id;
  bool created = false;  // false: these bytes were already stored (nothing rewritten)
};

struct StoredImage {
  std::vector<std::uint8_t> bytes;
  StoredMeta meta;
};

class ImageStore {
public:
  // Creates root/originals if missing, proves it writable (a temp file written,
  // fsync'ed and removed) and counts the stored originals (a scan of the shard
  // folders). Throws StorageError if the folder cannot be created, written or read:
  // better to refuse to start than to fail every upload later.
  explicit ImageStore(std::filesystem::path root);

  ImageStore(const ImageStore&) = delete;
  ImageStore& operator=(const ImageStore&) = delete;

  // Stores `bytes` under compute_image_id(bytes) with `meta` beside it. Idempotent:
  // if the original already exists, nothing is written and created=false.
  // Throws std::invalid_argument if meta.bytes != bytes.size(); StorageError on any
  // filesystem failure (no_space() for ENOSPC/EDQUOT), with no temp file left behind.
  PutResult put(std::span<const std::uint8_t> bytes, const StoredMeta& meta);

  // The original and its metadata; nullopt if absent. Throws StorageError if the file's
  // size differs from meta.bytes, the metadata is missing or unreadable, or I/O fails.
  [[nodiscard]] std::optional<StoredImage> get(const ImageId& id) const;

  // The metadata only (plus the same size check, by stat); nullopt if absent.
  [[nodiscard]] std::optional<StoredMeta> meta(const ImageId& id) const;

  [[nodiscard]] bool exists(const ImageId& id) const;

  // Removes the original, then its metadata, and fsyncs the folder. false if it was not
  // stored. (Metadata left alone by a crash in between is harmless: never served
  // without its image, overwritten by a later put.)
  bool remove(const ImageId& id);

  // Number of stored originals (for the pixelmill_images_stored gauge).
  [[nodiscard]] std::size_t count() const noexcept { return count_.load(std::memory_order_relaxed); }

  // True after a put failed for lack of space (ENOSPC, EDQUOT), until a later put
  // succeeds or recheck_full() finds room again. Reads keep working meanwhile.
  [[nodiscard]] bool full() const noexcept { return full_.load(std::memory_order_relaxed); }

  // When full(): clears it if the filesystem has at least `needed` bytes available
  // again (someone freed space), so a store that nobody writes to can recover.
  // Returns full(). Cheap (one statvfs) and only called while full.
  bool recheck_full(std::uintmax_t needed);

  // Removes the regular ".tmp-*" files under root left by a crash of this host (or of
  // anyone, untouched for an hour); returns how many. Another replica's fresh temp
  // files on a shared volume are writes in flight and stay. Call once at startup, before serving; waits for this instance's puts.
  std::size_t cleanup_temp_files();

  [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }

private:
  static constexpr std::size_t kStripes = 256;

  [[nodiscard]] std::filesystem::path shard_dir(const ImageId& id) const;
  [[nodiscard]] std::mutex& stripe(const ImageId& id);
  // Reads <id>.json; nullopt if the image is absent. Throws StorageError (EIO) if the
  // image is present without readable metadata.
  [[nodiscard]] std::optional<StoredMeta> load_meta(const ImageId& id) const;
  PutResult put_durably(std::span<const std::uint8_t> bytes, const StoredMeta& meta);

  std::filesystem::path root_;
  std::filesystem::path originals_;
  std::atomic<std::size_t> count_{0};
  std::atomic<bool> full_{false};
  std::array<std::mutex, kStripes> stripes_;  // put/remove of one id, one at a time
  std::shared_mutex writers_;                  // put/remove: shared; cleanup_temp_files: exclusive
};

}  // namespace pixelmill::storage
