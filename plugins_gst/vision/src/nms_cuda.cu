// NmsCuda: greedy NMS of up to 4096 score-sorted boxes on the GPU, keeping exactly the boxes the host
// Nms keeps for the same (sorted) input.
//
// Algorithm:
//  1. NmsMaskKernel, grid (B, B) with B = ceil(n / 64), 64 threads: thread t of block (cb, rb) sets
//     bit j of word mask[i * B + cb] (i = rb * 64 + t) when box j' = cb * 64 + j comes after i
//     (j' > i), has the same class (when class ids are given) and IoU(i, j') > threshold. Blocks
//     below the diagonal (cb < rb) are never read and write nothing.
//  2. NmsReduceKernel, one block of 64 threads, `removed` words in shared memory: for each row block
//     b in order, the 64 threads load the block's diagonal words (mask[i * B + b]) into shared
//     memory, thread 0 walks its boxes greedily on them (box i is kept unless its bit in removed[b]
//     is set; a kept box ORs its diagonal word into removed[b]); then thread t > b ORs the rows of
//     all boxes kept in block b into removed[t]. Finally keep[i] = kept bit and *count = the number
//     kept.
//  3. The count is copied to the host and the stream synchronised.
// IoU is evaluated with explicitly rounded operations (no FMA contraction), in nms.cc's order.
// Scratch (the B*n mask words and the count) is the caller's when given, else it comes from the
// stream-ordered allocator.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "edgert/vision/decode.h"

