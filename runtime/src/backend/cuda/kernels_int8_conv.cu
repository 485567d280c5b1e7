// EdgertInt8Conv on CUDA (contract in runtime/src/ops/int8_conv.h; CPU reference int8_conv.cc):
// an implicit-GEMM convolution on INT8 tensor cores (sm_80+), with the contract's float epilogue
// fused in.
//
// GEMM view: M = N*P*Q output pixels (rows), N_gemm = K output channels (columns), K_gemm = R*S*C
// (C innermost). A[m][kg] is X NHWC gathered on the fly (implicit im2col), B[n][kg] is W's KRSC row
// of output channel n (contiguous), so A is "row" and B "col" for
// mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32. C % 16 == 0 (ResolveInt8Conv), so each 16-byte
// chunk of a K_gemm row lies within one filter tap (r, s) and one aligned 16-byte vector of X.
//
// Algorithm:
//   1. Create (host): ResolveInt8Conv (the CPU's checks and messages), device dtypes (X, W, Z int8;
//      B and W_scale float32; the output int8, float32 or float16), compute capability >= 8.0,
//      32-bit index ranges, 16-byte aligned X and W. The tactic candidates (Candidates()), each a
//      tile configuration (kConfigs: BM x BN x BK with warp tiles WM x WN) run single-pass or
//      split-K (step 6), in a fixed order: tactics 0..5 the single-pass 128x128x64, 128x64x64,
//      64x128x64, 64x64x64, 128x128x128, 64x128x128, the single-pass heuristic's choice first
//      (fewest waves times per-SM work); tactics 6..12 (kExtraCandidates) split-K 64x64x64 (about
//      one block per SM), 64x64x64 (about three), 64x128x64, 128x64x64, 64x128x128, then 32x64x64
//      single-pass and split-K. A split candidate whose layer offers too little to split (a full
//      grid, a short K_gemm, no workspace budget) runs single-pass. The default is tactic 0, or
//      split-K tactic 6 when tactic 0's grid fills at most half the SMs and K_gemm >= 1024. A forced
//      tactic is used as given; select_tactics times them all on the layer's scratch tensors and
//      keeps the fastest whose output is byte-identical to the default's (SelectTactic).
//   2. A block computes a BM x BN tile of Y with BM/WM x BN/WN warps, each WM x WN. K_gemm is walked
//      in tiles of BK bytes (64 or 128) through a STAGES-deep cp.async pipeline (16-byte copies
//      into shared memory; src-size 0 zero-fills a chunk outside the image, past M or past
//      K_gemm). Each thread loads the same chunk column (tid % (BK / 16)) of a few rows of A and B;
//      the rows' pixel coordinates (image base, p*sh - top, q*sw - left) are computed once per
//      block and the chunk's (r, s, c) advances incrementally from one K tile to the next.
//   3. Shared memory: per stage A [BM][BK] then B [BN][BK]. The 16-byte chunk c of row `row` is
//      stored at chunk c ^ Swizzle<BK>(row) ((row / 2) % 4 for BK = 64, row % 8 for BK = 128): the
//      eight rows one ldmatrix phase reads (8 rows, one logical chunk) then cover all 32 banks, and
//      so do the cp.async stores.
//   4. Per K tile, BK / 32 k32 steps: ldmatrix.x4 on the b16 view of 16-byte rows yields the s8 A
//      fragment of a 16x32 tile and the B fragments of two 8-column tiles, then WM/16 x WN/8 MMAs
//      accumulate in int32 registers.
//   5. Epilogue from the accumulator registers, in float with explicitly rounded operations (no FMA
//      contraction) in the contract's order: v = float(acc) * (x_scale * W_scale[k]) + B[k];
//      v += z_scale * float(Z); activation (EpilogueActivation: the CPU's formulas, comparisons in
//      the std::min / std::max order); int8: rint(v / y_scale) with NaN -> 0 and saturation, stored
//      NHWC, staged in shared memory as a [BM][BN + 16] byte tile and written as 16-byte row
//      vectors; float: stored NCHW as float32 or float16 from the registers. The activation is
//      dispatched once per thread (None and Relu have their own copy of the loop). Hence FP32
//      results equal the CPU's bit for bit except for the transcendental activations (Sigmoid,
//      SiLU, Tanh, Gelu, GeluTanh). The arithmetic is shared with step 6 (ColumnConstants,
//      EpiloguePair, QuantizeInt8, StoreFloatPair).
//   6. Split-K (for grids far below a wave: batch-1 late layers have M = 49 or 196 rows and a
//      handful of column tiles over a K_gemm of up to 4608): the K tiles are cut into S slices of
//      kt_per_slice tiles, one per blockIdx.z; a slice block runs steps 2-4 on its tiles and stores
//      its int32 sums to plane z of the workspace ([S][M][K] for int8 output, [S][K][M] for float
//      output), then Int8ConvSplitKReduce adds the S planes per output element in int32 (modulo
//      2^32 like the MMA: integer sums do not depend on the order, so every candidate's output is
//      the same bytes) and runs the step-5 epilogue, storing Y directly. S = the SM count (or three
//      times it) / the grid's blocks, capped by K tiles / (256 or 128 bytes of K_gemm), 64 and the
//      workspace budget (CudaOpContext::max_workspace_bytes); WorkspaceBytes() is S * M * K * 4 of
//      the chosen candidate.
//
// Contracts (cuda_kernel.h): Create allocates no device memory; with select_tactics it fills X and
// Z (scratch tensors of the tactic pass) with test data, times the candidates on a private stream
// with a temporary cudaMalloc'ed split-K workspace and frees its stream, events, workspace and host
// copies before it returns; the constants W, B, W_scale are only read. Enqueue launches one kernel
// (single-pass) or two (split-K: slices, then the reduction, both on the caller's stream, using the
// context's workspace from SetWorkspace()): no allocation, no synchronization, graph-capturable.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "../../ops/int8_conv.h"
#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_kernel.h"

