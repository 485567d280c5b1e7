// The stem convolution (contract in kernels_conv_stem.h): an implicit GEMM on tensor cores whose
// im2col is built in shared memory from a staged input patch.
//
//   GEMM: A [M, Kp] = im2col(X), M = N * P * Q output pixels, GEMM-K index kk = (r * S + s) * C + c
//         (the KRSC order of W, so B = W^T needs no reordering), Kp = R * S * C rounded up to 16
//         (the columns kk >= R * S * C are zeros); B [Kp, K] = W^T; Y = act(A * B + bias + Z).
//   WMMA m16n16k16, float16 in, float32 accumulate (nvcuda::wmma: the fragment layouts are the
//   library's, so no lane mapping is assumed anywhere).
//
// Tiling (host, ChooseStemTile, shared with StemNhwcSupported): a pixel tile is a rectangle of
// TP x TQ output pixels of one image (TP * TQ = kStemBM = 128, TQ a power of two from 8 to 128),
// the shape with the fewest tiles per image, then the smallest input patch, then the widest.
// Its input patch is rows p0 * sh - top .. + (TP - 1) * sh + (R - 1) * dh and columns
// q0 * sw - left .. + (TQ - 1) * sw + (S - 1) * dw, all C channels: at most kStemMaxPatch halves
// (the ResNet stem: 21 x 37 x 3 = 2331 halves for 128 pixels, against 128 * 147 im2col values).
//
// StemConvNhwcKernel<BN, kVec>: 256 threads (8 warps), a CTA tile of 128 pixels x BN output
// channels (BN = 16, 32 or 64, the smallest covering K, else 64 with blockIdx.y over the K tiles).
//   1. Once per CTA: the weight tile Ws [BN][Kp] (row n = output channel n0 + n, zeros past K and
//      past R * S * C) into shared memory; every lane computes, for the GEMM-K columns it builds
//      (kk = lane + 32 * i, at most kStemMaxGemmK / 32 of them), the tap's offset in the patch
//      (r * dh * patch_stride + s * dw * C + c) once, in registers. The first tile's patch copy
//      (step 3) is issued before this, so it is in flight while the weights are staged.
//   2. Persistent loop over pixel tiles (blockIdx.x, stride gridDim.x: the grid is sized to the
//      CTAs that fit on the GPU at once, so Ws is loaded once per CTA, not once per tile); the
//      tile index decodes to (image, tile row, tile column), neighbouring CTAs take neighbouring
//      rectangles (their patches overlap in L2).
//   3. Patch, software-pipelined over two buffers: at the top of a tile's iteration the CTA
//      issues the NEXT tile's patch into the other buffer, then waits for its own (issued one
//      iteration earlier), so the global (L2 / HBM) latency of a patch overlaps the previous
//      tile's im2col, MMA and epilogue instead of heading a serial chain. Patch row pr (X row
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
//   4. im2col, shared to shared: warp w fills the A rows m = w, w + 8, ... of As [kBM][Kp];
//      row m is pixel (m / TQ, m % TQ) of the rectangle, whose window starts at buffer offset
//      shift + (m / TQ) * sh * patch_stride + (m % TQ) * sw * C; lane values As[m][kk] =
//      patch[origin + tap_offset(kk)], zeros for kk >= R * S * C. No bounds checks.
//   5. MMA: the 8 warps as kWarpsM x kWarpsN (4 x 2 for BN = 64: warp tiles of 32 x 32, so each
//      A fragment is read by 2 warps and each B fragment by 4; 8 x 1 for BN = 16 / 32); per
//      16-deep k-step the warp's A fragments (row-major from As) and B fragments (col-major from
//      Ws: element (kk, n) at Ws[n][kk]); column tiles wholly past K are skipped (warp-uniform).
//   6. Epilogue, per warp, without a CTA barrier: the kWarpsN warps that read the same A rows
//      (a pair for BN = 64: a 64-thread named barrier, bar.sync 1 + wm; one warp for BN = 16 /
//      32: __syncwarp) finish their MMA, and those A rows become the group's staging area: each
//      warp stores its accumulator fragments there (16 x 16 floats each, row stride
//      kStemStageLd = 20), then per fragment each lane takes one pixel (lane / 2) and 8
//      consecutive output channels ((lane % 2) * 8; K % 8 == 0: a chunk is all valid or all past
//      K), skips pixels past P or Q, adds bias and residual, applies the activation
//      (activations.cuh) and makes one 16-byte store (kVec: y, bias and residual 16-byte aligned;
//      else scalar). As's row stride is at least StemMinLda(BN) = 40 / 88 / 168 halves so the
//      group's rows hold its staging blocks.
// Row strides of As / Ws are max(Kp + 8, StemMinLda(BN)) halves (an odd multiple of 16 bytes: the
// 8 rows of a fragment load fall in different bank groups). Two CTA barriers per tile (next patch
// issued; wait for this patch -> barrier -> im2col -> barrier -> MMA -> group barrier -> staging
// and epilogue). The patch buffer a tile's iteration fills was last read by the previous tile's
// im2col, which every warp finished before that iteration's second barrier; the first barrier of
// an iteration also orders every warp's previous MMA and staging (As bytes) before this im2col's
// As writes. Shared memory: Ws, As and two patch buffers, at most 64 * 264 * 2 + 128 * 264 * 2 +
// 2 * (kStemMaxPatch + 2 * 2048) * 2 bytes = 181 KB (Kp = 256, the largest patch, whose rows are
// at least 8 halves, so at most 2048 of them; the ResNet stem, Kp = 160 and two 21 x 112-half
// buffers, takes 72 KB: three CTAs per SM). Every launch first raises the kernel's dynamic
// shared-memory limit to the device's opt-in maximum (one value per device, so concurrent
// launches of layers with different Kp never race on it); a layer above it (only GEMM-K near
// 256 or large patches on 99 KB devices such as sm_86 / sm_89) is refused.
// __launch_bounds__(256, StemMinBlocks(BN)): 3, 4, 5 CTAs per SM for BN = 64, 32, 16 (80, 64,
// 48 registers a thread, no spills), so their barrier chains interleave.
// Contracts: every output element is written once per launch; no allocation; 64-bit offsets into
// X and Y (pixel * K, n * H * W * C), 32-bit within one image (StemNhwcSupported checks that).
#include <mma.h>

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
constexpr int kStemBM = 128;  // pixels per tile: TP * TQ
constexpr int kStemSlots = static_cast<int>(kStemMaxGemmK / 32);
constexpr int kStemStageLd = 20;                    // row stride (floats) of a 16 x 16 accumulator staging block
constexpr int kStemStageBlock = 16 * kStemStageLd;  // floats of one staging block

