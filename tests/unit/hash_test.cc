// SHA-256 against the FIPS 180 example vectors and Python's hashlib; XXH64 against the reference
// library (libxxhash 0.8.1); incremental feeding in every split equals one-shot hashing.
#include "edgert/hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

namespace edgert {
namespace {

// Bytes (i * 31 + 7) mod 256: the pattern the reference values below were computed for.
std::vector<uint8_t> Pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>((i * 31 + 7) & 0xFF);
  return v;
}

// Bytes from a 64-bit LCG (the top byte of each step): unlike Pattern, no two 4 MiB chunks match.
std::vector<uint8_t> Noise(size_t n) {
  std::vector<uint8_t> v(n);
  uint64_t x = 0x9E3779B97F4A7C15ULL;
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    v[i] = static_cast<uint8_t>(x >> 56);
  }
  return v;
}

TEST(HashSha256, FipsVectors) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(
      Sha256Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnop"
                "qrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(HashSha256, MillionAsFedInOddChunks) {
  Sha256 sha;
  const std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left > 0) {
    const size_t n = left < chunk.size() ? left : chunk.size();
    sha.Update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(sha.FinishHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HashSha256, PaddingBoundaries) {
  // Lengths around the 55/56-byte point where the length no longer fits the last block.
  const struct {
    size_t n;
    const char* hex;
  } cases[] = {
      {55, "8aa994584139d128848eeebc4e815639ba5ab6e6e39574195a63ac4f14f7c43b"},
      {56, "ad574708f75c044c9b85de64cb568ee7711ff4f36448c6242f053ba8f6cc2b63"},
      {63, "280ed3e8ff1df845b2e7dfe6ac6cee817bef20e783cc65abc41b818b4d2fe076"},
      {64, "c6ab9724ade5b6a7a1edfffb12f3aa9181351355af8fd08c919952ad211339dd"},
      {65, "788367c73c7ddf4c53f65e68cc0d943e6227ab55b0e78ba63ace822b1c6301c0"},
      {119, "3d610547d68216dedf7435a4fb6260353911f6b3fd3f18805ddb8be285d726fe"},
      {120, "1f80156a804cb7862ad113e8200e9d74499723e7c7854d5f48776d3148e09656"},
      {1000, "5097e7d587352f5097062ae679f37bda5802d9f875aba14c8cb4d1a188ada179"},
  };
  for (const auto& c : cases) {
    const std::vector<uint8_t> data = Pattern(c.n);
    EXPECT_EQ(Sha256Hex(data.data(), data.size()), c.hex) << "length " << c.n;
  }
}

TEST(HashSha256, EverySplitEqualsOneShot) {
  const std::vector<uint8_t> data = Pattern(200);
  const std::string expected = Sha256Hex(data.data(), data.size());
  for (size_t split = 0; split <= data.size(); ++split) {
    Sha256 sha;
    sha.Update(data.data(), split);
    sha.Update(data.data() + split, data.size() - split);
    EXPECT_EQ(sha.FinishHex(), expected) << "split at " << split;
  }
  Sha256 bytewise;
  for (uint8_t b : data) bytewise.Update(&b, 1);
  EXPECT_EQ(bytewise.FinishHex(), expected);
}

TEST(HashSha256, ResetStartsOver) {
  Sha256 sha;
  sha.Update("something else");
  sha.Finish();
  sha.Reset();
  sha.Update("abc");
  const Sha256::Digest d = sha.Finish();
  EXPECT_EQ(ToHex(d.data(), d.size()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HashXxh64, ReferenceVectors) {
  EXPECT_EQ(Xxh64("", 0), 0xef46db3751d8e999ULL);
  EXPECT_EQ(Xxh64("a", 1), 0xd24ec4f1a98c6e5bULL);
  EXPECT_EQ(Xxh64("abc", 3), 0x44bc2cf5ad770999ULL);
  EXPECT_EQ(Xxh64("abc", 3, 0x9e3779b97f4a7c15ULL), 0x2ed0f59d6b43ac8bULL);
  // Every tail path (8-, 4- and 1-byte pieces) and the 32-byte stripe loop, with and without seed.
  const struct {
    size_t n;
    uint64_t seed0;
    uint64_t seed12345;
  } cases[] = {
      {31, 0x4a74f3a1a39ad4a1ULL, 0xbff21e6871cdf167ULL},  {32, 0x8d57d6a4671cc43dULL, 0x7bdfe9fbcc771266ULL},
      {33, 0x62c9fd21ed857664ULL, 0x5a23927b0946b212ULL},  {35, 0x85cbcf9e0d9cbecaULL, 0xc436bc8c6050d2e0ULL},
      {39, 0x1789542489e59cc4ULL, 0xd6ed89c890cec4baULL},  {40, 0x49b45332e280f187ULL, 0xacfd740a26f1f020ULL},
      {100, 0xefa0ad2d3e70c151ULL, 0x4f2e446ab943e539ULL}, {4113, 0xa72e09b15c2147f2ULL, 0x9707b8d19398886bULL},
  };
  for (const auto& c : cases) {
    const std::vector<uint8_t> data = Pattern(c.n);
    EXPECT_EQ(Xxh64(data.data(), data.size()), c.seed0) << "length " << c.n;
    EXPECT_EQ(Xxh64(data.data(), data.size(), 12345), c.seed12345) << "length " << c.n;
  }
  const std::vector<uint8_t> p64 = Pattern(64);
  EXPECT_EQ(Xxh64(p64.data(), 64), 0x7bbabbc45729d17eULL);
}

TEST(HashXxh64, UnalignedInputGivesTheSameValue) {
  std::vector<uint8_t> buf(1100);
  const std::vector<uint8_t> data = Pattern(1000);
  const uint64_t expected = Xxh64(data.data(), data.size());
  EXPECT_EQ(expected, 0x99594f4828043d35ULL);
  for (size_t shift = 1; shift < 8; ++shift) {
    std::copy(data.begin(), data.end(), buf.begin() + static_cast<ptrdiff_t>(shift));
    EXPECT_EQ(Xxh64(buf.data() + shift, data.size()), expected) << "offset " << shift;
  }
}

// The definition of ChunkedXxh64, written out: the Xxh64 of the chunks' Xxh64s as 8 little-endian
// bytes each.
uint64_t ChunkedByDefinition(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> digests;
  for (size_t at = 0; at < data.size(); at += kXxh64ChunkBytes) {
    uint64_t h = Xxh64(data.data() + at, std::min(kXxh64ChunkBytes, data.size() - at));
    for (int b = 0; b < 8; ++b, h >>= 8) digests.push_back(static_cast<uint8_t>(h & 0xff));
  }
  return Xxh64(digests.data(), digests.size());
}

TEST(HashChunkedXxh64, FollowsItsDefinitionOnAnyNumberOfThreads) {
  const size_t chunk = kXxh64ChunkBytes;
  for (size_t n : {size_t{0}, size_t{1}, size_t{4113}, chunk - 1, chunk, chunk + 1, 3 * chunk + 5}) {
    const std::vector<uint8_t> data = Noise(n);
    const uint64_t expected = ChunkedByDefinition(data);
    for (int threads : {-1, 0, 1, 2, 3, 8, 64}) {
      EXPECT_EQ(ChunkedXxh64(data.data(), data.size(), threads), expected) << "length " << n << ", threads " << threads;
    }
  }
  // No data: no chunks, the Xxh64 of nothing. One chunk or less: the Xxh64 of that chunk's Xxh64.
  EXPECT_EQ(ChunkedXxh64(nullptr, 0, 4), Xxh64("", 0));
  const std::vector<uint8_t> small = Noise(100);
  const uint64_t h = Xxh64(small.data(), small.size());
  uint8_t le[8];
  for (int b = 0; b < 8; ++b) le[b] = static_cast<uint8_t>(h >> (8 * b));
  EXPECT_EQ(ChunkedXxh64(small.data(), small.size(), 2), Xxh64(le, 8));
}

TEST(HashChunkedXxh64, PinnedValueAndSensitivity) {
  // Plans store this checksum: its value for given bytes must never change within a format. The
  // values were computed with the reference xxhash package (Python), independently of Xxh64 here.
  std::vector<uint8_t> data = Noise(2 * kXxh64ChunkBytes + 3);
  const uint64_t pinned = ChunkedXxh64(data.data(), data.size(), 4);
  EXPECT_EQ(pinned, 0x132110645c5153feULL);
  EXPECT_EQ(Xxh64(data.data(), data.size()), 0xcc551c2ce467e13aULL);
  // One bit flipped in any chunk changes it.
  for (size_t at : {size_t{0}, kXxh64ChunkBytes + 17, data.size() - 1}) {
    data[at] ^= 0x10;
    EXPECT_NE(ChunkedXxh64(data.data(), data.size(), 4), pinned) << "byte " << at;
    data[at] ^= 0x10;
  }
}

TEST(HashHex, Formats) {
  const uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(ToHex(bytes, 4), "000fa5ff");
  EXPECT_EQ(ToHex64(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(ToHex64(0), "0000000000000000");
}

}  // namespace
}  // namespace edgert
