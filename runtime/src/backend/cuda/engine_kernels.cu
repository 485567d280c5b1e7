#include "engine_kernels.h"

#include <cstdint>
#include <string>

#include "cuda_check.h"
#include "cuda_device.cuh"

namespace edgert {
namespace cuda {
namespace {

template <typename S, typename D>
__global__ void ConvertKernel(const S* src, D* dst, int64_t n) {
  GridDependencySync();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    Store(dst + i, Load(src + i));
  }
}

// dst = src in 16-byte vectors (both aligned, the size a multiple of 16): a same-dtype I/O copy as
// a kernel, so that it keeps the programmatic launches of the graph's kernels overlapping.
__global__ void CopyVectorsKernel(const uint4* __restrict__ src, uint4* __restrict__ dst, int64_t n) {
  GridDependencySync();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    dst[i] = src[i];
  }
}

// A thread per (b, c) of a batched [rows, cols] -> [cols, rows] with rows <= kNarrowRows.
constexpr int64_t kNarrowRows = 8;
template <typename S, typename D>
__global__ void ConvertTransposeNarrowKernel(const S* __restrict__ src, D* __restrict__ dst, int64_t batches, int rows,
                                             int64_t cols) {
  GridDependencySync();
  const int64_t n = batches * cols;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = i / cols;
    const int64_t c = i - b * cols;
    const S* in = src + b * rows * cols + c;
    float v[kNarrowRows];
#pragma unroll
    for (int r = 0; r < kNarrowRows; ++r) {
      if (r < rows) v[r] = Load(in + r * cols);
    }
    D* out = dst + i * rows;
#pragma unroll
    for (int r = 0; r < kNarrowRows; ++r) {
      if (r < rows) Store(out + r, v[r]);
    }
  }
}

// 32 x 32 tiles: grid (column tiles, row tiles, batches), block 32 x 8; the tile passes through
// shared memory as float (one padding column against bank conflicts).
template <typename S, typename D>
__global__ void ConvertTransposeTileKernel(const S* __restrict__ src, D* __restrict__ dst, int64_t rows, int64_t cols) {
  GridDependencySync();
  __shared__ float tile[32][33];
  const int64_t b = blockIdx.z;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * 32;
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * 32;
  const S* in = src + b * rows * cols;
  D* out = dst + b * rows * cols;
  for (int y = threadIdx.y; y < 32; y += blockDim.y) {
    const int64_t r = r0 + y, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[y][threadIdx.x] = Load(in + r * cols + c);
  }
  __syncthreads();
  for (int y = threadIdx.y; y < 32; y += blockDim.y) {
    const int64_t c = c0 + y, r = r0 + threadIdx.x;
    if (r < rows && c < cols) Store(out + c * rows + r, tile[threadIdx.x][y]);
  }
}

template <typename S, typename D>
Status LaunchConvertTranspose(cudaStream_t stream, const S* src, D* dst, int64_t batches, int64_t rows, int64_t cols) {
  if (rows <= kNarrowRows) {
    return LaunchDependent("ConvertTransposeNarrowKernel", ConvertTransposeNarrowKernel<S, D>, GridSize(batches * cols),
                           kBlockSize, 0, stream, src, dst, batches, static_cast<int>(rows), cols);
  }
  const int64_t tiles_c = (cols + 31) / 32, tiles_r = (rows + 31) / 32;
  if (tiles_r > 65535 || batches > 65535 || tiles_c > 0x7fffffff) {
    return Unsupported("input transpose of " + std::to_string(batches) + " x " + std::to_string(rows) + " x " +
                       std::to_string(cols) + " exceeds the tiled kernel's grid");
  }
  return LaunchDependent(
      "ConvertTransposeTileKernel", ConvertTransposeTileKernel<S, D>,
      dim3(static_cast<unsigned>(tiles_c), static_cast<unsigned>(tiles_r), static_cast<unsigned>(batches)), dim3(32, 8),
      0, stream, src, dst, rows, cols);
}

}  // namespace

bool ConvertTransposeSupported(DataType src_dtype, DataType dst_dtype) {
  auto floating = [](DataType t) { return t == DataType::kFloat32 || t == DataType::kFloat16; };
  return floating(src_dtype) && floating(dst_dtype);
}

Status EnqueueConvertTranspose(cudaStream_t stream, const void* src, DataType src_dtype, void* dst, DataType dst_dtype,
                               int64_t batches, int64_t rows, int64_t cols) {
  if (batches <= 0 || rows <= 0 || cols <= 0) return Status::Ok();
  if (!ConvertTransposeSupported(src_dtype, dst_dtype)) {
    return Internal(std::string("no transposing conversion from ") + DataTypeName(src_dtype) + " to " +
                    DataTypeName(dst_dtype));
  }
  Status s;  // both dtypes are float32 / float16 here, so exactly one launch sets it
  DispatchFloat(src_dtype, [&](auto src_tag) {
    using S = decltype(src_tag);
    DispatchFloat(dst_dtype, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      s = LaunchConvertTranspose(stream, static_cast<const S*>(src), static_cast<D*>(dst), batches, rows, cols);
    });
  });
  return s;
}

Status EnqueueConvert(cudaStream_t stream, const void* src, DataType src_dtype, void* dst, DataType dst_dtype,
                      int64_t n) {
  if (n <= 0) return Status::Ok();
  if (src_dtype == dst_dtype) {
    const size_t bytes = static_cast<size_t>(n) * DataTypeSize(src_dtype);
    if (bytes % 16 == 0 && reinterpret_cast<uintptr_t>(src) % 16 == 0 && reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
      const int64_t vectors = static_cast<int64_t>(bytes / 16);
      return LaunchDependent("CopyVectorsKernel", CopyVectorsKernel, GridSize(vectors), kBlockSize, 0, stream,
                             static_cast<const uint4*>(src), static_cast<uint4*>(dst), vectors);
    }
    EDGERT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }
  if (src_dtype == DataType::kFloat32 && dst_dtype == DataType::kFloat16) {
    return LaunchDependent("ConvertKernel", ConvertKernel<float, __half>, GridSize(n), kBlockSize, 0, stream,
                           static_cast<const float*>(src), static_cast<__half*>(dst), n);
  }
  if (src_dtype == DataType::kFloat16 && dst_dtype == DataType::kFloat32) {
    return LaunchDependent("ConvertKernel", ConvertKernel<__half, float>, GridSize(n), kBlockSize, 0, stream,
                           static_cast<const __half*>(src), static_cast<float*>(dst), n);
  }
  return Internal(std::string("no conversion from ") + DataTypeName(src_dtype) + " to " + DataTypeName(dst_dtype));
}

}  // namespace cuda
}  // namespace edgert
