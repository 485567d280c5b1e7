// The implicit-GEMM convolution "igemm-nhwc" (contract in kernels_conv_igemm.h): float16
// channels-last, C and K multiples of 8, on mma.sync tensor cores with a cp.async shared-memory
// pipeline, and a split-K over thread-block clusters (sm_90) for layers with few output tiles.
//
//   GEMM: M = N * P * Q output pixels (row m = (n * P + p) * Q + q), GEMM-N = K output channels,
//         GEMM-K = R * S * C with kk = (r * S + s) * C + c, the KRSC order of W, so row k of W is
//         column k of B, contiguous in kk. A[m][kk] = X[n, p*sh - top + r*dh, q*sw - left + s*dw,
//         c], zero outside the image; Y = act(A * B + bias + Z).
//   PTX mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 with the fragment layouts written out
//   in kernels_conv_stem.cu (lane = 4 * g + t); both operands come from shared memory through
//   ldmatrix.x4 (A: the four 8x8 matrices (rows 0-7 | 8-15) x (k 0-7 | 8-15) are a0..a3; B, stored
//   as [n][kk] rows: matrices (n-tile j, k 0-7), (j, k 8-15) are b0, b1 of n-tile j).
//
// Launch (sm_90, created streams): with a programmatic dependent launch (cudaLaunchAttribute-
// ProgrammaticStreamSerialization; IgemmNhwcOptions::programmatic_launch, on by default; an
// ordinary launch where the driver refuses the attribute) the CTAs may be scheduled while the
// stream's preceding kernel finishes; step 0 (griddepcontrol.wait) holds every thread before its
// first global access until that kernel has completed and its writes are visible, so nothing is
// read early (inputs) or written early (an output buffer the preceding kernel still reads). Only
// W, when the caller declares it a constant that no kernel of the stream writes
// (IgemmNhwcOptions::weights_constant; the engine's weights), is read before: the first stages'
// weight copies are issued before the wait and overlap the preceding kernel's tail. After its
// main loop a CTA signals griddepcontrol.launch_dependents: a following programmatic launch (the
// next igemm layer) may be scheduled, and waits in its own step 0.
//
// IgemmConvNhwcKernel<kSplit>: 128 threads (4 warps), a CTA tile of kIgemmBM = 64 pixels x
// kIgemmBN = 64 output channels; warp w computes the 32 x 32 sub-tile (rows 32 * (w / 2), columns
// 32 * (w % 2)): 2 m16 x 4 n8 mma tiles, 32 float accumulators per lane.
//   1. Copy assignment: per GEMM-K chunk of kIgemmBK = 32, the A tile (64 pixels x 32 kk) and the
//      B tile (64 channels x 32 kk) are 256 16-byte vectors each; thread t copies rows t / 4 and
//      t / 4 + 32 of both at kk offset 8 * (t % 4). As C % 8 == 0, the 8 halves of a vector are
//      8 consecutive channels of one tap, contiguous in X; as R * S * C % 8 == 0, a vector of W
//      lies wholly inside or wholly past GEMM-K. Each thread decodes its two pixels once (image
//      offset, first input row and column; pixels past M are marked), and walks its kk through
//      (r, s, c) incrementally (c += 32, carried into s and r; no division in the loop).
//   2. Pipeline: kStages stages of (A, B) tiles in dynamic shared memory, 10 KB each: 4 (40 KB)
//      for splits == 1, where many CTAs share an SM; 8 (80 KB, the kernel's dynamic shared-memory
//      limit raised once per device) for the split-K kernel, whose CTAs have few chunks each and
//      about one SM each, so that most of a CTA's chunks are in flight at once. Filled with
//      cp.async.cg 16-byte copies; a copy whose tap lies outside the image, whose pixel is past M,
//      whose channel is past K or whose kk is past GEMM-K writes zeros (src-size 0; the source
//      is then the tensor's base pointer, never read). Chunk i lives in stage i % kStages; the
//      prologue issues chunks 0..kStages-2, then iteration i waits for chunk i
//      (cp.async.wait_group kStages - 2), passes the CTA barrier (after which every warp is done
//      with chunk i - 1's stage), issues chunk i + kStages - 1 into that stage and computes chunk
//      i: one barrier per chunk. Shared rows are 40 halves (80 bytes): the 8 row addresses of an
//      ldmatrix fall in 8 distinct 16-byte bank groups (80 / 16 = 5 is odd), conflict-free.
//   3. MMA per chunk and warp: 2 k16 steps, each 2 ldmatrix.x4 of A, 2 of B, 8 mma.sync.
//   4. splits == 1 (IgemmConvNhwcKernel<false>, no clusters): the epilogue straight from the
//      accumulators: a lane holds channels (8j + 2t, 8j + 2t + 1) of pixel rows g and g + 8 of
//      each m16 tile; rows past M and n-tiles past K (K % 8 == 0: all valid or all past) are
//      skipped; + bias (two halves), + residual (one half2 load), activation (the residual after it
//      with FusedEpilogue::residual_after_activation), one half2 store.
//      The activation's switch is taken once per CTA (one epilogue instance per common kind).
//   5. splits > 1 (IgemmConvNhwcKernel<true>, sm_90 only: clusters of (1, 1, splits) CTAs, grid
//      z = splits, so the CTAs of a cluster share one output tile; splits 2, 4, 8, and 16 where
//      the device allows that non-portable cluster size): CTA z runs steps 1-3 over
//      chunks [z * cps, min(chunks, (z + 1) * cps)) (cps = chunks_per_split; an empty range adds
//      zeros), then stores its float accumulators in its own shared memory (a 64 x 72-float tile
//      over the drained pipeline buffers), cluster barrier (release / acquire: every partial
//      tile is visible cluster-wide), then the CTA of cluster rank r reduces rows
//      [r * 64 / splits, (r + 1) * 64 / splits) of the tile, reading each peer's partial tile
//      through distributed shared memory (map_shared_rank; every peer's value is loaded before
//      the first add, so the remote loads are in flight together) and summing in rank order
//      0..splits-1 (fixed, so the result is deterministic), one warp per row and one float2 per
//      lane, and applies
//      step 4's epilogue to its rows. A second cluster barrier keeps every CTA's shared memory
//      alive until its peers have read it. No global workspace, no atomics.
// Index math is 32-bit (IgemmNhwcSupported bounds every offset of X, W and Y below 2^31).
// __launch_bounds__(128, 4): at most 128 registers, so that 4 CTAs (16 warps) of the plain kernel
// share an SM (its 40 KB of shared memory allow 5); the split-K kernel's 80 KB allow 2.
#include <cooperative_groups.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_device.cuh"
#include "kernels_conv_igemm.h"

