// The stem convolution (contract in kernels_conv_stem.h): an implicit GEMM on tensor cores.
//
//   GEMM: A [M, Kp] = im2col(X), M = N * P * Q output pixels, GEMM-K index kk = (r * S + s) * C + c
//         (the KRSC order of W, so B = W^T needs no reordering), Kp = R * S * C rounded up to 16
//         (the columns kk >= R * S * C are zeros); B [Kp, K] = W^T; Y = act(A * B + bias + Z).
//   WMMA m16n16k16, float16 in, float32 accumulate (nvcuda::wmma: the fragment layouts are the
//   library's, so no lane mapping is assumed anywhere).
//
// StemConvNhwcKernel<BN, kVec>: 256 threads (8 warps), a CTA tile of kBM = 128 pixels x BN output
// channels (BN = 16, 32 or 64, the smallest covering K, else 64 with blockIdx.y over the K tiles).
//   1. Once per CTA: the weight tile Ws [BN][Kp] (row n = output channel n0 + n, zeros past K and
//      past R * S * C) into shared memory; every lane computes, for the GEMM-K columns it gathers
//      (kk = lane + 32 * i, at most kStemMaxGemmK / 32 of them), the tap's X offset
//      ((r * dh * W + s * dw) * C + c) once, in registers, and warp 0 writes every column's
//      (r * dh, s * dw) to a shared table for the bounds checks: the gather does no division.
//   2. Persistent loop over pixel tiles (blockIdx.x, stride gridDim.x: the grid is sized to the
//      CTAs that fit on the GPU at once, so Ws is loaded once per CTA, not once per tile).
//   3. Gather: warp w fills the A rows m = w, w + 8, ... of As [kBM][Kp] (shared); lanes 0..15 of
//      the warp first decode one pixel each (n, p, q -> 64-bit image base, top-left input
//      coordinate; the only divisions) and the row loop takes them by warp shuffle. Lanes read
//      consecutive kk: within one kernel row r the S * C values are contiguous in X, so the warp's
//      loads are coalesced runs. Out-of-image taps, GEMM-K padding and pixels past M are zeros;
//      a pixel whose whole window lies inside the image (most of them) skips the per-tap bounds
//      checks (a warp-uniform branch: one pixel per warp iteration).
//   4. MMA: warp w owns the 16 rows 16w..16w+15 and all BN / 16 column tiles: per 16-deep k-step
//      one A fragment (row-major from As) and BN / 16 B fragments (col-major from Ws: element
//      (kk, n) at Ws[n][kk]); column tiles wholly past K are skipped (warp-uniform).
//   5. The accumulators go to Cs [kBM][BN + 4] float (shared, the same bytes as As: after a
//      barrier), then the epilogue: one thread per pixel and 8 consecutive output channels
//      (K % 8 == 0: a chunk is all valid or all past K), acc + bias + residual, the activation
//      (activations.cuh), one 16-byte store (kVec: y, bias and residual 16-byte aligned; else
//      scalar). With BN == K a CTA's tile is one contiguous run of Y.
// Row strides of As / Ws are Kp + 8 halves (an odd multiple of 16 bytes: the 8 rows of a fragment
// load fall in different bank groups); Cs's is BN + 4 floats. Four barriers per tile (gather ->
// MMA -> accumulators to Cs -> epilogue -> next gather, As and Cs alias). Shared memory: Ws, As /
// Cs and the tap table, at most 64 * 264 * 2 + 128 * 264 * 2 + 256 * 8 bytes = 101 KB (Kp = 256;
// the ResNet stem, Kp = 160, takes 65 KB: three CTAs per SM). Every launch first raises the
// kernel's dynamic shared-memory limit to what Kp = 256 needs (over 48 KB for every BN; capped by
// the device's opt-in maximum, 99 KB on sm_86 / sm_89, where a layer above it is refused): one
// value per instantiation and device, so concurrent launches of layers with different Kp never
// race on it.
// __launch_bounds__(256, 3): at most 80 registers a thread (no spills with CUDA 13, the accumulators
// of BN = 64 are 32 of them), so three CTAs fit an SM's register file as well.
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
constexpr int kStemBM = 16 * kStemWarps;  // one 16-row fragment tile per warp
constexpr int kStemSlots = static_cast<int>(kStemMaxGemmK / 32);
// A tile row's pixel: past M (zeros), on the border (taps checked one by one), or interior (the
// whole window inside the image: no checks).
constexpr int kPastEnd = 0;
constexpr int kBorder = 1;
constexpr int kInterior = 2;

