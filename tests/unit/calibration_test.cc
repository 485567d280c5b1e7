// INT8 calibration (CPU side): calibrator thresholds on hand-computed histograms, the TensorRT cache
// format, QuantizeLinear / DequantizeLinear kernels, Q/DQ models against ONNX Runtime, simulated INT8
// and the accuracy gate.
#include "edgert/calibration.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstring>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "onnx/tensor_file.h"
#include "onnx_test_util.h"
#include "op_test_util.h"

namespace edgert {
namespace {

using testing::OpArg;
using testing::RunSingleOp;
using testing::Values;
using testing_util::TempDir;

AbsHistogram Hist(size_t bins, double width) {
  AbsHistogram h;
  h.bin_width = width;
  h.counts.assign(bins, 0.0);
  return h;
}

// ---- Calibrator math ----------------------------------------------------------------------

TEST(CalibThresholds, PercentileIsTheUpperEdgeOfTheBinReachingIt) {
  // 10 bins of 1000 over [0, 1) and one outlier in the last bin: 10001 values.
  AbsHistogram h = Hist(100, 0.1);
  for (int k = 0; k < 10; ++k) h.counts[k] = 1000;
  h.counts[99] = 1;
  // 99.99% of 10001 = 9999.9 values: reached in bin 9 (cumulative 10000) -> 10 * 0.1.
  EXPECT_NEAR(PercentileThreshold(h, 99.99), 1.0, 1e-12);
  // 50% = 5000.5: bin 5 (cumulative 6000) -> 0.6.
  EXPECT_NEAR(PercentileThreshold(h, 50.0), 0.6, 1e-12);
  // 100%: the outlier's bin -> 10.0 (what minmax would give).
  EXPECT_NEAR(PercentileThreshold(h, 100.0), 10.0, 1e-12);
  EXPECT_EQ(PercentileThreshold(Hist(10, 1.0), 99.0), 0.0);
}

TEST(CalibThresholds, EntropyKeepsOnlyTheOccupiedBins) {
  // Mass only in bins 0..127: with i = 128 every bin is its own level, so Q == P and KL = 0; the
  // first minimum wins -> 128 * width.
  AbsHistogram h = Hist(kCalibrationBins, 0.01);
  for (int k = 0; k < 128; ++k) h.counts[k] = 100 + k;
  EXPECT_NEAR(EntropyDivergence(h, 128), 0.0, 1e-12);
  EXPECT_NEAR(EntropyThreshold(h), 1.28, 1e-12);
}

TEST(CalibThresholds, EntropyPrefersAnOutlierThatGetsItsOwnLevel) {
  // Bins 0..127 hold 100 each and bin 2047 holds 1. i = 2048: 128 groups of 16 bins; groups 0..7
  // are the uniform bins (Q == P there), group 127 has one non-zero bin (Q == P) -> KL = 0.
  // i = 128: the outlier clips into bin 127 (P = 101) while Q keeps 100 -> KL > 0. Any i between
  // puts the outlier on a bin whose own count is 0, so Q has only eps there -> KL > 0.
  AbsHistogram h = Hist(kCalibrationBins, 1.0);
  for (int k = 0; k < 128; ++k) h.counts[k] = 100;
  h.counts[2047] = 1;
  EXPECT_NEAR(EntropyDivergence(h, 2048), 0.0, 1e-12);
  const double p = 101.0 / 12801.0, q = 100.0 / 12800.0, p0 = 100.0 / 12801.0;
  EXPECT_NEAR(EntropyDivergence(h, 128), 127 * p0 * std::log(p0 / q) + p * std::log(p / q), 1e-12);
  EXPECT_GT(EntropyDivergence(h, 1000), 1e-7);
  EXPECT_NEAR(EntropyThreshold(h), 2048.0, 1e-12);
}

TEST(CalibThresholds, EntropyClipsALongThinTail) {
  // A geometric bulk over bins 0..199 and a sparse tail (1 count every 50 bins up to 2047): the
  // tail bins alternate between occupied and empty inside every level, so keeping them costs KL,
  // while clipping them into the last kept bin costs little. The threshold lands below max |x|.
  AbsHistogram h = Hist(kCalibrationBins, 1.0);
  for (int k = 0; k < 200; ++k) h.counts[k] = std::floor(1e6 * std::exp(-k / 30.0));
  for (int k = 200; k < kCalibrationBins; k += 50) h.counts[k] = 1;
  const double t = EntropyThreshold(h);
  EXPECT_GE(t, 128.0);
  EXPECT_LT(t, 1000.0);
  EXPECT_EQ(PercentileThreshold(h, 100.0), 2001.0);  // the last tail bin, 2000
}

std::string SourceDir();

// An independent numpy implementation (data_gen/entropy_reference.py) on a Laplace-like histogram
// with a noisy tail must pick the same number of bins.
TEST(CalibThresholds, EntropyMatchesNumpyReference) {
  AbsHistogram h = Hist(kCalibrationBins, 0.5);
  uint32_t seed = 99;
  for (int k = 0; k < kCalibrationBins; ++k) {
    seed = seed * 1664525u + 1013904223u;
    const double noise = static_cast<double>(seed >> 8) / static_cast<double>(1 << 24);
    h.counts[k] = std::floor(2e5 * std::exp(-k / 90.0) * (0.8 + 0.4 * noise));
  }
  TempDir dir;
  ASSERT_TRUE(WriteNpy(dir.File("hist.npy"), Tensor::FromVector<double>(h.counts, {kCalibrationBins})).ok());
  const std::string cmd = "python3 '" + SourceDir() + "/data_gen/entropy_reference.py' '" + dir.File("hist.npy") +
                          "' > '" + dir.File("out.txt") + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) EDGERT_SKIP_WITHOUT_ORACLE("python3 with numpy is needed");
  const int bins = std::atoi(testing_util::ReadFile(dir.File("out.txt")).c_str());
  EXPECT_GT(bins, 128);
  EXPECT_LT(bins, kCalibrationBins);
  EXPECT_NEAR(EntropyThreshold(h), bins * 0.5, 1e-9);
}

TEST(CalibThresholds, ParseCalibrator) {
  EXPECT_EQ(*ParseCalibrator("entropy"), CalibratorKind::kEntropy);
  EXPECT_EQ(*ParseCalibrator("percentile"), CalibratorKind::kPercentile);
  EXPECT_EQ(*ParseCalibrator("minmax"), CalibratorKind::kMinMax);
  EXPECT_FALSE(ParseCalibrator("kl").ok());
  EXPECT_STREQ(CalibratorAlgorithm(CalibratorKind::kEntropy), "EntropyCalibration2");
  EXPECT_STREQ(CalibratorAlgorithm(CalibratorKind::kMinMax), "MinMaxCalibration");
}

// ---- Cache ------------------------------------------------------------------------------------

TEST(CalibCache, ParsesTensorRtTextAndRoundTripsByteExactly) {
  const std::string text =
      "TRT-8601-EntropyCalibration2\n"
      "input: 3f800000\n"
      "(Unnamed Layer* 4) [Fully Connected]_output: 3c010a14\n"
      "/conv1/Conv_output_0: 40000000\n"
      "tiny: 800000\n";
  StatusOr<CalibrationCache> cache = ParseCalibrationCache(text, "model.calib");
  ASSERT_TRUE(cache.ok()) << cache.status().message();
  EXPECT_EQ(cache->header, "TRT-8601-EntropyCalibration2");
  EXPECT_EQ(cache->Algorithm(), "EntropyCalibration2");
  ASSERT_EQ(cache->entries.size(), 4u);
  EXPECT_EQ(cache->entries[0].scale(), 1.0f);
  EXPECT_EQ(cache->entries[1].name, "(Unnamed Layer* 4) [Fully Connected]_output");
  EXPECT_EQ(cache->entries[1].bits, 0x3c010a14u);
  EXPECT_EQ(cache->Find("/conv1/Conv_output_0")->scale(), 2.0f);
  EXPECT_EQ(cache->Find("tiny")->bits, 0x00800000u);
  EXPECT_EQ(cache->Find("tiny")->scale(), std::ldexp(1.0f, -126));
  EXPECT_EQ(SerializeCalibrationCache(*cache), text);
  // Without the final newline, also byte-exact.
  const std::string no_newline = text.substr(0, text.size() - 1);
  EXPECT_EQ(SerializeCalibrationCache(*ParseCalibrationCache(no_newline)), no_newline);
}

TEST(CalibCache, WritesScalesAsBigEndianFloatHex) {
  CalibrationCache cache = CalibrationCache::ForCalibrator(CalibratorKind::kMinMax);
  cache.SetAmax("x", 127.0f);   // scale 1.0
  cache.SetScale("y", 0.5f);    // 3f000000
  cache.SetScale("z", -2.0f);   // c0000000
  cache.SetScale("w", 1e-40f);  // a subnormal: leading zeros kept, 8 digits
  EXPECT_EQ(SerializeCalibrationCache(cache),
            "TRT-8601-MinMaxCalibration\nx: 3f800000\ny: 3f000000\nz: c0000000\nw: 000116c2\n");
  TempDir dir;
  const std::string path = dir.File("m.calib");
  ASSERT_TRUE(WriteCalibrationCache(path, cache).ok());
  EXPECT_EQ(testing_util::ReadFile(path), SerializeCalibrationCache(cache));
  StatusOr<CalibrationCache> back = ReadCalibrationCache(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->Find("y")->scale(), 0.5f);
}

TEST(CalibCache, RejectsMalformedText) {
  EXPECT_NE(ParseCalibrationCache("EntropyCalibration2\nx: 3f800000\n", "c").status().message().find("c:1"),
            std::string::npos);
  EXPECT_NE(ParseCalibrationCache("TRT-8601-EntropyCalibration2\nx 3f800000\n", "c").status().message().find("c:2"),
            std::string::npos);
  EXPECT_FALSE(ParseCalibrationCache("TRT-8601-EntropyCalibration2\nx: 3g800000\n").ok());
  EXPECT_FALSE(ParseCalibrationCache("TRT-8601-EntropyCalibration2\nx: 13f800000\n").ok());
  EXPECT_NE(ParseCalibrationCache("TRT-8601-EntropyCalibration2\nx: 1\nx: 2\n").status().message().find("twice"),
            std::string::npos);
  EXPECT_FALSE(ParseCalibrationCache("").ok());
}

// x -> Relu -> r -> `op` (Gemm or Conv, layer name "gemm" or "conv") with weight `w` of `w_shape`
// -> y.
NetworkDef ReluLayerNetwork(OpType op, const Shape& x, const Shape& w_shape, const Shape& y,
                            const std::vector<float>& w) {
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, x, {}});
  net.tensors.push_back({"r", DataType::kFloat32, x, {}});
  net.tensors.push_back({"w", DataType::kFloat32, w_shape, Tensor::FromVector<float>(w, w_shape)});
  net.tensors.push_back({"y", DataType::kFloat32, y, {}});
  LayerDef relu;
  relu.name = "relu";
  relu.op = OpType::kRelu;
  relu.opset = 13;
  relu.inputs = {0};
  relu.outputs = {1};
  LayerDef layer;
  layer.name = op == OpType::kGemm ? "gemm" : "conv";
  layer.op = op;
  layer.opset = 13;
  layer.inputs = {1, 2};
  layer.outputs = {3};
  net.layers = {relu, layer};
  net.inputs = {0};
  net.outputs = {3};
  return net;
}

