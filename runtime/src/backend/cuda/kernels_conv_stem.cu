// The stem convolution (contract in kernels_conv_stem.h): an implicit GEMM on tensor cores whose
// A operand is gathered straight from a staged input patch into mma.sync register fragments (no
// im2col buffer, no accumulator staging).
//
//   GEMM: A [M, Kp] = im2col(X), M = N * P * Q output pixels, GEMM-K index kk = (r * S + s) * C + c
//         (the KRSC order of W, so B = W^T needs no reordering), Kp = R * S * C rounded up to 16
//         (the columns kk >= R * S * C are zeros); B [Kp, K] = W^T; Y = act(A * B + bias + Z).
//   PTX mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32, float16 in, float32 accumulate, with
//   the PTX ISA's documented fragment layouts (lane = 4 * g + t, g = groupID, t = thread in group):
//     A (16 x 16, row-major): a0 = {A[g][2t], A[g][2t+1]}, a1 = {A[g+8][2t], A[g+8][2t+1]},
//                             a2 = {A[g][2t+8], A[g][2t+9]}, a3 = {A[g+8][2t+8], A[g+8][2t+9]};
//     B (16 x 8, "col"):      b0 = {B[2t][g], B[2t+1][g]}, b1 = {B[2t+8][g], B[2t+9][g]};
//     C / D (16 x 8, float):  c0, c1 = D[g][2t], D[g][2t+1]; c2, c3 = D[g+8][2t], D[g+8][2t+1]
//   (the lower column / k index in the lower 16 bits of a register).
//
// Tiling (host, ChooseStemTile, shared with StemNhwcSupported): a pixel tile is a rectangle of
// TP x TQ output pixels of one image (TP * TQ = kStemBM = 128, TQ a power of two from 8 to 128),
// the shape with the fewest tiles per image, then the smallest input patch, then the widest.
// Its input patch is rows p0 * sh - top .. + (TP - 1) * sh + (R - 1) * dh and columns
// q0 * sw - left .. + (TQ - 1) * sw + (S - 1) * dw, all C channels: at most kStemMaxPatch halves
// (the ResNet stem: 21 x 37 x 3 = 2331 halves for 128 pixels, against 128 * 147 im2col values).
//
// StemConvNhwcKernel<BN, kVec>: 256 threads (8 warps), a CTA tile of 128 pixels x BN output
// channels (BN = 16, 32 or 64, the smallest covering K, else 64 with blockIdx.y over the K tiles;
// smaller where the layer has few pixel tiles: StemTileN).
// Warp w owns the 16 pixel rows m = 16 * w .. 16 * w + 15 and all BN channels (BN / 8 mma
// n-tiles), so every A value is gathered by exactly one lane of one warp.
//   1. Once per CTA: the weight tile Ws [BN][kStemWsLd] (row n = output channel n0 + n, zeros
//      past K and past R * S * C), the bias of the BN channels as floats (zeros without bias or
//      past K), and the tap table: for GEMM-K step ks and thread-in-group t, the byte offsets in
//      the patch of the 4 columns a lane of that t gathers (2t, 2t + 1, 2t + 8, 2t + 9 of the
//      step), tap_offset(kk) = 2 * (r * dh * patch_stride + s * dw * C + c), 0 for kk past
//      R * S * C (an in-bounds read whose value is masked off, step 5), stored as one int4 per
//      (ks, t). Every lane computes once the byte offsets of its two pixel rows' windows in a
//      patch buffer (origin(m) = (m / TQ) * sh * patch_stride + (m % TQ) * sw * C halves, for
//      m = 16w + g and m + 8) and its ldmatrix row address in Ws. The first tile's patch copy
//      (step 3) is issued before this, so it is in flight while the weights are staged.
//   2. Persistent loop over pixel tiles (blockIdx.x, stride gridDim.x: the grid is sized to the
//      CTAs that fit on the GPU at once, so Ws is loaded once per CTA, not once per tile); the
//      tile index decodes to (image, tile row, tile column) once (the next tile's origin, needed
//      for its patch copy, is carried into the next iteration; 32-bit division below 2^31 tiles),
//      neighbouring CTAs take neighbouring rectangles (their patches overlap in L2).
//   3. Patch, software-pipelined over two buffers: at the top of a tile's iteration the CTA
//      waits for its own patch (issued one iteration earlier), passes the tile's one CTA
//      barrier, then issues the NEXT tile's patch into the other buffer, so the global (L2 /
//      HBM) latency of a patch overlaps this tile's MMA and epilogue. Patch row pr (X row
//      ih0 + pr, a contiguous run of patch_cols * C halves of X from flat in-row index col0 on)
//      sits at buffer row pr, row stride patch_stride = 2 * ((patch_cols * C + 2) / 2) halves;
//      warp w fills the rows w, w + 8, ...
//      Word path (W * C even and X 4-byte aligned, the usual case): cp.async of 4-byte words
//      (no registers, nothing to wait for until the data is needed); the row's first half sits
//      at offset shift = col0 & 1 of its buffer row, so every word is an aligned word of X, and
//      as the row length is even a word lies wholly inside [0, W * C) or wholly outside (then
//      zero-filled, src-size 0), as do rows outside the image. Scalar path (W * C odd or X not
//      4-byte aligned): the half-by-half copy through registers at the same point of the loop
//      (shift 0), a half read when its row is inside the image and its flat in-row index lies
//      in [0, W * C), else written as zero. The patch has no other bounds: the rectangle's pixels
//      past P or Q read patch values and are dropped by the epilogue.
//   4. (No im2col buffer.) The barrier of step 3 is the only CTA barrier of a tile: the buffer
//      that the next patch overwrites was last read by the previous tile's MMA, which every warp
//      finished before arriving there; the scalar path's synchronous writes are made visible by
//      the next iteration's barrier.
//   5. MMA, per 16-deep k-step (a runtime loop over Kp / 16, unrolled by 2, the last step peeled):
//      one 16-byte shared load of the lane's 4 tap offsets (a broadcast: 4 distinct addresses per
//      warp); the A fragment gathered straight from the patch, 8 two-byte shared loads (rows g
//      and g + 8 x the 4 columns) packed pairwise into a0..a3 (the row g + 8 window is the row g
//      window plus a per-launch constant: 8 * sw * C halves for TQ >= 16, sh * patch_stride for
//      TQ = 8); in the last step the halves of columns past R * S * C are masked to zero, so the
//      product is exactly 0 whatever the patch holds; then per pair of n-tiles one
//      ldmatrix.x4 of Ws (the B fragments of both: matrices (n-tile, k 0..7), (n-tile, k 8..15))
//      and two mma.sync. The Ws row stride kStemWsLd = 264 halves is a compile-time odd multiple
//      of 16 bytes: the 8 row addresses of an ldmatrix fall in different bank groups, and each
//      B address is the lane's base plus immediates. Ws rows past K are zeros, so the n-tiles of
//      a partly used K tile need no test in this loop.
//   6. Epilogue straight from the accumulators, no shared memory, no barrier: each lane holds
//      channels (8j + 2t, 8j + 2t + 1) of its pixel rows g and g + 8 for every n-tile j; rows
//      past P or Q and n-tiles past K (K % 8 == 0: an n-tile is all valid or all past K) are
//      skipped; it adds the bias (two floats from shared memory) and the residual, applies the
//      activation (activations.cuh) and stores the pair: kVec (y and residual 4-byte aligned)
//      one half2 load of Z and one half2 store per pair, with the activation's switch taken once
//      per tile (one epilogue instance each for none, Relu, LeakyRelu, Clip, Sigmoid, HardSwish
//      and SiLU; the rarer kinds share one that calls DeviceActivation::Apply per element);
//      else scalar halves with DeviceActivation::Finish. A residual after the activation (FusedEpilogue::
//      residual_after_activation) is added to the activation's result on either path.
// Shared memory: Ws (BN * 264 * 2 bytes: 33 KB for BN = 64), the tap table (1 KB), the bias
// (BN floats) and two patch buffers of patch_rows x patch_stride halves, at most
// 2 * (kStemMaxPatch + 2 * 2048) * 2 bytes = 80 KB (the largest patch, whose rows are at least 8
// halves, so at most 2048 of them): at most 115 KB; the ResNet stem (two 21 x 112-half
// buffers) takes 44 KB. Every launch first raises the kernel's dynamic shared-memory limit to
// the device's opt-in maximum (one value per device, so concurrent launches of layers with
// different patches never race on it); a layer above it (only large patches on 99 KB devices
// such as sm_86 / sm_89) is refused.
// __launch_bounds__(256, StemMinBlocks(BN)) (register budget and no spills in the comment of
// StemMinBlocks), so the CTAs' barrier chains interleave.
// Contracts: every output element is written once per launch; no allocation; 64-bit offsets into
// X and Y (pixel * K, n * H * W * C), 32-bit within one image (StemNhwcSupported checks that).
#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_device.cuh"
#include "kernels_conv_stem.h"

