// Image files: PNG round trips (exact), JPEG (lossy, close), gray and alpha inputs written by OpenCV
// itself, errors that name the file, and LoadImageAsInput's shape and values.
#include "edgert/vision/image.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <string>
#include <vector>

namespace edgert::vision {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp directory, removed with its files at the end.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() / ("edgert_image_test_" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

Image RandomImage(int w, int h, uint32_t seed) {
  Image image;
  image.width = w;
  image.height = h;
  image.rgb.resize(static_cast<size_t>(w) * h * 3);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : image.rgb) b = static_cast<uint8_t>(byte(rng));
  return image;
}

TEST(Image, PngRoundTripIsExactAndStoredAsRgb) {
  ScratchDir dir;
  const Image image = RandomImage(17, 11, 3);
  const std::string path = dir.File("random.PNG");
  ASSERT_TRUE(WriteImage(path, image).ok());
  StatusOr<Image> back = ReadImage(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->width, 17);
  EXPECT_EQ(back->height, 11);
  EXPECT_EQ(back->rgb, image.rgb);

  // OpenCV reads the file as BGR: the channels are really stored as RGB, not swapped.
  const cv::Mat bgr = cv::imread(path, cv::IMREAD_COLOR);
  ASSERT_EQ(bgr.type(), CV_8UC3);
  const cv::Vec3b px = bgr.at<cv::Vec3b>(4, 5);
  const uint8_t* want = &image.rgb[(4 * 17 + 5) * 3];
  EXPECT_EQ(px[0], want[2]);
  EXPECT_EQ(px[1], want[1]);
  EXPECT_EQ(px[2], want[0]);

  const FrameView view = back->View();
  EXPECT_EQ(view.format, PixelFormat::kRGB);
  EXPECT_EQ(view.width, 17);
  EXPECT_EQ(view.height, 11);
  EXPECT_EQ(view.strides[0], 51);
  EXPECT_EQ(view.planes[0], back->rgb.data());
  EXPECT_FALSE(view.on_device);
  EXPECT_TRUE(ValidateFrame(view).ok());
}

TEST(Image, ReadsBgrGrayAndAlphaFilesWrittenByOpenCv) {
  ScratchDir dir;
  cv::Mat bgr(2, 3, CV_8UC3, cv::Scalar(10, 20, 30));  // B G R
  ASSERT_TRUE(cv::imwrite(dir.File("bgr.png"), bgr));
  StatusOr<Image> color = ReadImage(dir.File("bgr.png"));
  ASSERT_TRUE(color.ok()) << color.status().ToString();
  EXPECT_EQ(color->rgb[0], 30);
  EXPECT_EQ(color->rgb[1], 20);
  EXPECT_EQ(color->rgb[2], 10);

  cv::Mat gray(3, 2, CV_8UC1);
  for (int i = 0; i < 6; ++i) gray.data[i] = static_cast<uint8_t>(40 * i + 1);
  ASSERT_TRUE(cv::imwrite(dir.File("gray.png"), gray));
  StatusOr<Image> g = ReadImage(dir.File("gray.png"));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->width, 2);
  ASSERT_EQ(g->height, 3);
  for (int i = 0; i < 6; ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(g->rgb[3 * i + c], 40 * i + 1);
  }

  cv::Mat bgra(2, 2, CV_8UC4, cv::Scalar(1, 2, 3, 128));
  ASSERT_TRUE(cv::imwrite(dir.File("alpha.png"), bgra));
  StatusOr<Image> a = ReadImage(dir.File("alpha.png"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->rgb.size(), 12u);
  EXPECT_EQ(a->rgb[0], 3);
  EXPECT_EQ(a->rgb[1], 2);
  EXPECT_EQ(a->rgb[2], 1);
}

TEST(Image, JpegRoundTripIsClose) {
  ScratchDir dir;
  Image image;
  image.width = 32;
  image.height = 16;
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 32; ++x) {
      image.rgb.insert(image.rgb.end(), {uint8_t(8 * x), uint8_t(16 * y), uint8_t(128)});
    }
  }
  ASSERT_TRUE(WriteImage(dir.File("smooth.jpg"), image).ok());
  StatusOr<Image> back = ReadImage(dir.File("smooth.jpg"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->rgb.size(), image.rgb.size());
  double sum = 0;
  for (size_t i = 0; i < image.rgb.size(); ++i) sum += std::abs(int(back->rgb[i]) - int(image.rgb[i]));
  EXPECT_LT(sum / image.rgb.size(), 6.0);
}

