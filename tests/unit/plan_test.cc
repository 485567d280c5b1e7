// Plan files: round trips (field by field, and through CpuEngine), aligned weights, ValidatePlan's
// sentences, corruption robustness (bit flips, truncations, re-sealed structural damage, targeted
// out-of-range values) and the load time of a plan with ~25 MB of weights.
#include "edgert/plan.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#include "edgert/hash.h"
#include "edgert/tactic_label.h"
#include "op_util.h"
#include "plan/plan_format.h"
#include "plan_generated.h"

namespace edgert {
namespace {

using plan_internal::DecodeHeader;
using plan_internal::PlanHeader;
using plan_internal::SealPlan;

// A fresh directory under /tmp, removed (with its files) at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/edgert_plan_test_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    for (const std::string& f : Files()) std::remove((path_ + "/" + f).c_str());
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  std::vector<std::string> Files() const {
    std::vector<std::string> out;
    DIR* d = opendir(path_.c_str());
    if (d == nullptr) return out;
    while (dirent* e = readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    closedir(d);
    return out;
  }

 private:
  std::string path_;
};

void WriteRaw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Tensor RandomTensor(DataType dtype, Shape shape, std::mt19937& rng) {
  Tensor t = *Tensor::Create(dtype, std::move(shape));
  uint8_t* p = static_cast<uint8_t*>(t.raw());
  for (size_t i = 0; i < t.bytes(); ++i) p[i] = static_cast<uint8_t>(rng());
  if (dtype == DataType::kBool) {
    for (size_t i = 0; i < t.bytes(); ++i) p[i] &= 1;
  }
  return t;
}

Tensor RandomFloats(Shape shape, std::mt19937& rng) {
  Tensor t = *Tensor::Create(DataType::kFloat32, std::move(shape));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

int32_t AddTensor(NetworkDef& net, const std::string& name, DataType dtype, Shape shape, Tensor value = Tensor()) {
  net.tensors.push_back({name, dtype, std::move(shape), std::move(value)});
  return static_cast<int32_t>(net.tensors.size() - 1);
}

void AddLayer(NetworkDef& net, const std::string& name, OpType op, std::vector<int32_t> inputs,
              std::vector<int32_t> outputs, Attributes attrs = {}) {
  LayerDef layer;
  layer.name = name;
  layer.op = op;
  layer.opset = 17;
  layer.attrs = std::move(attrs);
  layer.inputs = std::move(inputs);
  layer.outputs = std::move(outputs);
  net.layers.push_back(std::move(layer));
}

// A network the CPU backend runs: Conv(+bias) -> LeakyRelu -> Reshape -> Gather(int32 indices),
// ConstantOfShape (tensor attribute), Where(bool constant). Constants: float32, int64, int32, bool.
NetworkDef RunnableNetwork(std::mt19937& rng) {
  NetworkDef net;
  const int32_t x = AddTensor(net, "x", DataType::kFloat32, {1, 2, 4, 4});
  const int32_t w = AddTensor(net, "w", DataType::kFloat32, {3, 2, 3, 3}, RandomFloats({3, 2, 3, 3}, rng));
  const int32_t b = AddTensor(net, "b", DataType::kFloat32, {3}, RandomFloats({3}, rng));
  const int32_t conv = AddTensor(net, "conv", DataType::kFloat32, {1, 3, 4, 4});
  Attributes conv_attrs;
  conv_attrs.Set("kernel_shape", std::vector<int64_t>{3, 3});
  conv_attrs.Set("pads", std::vector<int64_t>{1, 1, 1, 1});
  conv_attrs.Set("strides", std::vector<int64_t>{1, 1});
  conv_attrs.Set("group", int64_t{1});
  conv_attrs.Set("auto_pad", std::string("NOTSET"));
  AddLayer(net, "conv1", OpType::kConv, {x, w, b}, {conv}, conv_attrs);
  const int32_t act = AddTensor(net, "act", DataType::kFloat32, {1, 3, 4, 4});
  Attributes lrelu_attrs;
  lrelu_attrs.Set("alpha", 0.1f);
  AddLayer(net, "lrelu", OpType::kLeakyRelu, {conv}, {act}, lrelu_attrs);
  const int32_t shape = AddTensor(net, "shape", DataType::kInt64, {2}, Tensor::FromVector<int64_t>({1, 48}, {2}));
  const int32_t flat = AddTensor(net, "flat", DataType::kFloat32, {1, 48});
  AddLayer(net, "reshape", OpType::kReshape, {act, shape}, {flat});
  const int32_t idx =
      AddTensor(net, "idx", DataType::kInt32, {5}, Tensor::FromVector<int32_t>({0, 7, 13, 40, 47}, {5}));
  const int32_t picked = AddTensor(net, "picked", DataType::kFloat32, {1, 5});
  Attributes gather_attrs;
  gather_attrs.Set("axis", int64_t{1});
  AddLayer(net, "gather", OpType::kGather, {flat, idx}, {picked}, gather_attrs);
  const int32_t fill_shape =
      AddTensor(net, "fill_shape", DataType::kInt64, {2}, Tensor::FromVector<int64_t>({1, 5}, {2}));
  const int32_t fill = AddTensor(net, "fill", DataType::kFloat32, {1, 5});
  Attributes cos_attrs;
  cos_attrs.Set("value", Tensor::FromVector<float>({2.5f}, {1}));
  AddLayer(net, "fill", OpType::kConstantOfShape, {fill_shape}, {fill}, cos_attrs);
  const int32_t cond = AddTensor(net, "cond", DataType::kBool, {1, 5},
                                 Tensor::FromVector<bool>({true, false, true, false, true}, {1, 5}));
  const int32_t y = AddTensor(net, "y", DataType::kFloat32, {1, 5});
  AddLayer(net, "where", OpType::kWhere, {cond, picked, fill}, {y});
  net.inputs = {x};
  net.outputs = {y, act};
  return net;
}

// RunnableNetwork plus what only a round trip checks: constants of every other storable dtype, a
// scalar, an empty tensor, one storage shared by two tensors, an absent optional input and a
// layer carrying every attribute kind (tensor attributes of several dtypes included).
NetworkDef FullNetwork(std::mt19937& rng) {
  NetworkDef net = RunnableNetwork(rng);
  const DataType dtypes[] = {DataType::kUInt8,   DataType::kInt8,    DataType::kUInt16, DataType::kInt16,
                             DataType::kFloat16, DataType::kFloat64, DataType::kUInt32, DataType::kUInt64};
  std::vector<int32_t> extra;
  for (DataType dt : dtypes) {
    extra.push_back(AddTensor(net, std::string("c_") + DataTypeName(dt), dt, {3, 5}, RandomTensor(dt, {3, 5}, rng)));
  }
  extra.push_back(AddTensor(net, "scalar", DataType::kFloat32, {}, Tensor::Scalar<float>(-3.25f)));
  extra.push_back(AddTensor(net, "empty", DataType::kFloat32, {0, 3}, *Tensor::Create(DataType::kFloat32, {0, 3})));
  Tensor shared = RandomFloats({7}, rng);
  extra.push_back(AddTensor(net, "shared_a", DataType::kFloat32, {7}, shared));
  extra.push_back(AddTensor(net, "shared_b", DataType::kFloat32, {7}, shared));
  const int32_t out = AddTensor(net, "every_kind_out", DataType::kFloat32, {3, 5});
  Attributes attrs;
  attrs.Set("i", int64_t{-1234567890123});
  attrs.Set("f", -0.0f);
  attrs.Set("s", std::string("héllo\twörld"));
  attrs.Set("t_f16", RandomTensor(DataType::kFloat16, {2, 2}, rng));
  attrs.Set("t_i64", Tensor::FromVector<int64_t>({INT64_MIN, 0, INT64_MAX}, {3}));
  attrs.Set("t_u8", RandomTensor(DataType::kUInt8, {300}, rng));
  attrs.Set("ints", std::vector<int64_t>{1, -2, 3});
  attrs.Set("empty_ints", std::vector<int64_t>{});
  attrs.Set("floats", std::vector<float>{1.5f, std::numeric_limits<float>::infinity(), 1e-30f});
  attrs.Set("strings", std::vector<std::string>{"a", "", "ccc"});
  extra.insert(extra.begin() + 1, -1);
  AddLayer(net, "every_kind", OpType::kIdentity, extra, {out}, attrs);
  net.layers.back().opset = 13;
  return net;
}

PlanMetadata TestMetadata(const std::string& version = "0.1.0", DeviceKey device = CpuDeviceKey()) {
  PlanMetadata m;
  m.edgert_version = version;
  m.device = std::move(device);
  m.build_options_hash = Sha256Hex("fp32");
  m.model_hash = Sha256Hex("model bytes");
  return m;
}

DeviceKey H100Key() {
  DeviceKey k;
  k.backend = "cuda";
  k.gpu_name = "NVIDIA H100";
  k.cc_major = 9;
  k.cc_minor = 0;
  k.sm_count = 132;
  k.cuda_version = 12040;
  k.cudnn_version = 90100;
  k.cublas_version = 120405;
  return k;
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && a.bytes() == b.bytes() &&
         (a.bytes() == 0 || std::memcmp(a.raw(), b.raw(), a.bytes()) == 0);
}

void ExpectSameAttr(const AttrValue& a, const AttrValue& b, const std::string& what) {
  ASSERT_EQ(a.index(), b.index()) << what;
  if (const auto* t = std::get_if<Tensor>(&a)) {
    EXPECT_TRUE(SameBytes(*t, std::get<Tensor>(b))) << what;
  } else if (const auto* f = std::get_if<float>(&a)) {
    const float g = std::get<float>(b);
    EXPECT_EQ(std::memcmp(f, &g, sizeof(float)), 0) << what;  // bit for bit (-0.0f stays -0.0f)
  } else if (const auto* fs = std::get_if<std::vector<float>>(&a)) {
    const auto& gs = std::get<std::vector<float>>(b);
    ASSERT_EQ(fs->size(), gs.size()) << what;
    EXPECT_EQ(std::memcmp(fs->data(), gs.data(), fs->size() * sizeof(float)), 0) << what;
  } else if (const auto* i = std::get_if<int64_t>(&a)) {
    EXPECT_EQ(*i, std::get<int64_t>(b)) << what;
  } else if (const auto* str = std::get_if<std::string>(&a)) {
    EXPECT_EQ(*str, std::get<std::string>(b)) << what;
  } else if (const auto* is = std::get_if<std::vector<int64_t>>(&a)) {
    EXPECT_EQ(*is, std::get<std::vector<int64_t>>(b)) << what;
  } else {
    EXPECT_EQ(std::get<std::vector<std::string>>(a), std::get<std::vector<std::string>>(b)) << what;
  }
}

void ExpectSameNetwork(const NetworkDef& a, const NetworkDef& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const TensorDef& x = a.tensors[i];
    const TensorDef& y = b.tensors[i];
    EXPECT_EQ(x.name, y.name) << "tensor " << i;
    EXPECT_EQ(x.dtype, y.dtype) << x.name;
    EXPECT_EQ(x.shape, y.shape) << x.name;
    ASSERT_EQ(x.is_constant(), y.is_constant()) << x.name;
    if (x.is_constant()) {
      EXPECT_TRUE(SameBytes(x.value, y.value)) << x.name;
    }
  }
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerDef& x = a.layers[i];
    const LayerDef& y = b.layers[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.op, y.op) << x.name;
    EXPECT_EQ(x.opset, y.opset) << x.name;
    EXPECT_EQ(x.inputs, y.inputs) << x.name;
    EXPECT_EQ(x.outputs, y.outputs) << x.name;
    ASSERT_EQ(x.attrs.all().size(), y.attrs.all().size()) << x.name;
    auto it = y.attrs.all().begin();
    for (const auto& [name, value] : x.attrs.all()) {
      EXPECT_EQ(name, it->first) << x.name;
      ExpectSameAttr(value, it->second, x.name + "." + name);
      ++it;
    }
  }
  EXPECT_EQ(a.inputs, b.inputs);
  EXPECT_EQ(a.outputs, b.outputs);
}

std::vector<uint8_t> SerializeOrDie(const NetworkDef& net, const PlanMetadata& m) {
  auto bytes = SerializePlan(net, m);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::vector<uint8_t>();
}

uint32_t TestSeed() {
  const uint32_t seed = std::random_device{}();
  std::printf("[plan_test] random seed %u\n", seed);
  return seed;
}

TEST(PlanRoundTrip, EveryFieldSurvivesWriteAndOpen) {
  std::mt19937 rng(TestSeed());
  const NetworkDef net = FullNetwork(rng);
  const PlanMetadata meta = TestMetadata("0.1.0", H100Key());
  const std::vector<uint8_t> bytes = SerializeOrDie(net, meta);
  TempDir dir;
  const std::string path = dir.File("full.plan");
  ASSERT_TRUE(WritePlanFile(path, bytes).ok());
  auto plan = LoadedPlan::Open(path);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ExpectSameNetwork(net, plan->network());
  const PlanMetadata& m = plan->metadata();
  EXPECT_EQ(m.edgert_version, "0.1.0");
  EXPECT_TRUE(m.device == H100Key());
  EXPECT_EQ(m.build_options_hash, meta.build_options_hash);
  EXPECT_EQ(m.model_hash, meta.model_hash);
  EXPECT_EQ(m.format_version, kPlanFormatVersion);
  EXPECT_EQ(m.num_tensors, net.tensors.size());
  EXPECT_EQ(m.num_layers, net.layers.size());
  EXPECT_EQ(m.file_bytes, bytes.size());
  EXPECT_EQ(m.weights_bytes, plan->weights_size());

  auto bytes_plan = LoadedPlan::OpenBytes(bytes.data(), bytes.size());
  ASSERT_TRUE(bytes_plan.ok()) << bytes_plan.status().ToString();
  ExpectSameNetwork(net, bytes_plan->network());
}

TEST(PlanRoundTrip, WeightsAreAlignedAndSharedStorageIsStoredOnce) {
  std::mt19937 rng(TestSeed());
  const NetworkDef net = FullNetwork(rng);
  const std::vector<uint8_t> bytes = SerializeOrDie(net, TestMetadata());
  const PlanHeader h = DecodeHeader(bytes.data());
  EXPECT_EQ(h.weights_offset % kPlanWeightAlignment, 0u);
  EXPECT_EQ(h.weights_size % kPlanWeightAlignment, 0u);
  auto plan = LoadedPlan::OpenBytes(bytes.data(), bytes.size());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const uint8_t* base = plan->weights_data();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(base) % kPlanWeightAlignment, 0u);
  int constants = 0;
  const TensorDef* shared_a = nullptr;
  const TensorDef* shared_b = nullptr;
  for (const TensorDef& t : plan->network().tensors) {
    if (!t.is_constant()) continue;
    ++constants;
    const uint8_t* p = static_cast<const uint8_t*>(t.value.raw());
    ASSERT_GE(p, base) << t.name;
    EXPECT_LE(p + t.value.bytes(), base + plan->weights_size()) << t.name;
    EXPECT_EQ(static_cast<size_t>(p - base) % kPlanWeightAlignment, 0u) << t.name;
    if (t.name == "shared_a") shared_a = &t;
    if (t.name == "shared_b") shared_b = &t;
  }
  EXPECT_EQ(constants, 18);  // 6 of RunnableNetwork, 12 added by FullNetwork
  EXPECT_EQ(plan->metadata().num_constants, 18u);
  ASSERT_TRUE(shared_a != nullptr && shared_b != nullptr);
  EXPECT_EQ(shared_a->value.raw(), shared_b->value.raw());
  for (const LayerDef& l : plan->network().layers) {
    for (const auto& [name, value] : l.attrs.all()) {
      if (const Tensor* t = std::get_if<Tensor>(&value)) {
        const uint8_t* p = static_cast<const uint8_t*>(t->raw());
        EXPECT_EQ(static_cast<size_t>(p - base) % kPlanWeightAlignment, 0u) << l.name << "." << name;
      }
    }
  }
}

