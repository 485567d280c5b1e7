// edgertoverlay's CUDA path: box outlines on a 4-byte-per-pixel frame in device memory.
//
// 1. Boxes travel in the kernel's parameter block, kMaxBoxesPerLaunch at a time (no device
//    allocation, no copy); a frame with more boxes takes several launches in order.
// 2. One thread per pixel: it walks the launch's boxes and keeps the colour of the last box whose
//    outline (line_width pixels inside [x0, x1) x [y0, y1)) covers the pixel, then writes it once.
//    Pixels no outline covers are not written. The result equals the host path's DrawResults
//    outlines (edgertoverlay.cc) for RGBA / BGRx.
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "overlay_cuda.h"

namespace edgert::overlay {
namespace {

constexpr int kMaxBoxesPerLaunch = 64;

struct BoxBatch {
  int count;
  CudaBox boxes[kMaxBoxesPerLaunch];
};

__global__ void DrawOutlinesKernel(uint8_t* pixels, int stride, int width, int height, BoxBatch batch) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= width || y >= height) return;
  int hit = -1;
  for (int i = 0; i < batch.count; ++i) {
    const CudaBox& b = batch.boxes[i];
    if (x < b.x0 || x >= b.x1 || y < b.y0 || y >= b.y1) continue;
    if (x < b.x0 + b.line_width || x >= b.x1 - b.line_width || y < b.y0 + b.line_width || y >= b.y1 - b.line_width) {
      hit = i;
    }
  }
  if (hit < 0) return;
  uint8_t* px = pixels + static_cast<size_t>(y) * stride + static_cast<size_t>(x) * 4;
  const CudaBox& b = batch.boxes[hit];
  px[0] = b.bytes[0];
  px[1] = b.bytes[1];
  px[2] = b.bytes[2];
  px[3] = b.bytes[3];
}

Status CudaError(cudaError_t error, const char* call) {
  return Status(StatusCode::kDevice, std::string(call) + " failed: " + cudaGetErrorString(error), "edgertoverlay");
}

}  // namespace

Status DrawBoxesCuda(uint8_t* pixels, int stride, int width, int height, const std::vector<CudaBox>& boxes,
                     void* stream) {
  if (pixels == nullptr || width <= 0 || height <= 0 || stride < width * 4) {
    return InvalidArgument("DrawBoxesCuda needs a non-null frame with a positive size and stride >= 4 * width",
                           "frame");
  }
  const dim3 block(32, 8);
  const dim3 grid((width + block.x - 1) / block.x, (height + block.y - 1) / block.y);
  for (size_t first = 0; first < boxes.size(); first += kMaxBoxesPerLaunch) {
    BoxBatch batch;
    batch.count = static_cast<int>(std::min(boxes.size() - first, static_cast<size_t>(kMaxBoxesPerLaunch)));
    for (int i = 0; i < batch.count; ++i) batch.boxes[i] = boxes[first + i];
    DrawOutlinesKernel<<<grid, block, 0, static_cast<cudaStream_t>(stream)>>>(pixels, stride, width, height, batch);
    const cudaError_t error = cudaGetLastError();
    if (error != cudaSuccess) return CudaError(error, "DrawOutlinesKernel launch");
  }
  return Status::Ok();
}

Status SynchronizeCuda(void* stream) {
  const cudaError_t error = cudaStreamSynchronize(static_cast<cudaStream_t>(stream));
  return error == cudaSuccess ? Status::Ok() : CudaError(error, "cudaStreamSynchronize");
}

}  // namespace edgert::overlay
