#include "edgert/builder.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "edgert/cpu_engine.h"
#include "edgert/op_def.h"
#include "onnx/tensor_file.h"
#include "onnx_test_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

bool Contains(const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; }

TEST(BuilderShapes, ParsesTrtexecSyntax) {
  std::map<std::string, Shape> shapes;
  ASSERT_TRUE(ParseShapesOption("images:1x3x224x224,mask:1x10,input:0:2x0", &shapes).ok());
  ASSERT_EQ(shapes.size(), 3u);
  EXPECT_EQ(shapes["images"], (Shape{1, 3, 224, 224}));
  EXPECT_EQ(shapes["mask"], (Shape{1, 10}));
  EXPECT_EQ(shapes["input:0"], (Shape{2, 0}));  // the last ':' separates the name
}

TEST(BuilderShapes, RejectsMalformedOptions) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty"},
      {"images", "'images'"},
      {"images:", "'images:'"},
      {":1x3", "':1x3'"},
      {"images:1xx3", "'images:1xx3'"},
      {"images:1x-3", "'-3'"},
      {"images:1x3,", "empty entry"},
      {"a:1,a:2", "'a' twice"},
      {"a:1x3.5", "'3.5'"},
      {"a:99999999999999999999", "too large"},
      {"a:4294967296x4294967296", "too many elements"},
  };
  for (const auto& [text, word] : cases) {
    SCOPED_TRACE(text);
    std::map<std::string, Shape> shapes;
    Status s = ParseShapesOption(text, &shapes);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(Contains(s.message(), word)) << s.message();
  }
}