namespace edgert {
namespace cuda {
namespace {

constexpr int kThreads = 128;
// Pipeline stages (step 2 of the file comment).
constexpr int Stages(bool split) { return split ? 8 : 4; }
static_assert(kIgemmBM == kIgemmBN, "A and B tiles share the copy assignment and the row count");
static_assert(kIgemmBM * kIgemmBK / 8 == 2 * kThreads, "two 16-byte vectors of A and of B per thread and chunk");
// Shared row stride (halves) of the A and B tiles: 80 bytes, an odd multiple of 16 bytes.
constexpr int kLd = kIgemmBK + 8;
static_assert((kLd * 2 / 16) % 2 == 1, "tile rows must be an odd multiple of 16 bytes");
constexpr int kTileHalves = kIgemmBM * kLd;    // one A or B tile
constexpr int kStageHalves = 2 * kTileHalves;  // A then B
constexpr int kStageBytes = kStageHalves * static_cast<int>(sizeof(__half));
// The split-K partial tile: 64 rows of 72 floats (float2 stores of a warp's 8 x 4 lanes spread
// over the banks; a reducing warp reads one contiguous row).
constexpr int kCsLd = kIgemmBN + 8;
constexpr int kCsBytes = kIgemmBM * kCsLd * static_cast<int>(sizeof(float));
// Dynamic shared memory of a CTA: the pipeline, reused by the split-K partial tile.
constexpr int SmemBytes(bool split) { return Stages(split) * kStageBytes; }
static_assert(SmemBytes(false) >= kCsBytes && SmemBytes(true) >= kCsBytes, "the partial tile fits the pipeline");
static_assert(SmemBytes(false) <= 48 * 1024, "the plain kernel needs no opt-in shared memory");

// The layer in the kernel's 32-bit terms (IgemmNhwcSupported bounds every value).
struct IgemmParams {
  int h, w, c, k, s, q;
  int pq;   // P * Q
  int hwc;  // H * W * C: one image of X
  int stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int m;       // N * P * Q
  int gemm_k;  // R * S * C
  int chunks;  // ceil(gemm_k / kIgemmBK)
  int chunks_per_split;
  int prefetch_w;  // 1: W is a constant of the stream (IgemmNhwcOptions::weights_constant)
};

// cp.async of one 16-byte vector, global to shared (L2 only); src_bytes 0 writes zeros (src is
// then not read, but is still a valid address).
__device__ __forceinline__ void CpAsync16(unsigned dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most `kPending` of this thread's committed groups are still in flight.
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

__device__ __forceinline__ void LdMatrixX4(unsigned addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr)
               : "memory");
}

__device__ __forceinline__ void Mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Calls body(op) with the activation as a functor float -> float: one instance per common kind,
// the rarer kinds share one that calls DeviceActivation::Apply.
template <typename Body>
__device__ __forceinline__ void WithActivation(const DeviceActivation& act, Body&& body) {
  switch (act.kind) {
    case FusedEpilogue::Kind::kNone:
      body([](float v) { return v; });
      break;
    case FusedEpilogue::Kind::kRelu:
      body([](float v) { return ActRelu(v); });
      break;
    case FusedEpilogue::Kind::kLeakyRelu: {
      const float alpha = act.alpha;
      body([alpha](float v) { return ActLeakyRelu(v, alpha); });
      break;
    }
    case FusedEpilogue::Kind::kClip: {
      const float lo = act.alpha;
      const float hi = act.beta;
      body([lo, hi](float v) { return ActClip(v, lo, hi); });
      break;
    }
    case FusedEpilogue::Kind::kSigmoid:
      body([](float v) { return ActSigmoid(v); });
      break;
    case FusedEpilogue::Kind::kHardSwish:
      body([](float v) { return ActHardSwish(v); });
      break;
    case FusedEpilogue::Kind::kSilu:
      body([](float v) { return ActSilu(v); });
      break;
    default:
      body([act](float v) { return act.Apply(v); });
      break;
  }
}

// Y[out], Y[out + 1] = act(v + bias[n] + z), ... (act(v + bias[n]) + z with `after`, the
// residual after the activation) for the channel pair (n, n + 1) at element offset `out` (4-byte
// aligned: K even, y and residual 4-byte aligned).
template <typename Act>
__device__ __forceinline__ void StorePair(float v0, float v1, float b0, float b1, const __half* __restrict__ residual,
                                          __half* __restrict__ y, int out, bool after, Act op) {
  v0 += b0;
  v1 += b1;
  if (residual == nullptr) {
    *reinterpret_cast<__half2*>(y + out) = __floats2half2_rn(op(v0), op(v1));
    return;
  }
  const float2 z = __half22float2(*reinterpret_cast<const __half2*>(residual + out));
  *reinterpret_cast<__half2*>(y + out) =
      after ? __floats2half2_rn(op(v0) + z.x, op(v1) + z.y) : __floats2half2_rn(op(v0 + z.x), op(v1 + z.y));
}

template <bool kSplit>
__global__ void __launch_bounds__(kThreads, 4)
    IgemmConvNhwcKernel(const __half* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
                        const __half* __restrict__ residual, __half* __restrict__ y, IgemmParams ip,
                        DeviceActivation act) {
  constexpr int kStages = Stages(kSplit);
  extern __shared__ __align__(128) unsigned char smem[];
  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const int g = lane >> 2;  // mma groupID
  const int t = lane & 3;   // thread in group
  const int m0 = blockIdx.x * kIgemmBM;
  const int n0 = blockIdx.y * kIgemmBN;
  const int chunk_begin = kSplit ? static_cast<int>(blockIdx.z) * ip.chunks_per_split : 0;
  const int chunk_end = kSplit ? min(ip.chunks, chunk_begin + ip.chunks_per_split) : ip.chunks;
  const int nchunks = max(0, chunk_end - chunk_begin);
  const unsigned smem_s = static_cast<unsigned>(__cvta_generic_to_shared(smem));

  // Step 1: this thread's two pixels and two weight rows, and its kk walk.
  const int ld_row = tid >> 2;
  const int ld_col = 8 * (tid & 3);
  int a_base[2], a_ih[2], a_iw[2], b_base[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int m = m0 + ld_row + 32 * i;
    if (m < ip.m) {
      const int img = m / ip.pq;
      const int rest = m - img * ip.pq;
      const int op = rest / ip.q;
      const int oq = rest - op * ip.q;
      a_base[i] = img * ip.hwc;
      a_ih[i] = op * ip.stride_h - ip.pad_top;
      a_iw[i] = oq * ip.stride_w - ip.pad_left;
    } else {
      a_base[i] = -1;
      a_ih[i] = 0;
      a_iw[i] = 0;
    }
    const int n = n0 + ld_row + 32 * i;
    b_base[i] = n < ip.k ? n * ip.gemm_k : -1;
  }
  int kk = chunk_begin * kIgemmBK + ld_col;
  int c = kk % ip.c;
  int s = (kk / ip.c) % ip.s;
  int r_off = (kk / ip.c / ip.s) * ip.dilation_h;
  int s_off = s * ip.dilation_w;
  const unsigned a_dst = smem_s + 2 * (ld_row * kLd + ld_col);
  const unsigned b_dst = a_dst + 2 * kTileHalves;

  // Issues the W copies of the chunk at GEMM-K offset kk_b (this thread's columns) into `stage`.
  auto issue_b = [&](int stage, int kk_b) {
    const unsigned st = stage * kStageHalves * 2;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const bool b_ok = kk_b < ip.gemm_k && b_base[i] >= 0;
      const __half* b_src = b_ok ? w + (b_base[i] + kk_b) : w;
      CpAsync16(b_dst + st + 2 * 32 * i * kLd, b_src, b_ok ? 16 : 0);
    }
  };
  // Issues the X copies of the next chunk of this thread's walk into `stage`, then advances it.
  auto issue_a = [&](int stage) {
    const unsigned st = stage * kStageHalves * 2;
    const bool k_ok = kk < ip.gemm_k;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int ih = a_ih[i] + r_off;
      const int iw = a_iw[i] + s_off;
      const bool a_ok = k_ok && a_base[i] >= 0 && static_cast<unsigned>(ih) < static_cast<unsigned>(ip.h) &&
                        static_cast<unsigned>(iw) < static_cast<unsigned>(ip.w);
      const __half* a_src = a_ok ? x + (a_base[i] + (ih * ip.w + iw) * ip.c + c) : x;
      CpAsync16(a_dst + st + 2 * 32 * i * kLd, a_src, a_ok ? 16 : 0);
    }
    kk += kIgemmBK;
    c += kIgemmBK;
    while (c >= ip.c) {
      c -= ip.c;
      s_off += ip.dilation_w;
      if (++s == ip.s) {
        s = 0;
        s_off = 0;
        r_off += ip.dilation_h;
      }
    }
  };