namespace edgert {
namespace cuda {
namespace {

// Geometry passed to the kernel by value (32-bit: Create checks the ranges).
struct Int8ConvGeom {
  int n, h, w, c;
  int k, r, s;
  int p, q;
  int stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
  int m;   // N * P * Q
  int kg;  // R * S * C
  // Split-K launches only (set per launch): K tiles per slice (blockIdx.z = slice), and the layout
  // of the int32 partials: [slice][M][K] (0, int8 output) or [slice][K][M] (1, float output), so
  // that the reduction reads and writes whole rows of its output layout.
  int kt_per_slice;
  int part_cm;
};

// The epilogue's operands and scalars.
struct Int8ConvEpilogue {
  const float* w_scale;  // [K]
  const float* bias;     // [K] or null
  const int8_t* z;       // [N, P, Q, K] or null
  void* y;
  float x_scale, z_scale, y_scale;
  DeviceActivation act;
  int32_t* partials;  // split-K launches: the workspace (the slices' int32 sums); null otherwise
  bool pack2;         // K even and Z 2-byte aligned: Z's column pairs as one 2-byte word
  bool ypack2;        // K even and Y 2-byte aligned: int8 Y's column pairs as one 2-byte word
  bool vec16;         // K % 16 == 0 and Y 16-byte aligned: int8 Y rows as 16-byte vectors
};

// The CPU reference's activation formulas (fused_activation.cc) with explicitly rounded arithmetic
// and the comparison order of std::max(a, b) = (a < b) ? b : a and std::min(a, b) = (b < a) ? b : a,
// so NaN and signed zeros come out as on the CPU. Transcendental ones use DeviceActivation.
__device__ __forceinline__ float StdMax(float a, float b) { return (a < b) ? b : a; }
__device__ __forceinline__ float StdMin(float a, float b) { return (b < a) ? b : a; }

__device__ __forceinline__ float EpilogueActivation(const DeviceActivation& act, float x) {
  switch (act.kind) {
    case FusedEpilogue::Kind::kNone:
      return x;
    case FusedEpilogue::Kind::kRelu:
      return x > 0.0f ? x : 0.0f;
    case FusedEpilogue::Kind::kLeakyRelu:
      return x >= 0.0f ? x : __fmul_rn(act.alpha, x);
    case FusedEpilogue::Kind::kClip:
      return StdMin(StdMax(x, act.alpha), act.beta);
    case FusedEpilogue::Kind::kHardSigmoid:
      return StdMin(1.0f, StdMax(0.0f, __fadd_rn(__fmul_rn(act.alpha, x), act.beta)));
    case FusedEpilogue::Kind::kHardSwish:
      return __fmul_rn(x, StdMin(1.0f, StdMax(0.0f, __fadd_rn(__fdiv_rn(x, 6.0f), 0.5f))));
    default:
      return act.Apply(x);
  }
}

// QuantizeLinear's rule: rint(v / y_scale) half to even, NaN -> 0, saturated to [-128, 127].
__device__ __forceinline__ int8_t QuantizeInt8(float v, float y_scale) {
  const float x = __fdiv_rn(v, y_scale);
  float r = x != x ? 0.0f : rintf(x);
  r = r < -128.0f ? -128.0f : (r > 127.0f ? 127.0f : r);
  return static_cast<int8_t>(static_cast<int>(r));
}

// A kind known at compile time, or kAnyActivation (dispatch on DeviceActivation::kind).
template <FusedEpilogue::Kind K>
using ActKind = std::integral_constant<FusedEpilogue::Kind, K>;
constexpr FusedEpilogue::Kind kAnyActivation = static_cast<FusedEpilogue::Kind>(255);

template <FusedEpilogue::Kind K>
__device__ __forceinline__ float ActivationOf(ActKind<K>, const DeviceActivation& act, float x) {
  if constexpr (K == FusedEpilogue::Kind::kNone) {
    return x;
  } else if constexpr (K == FusedEpilogue::Kind::kRelu) {
    return x > 0.0f ? x : 0.0f;
  } else {
    return EpilogueActivation(act, x);
  }
}

template <typename OutT>
__device__ __forceinline__ void StoreFloat(OutT* p, float v) {
  if constexpr (std::is_same_v<OutT, __half>) {
    *p = __float2half_rn(v);
  } else {
    *p = v;
  }
}

// Step 5, shared by the single-pass kernel and the split-K reduction (so both round alike): the
// per-column constants m[k] = x_scale * W_scale[k] and B[k] of column `col` (0 past K).
__device__ __forceinline__ void ColumnConstants(const Int8ConvEpilogue& e, int col, int k, float& mult, float& bias) {
  const bool ok = col < k;
  mult = ok ? __fmul_rn(e.x_scale, e.w_scale[col]) : 0.0f;
  bias = (ok && e.bias != nullptr) ? e.bias[col] : 0.0f;
}

// Step 5's arithmetic for the columns col0 (even) and col0 + 1 (only when `pair`) of one output row,
// from their int32 sums acc0, acc1: v = float(acc) * m[k] + B[k]; v += z_scale * float(Z); v =
// act(v). `nhwc` is the NHWC index of (row, col0) (Z's layout). v1 is meaningless without `pair`.
template <FusedEpilogue::Kind K>
__device__ __forceinline__ void EpiloguePair(ActKind<K> kind, const Int8ConvEpilogue& e, int64_t nhwc, bool pair,
                                             int32_t acc0, int32_t acc1, float mult0, float mult1, float bias0,
                                             float bias1, float& v0, float& v1) {
  float z0 = 0.0f, z1 = 0.0f;
  if (e.z != nullptr) {
    if (pair && e.pack2) {
      const char2 zz = *reinterpret_cast<const char2*>(e.z + nhwc);
      z0 = static_cast<float>(zz.x);
      z1 = static_cast<float>(zz.y);
    } else {
      z0 = static_cast<float>(e.z[nhwc]);
      if (pair) z1 = static_cast<float>(e.z[nhwc + 1]);
    }
  }
  // One column after the other (as the registers of the 128x128 tiles prefer: no spill).
  v0 = __fadd_rn(__fmul_rn(__int2float_rn(acc0), mult0), bias0);
  if (e.z != nullptr) v0 = __fadd_rn(v0, __fmul_rn(e.z_scale, z0));
  v0 = ActivationOf(kind, e.act, v0);
  v1 = __fadd_rn(__fmul_rn(__int2float_rn(acc1), mult1), bias1);
  if (e.z != nullptr) v1 = __fadd_rn(v1, __fmul_rn(e.z_scale, z1));
  v1 = ActivationOf(kind, e.act, v1);
}

// Float output NCHW: element (n, k, pq) of row m = n * PQ + pq is at n * K * PQ + k * PQ + pq; this
// is the offset of (n, 0, pq).
__device__ __forceinline__ int64_t NchwRowBase(int m, int pq, int k) {
  const int n = m / pq;
  return static_cast<int64_t>(n) * k * pq + (m - n * pq);
}

// Stores the float results of columns col0 and col0 + 1 (when `pair`) of one row, NCHW.
template <typename OutT>
__device__ __forceinline__ void StoreFloatPair(OutT* y, int64_t row_base, int col0, bool pair, int pq, float v0,
                                               float v1) {
  StoreFloat(y + row_base + static_cast<int64_t>(col0) * pq, v0);
  if (pair) StoreFloat(y + row_base + static_cast<int64_t>(col0 + 1) * pq, v1);
}

// Calls body(ActKind<...>{}) with the activation kind known at compile time for the common kinds
// (no per-element dispatch in their loops), kAnyActivation for the others.
template <typename Body>
__device__ __forceinline__ void DispatchActivation(FusedEpilogue::Kind kind, Body&& body) {
  switch (kind) {
    case FusedEpilogue::Kind::kNone:
      body(ActKind<FusedEpilogue::Kind::kNone>{});
      break;
    case FusedEpilogue::Kind::kRelu:
      body(ActKind<FusedEpilogue::Kind::kRelu>{});
      break;
    default:
      body(ActKind<kAnyActivation>{});
      break;
  }
}

__device__ __forceinline__ uint32_t SmemAddr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte cp.async; src_bytes 0 writes zeros (and reads nothing).
__device__ __forceinline__ void CpAsync16(uint32_t dst, const void* src, int src_bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
#endif
}

__device__ __forceinline__ void CpAsyncCommit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int N>
__device__ __forceinline__ void CpAsyncWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

__device__ __forceinline__ void LdMatrixX4(uint32_t addr, uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
               : "r"(addr));
#endif
}

__device__ __forceinline__ void MmaS8(int32_t* c, const uint32_t* a, uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#endif
}

// The swizzle of the 16-byte chunks of row `row` in a [rows][BK bytes] tile: chunk c is stored at
// c ^ Swizzle<BK>(row). BK = 64: two rows share a 128-byte bank line, so rows 2i and 2i + 1 take
// the halves and (row / 2) % 4 permutes the chunks; BK = 128: row % 8.
template <int BK>
__device__ __forceinline__ int Swizzle(int row) {
  static_assert(BK == 64 || BK == 128, "BK must be 64 or 128 bytes");
  return BK == 64 ? (row >> 1) & 3 : row & 7;
}

// Byte offset of chunk `chunk` of row `row` in a [rows][BK bytes] swizzled tile.
template <int BK>
__device__ __forceinline__ uint32_t SwizzledOffset(int row, int chunk) {
  return static_cast<uint32_t>(row * BK + ((chunk ^ Swizzle<BK>(row)) << 4));
}

// MIN_BLOCKS resident blocks per SM bound the registers (65536 / (threads * MIN_BLOCKS) a thread).
// OutT int32_t: a split-K slice (step 6): K tiles [z * kt_per_slice, (z + 1) * kt_per_slice) of
// blockIdx.z = z, the int32 sums stored to e.partials; otherwise the whole K_gemm and the epilogue.
template <int BM, int BN, int BK, int WM, int WN, int STAGES, int MIN_BLOCKS, typename OutT>
__global__ void __launch_bounds__((BM / WM) * (BN / WN) * 32, MIN_BLOCKS)
    Int8ConvKernel(const int8_t* __restrict__ x, const int8_t* __restrict__ w, Int8ConvGeom g, Int8ConvEpilogue e) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  constexpr int kWarpsN = BN / WN;
  constexpr int kThreads = (BM / WM) * kWarpsN * 32;
  constexpr int kChunks = BK / 16;                  // 16-byte chunks per row
  constexpr int kRowsPerPass = kThreads / kChunks;  // rows one pass of the block's threads loads
  constexpr int kARows = BM / kRowsPerPass;         // A rows per thread
  constexpr int kBRows = BN / kRowsPerPass;         // B rows per thread
  constexpr int kMT = WM / 16;
  constexpr int kNT = WN / 8;
  constexpr int kStageBytes = (BM + BN) * BK;
  constexpr bool kPartial = std::is_same_v<OutT, int32_t>;
  static_assert(BM % kRowsPerPass == 0 && BN % kRowsPerPass == 0, "tile rows must be a multiple of a pass");
  static_assert(WM % 16 == 0 && WN % 16 == 0, "warp tile must be a multiple of 16x16");

  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t smem_base = SmemAddr(smem);
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int warp_m = warp / kWarpsN;
  const int warp_n = warp % kWarpsN;
  const int block_m = blockIdx.x * BM;
  const int block_n = blockIdx.y * BN;