TEST(PlanRoundTrip, SerializationIsDeterministic) {
  std::mt19937 rng(TestSeed());
  const NetworkDef net = FullNetwork(rng);
  EXPECT_EQ(SerializeOrDie(net, TestMetadata()), SerializeOrDie(net, TestMetadata()));
}

TEST(PlanRoundTrip, LoadedNetworkRunsLikeTheOriginalOnCpu) {
  std::mt19937 rng(TestSeed());
  const NetworkDef net = RunnableNetwork(rng);
  TempDir dir;
  const std::string path = dir.File("run.plan");
  ASSERT_TRUE(WritePlanFile(path, SerializeOrDie(net, TestMetadata())).ok());
  NetworkDef loaded_net;
  {
    auto plan = LoadedPlan::Open(path);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    loaded_net = plan->network();
  }
  // The LoadedPlan is gone; its constants must still be mapped (they keep the mapping alive).
  auto original = CpuEngine::Create(net);
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  auto loaded = CpuEngine::Create(loaded_net);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (int run = 0; run < 3; ++run) {
    const Tensor x = RandomFloats({1, 2, 4, 4}, rng);
    std::vector<Tensor> expected, actual;
    ASSERT_TRUE((*original)->Run({x}, &expected).ok());
    ASSERT_TRUE((*loaded)->Run({x}, &actual).ok());
    ASSERT_EQ(expected.size(), 2u);
    ASSERT_EQ(actual.size(), 2u);
    for (size_t k = 0; k < expected.size(); ++k) {
      EXPECT_TRUE(SameBytes(expected[k], actual[k])) << "output " << k;
      for (int64_t i = 0; i < actual[k].num_elements(); ++i) EXPECT_FALSE(std::isnan(actual[k].data<float>()[i]));
    }
  }
}

