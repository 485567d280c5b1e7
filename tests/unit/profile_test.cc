// Batch profiles: the builder's derivation (BuildOptions min/opt/max shapes), SpecializeBatch, the
// CPU engine at every batch of a profile against networks built for that batch alone, plans that
// keep the profile, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "dynamic_model.h"
#include "edgert/builder.h"
#include "edgert/engine.h"
#include "edgert/network.h"
#include "edgert/plan.h"
#include "edgert/plan_cache.h"
#include "onnx_test_util.h"

namespace edgert {
namespace {

using namespace testing_util;

bool Contains(const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; }

BuildOptions ProfileOptions(int64_t min, int64_t opt, int64_t max) {
  BuildOptions o;
  o.min_shapes["x"] = {min, 3, 8, 8};
  o.opt_shapes["x"] = {opt, 3, 8, 8};
  o.max_shapes["x"] = {max, 3, 8, 8};
  return o;
}

// Runs `context` at `batch` on `input` and returns the one output.
std::vector<float> RunAt(ExecutionContext& context, int64_t batch, const std::vector<float>& input) {
  EXPECT_TRUE(context.SetBatchSize(batch).ok());
  EXPECT_EQ(context.batch_size(), batch);
  std::vector<float> in(input.begin(), input.begin() + batch * 3 * 8 * 8);
  const Shape out_shape = context.TensorShape(1);
  std::vector<float> out(static_cast<size_t>(NumElements(out_shape)), NAN);
  EXPECT_TRUE(context.SetTensorAddress(0, in.data()).ok());
  EXPECT_TRUE(context.SetTensorAddress(1, out.data()).ok());
  Status s = context.Enqueue();
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// The same batch through a network built for that batch alone (fixed shapes).
std::vector<float> RunFixed(const std::string& model, int64_t batch, const std::vector<float>& input) {
  BuildOptions o;
  o.shapes["x"] = {batch, 3, 8, 8};
  StatusOr<NetworkDef> net = BuildNetwork(model, o);
  EXPECT_TRUE(net.ok()) << net.status().ToString();
  if (!net.ok()) return {};
  StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(*net);
  EXPECT_TRUE(engine.ok()) << engine.status().ToString();
  if (!engine.ok()) return {};
  auto context = (*engine)->CreateContext();
  EXPECT_TRUE(context.ok());
  std::vector<float> in(input.begin(), input.begin() + batch * 3 * 8 * 8);
  std::vector<float> out(static_cast<size_t>(batch * 10), NAN);
  EXPECT_TRUE((*context)->SetTensorAddress(0, in.data()).ok());
  EXPECT_TRUE((*context)->SetTensorAddress(1, out.data()).ok());
  EXPECT_TRUE((*context)->Enqueue().ok());
  return out;
}

TEST(BatchProfile, BuilderDerivesTheBatchTensorsAndValues) {
  TempDir dir;
  const std::string model = SaveModel(DynamicBatchClassifier(), dir.File("dyn.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(model, ProfileOptions(1, 4, 8));
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  const BatchProfile& p = net->profile;
  EXPECT_EQ(p.min, 1);
  EXPECT_EQ(p.opt, 4);
  EXPECT_EQ(p.max, 8);
  ASSERT_TRUE(ValidateBatchProfile(*net).ok());
  // The network holds the max batch's shapes; input and output follow the batch.
  EXPECT_EQ(net->tensors[net->inputs[0]].shape, (Shape{8, 3, 8, 8}));
  EXPECT_EQ(net->tensors[net->outputs[0]].shape, (Shape{8, 10}));
  auto batched = [&](int32_t t) {
    return std::find(p.batch_tensors.begin(), p.batch_tensors.end(), t) != p.batch_tensors.end();
  };
  EXPECT_TRUE(batched(net->inputs[0]));
  EXPECT_TRUE(batched(net->outputs[0]));
  for (size_t t = 0; t < net->tensors.size(); ++t) {
    const TensorDef& def = net->tensors[t];
    if (def.is_constant()) {
      EXPECT_FALSE(batched(static_cast<int32_t>(t))) << def.name;
    } else if (def.shape.empty() || def.shape[0] != 8) {
      EXPECT_FALSE(batched(static_cast<int32_t>(t))) << def.name;
    }
  }
  // The folded Reshape target [8, -1] (or [8, 128]) holds the batch at element 0.
  ASSERT_FALSE(p.batch_values.empty());
  for (const BatchValue& v : p.batch_values) {
    EXPECT_EQ(v.element, 0);
    EXPECT_EQ(net->tensors[static_cast<size_t>(v.tensor)].value.GetAsInt64(0), 8);
  }
}

TEST(BatchProfile, SpecializeBatchRewritesDimZeroAndBatchValuesOnly) {
  TempDir dir;
  const std::string model = SaveModel(DynamicBatchClassifier(), dir.File("dyn.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(model, ProfileOptions(2, 4, 8));
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  StatusOr<NetworkDef> at3 = SpecializeBatch(*net, 3);
  ASSERT_TRUE(at3.ok()) << at3.status().ToString();
  EXPECT_FALSE(at3->profile.enabled());
  EXPECT_EQ(at3->tensors[at3->inputs[0]].shape, (Shape{3, 3, 8, 8}));
  EXPECT_EQ(at3->tensors[at3->outputs[0]].shape, (Shape{3, 10}));
  for (const BatchValue& v : net->profile.batch_values) {
    EXPECT_EQ(at3->tensors[static_cast<size_t>(v.tensor)].value.GetAsInt64(v.element), 3);
    // The max network's constant keeps its value (the specialization cloned it).
    EXPECT_EQ(net->tensors[static_cast<size_t>(v.tensor)].value.GetAsInt64(v.element), 8);
  }
  // Equal to building at batch 3 directly, tensor by tensor.
  BuildOptions fixed;
  fixed.shapes["x"] = {3, 3, 8, 8};
  StatusOr<NetworkDef> direct = BuildNetwork(model, fixed);
  ASSERT_TRUE(direct.ok());
  ASSERT_EQ(direct->tensors.size(), at3->tensors.size());
  for (size_t t = 0; t < direct->tensors.size(); ++t) {
    EXPECT_EQ(direct->tensors[t].shape, at3->tensors[t].shape) << direct->tensors[t].name;
  }
  EXPECT_EQ(SpecializeBatch(*net, 1).status().code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(Contains(SpecializeBatch(*net, 9).status().message(), "[2, 8]"));
  EXPECT_EQ(SpecializeBatch(*direct, 3).status().code(), StatusCode::kInvalidArgument);  // no profile
}

TEST(BatchProfile, EngineRunsEveryBatchLikeAFixedBuild) {
  TempDir dir;
  const std::string model = SaveModel(DynamicBatchClassifier(), dir.File("dyn.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(model, ProfileOptions(1, 4, 8));
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  StatusOr<std::shared_ptr<Engine>> engine = Engine::Create(*net);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_TRUE((*engine)->profile().enabled());
  EXPECT_TRUE((*engine)->IOTensor(0).batched);
  EXPECT_TRUE((*engine)->IOTensor(1).batched);
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok());
  EXPECT_EQ((*context)->batch_size(), 8);
  (*context)->SetPoisonArena(true);  // an element a kernel fails to write shows up as NaN
  const std::vector<float> input = Values(8 * 3 * 8 * 8, 7);
  // Up and down and back, on one context: each batch equals its own fixed-shape build exactly.
  for (int64_t batch : {8, 1, 5, 8, 3, 1}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const std::vector<float> got = RunAt(**context, batch, input);
    const std::vector<float> want = RunFixed(model, batch, input);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << i;
  }
  // Rows do not depend on the batch they run in.
  const std::vector<float> one = RunAt(**context, 1, input);
  const std::vector<float> eight = RunAt(**context, 8, input);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_NEAR(one[i], eight[i], 1e-6f);
}

TEST(BatchProfile, ContextErrorsNameTheRangeAndTheInput) {
  TempDir dir;
  const std::string model = SaveModel(DynamicBatchClassifier(), dir.File("dyn.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(model, ProfileOptions(2, 4, 8));
  ASSERT_TRUE(net.ok());
  auto engine = Engine::Create(*net);
  ASSERT_TRUE(engine.ok());
  auto context = (*engine)->CreateContext();
  ASSERT_TRUE(context.ok());
  Status s = (*context)->SetBatchSize(1);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(Contains(s.message(), "[2, 8]")) << s.message();
  EXPECT_EQ((*context)->batch_size(), 8);  // unchanged after a refused batch
  EXPECT_FALSE((*context)->SetBatchSize(9).ok());
  s = (*context)->SetInputShape("x", {4, 3, 8, 9});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "'x'") && Contains(s.message(), "2x3x8x8 to 8x3x8x8")) << s.message();
  EXPECT_EQ((*context)->SetInputShape("y", {4, 3, 8, 8}).code(), StatusCode::kNotFound);
  ASSERT_TRUE((*context)->SetInputShape("x", {5, 3, 8, 8}).ok());
  EXPECT_EQ((*context)->batch_size(), 5);
  EXPECT_EQ((*context)->TensorShape(1), (Shape{5, 10}));

  // A fixed-shape engine accepts only its own batch.
  BuildOptions fixed;
  fixed.shapes["x"] = {2, 3, 8, 8};
  StatusOr<NetworkDef> fixed_net = BuildNetwork(model, fixed);
  ASSERT_TRUE(fixed_net.ok());
  auto fixed_engine = Engine::Create(*fixed_net);
  ASSERT_TRUE(fixed_engine.ok());
  auto fixed_context = (*fixed_engine)->CreateContext();
  ASSERT_TRUE(fixed_context.ok());
  EXPECT_EQ((*fixed_context)->batch_size(), 2);
  EXPECT_TRUE((*fixed_context)->SetBatchSize(2).ok());
  s = (*fixed_context)->SetBatchSize(3);
  EXPECT_TRUE(Contains(s.message(), "fixed shapes") && Contains(s.message(), "--max-shapes")) << s.message();
}

TEST(BatchProfile, PlansKeepTheProfile) {
  TempDir dir;
  const std::string model = SaveModel(DynamicBatchClassifier(), dir.File("dyn.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(model, ProfileOptions(1, 4, 8));
  ASSERT_TRUE(net.ok());
  PlanMetadata meta;
  meta.edgert_version = "test";
  meta.device = CpuDeviceKey();
  StatusOr<std::vector<uint8_t>> bytes = SerializePlan(*net, meta);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  StatusOr<LoadedPlan> plan = LoadedPlan::OpenBytes(bytes->data(), bytes->size());
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  const BatchProfile& p = plan->network().profile;
  EXPECT_EQ(p.min, 1);
  EXPECT_EQ(p.opt, 4);
  EXPECT_EQ(p.max, 8);
  EXPECT_EQ(p.batch_tensors, net->profile.batch_tensors);
  ASSERT_EQ(p.batch_values.size(), net->profile.batch_values.size());
  for (size_t i = 0; i < p.batch_values.size(); ++i) {
    EXPECT_EQ(p.batch_values[i].tensor, net->profile.batch_values[i].tensor);
    EXPECT_EQ(p.batch_values[i].element, net->profile.batch_values[i].element);
  }
  // The plan's engine runs batch 3 like the network's.
  auto from_plan = Engine::Create(plan->network());
  ASSERT_TRUE(from_plan.ok());
  auto context = (*from_plan)->CreateContext();
  ASSERT_TRUE(context.ok());
  const std::vector<float> input = Values(8 * 3 * 8 * 8, 9);
  const std::vector<float> got = RunAt(**context, 3, input);
  const std::vector<float> want = RunFixed(model, 3, input);
  ASSERT_EQ(got, want);

  // A profile that contradicts the network is refused when writing.
  NetworkDef bad = *net;
  bad.profile.max = 9;
  Status s = SerializePlan(bad, meta).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "dim 0")) << s.message();
  bad = *net;
  bad.profile.batch_tensors.push_back(static_cast<int32_t>(bad.tensors.size()));
  EXPECT_FALSE(SerializePlan(bad, meta).ok());
}

TEST(BatchProfile, CacheKeyDependsOnTheRange) {
  const std::string fixed = BuildOptionsHash(BuildOptions());
  const std::string a = BuildOptionsHash(ProfileOptions(1, 4, 8));
  const std::string b = BuildOptionsHash(ProfileOptions(1, 4, 16));
  EXPECT_NE(fixed, a);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, BuildOptionsHash(ProfileOptions(1, 4, 8)));
}

TEST(BatchProfile, ModelsThatMixTheBatchAreRefusedNamingTheTensor) {
  TempDir dir;
  const std::string model = SaveModel(DynamicBatchClassifier(true), dir.File("mix.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(model, ProfileOptions(1, 2, 4));
  ASSERT_FALSE(net.ok());
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(net.status().message(), "cannot take a batch range")) << net.status().message();
  // The Reshape to [-1] puts the batch into a size (128 x batch): its folded target is named.
  EXPECT_TRUE(Contains(net.status().message(), "'flatten_all")) << net.status().message();
  EXPECT_TRUE(Contains(net.status().message(), "mix.onnx")) << net.status().message();

  // A Transpose moves the batch to dim 1.
  onnx::ModelProto m = NewModel(13);
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3, 8, 8});
  onnx::NodeProto* t = AddNode(m, "Transpose", {"x"}, {"y"}, "swap");
  SetInts(t, "perm", {1, 0, 2, 3});
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {3, -1, 8, 8});
  const std::string swapped = SaveModel(m, dir.File("swap.onnx"));
  net = BuildNetwork(swapped, ProfileOptions(1, 2, 4));
  ASSERT_FALSE(net.ok());
  EXPECT_TRUE(Contains(net.status().message(), "tensor 'y' has shape 3x1x8x8 at batch 1 and 3x4x8x8 at batch 4"))
      << net.status().message();
  EXPECT_TRUE(Contains(net.status().message(), "only dim 0 may follow the batch")) << net.status().message();
}

TEST(BatchProfile, OptionErrorsNameTheOptionAndInput) {
  TempDir dir;
  const std::string model = SaveModel(DynamicBatchClassifier(), dir.File("dyn.onnx"));
  struct Case {
    BuildOptions options;
    std::string word;
  };
  std::vector<Case> cases;
  BuildOptions o = ProfileOptions(1, 4, 8);
  o.opt_shapes.clear();
  cases.push_back({o, "--opt-shapes is missing"});
  o = ProfileOptions(1, 4, 8);
  o.min_shapes["x"] = {1, 3, 8, 9};
  cases.push_back({o, "must differ only in dim 0"});
  o = ProfileOptions(4, 2, 8);
  cases.push_back({o, "1 <= min <= opt <= max"});
  o = ProfileOptions(1, 4, 8);
  o.shapes["x"] = {1, 3, 8, 8};
  cases.push_back({o, "both --shapes and a batch range"});
  o = ProfileOptions(1, 4, 8);
  o.max_shapes["y"] = {8, 2};
  cases.push_back({o, "'y'"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.word);
    StatusOr<NetworkDef> net = BuildNetwork(model, c.options);
    ASSERT_FALSE(net.ok());
    EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(net.status().message(), c.word)) << net.status().message();
  }
  // min == opt == max is a fixed-shape build.
  StatusOr<NetworkDef> same = BuildNetwork(model, ProfileOptions(4, 4, 4));
  ASSERT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_FALSE(same->profile.enabled());
  EXPECT_EQ(same->tensors[same->inputs[0]].shape, (Shape{4, 3, 8, 8}));
}

}  // namespace
}  // namespace edgert
