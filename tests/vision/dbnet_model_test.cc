// The dbnet decoder on a real trained text detector: PaddleOCR's PP-OCRv4 detection model (from the
// rapidocr-onnxruntime 1.4.4 wheel) on a rendered bitmap of text lines (tests/vision/data/*.pbm,
// black DejaVu Sans Bold on white). The reference CPU engine runs the model; the decoded boxes must
// cover each line's ink and stay close to it (one box per line).
//
// $EDGERT_DBNET_TEXT_PBM replaces the image (width and height multiples of 32, lines of text
// separated by blank rows).
// The model is not part of the repository: ctest fetches it (scripts/fetch_models.py, fixture
// ppocr_models) and passes its path in $EDGERT_PPOCR_DET_MODEL, where it must then exist. Run by
// hand without that variable, the test skips.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "edgert/vision/decode.h"
#include "edgert/vision/results.h"

namespace edgert::vision {
namespace {

struct Bitmap {
  int width = 0, height = 0;
  std::vector<uint8_t> ink;  // 1 = black
};

// Binary PBM (P4) without comments: rows of ceil(width/8) bytes, most significant bit first, 1 = black.
bool ReadPbm(const std::string& path, Bitmap* bm) {
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  in >> magic >> bm->width >> bm->height;
  if (!in || magic != "P4" || bm->width <= 0 || bm->height <= 0) return false;
  in.get();  // the single whitespace after the header
  const int row_bytes = (bm->width + 7) / 8;
  std::vector<char> bytes(static_cast<size_t>(row_bytes) * bm->height);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) return false;
  bm->ink.resize(static_cast<size_t>(bm->width) * bm->height);
  for (int y = 0; y < bm->height; ++y) {
    for (int x = 0; x < bm->width; ++x) {
      bm->ink[y * bm->width + x] = (static_cast<uint8_t>(bytes[y * row_bytes + x / 8]) >> (7 - x % 8)) & 1;
    }
  }
  return true;
}

struct Rect {
  int x0, y0, x1, y1;  // pixel extent [x0,x1) x [y0,y1)
};

// Bounding boxes of the ink of each text line (bands of rows with ink, separated by blank rows).
std::vector<Rect> InkLines(const Bitmap& bm) {
  std::vector<Rect> lines;
  bool in_line = false;
  for (int y = 0; y <= bm.height; ++y) {
    bool any = false;
    for (int x = 0; y < bm.height && x < bm.width; ++x) any |= bm.ink[y * bm.width + x] != 0;
    if (any && !in_line) lines.push_back({bm.width, y, 0, y});
    in_line = any;
    if (!any) continue;
    Rect& r = lines.back();
    r.y1 = y + 1;
    for (int x = 0; x < bm.width; ++x) {
      if (bm.ink[y * bm.width + x]) {
        r.x0 = std::min(r.x0, x);
        r.x1 = std::max(r.x1, x + 1);
      }
    }
  }
  return lines;
}

TEST(DecodeDbNetModel, PpOcrV4BoxesCoverTextLines) {
  const char* env = std::getenv("EDGERT_PPOCR_DET_MODEL");
  if (env == nullptr) GTEST_SKIP() << "EDGERT_PPOCR_DET_MODEL is not set (ctest sets it)";
  const std::string model = env;
  ASSERT_TRUE(std::ifstream(model).good()) << "PP-OCRv4 detection model not found at " << model;

  Bitmap bm;
  const char* image_env = std::getenv("EDGERT_DBNET_TEXT_PBM");  // another image, for manual checks
  const std::string image =
      image_env ? image_env : std::string(EDGERT_SOURCE_DIR) + "/tests/vision/data/text_320x96.pbm";
  ASSERT_TRUE(ReadPbm(image, &bm)) << image;
  const std::vector<Rect> lines = InkLines(bm);
  ASSERT_FALSE(lines.empty()) << image;
  if (!image_env) {
    ASSERT_EQ(lines.size(), 2u);
  }

  // PaddleOCR's preprocessing: (x / 255 - 0.5) / 0.5 per channel, here -1 for ink and 1 for paper.
  StatusOr<Tensor> x = Tensor::Create(DataType::kFloat32, {1, 3, bm.height, bm.width});
  ASSERT_TRUE(x.ok());
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < bm.width * bm.height; ++i) x->data<float>()[c * bm.width * bm.height + i] = bm.ink[i] ? -1 : 1;
  }
  StatusOr<NetworkDef> net = BuildNetworkForInputs(model, {*x});
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  StatusOr<std::unique_ptr<CpuEngine>> engine = CpuEngine::Create(std::move(*net));
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::vector<Tensor> outputs;
  Status s = (*engine)->Run({*x}, &outputs);
  ASSERT_TRUE(s.ok()) << s.ToString();

  ModelConfig config;
  config.decoder.kind = DecoderKind::kDbNet;  // PaddleOCR's defaults but unclip 1.6
  config.decoder.binary_threshold = 0.3f;
  config.decoder.box_threshold = 0.6f;
  config.decoder.unclip_ratio = 1.6f;
  InputTransform tr;  // frame = network input
  tr.frame_width = tr.input_width = bm.width;
  tr.frame_height = tr.input_height = bm.height;
  FrameResults results;
  s = Decode(config, outputs, {"sigmoid_0.tmp_0"}, tr, &results);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::cout << ResultsToJson(results) << "\n";

  // One box per line: it contains the line's ink (up to a tenth of the line's height, at least 2
  // pixels, may stick out) and is at most half the line's height larger on each side.
  ASSERT_EQ(results.detections.size(), lines.size()) << ResultsToJson(results);
  for (const Rect& line : lines) {
    const float height = static_cast<float>(line.y1 - line.y0);
    const float margin = 0.5f * height, slack = std::max(2.f, 0.1f * height);
    bool found = false;
    for (const Detection& d : results.detections) {
      const bool covers =
          d.x0 <= line.x0 + slack && d.y0 <= line.y0 + slack && d.x1 >= line.x1 - slack && d.y1 >= line.y1 - slack;
      const bool tight =
          d.x0 >= line.x0 - margin && d.y0 >= line.y0 - margin && d.x1 <= line.x1 + margin && d.y1 <= line.y1 + margin;
      if (covers && tight) {
        found = true;
        EXPECT_GT(d.score, 0.6f);
        EXPECT_EQ(d.label, "text");
      }
    }
    EXPECT_TRUE(found) << "no box fits the ink of line [" << line.x0 << "," << line.y0 << "," << line.x1 << ","
                       << line.y1 << "]: " << ResultsToJson(results);
  }
}

}  // namespace
}  // namespace edgert::vision
