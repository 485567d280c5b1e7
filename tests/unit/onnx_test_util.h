// Helpers for tests that build ONNX models in memory (onnx::ModelProto) and write them to a
// fresh temporary directory. No binary test data is committed.
#pragma once

#include <gtest/gtest.h>
#include <limits.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "onnx/onnx.pb.h"

// In a test body: skips the test with `message` when a Python test oracle (numpy, onnx,
// onnxruntime) is missing, but fails it where EDGERT_REQUIRE_TEST_ORACLES is set (.ci/run sets it:
// there scripts/setup.sh must have installed them, and a skipped oracle test would prove nothing).
#define EDGERT_SKIP_WITHOUT_ORACLE(message)                                                         \
  do {                                                                                              \
    if (std::getenv("EDGERT_REQUIRE_TEST_ORACLES") != nullptr) {                                    \
      FAIL() << message << " (EDGERT_REQUIRE_TEST_ORACLES is set: scripts/setup.sh installs them)"; \
    }                                                                                               \
    GTEST_SKIP() << message;                                                                        \
  } while (0)

namespace edgert {
namespace testing_util {

// A directory under $TMPDIR (or /tmp), removed with its files when the object dies.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/edgert_test_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    if (!path_.empty()) {
      // Leaving a temporary directory behind is harmless, so the exit status is ignored.
      std::string cmd = "rm -rf '" + path_ + "'";
      int rc = std::system(cmd.c_str());
      (void)rc;
    }
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A model importing ai.onnx `opset` with an empty graph named "test".
inline onnx::ModelProto NewModel(int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("edgert-test");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("test");
  return m;
}

// Appends a tensor value info; dims < 0 become dim_param "N<i>".
inline onnx::ValueInfoProto* AddValueInfo(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list,
                                          const std::string& name, int elem_type, const std::vector<int64_t>& dims) {
  onnx::ValueInfoProto* v = list->Add();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* d = shape->add_dim();
    if (dims[i] >= 0) {
      d->set_dim_value(dims[i]);
    } else {
      d->set_dim_param("N" + std::to_string(i));
    }
  }
  return v;
}

inline onnx::ValueInfoProto* AddInput(onnx::ModelProto& m, const std::string& name, int elem_type,
                                      const std::vector<int64_t>& dims) {
  return AddValueInfo(m.mutable_graph()->mutable_input(), name, elem_type, dims);
}

inline onnx::ValueInfoProto* AddOutput(onnx::ModelProto& m, const std::string& name, int elem_type,
                                       const std::vector<int64_t>& dims) {
  return AddValueInfo(m.mutable_graph()->mutable_output(), name, elem_type, dims);
}

// n floats uniform in [-1, 1) from `seed` (weights and inputs of test models).
inline std::vector<float> RandomFloats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& f : v) f = u(rng);
  return v;
}

// A float initializer stored as raw_data.
inline onnx::TensorProto* AddFloatInitializer(onnx::ModelProto& m, const std::string& name,
                                              const std::vector<int64_t>& dims, const std::vector<float>& values) {
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  return t;
}

inline onnx::NodeProto* AddNode(onnx::ModelProto& m, const std::string& op_type, const std::vector<std::string>& inputs,
                                const std::vector<std::string>& outputs, const std::string& name = "") {
  onnx::NodeProto* n = m.mutable_graph()->add_node();
  n->set_op_type(op_type);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

inline std::string SaveModel(const onnx::ModelProto& m, const std::string& path) {
  std::string bytes;
  EXPECT_TRUE(m.SerializeToString(&bytes));
  WriteFile(path, bytes);
  return path;
}

// A model whose only output is its only input ("x", float 2x3): needs no operator.
inline onnx::ModelProto PassThroughModel() {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {2, 3});
  AddOutput(m, "x", onnx::TensorProto::FLOAT, {2, 3});
  return m;
}

// The edgert CLI built beside this test binary (<build>/builder/edgert).
inline std::string EdgertBinary() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string exe(buf, static_cast<size_t>(n));
  std::string tests_dir = exe.substr(0, exe.find_last_of('/'));
  return tests_dir.substr(0, tests_dir.find_last_of('/')) + "/builder/edgert";
}

}  // namespace testing_util
}  // namespace edgert