TEST(PlanMetadataRead, ReadsHeaderAndMetadataOnly) {
  std::mt19937 rng(TestSeed());
  const NetworkDef net = FullNetwork(rng);
  std::vector<uint8_t> bytes = SerializeOrDie(net, TestMetadata("0.1.0", H100Key()));
  // Damage the network section and re-seal only the header and metadata checksums the way a
  // reader that skipped the body would see them: ReadPlanMetadata must not look there.
  const PlanHeader h = DecodeHeader(bytes.data());
  TempDir dir;
  const std::string path = dir.File("m.plan");
  bytes[h.body_offset + h.body_size / 2] ^= 0xFF;
  WriteRaw(path, bytes);
  auto m = ReadPlanMetadata(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->device.ToString(), "NVIDIA H100 (sm_90, 132 SMs, CUDA 12.4, cuDNN 9.1.0, cuBLAS 12.4.5)");
  EXPECT_EQ(m->num_layers, net.layers.size());
  EXPECT_EQ(m->num_tensors, net.tensors.size());
  EXPECT_EQ(m->file_bytes, bytes.size());
  auto open = LoadedPlan::Open(path);
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("checksum mismatch: the plan is corrupt"), std::string::npos);
}

TEST(PlanDeviceKey, ToStringAndEquality) {
  EXPECT_EQ(CpuDeviceKey().ToString(), "cpu");
  EXPECT_TRUE(CpuDeviceKey() == CpuDeviceKey());
  DeviceKey orin = H100Key();
  orin.gpu_name = "Orin";
  orin.cc_major = 8;
  orin.cc_minor = 7;
  orin.sm_count = 16;
  orin.cudnn_version = 8907;
  orin.cublas_version = 11600;
  EXPECT_EQ(orin.ToString(), "Orin (sm_87, 16 SMs, CUDA 12.4, cuDNN 8.9.7, cuBLAS 11.6.0)");
  EXPECT_FALSE(orin == H100Key());
  DeviceKey other = H100Key();
  other.cublas_version += 1;
  EXPECT_TRUE(other != H100Key());
}

class PlanValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(1);
    net_ = RunnableNetwork(rng);
    bytes_ = SerializeOrDie(net_, TestMetadata("0.1.0", H100Key()));
    path_ = dir_.File("model.plan");
  }
  std::string Validate(const std::vector<uint8_t>& bytes, const DeviceKey& here = H100Key(),
                       const std::string& version = "0.1.0") {
    WriteRaw(path_, bytes);
    const Status s = ValidatePlan(path_, here, version);
    return s.ok() ? "ok" : s.message();
  }
  TempDir dir_;
  NetworkDef net_;
  std::vector<uint8_t> bytes_;
  std::string path_;
};

TEST_F(PlanValidateTest, AcceptsItsOwnDeviceAndVersion) { EXPECT_EQ(Validate(bytes_), "ok"); }

TEST_F(PlanValidateTest, WrongDeviceIsOneSentenceNamingTheFile) {
  EXPECT_EQ(Validate(bytes_, CpuDeviceKey()),
            path_ + ": plan was built for NVIDIA H100 (sm_90) but this device is cpu");
  DeviceKey fewer_sms = H100Key();
  fewer_sms.sm_count = 114;
  EXPECT_EQ(Validate(bytes_, fewer_sms),
            path_ + ": plan was built for NVIDIA H100 (sm_90) with 132 SMs but this device has 114");
  DeviceKey newer_cuda = H100Key();
  newer_cuda.cuda_version = 12060;
  EXPECT_EQ(Validate(bytes_, newer_cuda),
            path_ + ": plan was built for NVIDIA H100 (sm_90) with CUDA 12.4 but this device has CUDA 12.6");
  DeviceKey older_cudnn = H100Key();
  older_cudnn.cudnn_version = 8907;
  EXPECT_EQ(Validate(bytes_, older_cudnn),
            path_ + ": plan was built for NVIDIA H100 (sm_90) with cuDNN 9.1.0 but this device has cuDNN 8.9.7");
  DeviceKey no_cublas = H100Key();
  no_cublas.cublas_version = 0;
  EXPECT_EQ(Validate(bytes_, no_cublas),
            path_ + ": plan was built for NVIDIA H100 (sm_90) with cuBLAS 12.4.5 but this device has cuBLAS none");
  DeviceKey orin = H100Key();
  orin.gpu_name = "Orin";
  orin.cc_minor = 7;
  orin.cc_major = 8;
  EXPECT_EQ(Validate(bytes_, orin), path_ + ": plan was built for NVIDIA H100 (sm_90) but this device is Orin (sm_87)");
  WriteRaw(path_, bytes_);
  EXPECT_EQ(ValidatePlan(path_, CpuDeviceKey(), "0.1.0").code(), StatusCode::kUnsupported);
}