  // Step 2: this thread's rows (row0 + i * kRowsPerPass) and chunk column.
  const int chunk = tid % kChunks;
  const int row0 = tid / kChunks;
  const int8_t* a_img[kARows];
  int a_ih0[kARows], a_iw0[kARows];
  const int pq = g.p * g.q;
#pragma unroll
  for (int i = 0; i < kARows; ++i) {
    const int m = block_m + row0 + i * kRowsPerPass;
    if (m < g.m) {
      const int n = m / pq;
      const int rem = m - n * pq;
      const int op = rem / g.q;
      const int oq = rem - op * g.q;
      a_img[i] = x + static_cast<int64_t>(n) * g.h * g.w * g.c;
      a_ih0[i] = op * g.stride_h - g.pad_top;
      a_iw0[i] = oq * g.stride_w - g.pad_left;
    } else {
      a_img[i] = x;
      a_ih0[i] = -(1 << 30);  // never inside the image
      a_iw0[i] = -(1 << 30);
    }
  }
  const int8_t* b_row[kBRows];
  bool b_ok[kBRows];
#pragma unroll
  for (int i = 0; i < kBRows; ++i) {
    const int n = block_n + row0 + i * kRowsPerPass;
    b_ok[i] = n < g.k;
    b_row[i] = w + static_cast<int64_t>(b_ok[i] ? n : 0) * g.kg;
  }
  // This block's K tiles: all of them, or its slice's.
  int kt_begin = 0;
  int k_tiles = (g.kg + BK - 1) / BK;
  if constexpr (kPartial) {
    kt_begin = static_cast<int>(blockIdx.z) * g.kt_per_slice;
    k_tiles = min(g.kt_per_slice, k_tiles - kt_begin);
  }
  // (r, s, c) of this thread's chunk in the next K tile to load.
  int kg_next = kt_begin * BK + chunk * 16;
  int tap = kg_next / g.c;
  int cin = kg_next - tap * g.c;
  int ks = tap % g.s;
  int kr = tap / g.s;

  auto load_tile = [&](int stage) {
    const uint32_t a_base = smem_base + stage * kStageBytes;
    const uint32_t b_base = a_base + BM * BK;
    const bool k_ok = kg_next < g.kg;
    const int dh = kr * g.dil_h;
    const int dw = ks * g.dil_w;
#pragma unroll
    for (int i = 0; i < kARows; ++i) {
      const int ih = a_ih0[i] + dh;
      const int iw = a_iw0[i] + dw;
      const bool ok = k_ok && static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
                      static_cast<unsigned>(iw) < static_cast<unsigned>(g.w);
      const int8_t* src = ok ? a_img[i] + (static_cast<int64_t>(ih) * g.w + iw) * g.c + cin : x;
      CpAsync16(a_base + SwizzledOffset<BK>(row0 + i * kRowsPerPass, chunk), src, ok ? 16 : 0);
    }
#pragma unroll
    for (int i = 0; i < kBRows; ++i) {
      const bool ok = k_ok && b_ok[i];
      CpAsync16(b_base + SwizzledOffset<BK>(row0 + i * kRowsPerPass, chunk), ok ? b_row[i] + kg_next : w, ok ? 16 : 0);
    }
    // Advance to the next K tile: 64 bytes further along (r, s, c).
    kg_next += BK;
    cin += BK;
    while (cin >= g.c) {
      cin -= g.c;
      if (++ks == g.s) {
        ks = 0;
        ++kr;
      }
    }
  };

  int32_t acc[kMT][kNT][4];
#pragma unroll
  for (int i = 0; i < kMT; ++i) {
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int t = 0; t < 4; ++t) acc[i][j][t] = 0;
  }

  // Prologue: STAGES - 1 tiles in flight.
#pragma unroll
  for (int st = 0; st < STAGES - 1; ++st) {
    if (st < k_tiles) load_tile(st);
    CpAsyncCommit();
  }

  // ldmatrix lane geometry (step 4): A rows lane % 16, chunk + lane / 16; B rows lane % 8 (+8 for
  // lanes 16..31), chunk + (lane / 8) % 2. The swizzle term of those rows depends on the lane only.
  // Warp tile rows start at multiples of 16, so the swizzle of a lane's rows is the same for every
  // 16-row step: the byte offsets within a row are computed once per k32 step.
  constexpr int kSteps = BK / 32;
  const int a_lane_row = warp_m * WM + (lane & 15);
  const int b_lane_row = warp_n * WN + (lane & 7) + ((lane >> 4) << 3);
  uint32_t a_col[kSteps], b_col[kSteps];
#pragma unroll
  for (int kk = 0; kk < kSteps; ++kk) {
    a_col[kk] = static_cast<uint32_t>(((kk * 2 + (lane >> 4)) ^ Swizzle<BK>(a_lane_row)) << 4);
    b_col[kk] = static_cast<uint32_t>(((kk * 2 + ((lane >> 3) & 1)) ^ Swizzle<BK>(b_lane_row)) << 4);
  }
  const uint32_t a_row_off = static_cast<uint32_t>(a_lane_row * BK);
  const uint32_t b_row_off = static_cast<uint32_t>(b_lane_row * BK);