// x [2, 4] -> Relu -> r -> Gemm (w [4, 3]) -> y [2, 3].
NetworkDef ReluGemmNetwork(const std::vector<float>& w) {
  return ReluLayerNetwork(OpType::kGemm, {2, 4}, {4, 3}, {2, 3}, w);
}

TEST(CalibCache, KeyChangesWithNetworkCalibratorAndData) {
  std::vector<float> w(12, 0.5f);
  const std::string h1 = NetworkHash(ReluGemmNetwork(w));
  EXPECT_EQ(h1, NetworkHash(ReluGemmNetwork(w)));
  w[3] = 0.25f;
  const std::string h2 = NetworkHash(ReluGemmNetwork(w));
  EXPECT_NE(h1, h2);
  const std::string k = CalibrationKey(h1, CalibratorKind::kEntropy, 99.99, "data");
  EXPECT_NE(k, CalibrationKey(h2, CalibratorKind::kEntropy, 99.99, "data"));
  EXPECT_NE(k, CalibrationKey(h1, CalibratorKind::kMinMax, 99.99, "data"));
  EXPECT_NE(k, CalibrationKey(h1, CalibratorKind::kEntropy, 99.99, "data2"));
  EXPECT_NE(CalibrationKey(h1, CalibratorKind::kPercentile, 99.9, "d"),
            CalibrationKey(h1, CalibratorKind::kPercentile, 99.99, "d"));
  TempDir dir;
  const std::string path = dir.File("m.calib");
  std::string why;
  EXPECT_FALSE(CacheKeyMatches(path, k, &why));
  EXPECT_NE(why.find("no key file"), std::string::npos);
  ASSERT_TRUE(WriteCacheKey(path, k).ok());
  EXPECT_EQ(CacheKeyPath(path), path + ".key");
  EXPECT_TRUE(CacheKeyMatches(path, k));
  EXPECT_FALSE(CacheKeyMatches(path, CalibrationKey(h2, CalibratorKind::kEntropy, 99.99, "data"), &why));
  EXPECT_NE(why.find("changed"), std::string::npos);
}

