// PreprocessCuda: one kernel per call, one thread per network-input pixel writing all of its
// channels. The thread reads its bilinear taps straight from the frame (any format, any strides;
// device memory or mapped host memory) and writes float32 planar CHW into `dst`. The per-pixel code
// is preprocess_sampler.h, shared with the CPU reference (preprocess.cc states the semantics).
//
// Contract: no allocation, no synchronisation; the launch is queued on the caller's stream, so the
// frame must stay valid and unchanged until the stream reaches it. Thread-safe (no state).
#include <cuda_runtime.h>

#include <string>

#include "edgert/vision/preprocess.h"
#include "preprocess_sampler.h"

namespace edgert::vision {

namespace {

struct Planes {
  const uint8_t* planes[3];
  int strides[3];
};

constexpr int kBlockX = 32;
constexpr int kBlockY = 8;

template <PixelFormat kFormat>
__global__ void PreprocessKernel(detail::SamplerParams p, Planes frame, float* dst) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.out_width || y >= p.out_height) return;
  detail::PreprocessPixel(p, kFormat, frame.planes, frame.strides, x, y, dst);
}

template <PixelFormat kFormat>
void Launch(const detail::SamplerParams& p, const Planes& frame, float* dst, cudaStream_t stream) {
  const dim3 block(kBlockX, kBlockY);
  const dim3 grid((p.out_width + kBlockX - 1) / kBlockX, (p.out_height + kBlockY - 1) / kBlockY);
  PreprocessKernel<kFormat><<<grid, block, 0, stream>>>(p, frame, dst);
}

}  // namespace

Status PreprocessCuda(const FrameView& frame, const PreprocessConfig& config, float* dst, void* stream,
                      InputTransform* transform) {
  detail::SamplerParams p;
  EDGERT_RETURN_IF_ERROR(
      detail::MakeSamplerParams(frame, config, dst, /*on_device=*/true, "PreprocessCuda", &p, transform));
  if (p.out_height > 65535 * kBlockY) {
    return InvalidArgument("PreprocessCuda: input height " + std::to_string(p.out_height) + " is too large",
                           "input.height");
  }
  Planes planes;
  for (int i = 0; i < 3; ++i) {
    planes.planes[i] = frame.planes[i];
    planes.strides[i] = frame.strides[i];
  }
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (frame.format) {
    case PixelFormat::kRGB:
      Launch<PixelFormat::kRGB>(p, planes, dst, s);
      break;
    case PixelFormat::kBGR:
      Launch<PixelFormat::kBGR>(p, planes, dst, s);
      break;
    case PixelFormat::kRGBA:
      Launch<PixelFormat::kRGBA>(p, planes, dst, s);
      break;
    case PixelFormat::kBGRx:
      Launch<PixelFormat::kBGRx>(p, planes, dst, s);
      break;
    case PixelFormat::kNV12:
      Launch<PixelFormat::kNV12>(p, planes, dst, s);
      break;
    case PixelFormat::kI420:
      Launch<PixelFormat::kI420>(p, planes, dst, s);
      break;
    case PixelFormat::kGRAY8:
      Launch<PixelFormat::kGRAY8>(p, planes, dst, s);
      break;
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    return Status(StatusCode::kDevice,
                  std::string("PreprocessKernel launch (cudaGetLastError) failed: ") + cudaGetErrorString(err) + " (" +
                      cudaGetErrorName(err) + ")",
                  "PreprocessCuda");
  }
  return Status::Ok();
}

}  // namespace edgert::vision