// The smallest row stride (halves) of As for BN: the kWarpsN warps sharing A rows stage their
// BN / 16 blocks per 16 rows in them: 16 * lda * 2 >= (BN / 16) * kStemStageBlock * 4 bytes,
// lda >= 2.5 * BN, made an odd multiple of 8 (bank spread of the fragment loads): 40, 88, 168.
constexpr int StemMinLda(int bn) {
  return ((bn * 5 / 2 + 7) / 8 % 2 == 1) ? (bn * 5 / 2 + 7) / 8 * 8 : (bn * 5 / 2 + 7) / 8 * 8 + 8;
}

// bar.sync on barrier 1 + group for the two warps of a BN = 64 row group (immediate ids, so the
// kernel uses five of the 16 hardware barriers).
__device__ __forceinline__ void StemGroupBarrier(int group) {
  switch (group) {
    case 0:
      asm volatile("bar.sync 1, 64;\n" ::: "memory");
      break;
    case 1:
      asm volatile("bar.sync 2, 64;\n" ::: "memory");
      break;
    case 2:
      asm volatile("bar.sync 3, 64;\n" ::: "memory");
      break;
    default:
      asm volatile("bar.sync 4, 64;\n" ::: "memory");
      break;
  }
}

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

// Shared-memory layout of one CTA, shared by the kernel and the host's size computation. The
// patch has two buffers (the tile being computed and the next tile's, being filled), each
// patch_rows x patch_stride halves.
struct StemLayout {
  int lda = 0;  // row stride of As and Ws, halves
  size_t a_offset = 0;
  size_t patch_offset = 0;
  size_t patch_buffer = 0;  // halves between the two patch buffers
  size_t bytes = 0;