// Geometry in the kernel's 32-bit terms (StemNhwcSupported bounds every value) plus the 64-bit
// pixel count.
struct StemParams {
  int h, w, c, k, r, s, p, q;
  int stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int rsc;  // R * S * C
  int kp;   // rsc rounded up to 16
  int64_t pixels;
  int64_t tiles;  // ceil(pixels / kStemBM)
};

// Shared-memory layout of one CTA, shared by the kernel and the host's size computation.
struct StemLayout {
  int lda = 0;  // row stride of As and Ws, halves
  int ldc = 0;  // row stride of Cs, floats
  size_t a_offset = 0;
  size_t tap_offset = 0;  // int2 {r * dh, s * dw} per GEMM-K column
  size_t bytes = 0;

  __host__ __device__ static size_t Round128(size_t v) { return (v + 127) / 128 * 128; }
  __host__ __device__ static StemLayout Make(int kp, int bn) {
    StemLayout l;
    l.lda = kp + 8;
    l.ldc = bn + 4;
    const size_t w_bytes = Round128(static_cast<size_t>(bn) * l.lda * sizeof(__half));
    const size_t a_bytes = static_cast<size_t>(kStemBM) * l.lda * sizeof(__half);
    const size_t c_bytes = static_cast<size_t>(kStemBM) * l.ldc * sizeof(float);
    l.a_offset = w_bytes;
    l.tap_offset = l.a_offset + Round128(a_bytes > c_bytes ? a_bytes : c_bytes);
    l.bytes = l.tap_offset + Round128(static_cast<size_t>(kp) * sizeof(int2));
    return l;
  }
};