  for (int kt = 0; kt < k_tiles; ++kt) {
    CpAsyncWait<STAGES - 2>();
    __syncthreads();
    {
      const int next = kt + STAGES - 1;
      if (next < k_tiles) load_tile(next % STAGES);
      CpAsyncCommit();
    }
    const uint32_t a_base = smem_base + (kt % STAGES) * kStageBytes;
    const uint32_t b_base = a_base + BM * BK;
#pragma unroll
    for (int kk = 0; kk < kSteps; ++kk) {
      uint32_t af[kMT][4];
      uint32_t bf[kNT][2];
#pragma unroll
      for (int i = 0; i < kMT; ++i) {
        LdMatrixX4(a_base + a_row_off + i * 16 * BK + a_col[kk], af[i][0], af[i][1], af[i][2], af[i][3]);
      }
#pragma unroll
      for (int j = 0; j < kNT / 2; ++j) {
        LdMatrixX4(b_base + b_row_off + j * 16 * BK + b_col[kk], bf[2 * j][0], bf[2 * j][1], bf[2 * j + 1][0],
                   bf[2 * j + 1][1]);
      }
#pragma unroll
      for (int i = 0; i < kMT; ++i)
#pragma unroll
        for (int j = 0; j < kNT; ++j) MmaS8(acc[i][j], af[i], bf[j][0], bf[j][1]);
    }
  }
  CpAsyncWait<0>();

  const int gid = lane >> 2;
  const int tig = lane & 3;
  if constexpr (kPartial) {
    // Step 6: the slice's int32 sums, element t of tile (i, j) at row gid + 8 * (t / 2), column
    // 2 * tig + t % 2, into its [M][K] (or [K][M]) plane of the workspace; the reduction kernel adds
    // the planes and runs the epilogue.
    int32_t* part = e.partials + static_cast<int64_t>(blockIdx.z) * g.m * g.k;
    const bool k_even = (g.k & 1) == 0;
#pragma unroll
    for (int i = 0; i < kMT; ++i)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int m = block_m + warp_m * WM + i * 16 + gid + half * 8;
        if (m >= g.m) continue;
#pragma unroll
        for (int j = 0; j < kNT; ++j) {
          const int col0 = block_n + warp_n * WN + j * 8 + tig * 2;
          if (col0 >= g.k) continue;
          const bool pair = col0 + 1 < g.k;
          const int32_t a0 = acc[i][j][half * 2];
          const int32_t a1 = acc[i][j][half * 2 + 1];
          if (g.part_cm) {
            part[static_cast<int64_t>(col0) * g.m + m] = a0;
            if (pair) part[static_cast<int64_t>(col0 + 1) * g.m + m] = a1;
          } else if (k_even) {
            *reinterpret_cast<int2*>(part + static_cast<int64_t>(m) * g.k + col0) = make_int2(a0, a1);
          } else {
            part[static_cast<int64_t>(m) * g.k + col0] = a0;
            if (pair) part[static_cast<int64_t>(m) * g.k + col0 + 1] = a1;
          }
        }
      }
  } else {
    // Step 5: the epilogue. Accumulator element t of tile (i, j): row gid + 8 * (t / 2), column
    // 2 * tig + t % 2. Int8 output goes through shared memory (the pipeline's, once every warp is
    // done with it): [BM][BN + 16] bytes, then 16-byte row vectors to Y.
    constexpr int kYStride = BN + 16;
    static_assert(BM * kYStride <= STAGES * kStageBytes, "the int8 output tile must fit the pipeline's memory");
    if constexpr (std::is_same_v<OutT, int8_t>) __syncthreads();
    float mult[kNT][2], bias[kNT][2];
#pragma unroll
    for (int j = 0; j < kNT; ++j)
#pragma unroll
      for (int t = 0; t < 2; ++t) {
        ColumnConstants(e, block_n + warp_n * WN + j * 8 + tig * 2 + t, g.k, mult[j][t], bias[j][t]);
      }
    OutT* y = static_cast<OutT*>(e.y);
    // The activation is uniform: one copy of the loop per common kind (no per-element dispatch).
    DispatchActivation(e.act.kind, [&](auto kind) {
#pragma unroll
      for (int i = 0; i < kMT; ++i)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int local_m = warp_m * WM + i * 16 + gid + half * 8;
          const int m = block_m + local_m;
          if (m >= g.m) continue;
          [[maybe_unused]] int64_t row_base = 0;
          if constexpr (!std::is_same_v<OutT, int8_t>) {
            row_base = NchwRowBase(m, pq, g.k);
          }
          // Columns col0 and col0 + 1 (col0 even).
#pragma unroll
          for (int j = 0; j < kNT; ++j) {
            const int col0 = block_n + warp_n * WN + j * 8 + tig * 2;
            if (col0 >= g.k) continue;
            const bool pair = col0 + 1 < g.k;
            float v0, v1;
            EpiloguePair(kind, e, static_cast<int64_t>(m) * g.k + col0, pair, acc[i][j][half * 2],
                         acc[i][j][half * 2 + 1], mult[j][0], mult[j][1], bias[j][0], bias[j][1], v0, v1);
            if constexpr (std::is_same_v<OutT, int8_t>) {
              *reinterpret_cast<char2*>(smem + local_m * kYStride + (col0 - block_n)) =
                  make_char2(static_cast<signed char>(QuantizeInt8(v0, e.y_scale)),
                             static_cast<signed char>(QuantizeInt8(v1, e.y_scale)));
            } else {
              StoreFloatPair(y, row_base, col0, pair, pq, v0, v1);
            }
          }
        }
    });
    if constexpr (std::is_same_v<OutT, int8_t>) {
      __syncthreads();
      constexpr int kVecPerRow = BN / 16;
      for (int idx = tid; idx < BM * kVecPerRow; idx += kThreads) {
        const int local_m = idx / kVecPerRow;
        const int local_c = (idx % kVecPerRow) * 16;
        const int m = block_m + local_m;
        const int col = block_n + local_c;
        if (m >= g.m || col >= g.k) continue;
        const unsigned char* src = smem + local_m * kYStride + local_c;
        int8_t* dst = y + static_cast<int64_t>(m) * g.k + col;
        if (e.vec16) {  // K % 16 == 0: the whole vector is inside the row
          *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
        } else {
          for (int b = 0; b < 16 && col + b < g.k; ++b) dst[b] = static_cast<int8_t>(src[b]);
        }
      }
    }
  }
#endif
}

// Step 6, the split-K reduction: one thread per column pair (col0, col0 + 1) of one output row adds
// the slices' int32 partials (modulo 2^32, as the MMA accumulates: the sum is the single-pass
// kernel's whatever the slicing) and runs the shared epilogue. Threads walk the partials' layout:
// int8 output [slice][M][K], pairs along K (Y NHWC rows); float output [slice][K][M], rows along M
// (Y NCHW planes), so reads and writes are coalesced either way.
constexpr int kReduceThreads = 128;