// ---- QuantizeLinear / DequantizeLinear kernels ------------------------------------------------

TEST(CalibCache, GateDecisionRoundTripsAndNamesTheFileWhenMalformed) {
  TempDir dir;
  const std::string cache = dir.File("m.calib");
  ASSERT_TRUE(WriteGateDecision(cache, "abc123", 0.05, {"conv 1", "fc"}).ok());
  StatusOr<StoredGateDecision> d = ReadGateDecision(cache);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->key, "abc123");
  EXPECT_EQ(d->budget, 0.05);
  EXPECT_EQ(d->float_layers, (std::set<std::string>{"conv 1", "fc"}));
  EXPECT_FALSE(WriteGateDecision(cache, "k", 0.05, {"two\nlines"}).ok());
  testing_util::WriteFile(GateDecisionPath(cache), "edgert-int8-gate v1\nkey k\nbogus\n");
  d = ReadGateDecision(cache);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("m.calib.gate:3"), std::string::npos) << d.status().message();
  testing_util::WriteFile(GateDecisionPath(cache), "TRT-8601-EntropyCalibration2\n");
  EXPECT_FALSE(ReadGateDecision(cache).ok());
  ASSERT_TRUE(WriteCacheKey(cache, "feed").ok());
  StatusOr<std::string> key = ReadCacheKey(cache);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(*key, "feed");
}

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturates) {
  Attributes a;
  Tensor x = Tensor::FromVector<float>({-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 1000.f, -1000.f, 0.74f}, {9});
  auto out = RunSingleOp(OpType::kQuantizeLinear, a,
                         {{x}, {Tensor::Scalar<float>(1.0f), true}, {Tensor::Scalar<uint8_t>(128), true}}, 1, 13, "q");
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(Values<uint8_t>((*out)[0]), (std::vector<uint8_t>{126, 126, 128, 128, 130, 130, 255, 0, 129}));
  // int8, scale 0.5, zero point -3: x / 0.5 = -5, -3, -1, 1, 3, 5, 2000, -2000, 1.48.
  auto i8 = RunSingleOp(OpType::kQuantizeLinear, a,
                        {{x}, {Tensor::Scalar<float>(0.5f), true}, {Tensor::Scalar<int8_t>(-3), true}}, 1, 13, "q");
  ASSERT_TRUE(i8.ok()) << i8.status().message();
  EXPECT_EQ(Values<int8_t>((*i8)[0]), (std::vector<int8_t>{-8, -6, -4, -2, 0, 2, 127, -128, -2}));
  // No zero point: uint8 with zero point 0.
  auto u8 = RunSingleOp(OpType::kQuantizeLinear, a, {{x}, {Tensor::Scalar<float>(1.0f), true}}, 1, 13, "q");
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ((*u8)[0].dtype(), DataType::kUInt8);
  EXPECT_EQ(Values<uint8_t>((*u8)[0]), (std::vector<uint8_t>{0, 0, 0, 0, 2, 2, 255, 0, 1}));
}

