#include "onnx/tensor_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "onnx_test_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

// A tensor of `dtype` and `shape` whose bytes are a pattern distinct per element; bools are 0/1.
Tensor Pattern(DataType dtype, const Shape& shape) {
  Tensor t = *Tensor::Create(dtype, shape);
  auto* bytes = static_cast<uint8_t*>(t.raw());
  for (size_t i = 0; i < t.bytes(); ++i) {
    bytes[i] = dtype == DataType::kBool ? static_cast<uint8_t>(i % 3 == 0) : static_cast<uint8_t>(i * 37 + 11);
  }
  if (dtype == DataType::kFloat32) {
    for (int64_t i = 0; i < t.num_elements(); ++i) t.data<float>()[i] = 0.25f * static_cast<float>(i) - 1.f;
  }
  return t;
}

void ExpectSameTensor(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.bytes(), b.bytes());
  if (a.bytes()) {
    EXPECT_EQ(std::memcmp(a.raw(), b.raw(), a.bytes()), 0);
  }
}

const DataType kAllTypes[] = {DataType::kFloat32, DataType::kFloat16, DataType::kFloat64, DataType::kInt8,
                              DataType::kUInt8,   DataType::kInt16,   DataType::kUInt16,  DataType::kInt32,
                              DataType::kUInt32,  DataType::kInt64,   DataType::kUInt64,  DataType::kBool};
const Shape kShapes[] = {{2, 3}, {}, {5}, {0, 4}, {1, 2, 1, 3}};

TEST(TensorFile, NpyRoundTripEveryDtype) {
  TempDir dir;
  for (DataType dtype : kAllTypes) {
    if (dtype == DataType::kFloat64) continue;  // written for NumPy users, refused on read (below)
    for (const Shape& shape : kShapes) {
      SCOPED_TRACE(std::string(DataTypeName(dtype)) + " " + ShapeToString(shape));
      const std::string path = dir.File("t.npy");
      Tensor t = Pattern(dtype, shape);
      ASSERT_TRUE(WriteNpy(path, t).ok());
      // NumPy requires the header block to be 64-byte aligned.
      std::string bytes = ReadFile(path);
      ASSERT_GE(bytes.size(), 10u);
      size_t header = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
      EXPECT_EQ((10 + header) % 64, 0u);
      StatusOr<Tensor> back = ReadTensorFile(path);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      ExpectSameTensor(*back, t);
    }
  }
}

TEST(TensorFile, PbRoundTripEveryDtype) {
  TempDir dir;
  for (DataType dtype : kAllTypes) {
    for (const Shape& shape : kShapes) {
      SCOPED_TRACE(std::string(DataTypeName(dtype)) + " " + ShapeToString(shape));
      const std::string path = dir.File("t.pb");
      Tensor t = Pattern(dtype, shape);
      ASSERT_TRUE(WriteTensorPb(path, t, "my_tensor").ok());
      std::string name = "unchanged";
      StatusOr<Tensor> back = ReadTensorFile(path, &name);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(name, "my_tensor");
      ExpectSameTensor(*back, t);
    }
  }
}

TEST(TensorFile, ReadsTypedFieldPb) {
  TempDir dir;
  onnx::TensorProto p;
  p.set_name("input_0");
  p.set_data_type(onnx::TensorProto::INT32);
  p.add_dims(3);
  for (int v : {-5, 0, 9}) p.add_int32_data(v);
  const std::string path = dir.File("typed.pb");
  WriteFile(path, p.SerializeAsString());
  StatusOr<Tensor> t = ReadTensorFile(path);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->data<int32_t>()[0], -5);
  EXPECT_EQ(t->data<int32_t>()[2], 9);
}