TEST(Builder, BuildsAndRunsPassThroughModel) {
  TempDir dir;
  const std::string path = SaveModel(PassThroughModel(), dir.File("pass.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(path, {});
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  ASSERT_EQ(net->inputs.size(), 1u);
  ASSERT_EQ(net->outputs.size(), 1u);
  EXPECT_EQ(net->tensors[net->inputs[0]].shape, (Shape{2, 3}));
  StatusOr<std::unique_ptr<CpuEngine>> engine = CpuEngine::Create(*net);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Tensor in = Tensor::FromVector<float>({1, -2, 3, -4, 5, -6}, {2, 3});
  std::vector<Tensor> out;
  ASSERT_TRUE((*engine)->Run({in}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data<float>()[5], -6.f);
}

TEST(Builder, DynamicInputNeedsShapes) {
  TempDir dir;
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  AddOutput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  const std::string path = SaveModel(m, dir.File("dyn.onnx"));
  StatusOr<NetworkDef> net = BuildNetwork(path, {});
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(net.status().message(), path)) << net.status().message();
  EXPECT_TRUE(Contains(net.status().message(), "'x'")) << net.status().message();
  BuildOptions options;
  options.shapes["x"] = {4, 3};
  net = BuildNetwork(path, options);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  EXPECT_EQ(net->tensors[net->inputs[0]].shape, (Shape{4, 3}));
  options.shapes["x"] = {4, 5};  // contradicts the static dimension
  net = BuildNetwork(path, options);
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(net.status().message(), path));
  // CheckModel cannot report nodes before the inputs are bound.
  StatusOr<SupportReport> report = CheckModel(path, {});
  EXPECT_EQ(report.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(report.status().message(), path));
}

TEST(Builder, ImportErrorsNameTheFileOnce) {
  TempDir dir;
  const std::string path = dir.File("broken.onnx");
  WriteFile(path, "\xff\xff\xff");
  StatusOr<NetworkDef> net = BuildNetwork(path, {});
  EXPECT_EQ(net.status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(net.status().message().find(path), 0u) << net.status().message();
  EXPECT_EQ(net.status().message().find(path, 1), std::string::npos) << net.status().message();
  EXPECT_EQ(CheckModel(path, {}).status().code(), StatusCode::kCorrupt);
}

TEST(Builder, CheckModelReportsUnknownOperators) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddNode(m, "FrobnicateV2", {"x"}, {"a"}, "frob");
  onnx::NodeProto* custom = AddNode(m, "MyPlugin", {"x"}, {"b"}, "plugin");
  custom->set_domain("com.example");
  AddOutput(m, "a", onnx::TensorProto::FLOAT, {2, 3});
  AddOutput(m, "b", onnx::TensorProto::FLOAT, {2, 3});
  const std::string path = SaveModel(m, dir.File("unknown.onnx"));
  StatusOr<SupportReport> report = CheckModel(path, {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->nodes.size(), 2u);
  EXPECT_FALSE(report->AllSupported());
  const SupportEntry& frob = report->nodes[0];
  EXPECT_EQ(frob.node_name, "frob");
  EXPECT_EQ(frob.op_type, "FrobnicateV2");
  EXPECT_EQ(frob.status.code(), StatusCode::kUnsupported);
  EXPECT_TRUE(Contains(frob.status.message(), "'FrobnicateV2'")) << frob.status.message();
  EXPECT_TRUE(Contains(frob.status.message(), "'frob'")) << frob.status.message();
  const SupportEntry& plugin = report->nodes[1];
  EXPECT_EQ(plugin.status.code(), StatusCode::kUnsupported);
  EXPECT_TRUE(Contains(plugin.status.message(), "com.example")) << plugin.status.message();
  // BuildNetwork stops at the first unsupported node and names the file and the node.
  StatusOr<NetworkDef> net = BuildNetwork(path, {});
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(Contains(net.status().message(), path));
  EXPECT_TRUE(Contains(net.status().message(), "'frob'"));
}

TEST(Builder, CheckModelOfOperatorFreeModelIsClean) {
  TempDir dir;
  const std::string path = SaveModel(PassThroughModel(), dir.File("pass.onnx"));
  StatusOr<SupportReport> report = CheckModel(path, {});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->nodes.empty());
  EXPECT_TRUE(report->AllSupported());
}

TEST(Builder, BuildNetworkForInputsChecksTheTensors) {
  TempDir dir;
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  AddInput(m, "ids", onnx::TensorProto::INT64, {-1});
  AddOutput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  AddOutput(m, "ids", onnx::TensorProto::INT64, {-1});
  const std::string path = SaveModel(m, dir.File("two.onnx"));
  Tensor x = Tensor::FromVector<float>({1, 2, 3}, {1, 3});
  Tensor ids = Tensor::FromVector<int64_t>({4, 5}, {2});

  std::vector<std::string> bound = {"stale"};
  StatusOr<NetworkDef> net = BuildNetworkForInputs(path, {x, ids}, &bound);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  EXPECT_TRUE(bound.empty());  // nothing needed a build-time value: ids stays an input
  ASSERT_EQ(net->inputs.size(), 2u);
  EXPECT_EQ(net->tensors[net->inputs[0]].shape, (Shape{1, 3}));
  EXPECT_EQ(net->tensors[net->inputs[1]].shape, (Shape{2}));

  StatusOr<NetworkDef> few = BuildNetworkForInputs(path, {x});
  EXPECT_EQ(few.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(few.status().message(), path));
  EXPECT_TRUE(Contains(few.status().message(), "x, ids")) << few.status().message();

  StatusOr<NetworkDef> swapped = BuildNetworkForInputs(path, {ids, x});
  EXPECT_EQ(swapped.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(swapped.status().message(), "'x'")) << swapped.status().message();
  EXPECT_TRUE(Contains(swapped.status().message(), "int64")) << swapped.status().message();
}

// Reshape's shape input must be known at build time: BuildNetworkForInputs binds it.
TEST(Builder, BuildNetworkForInputsBindsShapeInputs) {
  const OpDef* reshape = GetOpDef(OpType::kReshape);
  if (reshape == nullptr || reshape->infer == nullptr || reshape->create_cpu == nullptr) {
    GTEST_SKIP() << "Reshape has no implementation in this build";
  }
  TempDir dir;
  onnx::ModelProto m = NewModel();
  AddInput(m, "data", onnx::TensorProto::FLOAT, {2, 3});
  AddInput(m, "shape", onnx::TensorProto::INT64, {2});
  AddNode(m, "Reshape", {"data", "shape"}, {"out"}, "reshape");
  AddOutput(m, "out", onnx::TensorProto::FLOAT, {-1, -1});
  const std::string path = SaveModel(m, dir.File("reshape.onnx"));
  Tensor data = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor shape = Tensor::FromVector<int64_t>({3, 2}, {2});
  std::vector<std::string> bound;
  StatusOr<NetworkDef> net = BuildNetworkForInputs(path, {data, shape}, &bound);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  EXPECT_EQ(bound, std::vector<std::string>{"shape"});
  ASSERT_EQ(net->inputs.size(), 1u);
  EXPECT_EQ(net->tensors[net->outputs[0]].shape, (Shape{3, 2}));
}

// Resize's float `scales` input is a parameter too: the node's later inputs are bound, its data
// input stays a network input.
TEST(Builder, BuildNetworkForInputsBindsFloatParameters) {
  const OpDef* resize = GetOpDef(OpType::kResize);
  if (resize == nullptr || resize->infer == nullptr || resize->create_cpu == nullptr) {
    GTEST_SKIP() << "Resize has no implementation in this build";
  }
  TempDir dir;
  onnx::ModelProto m = NewModel(13);
  AddInput(m, "X", onnx::TensorProto::FLOAT, {1, 1, 2, 2});
  AddInput(m, "scales", onnx::TensorProto::FLOAT, {4});
  onnx::NodeProto* n = AddNode(m, "Resize", {"X", "", "scales"}, {"Y"}, "resize");
  onnx::AttributeProto* mode = n->add_attribute();
  mode->set_name("mode");
  mode->set_type(onnx::AttributeProto::STRING);
  mode->set_s("nearest");
  AddOutput(m, "Y", onnx::TensorProto::FLOAT, {-1, -1, -1, -1});
  const std::string path = SaveModel(m, dir.File("resize.onnx"));
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor scales = Tensor::FromVector<float>({1, 1, 2, 2}, {4});
  std::vector<std::string> bound;
  StatusOr<NetworkDef> net = BuildNetworkForInputs(path, {x, scales}, &bound);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  EXPECT_EQ(bound, std::vector<std::string>{"scales"});
  ASSERT_EQ(net->inputs.size(), 1u);
  EXPECT_EQ(net->tensors[net->inputs[0]].name, "X");
  EXPECT_EQ(net->tensors[net->outputs[0]].shape, (Shape{1, 1, 4, 4}));
}

// Weights in an external file reach the kernels: y = x + w with w stored in "weights.bin".
TEST(Builder, RunsModelWithExternalWeights) {
  const OpDef* add = GetOpDef(OpType::kAdd);
  if (add == nullptr || add->infer == nullptr || add->create_cpu == nullptr) {
    GTEST_SKIP() << "Add has no implementation in this build";
  }
  TempDir dir;
  const std::vector<float> w = {0.5f, -1.f, 2.f, 8.f};
  WriteFile(dir.File("weights.bin"),
            std::string(16, '\x7f') + std::string(reinterpret_cast<const char*>(w.data()), w.size() * sizeof(float)));
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 4});
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name("w");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(4);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  for (auto [k, v] : {std::pair<const char*, const char*>{"location", "weights.bin"}, {"offset", "16"}}) {
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  }
  AddNode(m, "Add", {"x", "w"}, {"y"}, "add");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {-1, 4});
  const std::string path = SaveModel(m, dir.File("ext.onnx"));
  BuildOptions options;
  options.shapes["x"] = {2, 4};
  StatusOr<NetworkDef> net = BuildNetwork(path, options);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  StatusOr<std::unique_ptr<CpuEngine>> engine = CpuEngine::Create(*net);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Tensor x = Tensor::FromVector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4});
  std::vector<Tensor> out;
  ASSERT_TRUE((*engine)->Run({x}, &out).ok());
  ASSERT_EQ(out[0].shape(), (Shape{2, 4}));
  const float want[] = {1.5f, 1.f, 5.f, 12.f, 5.5f, 5.f, 9.f, 16.f};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[0].data<float>()[i], want[i]) << i;
}

