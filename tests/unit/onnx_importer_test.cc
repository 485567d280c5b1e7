#include "onnx/onnx_importer.h"

#include <gtest/gtest.h>

#include <cstring>

#include "onnx_test_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

::testing::AssertionResult HasError(const Status& s, StatusCode code, const std::vector<std::string>& words) {
  if (s.code() != code) {
    return ::testing::AssertionFailure() << "code " << StatusCodeName(s.code()) << ", expected " << StatusCodeName(code)
                                         << ": " << s.ToString();
  }
  for (const std::string& w : words) {
    if (s.message().find(w) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks '" << w << "': " << s.message();
    }
  }
  return ::testing::AssertionSuccess();
}

StatusOr<Graph> ImportModel(const onnx::ModelProto& m, const TempDir& dir, const std::string& file = "model.onnx") {
  return ImportOnnxFile(SaveModel(m, dir.File(file)));
}

TEST(OnnxImporter, ImportsMinimalModel) {
  TempDir dir;
  onnx::ModelProto m = NewModel(17);
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  AddFloatInitializer(m, "w", {3}, {1.f, 2.f, 3.f});
  AddNode(m, "Mul", {"x", "w"}, {"y"}, "mul");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {-1, 3});
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->opset, 17);
  EXPECT_EQ(g->name, "test");
  ASSERT_EQ(g->inputs.size(), 1u);
  const Value& x = g->values[g->inputs[0]];
  EXPECT_EQ(x.name, "x");
  EXPECT_EQ(x.dtype, DataType::kFloat32);
  ASSERT_TRUE(x.has_shape);
  EXPECT_EQ(x.shape, (Shape{-1, 3}));
  ASSERT_EQ(x.dim_params.size(), 2u);
  EXPECT_EQ(x.dim_params[0], "N0");
  EXPECT_EQ(x.dim_params[1], "");
  const Value& w = g->values[g->Find("w")];
  ASSERT_TRUE(w.constant.defined());
  EXPECT_EQ(w.constant.data<float>()[2], 3.f);
  ASSERT_EQ(g->nodes.size(), 1u);
  const Node& n = g->nodes[0];
  EXPECT_EQ(n.name, "mul");
  EXPECT_TRUE(n.known);
  EXPECT_EQ(n.op, OpType::kMul);
  EXPECT_EQ(n.opset, 17);
  EXPECT_EQ(n.inputs, (std::vector<int>{g->Find("x"), g->Find("w")}));
  ASSERT_EQ(g->outputs.size(), 1u);
  EXPECT_EQ(g->values[g->outputs[0]].name, "y");
  EXPECT_EQ(g->values[g->outputs[0]].shape, (Shape{-1, 3}));
}

TEST(OnnxImporter, TruncatedFileIsCorrupt) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddFloatInitializer(m, "big", {1000}, std::vector<float>(1000, 0.5f));
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  const std::string path = dir.File("truncated.onnx");
  WriteFile(path, bytes.substr(0, bytes.size() / 2));
  StatusOr<Graph> g = ImportOnnxFile(path);
  EXPECT_TRUE(HasError(g.status(), StatusCode::kCorrupt, {path, "not a valid ONNX protobuf"}));
}

TEST(OnnxImporter, GarbageBytesAreCorrupt) {
  TempDir dir;
  const std::string path = dir.File("garbage.onnx");
  WriteFile(path, std::string(64, '\xff'));
  EXPECT_TRUE(HasError(ImportOnnxFile(path).status(), StatusCode::kCorrupt, {path, "not a valid ONNX protobuf"}));
  // Text that happens to parse as unknown fields still lacks a graph.
  const std::string text = dir.File("text.onnx");
  WriteFile(text, std::string("\x08\x01", 2));
  EXPECT_TRUE(HasError(ImportOnnxFile(text).status(), StatusCode::kCorrupt, {text, "no graph"}));
  const std::string empty = dir.File("empty.onnx");
  WriteFile(empty, "");
  EXPECT_TRUE(HasError(ImportOnnxFile(empty).status(), StatusCode::kCorrupt, {empty, "empty"}));
}

