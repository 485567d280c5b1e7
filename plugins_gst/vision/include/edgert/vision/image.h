// Image files for the vision helpers (OpenCV imgcodecs): reading a picture as 8-bit RGB, writing
// one, and turning a file into a network input with the CPU preprocessing (edgert-app and the INT8
// image-folder calibration use LoadImageAsInput). Errors name the file; no exception escapes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgert/status.h"
#include "edgert/tensor.h"
#include "edgert/vision/frame.h"
#include "edgert/vision/model_config.h"

namespace edgert::vision {

// An 8-bit RGB picture, rows packed (stride = 3 * width).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3 bytes, R G B per pixel

  // A host FrameView of format kRGB on `rgb` (valid while this Image lives and is not resized).
  FrameView View() const;
};

// Decodes any format OpenCV's imgcodecs reads (PNG, JPEG, BMP, ...) to 8-bit RGB: gray pictures
// are replicated into R, G, B, an alpha channel is dropped, 16-bit samples are scaled to 8 bits.
// NotFound when the file does not exist, IoError when it cannot be decoded; both name the path.
StatusOr<Image> ReadImage(const std::string& path);

// Encodes `image` by the extension of `path` (.png, .jpg or .jpeg, any case). InvalidArgument for
// another extension or an image whose buffer does not match its size; IoError when writing fails.
Status WriteImage(const std::string& path, const Image& image);

// ReadImage then PreprocessCpu: a [1, C, config.height, config.width] float32 tensor (C = 1 for
// gray, else 3). `transform` (optional) receives the input transform for this picture's size.
StatusOr<Tensor> LoadImageAsInput(const std::string& path, const PreprocessConfig& config,
                                  InputTransform* transform = nullptr);

}  // namespace edgert::vision