TEST(QuantizeLinear, PerAxisAndDequantizeInverse) {
  // x [2, 3, 2], axis 1: scales 1, 0.5, 0.25; zero points 0, 10, -10.
  std::vector<float> xv = {1.2f, -3.4f, 0.75f, 2.2f, 1.0f, -0.3f, 4.6f, 9.9f, -0.25f, 3.0f, 0.125f, -40.f};
  Tensor x = Tensor::FromVector<float>(xv, {2, 3, 2});
  Tensor scale = Tensor::FromVector<float>({1.f, 0.5f, 0.25f}, {3});
  Tensor zp = Tensor::FromVector<int8_t>({0, 10, -10}, {3});
  Attributes a;
  a.Set("axis", int64_t{1});
  auto q = RunSingleOp(OpType::kQuantizeLinear, a, {{x}, {scale, true}, {zp, true}}, 1, 13, "q");
  ASSERT_TRUE(q.ok()) << q.status().message();
  // channel 0: rint(x); channel 1: rint(2x) + 10; channel 2: rint(4x) - 10, clamped to [-128, 127].
  const std::vector<int8_t> want = {1, -3, 12, 14, -6, -11, 5, 10, 10, 16, -10, -128};
  EXPECT_EQ(Values<int8_t>((*q)[0]), want);
  auto dq = RunSingleOp(OpType::kDequantizeLinear, a, {{(*q)[0]}, {scale, true}, {zp, true}}, 1, 13, "dq");
  ASSERT_TRUE(dq.ok()) << dq.status().message();
  std::vector<float> back;
  for (size_t k = 0; k < want.size(); ++k) {
    const size_t c = (k / 2) % 3;
    back.push_back((static_cast<float>(want[k]) - static_cast<float>(Values<int8_t>(zp)[c])) * Values<float>(scale)[c]);
  }
  EXPECT_EQ(Values<float>((*dq)[0]), back);
}

TEST(QuantizeLinear, RejectsMismatchedScalesAndFloat8) {
  Attributes a;
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2});
  auto bad =
      RunSingleOp(OpType::kQuantizeLinear, a, {{x}, {Tensor::FromVector<float>({1, 2, 3}, {3}), true}}, 1, 13, "q");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("does not match"), std::string::npos);
  Attributes f8;
  f8.Set("output_dtype", int64_t{17});
  auto fp8 = RunSingleOp(OpType::kQuantizeLinear, f8, {{x}, {Tensor::Scalar<float>(1.f), true}}, 1, 21, "q");
  ASSERT_FALSE(fp8.ok());
  EXPECT_EQ(fp8.status().code(), StatusCode::kUnsupported);
}

// ---- Q/DQ models against ONNX Runtime -----------------------------------------------------

std::string SourceDir() {
  std::string file = __FILE__;
  std::string dir = file.substr(0, file.find_last_of('/'));
  if (dir[0] == '/') return dir;
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return dir;
  std::string exe(buf, static_cast<size_t>(n));
  std::string build = exe.substr(0, exe.find_last_of('/'));
  return build.substr(0, build.find_last_of('/')) + "/" + dir;
}