TEST(OnnxImporter, MissingModelFileIsNotFound) {
  TempDir dir;
  const std::string path = dir.File("nope.onnx");
  EXPECT_TRUE(HasError(ImportOnnxFile(path).status(), StatusCode::kNotFound, {path}));
}

TEST(OnnxImporter, ImportBytesNamesDisplayName) {
  const char junk[] = "\xff\xff\xff\xff";
  StatusOr<Graph> g = ImportOnnxBytes(junk, 4, "", "fuzz-input");
  EXPECT_TRUE(HasError(g.status(), StatusCode::kCorrupt, {"fuzz-input"}));
}

onnx::TensorProto* AddExternal(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& dims,
                               const std::string& location, const std::string& offset, const std::string& length) {
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    if (v.empty()) return;
    auto* e = t->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", offset);
  add("length", length);
  return t;
}

std::string FloatBytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

TEST(OnnxImporter, ReadsExternalData) {
  TempDir dir;
  WriteFile(dir.File("weights.bin"), std::string(8, '\0') + FloatBytes({1.5f, -2.f, 4.f}));
  onnx::ModelProto m = PassThroughModel();
  AddExternal(m, "w", {3}, "weights.bin", "8", "12");
  AddExternal(m, "w_nolen", {2}, "weights.bin", "12", "");
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const Tensor& w = g->values[g->Find("w")].constant;
  ASSERT_EQ(w.num_elements(), 3);
  EXPECT_EQ(w.data<float>()[0], 1.5f);
  EXPECT_EQ(w.data<float>()[2], 4.f);
  const Tensor& w2 = g->values[g->Find("w_nolen")].constant;
  EXPECT_EQ(w2.data<float>()[0], -2.f);
}

TEST(OnnxImporter, MissingExternalDataFileIsNotFound) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddExternal(m, "conv1.weight", {3}, "missing.bin", "0", "12");
  EXPECT_TRUE(
      HasError(ImportModel(m, dir).status(), StatusCode::kNotFound, {"model.onnx", "missing.bin", "conv1.weight"}));
}

TEST(OnnxImporter, ExternalDataOffsetPastEndIsCorrupt) {
  TempDir dir;
  WriteFile(dir.File("weights.bin"), FloatBytes({1.f, 2.f}));
  onnx::ModelProto m = PassThroughModel();
  AddExternal(m, "fc.bias", {1}, "weights.bin", "100", "4");
  EXPECT_TRUE(HasError(ImportModel(m, dir).status(), StatusCode::kCorrupt,
                       {"model.onnx", "fc.bias", "offset 100", "past the end"}));
  onnx::ModelProto m2 = PassThroughModel();
  AddExternal(m2, "fc.weight", {2}, "weights.bin", "4", "8");
  EXPECT_TRUE(HasError(ImportModel(m2, dir).status(), StatusCode::kCorrupt, {"fc.weight", "past the end"}));
  onnx::ModelProto m3 = PassThroughModel();
  AddExternal(m3, "fc.scale", {2}, "weights.bin", "0", "4");
  EXPECT_TRUE(HasError(ImportModel(m3, dir).status(), StatusCode::kCorrupt, {"fc.scale", "length is 4"}));
  onnx::ModelProto m4 = PassThroughModel();
  AddExternal(m4, "fc.x", {2}, "weights.bin", "-4", "");
  EXPECT_TRUE(HasError(ImportModel(m4, dir).status(), StatusCode::kCorrupt, {"fc.x", "'-4'"}));
}