// ---- The edgert CLI, run as a child process. ----

struct CliResult {
  int code = -1;
  std::string out;  // stdout and stderr together
};

CliResult RunCli(const TempDir& dir, const std::string& args) {
  CliResult r;
  const std::string log = dir.File("cli.log");
  const std::string cmd = "'" + EdgertBinary() + "' " + args + " > '" + log + "' 2>&1";
  int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(log);
  return r;
}

class BuilderCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(EdgertBinary().c_str(), X_OK) != 0) GTEST_SKIP() << "edgert binary not built: " << EdgertBinary();
  }
  TempDir dir_;
};

TEST_F(BuilderCli, UsageErrorsExitTwo) {
  for (const char* args : {"", "frobnicate", "run", "run m.onnx --rtol abc", "run m.onnx --bogus",
                           "check m.onnx --shapes a:1xx2", "run m.onnx --seed -1", "help nothing"}) {
    SCOPED_TRACE(args);
    CliResult r = RunCli(dir_, args);
    EXPECT_EQ(r.code, 2) << r.out;
    EXPECT_EQ(r.out.rfind("edgert: ", 0), 0u) << r.out;
  }
  CliResult v = RunCli(dir_, "--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_TRUE(Contains(v.out, "edgert 0.")) << v.out;
  EXPECT_EQ(RunCli(dir_, "--help").code, 0);
  CliResult help = RunCli(dir_, "help run");
  EXPECT_EQ(help.code, 0);
  EXPECT_TRUE(Contains(help.out, "--compare")) << help.out;
}

TEST_F(BuilderCli, ModelErrorsExitOne) {
  const std::string bad = dir_.File("bad.onnx");
  WriteFile(bad, "\xff\xff\xff\xff");
  CliResult r = RunCli(dir_, "check '" + bad + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "edgert: ")) << r.out;
  EXPECT_TRUE(Contains(r.out, bad)) << r.out;
  r = RunCli(dir_, "run '" + bad + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  r = RunCli(dir_, "run '" + dir_.File("absent.onnx") + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "absent.onnx")) << r.out;
}