TEST_F(PlanValidateTest, WrongVersion) {
  EXPECT_EQ(Validate(SerializeOrDie(net_, TestMetadata("0.0.9", H100Key()))),
            path_ + ": plan was built by edgert 0.0.9, this is 0.1.0");
}

TEST_F(PlanValidateTest, BadMagic) {
  std::vector<uint8_t> bytes = bytes_;
  bytes[0] = 'X';
  EXPECT_EQ(Validate(bytes), path_ + ": not an edgert plan (bad magic)");
  EXPECT_EQ(Validate(std::vector<uint8_t>{'h', 'i'}), path_ + ": not an edgert plan (bad magic)");
  EXPECT_EQ(Validate({}), path_ + ": not an edgert plan (the file is empty)");
}

TEST_F(PlanValidateTest, Truncation) {
  std::vector<uint8_t> half(bytes_.begin(), bytes_.begin() + static_cast<ptrdiff_t>(bytes_.size() / 2));
  EXPECT_EQ(Validate(half), path_ + ": plan is truncated: header says " + std::to_string(bytes_.size()) +
                                " bytes, file has " + std::to_string(half.size()));
  std::vector<uint8_t> tiny(bytes_.begin(), bytes_.begin() + 40);
  EXPECT_EQ(Validate(tiny), path_ + ": plan is truncated: the file has 40 bytes, less than the 96-byte header");
  std::vector<uint8_t> longer = bytes_;
  longer.push_back(0);
  EXPECT_NE(Validate(longer).find("trailing data"), std::string::npos);
}

TEST_F(PlanValidateTest, ChecksumMismatch) {
  const PlanHeader h = DecodeHeader(bytes_.data());
  std::vector<uint8_t> meta_damaged = bytes_;
  meta_damaged[h.meta_offset + 20] ^= 0x10;
  EXPECT_EQ(Validate(meta_damaged), path_ + ": checksum mismatch: the plan is corrupt (metadata)");
  std::vector<uint8_t> header_damaged = bytes_;
  header_damaged[70] ^= 0x01;  // weights size
  EXPECT_EQ(Validate(header_damaged), path_ + ": checksum mismatch: the plan is corrupt (header)");
  // ValidatePlan does not read the weights; Open does, and refuses.
  std::vector<uint8_t> weights_damaged = bytes_;
  weights_damaged[h.weights_offset + 3] ^= 0x80;
  EXPECT_EQ(Validate(weights_damaged), "ok");
  auto plan = LoadedPlan::Open(path_);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(), path_ + ": checksum mismatch: the plan is corrupt");
  EXPECT_EQ(plan.status().code(), StatusCode::kCorrupt);
}

TEST_F(PlanValidateTest, OtherFormatVersionAndMissingFile) {
  std::vector<uint8_t> v3 = bytes_;
  v3[8] = 3;
  EXPECT_EQ(Validate(v3), path_ + ": plan format version 3 is not supported by this edgert, which reads version 2");
  // A plan of the previous format (a plain XXH64 content checksum) is refused by its version.
  std::vector<uint8_t> v1 = bytes_;
  v1[8] = 1;
  EXPECT_EQ(Validate(v1), path_ + ": plan format version 1 is not supported by this edgert, which reads version 2");
  const Status missing = ValidatePlan(dir_.File("nope.plan"), H100Key(), "0.1.0");
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("nope.plan"), std::string::npos);
  EXPECT_EQ(LoadedPlan::Open(dir_.File("nope.plan")).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(LoadedPlan::Open(dir_.path()).ok());  // a directory
}

TEST(PlanSerialize, RefusesNetworksALoaderWouldRefuse) {
  std::mt19937 rng(2);
  {
    NetworkDef net = RunnableNetwork(rng);
    net.layers[1].op = static_cast<OpType>(999);
    auto r = SerializePlan(net, TestMetadata());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("unknown op id 999"), std::string::npos) << r.status().message();
  }
  {
    NetworkDef net = RunnableNetwork(rng);
    net.layers[0].inputs[0] = 77;
    auto r = SerializePlan(net, TestMetadata());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("reads tensor 77"), std::string::npos) << r.status().message();
  }
  {
    NetworkDef net = RunnableNetwork(rng);
    net.tensors[1].shape = {3, 2, 3};
    auto r = SerializePlan(net, TestMetadata());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("constant 'w'"), std::string::npos) << r.status().message();
  }
  {
    NetworkDef net = RunnableNetwork(rng);
    net.outputs.push_back(-1);
    EXPECT_FALSE(SerializePlan(net, TestMetadata()).ok());
  }
}

TEST(PlanWrite, ReplacesAtomicallyAndLeavesNoTemporaryFile) {
  std::mt19937 rng(3);
  TempDir dir;
  const std::string path = dir.File("a.plan");
  const std::vector<uint8_t> first = SerializeOrDie(RunnableNetwork(rng), TestMetadata("0.1.0"));
  const std::vector<uint8_t> second = SerializeOrDie(RunnableNetwork(rng), TestMetadata("0.2.0"));
  ASSERT_TRUE(WritePlanFile(path, first).ok());
  ASSERT_TRUE(WritePlanFile(path, second).ok());
  EXPECT_EQ(dir.Files(), std::vector<std::string>{"a.plan"});
  auto m = ReadPlanMetadata(path);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->edgert_version, "0.2.0");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), second.size());
  const Status bad = WritePlanFile(dir.File("no/such/dir/a.plan"), first);
  EXPECT_EQ(bad.code(), StatusCode::kIoError);
  EXPECT_NE(bad.message().find("no/such/dir/a.plan"), std::string::npos);
}

// --- Robustness -------------------------------------------------------------------------------

std::vector<uint8_t> RobustnessPlan() {
  std::mt19937 rng(20261125);
  return SerializeOrDie(FullNetwork(rng), TestMetadata("0.1.0", H100Key()));
}

// Total bytes CpuEngine::Create would allocate for activations; used to skip engine creation for
// structurally valid but huge networks that re-sealed corruption can produce.
uint64_t ActivationBytes(const NetworkDef& net) {
  uint64_t total = 0;
  for (const TensorDef& t : net.tensors) {
    if (t.is_constant()) continue;
    const int64_t n = NumElements(t.shape);
    if (n < 0) return UINT64_MAX;
    total += static_cast<uint64_t>(n) * DataTypeSize(t.dtype);
  }
  return total;
}