TEST(OnnxImporter, ExternalDataMustStayInModelDirectory) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddExternal(m, "w", {1}, "/etc/passwd", "0", "4");
  EXPECT_TRUE(HasError(ImportModel(m, dir).status(), StatusCode::kInvalidArgument, {"'w'", "absolute"}));
  onnx::ModelProto m2 = PassThroughModel();
  AddExternal(m2, "w", {1}, "sub/../../secret.bin", "0", "4");
  EXPECT_TRUE(HasError(ImportModel(m2, dir).status(), StatusCode::kInvalidArgument, {"'w'", ".."}));
  // Bytes with no directory cannot reach external data at all.
  std::string bytes;
  onnx::ModelProto m3 = PassThroughModel();
  AddExternal(m3, "w", {1}, "weights.bin", "0", "4");
  ASSERT_TRUE(m3.SerializeToString(&bytes));
  EXPECT_TRUE(HasError(ImportOnnxBytes(bytes.data(), bytes.size(), "", "mem").status(), StatusCode::kUnsupported,
                       {"mem", "'w'", "weights.bin"}));
}

TEST(OnnxImporter, TensorClaimingTwoGigabytesInTinyFileIsCorrupt) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddFloatInitializer(m, "huge", {int64_t{1} << 29}, {1.f});  // claims 2 GiB, holds 4 bytes
  EXPECT_TRUE(HasError(ImportModel(m, dir).status(), StatusCode::kCorrupt, {"model.onnx", "'huge'", "4 bytes"}));
  onnx::ModelProto m2 = PassThroughModel();
  onnx::TensorProto* t = m2.mutable_graph()->add_initializer();
  t->set_name("huge_typed");
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->add_dims(int64_t{1} << 29);
  t->add_float_data(1.f);
  EXPECT_TRUE(HasError(ImportModel(m2, dir).status(), StatusCode::kCorrupt, {"'huge_typed'", "float_data"}));
  WriteFile(dir.File("small.bin"), FloatBytes({1.f}));
  onnx::ModelProto m3 = PassThroughModel();
  AddExternal(m3, "huge_ext", {int64_t{1} << 29}, "small.bin", "0", "");
  EXPECT_TRUE(HasError(ImportModel(m3, dir).status(), StatusCode::kCorrupt, {"'huge_ext'", "past the end"}));
}

// Paddle2ONNX writes dynamic dimensions as dim_value -1: they import as unknown dimensions; other
// negative values are refused with the value named.
TEST(OnnxImporter, DimValueMinusOneIsDynamic) {
  TempDir dir;
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {1, 3});
  AddOutput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  auto* dims = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  dims->mutable_dim(0)->set_dim_value(-1);
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const Value& x = g->values[static_cast<size_t>(g->inputs[0])];
  EXPECT_EQ(x.shape, (Shape{-1, 3}));
  dims->mutable_dim(0)->set_dim_value(-2);
  EXPECT_TRUE(HasError(ImportModel(m, dir).status(), StatusCode::kInvalidArgument, {"'x'", "negative dimension -2"}));
}

TEST(OnnxImporter, OverflowingDimsAreCorrupt) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddFloatInitializer(m, "ovf", {int64_t{1} << 40, int64_t{1} << 40}, {1.f});
  EXPECT_TRUE(HasError(ImportModel(m, dir).status(), StatusCode::kCorrupt, {"'ovf'", "overflows"}));
  onnx::ModelProto m2 = PassThroughModel();
  AddFloatInitializer(m2, "neg", {-2}, {1.f});
  EXPECT_TRUE(HasError(ImportModel(m2, dir).status(), StatusCode::kCorrupt, {"'neg'", "negative"}));
  onnx::ModelProto m3 = PassThroughModel();
  AddFloatInitializer(m3, "limit", {int64_t{1} << 33}, {1.f});  // 32 GiB: over the per-tensor limit
  EXPECT_TRUE(HasError(ImportModel(m3, dir).status(), StatusCode::kOutOfRange, {"'limit'"}));
}