// Tolerance: edgert and ONNX Runtime compute QuantizeLinear the same way (x / scale in float32,
// round half to even, saturate), so the quantized tensors agree except where an accumulated Conv
// value lands within float32 rounding (~1e-6 relative, summation order) of a rounding midpoint. Such
// a flip moves one element by one quantization step of that tensor; the outputs are on the output
// grid, so each element may differ by at most one output step and at most 1% of them may differ.
void ExpectMatchesOrt(const std::string& dir, const std::string& name, double step) {
  StatusOr<Tensor> x = ReadTensorFile(dir + "/" + name + "_x.npy");
  ASSERT_TRUE(x.ok());
  std::vector<std::string> bound;
  StatusOr<NetworkDef> net = BuildNetworkForInputs(dir + "/" + name + ".onnx", {*x}, &bound);
  ASSERT_TRUE(net.ok()) << net.status().message();
  auto engine = CpuEngine::Create(*net);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::vector<Tensor> out;
  ASSERT_TRUE((*engine)->Run({*x}, &out).ok());
  for (const char* which : {"_ref.npy", "_opt.npy"}) {
    StatusOr<Tensor> ref = ReadTensorFile(dir + "/" + name + which);
    ASSERT_TRUE(ref.ok());
    ASSERT_EQ(out[0].shape(), ref->shape());
    int differ = 0;
    double max_diff = 0;
    for (int64_t i = 0; i < ref->num_elements(); ++i) {
      const double d = std::fabs(out[0].data<float>()[i] - ref->data<float>()[i]);
      max_diff = std::max(max_diff, d);
      if (d > 1e-6) ++differ;
    }
    EXPECT_LE(max_diff, step * 1.0001) << name << which;
    EXPECT_LE(differ, std::max<int64_t>(1, ref->num_elements() / 100)) << name << which;
    EXPECT_LT(RelativeL2({out[0]}, {*ref}), 1e-2) << name << which;
  }
}

TEST(QuantizeLinear, QdqModelsMatchOnnxRuntime) {
  TempDir dir;
  const std::string script = SourceDir() + "/data_gen/make_qdq_models.py";
  const std::string cmd = "python3 '" + script + "' '" + dir.path() + "' > /dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    EDGERT_SKIP_WITHOUT_ORACLE("python3 with onnx, onnxruntime and numpy is needed: " << script);
  ExpectMatchesOrt(dir.path(), "helper", 0.01);
  // static.onnx ends in ONNX Runtime's own Q/DQ of the Gemm output; the script saves that scale.
  StatusOr<Tensor> step = ReadTensorFile(dir.File("static_step.npy"));
  ASSERT_TRUE(step.ok());
  ExpectMatchesOrt(dir.path(), "static", step->GetAsDouble(0));
}

// ---- Calibration, simulated INT8 and the gate ---------------------------------------------

TEST(Calibrate, MinMaxRangesOfInputsAndActivations) {
  NetworkDef net = ReluGemmNetwork(std::vector<float>(12, 1.0f));
  std::vector<std::vector<Tensor>> batches = {
      {Tensor::FromVector<float>({-3, 1, 2, 0.5f, 0, 0, 0, 0}, {2, 4})},
      {Tensor::FromVector<float>({1, -1, 0.25f, 1.5f, -0.5f, 0, 0, 0}, {2, 4})}};
  auto data = InMemoryCalibrationData(batches);
  CalibrationOptions o;
  o.calibrator = CalibratorKind::kMinMax;
  auto ranges = Calibrate(net, *data, {0, 1}, o);
  ASSERT_TRUE(ranges.ok()) << ranges.status().message();
  ASSERT_EQ(ranges->size(), 3u);  // x, r, y
  EXPECT_EQ((*ranges)[0].name, "x");
  EXPECT_EQ((*ranges)[0].amax, 3.0f);
  EXPECT_EQ((*ranges)[1].name, "r");
  EXPECT_EQ((*ranges)[1].amax, 2.0f);
  EXPECT_EQ((*ranges)[2].name, "y");
  EXPECT_EQ((*ranges)[2].amax, 3.5f);  // row 0: 1 + 2 + 0.5 per output
  // Percentile 100 on the same data: the upper edge of the last bin = max |x|.
  o.calibrator = CalibratorKind::kPercentile;
  o.percentile = 100;
  auto pct = Calibrate(net, *data, {0, 1}, o);
  ASSERT_TRUE(pct.ok());
  EXPECT_NEAR((*pct)[0].amax, 3.0f, 1e-6);
  // Only batch 1.
  o.calibrator = CalibratorKind::kMinMax;
  auto one = Calibrate(net, *data, {1}, o);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one)[0].amax, 1.5f);
}

