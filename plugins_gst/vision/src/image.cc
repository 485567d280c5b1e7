// Image files through OpenCV imgcodecs. OpenCV works in BGR; this file converts at the boundary so
// the rest of edgert sees RGB. Every OpenCV call is wrapped: cv::Exception becomes a Status naming
// the file.
#include "edgert/vision/image.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <system_error>

#include "edgert/vision/preprocess.h"

namespace edgert::vision {

FrameView Image::View() const {
  FrameView view;
  view.format = PixelFormat::kRGB;
  view.width = width;
  view.height = height;
  view.planes[0] = rgb.data();
  view.strides[0] = 3 * width;
  view.on_device = false;
  return view;
}

StatusOr<Image> ReadImage(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return NotFound("image file '" + path + "' does not exist or is not a regular file", path);
  }
  try {
    // IMREAD_COLOR: 8-bit, 3 channels (gray replicated, alpha dropped, 16-bit scaled down).
    const cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
    if (bgr.empty()) return IoError("cannot decode image file '" + path + "' (unknown or corrupt format)", path);
    if (bgr.type() != CV_8UC3) {
      return IoError("image file '" + path + "' decoded to an unexpected pixel type " + std::to_string(bgr.type()),
                     path);
    }
    Image image;
    image.width = bgr.cols;
    image.height = bgr.rows;
    image.rgb.resize(static_cast<size_t>(image.width) * image.height * 3);
    cv::Mat rgb(image.height, image.width, CV_8UC3, image.rgb.data());
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    return image;
  } catch (const cv::Exception& e) {
    return IoError("cannot read image file '" + path + "': " + e.what(), path);
  }
}

Status WriteImage(const std::string& path, const Image& image) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext != ".png" && ext != ".jpg" && ext != ".jpeg") {
    return InvalidArgument("cannot write image file '" + path + "': extension '" + ext + "' is not .png, .jpg or .jpeg",
                           path);
  }
  if (image.width <= 0 || image.height <= 0 ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return InvalidArgument("cannot write image file '" + path + "': the image is " + std::to_string(image.width) + "x" +
                               std::to_string(image.height) + " but holds " + std::to_string(image.rgb.size()) +
                               " bytes",
                           path);
  }
  try {
    const cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.rgb.data()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    if (!cv::imwrite(path, bgr)) return IoError("cannot write image file '" + path + "'", path);
  } catch (const cv::Exception& e) {
    return IoError("cannot write image file '" + path + "': " + e.what(), path);
  }
  return Status::Ok();
}

StatusOr<Tensor> LoadImageAsInput(const std::string& path, const PreprocessConfig& config, InputTransform* transform) {
  EDGERT_ASSIGN_OR_RETURN(Image image, ReadImage(path));
  if (config.width <= 0 || config.height <= 0) {
    return InvalidArgument("input size " + std::to_string(config.width) + "x" + std::to_string(config.height) +
                               " is not positive (loading '" + path + "')",
                           "input.width/height");
  }
  const int64_t channels = config.color == ColorOrder::kGray ? 1 : 3;
  EDGERT_ASSIGN_OR_RETURN(Tensor tensor,
                          Tensor::Create(DataType::kFloat32, {1, channels, config.height, config.width}));
  const Status s = PreprocessCpu(image.View(), config, tensor.data<float>(), transform);
  if (!s.ok()) return s.WithContext("image file '" + path + "'");
  return tensor;
}

}  // namespace edgert::vision