template <typename OutT>
__global__ void __launch_bounds__(kReduceThreads) Int8ConvSplitKReduce(int slices, Int8ConvGeom g, Int8ConvEpilogue e) {
  const int kp = (g.k + 1) >> 1;
  const int64_t total = static_cast<int64_t>(g.m) * kp;
  const int64_t plane = static_cast<int64_t>(g.m) * g.k;  // one slice's partials
  const int pq = g.p * g.q;
  const bool k_even = (g.k & 1) == 0;
  const int32_t* part = e.partials;
  OutT* y = static_cast<OutT*>(e.y);
  DispatchActivation(e.act.kind, [&](auto kind) {
    for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
         idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      int m, col0;
      if (g.part_cm) {
        const int cp = static_cast<int>(idx / g.m);
        m = static_cast<int>(idx - static_cast<int64_t>(cp) * g.m);
        col0 = cp * 2;
      } else {
        m = static_cast<int>(idx / kp);
        col0 = static_cast<int>(idx - static_cast<int64_t>(m) * kp) * 2;
      }
      const bool pair = col0 + 1 < g.k;
      uint32_t s0 = 0, s1 = 0;
      if (g.part_cm || !k_even) {
        const int32_t* p0 =
            part + (g.part_cm ? static_cast<int64_t>(col0) * g.m + m : static_cast<int64_t>(m) * g.k + col0);
        const int32_t* p1 = pair ? p0 + (g.part_cm ? g.m : 1) : p0;
#pragma unroll 4
        for (int sl = 0; sl < slices; ++sl) {
          s0 += static_cast<uint32_t>(p0[sl * plane]);
          s1 += static_cast<uint32_t>(p1[sl * plane]);
        }
      } else {  // [M][K] with K even: the pair is one aligned 8-byte word
        const int2* p = reinterpret_cast<const int2*>(part + static_cast<int64_t>(m) * g.k + col0);
#pragma unroll 4
        for (int sl = 0; sl < slices; ++sl) {
          const int2 v = p[sl * (plane / 2)];
          s0 += static_cast<uint32_t>(v.x);
          s1 += static_cast<uint32_t>(v.y);
        }
      }
      float mult0, bias0, mult1, bias1;
      ColumnConstants(e, col0, g.k, mult0, bias0);
      ColumnConstants(e, col0 + 1, g.k, mult1, bias1);
      const int64_t nhwc = static_cast<int64_t>(m) * g.k + col0;
      float v0, v1;
      EpiloguePair(kind, e, nhwc, pair, static_cast<int32_t>(s0), static_cast<int32_t>(s1), mult0, mult1, bias0, bias1,
                   v0, v1);
      if constexpr (std::is_same_v<OutT, int8_t>) {
        const int8_t q0 = QuantizeInt8(v0, e.y_scale);
        if (pair && e.ypack2) {
          *reinterpret_cast<char2*>(y + nhwc) =
              make_char2(static_cast<signed char>(q0), static_cast<signed char>(QuantizeInt8(v1, e.y_scale)));
        } else {
          y[nhwc] = q0;
          if (pair) y[nhwc + 1] = QuantizeInt8(v1, e.y_scale);
        }
      } else {
        StoreFloatPair(y, NchwRowBase(m, pq, g.k), col0, pair, pq, v0, v1);
      }
    }
  });
}

// A tile configuration.
struct TileConfig {
  int bm, bn, bk, wm, wn, stages;
  int blocks_per_sm;  // the kernel's MIN_BLOCKS (registers and shared memory allow that many)
  int threads() const { return (bm / wm) * (bn / wn) * 32; }
  size_t smem_bytes() const { return static_cast<size_t>(stages) * (bm + bn) * bk; }
};

// Index order here is internal; the tactic numbering is Candidates()' order.
constexpr TileConfig kConfigs[] = {
    {128, 128, 64, 64, 32, 4, 2},   // 8 warps (2 x 4), 64 KB
    {128, 64, 64, 64, 32, 4, 4},    // 4 warps (2 x 2), 48 KB
    {64, 128, 64, 32, 32, 4, 2},    // 8 warps (2 x 4), 48 KB
    {64, 64, 64, 32, 32, 4, 4},     // 4 warps (2 x 2), 32 KB
    {128, 128, 128, 64, 32, 3, 2},  // 8 warps (2 x 4), 96 KB
    {64, 128, 128, 32, 32, 3, 2},   // 8 warps (2 x 4), 72 KB
    {32, 64, 64, 16, 32, 4, 4},     // 4 warps (2 x 2), 24 KB: small M (tactics 11, 12 only)
};
// The configurations the single-pass heuristic chooses among: tactics 0..5 (their meaning predates
// split-K and must not change: plans and timing caches store tactic indices).
constexpr int kNumClassicConfigs = 6;

// How a candidate divides K_gemm (step 6): not at all, or into enough slices for about one block
// (kOneWave) or three blocks (kThreeWaves) per SM, each slice at least 256 (kOneWave) or 128
// (kThreeWaves) bytes of K_gemm.
enum class Split { kNone, kOneWave, kThreeWaves };

struct ExtraCandidate {
  int config;
  Split split;
};
// Tactics 6.., after the six classic ones.
constexpr ExtraCandidate kExtraCandidates[] = {
    {3, Split::kOneWave},     // 6: 64x64x64 split-K (the split-K default)
    {3, Split::kThreeWaves},  // 7: 64x64x64 split-K, more slices
    {2, Split::kOneWave},     // 8: 64x128x64 split-K
    {1, Split::kOneWave},     // 9: 128x64x64 split-K
    {5, Split::kOneWave},     // 10: 64x128x128 split-K
    {6, Split::kNone},        // 11: 32x64x64
    {6, Split::kOneWave},     // 12: 32x64x64 split-K
};
constexpr int kNumExtraCandidates = static_cast<int>(sizeof(kExtraCandidates) / sizeof(kExtraCandidates[0]));
constexpr int kNumCandidates = kNumClassicConfigs + kNumExtraCandidates;
constexpr int kSplitDefaultTactic = kNumClassicConfigs;  // tactic 6
constexpr int kMaxSlices = 64;
// The heuristic's split-K rule: the single-pass default fills at most 1/kSparseGridDivisor of the
// SMs and K_gemm has at least kLongKgBytes (16 K tiles of 64 bytes).
constexpr int kSparseGridDivisor = 2;
constexpr int64_t kLongKgBytes = 1024;

using KernelFn = void (*)(const int8_t*, const int8_t*, Int8ConvGeom, Int8ConvEpilogue);