  // Step 2: the prologue. With constant weights (ip.prefetch_w) their copies for the first
  // stages are issued before step 0; they join the first commit group, so each stage's wait
  // below covers them.
  if (ip.prefetch_w) {
#pragma unroll
    for (int st = 0; st < kStages - 1; ++st) {
      if (st < nchunks) issue_b(st, kk + st * kIgemmBK);
    }
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // Step 0: a programmatic dependent launch waits here, before its first access to memory that
  // a preceding kernel may write or read (X, Z, Y; W too unless prefetch_w), until the preceding
  // kernel of the stream has completed and its writes are visible (a no-op otherwise).
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < nchunks) {
      if (!ip.prefetch_w) issue_b(st, kk);
      issue_a(st);
    }
    CpAsyncCommit();
  }

  float acc[2][4][4];
#pragma unroll
  for (int mi = 0; mi < 2; ++mi) {
#pragma unroll
    for (int nj = 0; nj < 4; ++nj) {
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mi][nj][e] = 0.0f;
    }
  }
  const int warp_m = warp >> 1;
  const int warp_n = warp & 1;
  // ldmatrix row addresses: A lane l -> row (l & 15), k half (l >> 4); B lane l -> n row
  // (l >> 4) * 8 + (l & 7) (n-tile pair member), k half (l >> 3) & 1.
  const unsigned a_lane = smem_s + 2 * ((warp_m * 32 + (lane & 15)) * kLd + (lane >> 4) * 8);
  const unsigned b_lane =
      smem_s + 2 * (kTileHalves + (warp_n * 32 + (lane >> 4) * 8 + (lane & 7)) * kLd + ((lane >> 3) & 1) * 8);

  for (int i = 0; i < nchunks; ++i) {
    CpAsyncWait<kStages - 2>();
    __syncthreads();
    const int next = i + kStages - 1;
    if (next < nchunks) {
      issue_b(next % kStages, kk);
      issue_a(next % kStages);
    }
    CpAsyncCommit();
    // Step 3.
    const unsigned st = (i % kStages) * kStageHalves * 2;
#pragma unroll
    for (int ks = 0; ks < kIgemmBK / 16; ++ks) {
      uint32_t a[2][4];
      uint32_t b[4][2];
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) LdMatrixX4(a_lane + st + 2 * (mi * 16 * kLd + ks * 16), a[mi]);
#pragma unroll
      for (int jp = 0; jp < 2; ++jp) {
        uint32_t r4[4];
        LdMatrixX4(b_lane + st + 2 * (jp * 16 * kLd + ks * 16), r4);
        b[2 * jp][0] = r4[0];
        b[2 * jp][1] = r4[1];
        b[2 * jp + 1][0] = r4[2];
        b[2 * jp + 1][1] = r4[3];
      }
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
#pragma unroll
        for (int nj = 0; nj < 4; ++nj) Mma16816(acc[mi][nj], a[mi], b[nj][0], b[nj][1]);
      }
    }
  }
  CpAsyncWait<0>();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // Step 0': the next kernel of the stream, if launched programmatically, may start now; it
  // waits for this grid's completion before touching memory (step 0).
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif

  if constexpr (!kSplit) {
    // Step 4.
    float bias_v[4][2];
    const int n_lane = n0 + warp_n * 32 + 2 * t;
#pragma unroll
    for (int nj = 0; nj < 4; ++nj) {
      const int n = n_lane + 8 * nj;
      const bool ok = bias != nullptr && n < ip.k;
      bias_v[nj][0] = ok ? __half2float(bias[n]) : 0.0f;
      bias_v[nj][1] = ok ? __half2float(bias[n + 1]) : 0.0f;
    }
    WithActivation(act, [&](auto op) {
#pragma unroll
      for (int mi = 0; mi < 2; ++mi) {
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int m = m0 + warp_m * 32 + mi * 16 + g + 8 * hh;
          if (m >= ip.m) continue;
          const int row = m * ip.k;
#pragma unroll
          for (int nj = 0; nj < 4; ++nj) {
            const int n = n_lane + 8 * nj;
            if (n >= ip.k) continue;
            StorePair(acc[mi][nj][2 * hh], acc[mi][nj][2 * hh + 1], bias_v[nj][0], bias_v[nj][1], residual, y, row + n,
                      act.residual_after, op);
          }
        }
      }
    });
  } else {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    // Step 5: the partial tile over the drained pipeline buffers.
    namespace cg = cooperative_groups;
    cg::cluster_group cluster = cg::this_cluster();
    __syncthreads();  // every warp is done reading the pipeline buffers
    float* cs = reinterpret_cast<float*>(smem);
#pragma unroll
    for (int mi = 0; mi < 2; ++mi) {
#pragma unroll
      for (int hh = 0; hh < 2; ++hh) {
        const int row = warp_m * 32 + mi * 16 + g + 8 * hh;
#pragma unroll
        for (int nj = 0; nj < 4; ++nj) {
          const int col = warp_n * 32 + nj * 8 + 2 * t;
          *reinterpret_cast<float2*>(cs + row * kCsLd + col) =
              make_float2(acc[mi][nj][2 * hh], acc[mi][nj][2 * hh + 1]);
        }
      }
    }
    cluster.sync();
    const int splits = static_cast<int>(cluster.num_blocks());
    const int rank = static_cast<int>(cluster.block_rank());
    const int rows = kIgemmBM / splits;
    constexpr int kPairs = kIgemmBN / 2;  // float2 columns per row: one warp
    WithActivation(act, [&](auto op) {
      for (int idx = tid; idx < rows * kPairs; idx += kThreads) {
        const int row = rank * rows + idx / kPairs;
        const int col = 2 * (idx % kPairs);
        const int m = m0 + row;
        const int n = n0 + col;
        if (m >= ip.m || n >= ip.k) continue;
        // Every peer's pair is loaded before the first add (independent remote loads in flight
        // together), then summed in rank order.
        const int off = row * kCsLd + col;
        float2 v[kIgemmMaxSplits];
#pragma unroll
        for (int peer = 0; peer < kIgemmMaxSplits; ++peer) {
          if (peer < splits) v[peer] = *reinterpret_cast<const float2*>(cluster.map_shared_rank(cs, peer) + off);
        }
        float2 sum = make_float2(0.0f, 0.0f);
#pragma unroll
        for (int peer = 0; peer < kIgemmMaxSplits; ++peer) {
          if (peer < splits) {
            sum.x += v[peer].x;
            sum.y += v[peer].y;
          }
        }
        const float b0 = bias != nullptr ? __half2float(bias[n]) : 0.0f;
        const float b1 = bias != nullptr ? __half2float(bias[n + 1]) : 0.0f;
        StorePair(sum.x, sum.y, b0, b1, residual, y, m * ip.k + n, act.residual_after, op);
      }
    });
    cluster.sync();  // peers' shared memory stays alive until every CTA has read it
#else
    __trap();  // the host launches split-K only on compute capability 9.0 and newer
#endif
  }
}