TEST(OnnxImporter, ReadsEveryTypedStorage) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  auto add = [&](const char* name, int type) {
    onnx::TensorProto* t = m.mutable_graph()->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    t->add_dims(2);
    return t;
  };
  auto* f = add("f", onnx::TensorProto::FLOAT);
  f->add_float_data(1.25f);
  f->add_float_data(-3.f);
  auto* d = add("d", onnx::TensorProto::DOUBLE);
  d->add_double_data(0.5);
  d->add_double_data(1e300);
  auto* i64 = add("i64", onnx::TensorProto::INT64);
  i64->add_int64_data(-7);
  i64->add_int64_data(int64_t{1} << 40);
  auto* i8 = add("i8", onnx::TensorProto::INT8);
  i8->add_int32_data(-128);
  i8->add_int32_data(127);
  auto* u16 = add("u16", onnx::TensorProto::UINT16);
  u16->add_int32_data(65535);
  u16->add_int32_data(1);
  auto* h = add("h", onnx::TensorProto::FLOAT16);
  h->add_int32_data(0x3C00);  // 1.0
  h->add_int32_data(0xC000);  // -2.0
  auto* b = add("b", onnx::TensorProto::BOOL);
  b->add_int32_data(1);
  b->add_int32_data(0);
  auto* u64 = add("u64", onnx::TensorProto::UINT64);
  u64->add_uint64_data(~uint64_t{0});
  u64->add_uint64_data(3);
  auto* u32 = add("u32", onnx::TensorProto::UINT32);
  u32->add_uint64_data(4000000000u);
  u32->add_uint64_data(5);
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto c = [&](const char* name) { return g->values[g->Find(name)].constant; };
  EXPECT_EQ(c("f").data<float>()[1], -3.f);
  EXPECT_EQ(c("d").data<double>()[1], 1e300);
  EXPECT_EQ(c("i64").data<int64_t>()[1], int64_t{1} << 40);
  EXPECT_EQ(c("i8").dtype(), DataType::kInt8);
  EXPECT_EQ(c("i8").data<int8_t>()[0], -128);
  EXPECT_EQ(c("u16").data<uint16_t>()[0], 65535);
  EXPECT_EQ(c("h").data<uint16_t>()[1], 0xC000);
  EXPECT_TRUE(c("b").data<bool>()[0]);
  EXPECT_FALSE(c("b").data<bool>()[1]);
  EXPECT_EQ(c("u64").data<uint64_t>()[0], ~uint64_t{0});
  EXPECT_EQ(c("u32").data<uint32_t>()[0], 4000000000u);
  EXPECT_EQ(g->values[g->Find("u32")].shape, (Shape{2}));
}

TEST(OnnxImporter, LargeAndBoolRawInitializers) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  std::vector<float> big(5000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.5f;
  AddFloatInitializer(m, "big", {50, 100}, big);  // large enough to be taken over, not copied
  onnx::TensorProto* b = m.mutable_graph()->add_initializer();
  b->set_name("flags");
  b->set_data_type(onnx::TensorProto::BOOL);
  b->add_dims(3);
  b->set_raw_data(std::string("\x00\x02\x01", 3));  // any non-zero byte is true
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const Tensor& t = g->values[g->Find("big")].constant;
  ASSERT_EQ(t.shape(), (Shape{50, 100}));
  EXPECT_EQ(t.data<float>()[0], 0.f);
  EXPECT_EQ(t.data<float>()[4999], 2499.5f);
  const Tensor& f = g->values[g->Find("flags")].constant;
  const auto* raw = static_cast<const uint8_t*>(f.raw());
  EXPECT_EQ(raw[0], 0);
  EXPECT_EQ(raw[1], 1);
  EXPECT_EQ(raw[2], 1);
}

TEST(OnnxImporter, RejectsUnholdableAndSparseInitializers) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  onnx::TensorProto* s = m.mutable_graph()->add_initializer();
  s->set_name("labels");
  s->set_data_type(onnx::TensorProto::STRING);
  s->add_string_data("cat");
  EXPECT_TRUE(HasError(ImportModel(m, dir).status(), StatusCode::kUnsupported, {"'labels'", "data type 8"}));
  onnx::ModelProto m2 = PassThroughModel();
  onnx::SparseTensorProto* sp = m2.mutable_graph()->add_sparse_initializer();
  sp->mutable_values()->set_name("sparse_w");
  EXPECT_TRUE(HasError(ImportModel(m2, dir).status(), StatusCode::kUnsupported, {"'sparse_w'", "sparse"}));
  onnx::ModelProto m3 = PassThroughModel();
  m3.mutable_graph()->add_initializer()->set_name("untyped");
  EXPECT_TRUE(HasError(ImportModel(m3, dir).status(), StatusCode::kCorrupt, {"'untyped'", "no data type"}));
}

