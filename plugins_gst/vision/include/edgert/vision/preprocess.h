// Preprocessing: one pass from a video frame to the network's float32 NCHW input — color
// conversion (YUV BT.601 limited range to RGB), resize (bilinear, half-pixel centres) as stretch,
// letterbox or center-crop, color order, scale/mean/std, layout. The CPU version is the reference;
// the CUDA version is one kernel writing straight into the engine's input binding and must match it
// within 1e-3 absolute (in normalized units) per element.
#pragma once

#include "edgert/status.h"
#include "edgert/vision/frame.h"
#include "edgert/vision/model_config.h"

namespace edgert::vision {

// The transform preprocessing applies for `frame` size and `config` (letterbox scale and padding,
// stretch scales, center-crop offsets as negative padding).
InputTransform ComputeInputTransform(int frame_width, int frame_height, const PreprocessConfig& config);

// Writes one image of `config.height` x `config.width` into `dst` (channels = 1 for gray, else 3;
// planar CHW float32, channel order as config.color says). `frame` must be in host memory
// (frame.on_device false). `transform` (optional) receives ComputeInputTransform's result.
// The exact arithmetic (color conversion, placement, bilinear taps, normalisation) is stated at the
// top of preprocess.cc. InvalidArgument (naming the field) for a frame ValidateFrame rejects, a
// non-positive input size, a zero or non-finite std, or a null `dst`.
Status PreprocessCpu(const FrameView& frame, const PreprocessConfig& config, float* dst,
                     InputTransform* transform = nullptr);

// The same on the GPU: `frame` planes are device (or device-mapped host) pointers and
// frame.on_device is true, `dst` is device memory, the work is queued on `stream` (a cudaStream_t;
// nullptr = legacy default stream) as one kernel, and nothing is allocated or synchronised: the
// frame must stay unchanged until the stream has run it. Results match PreprocessCpu to float
// rounding (<= 1e-3 absolute in normalized units). Unsupported (with the reason) in a build
// without CUDA; kDevice when the launch fails.
Status PreprocessCuda(const FrameView& frame, const PreprocessConfig& config, float* dst, void* stream,
                      InputTransform* transform = nullptr);

}  // namespace edgert::vision