// Whether a * b stays at most `limit` (a, b >= 0), without overflow.
bool ProductAtMost(int64_t a, int64_t b, int64_t limit) { return a == 0 || b <= limit / a; }

// A launch configuration for cudaLaunchKernelEx: clusters of (1, 1, splits) CTAs when splits > 1
// (the split-K kernel's shared memory, else the plain kernel's), and with `programmatic` the
// programmatic stream serialization (the kernel may start while the stream's preceding kernel
// finishes; it waits for it in step 0).
struct IgemmLaunch {
  cudaLaunchConfig_t config = {};
  cudaLaunchAttribute attr[2] = {};  // config.attrs points here: not copyable

  IgemmLaunch(dim3 grid, int splits, bool programmatic, cudaStream_t stream) {
    config.gridDim = grid;
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = static_cast<size_t>(SmemBytes(splits > 1));
    config.stream = stream;
    unsigned n = 0;
    if (splits > 1) {
      attr[n].id = cudaLaunchAttributeClusterDimension;
      attr[n].val.clusterDim.x = 1;
      attr[n].val.clusterDim.y = 1;
      attr[n].val.clusterDim.z = static_cast<unsigned>(splits);
      ++n;
    }
    if (programmatic) {
      attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
      attr[n].val.programmaticStreamSerializationAllowed = 1;
      ++n;
    }
    config.attrs = attr;
    config.numAttrs = n;
  }
  IgemmLaunch(const IgemmLaunch&) = delete;
  IgemmLaunch& operator=(const IgemmLaunch&) = delete;
};