TEST(OnnxImporter, UnsupportedOpsetNamesIt) {
  TempDir dir;
  for (int64_t opset : {6, 22}) {
    onnx::ModelProto m = PassThroughModel();
    m.mutable_opset_import(0)->set_version(opset);
    EXPECT_TRUE(HasError(ImportModel(m, dir).status(), StatusCode::kUnsupported,
                         {"model.onnx", "opset " + std::to_string(opset), "11 to 21"}));
  }
  onnx::ModelProto ok = PassThroughModel();
  ok.mutable_opset_import(0)->set_version(9);  // Upsample-era models are accepted
  ok.mutable_opset_import(0)->set_domain("ai.onnx");
  StatusOr<Graph> g = ImportModel(ok, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->opset, 9);
  onnx::ModelProto none = PassThroughModel();
  none.mutable_opset_import(0)->set_domain("ai.onnx.ml");
  EXPECT_TRUE(HasError(ImportModel(none, dir).status(), StatusCode::kUnsupported, {"no ai.onnx opset", "ai.onnx.ml"}));
}

TEST(OnnxImporter, UnknownAndForeignOpsAreImportedAsUnknown) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddNode(m, "FrobnicateV2", {"x"}, {"a"}, "frob");
  onnx::NodeProto* n = AddNode(m, "Relu", {"a"}, {"b"}, "ms_relu");
  n->set_domain("com.microsoft");
  AddNode(m, "Relu", {"b"}, {"c"});
  AddOutput(m, "c", onnx::TensorProto::FLOAT, {2, 3});
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->nodes.size(), 3u);
  EXPECT_FALSE(g->nodes[0].known);
  EXPECT_EQ(g->nodes[0].op_type, "FrobnicateV2");
  EXPECT_FALSE(g->nodes[1].known);
  EXPECT_EQ(g->nodes[1].domain, "com.microsoft");
  EXPECT_TRUE(g->nodes[2].known);
  EXPECT_EQ(g->nodes[2].name, "Relu_2");
}

TEST(OnnxImporter, NamesNodesAndOutputsUniquely) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddNode(m, "Relu", {"x"}, {"r"}, "Relu_1");
  AddNode(m, "Relu", {"r"}, {"r2"});                         // generated "Relu_1": taken
  AddNode(m, "Dropout", {"r2"}, {"", "mask", ""}, "drop");   // "" in the middle, trailing ""
  AddNode(m, "Clip", {"r2", "", "x"}, {"clipped"}, "drop");  // duplicate name, empty input
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->nodes.size(), 4u);
  EXPECT_EQ(g->nodes[0].name, "Relu_1");
  EXPECT_EQ(g->nodes[1].name, "Relu_1_1");
  EXPECT_EQ(g->nodes[2].name, "drop");
  ASSERT_EQ(g->nodes[2].outputs.size(), 2u);
  EXPECT_EQ(g->values[g->nodes[2].outputs[0]].name, "drop:0");
  EXPECT_EQ(g->values[g->nodes[2].outputs[1]].name, "mask");
  EXPECT_EQ(g->nodes[3].name, "drop_1");
  EXPECT_EQ(g->nodes[3].inputs[1], -1);
}