namespace edgert {
namespace cuda {
namespace {

constexpr int kStemThreads = 256;
constexpr int kStemWarps = kStemThreads / 32;
constexpr int kStemBM = 128;  // pixels per tile: TP * TQ, 16 rows per warp
static_assert(kStemBM == 16 * kStemWarps, "each warp owns one 16-row mma tile of pixels");
static_assert(kStemMaxGemmK <= kStemThreads, "one thread per tap-table entry");
// Row stride (halves) of Ws: an odd multiple of 16 bytes (conflict-free ldmatrix rows) and a
// compile-time constant (B fragment addresses are a lane base plus immediates).
constexpr int kStemWsLd = static_cast<int>(kStemMaxGemmK) + 8;
static_assert((kStemWsLd * 2 / 16) % 2 == 1, "Ws rows must be an odd multiple of 16 bytes");

// The pixel rectangle of a tile and its input patch (ChooseStemTile).
struct StemTile {
  int tq_log2 = 0;                   // TQ = 1 << tq_log2 output columns, TP = kStemBM >> tq_log2 output rows
  int64_t tiles_p = 0, tiles_q = 0;  // rectangles per image along P and Q
  int64_t patch_rows = 0, patch_cols = 0;
  int64_t patch_halves = 0;  // patch_rows * patch_cols * C
};

// The rectangle with the fewest tiles per image, then the smallest patch, then the widest; among
// those whose patch fits kStemMaxPatch halves. tq_log2 < 0 when none fits.
StemTile ChooseStemTile(const NhwcConvGeometry& g) {
  StemTile best;
  best.tq_log2 = -1;
  for (int lg = 7; lg >= 3; --lg) {
    const int64_t tq = int64_t{1} << lg;
    const int64_t tp = kStemBM / tq;
    StemTile t;
    t.tq_log2 = lg;
    t.tiles_p = (g.p + tp - 1) / tp;
    t.tiles_q = (g.q + tq - 1) / tq;
    t.patch_rows = (tp - 1) * g.stride_h + (g.r - 1) * g.dilation_h + 1;
    t.patch_cols = (tq - 1) * g.stride_w + (g.s - 1) * g.dilation_w + 1;
    t.patch_halves = t.patch_rows * t.patch_cols * g.c;
    if (t.patch_halves > kStemMaxPatch) continue;
    const bool better = best.tq_log2 < 0 || t.tiles_p * t.tiles_q < best.tiles_p * best.tiles_q ||
                        (t.tiles_p * t.tiles_q == best.tiles_p * best.tiles_q && t.patch_halves < best.patch_halves);
    if (better) best = t;
  }
  return best;
}

// Geometry in the kernel's 32-bit terms (StemNhwcSupported bounds every value) plus the 64-bit
// tile count.
struct StemParams {
  int h, w, c, k, r, s, p, q;
  int stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int rsc;  // R * S * C
  int kp;   // rsc rounded up to 16
  int tq_log2;
  int tiles_p, tiles_q;
  int patch_rows, patch_cols, patch_halves;
  int patch_stride;  // halves per patch row in shared memory: 2 * ((patch_cols * C + 2) / 2)
  int word_patch;    // 1: the patch is copied in 4-byte cp.async words (W * C even, X 4-byte aligned)
  int64_t tiles;     // N * tiles_p * tiles_q
};

// Shared-memory layout of one CTA, shared by the kernel and the host's size computation: Ws
// [BN][kStemWsLd] halves, the tap table (kStemMaxGemmK ints: Kp / 16 steps x 4 t x 4 columns),
// the bias (BN floats), and the patch's two buffers (the tile being computed and the next
// tile's, being filled), each patch_rows x patch_stride halves.
struct StemLayout {
  size_t tap_offset = 0;
  size_t bias_offset = 0;
  size_t patch_offset = 0;
  size_t patch_buffer = 0;  // halves between the two patch buffers
  size_t bytes = 0;