// The kernel of `config` producing OutT (int32_t: a split-K slice; configurations 1, 2, 3, 5 and 6
// only, the others have no split candidate: null).
template <typename OutT>
KernelFn KernelFor(int config) {
  if constexpr (!std::is_same_v<OutT, int32_t>) {
    switch (config) {
      case 0:
        return &Int8ConvKernel<128, 128, 64, 64, 32, 4, 2, OutT>;
      case 4:
        return &Int8ConvKernel<128, 128, 128, 64, 32, 3, 2, OutT>;
      default:
        break;
    }
  }
  switch (config) {
    case 1:
      return &Int8ConvKernel<128, 64, 64, 64, 32, 4, 4, OutT>;
    case 2:
      return &Int8ConvKernel<64, 128, 64, 32, 32, 4, 2, OutT>;
    case 3:
      return &Int8ConvKernel<64, 64, 64, 32, 32, 4, 4, OutT>;
    case 5:
      return &Int8ConvKernel<64, 128, 128, 32, 32, 3, 2, OutT>;
    case 6:
      return &Int8ConvKernel<32, 64, 64, 16, 32, 4, 4, OutT>;
    default:
      return nullptr;
  }
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One candidate as this layer launches it.
struct LaunchPlan {
  int config = 0;
  int slices = 1;        // 1: the single-pass kernel; > 1: split-K slices + the reduction
  int kt_per_slice = 0;  // K tiles per slice (every slice has at least one)
  size_t workspace = 0;  // bytes of int32 partials (slices * M * K * 4)
};

// The plan of `config` under `split` for an M x K GEMM with K_gemm = kg: slices = target blocks /
// the grid's blocks, at most K tiles / the minimum slice, kMaxSlices and what the workspace budget
// holds; then evened out (K tiles per slice = ceil(K tiles / slices), slices = ceil(K tiles / that)).
// Fewer than 2 slices: the single-pass kernel.
LaunchPlan PlanFor(int config, Split split, int64_t m, int64_t k, int64_t kg, int sm_count, size_t max_workspace) {
  const TileConfig& t = kConfigs[config];
  LaunchPlan plan;
  plan.config = config;
  const int64_t k_tiles = CeilDiv(kg, t.bk);
  plan.kt_per_slice = static_cast<int>(k_tiles);
  if (split == Split::kNone || m <= 0 || k <= 0) return plan;
  const int64_t blocks = CeilDiv(m, t.bm) * CeilDiv(k, t.bn);
  const int64_t target = (split == Split::kOneWave ? 1 : 3) * static_cast<int64_t>(sm_count);
  const int64_t min_tiles = std::max<int64_t>(1, (split == Split::kOneWave ? 256 : 128) / t.bk);
  const int64_t plane = m * k * static_cast<int64_t>(sizeof(int32_t));
  int64_t slices = std::min({target / blocks, k_tiles / min_tiles, int64_t{kMaxSlices},
                             static_cast<int64_t>(max_workspace / static_cast<size_t>(plane))});
  if (slices < 2) return plan;
  const int64_t per = CeilDiv(k_tiles, slices);
  slices = CeilDiv(k_tiles, per);
  plan.slices = static_cast<int>(slices);
  plan.kt_per_slice = static_cast<int>(per);
  plan.workspace = static_cast<size_t>(slices * plane);
  return plan;
}

// The candidates in tactic order and the default among them.
//   Tactics 0..5: the six classic configurations single-pass, the single-pass heuristic's choice
//   first, then the others in kConfigs order. That choice minimizes waves * (work of one SM in one
//   wave), i.e. ceil(blocks / (SMs * blocks_per_sm)) * blocks_per_sm * BM * BN: a throughput-per-SM
//   model that charges the last, partly filled wave in full (ties: the earlier configuration).
//   Tactics 6..12: kExtraCandidates.
//   The default is tactic 0, or the split-K tactic 6 when tactic 0's grid has at most SMs / 2
//   blocks, K_gemm >= 1024 and tactic 6 really splits (batch-1 late layers: M = 49 or 196 output
//   pixels, a handful of blocks, each walking a K_gemm of up to 4608 alone).
struct CandidateList {
  std::vector<LaunchPlan> plans;
  int default_tactic = 0;
};

CandidateList Candidates(int64_t m, int64_t k, int64_t kg, int sm_count, size_t max_workspace) {
  int best = 0;
  int64_t best_cost = -1;
  for (int c = 0; c < kNumClassicConfigs; ++c) {
    const TileConfig& t = kConfigs[c];
    const int64_t blocks = CeilDiv(m, t.bm) * CeilDiv(k, t.bn);
    const int64_t slots = static_cast<int64_t>(sm_count) * t.blocks_per_sm;
    const int64_t cost = CeilDiv(blocks, slots) * t.blocks_per_sm * t.bm * t.bn;
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best = c;
    }
  }
  CandidateList list;
  list.plans.reserve(kNumCandidates);
  list.plans.push_back(PlanFor(best, Split::kNone, m, k, kg, sm_count, max_workspace));
  for (int c = 0; c < kNumClassicConfigs; ++c) {
    if (c != best) list.plans.push_back(PlanFor(c, Split::kNone, m, k, kg, sm_count, max_workspace));
  }
  for (const ExtraCandidate& extra : kExtraCandidates) {
    list.plans.push_back(PlanFor(extra.config, extra.split, m, k, kg, sm_count, max_workspace));
  }
  const TileConfig& t = kConfigs[best];
  const int64_t blocks = CeilDiv(m, t.bm) * CeilDiv(k, t.bn);
  if (blocks * kSparseGridDivisor <= sm_count && kg >= kLongKgBytes && list.plans[kSplitDefaultTactic].slices >= 2) {
    list.default_tactic = kSplitDefaultTactic;
  }
  return list;
}

// Deterministic int8 test data for tactic timing (select_tactics only).
__global__ void FillInt8TestData(int8_t* __restrict__ p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ static_cast<uint32_t>(i >> 32) ^ seed;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    p[i] = static_cast<int8_t>(h >> 24);
  }
}