TEST_F(BuilderCli, CheckPrintsTableAndSummary) {
  onnx::ModelProto m = PassThroughModel();
  AddNode(m, "FrobnicateV2", {"x"}, {"a"}, "frob");
  AddOutput(m, "a", onnx::TensorProto::FLOAT, {2, 3});
  const std::string path = SaveModel(m, dir_.File("unknown.onnx"));
  CliResult r = RunCli(dir_, "check '" + path + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "frob")) << r.out;
  EXPECT_TRUE(Contains(r.out, "1 nodes, 1 unsupported: FrobnicateV2")) << r.out;
  const std::string clean = SaveModel(PassThroughModel(), dir_.File("pass.onnx"));
  r = RunCli(dir_, "check '" + clean + "'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "0 nodes, 0 unsupported")) << r.out;
}

TEST_F(BuilderCli, RunComparesAndSavesOutputs) {
  const std::string path = SaveModel(PassThroughModel(), dir_.File("pass.onnx"));
  Tensor in = Tensor::FromVector<float>({1, -2, 3, -4, 5, -6}, {2, 3});
  ASSERT_TRUE(WriteNpy(dir_.File("in.npy"), in).ok());
  ASSERT_EQ(system(("mkdir -p '" + dir_.File("ref") + "' '" + dir_.File("wrong") + "'").c_str()), 0);
  ASSERT_TRUE(WriteTensorPb(dir_.File("ref/output_0.pb"), in, "x").ok());
  Tensor off = in.Clone();
  off.data<float>()[0] += 0.5f;
  ASSERT_TRUE(WriteNpy(dir_.File("wrong/output_0.npy"), off).ok());

  CliResult r = RunCli(dir_, "run '" + path + "' --inputs '" + dir_.File("in.npy") + "' --compare '" +
                                 dir_.File("ref") + "' --save-outputs '" + dir_.File("saved/deep") + "'");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "output 0 'x': float32 2x3")) << r.out;
  StatusOr<Tensor> saved = ReadTensorFile(dir_.File("saved/deep/output_0.npy"));
  ASSERT_TRUE(saved.ok()) << saved.status().ToString();
  EXPECT_EQ(std::memcmp(saved->raw(), in.raw(), in.bytes()), 0);

  r = RunCli(dir_, "run '" + path + "' --inputs '" + dir_.File("in.npy") + "' --compare '" + dir_.File("wrong") + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "FAIL")) << r.out;
  // A loose tolerance accepts the same difference (relative L2 = 0.5 / ||ref|| ~ 0.053).
  r = RunCli(dir_, "run '" + path + "' --inputs '" + dir_.File("in.npy") + "' --compare '" + dir_.File("wrong") +
                       "' --rtol 0.1");
  EXPECT_EQ(r.code, 0) << r.out;

  // Random inputs are reproducible with --seed.
  r = RunCli(dir_, "run '" + path + "' --seed 7 --save-outputs '" + dir_.File("s1") + "'");
  ASSERT_EQ(r.code, 0) << r.out;
  r = RunCli(dir_, "run '" + path + "' --seed 7 --compare '" + dir_.File("s1") + "' --rtol 0");
  EXPECT_EQ(r.code, 0) << r.out;
  r = RunCli(dir_, "run '" + path + "' --seed 8 --compare '" + dir_.File("s1") + "'");
  EXPECT_EQ(r.code, 1) << r.out;

  // Wrong number, dtype or shape of inputs is a model error naming the input.
  Tensor ints = Tensor::FromVector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  ASSERT_TRUE(WriteNpy(dir_.File("ints.npy"), ints).ok());
  r = RunCli(dir_, "run '" + path + "' --inputs '" + dir_.File("ints.npy") + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "'x'")) << r.out;
  r = RunCli(dir_, "run '" + path + "' --inputs '" + dir_.File("in.npy") + "' '" + dir_.File("in.npy") + "'");
  EXPECT_EQ(r.code, 1) << r.out;
}