// The histogram pass end to end: x = 0, -1, 2, -3, ..., +-999 (|x| = 0..999), 2048 bins of width
// 999/2048. The 500th |x| (499) falls in bin floor(499 * 2048 / 999) = 1022, so the 50th
// percentile is that bin's upper edge 1023 * 999 / 2048.
TEST(Calibrate, PercentileThroughTheHistogramPass) {
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {1, 1000}, {}});
  net.tensors.push_back({"y", DataType::kFloat32, {1, 1000}, {}});
  LayerDef relu;
  relu.name = "relu";
  relu.op = OpType::kRelu;
  relu.opset = 13;
  relu.inputs = {0};
  relu.outputs = {1};
  net.layers = {relu};
  net.inputs = {0};
  net.outputs = {1};
  std::vector<float> v(1000);
  for (int i = 0; i < 1000; ++i) v[i] = i % 2 ? -static_cast<float>(i) : static_cast<float>(i);
  auto data = InMemoryCalibrationData({{Tensor::FromVector<float>(v, {1, 1000})}});
  CalibrationOptions o;
  o.calibrator = CalibratorKind::kPercentile;
  o.percentile = 50;
  auto ranges = Calibrate(net, *data, {0}, o);
  ASSERT_TRUE(ranges.ok()) << ranges.status().message();
  EXPECT_NEAR((*ranges)[0].amax, 1023 * 999.0 / 2048, 1e-3);
  // y = Relu(x): 501 zeros (the negative x and x = 0) and 2, 4, ..., 998. Bin 0 = [0, 998/2048)
  // holds the 501 zeros, already 50% of 1000 -> amax = the upper edge of bin 0.
  EXPECT_NEAR((*ranges)[1].amax, 998.0 / 2048, 1e-6);
}

TEST(Calibrate, ReadsCapturedNpyFramesInNameOrder) {
  TempDir dir;
  NetworkDef net = ReluGemmNetwork(std::vector<float>(12, 1.0f));  // input [2, 4]: two samples a batch
  for (int i = 0; i < 5; ++i) {
    char name[32];
    std::snprintf(name, sizeof(name), "%06d.npy", i);
    std::vector<float> v = {static_cast<float>(i + 1), 0, 0, 0};
    ASSERT_TRUE(WriteNpy(dir.File(name), Tensor::FromVector<float>(v, {1, 4})).ok());
  }
  testing_util::WriteFile(dir.File("README.txt"), "not a tensor");
  auto data = OpenCalibrationData(dir.path(), net);
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ((*data)->NumBatches(), 2);  // the fifth sample is a partial batch
  auto b1 = (*data)->Batch(1);
  ASSERT_TRUE(b1.ok());
  EXPECT_EQ(Values<float>((*b1)[0]), (std::vector<float>{3, 0, 0, 0, 4, 0, 0, 0}));
  const std::string hash = (*data)->DataHash();
  ASSERT_TRUE(WriteNpy(dir.File("000004.npy"), Tensor::FromVector<float>({9, 0, 0, 0}, {1, 4})).ok());
  EXPECT_NE((*OpenCalibrationData(dir.path(), net))->DataHash(), hash);
  ASSERT_TRUE(WriteNpy(dir.File("000005.npy"), Tensor::FromVector<float>({9, 0, 0}, {1, 3})).ok());
  auto bad = OpenCalibrationData(dir.path(), net);
  ASSERT_TRUE(bad.ok());
  auto b2 = (*bad)->Batch(2);
  ASSERT_FALSE(b2.ok());
  EXPECT_NE(b2.status().message().find("000005.npy"), std::string::npos);
  TempDir empty;
  EXPECT_EQ(OpenCalibrationData(empty.path(), net).status().code(), StatusCode::kNotFound);
}

// x [2, 1, 1, 2] Relu network for picture folders: the test loader stands in for the vision helpers'
// decoder and preprocessing, turning a file holding "a b" into the tensor [1, 1, 1, 2] {a, b}.
TEST(Calibrate, PictureFoldersGoThroughTheLoaderInNameOrder) {
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {2, 1, 1, 2}, {}});
  net.tensors.push_back({"y", DataType::kFloat32, {2, 1, 1, 2}, {}});
  LayerDef relu;
  relu.name = "relu";
  relu.op = OpType::kRelu;
  relu.opset = 13;
  relu.inputs = {0};
  relu.outputs = {1};
  net.layers = {relu};
  net.inputs = {0};
  net.outputs = {1};
  TempDir dir;
  testing_util::WriteFile(dir.File("b.PNG"), "3 4");
  testing_util::WriteFile(dir.File("a.jpg"), "1 2");
  testing_util::WriteFile(dir.File("c.bmp"), "5 6");
  testing_util::WriteFile(dir.File("notes.txt"), "7 8");
  std::vector<std::string> loaded;
  ImageLoader loader = [&loaded](const std::string& path) -> StatusOr<Tensor> {
    loaded.push_back(path.substr(path.rfind('/') + 1));
    float a = 0, b = 0;
    if (std::sscanf(testing_util::ReadFile(path).c_str(), "%f %f", &a, &b) != 2) return InvalidArgument("bad", path);
    return Tensor::FromVector<float>({a, b}, {1, 1, 1, 2});
  };
  EXPECT_TRUE(DirHasImages(dir.path()));
  auto data = OpenImageCalibrationData(dir.path(), net, loader, "w=2 h=1");
  ASSERT_TRUE(data.ok()) << data.status().message();
  EXPECT_EQ((*data)->NumBatches(), 1);  // three pictures, batches of two
  auto batch = (*data)->Batch(0);
  ASSERT_TRUE(batch.ok()) << batch.status().message();
  EXPECT_EQ(Values<float>((*batch)[0]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(loaded, (std::vector<std::string>{"a.jpg", "b.PNG"}));
  // The preprocessing takes part in the data hash.
  auto other = OpenImageCalibrationData(dir.path(), net, loader, "w=2 h=2");
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->DataHash(), (*data)->DataHash());
  // A loader result of the wrong shape names the picture.
  ImageLoader wrong = [](const std::string&) -> StatusOr<Tensor> {
    return Tensor::FromVector<float>({1, 2, 3}, {1, 1, 1, 3});
  };
  auto bad = OpenImageCalibrationData(dir.path(), net, wrong, "");
  ASSERT_TRUE(bad.ok());
  auto b0 = (*bad)->Batch(0);
  ASSERT_FALSE(b0.ok());
  EXPECT_NE(b0.status().message().find("a.jpg"), std::string::npos);
  TempDir empty;
  EXPECT_FALSE(DirHasImages(empty.path()));
}