  __host__ __device__ static size_t Round128(size_t v) { return (v + 127) / 128 * 128; }
  __host__ __device__ static StemLayout Make(int kp, int bn, int patch_rows, int patch_stride) {
    StemLayout l;
    // Kp + 8 (an odd multiple of 8 halves), at least StemMinLda(bn) (the staging of step 6).
    l.lda = kp + 8 > StemMinLda(bn) ? kp + 8 : StemMinLda(bn);
    const size_t w_bytes = Round128(static_cast<size_t>(bn) * l.lda * sizeof(__half));
    const size_t a_bytes = Round128(static_cast<size_t>(kStemBM) * l.lda * sizeof(__half));
    const size_t p_bytes = Round128(static_cast<size_t>(patch_rows) * patch_stride * sizeof(__half));
    l.a_offset = w_bytes;
    l.patch_offset = l.a_offset + a_bytes;
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
// Waits until at most one committed group of this thread is still in flight.
__device__ __forceinline__ void CpAsyncWaitAllButOne() { asm volatile("cp.async.wait_group 1;\n" ::: "memory"); }

// Where tile `tile` starts: image, first output row and column.
struct StemTileOrigin {
  int64_t img;
  int p0, q0;
};
__device__ __forceinline__ StemTileOrigin DecodeStemTile(const StemParams& sp, int64_t tile) {
  const int64_t tiles_per_image = static_cast<int64_t>(sp.tiles_p) * sp.tiles_q;
  StemTileOrigin o;
  o.img = tile / tiles_per_image;
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
// without spills: 3 for BN = 64 (80 registers, 32 of them accumulators), 4 for BN = 32 (64),
// 5 for BN = 16 (48).
constexpr int StemMinBlocks(int bn) { return bn == 64 ? 3 : (bn == 32 ? 4 : 5); }

template <int BN, bool kVec>
__global__ void __launch_bounds__(kStemThreads, StemMinBlocks(BN))
    StemConvNhwcKernel(const __half* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
                       const __half* __restrict__ residual, __half* __restrict__ y, StemParams sp,
                       DeviceActivation act) {
  using namespace nvcuda;
  constexpr int kWarpsN = BN == 64 ? 2 : 1;
  constexpr int kWarpsM = kStemWarps / kWarpsN;
  constexpr int kFragM = kStemBM / kWarpsM / 16;  // 16-row fragment tiles per warp
  constexpr int kFragN = BN / kWarpsN / 16;       // 16-column fragment tiles per warp
  extern __shared__ __align__(128) unsigned char stem_smem[];
  const StemLayout layout = StemLayout::Make(sp.kp, BN, sp.patch_rows, sp.patch_stride);
  const int lda = layout.lda;
  __half* ws = reinterpret_cast<__half*>(stem_smem);
  __half* as = reinterpret_cast<__half*>(stem_smem + layout.a_offset);
  __half* patch_bufs = reinterpret_cast<__half*>(stem_smem + layout.patch_offset);
  const int patch_buffer = static_cast<int>(layout.patch_buffer);
  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const int n0 = blockIdx.y * BN;
  const __half zero = __float2half(0.0f);
  const int tq_mask = (1 << sp.tq_log2) - 1;

  // Step 2 starts first: the first tile's patch is in flight while the weights are staged.
  int64_t tile = blockIdx.x;
  if (tile < sp.tiles) IssueStemPatch(sp, x, DecodeStemTile(sp, tile), patch_bufs, warp, lane);
  CpAsyncCommit();

  // Step 1: the weight tile, and this lane's GEMM-K columns as patch offsets.
  for (int row = warp; row < BN; row += kStemWarps) {
    const int kout = n0 + row;
    const int64_t wbase = static_cast<int64_t>(kout) * sp.rsc;
    for (int kk = lane; kk < sp.kp; kk += 32) {
      ws[row * lda + kk] = (kout < sp.k && kk < sp.rsc) ? w[wbase + kk] : zero;
    }
  }
  int tap_off[kStemSlots];
#pragma unroll
  for (int i = 0; i < kStemSlots; ++i) {
    const int kk = lane + 32 * i;
    tap_off[i] = 0;  // GEMM-K padding: never read (zeros written instead)
    if (kk < sp.rsc) {
      const int c = kk % sp.c;
      const int rs = kk / sp.c;
      tap_off[i] = (rs / sp.s) * sp.dilation_h * sp.patch_stride + (rs % sp.s) * sp.dilation_w * sp.c + c;
    }
  }

  for (int buf = 0; tile < sp.tiles; tile += gridDim.x, buf ^= 1) {
    const StemTileOrigin o = DecodeStemTile(sp, tile);
    const int p0 = o.p0;
    const int q0 = o.q0;
    const int64_t img = o.img;
    // Step 3: start the next tile's patch into the other buffer (last read by the previous
    // tile's im2col, which every warp finished before that tile's second barrier), then wait
    // for this tile's patch (the group before) and make every warp's part visible.
    const int64_t next = tile + gridDim.x;
    if (next < sp.tiles) {
      IssueStemPatch(sp, x, DecodeStemTile(sp, next), patch_bufs + (buf ^ 1) * patch_buffer, warp, lane);
    }
    CpAsyncCommit();
    CpAsyncWaitAllButOne();
    __syncthreads();  // the patch is complete; every warp is done with the previous tile's As
    const __half* patch = patch_bufs + buf * patch_buffer + StemPatchShift(sp, o);

    // Step 4: im2col from the patch, rows m = warp + 8 * j of As.
#pragma unroll 2
    for (int m = warp; m < kStemBM; m += kStemWarps) {
      const int origin = (m >> sp.tq_log2) * sp.stride_h * sp.patch_stride + (m & tq_mask) * sp.stride_w * sp.c;
      const __half* src = patch + origin;
      __half* arow = as + m * lda;
#pragma unroll
      for (int i = 0; i < kStemSlots; ++i) {
        const int kk = lane + 32 * i;
        if (32 * i >= sp.kp) break;
        if (kk < sp.kp) arow[kk] = kk < sp.rsc ? src[tap_off[i]] : zero;
      }
    }
    __syncthreads();

    // Step 5: warp (wm, wn) computes rows 16 * kFragM * wm .. and columns 16 * kFragN * wn ...
    const int wm = warp / kWarpsN;
    const int wn = warp % kWarpsN;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kFragM][kFragN];
#pragma unroll
    for (int i = 0; i < kFragM; ++i) {
#pragma unroll
      for (int j = 0; j < kFragN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
    }
    {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[kFragM];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
      const __half* a_tile = as + wm * kFragM * 16 * lda;
      const __half* b_tile = ws + wn * kFragN * 16 * lda;
      for (int k0 = 0; k0 < sp.kp; k0 += 16) {
#pragma unroll
        for (int i = 0; i < kFragM; ++i) wmma::load_matrix_sync(a[i], a_tile + i * 16 * lda + k0, lda);
#pragma unroll
        for (int j = 0; j < kFragN; ++j) {
          if (n0 + (wn * kFragN + j) * 16 >= sp.k) break;
          wmma::load_matrix_sync(b, b_tile + j * 16 * lda + k0, lda);
#pragma unroll
          for (int i = 0; i < kFragM; ++i) wmma::mma_sync(acc[i][j], a[i], b, acc[i][j]);
        }
      }
    }
    // Step 6: the epilogue, per warp. The kWarpsN warps that share this warp's A rows finish
    // their MMA (a 64-thread named barrier, or __syncwarp for one warp); then those A rows are
    // the group's staging area (StemLayout makes them large enough): each warp stores all its
    // accumulator fragments, 16 x 16 floats each (row stride kStemStageLd), into its own part,
    // and per fragment each lane adds bias and residual to 8 consecutive channels of one of the
    // 16 pixels, applies the activation and stores 16 bytes.
    if (kWarpsN > 1) {
      StemGroupBarrier(wm);
    } else {
      __syncwarp();
    }
    float* stage = reinterpret_cast<float*>(as + wm * kFragM * 16 * lda) + wn * kFragM * kFragN * kStemStageBlock;
#pragma unroll
    for (int j = 0; j < kFragN; ++j) {
      if (n0 + (wn * kFragN + j) * 16 >= sp.k) break;
#pragma unroll
      for (int i = 0; i < kFragM; ++i) {
        wmma::store_matrix_sync(stage + (i * kFragN + j) * kStemStageBlock, acc[i][j], kStemStageLd,
                                wmma::mem_row_major);
      }
    }
    __syncwarp();
    const int row = lane / 2;  // pixel of a fragment this lane finishes
    const int chunk = lane % 2;
#pragma unroll 1
    for (int j = 0; j < kFragN; ++j) {
      const int kout = n0 + (wn * kFragN + j) * 16 + chunk * 8;
      if (n0 + (wn * kFragN + j) * 16 >= sp.k) break;
      for (int i = 0; i < kFragM; ++i) {
        const float* cp = stage + (i * kFragN + j) * kStemStageBlock + row * kStemStageLd + chunk * 8;
        const int m = (wm * kFragM + i) * 16 + row;
        const int op = p0 + (m >> sp.tq_log2);
        const int oq = q0 + (m & tq_mask);
        if (op < sp.p && oq < sp.q && kout < sp.k) {
          const int64_t pix = (img * sp.p + op) * sp.q + oq;
          const float4 lo = *reinterpret_cast<const float4*>(cp);
          const float4 hi = *reinterpret_cast<const float4*>(cp + 4);
          float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
          const int64_t out = pix * sp.k + kout;
          if (kVec) {
            using Pack = VecPack<__half, 8>;
            if (bias != nullptr) {
              const Pack bb = *reinterpret_cast<const Pack*>(bias + kout);
#pragma unroll
              for (int t = 0; t < 8; ++t) v[t] += Load(&bb.v[t]);
            }
            if (residual != nullptr) {
              const Pack z = *reinterpret_cast<const Pack*>(residual + out);
#pragma unroll
              for (int t = 0; t < 8; ++t) v[t] += Load(&z.v[t]);
            }
            Pack result;
#pragma unroll
            for (int t = 0; t < 8; ++t) Store(&result.v[t], act.Apply(v[t]));
            *reinterpret_cast<Pack*>(y + out) = result;
          } else {
#pragma unroll
            for (int t = 0; t < 8; ++t) {
              float f = v[t];
              if (bias != nullptr) f += Load(bias + kout + t);
              if (residual != nullptr) f += Load(residual + out + t);
              Store(y + out + t, act.Apply(f));
            }
          }
        }
      }
    }
    // No barrier here: the next tile's patch has its own bytes, and the barrier before the next
    // im2col orders every warp's MMA and staging (As) before the im2col's As writes.
  }
}

// The output-channel tile: the smallest of 16, 32, 64 covering K, else 64.
int StemTileN(int64_t k) { return k <= 16 ? 16 : (k <= 32 ? 32 : 64); }

template <int BN, bool kVec>
Status LaunchStem(cudaStream_t stream, const StemParams& sp, const __half* x, const __half* w, const __half* bias,
                  const __half* residual, __half* y, const DeviceActivation& act) {
  auto* fn = StemConvNhwcKernel<BN, kVec>;
  const size_t smem = StemLayout::Make(sp.kp, BN, sp.patch_rows, sp.patch_stride).bytes;
  int device = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  int sms = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  int optin = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
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
  fn<<<dim3(static_cast<unsigned>(grid_x), static_cast<unsigned>(k_tiles)), kStemThreads, smem, stream>>>(
      x, w, bias, residual, y, sp, act);
  return LaunchStatus("StemConvNhwcKernel");
}

template <int BN>
Status LaunchStemAligned(cudaStream_t stream, const StemParams& sp, const __half* x, const __half* w,
                         const __half* bias, const __half* residual, __half* y, const DeviceActivation& act) {
  const bool vec = Aligned(bias, 16) && Aligned(residual, 16) && Aligned(y, 16);
  return vec ? LaunchStem<BN, true>(stream, sp, x, w, bias, residual, y, act)
             : LaunchStem<BN, false>(stream, sp, x, w, bias, residual, y, act);
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
  switch (StemTileN(g.k)) {
    case 16:
      return LaunchStemAligned<16>(stream, sp, xh, wh, bh, rh, yh, dact);
    case 32:
      return LaunchStemAligned<32>(stream, sp, xh, wh, bh, rh, yh, dact);
    default:
      return LaunchStemAligned<64>(stream, sp, xh, wh, bh, rh, yh, dact);
  }
}

}  // namespace cuda
}  // namespace edgert
