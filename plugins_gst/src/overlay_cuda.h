// edgertoverlay's CUDA kernels (overlay_cuda.cu), declared without GStreamer or CUDA headers.
// Only built with EDGERT_HAVE_CUDA.
#pragma once

#if defined(EDGERT_HAVE_CUDA)
#include <cstdint>
#include <vector>

#include "edgert/status.h"

namespace edgert::overlay {

// One box for the outline kernel: pixel rectangle [x0, x1) x [y0, y1), outline width (pixels,
// inside the box) and the 4 bytes written on it, in the frame's byte order.
struct CudaBox {
  int x0, y0, x1, y1, line_width;
  uint8_t bytes[4];
};

// Draws box outlines on a 4-byte-per-pixel frame in CUDA device memory (RGBA or BGRx; the caller
// orders `bytes` for the format); later boxes are drawn over earlier ones. Launches on `stream`
// (a cudaStream_t; nullptr: the current context's default stream) and does not wait; `boxes` is
// read before return. The CUDA context owning `pixels` must be current. Errors name the CUDA call.
Status DrawBoxesCuda(uint8_t* pixels, int stride, int width, int height, const std::vector<CudaBox>& boxes,
                     void* stream);

// Waits for `stream` (cudaStreamSynchronize); the error names the call.
Status SynchronizeCuda(void* stream);

}  // namespace edgert::overlay
#endif