TEST(OnnxImporter, ConvertsAttributes) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  onnx::NodeProto* n = AddNode(m, "Custom", {"x"}, {"y"}, "n");
  auto attr = [&](const char* name, onnx::AttributeProto::AttributeType type) {
    onnx::AttributeProto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(type);
    return a;
  };
  attr("i", onnx::AttributeProto::INT)->set_i(-3);
  attr("f", onnx::AttributeProto::FLOAT)->set_f(0.25f);
  attr("s", onnx::AttributeProto::STRING)->set_s("NOTSET");
  auto* ints = attr("ints", onnx::AttributeProto::INTS);
  ints->add_ints(1);
  ints->add_ints(2);
  auto* floats = attr("floats", onnx::AttributeProto::FLOATS);
  floats->add_floats(0.5f);
  auto* strs = attr("strings", onnx::AttributeProto::STRINGS);
  strs->add_strings("a");
  strs->add_strings("b");
  auto* t = attr("t", onnx::AttributeProto::TENSOR)->mutable_t();
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(1);
  t->add_int64_data(42);
  onnx::AttributeProto* untyped = n->add_attribute();  // old exporters omit the type
  untyped->set_name("legacy");
  untyped->set_i(7);
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const Attributes& a = g->nodes[0].attrs;
  EXPECT_EQ(*a.GetInt("i"), -3);
  EXPECT_EQ(*a.GetFloat("f"), 0.25f);
  EXPECT_EQ(*a.GetString("s"), "NOTSET");
  EXPECT_EQ(*a.GetInts("ints"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(*a.GetFloats("floats"), (std::vector<float>{0.5f}));
  EXPECT_EQ(std::get<std::vector<std::string>>(a.all().at("strings")), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(a.GetTensor("t")->data<int64_t>()[0], 42);
  EXPECT_EQ(*a.GetInt("legacy"), 7);

  // A graph attribute (a subgraph) leaves the node unbuildable.
  onnx::ModelProto m2 = PassThroughModel();
  onnx::NodeProto* relu = AddNode(m2, "Relu", {"x"}, {"y"}, "with_graph");
  onnx::AttributeProto* ga = relu->add_attribute();
  ga->set_name("body");
  ga->set_type(onnx::AttributeProto::GRAPH);
  ga->mutable_g()->set_name("body");
  StatusOr<Graph> g2 = ImportModel(m2, dir);
  ASSERT_TRUE(g2.ok()) << g2.status().ToString();
  EXPECT_FALSE(g2->nodes[0].known);

  // A tensor attribute with a bad size names the attribute and the node.
  onnx::ModelProto m3 = PassThroughModel();
  onnx::NodeProto* bad = AddNode(m3, "Custom", {"x"}, {"y"}, "bad_node");
  onnx::AttributeProto* ba = bad->add_attribute();
  ba->set_name("value");
  ba->set_type(onnx::AttributeProto::TENSOR);
  ba->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
  ba->mutable_t()->add_dims(4);
  ba->mutable_t()->set_raw_data("abc");
  EXPECT_TRUE(HasError(ImportModel(m3, dir).status(), StatusCode::kCorrupt, {"'value'", "'bad_node'", "3 bytes"}));
}

TEST(OnnxImporter, ConstantNodesBecomeConstants) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  onnx::NodeProto* c1 = AddNode(m, "Constant", {}, {"c_tensor"}, "c1");
  onnx::AttributeProto* a1 = c1->add_attribute();
  a1->set_name("value");
  a1->set_type(onnx::AttributeProto::TENSOR);
  a1->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  a1->mutable_t()->add_dims(2);
  a1->mutable_t()->add_int64_data(5);
  a1->mutable_t()->add_int64_data(-1);
  onnx::NodeProto* c2 = AddNode(m, "Constant", {}, {"c_float"});
  onnx::AttributeProto* a2 = c2->add_attribute();
  a2->set_name("value_float");
  a2->set_type(onnx::AttributeProto::FLOAT);
  a2->set_f(2.5f);
  onnx::NodeProto* c3 = AddNode(m, "Constant", {}, {"c_ints"});
  onnx::AttributeProto* a3 = c3->add_attribute();
  a3->set_name("value_ints");
  a3->set_type(onnx::AttributeProto::INTS);
  a3->add_ints(1);
  a3->add_ints(2);
  a3->add_ints(3);
  AddOutput(m, "c_float", onnx::TensorProto::FLOAT, {});
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_TRUE(g->nodes.empty());
  const Value& t = g->values[g->Find("c_tensor")];
  EXPECT_EQ(t.dtype, DataType::kInt64);
  EXPECT_EQ(t.shape, (Shape{2}));
  EXPECT_EQ(t.constant.data<int64_t>()[1], -1);
  const Value& f = g->values[g->Find("c_float")];
  EXPECT_EQ(f.shape, Shape{});
  EXPECT_TRUE(f.has_shape);
  EXPECT_EQ(f.constant.data<float>()[0], 2.5f);
  EXPECT_EQ(g->values[g->Find("c_ints")].constant.num_elements(), 3);

  onnx::ModelProto bad = PassThroughModel();
  onnx::NodeProto* cs = AddNode(bad, "Constant", {}, {"s"}, "string_const");
  onnx::AttributeProto* as = cs->add_attribute();
  as->set_name("value_string");
  as->set_type(onnx::AttributeProto::STRING);
  as->set_s("hello");
  EXPECT_TRUE(HasError(ImportModel(bad, dir).status(), StatusCode::kUnsupported, {"'string_const'", "value_string"}));
  onnx::ModelProto empty = PassThroughModel();
  AddNode(empty, "Constant", {}, {"e"}, "no_value");
  EXPECT_TRUE(HasError(ImportModel(empty, dir).status(), StatusCode::kInvalidArgument, {"'no_value'"}));
  // A Constant whose declared type disagrees with its value.
  onnx::ModelProto clash = PassThroughModel();
  onnx::NodeProto* cc = AddNode(clash, "Constant", {}, {"k"}, "typed");
  onnx::AttributeProto* ac = cc->add_attribute();
  ac->set_name("value_int");
  ac->set_type(onnx::AttributeProto::INT);
  ac->set_i(1);
  AddOutput(clash, "k", onnx::TensorProto::FLOAT, {});
  EXPECT_TRUE(HasError(ImportModel(clash, dir).status(), StatusCode::kInvalidArgument, {"'typed'", "'k'", "float32"}));
}

TEST(OnnxImporter, InitializerListedAsInputIsConstant) {
  TempDir dir;
  onnx::ModelProto m = PassThroughModel();
  AddInput(m, "w", onnx::TensorProto::FLOAT, {2});
  AddFloatInitializer(m, "w", {2}, {1.f, 2.f});
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->inputs.size(), 1u);
  EXPECT_EQ(g->values[g->inputs[0]].name, "x");
  EXPECT_TRUE(g->values[g->Find("w")].constant.defined());
  // ... but its declaration must agree with its data.
  onnx::ModelProto bad = PassThroughModel();
  AddInput(bad, "w", onnx::TensorProto::FLOAT, {3});
  AddFloatInitializer(bad, "w", {2}, {1.f, 2.f});
  EXPECT_TRUE(HasError(ImportModel(bad, dir).status(), StatusCode::kInvalidArgument, {"'w'", "shape 3"}));
}

