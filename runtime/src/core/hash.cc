// SHA-256 (FIPS 180-4) and XXH64.
//  SHA-256:
//   1. Bytes are buffered into 64-byte blocks; each full block is compressed into the eight-word
//      state with the 64-round function (message schedule W[0..63], constants K).
//   2. Finish() appends 0x80, zero bytes up to 56 mod 64 and the message length in bits as a
//      big-endian 64-bit number, compresses the last block(s) and writes the state big-endian.
//  XXH64:
//   1. Inputs of 32 bytes or more run four lanes (v1..v4) over 32-byte stripes, each lane taking
//      one little-endian 64-bit word per stripe (Round); the lanes are then rotated, summed and
//      merged (MergeRound).
//   2. Shorter inputs start from seed + PRIME5. The total length is added, then the remaining
//      8-, 4- and 1-byte pieces are mixed in, and an avalanche (xor-shift-multiply) finishes.
#include "edgert/hash.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/parallel.h"

namespace edgert {
namespace {

constexpr uint32_t kSha256K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

constexpr uint32_t kSha256Init[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

inline uint32_t Rotr32(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
inline uint64_t Rotl64(uint64_t x, int n) { return (x << n) | (x >> (64 - n)); }

inline uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// Unaligned little-endian loads: one memcpy (a plain load on x86 and ARM), swapped on big-endian.
inline uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

inline uint32_t LoadLe32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}

constexpr uint64_t kPrime64_1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t kPrime64_2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t kPrime64_3 = 0x165667B19E3779F9ULL;
constexpr uint64_t kPrime64_4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t kPrime64_5 = 0x27D4EB2F165667C5ULL;

inline uint64_t XxhRound(uint64_t acc, uint64_t input) {
  acc += input * kPrime64_2;
  acc = Rotl64(acc, 31);
  return acc * kPrime64_1;
}

inline uint64_t XxhMergeRound(uint64_t acc, uint64_t val) {
  acc ^= XxhRound(0, val);
  return acc * kPrime64_1 + kPrime64_4;
}

constexpr char kHexDigits[] = "0123456789abcdef";

}  // namespace

void Sha256::Reset() {
  for (int i = 0; i < 8; ++i) state_[i] = kSha256Init[i];
  block_used_ = 0;
  total_bytes_ = 0;
}

void Sha256::Compress(const uint8_t* block) {
  uint32_t w[64];
  for (size_t i = 0; i < 16; ++i) w[i] = LoadBe32(block + 4 * i);
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = Rotr32(w[i - 15], 7) ^ Rotr32(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = Rotr32(w[i - 2], 17) ^ Rotr32(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t sum1 = Rotr32(e, 6) ^ Rotr32(e, 11) ^ Rotr32(e, 25);
    const uint32_t choose = (e & f) ^ (~e & g);
    const uint32_t t1 = h + sum1 + choose + kSha256K[i] + w[i];
    const uint32_t sum0 = Rotr32(a, 2) ^ Rotr32(a, 13) ^ Rotr32(a, 22);
    const uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
    const uint32_t t2 = sum0 + majority;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
  state_[5] += f;
  state_[6] += g;
  state_[7] += h;
}

void Sha256::Update(const void* data, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_bytes_ += size;
  if (block_used_ > 0) {
    const size_t take = size < 64 - block_used_ ? size : 64 - block_used_;
    std::memcpy(block_.data() + block_used_, p, take);
    block_used_ += take;
    p += take;
    size -= take;
    if (block_used_ < 64) return;
    Compress(block_.data());
    block_used_ = 0;
  }
  while (size >= 64) {
    Compress(p);
    p += 64;
    size -= 64;
  }
  if (size > 0) {
    std::memcpy(block_.data(), p, size);
    block_used_ = size;
  }
}

Sha256::Digest Sha256::Finish() {
  const uint64_t bit_length = total_bytes_ * 8;
  block_[block_used_++] = 0x80;
  if (block_used_ > 56) {
    std::memset(block_.data() + block_used_, 0, 64 - block_used_);
    Compress(block_.data());
    block_used_ = 0;
  }
  std::memset(block_.data() + block_used_, 0, 56 - block_used_);
  for (int i = 0; i < 8; ++i) block_[56 + i] = static_cast<uint8_t>(bit_length >> (56 - 8 * i));
  Compress(block_.data());
  block_used_ = 0;
  Digest digest;
  for (int i = 0; i < 8; ++i) {
    digest[4 * i + 0] = static_cast<uint8_t>(state_[i] >> 24);
    digest[4 * i + 1] = static_cast<uint8_t>(state_[i] >> 16);
    digest[4 * i + 2] = static_cast<uint8_t>(state_[i] >> 8);
    digest[4 * i + 3] = static_cast<uint8_t>(state_[i]);
  }
  return digest;
}

std::string Sha256::FinishHex() {
  const Digest digest = Finish();
  return ToHex(digest.data(), digest.size());
}

std::string Sha256Hex(const void* data, size_t size) {
  Sha256 sha;
  sha.Update(data, size);
  return sha.FinishHex();
}

uint64_t Xxh64(const void* data, size_t size, uint64_t seed) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  const uint8_t* const end = p + size;
  uint64_t h;
  if (size >= 32) {
    uint64_t v1 = seed + kPrime64_1 + kPrime64_2;
    uint64_t v2 = seed + kPrime64_2;
    uint64_t v3 = seed;
    uint64_t v4 = seed - kPrime64_1;
    const uint8_t* const limit = end - 32;
    do {
      v1 = XxhRound(v1, LoadLe64(p));
      v2 = XxhRound(v2, LoadLe64(p + 8));
      v3 = XxhRound(v3, LoadLe64(p + 16));
      v4 = XxhRound(v4, LoadLe64(p + 24));
      p += 32;
    } while (p <= limit);
    h = Rotl64(v1, 1) + Rotl64(v2, 7) + Rotl64(v3, 12) + Rotl64(v4, 18);
    h = XxhMergeRound(h, v1);
    h = XxhMergeRound(h, v2);
    h = XxhMergeRound(h, v3);
    h = XxhMergeRound(h, v4);
  } else {
    h = seed + kPrime64_5;
  }
  h += static_cast<uint64_t>(size);
  while (end - p >= 8) {
    h ^= XxhRound(0, LoadLe64(p));
    h = Rotl64(h, 27) * kPrime64_1 + kPrime64_4;
    p += 8;
  }
  if (end - p >= 4) {
    h ^= uint64_t{LoadLe32(p)} * kPrime64_1;
    h = Rotl64(h, 23) * kPrime64_2 + kPrime64_3;
    p += 4;
  }
  while (p < end) {
    h ^= uint64_t{*p} * kPrime64_5;
    h = Rotl64(h, 11) * kPrime64_1;
    ++p;
  }
  h ^= h >> 33;
  h *= kPrime64_2;
  h ^= h >> 29;
  h *= kPrime64_3;
  h ^= h >> 32;
  return h;
}

uint64_t ChunkedXxh64(const void* data, size_t size, int threads) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  const size_t chunks = (size + kXxh64ChunkBytes - 1) / kXxh64ChunkBytes;
  std::vector<uint8_t> digests(chunks * 8);
  ParallelFor(chunks, threads, [&](size_t c) {
    const size_t at = c * kXxh64ChunkBytes;
    uint64_t h = Xxh64(bytes + at, std::min(kXxh64ChunkBytes, size - at));
    for (int b = 0; b < 8; ++b, h >>= 8) digests[c * 8 + static_cast<size_t>(b)] = static_cast<uint8_t>(h);
  });
  return Xxh64(digests.data(), digests.size());
}

std::string ToHex(const void* data, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  std::string out(size * 2, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kHexDigits[p[i] >> 4];
    out[2 * i + 1] = kHexDigits[p[i] & 0xF];
  }
  return out;
}

std::string ToHex64(uint64_t value) {
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHexDigits[value & 0xF];
    value >>= 4;
  }
  return out;
}

}  // namespace edgert