TEST_F(BuilderCli, RunShapesRandomInputsOfDynamicModels) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  AddOutput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  const std::string path = SaveModel(m, dir_.File("dyn.onnx"));
  CliResult r = RunCli(dir_, "run '" + path + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "--shapes x:")) << r.out;
  r = RunCli(dir_, "run '" + path + "' --shapes x:5x3");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "output 0 'x': float32 5x3")) << r.out;
  r = RunCli(dir_, "run '" + path + "' --shapes y:5x3");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "'y'")) << r.out;
  // With --inputs, --shapes must agree with the files.
  ASSERT_TRUE(WriteNpy(dir_.File("in.npy"), *Tensor::Create(DataType::kFloat32, {2, 3})).ok());
  r = RunCli(dir_, "run '" + path + "' --shapes x:2x3 --inputs '" + dir_.File("in.npy") + "'");
  EXPECT_EQ(r.code, 0) << r.out;
  r = RunCli(dir_, "run '" + path + "' --shapes x:4x3 --inputs '" + dir_.File("in.npy") + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "'x'")) << r.out;
  EXPECT_TRUE(Contains(r.out, "4x3")) << r.out;
}

TEST_F(BuilderCli, RunComparesIntegersExactly) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "ids", onnx::TensorProto::INT64, {3});
  AddOutput(m, "ids", onnx::TensorProto::INT64, {3});
  const std::string path = SaveModel(m, dir_.File("ids.onnx"));
  ASSERT_TRUE(WriteNpy(dir_.File("in.npy"), Tensor::FromVector<int64_t>({1, 2, 3}, {3})).ok());
  ASSERT_EQ(system(("mkdir -p '" + dir_.File("ref") + "'").c_str()), 0);
  ASSERT_TRUE(WriteNpy(dir_.File("ref/output_0.npy"), Tensor::FromVector<int64_t>({1, 2, 4}, {3})).ok());
  CliResult r = RunCli(
      dir_, "run '" + path + "' --inputs '" + dir_.File("in.npy") + "' --compare '" + dir_.File("ref") + "' --rtol 1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "1 of 3 elements differ")) << r.out;
  ASSERT_TRUE(WriteNpy(dir_.File("ref/output_0.npy"), Tensor::FromVector<int64_t>({1, 2}, {2})).ok());
  r = RunCli(dir_, "run '" + path + "' --inputs '" + dir_.File("in.npy") + "' --compare '" + dir_.File("ref") + "'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_TRUE(Contains(r.out, "shape")) << r.out;
}

}  // namespace
}  // namespace edgert