  __host__ __device__ static size_t Round128(size_t v) { return (v + 127) / 128 * 128; }
  __host__ __device__ static StemLayout Make(int bn, int patch_rows, int patch_stride) {
    StemLayout l;
    const size_t w_bytes = Round128(static_cast<size_t>(bn) * kStemWsLd * sizeof(__half));
    const size_t tap_bytes = Round128(static_cast<size_t>(kStemMaxGemmK) * sizeof(int));
    const size_t bias_bytes = Round128(static_cast<size_t>(bn) * sizeof(float));
    const size_t p_bytes = Round128(static_cast<size_t>(patch_rows) * patch_stride * sizeof(__half));
    l.tap_offset = w_bytes;
    l.bias_offset = l.tap_offset + tap_bytes;
    l.patch_offset = l.bias_offset + bias_bytes;
    l.patch_buffer = p_bytes / sizeof(__half);
    l.bytes = l.patch_offset + 2 * p_bytes;
    return l;
  }
};

// cp.async of one 4-byte word, global to shared, bypassing registers; src_bytes 0 writes zeros
// (src is then not read, but is still a valid address).
__device__ __forceinline__ void CpAsyncWord(void* dst, const void* src, int src_bytes) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until every committed group of this thread has landed.
__device__ __forceinline__ void CpAsyncWaitAll() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

// Where tile `tile` starts: image, first output row and column.
struct StemTileOrigin {
  int64_t img;
  int p0, q0;
};
__device__ __forceinline__ StemTileOrigin DecodeStemTile(const StemParams& sp, int64_t tile) {
  const int64_t tiles_per_image = static_cast<int64_t>(sp.tiles_p) * sp.tiles_q;
  StemTileOrigin o;
  // 32-bit division (a few instructions, against a 64-bit division's subroutine) whenever the
  // tile index fits, which is every launch of fewer than 2^31 tiles.
  o.img = tile <= 0x7fffffff
              ? static_cast<int64_t>(static_cast<unsigned>(tile) / static_cast<unsigned>(tiles_per_image))
              : tile / tiles_per_image;
  const int rest = static_cast<int>(tile - o.img * tiles_per_image);
  o.p0 = (rest / sp.tiles_q) * (kStemBM >> sp.tq_log2);
  o.q0 = (rest % sp.tiles_q) << sp.tq_log2;
  return o;
}

// The patch's first half sits at this half offset of its buffer rows: the parity of its flat
// in-row index (the word path keeps X's 4-byte words whole), 0 on the scalar path.
__device__ __forceinline__ int StemPatchShift(const StemParams& sp, const StemTileOrigin& o) {
  return sp.word_patch ? ((o.q0 * sp.stride_w - sp.pad_left) * sp.c) & 1 : 0;
}

// Starts filling `buf` with the patch of the tile at `o` (step 3 of the file comment). Word path
// (sp.word_patch: W * C even and X 4-byte aligned, so every patch row starts at an even flat
// index modulo 2 and no 4-byte word straddles a row end or the left edge): warp w issues the
// cp.async words of rows w, w + 8, ...; a word inside the image is copied, any other is
// zero-filled. Scalar path: the old synchronous half-by-half copy (ld.global + st.shared).
__device__ __forceinline__ void IssueStemPatch(const StemParams& sp, const __half* __restrict__ x,
                                               const StemTileOrigin& o, __half* buf, int warp, int lane) {
  const int row_len = sp.w * sp.c;
  const int ih0 = o.p0 * sp.stride_h - sp.pad_top;
  const int col0 = (o.q0 * sp.stride_w - sp.pad_left) * sp.c;  // flat in-row index of the patch's first half
  const __half* ximg = x + o.img * (static_cast<int64_t>(sp.h) * row_len);
  if (sp.word_patch) {
    const int shift = col0 & 1;
    const int words = sp.patch_stride / 2;
    const int wcol0 = col0 - shift;  // even: the flat in-row index of the row's first word
    for (int pr = warp; pr < sp.patch_rows; pr += kStemWarps) {
      const int ih = ih0 + pr;
      const bool row_in = static_cast<unsigned>(ih) < static_cast<unsigned>(sp.h);
      const __half* xrow = ximg + static_cast<int64_t>(row_in ? ih : 0) * row_len;
      __half* prow = buf + pr * sp.patch_stride;
      for (int wi = lane; wi < words; wi += 32) {
        const int col = wcol0 + 2 * wi;
        const bool in = row_in && static_cast<unsigned>(col) < static_cast<unsigned>(row_len);
        CpAsyncWord(prow + 2 * wi, in ? xrow + col : x, in ? 4 : 0);
      }
    }
  } else {
    const __half zero = __float2half(0.0f);
    const int patch_len = sp.patch_cols * sp.c;
    for (int pr = warp; pr < sp.patch_rows; pr += kStemWarps) {
      const int ih = ih0 + pr;
      __half* prow = buf + pr * sp.patch_stride;
      if (static_cast<unsigned>(ih) < static_cast<unsigned>(sp.h)) {
        const __half* xrow = ximg + static_cast<int64_t>(ih) * row_len;
#pragma unroll 4
        for (int j = lane; j < patch_len; j += 32) {
          const int col = col0 + j;
          prow[j] = static_cast<unsigned>(col) < static_cast<unsigned>(row_len) ? xrow[col] : zero;
        }
      } else {
        for (int j = lane; j < patch_len; j += 32) prow[j] = zero;
      }
    }
  }
}

// Resident CTAs per SM the register budget aims at (__launch_bounds__), the most that compile
// without spills: 4 for BN = 64 and BN = 32 (at most 64 registers; BN = 64 holds 32 accumulators),
// 6 for BN = 16 (40). Shared memory allows it for the networks' stems (the ResNet stem's 44 KB:
// 4 CTAs, 32 warps per SM); larger patches get fewer (the grid follows the occupancy query).
constexpr int StemMinBlocks(int bn) { return bn == 16 ? 6 : 4; }

// Two halves of the patch at byte offsets o0 and o1 from `p`, packed as one mma operand register
// (o0's half in the low 16 bits).
__device__ __forceinline__ uint32_t StemGatherPair(const char* p, int o0, int o1) {
  const uint32_t lo = *reinterpret_cast<const unsigned short*>(p + o0);
  const uint32_t hi = *reinterpret_cast<const unsigned short*>(p + o1);
  return lo | (hi << 16);
}

// One 16-deep k-step of a warp (step 5): the A fragment of rows g / g + 8 (windows at a_lo /
// a_lo + hi_delta bytes) and columns `off` (byte offsets of columns 2t, 2t + 1, 2t + 8, 2t + 9),
// masked by m01 / m89, times kNT B fragments from Ws (ldmatrix.x4 per n-tile pair at b_addr, the
// lane's row address for this step), accumulated into acc.
template <int kNT>
__device__ __forceinline__ void StemKStep(float (&acc)[kNT][4], const char* a_lo, int hi_delta, int4 off,
                                          unsigned b_addr, uint32_t m01, uint32_t m89) {
  const char* a_hi = a_lo + hi_delta;
  const uint32_t a0 = StemGatherPair(a_lo, off.x, off.y) & m01;
  const uint32_t a1 = StemGatherPair(a_hi, off.x, off.y) & m01;
  const uint32_t a2 = StemGatherPair(a_lo, off.z, off.w) & m89;
  const uint32_t a3 = StemGatherPair(a_hi, off.z, off.w) & m89;
#pragma unroll
  for (int jp = 0; jp < kNT / 2; ++jp) {
    uint32_t b0, b1, b2, b3;
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(b0), "=r"(b1), "=r"(b2), "=r"(b3)
                 : "r"(b_addr + jp * 16 * kStemWsLd * static_cast<int>(sizeof(__half)))
                 : "memory");
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(acc[2 * jp][0]), "+f"(acc[2 * jp][1]), "+f"(acc[2 * jp][2]), "+f"(acc[2 * jp][3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(acc[2 * jp + 1][0]), "+f"(acc[2 * jp + 1][1]), "+f"(acc[2 * jp + 1][2]), "+f"(acc[2 * jp + 1][3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b2), "r"(b3));
  }
}

// Where a lane's two pixel rows (g and g + 8 of its warp's 16) write: element offsets of channel
// n0 + 2t in Y (and Z), and whether the pixel lies inside P x Q.
struct StemRowsOut {
  int64_t out[2];
  bool ok[2];
};

// Step 6, kVec: n-tiles j < nt_valid, channels (8j + 2t, 8j + 2t + 1) of both rows, as half2.
template <int kNT, typename Act>
__device__ __forceinline__ void StemEpilogueVec(const float (&acc)[kNT][4], const float* bias_t,
                                                const __half* __restrict__ residual, __half* __restrict__ y,
                                                const StemRowsOut& rows, int nt_valid, bool after, Act act) {
#pragma unroll
  for (int j = 0; j < kNT; ++j) {
    if (j >= nt_valid) break;
    const float2 b = *reinterpret_cast<const float2*>(bias_t + 8 * j);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      if (!rows.ok[h]) continue;
      const int64_t out = rows.out[h] + 8 * j;
      const float v0 = acc[j][2 * h] + b.x;
      const float v1 = acc[j][2 * h + 1] + b.y;
      if (residual == nullptr) {
        *reinterpret_cast<__half2*>(y + out) = __floats2half2_rn(act(v0), act(v1));
        continue;
      }
      const float2 z = __half22float2(*reinterpret_cast<const __half2*>(residual + out));
      *reinterpret_cast<__half2*>(y + out) =
          after ? __floats2half2_rn(act(v0) + z.x, act(v1) + z.y) : __floats2half2_rn(act(v0 + z.x), act(v1 + z.y));
    }
  }
}

// Step 6, scalar halves (y or residual not 4-byte aligned).
template <int kNT>
__device__ __forceinline__ void StemEpilogueScalar(const float (&acc)[kNT][4], const float* bias_t,
                                                   const __half* __restrict__ residual, __half* __restrict__ y,
                                                   const StemRowsOut& rows, int nt_valid, const DeviceActivation& act) {
#pragma unroll
  for (int j = 0; j < kNT; ++j) {
    if (j >= nt_valid) break;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      if (!rows.ok[h]) continue;
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int64_t out = rows.out[h] + 8 * j + e;
        const float v = acc[j][2 * h + e] + bias_t[8 * j + e];
        Store(y + out, act.Finish(v, residual != nullptr ? Load(residual + out) : kNoResidual));
      }
    }
  }
}

template <int BN, bool kVec>
__global__ void __launch_bounds__(kStemThreads, StemMinBlocks(BN))
    StemConvNhwcKernel(const __half* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
                       const __half* __restrict__ residual, __half* __restrict__ y, StemParams sp,
                       DeviceActivation act) {
  GridDependencySync();
  constexpr int kNT = BN / 8;  // mma n-tiles per warp
  static_assert(kNT % 2 == 0, "n-tiles are loaded in pairs");
  extern __shared__ __align__(128) unsigned char stem_smem[];
  const StemLayout layout = StemLayout::Make(BN, sp.patch_rows, sp.patch_stride);
  __half* ws = reinterpret_cast<__half*>(stem_smem);
  int* tap_s = reinterpret_cast<int*>(stem_smem + layout.tap_offset);
  float* bias_s = reinterpret_cast<float*>(stem_smem + layout.bias_offset);
  __half* patch_bufs = reinterpret_cast<__half*>(stem_smem + layout.patch_offset);
  const int patch_buffer = static_cast<int>(layout.patch_buffer);
  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const int g = lane >> 2;  // mma groupID
  const int t = lane & 3;   // thread in group
  const int n0 = blockIdx.y * BN;
  const __half zero = __float2half(0.0f);
  const int tq_mask = (1 << sp.tq_log2) - 1;

  // Step 3 starts first: the first tile's patch is in flight while step 1 runs.
  int64_t tile = blockIdx.x;
  StemTileOrigin o = DecodeStemTile(sp, tile);  // the current tile's origin, carried across iterations
  if (tile < sp.tiles) IssueStemPatch(sp, x, o, patch_bufs, warp, lane);
  CpAsyncCommit();

  // Step 1: the weight tile, the bias, the tap table.
  for (int row = warp; row < BN; row += kStemWarps) {
    const int kout = n0 + row;
    const int64_t wbase = static_cast<int64_t>(kout) * sp.rsc;
    for (int kk = lane; kk < sp.kp; kk += 32) {
      ws[row * kStemWsLd + kk] = (kout < sp.k && kk < sp.rsc) ? w[wbase + kk] : zero;
    }
  }
  if (tid < BN) bias_s[tid] = (bias != nullptr && n0 + tid < sp.k) ? __half2float(bias[n0 + tid]) : 0.0f;
  if (tid < sp.kp) {
    // Entry tid = 16 * ks + 4 * tt + e: column 16 * ks + 2 * tt + (e & 1) + 8 * (e >> 1).
    const int kk = (tid >> 4) * 16 + 2 * ((tid >> 2) & 3) + (tid & 1) + 8 * ((tid >> 1) & 1);
    int off = 0;
    if (kk < sp.rsc) {
      const int c = kk % sp.c;
      const int rs = kk / sp.c;
      off = 2 * ((rs / sp.s) * sp.dilation_h * sp.patch_stride + (rs % sp.s) * sp.dilation_w * sp.c + c);
    }
    tap_s[tid] = off;
  }
  // The lane's pixel rows m_lo = 16 * warp + g and m_lo + 8: window byte offsets in a buffer.
  const int m_lo = warp * 16 + g;
  const int org_lo = 2 * ((m_lo >> sp.tq_log2) * sp.stride_h * sp.patch_stride + (m_lo & tq_mask) * sp.stride_w * sp.c);
  const int hi_delta = 2 * (sp.tq_log2 == 3 ? sp.stride_h * sp.patch_stride : 8 * sp.stride_w * sp.c);
  // The last k-step's columns past R * S * C are masked to zero.
  const int k_last = sp.kp - 16 + 2 * t;
  const uint32_t mask01 = (k_last < sp.rsc ? 0xffffu : 0u) | (k_last + 1 < sp.rsc ? 0xffff0000u : 0u);
  const uint32_t mask89 = (k_last + 8 < sp.rsc ? 0xffffu : 0u) | (k_last + 9 < sp.rsc ? 0xffff0000u : 0u);
  // ldmatrix.x4: lane l addresses row (l & 7) of matrix l >> 3 = (n-tile 2jp + (l >> 4), k half (l >> 3) & 1).
  const unsigned b_lane = static_cast<unsigned>(__cvta_generic_to_shared(ws)) +
                          2 * (((lane >> 4) * 8 + (lane & 7)) * kStemWsLd + ((lane >> 3) & 1) * 8);
  const int4* tap4 = reinterpret_cast<const int4*>(tap_s) + t;
  const float* bias_t = bias_s + 2 * t;
  const int nks = sp.kp >> 4;
  const int nt_valid = min(kNT, (sp.k - n0) >> 3);

  for (int buf = 0; tile < sp.tiles; tile += gridDim.x, buf ^= 1) {
    // Step 3: this tile's patch is complete and visible (and, at the first tile, step 1's
    // tables); every warp is done with the previous tile's MMA, so the other buffer is free.
    CpAsyncWaitAll();
    __syncthreads();
    const int64_t next = tile + gridDim.x;
    StemTileOrigin o_next = o;
    if (next < sp.tiles) {
      o_next = DecodeStemTile(sp, next);
      IssueStemPatch(sp, x, o_next, patch_bufs + (buf ^ 1) * patch_buffer, warp, lane);
    }
    CpAsyncCommit();
    const char* a_lo = reinterpret_cast<const char*>(patch_bufs + buf * patch_buffer + StemPatchShift(sp, o)) + org_lo;

    // Step 5.
    float acc[kNT][4];
#pragma unroll
    for (int j = 0; j < kNT; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;
    }
#pragma unroll 2
    for (int ks = 0; ks < nks - 1; ++ks) {
      StemKStep<kNT>(acc, a_lo, hi_delta, tap4[4 * ks], b_lane + 32 * ks, 0xffffffffu, 0xffffffffu);
    }
    StemKStep<kNT>(acc, a_lo, hi_delta, tap4[4 * (nks - 1)], b_lane + 32 * (nks - 1), mask01, mask89);

    // Step 6.
    StemRowsOut rows;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int m = m_lo + 8 * h;
      const int op = o.p0 + (m >> sp.tq_log2);
      const int oq = o.q0 + (m & tq_mask);
      rows.ok[h] = op < sp.p && oq < sp.q;
      rows.out[h] = ((o.img * sp.p + op) * sp.q + oq) * sp.k + n0 + 2 * t;
    }
    if (kVec) {
      switch (act.kind) {
        case FusedEpilogue::Kind::kNone:
          StemEpilogueVec<kNT>(acc, bias_t, residual, y, rows, nt_valid, act.residual_after, [](float v) { return v; });
          break;
        case FusedEpilogue::Kind::kRelu:
          StemEpilogueVec<kNT>(acc, bias_t, residual, y, rows, nt_valid, act.residual_after,
                               [](float v) { return ActRelu(v); });
          break;
        case FusedEpilogue::Kind::kLeakyRelu: {
          const float alpha = act.alpha;
          StemEpilogueVec<kNT>(acc, bias_t, residual, y, rows, nt_valid, act.residual_after,
                               [alpha](float v) { return ActLeakyRelu(v, alpha); });
          break;
        }
        case FusedEpilogue::Kind::kClip: {
          const float lo = act.alpha;
          const float hi = act.beta;
          StemEpilogueVec<kNT>(acc, bias_t, residual, y, rows, nt_valid, act.residual_after,
                               [lo, hi](float v) { return ActClip(v, lo, hi); });
          break;
        }
        case FusedEpilogue::Kind::kSigmoid:
          StemEpilogueVec<kNT>(acc, bias_t, residual, y, rows, nt_valid, act.residual_after,
                               [](float v) { return ActSigmoid(v); });
          break;
        case FusedEpilogue::Kind::kHardSwish:
          StemEpilogueVec<kNT>(acc, bias_t, residual, y, rows, nt_valid, act.residual_after,
                               [](float v) { return ActHardSwish(v); });
          break;
        case FusedEpilogue::Kind::kSilu:
          StemEpilogueVec<kNT>(acc, bias_t, residual, y, rows, nt_valid, act.residual_after,
                               [](float v) { return ActSilu(v); });
          break;
        default:  // the rarer activations: DeviceActivation's switch per element
          StemEpilogueVec<kNT>(acc, bias_t, residual, y, rows, nt_valid, act.residual_after,
                               [act](float v) { return act.Apply(v); });
          break;
      }
    } else {
      StemEpilogueScalar<kNT>(acc, bias_t, residual, y, rows, nt_valid, act);
    }
    // No barrier here: the next iteration's barrier orders this tile's patch reads before the
    // patch copy that reuses the buffer.
    o = o_next;
  }
}

