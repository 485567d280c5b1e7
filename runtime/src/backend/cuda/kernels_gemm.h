// Helpers of the Gemm/MatMul family (kernels_gemm.cc drives cuBLASLt; kernels_gemm.cu holds the
// small device kernels it needs).
//
// EnqueueBroadcastFill writes y[i * cols + j] = scale * c[i * c_row_stride + j * c_col_stride] for
// a row-major [rows, cols] y (Gemm's C broadcast to the output: strides 0 on broadcast dimensions),
// or 0 everywhere when `c` is nullptr. `y` and `c` share `dtype` (float32 or float16); values are
// scaled in float. One launch; no allocation; capturable.
//
// Tactic selection only (CudaOpContext::select_tactics; never during inference):
//   EnqueueTacticFill writes n deterministic pseudo-random values in [-1, 1) into y (float32 or
//   float16), a function of (seed, element index) only.
//   EnqueueCompare sets the three device doubles at `sums` to: the sum of (got - want)^2 and of
//   want^2 over the elements where both are finite, and the number of elements that are NaN or
//   infinite in `got` where `want` is finite, or other than `want` where `want` is infinite
//   (elements where `want` is NaN are skipped). A memset and one launch on `stream`; the caller
//   copies `sums` back. Gemm/MatMul and Conv tactic candidates are checked with it.
//   CompareSumsMatch: the verdict on those sums copied back: no such element and a relative L2
//   distance sqrt(sum (got - want)^2 / sum want^2) (the absolute one when the reference is all
//   zeros) within 1e-2 for float16, 1e-3 for float32.
//
// GemmCandidateCount: the number of cuBLASLt algorithms the Gemm/MatMul layer of `ctx` would choose
// from at ctx.tactic_level (ctx.tactic and ctx.select_tactics ignored; nothing is timed), i.e. the
// valid values of CudaOpContext::tactic for it; 0 for a layer that issues no matmul (empty output,
// K == 0). Errors as CreateGemmKernel's.
//
// CreateCublasLtHandle / DestroyCublasLtHandle: a cuBLASLt handle for CudaResources::cublaslt
// outside an engine (tests that drive the family directly; their binary need not link cuBLASLt).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "edgert/status.h"
#include "edgert/tensor.h"

struct cublasLtContext;

namespace edgert {
namespace cuda {

struct CudaOpContext;

Status EnqueueBroadcastFill(cudaStream_t stream, DataType dtype, void* y, int64_t rows, int64_t cols, const void* c,
                            int64_t c_row_stride, int64_t c_col_stride, float scale);

Status EnqueueTacticFill(cudaStream_t stream, DataType dtype, void* y, int64_t n, uint64_t seed);

Status EnqueueCompare(cudaStream_t stream, DataType dtype, const void* got, const void* want, int64_t n,
                      double* sums);
bool CompareSumsMatch(const double sums[3], DataType dtype);

StatusOr<int> GemmCandidateCount(const CudaOpContext& ctx);

// cuBLASLt's one-time set-up in the process, without device memory or a kernel: a handle and one
// heuristic query for a small `dtype` (float32 / float16) GEMM with a bias + ReLU epilogue, the kind
// cuDNN's cuBLAS-backed engines and the Gemm layers ask for. The first such query in a process
// takes tens of ms (ResNet-50's plan load waited on it inside cuDNN's first cuBLAS-backed layer);
// the engine runs this on a thread beside its load. Launching a kernel there instead (a warm-up
// matmul) slowed the loaded engine's inferences by ~3% in the measurement, so it does not.
Status WarmUpCublasLt(DataType dtype);

StatusOr<cublasLtContext*> CreateCublasLtHandle();
void DestroyCublasLtHandle(cublasLtContext* handle);

}  // namespace cuda
}  // namespace edgert