TEST(TensorFile, RejectsBadPb) {
  TempDir dir;
  const std::string garbage = dir.File("garbage.pb");
  WriteFile(garbage, std::string(16, '\xff'));
  StatusOr<Tensor> g = ReadTensorFile(garbage);
  EXPECT_EQ(g.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(g.status().message().find(garbage), std::string::npos) << g.status().message();

  onnx::TensorProto p;
  p.set_name("claims_much");
  p.set_data_type(onnx::TensorProto::FLOAT);
  p.add_dims(int64_t{1} << 29);
  p.set_raw_data("tiny");
  const std::string huge = dir.File("huge.pb");
  WriteFile(huge, p.SerializeAsString());
  StatusOr<Tensor> h = ReadTensorFile(huge);
  EXPECT_EQ(h.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(h.status().message().find(huge), std::string::npos) << h.status().message();
  EXPECT_NE(h.status().message().find("'claims_much'"), std::string::npos) << h.status().message();

  const std::string missing = dir.File("missing.pb");
  StatusOr<Tensor> m = ReadTensorFile(missing);
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find(missing), std::string::npos);

  const std::string txt = dir.File("tensor.txt");
  WriteFile(txt, "1 2 3");
  StatusOr<Tensor> x = ReadTensorFile(txt);
  EXPECT_EQ(x.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(x.status().message().find(txt), std::string::npos);
}

std::string NpyWithHeader(const std::string& dict, const std::string& data) {
  std::string head("\x93NUMPY\x01\x00", 8);
  head += static_cast<char>(dict.size() & 0xFF);
  head += static_cast<char>(dict.size() >> 8);
  return head + dict + data;
}

TEST(TensorFile, RejectsBadNpy) {
  TempDir dir;
  struct Case {
    const char* file;
    std::string bytes;
    StatusCode code;
    const char* words;
  };
  const std::string four_floats(16, '\0');
  const Case cases[] = {
      {"magic.npy", "NOTNUMPY123456", StatusCode::kCorrupt, "magic"},
      {"short.npy", NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", std::string(12, '\0')),
       StatusCode::kCorrupt, "16 bytes"},
      {"long.npy", NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", four_floats),
       StatusCode::kCorrupt, "16"},
      {"header.npy", NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (4,) \n", four_floats),
       StatusCode::kCorrupt, "header"},
      {"nokey.npy", NpyWithHeader("{'descr': '<f4', 'shape': (4,), }\n", four_floats), StatusCode::kCorrupt,
       "fortran_order"},
      {"hdrlen.npy", std::string("\x93NUMPY\x01\x00\xff\xff{}", 12), StatusCode::kCorrupt, "past the end"},
      {"version.npy", std::string("\x93NUMPY\x09\x00\x02\x00{}", 12), StatusCode::kUnsupported, "version 9"},
      {"dtype.npy", NpyWithHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }\n", four_floats),
       StatusCode::kUnsupported, "<c8"},
      {"bigdim.npy",
       NpyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }\n", ""),
       StatusCode::kOutOfRange, "too large"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string path = dir.File(c.file);
    WriteFile(path, c.bytes);
    StatusOr<Tensor> t = ReadTensorFile(path);
    EXPECT_EQ(t.status().code(), c.code) << t.status().ToString();
    EXPECT_NE(t.status().message().find(path), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(c.words), std::string::npos) << t.status().message();
  }
}

// The directory of the test executable's build tree, to resolve a relative __FILE__.
std::string BuildRoot() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string exe(buf, static_cast<size_t>(n));
  std::string dir = exe.substr(0, exe.find_last_of('/'));  // build/tests
  return dir.substr(0, dir.find_last_of('/'));             // build
}

std::string SourceDir() {
  std::string file = __FILE__;
  std::string dir = file.substr(0, file.find_last_of('/'));
  return dir[0] == '/' ? dir : BuildRoot() + "/" + dir;
}

TEST(TensorFile, ReadsWhatNumpyWrites) {
  TempDir dir;
  const std::string script = SourceDir() + "/data_gen/make_npy_files.py";
  const std::string cmd = "python3 '" + script + "' '" + dir.path() + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) EDGERT_SKIP_WITHOUT_ORACLE("python3 with numpy is needed to run " << script);

  StatusOr<Tensor> f32 = ReadTensorFile(dir.File("v1_f32.npy"));
  ASSERT_TRUE(f32.ok()) << f32.status().ToString();
  EXPECT_EQ(f32->shape(), (Shape{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(f32->data<float>()[i], 0.5f * static_cast<float>(i));

  StatusOr<Tensor> i64 = ReadTensorFile(dir.File("v2_i64.npy"));
  ASSERT_TRUE(i64.ok()) << i64.status().ToString();
  EXPECT_EQ(i64->dtype(), DataType::kInt64);
  EXPECT_EQ(i64->data<int64_t>()[0], -2);
  EXPECT_EQ(i64->data<int64_t>()[3], 1);

  StatusOr<Tensor> u8 = ReadTensorFile(dir.File("v3_u8.npy"));
  ASSERT_TRUE(u8.ok()) << u8.status().ToString();
  EXPECT_EQ(u8->data<uint8_t>()[2], 255);

  StatusOr<Tensor> b = ReadTensorFile(dir.File("bool.npy"));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->shape(), (Shape{1, 3}));
  EXPECT_TRUE(b->data<bool>()[0]);
  EXPECT_FALSE(b->data<bool>()[1]);

  StatusOr<Tensor> h = ReadTensorFile(dir.File("f16.npy"));
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->data<uint16_t>()[0], 0x3C00);
  EXPECT_EQ(h->data<uint16_t>()[1], 0xC000);

  StatusOr<Tensor> i8 = ReadTensorFile(dir.File("i8.npy"));
  ASSERT_TRUE(i8.ok()) << i8.status().ToString();
  EXPECT_EQ(i8->data<int8_t>()[0], -128);

  StatusOr<Tensor> scalar = ReadTensorFile(dir.File("i32_scalar.npy"));
  ASSERT_TRUE(scalar.ok()) << scalar.status().ToString();
  EXPECT_EQ(scalar->shape(), Shape{});
  EXPECT_EQ(scalar->data<int32_t>()[0], 7);

  StatusOr<Tensor> empty = ReadTensorFile(dir.File("empty_f32.npy"));
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(empty->shape(), (Shape{0, 4}));

  StatusOr<Tensor> fortran = ReadTensorFile(dir.File("fortran.npy"));
  EXPECT_EQ(fortran.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(fortran.status().message().find("Fortran"), std::string::npos);

  StatusOr<Tensor> f64 = ReadTensorFile(dir.File("f64.npy"));
  EXPECT_EQ(f64.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(f64.status().message().find("float64"), std::string::npos);
  EXPECT_NE(f64.status().message().find("f64.npy"), std::string::npos);

  StatusOr<Tensor> be = ReadTensorFile(dir.File("big_endian.npy"));
  EXPECT_EQ(be.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(be.status().message().find("big-endian"), std::string::npos);
}

}  // namespace
}  // namespace edgert