// IgemmNhwcMaxSplits for `device` of compute capability `major` (the cache of the header's
// contract). Before the first split-K launch on a device it also raises the split-K kernel's
// dynamic shared-memory limit to SmemBytes(true) (1 where the device refuses it: no split).
StatusOr<int> MaxSplitsFor(int device, int major) {
  if (major < 9) return 1;
  static std::mutex mu;
  static std::vector<std::pair<int, int>> cache;  // (device, max splits)
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& e : cache) {
    if (e.first == device) return e.second;
  }
  auto* fn = IgemmConvNhwcKernel<true>;
  const void* key = reinterpret_cast<const void*>(fn);
  int optin = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  int max_splits = 1;
  if (optin >= SmemBytes(true)) {
    EDGERT_CUDA_RETURN_IF_ERROR(
        cudaFuncSetAttribute(key, cudaFuncAttributeMaxDynamicSharedMemorySize, SmemBytes(true)));
    EDGERT_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(key, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
    IgemmLaunch probe(dim3(1, 1, kIgemmMaxSplits), kIgemmMaxSplits, false, nullptr);
    int clusters = 0;
    const cudaError_t err = cudaOccupancyMaxActiveClusters(&clusters, fn, &probe.config);
    max_splits = kIgemmPortableSplits;
    if (err == cudaSuccess && clusters >= 1) {
      max_splits = kIgemmMaxSplits;
    } else if (err != cudaSuccess) {
      cudaGetLastError();  // a device that refuses the size: the portable one
    }
  }
  cache.emplace_back(device, max_splits);
  return max_splits;
}

}  // namespace