TEST(PlanRobustness, ThousandSingleBitFlipsAreAllRefused) {
  const std::vector<uint8_t> good = RobustnessPlan();
  std::mt19937 rng(12345);
  std::uniform_int_distribution<size_t> pos(0, good.size() * 8 - 1);
  TempDir dir;
  const std::string path = dir.File("flip.plan");
  int refused = 0, by_header = 0, by_content = 0, by_magic_or_version = 0;
  for (int trial = 0; trial < 1000; ++trial) {
    std::vector<uint8_t> bytes = good;
    const size_t bit = pos(rng);
    bytes[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto plan = LoadedPlan::OpenBytes(bytes.data(), bytes.size(), "flip.plan");
    // Every byte is under a checksum, so every flip must be refused, with a one-line reason.
    ASSERT_FALSE(plan.ok()) << "bit " << bit << " flipped and the plan still loaded";
    const std::string& msg = plan.status().message();
    EXPECT_EQ(msg.rfind("flip.plan: ", 0), 0u) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    ++refused;
    if (msg.find("(header)") != std::string::npos)
      ++by_header;
    else if (msg.find("checksum mismatch: the plan is corrupt") != std::string::npos)
      ++by_content;
    else
      ++by_magic_or_version;
    if (trial % 25 == 0) {  // the file path too: ValidatePlan then Open, neither may crash
      WriteRaw(path, bytes);
      const Status v = ValidatePlan(path, H100Key(), "0.1.0");
      if (bit / 8 < good.size() - DecodeHeader(good.data()).weights_size - 256 || !v.ok()) {
        EXPECT_FALSE(LoadedPlan::Open(path).ok());
      }
      EXPECT_FALSE(LoadedPlan::Open(path).ok());
    }
  }
  std::printf("[plan_test] robustness plan sha256 %s\n", Sha256Hex(good.data(), good.size()).c_str());
  std::printf(
      "[plan_test] 1000 bit flips in a %zu-byte plan: %d refused (header checksum %d, content checksum %d, "
      "magic/format %d)\n",
      good.size(), refused, by_header, by_content, by_magic_or_version);
}

TEST(PlanRobustness, TwoHundredTruncationsAreAllRefused) {
  const std::vector<uint8_t> good = RobustnessPlan();
  std::mt19937 rng(54321);
  std::uniform_int_distribution<size_t> len(0, good.size() - 1);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = trial < 10 ? static_cast<size_t>(trial) * 11 : len(rng);
    auto plan = LoadedPlan::OpenBytes(good.data(), n, "cut.plan");
    ASSERT_FALSE(plan.ok()) << n;
    const std::string& msg = plan.status().message();
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("empty") != std::string::npos) << msg;
  }
}

// Damage behind the checksums: mutate bytes of the metadata and network sections, re-seal the
// checksums, and require a clean refusal or a network that passes every structural rule (and,
// when small enough, CpuEngine::Create without a crash).
TEST(PlanRobustness, ResealedStructuralDamageNeverCrashes) {
  std::mt19937 net_rng(20261125);
  const std::vector<uint8_t> plans[2] = {RobustnessPlan(),
                                         SerializeOrDie(RunnableNetwork(net_rng), TestMetadata("0.1.0"))};
  std::mt19937 rng(777);
  int refused = 0, loaded = 0, engines = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const std::vector<uint8_t>& good = plans[trial % 2];
    const PlanHeader h = DecodeHeader(good.data());
    std::uniform_int_distribution<size_t> where(h.meta_offset, h.body_offset + h.body_size - 1);
    std::vector<uint8_t> bytes = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = where(rng);
      switch (rng() % 3) {
        case 0:
          bytes[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          bytes[at] = static_cast<uint8_t>(rng());
          break;
        default:
          bytes[at] = (rng() % 2) ? 0xFF : 0x00;
          break;
      }
    }
    ASSERT_TRUE(SealPlan(bytes.data(), bytes.size()).ok());
    auto plan = LoadedPlan::OpenBytes(bytes.data(), bytes.size(), "resealed.plan");
    if (!plan.ok()) {
      ++refused;
      EXPECT_FALSE(plan.status().message().empty());
      continue;
    }
    ++loaded;
    if (ActivationBytes(plan->network()) < (uint64_t{64} << 20)) {
      auto engine = CpuEngine::Create(plan->network());
      if (engine.ok()) ++engines;
    }
  }
  std::printf("[plan_test] 3000 re-sealed corruptions: %d refused, %d loaded (%d also made a CPU engine)\n", refused,
              loaded, engines);
  EXPECT_GT(refused, 0);
}

// Specific out-of-range values written into an otherwise valid plan (then re-sealed): each is
// caught by its range check with a sentence naming what is wrong.
class PlanTargetedCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    std::mt19937 rng(4);
    bytes_ = SerializeOrDie(RunnableNetwork(rng), TestMetadata());
    header_ = DecodeHeader(bytes_.data());
  }
  fb::Network* Body() { return flatbuffers::GetMutableRoot<fb::Network>(bytes_.data() + header_.body_offset); }
  std::string OpenError() {
    EXPECT_TRUE(SealPlan(bytes_.data(), bytes_.size()).ok());
    auto plan = LoadedPlan::OpenBytes(bytes_.data(), bytes_.size(), "t.plan");
    return plan.ok() ? "loaded" : plan.status().message();
  }
  std::vector<uint8_t> bytes_;
  PlanHeader header_;
};

TEST_F(PlanTargetedCorruption, UnknownOpId) {
  ASSERT_TRUE(Body()->mutable_layers()->GetMutableObject(1)->mutate_op(999));
  EXPECT_EQ(OpenError(), "t.plan: layer 'lrelu' has unknown op id 999");
}

TEST_F(PlanTargetedCorruption, BadDtypeIds) {
  ASSERT_TRUE(Body()->mutable_tensors()->GetMutableObject(0)->mutate_dtype(8));  // string
  EXPECT_EQ(OpenError(), "t.plan: tensor 'x' has data type id 8, which is not valid");
  ASSERT_TRUE(Body()->mutable_tensors()->GetMutableObject(0)->mutate_dtype(-3));
  EXPECT_NE(OpenError().find("data type id -3"), std::string::npos);
}

TEST_F(PlanTargetedCorruption, NegativeDimension) {
  Body()->mutable_tensors()->GetMutableObject(3)->mutable_shape()->Mutate(1, -3);
  EXPECT_EQ(OpenError(), "t.plan: tensor 'conv' has a negative dimension");
}

TEST_F(PlanTargetedCorruption, HugeShape) {
  auto* shape = Body()->mutable_tensors()->GetMutableObject(3)->mutable_shape();
  for (uint32_t i = 0; i < shape->size(); ++i) shape->Mutate(i, INT64_MAX / 2);
  EXPECT_NE(OpenError().find("impossible shape"), std::string::npos);
}

TEST_F(PlanTargetedCorruption, MisalignedInt64Vectors) {
  // Point tensor 'x''s shape 4 bytes further: the verifier accepts it (it checks the 4-byte length
  // field only), the reader must refuse to read 8-byte elements at a 4-byte boundary.
  auto bump = [](void* table, flatbuffers::voffset_t field) {
    uint8_t* at = reinterpret_cast<flatbuffers::Table*>(table)->GetAddressOf(field);
    ASSERT_NE(at, nullptr);
    uint32_t off;
    std::memcpy(&off, at, sizeof(off));
    off += 4;
    std::memcpy(at, &off, sizeof(off));
  };
  bump(Body()->mutable_tensors()->GetMutableObject(0), fb::Tensor::VT_SHAPE);
  EXPECT_EQ(OpenError(), "t.plan: tensor 'x' has a misaligned shape");
  bump(Body()->mutable_tensors()->GetMutableObject(0), fb::Tensor::VT_SHAPE);  // 8 further: aligned again
  EXPECT_NE(OpenError(), "t.plan: tensor 'x' has a misaligned shape");
  SetUp();
  fb::Attr* kernel_shape = nullptr;
  auto* attrs = Body()->mutable_layers()->GetMutableObject(0)->mutable_attrs();
  for (uint32_t i = 0; i < attrs->size(); ++i) {
    if (attrs->Get(i)->name()->str() == "kernel_shape") kernel_shape = attrs->GetMutableObject(i);
  }
  ASSERT_NE(kernel_shape, nullptr);
  bump(kernel_shape, fb::Attr::VT_INTS);
  EXPECT_EQ(OpenError(), "t.plan: layer 'conv1' attribute 'kernel_shape' has misaligned values");
}