namespace edgert::vision {

namespace {

constexpr int kBlock = 64;
constexpr int kMaxBoxes = 4096;

Status CudaCheck(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal(std::string(call) + " failed: " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")",
                  "NmsCuda");
}

#define NMS_CUDA_RETURN_IF_ERROR(call)                       \
  do {                                                       \
    ::edgert::Status nms_status_ = CudaCheck((call), #call); \
    if (!nms_status_.ok()) return nms_status_;               \
  } while (0)

__device__ __forceinline__ float DeviceIou(const float* a, const float* b) {
  const float iw = fmaxf(0.f, __fsub_rn(fminf(a[2], b[2]), fmaxf(a[0], b[0])));
  const float ih = fmaxf(0.f, __fsub_rn(fminf(a[3], b[3]), fmaxf(a[1], b[1])));
  const float inter = __fmul_rn(iw, ih);
  const float area_a = __fmul_rn(__fsub_rn(a[2], a[0]), __fsub_rn(a[3], a[1]));
  const float area_b = __fmul_rn(__fsub_rn(b[2], b[0]), __fsub_rn(b[3], b[1]));
  const float uni = __fsub_rn(__fadd_rn(area_a, area_b), inter);
  return uni > 0.f ? __fdiv_rn(inter, uni) : 0.f;
}

__global__ void NmsMaskKernel(const float* __restrict__ boxes, const int* __restrict__ class_ids, int n,
                              float iou_threshold, unsigned long long* __restrict__ mask) {
  const int rb = blockIdx.y, cb = blockIdx.x;
  if (cb < rb) return;
  const int blocks = gridDim.x;
  __shared__ float col_boxes[kBlock * 4];
  __shared__ int col_classes[kBlock];
  const int col_count = min(kBlock, n - cb * kBlock);
  const int row_count = min(kBlock, n - rb * kBlock);
  const int t = threadIdx.x;
  if (t < col_count) {
    const int j = cb * kBlock + t;
    for (int k = 0; k < 4; ++k) col_boxes[t * 4 + k] = boxes[j * 4 + k];
    col_classes[t] = class_ids != nullptr ? class_ids[j] : 0;
  }
  __syncthreads();
  if (t >= row_count) return;
  const int i = rb * kBlock + t;
  float row_box[4];
  for (int k = 0; k < 4; ++k) row_box[k] = boxes[i * 4 + k];
  const int row_class = class_ids != nullptr ? class_ids[i] : 0;
  unsigned long long bits = 0;
  const int first = cb == rb ? t + 1 : 0;  // only boxes after i
  for (int j = first; j < col_count; ++j) {
    if (col_classes[j] != row_class) continue;
    if (DeviceIou(row_box, &col_boxes[j * 4]) > iou_threshold) bits |= 1ULL << j;
  }
  mask[static_cast<size_t>(i) * blocks + cb] = bits;
}

__global__ void NmsReduceKernel(const unsigned long long* __restrict__ mask, int n, int blocks, int* __restrict__ keep,
                                int* __restrict__ count) {
  __shared__ unsigned long long removed[kBlock];
  __shared__ unsigned long long kept[kBlock];
  __shared__ unsigned long long diagonal[kBlock];  // the diagonal words of the current row block
  const int t = threadIdx.x;
  removed[t] = 0;
  kept[t] = 0;
  __syncthreads();
  for (int b = 0; b < blocks; ++b) {
    const int row_count = min(kBlock, n - b * kBlock);
    if (t < row_count) diagonal[t] = mask[static_cast<size_t>(b * kBlock + t) * blocks + b];
    __syncthreads();
    if (t == 0) {
      unsigned long long rem = removed[b];
      unsigned long long k = 0;
      for (int r = 0; r < row_count; ++r) {
        if (rem & (1ULL << r)) continue;
        k |= 1ULL << r;
        rem |= diagonal[r];
      }
      removed[b] = rem;
      kept[b] = k;
    }
    __syncthreads();
    if (t > b && t < blocks) {
      unsigned long long k = kept[b];
      unsigned long long rem = removed[t];
      while (k != 0) {
        const int r = __ffsll(static_cast<long long>(k)) - 1;
        k &= k - 1;
        rem |= mask[static_cast<size_t>(b * kBlock + r) * blocks + t];
      }
      removed[t] = rem;
    }
    __syncthreads();
  }
  for (int i = t; i < n; i += kBlock) keep[i] = (kept[i / kBlock] >> (i % kBlock)) & 1ULL ? 1 : 0;
  if (t == 0) {
    int c = 0;
    for (int b = 0; b < blocks; ++b) c += __popcll(kept[b]);
    *count = c;
  }
}

}  // namespace

Status NmsCuda(const float* boxes, const float* scores, const int* class_ids, int n, float iou_threshold, int* keep,
               int* num_kept, void* stream, void* caller_scratch, size_t scratch_bytes) {
  (void)scores;  // the order carries the scores: boxes arrive sorted by descending score
  if (num_kept == nullptr) return InvalidArgument("NmsCuda needs num_kept (host int)", "num_kept");
  if (n < 0 || n > kMaxBoxes) {
    return OutOfRange("NmsCuda takes 0 to " + std::to_string(kMaxBoxes) + " boxes, got " + std::to_string(n), "n");
  }
  *num_kept = 0;
  if (n == 0) return Status::Ok();
  if (boxes == nullptr || keep == nullptr) return InvalidArgument("NmsCuda needs device boxes and keep", "boxes");
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const int blocks = (n + kBlock - 1) / kBlock;
  const size_t mask_words = static_cast<size_t>(n) * blocks;
  void* scratch = caller_scratch;
  if (scratch != nullptr && scratch_bytes < NmsCudaScratchBytes(n)) {
    return InvalidArgument("NmsCuda scratch of " + std::to_string(scratch_bytes) + " bytes is below the " +
                               std::to_string(NmsCudaScratchBytes(n)) + " bytes " + std::to_string(n) + " boxes need",
                           "scratch");
  }
  if (scratch == nullptr) {
    NMS_CUDA_RETURN_IF_ERROR(cudaMallocAsync(&scratch, NmsCudaScratchBytes(n), s));
  }
  auto* mask = static_cast<unsigned long long*>(scratch);
  int* count = reinterpret_cast<int*>(mask + mask_words);
  NmsMaskKernel<<<dim3(blocks, blocks), kBlock, 0, s>>>(boxes, class_ids, n, iou_threshold, mask);
  Status status = CudaCheck(cudaGetLastError(), "NmsMaskKernel launch");
  if (status.ok()) {
    NmsReduceKernel<<<1, kBlock, 0, s>>>(mask, n, blocks, keep, count);
    status = CudaCheck(cudaGetLastError(), "NmsReduceKernel launch");
  }
  int host_count = 0;
  if (status.ok()) {
    status = CudaCheck(cudaMemcpyAsync(&host_count, count, sizeof(int), cudaMemcpyDeviceToHost, s),
                       "cudaMemcpyAsync(num_kept)");
  }
  const Status free_status =
      caller_scratch != nullptr ? Status::Ok() : CudaCheck(cudaFreeAsync(scratch, s), "cudaFreeAsync(NmsCuda scratch)");
  const Status sync_status = CudaCheck(cudaStreamSynchronize(s), "cudaStreamSynchronize");
  EDGERT_RETURN_IF_ERROR(status);
  EDGERT_RETURN_IF_ERROR(free_status);
  EDGERT_RETURN_IF_ERROR(sync_status);
  *num_kept = host_count;
  return Status::Ok();
}

}  // namespace edgert::vision