// The output-channel tile: the smallest of 16, 32, 64 covering K, else 64; halved (down to 16)
// while the layer would have fewer than two CTAs per SM. At small batches (the ResNet-50 stem at
// N = 1: 98 pixel tiles) each CTA then stages fewer weights and runs fewer MMAs, and the layer is
// spread over more SMs (blockIdx.y over the channel tiles).
int StemTileN(int64_t k, int64_t pixel_tiles, int sms) {
  int bn = k <= 16 ? 16 : (k <= 32 ? 32 : 64);
  while (bn > 16 && pixel_tiles * ((k + bn - 1) / bn) < 2 * static_cast<int64_t>(sms)) bn /= 2;
  return bn;
}

template <int BN, bool kVec>
Status LaunchStem(cudaStream_t stream, const DeviceFacts& dev, const StemParams& sp, const __half* x, const __half* w,
                  const __half* bias, const __half* residual, __half* y, const DeviceActivation& act) {
  auto* fn = StemConvNhwcKernel<BN, kVec>;
  const size_t smem = StemLayout::Make(BN, sp.patch_rows, sp.patch_stride).bytes;
  const int sms = dev.sm_count;
  const int optin = dev.smem_optin;
  // The limit is the device's opt-in maximum: the same value on every call, so layers of another
  // Kp or patch launched from other threads never lower it under this launch.
  const size_t smem_limit = static_cast<size_t>(std::max(optin, 0));
  if (smem > smem_limit) {
    return Unsupported("StemConvNhwcKernel: needs " + std::to_string(smem) +
                       " bytes of shared memory per block, the device allows " + std::to_string(optin));
  }
  if (smem_limit > 48 * 1024) {
    EDGERT_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
        reinterpret_cast<const void*>(fn), cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem_limit)));
  }
  int per_sm = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, reinterpret_cast<const void*>(fn), kStemThreads, smem));
  if (per_sm < 1) {
    return Internal("StemConvNhwcKernel: " + std::to_string(smem) + " bytes of shared memory do not fit on an SM");
  }
  const int64_t k_tiles = (sp.k + BN - 1) / BN;
  // As many CTAs as run at once (each loops over pixel tiles), never more than there are tiles.
  const int64_t resident = std::max<int64_t>(1, static_cast<int64_t>(per_sm) * std::max(sms, 1) / k_tiles);
  const int64_t grid_x = std::max<int64_t>(1, std::min<int64_t>({sp.tiles, resident, 0x7fffffff}));
  return LaunchDependent("StemConvNhwcKernel", fn, dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(k_tiles)),
                         kStemThreads, smem, stream, x, w, bias, residual, y, sp, act);
}