TEST_F(PlanTargetedCorruption, WeightSizeDisagreesWithShape) {
  fb::WeightRef* w = Body()->mutable_tensors()->GetMutableObject(1)->mutable_constant();
  ASSERT_NE(w, nullptr);
  w->mutate_size(w->size() - 4);
  EXPECT_EQ(OpenError(), "t.plan: tensor 'w' has 212 bytes of data but its shape 3x2x3x3 needs 216");
}

TEST_F(PlanTargetedCorruption, StoredDtypeOtherThanANarrowedConstant) {
  // 'w' (float32 constant) claimed as stored float16: its 216 bytes no longer fit that dtype.
  ASSERT_TRUE(Body()->mutable_tensors()->GetMutableObject(1)->mutate_stored_dtype(10));
  EXPECT_EQ(OpenError(), "t.plan: tensor 'w' has 216 bytes of data but its shape 3x2x3x3 needs 108");
  ASSERT_TRUE(Body()->mutable_tensors()->GetMutableObject(1)->mutate_stored_dtype(7));  // int64
  EXPECT_EQ(OpenError(),
            "t.plan: tensor 'w' is stored as data type id 7, which is not a float16 copy of a float32 "
            "constant");
  ASSERT_TRUE(Body()->mutable_tensors()->GetMutableObject(1)->mutate_stored_dtype(1));  // its own dtype: as 0
  EXPECT_EQ(OpenError(), "loaded");
  SetUp();
  ASSERT_TRUE(Body()->mutable_tensors()->GetMutableObject(0)->mutate_stored_dtype(10));  // 'x': an activation
  EXPECT_EQ(OpenError(),
            "t.plan: tensor 'x' is stored as data type id 10, which is not a float16 copy of a float32 "
            "constant");
}

TEST_F(PlanTargetedCorruption, WeightsOutsideTheSectionOrMisaligned) {
  fb::WeightRef* w = Body()->mutable_tensors()->GetMutableObject(1)->mutable_constant();
  w->mutate_offset(header_.weights_size);
  EXPECT_NE(OpenError().find("outside the weights section"), std::string::npos);
  w->mutate_offset(UINT64_MAX - 255);
  EXPECT_NE(OpenError().find("outside the weights section"), std::string::npos);
  w->mutate_offset(8);
  EXPECT_NE(OpenError().find("misaligned"), std::string::npos);
}

TEST_F(PlanTargetedCorruption, TensorIndicesOutOfRange) {
  Body()->mutable_layers()->GetMutableObject(0)->mutable_inputs()->Mutate(0, 4000);
  EXPECT_EQ(OpenError(), "t.plan: layer 'conv1' reads tensor 4000, which does not exist");
  Body()->mutable_layers()->GetMutableObject(0)->mutable_inputs()->Mutate(0, 0);
  Body()->mutable_layers()->GetMutableObject(0)->mutable_outputs()->Mutate(0, -1);
  EXPECT_EQ(OpenError(), "t.plan: layer 'conv1' writes tensor -1, which does not exist");
  Body()->mutable_layers()->GetMutableObject(0)->mutable_outputs()->Mutate(0, 1);
  EXPECT_EQ(OpenError(), "t.plan: layer 'conv1' writes constant 'w'");
  Body()->mutable_layers()->GetMutableObject(0)->mutable_outputs()->Mutate(0, 3);
  Body()->mutable_outputs()->Mutate(0, -7);
  EXPECT_EQ(OpenError(), "t.plan: graph output refers to tensor -7, which does not exist");
}

TEST_F(PlanTargetedCorruption, UnknownAttributeKind) {
  auto* attrs = Body()->mutable_layers()->GetMutableObject(1)->mutable_attrs();
  ASSERT_TRUE(attrs->GetMutableObject(0)->mutate_kind(static_cast<fb::AttrKind>(42)));
  EXPECT_EQ(OpenError(), "t.plan: layer 'lrelu' attribute 'alpha' has unknown kind 42");
}

TEST(PlanLoadTime, TwentyFiveMegabytesOfWeights) {
  std::mt19937 rng(TestSeed());
  NetworkDef net;
  const int32_t x = AddTensor(net, "x", DataType::kFloat32, {1024, 1024});
  int32_t prev = x;
  for (int i = 0; i < 6; ++i) {  // 6 x 4 MiB of float32 constants, each added to the running sum
    const int32_t c =
        AddTensor(net, "c" + std::to_string(i), DataType::kFloat32, {1024, 1024}, RandomFloats({1024, 1024}, rng));
    const int32_t y = AddTensor(net, "y" + std::to_string(i), DataType::kFloat32, {1024, 1024});
    AddLayer(net, "add" + std::to_string(i), OpType::kAdd, {prev, c}, {y});
    prev = y;
  }
  net.inputs = {x};
  net.outputs = {prev};
  TempDir dir;
  const std::string path = dir.File("big.plan");
  const std::vector<uint8_t> bytes = SerializeOrDie(net, TestMetadata());
  ASSERT_TRUE(WritePlanFile(path, bytes).ok());
  std::vector<double> open_ms, validate_ms;
  for (int rep = 0; rep < 7; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    auto plan = LoadedPlan::Open(path);
    auto t1 = std::chrono::steady_clock::now();
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    ASSERT_TRUE(ValidatePlan(path, CpuDeviceKey(), "0.1.0").ok());
    auto t2 = std::chrono::steady_clock::now();
    open_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    validate_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  const auto c0 = std::chrono::steady_clock::now();
  const uint64_t sum = Xxh64(bytes.data(), bytes.size());
  const double xxh_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - c0).count();
  EXPECT_NE(sum, 0u);
  std::printf("[plan_test] XXH64 over %.1f MB: %.2f ms (%.1f GB/s)\n", static_cast<double>(bytes.size()) / 1e6, xxh_ms,
              static_cast<double>(bytes.size()) / 1e6 / xxh_ms);
  std::sort(open_ms.begin(), open_ms.end());
  std::sort(validate_ms.begin(), validate_ms.end());
  std::printf(
      "[plan_test] %.1f MB plan (page cache warm): LoadedPlan::Open median %.2f ms (min %.2f), "
      "ValidatePlan median %.3f ms\n",
      static_cast<double>(bytes.size()) / 1e6, open_ms[3], open_ms[0], validate_ms[3]);
}