std::string IgemmNhwcConfig::Describe() const {
  return "igemm " + std::to_string(kIgemmBM) + "x" + std::to_string(kIgemmBN) + "x" + std::to_string(kIgemmBK) +
         " split " + std::to_string(splits) + " grid " + std::to_string(tiles_m) + "x" + std::to_string(tiles_n) + "x" +
         std::to_string(splits);
}

bool IgemmNhwcSupported(DataType dtype, const NhwcConvGeometry& g) {
  constexpr int64_t kInt32Max = std::numeric_limits<int32_t>::max();
  constexpr int64_t kCoord = int64_t{1} << 29;  // window coordinates stay far from int32 overflow
  if (dtype != DataType::kFloat16 || g.group != 1) return false;
  if (g.c < 8 || g.c % 8 != 0 || g.k < 8 || g.k % 8 != 0 || g.k > int64_t{65535} * kIgemmBN) return false;
  if (g.r < 1 || g.s < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 || g.dilation_w < 1) return false;
  if (g.pad_top < 0 || g.pad_left < 0 || g.n < 0 || g.h < 1 || g.w < 1 || g.p < 0 || g.q < 0) return false;
  for (int64_t v :
       {g.h, g.w, g.p, g.q, g.r, g.s, g.c, g.pad_top, g.pad_left, g.stride_h, g.stride_w, g.dilation_h, g.dilation_w}) {
    if (v > kCoord) return false;
  }
  // Window coordinates p * sh - top + r * dh (and columns), with the kk walk's few steps past R.
  if ((g.p + 8) * g.stride_h + (g.r + 8) * g.dilation_h > kCoord ||
      (g.q + 8) * g.stride_w + (g.s + 8) * g.dilation_w > kCoord) {
    return false;
  }
  // GEMM-K with the walk's overshoot (less than 2 chunks), X, Y and W offsets in 32 bits.
  const int64_t rs = g.r * g.s;
  if (!ProductAtMost(rs, g.c, kInt32Max / 2)) return false;
  const int64_t gemm_k = rs * g.c;
  const int64_t hwc = g.h * g.w * g.c;  // each factor below 2^30 after the checks above: no overflow
  if (!ProductAtMost(g.h * g.w, g.c, kInt32Max) || !ProductAtMost(g.n, hwc, kInt32Max)) return false;
  if (!ProductAtMost(g.p * g.q, g.k, kInt32Max) || !ProductAtMost(g.n, g.p * g.q * g.k, kInt32Max)) return false;
  return ProductAtMost(g.k, gemm_k, kInt32Max);
}