TEST(SimulateInt8, PerChannelWeightFakeQuantization) {
  Tensor w = Tensor::FromVector<float>({1.f, -0.5f, 0.25f, 2.f, 1.f, 0.3f}, {2, 3});
  auto fq = FakeQuantizePerChannel(w, 0);
  ASSERT_TRUE(fq.ok());
  // Row 0: scale 1/127; 0.5 * 127 = 63.5 -> 64 (half to even), 0.25 * 127 = 31.75 -> 32.
  // Row 1: scale 2/127; 1 * 63.5 -> 64, 0.3 * 63.5 = 19.05 -> 19.
  const float s0 = 1.f / 127.f, s1 = 2.f / 127.f;
  testing::ExpectFloats(*fq, {127 * s0, -64 * s0, 32 * s0, 127 * s1, 64 * s1, 19 * s1}, 1e-6f);
  auto axis1 = FakeQuantizePerChannel(w, 1);  // columns: amax 2, 1, 0.3
  ASSERT_TRUE(axis1.ok());
  // Column 2 (amax 0.3): 0.25 / (0.3 / 127) = 105.83 -> 106.
  EXPECT_NEAR(axis1->data<float>()[2], 106 * (0.3f / 127.f), 1e-6f);
}

// x [2, 16, 1, 1] -> Relu -> r -> Conv 1x1 (3 filters) -> y [2, 3, 1, 1]: a Gemm written as a
// convolution, which INT8 lowers (16 input channels).
NetworkDef ReluConvNetwork(const std::vector<float>& w) {
  return ReluLayerNetwork(OpType::kConv, {2, 16, 1, 1}, {3, 16, 1, 1}, {2, 3, 1, 1}, w);
}

TEST(SimulateInt8, InsertsQdqBeforeQuantizedLayers) {
  std::vector<float> w(48);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 7) % 11) / 5.0f - 1.0f;
  NetworkDef net = ReluConvNetwork(w);
  CalibrationCache cache = CalibrationCache::ForCalibrator(CalibratorKind::kMinMax);
  cache.SetAmax("r", 2.0f);
  std::vector<std::string> quantized;
  auto sim = SimulateInt8(net, cache, {}, &quantized);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  EXPECT_EQ(quantized, std::vector<std::string>{"conv"});
  ASSERT_EQ(sim->layers.size(), 4u);
  EXPECT_EQ(sim->layers[1].op, OpType::kQuantizeLinear);
  EXPECT_EQ(sim->layers[2].op, OpType::kDequantizeLinear);
  EXPECT_EQ(sim->layers[3].name, "conv");
  // Run it and compare with a hand-made fake quantization.
  std::vector<float> xv(32);
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = static_cast<float>((i * 5) % 13) / 4.0f - 1.0f;
  Tensor x = Tensor::FromVector<float>(xv, {2, 16, 1, 1});
  auto engine = CpuEngine::Create(*sim);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::vector<Tensor> out;
  ASSERT_TRUE((*engine)->Run({x}, &out).ok());
  const float s = 2.0f / 127.0f;
  auto wq = FakeQuantizePerChannel(net.tensors[2].value, 0);
  ASSERT_TRUE(wq.ok());
  for (int n = 0; n < 2; ++n) {
    for (int o = 0; o < 3; ++o) {
      float acc = 0;
      for (int c = 0; c < 16; ++c) {
        const float v = std::max(0.f, xv[static_cast<size_t>(n * 16 + c)]);
        const float xq = std::min(127.f, std::nearbyint(v / s)) * s;
        acc += xq * wq->data<float>()[o * 16 + c];
      }
      EXPECT_NEAR(out[0].data<float>()[n * 3 + o], acc, 1e-5f);
    }
  }
  // Without a scale the layer stays float, with the reason.
  std::map<std::string, std::string> skipped;
  auto none = SimulateInt8(net, CalibrationCache::ForCalibrator(CalibratorKind::kMinMax), {}, &quantized, &skipped);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(quantized.empty());
  EXPECT_NE(skipped["conv"].find("'r'"), std::string::npos);
}