// The real thing, when a model is given (EDGERT_PLAN_TEST_ONNX=/path/model.onnx, static input
// shapes): build from ONNX, save, load, and require the loaded plan to run exactly like the
// network built from ONNX; logs the plan size and load times.
TEST(PlanLoadTime, OnnxModelRoundTripWhenGiven) {
  const char* onnx = std::getenv("EDGERT_PLAN_TEST_ONNX");
  if (onnx == nullptr) GTEST_SKIP() << "set EDGERT_PLAN_TEST_ONNX to a model with static input shapes";
  auto net = BuildNetwork(onnx, BuildOptions{});
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  TempDir dir;
  const std::string path = dir.File("model.plan");
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<uint8_t> bytes = SerializeOrDie(*net, TestMetadata());
  ASSERT_TRUE(WritePlanFile(path, bytes).ok());
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<double> open_ms;
  NetworkDef loaded_net;
  for (int rep = 0; rep < 5; ++rep) {
    const auto a = std::chrono::steady_clock::now();
    auto plan = LoadedPlan::Open(path);
    const auto b = std::chrono::steady_clock::now();
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    open_ms.push_back(std::chrono::duration<double, std::milli>(b - a).count());
    loaded_net = plan->network();
  }
  const auto c0 = std::chrono::steady_clock::now();
  auto loaded = CpuEngine::Create(loaded_net);
  const auto c1 = std::chrono::steady_clock::now();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  std::sort(open_ms.begin(), open_ms.end());
  std::printf(
      "[plan_test] %s: %zu layers, plan %.1f MB, serialize+write %.1f ms, LoadedPlan::Open median %.2f ms "
      "(min %.2f), CpuEngine::Create from the plan %.1f ms\n",
      onnx, loaded_net.layers.size(), static_cast<double>(bytes.size()) / 1e6,
      std::chrono::duration<double, std::milli>(t1 - t0).count(), open_ms[open_ms.size() / 2], open_ms[0],
      std::chrono::duration<double, std::milli>(c1 - c0).count());
  ExpectSameNetwork(*net, loaded_net);
  auto original = CpuEngine::Create(*net);
  ASSERT_TRUE(original.ok()) << original.status().ToString();
  std::mt19937 rng(TestSeed());
  std::vector<Tensor> inputs;
  for (int32_t i : loaded_net.inputs) {
    const TensorDef& def = loaded_net.tensors[static_cast<size_t>(i)];
    ASSERT_EQ(def.dtype, DataType::kFloat32) << def.name;
    inputs.push_back(RandomFloats(def.shape, rng));
  }
  std::vector<Tensor> expected, actual;
  ASSERT_TRUE((*original)->Run(inputs, &expected).ok());
  ASSERT_TRUE((*loaded)->Run(inputs, &actual).ok());
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t k = 0; k < expected.size(); ++k) EXPECT_TRUE(SameBytes(expected[k], actual[k])) << "output " << k;
}

// A network for NarrowWeightsForPlan: conv (weights and bias), a Gemm, a MatMul, an Add and a
// Clip; 'shared' is a Conv's weights and an Add's operand at once.
struct NarrowCase {
  NetworkDef net;
  int32_t w, b, gw, gc, mb, add_c, shared, clip_min, clip_max;
};

NarrowCase MakeNarrowCase(std::mt19937& rng) {
  NarrowCase c;
  NetworkDef& net = c.net;
  const int32_t x = AddTensor(net, "x", DataType::kFloat32, {1, 2, 4, 4});
  c.w = AddTensor(net, "w", DataType::kFloat32, {2, 2, 1, 1}, RandomFloats({2, 2, 1, 1}, rng));
  c.b = AddTensor(net, "b", DataType::kFloat32, {2}, RandomFloats({2}, rng));
  const int32_t conv = AddTensor(net, "conv", DataType::kFloat32, {1, 2, 4, 4});
  Attributes conv_attrs;
  conv_attrs.Set("kernel_shape", std::vector<int64_t>{1, 1});
  AddLayer(net, "conv1", OpType::kConv, {x, c.w, c.b}, {conv}, conv_attrs);
  c.shared = AddTensor(net, "shared", DataType::kFloat32, {2, 2, 1, 1}, RandomFloats({2, 2, 1, 1}, rng));
  const int32_t conv2 = AddTensor(net, "conv2", DataType::kFloat32, {1, 2, 4, 4});
  AddLayer(net, "conv2", OpType::kConv, {conv, c.shared}, {conv2}, conv_attrs);
  const int32_t plus = AddTensor(net, "plus", DataType::kFloat32, {2, 2, 1, 1});
  AddLayer(net, "plus_shared", OpType::kAdd, {c.shared, c.shared}, {plus});
  c.add_c = AddTensor(net, "add_c", DataType::kFloat32, {1, 2, 4, 4}, RandomFloats({1, 2, 4, 4}, rng));
  const int32_t added = AddTensor(net, "added", DataType::kFloat32, {1, 2, 4, 4});
  AddLayer(net, "add", OpType::kAdd, {conv2, c.add_c}, {added});
  c.clip_min = AddTensor(net, "clip_min", DataType::kFloat32, {}, Tensor::Scalar<float>(-0.5f));
  c.clip_max = AddTensor(net, "clip_max", DataType::kFloat32, {}, Tensor::Scalar<float>(0.5f));
  const int32_t clipped = AddTensor(net, "clipped", DataType::kFloat32, {1, 2, 4, 4});
  AddLayer(net, "clip", OpType::kClip, {added, c.clip_min, c.clip_max}, {clipped});
  const int32_t flat = AddTensor(net, "flat", DataType::kFloat32, {1, 32});
  AddLayer(net, "flatten", OpType::kFlatten, {clipped}, {flat});
  c.gw = AddTensor(net, "gw", DataType::kFloat32, {8, 32}, RandomFloats({8, 32}, rng));
  c.gc = AddTensor(net, "gc", DataType::kFloat32, {8}, RandomFloats({8}, rng));
  const int32_t g = AddTensor(net, "g", DataType::kFloat32, {1, 8});
  Attributes gemm_attrs;
  gemm_attrs.Set("transB", int64_t{1});
  AddLayer(net, "fc", OpType::kGemm, {flat, c.gw, c.gc}, {g}, gemm_attrs);
  c.mb = AddTensor(net, "mb", DataType::kFloat32, {8, 3}, RandomFloats({8, 3}, rng));
  const int32_t y = AddTensor(net, "y", DataType::kFloat32, {1, 3});
  AddLayer(net, "mm", OpType::kMatMul, {g, c.mb}, {y});
  net.inputs = {x};
  net.outputs = {y, plus};
  return c;
}

std::vector<DataType> AllFloat16OnDevice(const NetworkDef& net) {
  std::vector<DataType> d;
  for (const TensorDef& t : net.tensors) d.push_back(t.dtype == DataType::kFloat32 ? DataType::kFloat16 : t.dtype);
  return d;
}

void ExpectNarrowedCopy(const TensorDef& narrowed, const TensorDef& original) {
  ASSERT_TRUE(narrowed.is_narrowed()) << narrowed.name;
  EXPECT_EQ(narrowed.dtype, DataType::kFloat32) << narrowed.name;
  ASSERT_EQ(narrowed.value.shape(), original.value.shape()) << narrowed.name;
  for (int64_t i = 0; i < original.value.num_elements(); ++i) {
    ASSERT_EQ(narrowed.value.data<uint16_t>()[i], FloatToHalf(original.value.data<float>()[i]))
        << narrowed.name << " element " << i;
  }
}