StatusOr<int> IgemmNhwcMaxSplits() {
  DeviceFacts dev;
  EDGERT_RETURN_IF_ERROR(CurrentDeviceFacts(&dev));
  return MaxSplitsFor(dev.device, dev.cc_major);
}

StatusOr<IgemmNhwcConfig> PlanIgemmNhwc(const NhwcConvGeometry& g, int sm_count, int max_splits,
                                        const IgemmNhwcOptions& options) {
  if (!IgemmNhwcSupported(DataType::kFloat16, g)) {
    return Internal("IgemmConvNhwcKernel: the layer is not supported (C " + std::to_string(g.c) + ", K " +
                    std::to_string(g.k) + ", group " + std::to_string(g.group) + ")");
  }
  IgemmNhwcConfig cfg;
  cfg.tiles_m = (g.n * g.p * g.q + kIgemmBM - 1) / kIgemmBM;
  cfg.tiles_n = (g.k + kIgemmBN - 1) / kIgemmBN;
  cfg.chunks = (g.r * g.s * g.c + kIgemmBK - 1) / kIgemmBK;
  if (options.splits != 0) {
    const int s = options.splits;
    if (s != 1 && s != 2 && s != 4 && s != 8 && s != 16) {
      return InvalidArgument("IgemmConvNhwcKernel: split count " + std::to_string(s) + " is not 1, 2, 4, 8 or 16",
                             "splits");
    }
    if (s > max_splits) {
      return InvalidArgument("IgemmConvNhwcKernel: split count " + std::to_string(s) +
                                 " needs clusters of that many CTAs; the device allows " + std::to_string(max_splits),
                             "splits");
    }
    cfg.splits = s;
  } else {
    const int64_t tiles = cfg.tiles_m * cfg.tiles_n;
    // Full: tiles * splits >= 0.9 * sm_count. Each of the doubled splits keeps >= 2 chunks.
    while (2 * cfg.splits <= max_splits && tiles * cfg.splits * 10 < int64_t{sm_count} * 9 &&
           cfg.chunks >= 2 * (2 * cfg.splits)) {
      cfg.splits *= 2;
    }
  }
  cfg.chunks_per_split = (cfg.chunks + cfg.splits - 1) / cfg.splits;
  return cfg;
}

Status EnqueueIgemmConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                            const void* w, const void* bias, const void* residual, void* y, const FusedEpilogue& act) {
  return EnqueueIgemmConvNhwc(stream, dtype, g, x, w, bias, residual, y, act, IgemmNhwcOptions{});
}

