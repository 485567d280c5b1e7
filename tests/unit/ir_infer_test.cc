// IR inference: binding build shapes, topological order, folding of shape subgraphs, lowering.
#include <gtest/gtest.h>

#include "edgert/cpu_engine.h"
#include "ir/graph.h"
#include "ir/infer.h"
#include "ir_test_util.h"

namespace edgert {
namespace {

using testing::AddConst;
using testing::AddInput;
using testing::AddNode;

// x[N,3,4] -> Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape(x) : PyTorch's flatten(1).
Graph FlattenByShapeChain() {
  Graph g;
  g.opset = 17;
  AddInput(g, "x", DataType::kFloat32, {-1, 3, 4}, {"N", "", ""});
  AddConst(g, "zero", Tensor::Scalar<int64_t>(0));
  AddConst(g, "axes0", Tensor::FromVector<int64_t>({0}, {1}));
  AddConst(g, "minus1", Tensor::FromVector<int64_t>({-1}, {1}));
  AddNode(g, "Shape", "shape", {"x"}, {"s"});
  AddNode(g, "Gather", "gather", {"s", "zero"}, {"n"});
  AddNode(g, "Unsqueeze", "unsq", {"n", "axes0"}, {"n1"});
  Node& concat = AddNode(g, "Concat", "concat", {"n1", "minus1"}, {"target"});
  concat.attrs.Set("axis", int64_t{0});
  AddNode(g, "Reshape", "reshape", {"x", "target"}, {"y"});
  g.outputs.push_back(g.Find("y"));
  return g;
}

TEST(IrInfer, FoldsShapeChainAndLowersOneLayer) {
  Graph g = FlattenByShapeChain();
  InferOptions opt;
  opt.input_shapes["x"] = {2, 3, 4};
  Status s = InferGraph(g, opt);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const Value& y = g.values[g.Find("y")];
  EXPECT_EQ(y.shape, (Shape{2, 12}));
  const Value& target = g.values[g.Find("target")];
  ASSERT_TRUE(target.constant.defined());
  EXPECT_EQ(*target.constant.ToInt64Vector(), (std::vector<int64_t>{2, -1}));
  auto net = LowerGraph(g);
  ASSERT_TRUE(net.ok()) << net.status().ToString();
  ASSERT_EQ(net->layers.size(), 1u);
  EXPECT_EQ(net->layers[0].op, OpType::kReshape);

  auto engine = CpuEngine::Create(*net);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  Tensor x = *Tensor::Create(DataType::kFloat32, {2, 3, 4});
  for (int i = 0; i < 24; ++i) x.data<float>()[i] = static_cast<float>(i) * 0.5f;
  std::vector<Tensor> outs;
  ASSERT_TRUE((*engine)->Run({x}, &outs).ok());
  ASSERT_EQ(outs.size(), 1u);
  EXPECT_EQ(outs[0].shape(), (Shape{2, 12}));
  EXPECT_EQ(outs[0].data<float>()[23], 11.5f);
}

TEST(IrInfer, DynamicInputWithoutShapeNamesDimension) {
  Graph g = FlattenByShapeChain();
  Status s = InferGraph(g, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("input 'x' has dynamic dimension 0 ('N')"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--shapes x:1x3x4"), std::string::npos) << s.message();
}

TEST(IrInfer, ShapeOptionChecked) {
  Graph g = FlattenByShapeChain();
  InferOptions opt;
  opt.input_shapes["x"] = {2, 3};
  Status s = InferGraph(g, opt);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("input 'x' has rank 3"), std::string::npos) << s.message();

  Graph g2 = FlattenByShapeChain();
  opt.input_shapes.clear();
  opt.input_shapes["x"] = {2, 5, 4};
  s = InferGraph(g2, opt);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("dimension 1 fixed to 3"), std::string::npos) << s.message();

  Graph g3 = FlattenByShapeChain();
  opt.input_shapes.clear();
  opt.input_shapes["image"] = {2, 3, 4};
  s = InferGraph(g3, opt);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'image', which is not an input of the model (inputs: x)"), std::string::npos);
}

TEST(IrInfer, SortsOutOfOrderNodes) {
  Graph g;
  AddInput(g, "x", DataType::kFloat32, {4});
  AddNode(g, "Relu", "second", {"a"}, {"b"});
  AddNode(g, "Neg", "first", {"x"}, {"a"});
  g.outputs.push_back(g.Find("b"));
  Status s = InferGraph(g, {});
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(g.nodes[0].name, "first");
  EXPECT_EQ(g.nodes[1].name, "second");
}

TEST(IrInfer, CycleAndUndefinedValueNamed) {
  Graph g;
  AddInput(g, "x", DataType::kFloat32, {4});
  AddNode(g, "Add", "loop_a", {"x", "b"}, {"a"});
  AddNode(g, "Relu", "loop_b", {"a"}, {"b"});
  g.outputs.push_back(g.Find("b"));
  Status s = InferGraph(g, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("part of a cycle"), std::string::npos) << s.message();

  Graph h;
  AddInput(h, "x", DataType::kFloat32, {4});
  AddNode(h, "Add", "add", {"x", "ghost"}, {"y"});
  h.outputs.push_back(h.Find("y"));
  s = InferGraph(h, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Add node 'add' reads 'ghost'"), std::string::npos) << s.message();
}

TEST(IrInfer, DeclaredShapeMismatchIsAnError) {
  Graph g;
  AddInput(g, "x", DataType::kFloat32, {2, 3});
  AddNode(g, "Transpose", "t", {"x"}, {"y"});
  int y = g.Find("y");
  g.values[y].has_shape = true;
  g.values[y].shape = {2, 3};  // a transpose gives 3x2
  g.values[y].dtype = DataType::kFloat32;
  g.outputs.push_back(y);
  Status s = InferGraph(g, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("produces 'y' with shape 3x2 but the model declares 2x3"), std::string::npos)
      << s.message();
}

TEST(IrInfer, ReportListsEveryNode) {
  Graph g;
  AddInput(g, "x", DataType::kFloat32, {4});
  AddNode(g, "Relu", "relu", {"x"}, {"a"});
  Node& custom = AddNode(g, "NonMaxSuppressionX", "nms", {"a"}, {"b"});
  custom.domain = "com.example";
  AddNode(g, "Sigmoid", "after", {"b"}, {"c"});
  g.outputs.push_back(g.Find("c"));
  std::vector<NodeReport> report;
  Status s = InferGraph(g, {}, &report);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("operator 'NonMaxSuppressionX' (domain 'com.example') of node 'nms'"),
            std::string::npos)
      << s.message();
  ASSERT_EQ(report.size(), 3u);
  EXPECT_TRUE(report[0].status.ok());
  EXPECT_EQ(report[1].status.code(), StatusCode::kUnsupported);
  EXPECT_NE(report[2].status.message().find("earlier node failed"), std::string::npos);
}

TEST(IrInfer, BoundInputValueBecomesConstant) {
  auto make = [] {
    Graph g;
    AddInput(g, "x", DataType::kFloat32, {2, 6});
    AddInput(g, "shape", DataType::kInt64, {2});
    AddNode(g, "Reshape", "reshape", {"x", "shape"}, {"y"});
    g.outputs.push_back(g.Find("y"));
    return g;
  };
  Graph g = make();
  InferOptions opt;
  opt.input_values["shape"] = Tensor::FromVector<int64_t>({3, 4}, {2});
  Status s = InferGraph(g, opt);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(g.values[g.Find("y")].shape, (Shape{3, 4}));
  auto net = LowerGraph(g);
  ASSERT_TRUE(net.ok());
  ASSERT_EQ(net->inputs.size(), 1u);
  EXPECT_EQ(net->tensors[net->inputs[0]].name, "x");

  Graph h = make();
  Status unbound = InferGraph(h, {});
  ASSERT_FALSE(unbound.ok());
  EXPECT_EQ(unbound.code(), StatusCode::kUnsupported);
  EXPECT_NE(unbound.message().find("must be known at build time"), std::string::npos) << unbound.message();
}

}  // namespace
}  // namespace edgert