TEST(PlanNarrow, NarrowsOnlyDeviceOnlyWeightsAndConvertsToNearestEven) {
  std::mt19937 rng(TestSeed());
  NarrowCase c = MakeNarrowCase(rng);
  // Values that exercise the rounding: ties, float16's subnormals, overflow, zeros, NaN.
  const float special[] = {0.0f,
                           -0.0f,
                           1.0f + 1.0f / 2048,
                           1.0f + 3.0f / 2048,
                           65504.0f,
                           65520.0f,
                           -1e9f,
                           std::ldexp(1.0f, -24),
                           std::ldexp(1.0f, -25),
                           std::ldexp(3.0f, -26),
                           1e-30f,
                           std::numeric_limits<float>::quiet_NaN()};
  Tensor& gw = c.net.tensors[static_cast<size_t>(c.gw)].value;
  for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); ++i) gw.data<float>()[i] = special[i];
  std::vector<DataType> device = AllFloat16OnDevice(c.net);
  device[static_cast<size_t>(c.b)] = DataType::kFloat32;  // as an INT8 convolution's bias stays float32
  uint64_t saved = 0;
  StatusOr<NetworkDef> out = NarrowWeightsForPlan(c.net, device, &saved);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  for (int32_t t : {c.w, c.gw, c.gc, c.mb}) {
    ExpectNarrowedCopy(out->tensors[static_cast<size_t>(t)], c.net.tensors[static_cast<size_t>(t)]);
  }
  for (int32_t t : {c.b, c.add_c, c.shared, c.clip_min, c.clip_max}) {
    const TensorDef& kept = out->tensors[static_cast<size_t>(t)];
    EXPECT_FALSE(kept.is_narrowed()) << kept.name;
    EXPECT_EQ(kept.value.raw(), c.net.tensors[static_cast<size_t>(t)].value.raw()) << kept.name;  // shared
  }
  EXPECT_EQ(saved, (4u + 256u + 8u + 24u) * 2u);
  const uint16_t* h = out->tensors[static_cast<size_t>(c.gw)].value.data<uint16_t>();
  const uint16_t expected[] = {0x0000, 0x8000, 0x3c00, 0x3c02, 0x7bff, 0x7c00, 0xfc00, 0x0001, 0x0000, 0x0001, 0x0000};
  for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); ++i) EXPECT_EQ(h[i], expected[i]) << "special " << i;
  EXPECT_EQ(h[11] & 0x7c00, 0x7c00);  // NaN stays NaN
  EXPECT_NE(h[11] & 0x03ff, 0);
  // The input network is untouched; an FP32 device narrows nothing.
  EXPECT_FALSE(c.net.tensors[static_cast<size_t>(c.w)].is_narrowed());
  std::vector<DataType> fp32;
  for (const TensorDef& t : c.net.tensors) fp32.push_back(t.dtype);
  StatusOr<NetworkDef> none = NarrowWeightsForPlan(c.net, fp32, &saved);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(saved, 0u);
  for (const TensorDef& t : none->tensors) EXPECT_FALSE(t.is_narrowed()) << t.name;
  // A dtype list of the wrong length is refused.
  device.pop_back();
  EXPECT_EQ(NarrowWeightsForPlan(c.net, device).status().code(), StatusCode::kInvalidArgument);
}

TEST(PlanNarrow, LargeWeightsConvertOnSeveralThreadsAlike) {
  std::mt19937 rng(TestSeed());
  NetworkDef net;
  const int32_t x = AddTensor(net, "x", DataType::kFloat32, {1, 3000});
  const int32_t w = AddTensor(net, "w", DataType::kFloat32, {1000, 3000}, RandomFloats({1000, 3000}, rng));
  const int32_t y = AddTensor(net, "y", DataType::kFloat32, {1, 1000});
  Attributes attrs;
  attrs.Set("transB", int64_t{1});
  AddLayer(net, "fc", OpType::kGemm, {x, w}, {y}, attrs);
  net.inputs = {x};
  net.outputs = {y};
  StatusOr<NetworkDef> out = NarrowWeightsForPlan(net, AllFloat16OnDevice(net));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectNarrowedCopy(out->tensors[static_cast<size_t>(w)], net.tensors[static_cast<size_t>(w)]);
}

TEST(PlanNarrow, NarrowedConstantsRoundTripAndTheCpuBackendRefusesThem) {
  std::mt19937 rng(TestSeed());
  NarrowCase c = MakeNarrowCase(rng);
  StatusOr<NetworkDef> narrowed = NarrowWeightsForPlan(c.net, AllFloat16OnDevice(c.net));
  ASSERT_TRUE(narrowed.ok()) << narrowed.status().ToString();
  const std::vector<uint8_t> full = SerializeOrDie(c.net, TestMetadata("0.1.0", H100Key()));
  const std::vector<uint8_t> bytes = SerializeOrDie(*narrowed, TestMetadata("0.1.0", H100Key()));
  EXPECT_LT(bytes.size(), full.size());
  auto plan = LoadedPlan::OpenBytes(bytes.data(), bytes.size(), "n.plan");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ExpectSameNetwork(*narrowed, plan->network());
  for (size_t i = 0; i < narrowed->tensors.size(); ++i) {
    const TensorDef& a = narrowed->tensors[i];
    const TensorDef& b = plan->network().tensors[i];
    EXPECT_EQ(a.is_narrowed(), b.is_narrowed()) << a.name;
    if (a.is_narrowed()) ExpectNarrowedCopy(b, c.net.tensors[i]);
  }
  auto cpu = CpuEngine::Create(plan->network());
  ASSERT_FALSE(cpu.ok());
  EXPECT_EQ(cpu.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(cpu.status().message(),
            "constant 'w' is stored as float16 (the weights of a GPU FP16 plan); the CPU backend needs its float32 "
            "value");
  // Only float16 bytes of a float32 constant are a narrowed constant: other mismatches are refused.
  NetworkDef wrong = c.net;
  wrong.tensors[static_cast<size_t>(c.w)].dtype = DataType::kFloat16;  // float32 bytes, declared float16
  auto refused = SerializePlan(wrong, TestMetadata());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("constant 'w' holds a float32"), std::string::npos)
      << refused.status().message();
}

// kTacticLabelAttr's "<candidates>/<label>" text (written by CUDA builds, read by the CUDA engine
// and `edgert inspect`): well-formed texts split; anything else is refused as a whole.
TEST(TacticLabel, ParsesOnlyTheCountSlashLabelForm) {
  RecordedTacticLabel r;
  ASSERT_TRUE(ParseTacticLabel("8/cudnn-fused engine 12", &r));
  EXPECT_EQ(r.candidates, 8);
  EXPECT_EQ(r.label, "cudnn-fused engine 12");
  ASSERT_TRUE(ParseTacticLabel("123456789/direct-nhwc", &r));
  EXPECT_EQ(r.candidates, 123456789);
  EXPECT_EQ(r.label, "direct-nhwc");
  for (const char* bad : {"", "direct-nhwc", "/direct-nhwc", "8/", "x/cudnn-fused engine 1", "-1/direct",
                          "8 /direct", "1234567890/direct"}) {
    RecordedTacticLabel untouched{3, "kept"};
    EXPECT_FALSE(ParseTacticLabel(bad, &untouched)) << bad;
    EXPECT_EQ(untouched.candidates, 3) << bad;
    EXPECT_EQ(untouched.label, "kept") << bad;
  }
}

}  // namespace
}  // namespace edgert
