// Building blocks shared by kernels_reduce.cu and kernels_norm_pool.cu (.cu files only).
//
//   - WarpReduce / BlockReduce: tree reductions with warp shuffles (xor butterfly, so every lane
//     ends with the result) and one shared slot per warp. BlockReduce needs a 1-D block whose size
//     is a multiple of 32 (at most 1024), is called by every thread of the block, and returns the
//     result to every thread. The combination order is fixed, so results are deterministic.
//   - AccOf<T>: the accumulator of a storage type (float for float/__half, int64 for integers);
//     LoadAcc / StoreAcc convert between them.
//   - LaunchKernel: a CudaKernel whose Enqueue runs one host closure fixed at creation (the closure
//     only launches kernels; it must not allocate, synchronise or format strings).
// Everything is in namespace edgert::cuda::reduce_util, so that other kernel families may use the
// same names for their own helpers without clashing at link time.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

#include "cuda_check.h"
#include "cuda_device.cuh"
#include "cuda_kernel.h"

namespace edgert {
namespace cuda {
namespace reduce_util {

template <typename T>
struct AccOf {
  using type = int64_t;
};
template <>
struct AccOf<float> {
  using type = float;
};
template <>
struct AccOf<__half> {
  using type = float;
};
template <typename T>
using AccT = typename AccOf<T>::type;

template <typename T>
inline constexpr bool kIsFloatStorage = std::is_same_v<T, float> || std::is_same_v<T, __half>;

template <typename T>
__device__ __forceinline__ AccT<T> LoadAcc(const T* p) {
  if constexpr (kIsFloatStorage<T>) {
    return Load(p);
  } else {
    return static_cast<int64_t>(*p);
  }
}

template <typename T>
__device__ __forceinline__ void StoreAcc(T* p, AccT<T> v) {
  if constexpr (kIsFloatStorage<T>) {
    Store(p, v);
  } else {
    *p = static_cast<T>(v);
  }
}

template <typename Acc, typename Op>
__device__ __forceinline__ Acc WarpReduce(Acc v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// `smem` holds at least 32 Acc values.
template <typename Acc, typename Op>
__device__ __forceinline__ Acc BlockReduce(Acc v, Op op, Acc* smem) {
  v = WarpReduce(v, op);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  __syncthreads();  // smem may still be read by a previous call
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  v = smem[0];
  for (int w = 1; w < warps; ++w) v = op(v, smem[w]);
  return v;
}

struct FloatSum {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};
// Maximum that never returns a NaN operand unless both are NaN (a NaN element loses).
struct FloatMax {
  __device__ __forceinline__ float operator()(float a, float b) const { return b > a ? b : (a == a ? a : b); }
};

// Threads per block for one block per line of `len` elements: a multiple of 32 in [32, 1024].
inline int LineBlockSize(int64_t len) {
  if (len <= 256) return 32;
  if (len <= 2048) return 128;
  if (len <= 8192) return 256;
  return 512;
}

// Blocks for a grid-stride loop over `items` work items, one per block.
inline unsigned ItemGrid(int64_t items) {
  if (items < 1) return 1;
  return static_cast<unsigned>(items < 65535 * 32 ? items : 65535 * 32);
}

// A CudaKernel that runs a launch closure. `launch` gets the stream and the workspace pointer.
class LaunchKernel : public CudaKernel {
 public:
  using Launch = std::function<void(cudaStream_t, void*)>;
  LaunchKernel(const char* what, Launch launch, size_t workspace_bytes = 0)
      : what_(what), launch_(std::move(launch)), workspace_bytes_(workspace_bytes) {}

  size_t WorkspaceBytes() const override { return workspace_bytes_; }
  void SetWorkspace(void* workspace) override { workspace_ = workspace; }
  Status Enqueue(cudaStream_t stream) override {
    launch_(stream, workspace_);
    return LaunchStatus(what_);
  }

 private:
  const char* what_;
  Launch launch_;
  size_t workspace_bytes_;
  void* workspace_ = nullptr;
};

inline StatusOr<CudaKernelPtr> MakeLaunchKernel(const char* what, LaunchKernel::Launch launch,
                                                size_t workspace_bytes = 0) {
  return CudaKernelPtr(new LaunchKernel(what, std::move(launch), workspace_bytes));
}

}  // namespace reduce_util
}  // namespace cuda
}  // namespace edgert