// The stream, events and temporary workspace of one tactic selection, released when it goes out of
// scope (after the stream's work).
struct TimingResources {
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  void* workspace = nullptr;
  ~TimingResources() {
    if (stream != nullptr) cudaStreamSynchronize(stream);
    if (workspace != nullptr) cudaFree(workspace);
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

class Int8ConvLaunch : public CudaKernel {
 public:
  Int8ConvLaunch(const Int8ConvGeom& geom, const Int8ConvEpilogue& epi, const int8_t* x, const int8_t* w,
                 DataType out_dtype, CandidateList candidates, size_t y_bytes, size_t x_bytes, size_t z_bytes)
      : geom_(geom),
        epi_(epi),
        x_(x),
        w_(w),
        out_dtype_(out_dtype),
        plans_(std::move(candidates.plans)),
        default_(candidates.default_tactic),
        tactic_(candidates.default_tactic),
        y_bytes_(y_bytes),
        x_bytes_(x_bytes),
        z_bytes_(z_bytes) {}

  // Sets the dynamic shared memory limit of every candidate kernel that needs more than 48 KB.
  Status Prepare() {
    for (size_t i = 0; i < plans_.size(); ++i) {
      const LaunchPlan& plan = plans_[i];
      const size_t smem = kConfigs[plan.config].smem_bytes();
      const KernelFn fn = Kernel(plan);
      if (fn == nullptr) return Internal("EdgertInt8Conv: candidate " + std::to_string(i) + " has no kernel");
      if (smem > 48 * 1024) {
        EDGERT_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
            reinterpret_cast<const void*>(fn), cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
      }
    }
    return Status::Ok();
  }

  // A stored or forced tactic; one that does not exist (any more) falls back to the default.
  void Choose(int tactic) { tactic_ = tactic >= 0 && tactic < static_cast<int>(plans_.size()) ? tactic : default_; }

  size_t WorkspaceBytes() const override { return plans_[static_cast<size_t>(tactic_)].workspace; }
  void SetWorkspace(void* workspace) override { workspace_ = workspace; }

  Status Enqueue(cudaStream_t stream) override {
    return Launch(plans_[static_cast<size_t>(tactic_)], workspace_, stream);
  }

  std::string Describe() const override {
    const LaunchPlan& plan = plans_[static_cast<size_t>(tactic_)];
    const TileConfig& t = kConfigs[plan.config];
    std::string text =
        "int8 implicit-GEMM " + std::to_string(t.bm) + "x" + std::to_string(t.bn) + "x" + std::to_string(t.bk);
    if (plan.slices > 1) text += " split-K " + std::to_string(plan.slices);
    text += ", tactic " + std::to_string(tactic_) + "/" + std::to_string(plans_.size());
    if (tactic_ != default_) text += " (default " + std::to_string(default_) + ")";
    if (report_.timed > 0) {
      text += ", " + std::to_string(report_.chosen_ms) + " ms (default " + std::to_string(report_.default_ms) + " ms)";
    }
    if (!note_.empty()) text += " (" + note_ + ")";
    return text;
  }
  int Tactic() const override { return tactic_; }
  TacticReport Tactics() const override { return report_; }

  // Times every candidate on the layer's (scratch) tensors, X and Z filled with test data, the
  // default first, and keeps the fastest whose output is byte-identical to the default's (step 1).
  // Split-K candidates use a temporary workspace of the largest need (none: they are skipped).
  void SelectTactic(void* x_mut, void* z_mut) {
    constexpr int kWarmupRuns = 2;
    constexpr int kTimedRuns = 7;
    TimingResources res;
    tactic_ = default_;
    if (cudaStreamCreateWithFlags(&res.stream, cudaStreamNonBlocking) != cudaSuccess ||
        cudaEventCreate(&res.start) != cudaSuccess || cudaEventCreate(&res.stop) != cudaSuccess) {
      cudaGetLastError();
      note_ = "tactic timing: no stream or events";
      return;
    }
    size_t workspace_bytes = 0;
    for (const LaunchPlan& plan : plans_) workspace_bytes = std::max(workspace_bytes, plan.workspace);
    if (workspace_bytes > 0 && cudaMalloc(&res.workspace, workspace_bytes) != cudaSuccess) {
      cudaGetLastError();
      res.workspace = nullptr;
      note_ = "tactic timing: no memory for the split-K workspace";
    }
    uint32_t seed = 0x9e3779b9u;
    for (auto [p, bytes] : {std::pair<void*, size_t>{x_mut, x_bytes_}, std::pair<void*, size_t>{z_mut, z_bytes_}}) {
      if (p == nullptr || bytes == 0) continue;
      const int64_t n = static_cast<int64_t>(bytes);
      const int blocks = static_cast<int>(std::min<int64_t>(CeilDiv(n, 256), 4096));
      FillInt8TestData<<<blocks, 256, 0, res.stream>>>(static_cast<int8_t*>(p), n, seed);
      seed = seed * 747796405u + 2891336453u;
    }
    if (cudaStreamSynchronize(res.stream) != cudaSuccess) {
      cudaGetLastError();
      note_ = "tactic timing: the test data fill failed";
      return;
    }
    std::vector<int> order{default_};
    for (int i = 0; i < static_cast<int>(plans_.size()); ++i) {
      if (i != default_) order.push_back(i);
    }
    std::vector<unsigned char> reference, output(y_bytes_);
    double best_ms = -1;
    int best = default_;
    report_ = TacticReport{};
    for (int i : order) {
      const LaunchPlan& plan = plans_[static_cast<size_t>(i)];
      bool ok = cudaMemsetAsync(epi_.y, 0xFF, y_bytes_, res.stream) == cudaSuccess &&
                Launch(plan, res.workspace, res.stream).ok() && cudaStreamSynchronize(res.stream) == cudaSuccess &&
                cudaMemcpy(output.data(), epi_.y, y_bytes_, cudaMemcpyDeviceToHost) == cudaSuccess;
      if (!ok) {
        cudaGetLastError();
        if (i == default_) break;  // without the default's output nothing can be validated
        continue;
      }
      if (i == default_) {
        reference = output;
      } else if (output != reference) {
        ++report_.rejected;
        continue;
      }
      for (int k = 0; ok && k < kWarmupRuns; ++k) ok = Launch(plan, res.workspace, res.stream).ok();
      std::vector<float> times;
      for (int k = 0; ok && k < kTimedRuns; ++k) {
        float ms = 0;
        ok = cudaEventRecord(res.start, res.stream) == cudaSuccess && Launch(plan, res.workspace, res.stream).ok() &&
             cudaEventRecord(res.stop, res.stream) == cudaSuccess && cudaEventSynchronize(res.stop) == cudaSuccess &&
             cudaEventElapsedTime(&ms, res.start, res.stop) == cudaSuccess;
        times.push_back(ms);
      }
      if (!ok) {
        cudaGetLastError();
        continue;
      }
      std::sort(times.begin(), times.end());
      const double median = times[times.size() / 2];
      ++report_.timed;
      if (i == default_) report_.default_ms = median;
      if (best_ms < 0 || median < best_ms) {
        best_ms = median;
        best = i;
      }
    }
    if (best_ms < 0) {
      note_ = "tactic timing: no candidate ran";
      report_ = TacticReport{};
      return;
    }
    report_.chosen_ms = best_ms;
    tactic_ = best;
  }

 private:
  KernelFn Kernel(const LaunchPlan& plan) const {
    if (plan.slices > 1) return KernelFor<int32_t>(plan.config);
    if (out_dtype_ == DataType::kInt8) return KernelFor<int8_t>(plan.config);
    if (out_dtype_ == DataType::kFloat16) return KernelFor<__half>(plan.config);
    return KernelFor<float>(plan.config);
  }

  // One candidate: the single-pass kernel, or the split-K slices into `workspace` then the
  // reduction (both on `stream`; nothing allocated or synchronized).
  Status Launch(const LaunchPlan& plan, void* workspace, cudaStream_t stream) const {
    if (geom_.m <= 0 || geom_.k <= 0) return Status::Ok();
    const TileConfig& t = kConfigs[plan.config];
    const KernelFn fn = Kernel(plan);
    if (fn == nullptr) return Internal("EdgertInt8Conv: a tactic without a kernel");
    const dim3 grid(static_cast<unsigned>(CeilDiv(geom_.m, t.bm)), static_cast<unsigned>(CeilDiv(geom_.k, t.bn)),
                    static_cast<unsigned>(plan.slices));
    if (plan.slices <= 1) {
      fn<<<grid, t.threads(), t.smem_bytes(), stream>>>(x_, w_, geom_, epi_);
      return LaunchStatus("Int8ConvKernel");
    }
    if (workspace == nullptr) {
      return Internal("EdgertInt8Conv: the split-K tactic has no workspace (" + std::to_string(plan.workspace) +
                      " bytes declared)");
    }
    Int8ConvGeom g = geom_;
    g.kt_per_slice = plan.kt_per_slice;
    g.part_cm = out_dtype_ == DataType::kInt8 ? 0 : 1;
    Int8ConvEpilogue e = epi_;
    e.partials = static_cast<int32_t*>(workspace);
    fn<<<grid, t.threads(), t.smem_bytes(), stream>>>(x_, w_, g, e);
    EDGERT_RETURN_IF_ERROR(LaunchStatus("Int8ConvKernel (split-K slices)"));
    const int64_t pairs = static_cast<int64_t>(geom_.m) * ((geom_.k + 1) / 2);
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(CeilDiv(pairs, kReduceThreads), 1 << 20));
    if (out_dtype_ == DataType::kInt8) {
      Int8ConvSplitKReduce<int8_t><<<blocks, kReduceThreads, 0, stream>>>(plan.slices, g, e);
    } else if (out_dtype_ == DataType::kFloat16) {
      Int8ConvSplitKReduce<__half><<<blocks, kReduceThreads, 0, stream>>>(plan.slices, g, e);
    } else {
      Int8ConvSplitKReduce<float><<<blocks, kReduceThreads, 0, stream>>>(plan.slices, g, e);
    }
    return LaunchStatus("Int8ConvSplitKReduce");
  }

  Int8ConvGeom geom_;
  Int8ConvEpilogue epi_;
  const int8_t* x_;
  const int8_t* w_;
  DataType out_dtype_;
  std::vector<LaunchPlan> plans_;  // in tactic order
  int default_ = 0;
  int tactic_ = 0;
  void* workspace_ = nullptr;  // the context's shared workspace (SetWorkspace)
  size_t y_bytes_, x_bytes_, z_bytes_;
  TacticReport report_;
  std::string note_;
};

Status CheckDtype(const CudaOpContext& ctx, const char* what, DataType got, DataType want) {
  if (got == want) return Status::Ok();
  return ctx.NotSupported(std::string(what) + " must be " + DataTypeName(want) + " on the device, got " +
                          DataTypeName(got) + " (the engine must keep it " + DataTypeName(want) + ")");
}

}  // namespace