template <int BN>
Status LaunchStemAligned(cudaStream_t stream, const DeviceFacts& dev, const StemParams& sp, const __half* x,
                         const __half* w, const __half* bias, const __half* residual, __half* y,
                         const DeviceActivation& act) {
  // The vector epilogue moves half2 pairs of Y and Z (the bias is staged as floats in shared memory).
  const bool vec = Aligned(residual, 4) && Aligned(y, 4);
  return vec ? LaunchStem<BN, true>(stream, dev, sp, x, w, bias, residual, y, act)
             : LaunchStem<BN, false>(stream, dev, sp, x, w, bias, residual, y, act);
}

}  // namespace

bool StemNhwcSupported(DataType dtype, const NhwcConvGeometry& g) {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  constexpr int64_t kCoord = int64_t{1} << 29;  // window coordinates stay far from int32 overflow
  if (dtype != DataType::kFloat16 || g.group != 1) return false;
  if (g.c < 1 || g.c > kStemMaxChannels || g.k < 8 || g.k % 8 != 0 || g.k > 65535 * 16) return false;
  if (g.r < 1 || g.s < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 || g.dilation_w < 1) return false;
  if (g.pad_top < 0 || g.pad_left < 0 || g.n < 0 || g.h < 1 || g.w < 1 || g.p < 0 || g.q < 0) return false;
  const int64_t rsc = g.r * g.s * g.c;
  if (g.r > kStemMaxGemmK || g.s > kStemMaxGemmK || (rsc + 15) / 16 * 16 > kStemMaxGemmK) return false;
  if (g.h > kCoord || g.w > kCoord || g.p > kCoord || g.q > kCoord || g.pad_top > kCoord || g.pad_left > kCoord ||
      g.stride_h > kCoord || g.stride_w > kCoord || g.dilation_h > kCoord || g.dilation_w > kCoord) {
    return false;
  }
  // Window coordinates: p * sh - top + r * dh and the same for columns (the rectangle's rows and
  // columns past P and Q included: up to 127 more), in 32 bits.
  if ((g.p + kStemBM) * g.stride_h + g.r * g.dilation_h > kCoord ||
      (g.q + kStemBM) * g.stride_w + g.s * g.dilation_w > kCoord) {
    return false;
  }
  // One image (and its flat row index (iw * C)) in 32 bits.
  if (g.h * g.w * g.c > kInt32Max) return false;
  // Some tile rectangle's input patch fits the kernel's patch buffer, and the rectangles of one
  // image are counted in 32 bits (the batch is 64-bit: any N).
  const StemTile tile = ChooseStemTile(g);
  return tile.tq_log2 >= 0 && tile.tiles_p * tile.tiles_q <= kInt32Max;
}