TEST(OnnxImporter, InconsistentDeclarationsAreErrors) {
  TempDir dir;
  onnx::ModelProto shape = NewModel();
  AddInput(shape, "x", onnx::TensorProto::FLOAT, {2, 3});
  AddOutput(shape, "x", onnx::TensorProto::FLOAT, {3, 2});
  EXPECT_TRUE(
      HasError(ImportModel(shape, dir).status(), StatusCode::kInvalidArgument, {"model.onnx", "'x'", "3x2", "2x3"}));
  onnx::ModelProto rank = NewModel();
  AddInput(rank, "x", onnx::TensorProto::FLOAT, {2, 3});
  AddValueInfo(rank.mutable_graph()->mutable_value_info(), "x", onnx::TensorProto::FLOAT, {6});
  AddOutput(rank, "x", onnx::TensorProto::FLOAT, {2, 3});
  EXPECT_TRUE(HasError(ImportModel(rank, dir).status(), StatusCode::kInvalidArgument, {"'x'", "shape 6"}));
  onnx::ModelProto dtype = NewModel();
  AddInput(dtype, "x", onnx::TensorProto::FLOAT, {2});
  AddOutput(dtype, "x", onnx::TensorProto::INT64, {2});
  EXPECT_TRUE(HasError(ImportModel(dtype, dir).status(), StatusCode::kInvalidArgument, {"'x'", "int64", "float32"}));
  // A symbolic dimension agrees with any value.
  onnx::ModelProto sym = NewModel();
  AddInput(sym, "x", onnx::TensorProto::FLOAT, {-1, 3});
  AddOutput(sym, "x", onnx::TensorProto::FLOAT, {4, -1});
  StatusOr<Graph> g = ImportModel(sym, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->values[g->Find("x")].shape, (Shape{4, 3}));
}

