// Device-side helpers shared by the CUDA kernel families (.cu files only).
//
//   - Scalar conversion: Load<T>(p) / Store<T>(p, float) between storage types and float.
//   - Host-side dtype dispatch: DispatchFloat(dtype, fn) calls fn(T{}) for float / __half.
//   - Strided index maps: a kernel reading an input broadcast (or permuted) against its output
//     walks output elements linearly and maps each to the input's offset with StridedMap::Offset.
//   - Launch geometry: GridSize(n) for grid-stride loops.
//   - Vector access: VecPack<T, V> (V consecutive elements as one aligned load or store) and the
//     host check Aligned(p, bytes) that decides whether a kernel may use it.
//   - Programmatic dependent launch (sm_90): LaunchDependent launches a kernel that may start
//     while the kernel before it on the stream (or in the CUDA graph captured from it) is still
//     running; the kernel calls GridDependencySync() before its first access to global memory
//     that another kernel writes or reads (activations, outputs; the weights may be read before).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "cuda_check.h"
#include "edgert/tensor.h"

namespace edgert {
namespace cuda {

inline constexpr int kMaxRank = 8;
inline constexpr int kBlockSize = 256;

// Blocks for a grid-stride loop over n elements (at least 1; at most 65535 * 8 so very large
// tensors loop).
inline unsigned GridSize(int64_t n, int block = kBlockSize) {
  int64_t blocks = (n + block - 1) / block;
  if (blocks < 1) blocks = 1;
  if (blocks > 65535 * 8) blocks = 65535 * 8;
  return static_cast<unsigned>(blocks);
}

// Device: the first statement a LaunchDependent kernel runs before touching activations. It waits
// until the grids this one depends on have completed and their writes are visible
// (griddepcontrol.wait), then lets the kernel after this one be launched as soon as every CTA of
// this grid has started (griddepcontrol.launch_dependents; that kernel waits in turn). Without a
// programmatic launch, or before sm_90, it does nothing.
__device__ __forceinline__ void GridDependencySync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Host: launches kernel<<<grid, block, smem, stream>>>(args...), with programmatic stream
// serialization where ProgrammaticLaunchEnabled(stream) (cuda_check.h): the kernel must call
// GridDependencySync() before it touches activations. A driver that refuses the attribute gets an
// ordinary launch. Like <<<>>>, it leaves a failed launch's error as cudaGetLastError's (for a
// caller that reads it later with LaunchStatus) and returns cudaPeekAtLastError().
template <typename... Params, typename... Args>
cudaError_t LaunchDependentUnchecked(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                                     Args&&... args) {
  if (ProgrammaticLaunchEnabled(stream)) {
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    config.attrs = attr;
    config.numAttrs = 1;
    if (cudaLaunchKernelEx(&config, kernel, args...) == cudaSuccess) return cudaSuccess;
    cudaGetLastError();  // the refused attribute: an ordinary launch instead
  }
  kernel<<<grid, block, smem, stream>>>(args...);
  return cudaPeekAtLastError();
}

// LaunchDependentUnchecked, then the launch's Status naming `what` (the error is consumed).
template <typename... Params, typename... Args>
Status LaunchDependent(const char* what, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                       cudaStream_t stream, Args&&... args) {
  LaunchDependentUnchecked(kernel, grid, block, smem, stream, args...);
  return LaunchStatus(what);
}

// V consecutive elements, loaded and stored as one aligned access (16 bytes: 4 floats, 8 halves).
template <typename T, int V>
struct alignas(sizeof(T) * V) VecPack {
  T v[V];
};

// Host: whether `p` is a multiple of `bytes` (a null pointer is: nothing is accessed through it).
inline bool Aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

template <typename T> __device__ __forceinline__ float Load(const T* p) { return static_cast<float>(*p); }
template <> __device__ __forceinline__ float Load<__half>(const __half* p) { return __half2float(*p); }
template <typename T> __device__ __forceinline__ void Store(T* p, float v) { *p = static_cast<T>(v); }
template <> __device__ __forceinline__ void Store<__half>(__half* p, float v) { *p = __float2half_rn(v); }

// Host: calls fn(float{}) or fn(__half{}) for a float32/float16 dtype; false otherwise.
template <typename Fn>
bool DispatchFloat(DataType dtype, Fn&& fn) {
  if (dtype == DataType::kFloat32) { fn(float{}); return true; }
  if (dtype == DataType::kFloat16) { fn(__half{}); return true; }
  return false;
}

// Maps a linear index over `dims` (row-major) to sum(coord[d] * strides[d]). Passed to kernels by
// value. Broadcasting: stride 0 on broadcast dimensions; permutation: permuted strides.
struct StridedMap {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};

  __host__ __device__ __forceinline__ int64_t Offset(int64_t linear) const {
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t c = linear % dims[d];
      linear /= dims[d];
      off += c * strides[d];
    }
    return off;
  }
};

// Host: the map from an output of shape `out` to an input of shape `in` broadcast against it
// (numpy rules; `in` right-aligned). Requires out.size() <= kMaxRank.
inline StridedMap BroadcastMap(const Shape& in, const Shape& out) {
  StridedMap m;
  m.rank = static_cast<int>(out.size());
  const int offset = static_cast<int>(out.size() - in.size());
  int64_t stride = 1;
  for (int d = m.rank - 1; d >= 0; --d) {
    m.dims[d] = out[static_cast<size_t>(d)];
    const int id = d - offset;
    if (id >= 0 && in[static_cast<size_t>(id)] != 1) {
      m.strides[d] = stride;
      stride *= in[static_cast<size_t>(id)];
    } else {
      m.strides[d] = 0;
      if (id >= 0) stride *= in[static_cast<size_t>(id)];
    }
  }
  return m;
}

// Host: the map of a tensor of shape `dims` with explicit element `strides`.
inline StridedMap MakeStridedMap(const Shape& dims, const std::vector<int64_t>& strides) {
  StridedMap m;
  m.rank = static_cast<int>(dims.size());
  for (int d = 0; d < m.rank; ++d) {
    m.dims[d] = dims[static_cast<size_t>(d)];
    m.strides[d] = strides[static_cast<size_t>(d)];
  }
  return m;
}

}  // namespace cuda
}  // namespace edgert