TEST(Image, ErrorsNameTheFile) {
  ScratchDir dir;
  const std::string missing = dir.File("no_such_picture.png");
  StatusOr<Image> r = ReadImage(missing);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(missing), std::string::npos) << r.status().ToString();

  const std::string garbage = dir.File("garbage.png");
  std::ofstream(garbage) << "this is not a picture";
  r = ReadImage(garbage);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_NE(r.status().message().find(garbage), std::string::npos) << r.status().ToString();

  const Image image = RandomImage(4, 4, 1);
  Status s = WriteImage(dir.File("picture.tiff"), image);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("picture.tiff"), std::string::npos) << s.ToString();

  Image short_buffer = image;
  short_buffer.rgb.resize(10);
  s = WriteImage(dir.File("short.png"), short_buffer);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("short.png"), std::string::npos) << s.ToString();

  s = WriteImage(dir.File("no_such_dir/x.png"), image);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no_such_dir/x.png"), std::string::npos) << s.ToString();

  StatusOr<Tensor> t = LoadImageAsInput(missing, PreprocessConfig());
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find(missing), std::string::npos) << t.status().ToString();
}

TEST(Image, LoadImageAsInputShapeAndValues) {
  ScratchDir dir;
  const Image image = RandomImage(6, 4, 9);
  const std::string path = dir.File("input.png");
  ASSERT_TRUE(WriteImage(path, image).ok());

  PreprocessConfig config;
  config.width = 6;
  config.height = 4;
  config.color = ColorOrder::kBGR;
  config.scale = 1.f / 255.f;
  const float mean[3] = {0.406f, 0.456f, 0.485f}, stdv[3] = {0.225f, 0.224f, 0.229f};
  for (int c = 0; c < 3; ++c) config.mean[c] = mean[c], config.std[c] = stdv[c];
  InputTransform transform;
  StatusOr<Tensor> t = LoadImageAsInput(path, config, &transform);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->dtype(), DataType::kFloat32);
  EXPECT_EQ(t->shape(), (Shape{1, 3, 4, 6}));
  EXPECT_EQ(transform.frame_width, 6);
  EXPECT_EQ(transform.frame_height, 4);
  const float* v = t->data<float>();
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < 4; ++y) {
      for (int x = 0; x < 6; ++x) {
        const double px = image.rgb[(y * 6 + x) * 3 + (2 - c)];
        EXPECT_NEAR(v[(c * 4 + y) * 6 + x], (px / 255.0 - mean[c]) / stdv[c], 1e-5);
      }
    }
  }

  PreprocessConfig gray;
  gray.width = 12;
  gray.height = 12;
  gray.color = ColorOrder::kGray;
  gray.resize = ResizeMode::kLetterbox;
  gray.scale = 1.f;
  gray.pad_value = 7.f;
  t = LoadImageAsInput(path, gray, &transform);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->shape(), (Shape{1, 1, 12, 12}));
  EXPECT_FLOAT_EQ(transform.pad_y, 2.f);  // s = 2, content 12x8
  EXPECT_FLOAT_EQ(t->data<float>()[0], 7.f);
  const uint8_t* p = image.rgb.data();  // content pixel (0, 2) clamps to frame pixel (0, 0)
  EXPECT_NEAR(t->data<float>()[2 * 12], 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2], 1e-3);
}

}  // namespace
}  // namespace edgert::vision