TEST(OnnxImporter, RejectsBrokenGraphStructure) {
  TempDir dir;
  onnx::ModelProto writes_input = PassThroughModel();
  AddNode(writes_input, "Relu", {"x"}, {"x"}, "self_loop");
  EXPECT_TRUE(HasError(ImportModel(writes_input, dir).status(), StatusCode::kInvalidArgument,
                       {"'self_loop'", "graph input 'x'"}));
  onnx::ModelProto twice = PassThroughModel();
  AddNode(twice, "Relu", {"x"}, {"y"}, "first");
  AddNode(twice, "Relu", {"x"}, {"y"}, "second");
  EXPECT_TRUE(HasError(ImportModel(twice, dir).status(), StatusCode::kInvalidArgument, {"'second'", "'first'", "'y'"}));
  onnx::ModelProto orphan = PassThroughModel();
  AddOutput(orphan, "ghost", onnx::TensorProto::FLOAT, {1});
  EXPECT_TRUE(HasError(ImportModel(orphan, dir).status(), StatusCode::kInvalidArgument, {"'ghost'"}));
  onnx::ModelProto dup_input = PassThroughModel();
  AddInput(dup_input, "x", onnx::TensorProto::FLOAT, {2, 3});
  EXPECT_TRUE(HasError(ImportModel(dup_input, dir).status(), StatusCode::kInvalidArgument, {"'x'", "twice"}));
  onnx::ModelProto no_op = PassThroughModel();
  AddNode(no_op, "", {"x"}, {"y"}, "nameless_op");
  EXPECT_TRUE(HasError(ImportModel(no_op, dir).status(), StatusCode::kInvalidArgument, {"'nameless_op'", "op_type"}));
}

TEST(OnnxImporter, InputsWithoutTensorTypeStayUndefined) {
  TempDir dir;
  onnx::ModelProto m = NewModel();
  onnx::ValueInfoProto* seq = m.mutable_graph()->add_input();
  seq->set_name("seq");
  seq->mutable_type()->mutable_sequence_type();
  AddInput(m, "bf", 16 /* BFLOAT16 */, {2});
  onnx::ValueInfoProto* noshape = m.mutable_graph()->add_input();
  noshape->set_name("noshape");
  noshape->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::ValueInfoProto* scalar = m.mutable_graph()->add_input();
  scalar->set_name("scalar");
  scalar->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  AddOutput(m, "scalar", onnx::TensorProto::FLOAT, {});
  StatusOr<Graph> g = ImportModel(m, dir);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->inputs.size(), 4u);
  EXPECT_EQ(g->values[g->inputs[0]].dtype, DataType::kUndefined);
  EXPECT_FALSE(g->values[g->inputs[0]].has_shape);
  EXPECT_EQ(g->values[g->inputs[1]].dtype, DataType::kUndefined);
  EXPECT_TRUE(g->values[g->inputs[1]].has_shape);
  EXPECT_EQ(g->values[g->inputs[2]].dtype, DataType::kFloat32);
  EXPECT_FALSE(g->values[g->inputs[2]].has_shape);
  EXPECT_TRUE(g->values[g->inputs[3]].has_shape);  // the output declares it as a scalar
  EXPECT_EQ(g->values[g->inputs[3]].shape, Shape{});
}

}  // namespace
}  // namespace edgert