TEST(SimulateInt8, LayersTheInt8KernelCannotRunStayFloatWithTheReason) {
  NetworkDef net = ReluGemmNetwork(std::vector<float>(12, 0.5f));
  CalibrationCache cache = CalibrationCache::ForCalibrator(CalibratorKind::kMinMax);
  cache.SetAmax("r", 2.0f);
  std::vector<std::string> quantized;
  std::map<std::string, std::string> skipped;
  auto sim = SimulateInt8(net, cache, {}, &quantized, &skipped);
  ASSERT_TRUE(sim.ok()) << sim.status().message();
  EXPECT_TRUE(quantized.empty());
  EXPECT_EQ(skipped["gemm"], "4 input channels (INT8 needs a multiple of 16)");
  EXPECT_EQ(sim->layers.size(), 2u);
}

// x [4, 16, 1, 1] -> Conv 1x1 "wide" (diag(1000, 0.001, ...)) -> h -> Conv 1x1 "sensitive" (reads only
// the small channels, times 1000) -> y [4, 1, 1, 1]. h's per-tensor scale is set by the 1000x
// channel, so INT8 turns the small channels into 0 and "sensitive" loses its whole output; "wide"
// alone in INT8 only adds x's rounding (1/127 steps).
NetworkDef SensitiveNetwork() {
  std::vector<float> wa(256, 0.f), wb(16, 1000.f);
  wa[0] = 1000.f;
  for (int k = 1; k < 16; ++k) wa[k * 16 + k] = 0.001f;
  wb[0] = 0.f;
  NetworkDef net;
  net.tensors.push_back({"x", DataType::kFloat32, {4, 16, 1, 1}, {}});
  net.tensors.push_back({"wa", DataType::kFloat32, {16, 16, 1, 1}, Tensor::FromVector<float>(wa, {16, 16, 1, 1})});
  net.tensors.push_back({"h", DataType::kFloat32, {4, 16, 1, 1}, {}});
  net.tensors.push_back({"wb", DataType::kFloat32, {1, 16, 1, 1}, Tensor::FromVector<float>(wb, {1, 16, 1, 1})});
  net.tensors.push_back({"y", DataType::kFloat32, {4, 1, 1, 1}, {}});
  LayerDef a;
  a.name = "wide";
  a.op = OpType::kConv;
  a.opset = 13;
  a.inputs = {0, 1};
  a.outputs = {2};
  LayerDef b = a;
  b.name = "sensitive";
  b.inputs = {2, 3};
  b.outputs = {4};
  net.layers = {a, b};
  net.inputs = {0};
  net.outputs = {4};
  return net;
}

TEST(Int8Gate, MovesTheSensitiveLayerBackToFloat) {
  NetworkDef net = SensitiveNetwork();
  std::vector<std::vector<Tensor>> batches;
  uint32_t seed = 12345;
  for (int b = 0; b < 5; ++b) {
    std::vector<float> v(64);
    for (float& f : v) {
      seed = seed * 1664525u + 1013904223u;
      f = static_cast<float>(seed >> 8) / static_cast<float>(1 << 24) * 2.f - 1.f;
    }
    batches.push_back({Tensor::FromVector<float>(v, {4, 16, 1, 1})});
  }
  auto data = InMemoryCalibrationData(batches);
  CalibrationOptions o;
  o.calibrator = CalibratorKind::kMinMax;
  auto ranges = Calibrate(net, *data, {0, 1, 2, 3}, o);
  ASSERT_TRUE(ranges.ok()) << ranges.status().message();
  CalibrationCache cache = CalibrationCache::ForCalibrator(o.calibrator);
  for (const TensorRange& r : *ranges) cache.SetAmax(r.name, r.amax);
  auto report = RunAccuracyGate(net, cache, *data, {4}, GateOptions{});
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->layers.size(), 2u);
  EXPECT_GT(report->error_all_int8, 0.5);
  EXPECT_EQ(report->layers[0].name, "wide");
  EXPECT_TRUE(report->layers[0].int8);
  EXPECT_LT(report->layers[0].error_alone, 0.05);
  EXPECT_EQ(report->layers[1].name, "sensitive");
  EXPECT_FALSE(report->layers[1].int8);
  EXPECT_GT(report->layers[1].error_alone, 0.5);
  EXPECT_NE(report->layers[1].reason.find("budget"), std::string::npos);
  EXPECT_TRUE(report->within_budget);
  EXPECT_LE(report->error_final, 0.05);
  EXPECT_EQ(report->float_layers, (std::set<std::string>{"sensitive"}));
  // A budget of 1.5 keeps both in INT8 (the all-INT8 error is below it).
  GateOptions loose;
  loose.error_budget = 1.5;
  auto all = RunAccuracyGate(net, cache, *data, {4}, loose);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->layers[0].int8 && all->layers[1].int8);
}

TEST(Int8Gate, RelativeL2) {
  Tensor a = Tensor::FromVector<float>({3, 4}, {2});
  Tensor b = Tensor::FromVector<float>({3, 5}, {2});
  EXPECT_NEAR(RelativeL2({b}, {a}), 1.0 / 5.0, 1e-12);
  Tensor n = Tensor::FromVector<float>({NAN, 4}, {2});
  EXPECT_TRUE(std::isinf(RelativeL2({n}, {a})));
}

}  // namespace
}  // namespace edgert