StatusOr<CudaKernelPtr> CreateInt8ConvKernel(const CudaOpContext& ctx) {
  if (ctx.op->op() != OpType::kInt8Conv) return ctx.NotSupported("is not an EdgertInt8Conv layer");
  EDGERT_ASSIGN_OR_RETURN(Int8ConvParams p, ResolveInt8Conv(*ctx.op));
  if (ctx.outputs.size() != 1 || ctx.outputs[0] == nullptr) return ctx.Error("needs one output");
  if (ctx.resources != nullptr && ctx.resources->cc_major > 0 && ctx.resources->cc_major < 8) {
    return ctx.NotSupported(
        "needs INT8 tensor cores of compute capability 8.0 or newer (mma.sync m16n8k32), "
        "the device has " +
        std::to_string(ctx.resources->cc_major) + "." + std::to_string(ctx.resources->cc_minor));
  }
  EDGERT_RETURN_IF_ERROR(CheckDtype(ctx, "input X", ctx.input(0).dtype, DataType::kInt8));
  EDGERT_RETURN_IF_ERROR(CheckDtype(ctx, "input W", ctx.input(1).dtype, DataType::kInt8));
  if (p.has_bias) EDGERT_RETURN_IF_ERROR(CheckDtype(ctx, "input B", ctx.input(2).dtype, DataType::kFloat32));
  EDGERT_RETURN_IF_ERROR(CheckDtype(ctx, "input W_scale", ctx.input(3).dtype, DataType::kFloat32));
  if (p.has_residual) EDGERT_RETURN_IF_ERROR(CheckDtype(ctx, "input Z", ctx.input(4).dtype, DataType::kInt8));
  const DataType out_dtype = ctx.output(0).dtype;
  if (p.int8_output) {
    EDGERT_RETURN_IF_ERROR(CheckDtype(ctx, "output Y", out_dtype, DataType::kInt8));
  } else if (out_dtype != DataType::kFloat32 && out_dtype != DataType::kFloat16) {
    return ctx.NotSupported(std::string("output Y must be float32 or float16 on the device, got ") +
                            DataTypeName(out_dtype));
  }
  const Shape want_out = Int8ConvOutputShape(p);
  if (ctx.output(0).shape != want_out) return ctx.Error("output Y does not have the layer's inferred shape");

  // 32-bit index ranges in the kernel.
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  const int64_t m = p.n * p.p * p.q;
  const int64_t kg = p.r * p.s * p.c;
  if (p.n * p.h * p.w * p.c > kMax || m * p.k > kMax || m > kMax || p.k * kg > kMax || p.h > kMax / 4 ||
      p.w > kMax / 4) {
    return ctx.NotSupported("tensors of 2^31 elements or more are not supported");
  }
  const int64_t reach_h = (p.r - 1) * p.dil_h + p.p * p.stride_h + p.pad_top;
  const int64_t reach_w = (p.s - 1) * p.dil_w + p.q * p.stride_w + p.pad_left;
  if (reach_h > (int64_t{1} << 29) || reach_w > (int64_t{1} << 29)) {
    return ctx.NotSupported("the convolution's spatial extent is too large for 32-bit coordinates");
  }
  Int8ConvGeom geom{};
  geom.n = static_cast<int>(p.n);
  geom.h = static_cast<int>(p.h);
  geom.w = static_cast<int>(p.w);
  geom.c = static_cast<int>(p.c);
  geom.k = static_cast<int>(p.k);
  geom.r = static_cast<int>(p.r);
  geom.s = static_cast<int>(p.s);
  geom.p = static_cast<int>(p.p);
  geom.q = static_cast<int>(p.q);
  geom.stride_h = static_cast<int>(p.stride_h);
  geom.stride_w = static_cast<int>(p.stride_w);
  geom.pad_top = static_cast<int>(p.pad_top);
  geom.pad_left = static_cast<int>(p.pad_left);
  geom.dil_h = static_cast<int>(p.dil_h);
  geom.dil_w = static_cast<int>(p.dil_w);
  geom.m = static_cast<int>(m);
  geom.kg = static_cast<int>(kg);
  if (CeilDiv(m, 64) > kMax || CeilDiv(p.k, 64) > 65535) return ctx.NotSupported("too many output channels");

  Int8ConvEpilogue epi{};
  epi.w_scale = static_cast<const float*>(ctx.input(3).data);
  epi.bias = p.has_bias ? static_cast<const float*>(ctx.input(2).data) : nullptr;
  epi.z = p.has_residual ? static_cast<const int8_t*>(ctx.input(4).data) : nullptr;
  epi.y = ctx.output(0).data;
  epi.x_scale = p.x_scale;
  epi.z_scale = p.z_scale;
  epi.y_scale = p.y_scale;
  epi.act = ToDevice(p.epilogue);
  epi.pack2 = p.k % 2 == 0 && reinterpret_cast<uintptr_t>(epi.z) % 2 == 0;
  epi.ypack2 = p.k % 2 == 0 && reinterpret_cast<uintptr_t>(epi.y) % 2 == 0;
  epi.vec16 = p.k % 16 == 0 && reinterpret_cast<uintptr_t>(epi.y) % 16 == 0;
  // cp.async copies 16-byte vectors of X and W (C % 16 == 0: aligned when the bases are).
  for (size_t i : {size_t{0}, size_t{1}}) {
    if (reinterpret_cast<uintptr_t>(ctx.input(i).data) % 16 != 0) {
      return ctx.NotSupported(std::string("input ") + (i == 0 ? "X" : "W") + " must be 16-byte aligned on the device");
    }
  }

  const int sm_count = ctx.resources != nullptr && ctx.resources->sm_count > 0 ? ctx.resources->sm_count : 132;
  auto kernel = std::make_unique<Int8ConvLaunch>(
      geom, epi, static_cast<const int8_t*>(ctx.input(0).data), static_cast<const int8_t*>(ctx.input(1).data),
      out_dtype, Candidates(m, p.k, kg, sm_count, ctx.max_workspace_bytes), ctx.output(0).bytes(), ctx.input(0).bytes(),
      p.has_residual ? ctx.input(4).bytes() : 0);
  if (!ctx.dry_run) EDGERT_RETURN_IF_ERROR(kernel->Prepare());
  if (ctx.tactic >= 0) {
    kernel->Choose(ctx.tactic);
  } else if (ctx.select_tactics && !ctx.dry_run && ctx.tactic_level > 0) {
    kernel->SelectTactic(ctx.input(0).data, p.has_residual ? ctx.input(4).data : nullptr);
  }
  return CudaKernelPtr(std::move(kernel));
}

}  // namespace cuda
}  // namespace edgert