Status EnqueueStemConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x, const void* w,
                           const void* bias, const void* residual, void* y, const FusedEpilogue& act) {
  if (!StemNhwcSupported(dtype, g)) {
    return Internal(std::string("StemConvNhwcKernel: the layer is not a float16 stem (dtype ") + DataTypeName(dtype) +
                    ", C " + std::to_string(g.c) + ", K " + std::to_string(g.k) + ", group " + std::to_string(g.group) +
                    ")");
  }
  const int64_t pixels = g.n * g.p * g.q;
  if (pixels == 0) return Status::Ok();
  const StemTile tile = ChooseStemTile(g);
  StemParams sp;
  sp.h = static_cast<int>(g.h);
  sp.w = static_cast<int>(g.w);
  sp.c = static_cast<int>(g.c);
  sp.k = static_cast<int>(g.k);
  sp.r = static_cast<int>(g.r);
  sp.s = static_cast<int>(g.s);
  sp.p = static_cast<int>(g.p);
  sp.q = static_cast<int>(g.q);
  sp.stride_h = static_cast<int>(g.stride_h);
  sp.stride_w = static_cast<int>(g.stride_w);
  sp.dilation_h = static_cast<int>(g.dilation_h);
  sp.dilation_w = static_cast<int>(g.dilation_w);
  sp.pad_top = static_cast<int>(g.pad_top);
  sp.pad_left = static_cast<int>(g.pad_left);
  sp.rsc = static_cast<int>(g.r * g.s * g.c);
  sp.kp = (sp.rsc + 15) / 16 * 16;
  sp.tq_log2 = tile.tq_log2;
  sp.tiles_p = static_cast<int>(tile.tiles_p);
  sp.tiles_q = static_cast<int>(tile.tiles_q);
  sp.patch_rows = static_cast<int>(tile.patch_rows);
  sp.patch_cols = static_cast<int>(tile.patch_cols);
  sp.patch_halves = static_cast<int>(tile.patch_halves);
  sp.patch_stride = static_cast<int>(2 * ((tile.patch_cols * g.c + 2) / 2));
  sp.word_patch = (g.w * g.c) % 2 == 0 && Aligned(x, 4) ? 1 : 0;
  sp.tiles = g.n * tile.tiles_p * tile.tiles_q;
  const auto* xh = static_cast<const __half*>(x);
  const auto* wh = static_cast<const __half*>(w);
  const auto* bh = static_cast<const __half*>(bias);
  const auto* rh = static_cast<const __half*>(residual);
  auto* yh = static_cast<__half*>(y);
  const DeviceActivation dact = ToDevice(act);
  DeviceFacts dev;
  EDGERT_RETURN_IF_ERROR(CurrentDeviceFacts(&dev));
  switch (StemTileN(g.k, sp.tiles, dev.sm_count)) {
    case 16:
      return LaunchStemAligned<16>(stream, dev, sp, xh, wh, bh, rh, yh, dact);
    case 32:
      return LaunchStemAligned<32>(stream, dev, sp, xh, wh, bh, rh, yh, dact);
    default:
      return LaunchStemAligned<64>(stream, dev, sp, xh, wh, bh, rh, yh, dact);
  }
}

}  // namespace cuda
}  // namespace edgert