template <int BN, bool kVec>
__global__ void __launch_bounds__(kStemThreads, 3)
    StemConvNhwcKernel(const __half* __restrict__ x, const __half* __restrict__ w, const __half* __restrict__ bias,
                       const __half* __restrict__ residual, __half* __restrict__ y, StemParams sp,
                       DeviceActivation act) {
  using namespace nvcuda;
  extern __shared__ __align__(128) unsigned char stem_smem[];
  const StemLayout layout = StemLayout::Make(sp.kp, BN);
  const int lda = layout.lda;
  const int ldc = layout.ldc;
  __half* ws = reinterpret_cast<__half*>(stem_smem);
  __half* as = reinterpret_cast<__half*>(stem_smem + layout.a_offset);
  float* cs = reinterpret_cast<float*>(stem_smem + layout.a_offset);
  int2* taps = reinterpret_cast<int2*>(stem_smem + layout.tap_offset);
  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const int n0 = blockIdx.y * BN;
  const __half zero = __float2half(0.0f);

  // Step 1: the weight tile, and this lane's GEMM-K columns.
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
    tap_off[i] = 0;  // GEMM-K padding: never read (masked in the gather)
    if (kk < sp.rsc) {
      const int c = kk % sp.c;
      const int rs = kk / sp.c;
      const int dr = (rs / sp.s) * sp.dilation_h;
      const int ds = (rs % sp.s) * sp.dilation_w;
      tap_off[i] = (dr * sp.w + ds) * sp.c + c;
      if (warp == 0) taps[kk] = make_int2(dr, ds);
    } else if (warp == 0 && kk < sp.kp) {
      taps[kk] = make_int2(0, 0);
    }
  }
  __syncthreads();

  const int64_t image = static_cast<int64_t>(sp.h) * sp.w * sp.c;
  for (int64_t tile = blockIdx.x; tile < sp.tiles; tile += gridDim.x) {
    const int64_t m0 = tile * kStemBM;
    // Step 3: lane j < 16 decodes the pixel of row warp + 8 * j.
    int64_t my_base = 0;
    int my_ih = 0, my_iw = 0, my_state = kPastEnd;
    if (lane < kStemBM / kStemWarps) {
      const int64_t pix = m0 + warp + kStemWarps * lane;
      if (pix < sp.pixels) {
        const int64_t oq = pix % sp.q;
        const int64_t rest = pix / sp.q;
        const int64_t op = rest % sp.p;
        const int64_t img = rest / sp.p;
        my_ih = static_cast<int>(op) * sp.stride_h - sp.pad_top;
        my_iw = static_cast<int>(oq) * sp.stride_w - sp.pad_left;
        my_base = img * image;
        const bool inside = my_ih >= 0 && my_ih + (sp.r - 1) * sp.dilation_h < sp.h && my_iw >= 0 &&
                            my_iw + (sp.s - 1) * sp.dilation_w < sp.w;
        my_state = inside ? kInterior : kBorder;
      }
    }
#pragma unroll 4
    for (int j = 0; j < kStemBM / kStemWarps; ++j) {
      const int m = warp + kStemWarps * j;
      const long long base = __shfl_sync(0xffffffffu, static_cast<long long>(my_base), j);
      const int ih0 = __shfl_sync(0xffffffffu, my_ih, j);
      const int iw0 = __shfl_sync(0xffffffffu, my_iw, j);
      const int state = __shfl_sync(0xffffffffu, my_state, j);
      // X offset of the window's top-left tap (may lie outside X: only in-image taps are read).
      const int64_t origin = base + (static_cast<int64_t>(ih0) * sp.w + iw0) * sp.c;
      __half* arow = as + m * lda;
      if (state == kInterior) {  // warp-uniform: every tap is inside the image
#pragma unroll
        for (int i = 0; i < kStemSlots; ++i) {
          const int kk = lane + 32 * i;
          if (32 * i >= sp.kp) break;
          if (kk < sp.kp) arow[kk] = kk < sp.rsc ? x[origin + tap_off[i]] : zero;
        }
      } else {
        const bool valid = state == kBorder;
#pragma unroll
        for (int i = 0; i < kStemSlots; ++i) {
          const int kk = lane + 32 * i;
          if (32 * i >= sp.kp) break;
          if (kk < sp.kp) {
            const int2 tap = taps[kk];
            const int ih = ih0 + tap.x;
            const int iw = iw0 + tap.y;
            const bool in = valid && kk < sp.rsc && static_cast<unsigned>(ih) < static_cast<unsigned>(sp.h) &&
                            static_cast<unsigned>(iw) < static_cast<unsigned>(sp.w);
            arow[kk] = in ? x[origin + tap_off[i]] : zero;
          }
        }
      }
    }
    __syncthreads();

    // Step 4: warp `warp` computes rows 16 * warp .. + 15 of the tile, all column tiles.
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[BN / 16];
#pragma unroll
    for (int j = 0; j < BN / 16; ++j) wmma::fill_fragment(acc[j], 0.0f);
    {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
      const __half* a_tile = as + warp * 16 * lda;
      for (int k0 = 0; k0 < sp.kp; k0 += 16) {
        wmma::load_matrix_sync(a, a_tile + k0, lda);
#pragma unroll
        for (int j = 0; j < BN / 16; ++j) {
          if (n0 + 16 * j >= sp.k) break;
          wmma::load_matrix_sync(b, ws + 16 * j * lda + k0, lda);
          wmma::mma_sync(acc[j], a, b, acc[j]);
        }
      }
    }
    __syncthreads();  // every warp is done reading As: Cs (the same bytes) may be written
#pragma unroll
    for (int j = 0; j < BN / 16; ++j) {
      if (n0 + 16 * j >= sp.k) break;
      wmma::store_matrix_sync(cs + warp * 16 * ldc + 16 * j, acc[j], ldc, wmma::mem_row_major);
    }
    __syncthreads();

    // Step 5: the epilogue, 8 consecutive channels of one pixel per thread.
    constexpr int kChunks = BN / 8;
    for (int e = tid; e < kStemBM * kChunks; e += kStemThreads) {
      const int m = e / kChunks;
      const int kout = n0 + (e % kChunks) * 8;
      const int64_t pix = m0 + m;
      if (pix >= sp.pixels || kout >= sp.k) continue;
      const float* cp = cs + m * ldc + (e % kChunks) * 8;
      const float4 lo = *reinterpret_cast<const float4*>(cp);
      const float4 hi = *reinterpret_cast<const float4*>(cp + 4);
      float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
      const int64_t out = pix * sp.k + kout;
      if (kVec) {
        using Pack = VecPack<__half, 8>;
        if (bias != nullptr) {
          const Pack b = *reinterpret_cast<const Pack*>(bias + kout);
#pragma unroll
          for (int i = 0; i < 8; ++i) v[i] += Load(&b.v[i]);
        }
        if (residual != nullptr) {
          const Pack z = *reinterpret_cast<const Pack*>(residual + out);
#pragma unroll
          for (int i = 0; i < 8; ++i) v[i] += Load(&z.v[i]);
        }
        Pack result;
#pragma unroll
        for (int i = 0; i < 8; ++i) Store(&result.v[i], act.Apply(v[i]));
        *reinterpret_cast<Pack*>(y + out) = result;
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          float t = v[i];
          if (bias != nullptr) t += Load(bias + kout + i);
          if (residual != nullptr) t += Load(residual + out + i);
          Store(y + out + i, act.Apply(t));
        }
      }
    }
    __syncthreads();  // the epilogue is done reading Cs before the next gather writes As
  }
}