Status EnqueueIgemmConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x,
                            const void* w, const void* bias, const void* residual, void* y, const FusedEpilogue& act,
                            const IgemmNhwcOptions& options) {
  if (!IgemmNhwcSupported(dtype, g)) {
    return Internal(std::string("IgemmConvNhwcKernel: the layer is not supported (dtype ") + DataTypeName(dtype) +
                    ", C " + std::to_string(g.c) + ", K " + std::to_string(g.k) + ", group " + std::to_string(g.group) +
                    ")");
  }
  DeviceFacts dev;
  EDGERT_RETURN_IF_ERROR(CurrentDeviceFacts(&dev));
  EDGERT_ASSIGN_OR_RETURN(const int max_splits, MaxSplitsFor(dev.device, dev.cc_major));
  EDGERT_ASSIGN_OR_RETURN(IgemmNhwcConfig cfg, PlanIgemmNhwc(g, dev.sm_count, max_splits, options));
  if (g.n * g.p * g.q == 0) return Status::Ok();
  if (!Aligned(x, 16) || !Aligned(w, 16) || !Aligned(y, 4) || !Aligned(residual, 4)) {
    return EnqueueDirectConvNhwc(stream, dtype, g, x, w, bias, residual, y, act);
  }
  IgemmParams ip;
  ip.h = static_cast<int>(g.h);
  ip.w = static_cast<int>(g.w);
  ip.c = static_cast<int>(g.c);
  ip.k = static_cast<int>(g.k);
  ip.s = static_cast<int>(g.s);
  ip.q = static_cast<int>(g.q);
  ip.pq = static_cast<int>(g.p * g.q);
  ip.hwc = static_cast<int>(g.h * g.w * g.c);
  ip.stride_h = static_cast<int>(g.stride_h);
  ip.stride_w = static_cast<int>(g.stride_w);
  ip.dilation_h = static_cast<int>(g.dilation_h);
  ip.dilation_w = static_cast<int>(g.dilation_w);
  ip.pad_top = static_cast<int>(g.pad_top);
  ip.pad_left = static_cast<int>(g.pad_left);
  ip.m = static_cast<int>(g.n * g.p * g.q);
  ip.gemm_k = static_cast<int>(g.r * g.s * g.c);
  ip.chunks = static_cast<int>(cfg.chunks);
  ip.chunks_per_split = static_cast<int>(cfg.chunks_per_split);
  ip.prefetch_w = options.weights_constant ? 1 : 0;
  const auto* xh = static_cast<const __half*>(x);
  const auto* wh = static_cast<const __half*>(w);
  const auto* bh = static_cast<const __half*>(bias);
  const auto* rh = static_cast<const __half*>(residual);
  auto* yh = static_cast<__half*>(y);
  const DeviceActivation dact = ToDevice(act);
  const dim3 grid(static_cast<unsigned>(cfg.tiles_m), static_cast<unsigned>(cfg.tiles_n),
                  static_cast<unsigned>(cfg.splits));
  // Programmatic launches on sm_90 and on created streams only (ProgrammaticLaunchEnabled).
  const bool programmatic = options.programmatic_launch && ProgrammaticLaunchEnabled(stream);
  if (cfg.splits == 1 && !programmatic) {
    IgemmConvNhwcKernel<false><<<grid, kThreads, SmemBytes(false), stream>>>(xh, wh, bh, rh, yh, ip, dact);
    return LaunchStatus("IgemmConvNhwcKernel");
  }
  auto launch = [&](bool pdl) {
    IgemmLaunch config(grid, cfg.splits, pdl, stream);
    return cfg.splits == 1
               ? cudaLaunchKernelEx(&config.config, IgemmConvNhwcKernel<false>, xh, wh, bh, rh, yh, ip, dact)
               : cudaLaunchKernelEx(&config.config, IgemmConvNhwcKernel<true>, xh, wh, bh, rh, yh, ip, dact);
  };
  cudaError_t err = launch(programmatic);
  if (err != cudaSuccess && programmatic) {
    // A driver or stream that refuses the programmatic attribute: an ordinary launch instead (the
    // kernel's griddepcontrol.wait is then a no-op). Its error, if any, is the one reported.
    cudaGetLastError();
    err = launch(false);
  }
  if (err != cudaSuccess) {
    return CudaStatus(err, cfg.splits == 1 ? "cudaLaunchKernelEx(IgemmConvNhwcKernel)"
                                           : "cudaLaunchKernelEx(IgemmConvNhwcKernel, split-K cluster)");
  }
  return LaunchStatus("IgemmConvNhwcKernel");
}

}  // namespace cuda
}  // namespace edgert
