// Content hashing: SHA-256 for model content hashes and cache keys, XXH64 as the fast checksum of
// plan files.
//
// Contract: both are pure functions of the bytes fed in, independent of how the input is split
// across Update() calls, of the host's endianness and of alignment. Sha256 follows FIPS 180-4;
// Xxh64 follows the published XXH64 algorithm (seed 0 unless given) and gives the same values as
// the reference implementation. Neither allocates on the hashing path; neither throws.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edgert {

// Incremental SHA-256. Feed bytes with Update(), then call Finish() once; after Finish() the object
// must be Reset() before it is used again.
class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  Sha256() { Reset(); }
  void Reset();
  void Update(const void* data, size_t size);
  void Update(std::string_view text) { Update(text.data(), text.size()); }
  Digest Finish();
  // Finish() as 64 lowercase hex digits.
  std::string FinishHex();

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> state_{};
  std::array<uint8_t, 64> block_{};
  size_t block_used_ = 0;
  uint64_t total_bytes_ = 0;
};

// One-shot SHA-256 of `size` bytes as 64 lowercase hex digits.
std::string Sha256Hex(const void* data, size_t size);
inline std::string Sha256Hex(std::string_view text) { return Sha256Hex(text.data(), text.size()); }

// XXH64 of `size` bytes (tens of GB/s on one x86 core).
uint64_t Xxh64(const void* data, size_t size, uint64_t seed = 0);

// The chunk of ChunkedXxh64: 4 MiB.
inline constexpr size_t kXxh64ChunkBytes = size_t{4} << 20;

// The checksum plans store over their content: the Xxh64 (seed 0) of the sequence of the Xxh64s
// (seed 0, each as 8 little-endian bytes) of the consecutive kXxh64ChunkBytes chunks of the data
// (the last chunk may be shorter; no data: no chunks, i.e. Xxh64 of nothing). The chunks are
// hashed on up to `threads` threads (the calling one included), which also faults a fresh file
// mapping's pages in on several cores; the value does not depend on `threads`.
uint64_t ChunkedXxh64(const void* data, size_t size, int threads);

// Lowercase hex of `size` bytes, in order.
std::string ToHex(const void* data, size_t size);
// 16 lowercase hex digits, most significant first.
std::string ToHex64(uint64_t value);

}  // namespace edgert