// The output-channel tile: the smallest of 16, 32, 64 covering K, else 64.
int StemTileN(int64_t k) { return k <= 16 ? 16 : (k <= 32 ? 32 : 64); }

template <int BN, bool kVec>
Status LaunchStem(cudaStream_t stream, const StemParams& sp, const __half* x, const __half* w, const __half* bias,
                  const __half* residual, __half* y, const DeviceActivation& act) {
  auto* fn = StemConvNhwcKernel<BN, kVec>;
  const size_t smem = StemLayout::Make(sp.kp, BN).bytes;
  int device = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  int sms = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  int optin = 0;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  // The limit is the instantiation's largest need (Kp = kStemMaxGemmK) capped by the device: the
  // same value on every call, so layers of another Kp launched from other threads never lower it
  // under this launch.
  const size_t smem_limit =
      std::min(StemLayout::Make(static_cast<int>(kStemMaxGemmK), BN).bytes, static_cast<size_t>(std::max(optin, 0)));
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
  // Window coordinates: p * sh - top + r * dh and the same for columns, in 32 bits.
  if (g.p * g.stride_h + g.r * g.dilation_h > kCoord || g.q * g.stride_w + g.s * g.dilation_w > kCoord) return false;
  // One image and the largest tap offset ((r * dh * W + s * dw) * C + c) in 32 bits.
  if (g.h * g.w * g.c > kInt32Max) return false;
  if (((g.r - 1) * g.dilation_h * g.w + (g.s - 1) * g.dilation_w + 1) * g.c > kInt32Max) return false;
  // Window origin times the row (ih0 * W * C) stays 64-bit in the kernel; P * Q per image is int64.
  return true;
}

Status EnqueueStemConvNhwc(cudaStream_t stream, DataType dtype, const NhwcConvGeometry& g, const void* x, const void* w,
                           const void* bias, const void* residual, void* y, const FusedEpilogue& act) {
  if (!StemNhwcSupported(dtype, g)) {
    return Internal(std::string("StemConvNhwcKernel: the layer is not a float16 stem (dtype ") + DataTypeName(dtype) +
                    ", C " + std::to_string(g.c) + ", K " + std::to_string(g.k) + ", group " + std::to_string(g.group) +
                    ")");
  }
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
  sp.pixels = g.n * g.p * g.q;
  if (sp.pixels == 0) return Status::Ok();
  sp.tiles = (sp.pixels + kStemBM - 1) / kStemBM;
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
