// Device helpers of the Gemm/MatMul family (contracts in kernels_gemm.h):
//   1. BroadcastFillKernel: Gemm's C operand broadcast into the output; a grid-stride loop over the
//      output elements, each reading its C element through the row/column strides (0 = broadcast).
//   2. TacticFillKernel (tactic selection only): element i gets a uniform value in [-1, 1) from a
//      splitmix64 hash of (seed, i), so the data is the same on every run and every GPU.
//   3. CompareKernel (tactic selection only): each thread accumulates the squared difference and
//      the squared reference over its elements in double, plus the count of elements whose value
//      is NaN/infinite where the reference is finite (or differs from an infinite reference); a
//      block reduces them in shared memory and adds them to the three device doubles with atomics.
#include <algorithm>
#include <cmath>
#include <string>

#include "cuda_check.h"
#include "cuda_device.cuh"
#include "kernels_gemm.h"

namespace edgert {
namespace cuda {
namespace {

template <typename T>
__global__ void BroadcastFillKernel(T* y, int64_t rows, int64_t cols, const T* c, int64_t c_row_stride,
                                    int64_t c_col_stride, float scale) {
  const int64_t n = rows * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    if (c != nullptr) {
      const int64_t r = i / cols;
      const int64_t col = i - r * cols;
      v = scale * Load(c + r * c_row_stride + col * c_col_stride);
    }
    Store(y + i, v);
  }
}

template <typename T>
__global__ void TacticFillKernel(T* y, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint64_t z = seed + static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    const float u = static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // 24 bits: [0, 1)
    Store(y + i, 2.0f * u - 1.0f);
  }
}

template <typename T>
__global__ void CompareKernel(const T* got, const T* want, int64_t n, double* sums) {
  __shared__ double part[3][kBlockSize];
  double diff2 = 0.0, ref2 = 0.0, bad = 0.0;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float g = Load(got + i);
    const float w = Load(want + i);
    if (isfinite(w)) {
      if (!isfinite(g)) {
        bad += 1.0;
      } else {
        const double d = static_cast<double>(g) - static_cast<double>(w);
        diff2 += d * d;
        ref2 += static_cast<double>(w) * static_cast<double>(w);
      }
    } else if (!isnan(w) && g != w) {  // an infinite reference must be matched exactly
      bad += 1.0;
    }
  }
  part[0][threadIdx.x] = diff2;
  part[1][threadIdx.x] = ref2;
  part[2][threadIdx.x] = bad;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      for (int k = 0; k < 3; ++k) part[k][threadIdx.x] += part[k][threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    for (int k = 0; k < 3; ++k) atomicAdd(sums + k, part[k][0]);
  }
}

}  // namespace

Status EnqueueBroadcastFill(cudaStream_t stream, DataType dtype, void* y, int64_t rows, int64_t cols, const void* c,
                            int64_t c_row_stride, int64_t c_col_stride, float scale) {
  const int64_t n = rows * cols;
  if (n <= 0) return Status::Ok();
  const bool ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    BroadcastFillKernel<T><<<GridSize(n), kBlockSize, 0, stream>>>(
        static_cast<T*>(y), rows, cols, static_cast<const T*>(c), c_row_stride, c_col_stride, scale);
  });
  if (!ok) return Internal(std::string("Gemm C broadcast: unsupported dtype ") + DataTypeName(dtype));
  return LaunchStatus("BroadcastFillKernel");
}

Status EnqueueTacticFill(cudaStream_t stream, DataType dtype, void* y, int64_t n, uint64_t seed) {
  if (n <= 0) return Status::Ok();
  const bool ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    TacticFillKernel<T><<<GridSize(n), kBlockSize, 0, stream>>>(static_cast<T*>(y), n, seed);
  });
  if (!ok) return Internal(std::string("Gemm tactic fill: unsupported dtype ") + DataTypeName(dtype));
  return LaunchStatus("TacticFillKernel");
}

Status EnqueueCompare(cudaStream_t stream, DataType dtype, const void* got, const void* want, int64_t n,
                      double* sums) {
  EDGERT_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(sums, 0, 3 * sizeof(double), stream));
  if (n <= 0) return Status::Ok();
  const bool ok = DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    CompareKernel<T><<<std::min(GridSize(n), 1024u), kBlockSize, 0, stream>>>(static_cast<const T*>(got),
                                                             static_cast<const T*>(want), n, sums);
  });
  if (!ok) return Internal(std::string("Gemm tactic compare: unsupported dtype ") + DataTypeName(dtype));
  return LaunchStatus("CompareKernel");
}

bool CompareSumsMatch(const double sums[3], DataType dtype) {
  const double tolerance = dtype == DataType::kFloat16 ? 1e-2 : 1e-3;
  const double rel = sums[1] > 0 ? std::sqrt(sums[0] / sums[1]) : std::sqrt(sums[0]);
  return sums[2] == 0 && rel <= tolerance;
}

}  // namespace cuda
}  // namespace edgert
