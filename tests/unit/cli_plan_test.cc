// The edgert CLI's plan commands, run as a child process: build -> inspect (text and JSON) -> run
// the plan against outputs saved from the ONNX model; damaged and foreign plans; --cache hits.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "dynamic_model.h"
#include "edgert/plan.h"
#include "edgert/plan_cache.h"
#include "edgert/tensor.h"
#include "onnx/tensor_file.h"
#include "onnx_test_util.h"
#include "ops/op_util.h"

namespace edgert {
namespace {

using namespace testing_util;  // NOLINT

bool Contains(const std::string& s, const std::string& w) { return s.find(w) != std::string::npos; }

struct CliResult {
  int code = -1;
  std::string out;  // stdout only
  std::string err;  // stderr only
};

// Runs `edgert ARGS` with `env` prefixed (e.g. "EDGERT_CACHE_DIR=..."), capturing both streams.
CliResult RunCli(const TempDir& dir, const std::string& args, const std::string& env = "") {
  CliResult r;
  const std::string out = dir.File("cli.out"), err = dir.File("cli.err");
  const std::string cmd = env + " '" + EdgertBinary() + "' " + args + " > '" + out + "' 2> '" + err + "'";
  int status = std::system(cmd.c_str());
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

// y = Relu(MatMul(x, w) + b), x float [3, 16], w [16, 8] random, b [8]; node names that need JSON
// escaping (quote, backslash, newline, a control byte, invalid UTF-8) and one in UTF-8.
onnx::ModelProto MlpModel() {
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> w(16 * 8), b(8);
  for (float& v : w) v = u(rng);
  for (float& v : b) v = u(rng);
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {3, 16});
  AddFloatInitializer(m, "w", {16, 8}, w);
  AddFloatInitializer(m, "b", {8}, b);
  AddNode(m, "MatMul", {"x", "w"}, {"xw"}, "mat\"mul\\1\n");
  AddNode(m, "Add", {"xw", "b"}, {"pre"}, std::string("add\x01\xff") + "\xc3\xa9");
  AddNode(m, "Relu", {"pre"}, {"y"}, "relu");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {3, 8});
  return m;
}

// True when python3 parses `json` and finds `expr` (a Python expression over d) true.
bool PythonJsonCheck(const TempDir& dir, const std::string& json, const std::string& expr) {
  WriteFile(dir.File("doc.json"), json);
  WriteFile(dir.File("check.py"),
            "import json,sys\nd=json.load(open(sys.argv[1],encoding='utf-8'))\nsys.exit(0 if (" + expr + ") else 1)\n");
  const std::string cmd = "python3 '" + dir.File("check.py") + "' '" + dir.File("doc.json") + "' > /dev/null 2>&1";
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class BuilderCliPlan : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(EdgertBinary().c_str(), X_OK) != 0) GTEST_SKIP() << "edgert binary not built: " << EdgertBinary();
    model_ = SaveModel(MlpModel(), dir_.File("mlp.onnx"));
    plan_ = dir_.File("mlp.plan");
  }
  std::string Q(const std::string& s) const { return "'" + s + "'"; }
  TempDir dir_;
  std::string model_;
  std::string plan_;
};

TEST_F(BuilderCliPlan, BuildInspectAndRunMatchTheModel) {
  CliResult r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "layers: 3")) << r.out;
  EXPECT_TRUE(Contains(r.out, "tensors: 6 (2 constants)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "build time: ")) << r.out;
  EXPECT_TRUE(Contains(r.out, "plan: ")) << r.out;
  StatusOr<PlanMetadata> meta = ReadPlanMetadata(plan_);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->model_hash, *ModelContentHash(model_));
  EXPECT_EQ(meta->device, CpuDeviceKey());
  EXPECT_EQ(meta->edgert_version, EDGERT_VERSION_STRING);
  EXPECT_TRUE(Contains(r.out, "plan: " + std::to_string(meta->file_bytes) + " bytes")) << r.out;

  r = RunCli(dir_, "inspect " + Q(plan_));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* word :
       {"format version:     2", "device:             cpu", "usable here:        yes", "MatMul", "Relu",
        "'w' float32 16x8 const", "'y' float32 3x8", "totals: 3 layers, 6 tensors", "@arena+", "memory: arena "}) {
    EXPECT_TRUE(Contains(r.out, word)) << word << "\n" << r.out;
  }
  EXPECT_TRUE(Contains(r.out, meta->model_hash)) << r.out;
  EXPECT_TRUE(Contains(r.out, "mat\"mul\\1\\x0a")) << r.out;  // control characters shown as \xNN
  EXPECT_FALSE(Contains(r.out, "\x01")) << r.out;

  r = RunCli(dir_, "inspect " + Q(plan_) + " --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(
      PythonJsonCheck(dir_, r.out,
                      "d['format_version']==2 and d['device']['backend']=='cpu' and d['usable_here'] and "
                      "len(d['layers'])==3 and d['layers'][0]['op']=='MatMul' and "
                      "d['layers'][0]['name']=='mat\"mul\\\\1\\n' and "
                      "d['layers'][1]['name']=='add\\x01\\ufffd\\u00e9' and "
                      "d['layers'][0]['inputs'][1]['shape']==[16,8] and d['layers'][0]['inputs'][1]['constant'] "
                      "and d['totals']['layers']==3 and 'arena_offset' in d['layers'][0]['outputs'][0] and "
                      "0 < d['memory']['lower_bound_bytes'] <= d['memory']['arena_bytes'] <= "
                      "d['memory']['no_reuse_bytes'] and d['model_hash']=='" +
                          meta->model_hash + "'"))
      << r.out;

  // Outputs of the ONNX model on fixed inputs, then the plan compared against them: identical.
  Tensor x = *Tensor::Create(DataType::kFloat32, {3, 16});
  for (int i = 0; i < 48; ++i) x.data<float>()[i] = 0.1f * static_cast<float>(i % 17) - 0.7f;
  ASSERT_TRUE(WriteNpy(dir_.File("x.npy"), x).ok());
  r = RunCli(dir_,
             "run " + Q(model_) + " --inputs " + Q(dir_.File("x.npy")) + " --save-outputs " + Q(dir_.File("ref")));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "run " + Q(plan_) + " --inputs " + Q(dir_.File("x.npy")) + " --compare " + Q(dir_.File("ref")) +
                       " --rtol 0");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "output 0 'y': float32 3x8  rel L2 0 ok")) << r.out;
  EXPECT_TRUE(Contains(r.out, "PASS")) << r.out;
  // Random inputs with one seed are the same for the model and its plan.
  r = RunCli(dir_, "run " + Q(model_) + " --seed 11 --save-outputs " + Q(dir_.File("seeded")));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "run " + Q(plan_) + " --seed 11 --compare " + Q(dir_.File("seeded")) + " --rtol 0");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "run " + Q(plan_) + " --seed 12 --compare " + Q(dir_.File("seeded")) + " --rtol 0");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "FAIL")) << r.out;
  // A plan's file name need not end in .plan: the magic decides.
  ASSERT_EQ(std::rename(plan_.c_str(), dir_.File("mlp.bin").c_str()), 0);
  r = RunCli(dir_, "run " + Q(dir_.File("mlp.bin")) + " --inputs " + Q(dir_.File("x.npy")) + " --compare " +
                       Q(dir_.File("ref")) + " --rtol 0");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

// --input-format / --output-format: a plan with float16 bindings runs float16 input files, writes
// float16 outputs that compare by value with float32 references, and says so in inspect; bad
// formats are refused naming the flag or the tensor; a plan's formats cannot be changed by bench.
TEST_F(BuilderCliPlan, InputAndOutputFormats) {
  CliResult r =
      RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --device cpu --input-format fp16 --output-format=fp16");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "inspect " + Q(plan_));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "'x' float32 3x16 binding fp16:chw float16 3x16")) << r.out;
  EXPECT_TRUE(Contains(r.out, "'y' float32 3x8 binding fp16:chw float16 3x8")) << r.out;
  r = RunCli(dir_, "inspect " + Q(plan_) + " --json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(PythonJsonCheck(dir_, r.out,
                              "d['inputs'][0]['binding_format']=='fp16:chw' and "
                              "d['inputs'][0]['binding_dtype']=='float16' and d['inputs'][0]['binding_shape']==[3,16]"))
      << r.out;

  Tensor x = *Tensor::Create(DataType::kFloat32, {3, 16});
  Tensor x16 = *Tensor::Create(DataType::kFloat16, {3, 16});
  for (int i = 0; i < 48; ++i) {
    x.data<float>()[i] = 0.125f * static_cast<float>(i % 17) - 0.75f;  // exact in float16
    x16.data<uint16_t>()[i] = FloatToHalf(x.data<float>()[i]);
  }
  ASSERT_TRUE(WriteNpy(dir_.File("x.npy"), x).ok());
  ASSERT_TRUE(WriteNpy(dir_.File("x16.npy"), x16).ok());
  r = RunCli(dir_, "run " + Q(model_) + " --device cpu --inputs " + Q(dir_.File("x.npy")) + " --save-outputs " +
                       Q(dir_.File("ref")));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "run " + Q(plan_) + " --inputs " + Q(dir_.File("x16.npy")) + " --compare " + Q(dir_.File("ref")) +
                       " --rtol 2e-3");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "output 0 'y': float16 3x8  rel L2 ")) << r.out;
  EXPECT_TRUE(Contains(r.out, "(float16 against float32) ok")) << r.out;
  // The float32 file does not fit the float16 binding.
  r = RunCli(dir_, "run " + Q(plan_) + " --inputs " + Q(dir_.File("x.npy")));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "float16")) << r.err;

  r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --device cpu --input-format fp16:hwc");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "input 'x' has shape 3x16; --input-format fp16:hwc (channels-last) needs rank >= 3"))
      << r.err;
  r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --device cpu --output-format fp16,fp16");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "--output-format lists 2 formats; the network has 1 outputs")) << r.err;
  r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --input-format bf16");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "--input-format: unknown I/O format 'bf16'")) << r.err;
  r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --input-format fp16 --input-format fp32");
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "--input-format given twice")) << r.err;

  r = RunCli(dir_, "bench " + Q(model_) + " --device cpu --input-format fp16 --output-format fp16 --iterations 3");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "bench " + Q(plan_) + " --input-format fp16 --iterations 3");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "its input and output formats were chosen when it was built")) << r.err;
}

// --best is the fastest precision the backend runs: on the CPU reference engine that is FP32 (where
// --fp16 is refused), so the plan records fp32.
TEST_F(BuilderCliPlan, BestOnTheCpuBuildsAnFp32Plan) {
  CliResult r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --device cpu --best");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  StatusOr<PlanMetadata> meta = ReadPlanMetadata(plan_);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  EXPECT_EQ(meta->precision, Precision::kFp32);
  r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --device cpu --fp16");
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(Contains(r.err, "--fp16 needs the CUDA backend")) << r.err;
}

TEST_F(BuilderCliPlan, PlanInputsMustMatchTheFixedShapes) {
  ASSERT_EQ(RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_)).code, 0);
  Tensor wrong = *Tensor::Create(DataType::kFloat32, {2, 16});
  ASSERT_TRUE(WriteNpy(dir_.File("wrong.npy"), wrong).ok());
  CliResult r = RunCli(dir_, "run " + Q(plan_) + " --inputs " + Q(dir_.File("wrong.npy")));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "edgert: ")) << r.err;
  EXPECT_TRUE(Contains(r.err, "3x16")) << r.err;
  r = RunCli(dir_, "run " + Q(plan_) + " --shapes x:4x16");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "fixed")) << r.err;
  r = RunCli(dir_, "run " + Q(plan_) + " --inputs " + Q(dir_.File("wrong.npy")) + " " + Q(dir_.File("wrong.npy")));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "1 inputs (x)")) << r.err;
}

TEST_F(BuilderCliPlan, DamagedOrForeignPlansAreRefused) {
  ASSERT_EQ(RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_)).code, 0);
  const std::string good = ReadFile(plan_);
  // One flipped bit in the weights (content checksum) and one in the header (header checksum).
  for (size_t offset : {good.size() - 8, size_t{20}}) {
    SCOPED_TRACE(offset);
    std::string bytes = good;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x04);
    const std::string bad = dir_.File("bad.plan");
    WriteFile(bad, bytes);
    for (const std::string cmd : {"inspect ", "inspect --json ", "run "}) {
      CliResult r = RunCli(dir_, cmd + Q(bad));
      EXPECT_EQ(r.code, 1) << cmd << r.out << r.err;
      EXPECT_TRUE(Contains(r.err, "edgert: ")) << r.err;
      EXPECT_TRUE(Contains(r.err, "checksum mismatch: the plan is corrupt")) << r.err;
      EXPECT_TRUE(Contains(r.err, bad)) << r.err;
    }
  }
  // Not a plan at all, but named like one.
  WriteFile(dir_.File("text.plan"), "hello, world");
  CliResult r = RunCli(dir_, "inspect " + Q(dir_.File("text.plan")));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "not an edgert plan")) << r.err;

  // An intact plan for another device: shown, marked unusable, exit 1; run refuses it.
  StatusOr<LoadedPlan> loaded = LoadedPlan::Open(plan_);
  ASSERT_TRUE(loaded.ok());
  PlanMetadata fake = loaded->metadata();
  fake.device.backend = "cuda";
  fake.device.gpu_name = "NVIDIA H100";
  fake.device.cc_major = 9;
  StatusOr<std::vector<uint8_t>> bytes = SerializePlan(loaded->network(), fake);
  ASSERT_TRUE(bytes.ok());
  const std::string foreign = dir_.File("gpu.plan");
  ASSERT_TRUE(WritePlanFile(foreign, *bytes).ok());
  r = RunCli(dir_, "inspect " + Q(foreign));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "usable here:        no: ")) << r.out;
  EXPECT_TRUE(Contains(r.out, "MatMul")) << r.out;
  EXPECT_TRUE(Contains(r.err, "NVIDIA H100")) << r.err;
  r = RunCli(dir_, "inspect --json " + Q(foreign));
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(PythonJsonCheck(dir_, r.out, "not d['usable_here'] and 'H100' in d['reason']")) << r.out;
  r = RunCli(dir_, "run " + Q(foreign));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "NVIDIA H100")) << r.err;
}

TEST_F(BuilderCliPlan, CacheBuildThenHit) {
  const std::string env = "EDGERT_CACHE_DIR=" + Q(dir_.File("cache/nested"));
  CliResult r = RunCli(dir_, "build " + Q(model_) + " --cache", env);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "cache: built " + dir_.File("cache/nested/"))) << r.out;
  EXPECT_TRUE(Contains(r.out, "layers: 3")) << r.out;
  r = RunCli(dir_, "build " + Q(model_) + " --cache", env);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "cache: hit " + dir_.File("cache/nested/"))) << r.out;
  // The same model under another name hits too; --cache-dir overrides the environment; with -o the
  // cached plan is also copied out and runs.
  const std::string copy = SaveModel(MlpModel(), dir_.File("renamed.onnx"));
  r = RunCli(dir_, "build " + Q(copy) + " --cache -o " + Q(plan_), env);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "cache: hit")) << r.out;
  EXPECT_EQ(RunCli(dir_, "run " + Q(plan_) + " --seed 1").code, 0);
  r = RunCli(dir_, "build " + Q(model_) + " --cache-dir " + Q(dir_.File("other")), env);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "cache: built " + dir_.File("other/"))) << r.out;
  // A damaged entry is rebuilt and the reason printed.
  const size_t start = r.out.find(dir_.File("other/"));
  const std::string entry = r.out.substr(start, r.out.find('\n', start) - start);
  std::string bytes = ReadFile(entry);
  ASSERT_FALSE(bytes.empty()) << entry;
  bytes[bytes.size() - 3] = static_cast<char>(bytes[bytes.size() - 3] ^ 1);
  WriteFile(entry, bytes);
  r = RunCli(dir_, "build " + Q(model_) + " --cache-dir " + Q(dir_.File("other")));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "cache: rebuilt " + entry)) << r.out;
  EXPECT_TRUE(Contains(r.out, "rebuilt because: ")) << r.out;
  EXPECT_TRUE(Contains(r.out, "checksum mismatch")) << r.out;
}

TEST_F(BuilderCliPlan, UsageAndHelp) {
  for (const char* args : {"build", "build m.onnx", "build m.onnx -o", "build m.onnx -o a -o b", "build m.onnx --frob",
                           "inspect", "inspect a b", "inspect a --yaml", "build m.onnx --cache --shapes x:"}) {
    SCOPED_TRACE(args);
    CliResult r = RunCli(dir_, args);
    EXPECT_EQ(r.code, 2) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("edgert: ", 0), 0u) << r.err;
  }
  CliResult r = RunCli(dir_, "help build");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "--cache")) << r.out;
  EXPECT_TRUE(Contains(r.out, "EDGERT_CACHE_DIR")) << r.out;
  EXPECT_TRUE(Contains(r.out, "--tactic-report")) << r.out;
  // The tactic report is for CUDA builds; a CPU build takes the option and has no tactics to list.
  r = RunCli(dir_, "build " + Q(model_) + " -o " + Q(plan_) + " --device cpu --tactic-report");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_FALSE(Contains(r.out, "tactics per layer")) << r.out;
  EXPECT_TRUE(Contains(r.out, "tactic report: the cpu backend has no tactics")) << r.out;
  r = RunCli(dir_, "help inspect");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.out, "--json")) << r.out;
  r = RunCli(dir_, "inspect --help");
  EXPECT_TRUE(Contains(r.out, "usage: edgert inspect")) << r.out;
  r = RunCli(dir_, "help");
  EXPECT_TRUE(Contains(r.out, "build MODEL.onnx")) << r.out;
  EXPECT_TRUE(Contains(r.out, "inspect PLAN")) << r.out;
  EXPECT_TRUE(Contains(r.out, "run MODEL.onnx|PLAN")) << r.out;
  // A model error in build exits 1 and names the file.
  r = RunCli(dir_, "build " + Q(dir_.File("absent.onnx")) + " -o " + Q(plan_));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "absent.onnx")) << r.err;
}

TEST_F(BuilderCliPlan, ShapesFixTheDynamicDimensions) {
  onnx::ModelProto m = NewModel();
  AddInput(m, "x", onnx::TensorProto::FLOAT, {-1, 3});
  AddNode(m, "Relu", {"x"}, {"y"}, "relu");
  AddOutput(m, "y", onnx::TensorProto::FLOAT, {-1, 3});
  const std::string dyn = SaveModel(m, dir_.File("dyn.onnx"));
  CliResult r = RunCli(dir_, "build " + Q(dyn) + " -o " + Q(plan_));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_TRUE(Contains(r.err, "'x'")) << r.err;
  r = RunCli(dir_, "build " + Q(dyn) + " -o " + Q(plan_) + " --shapes x:5x3");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "inspect " + Q(plan_));
  EXPECT_TRUE(Contains(r.out, "'x' float32 5x3")) << r.out;
  r = RunCli(dir_, "run " + Q(plan_) + " --seed 3");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "output 0 'y': float32 5x3")) << r.out;
  // Each set of shapes is its own cache entry.
  const std::string cache = "--cache-dir " + Q(dir_.File("cache"));
  r = RunCli(dir_, "build " + Q(dyn) + " " + cache + " --shapes x:5x3");
  EXPECT_TRUE(Contains(r.out, "cache: built")) << r.out;
  r = RunCli(dir_, "build " + Q(dyn) + " " + cache + " --shapes x:6x3");
  EXPECT_TRUE(Contains(r.out, "cache: built")) << r.out;
  r = RunCli(dir_, "build " + Q(dyn) + " " + cache + " --shapes x:5x3");
  EXPECT_TRUE(Contains(r.out, "cache: hit")) << r.out;
}

TEST_F(BuilderCliPlan, BatchProfileBuildRunInspectAndBench) {
  const std::string dyn = SaveModel(DynamicBatchClassifier(), dir_.File("dyn.onnx"));
  const std::string range = " --min-shapes x:1x3x8x8 --opt-shapes x:2x3x8x8 --max-shapes x:4x3x8x8";
  CliResult r = RunCli(dir_, "build " + Q(dyn) + " -o " + Q(plan_) + range);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "batch profile: min 1, opt 2, max 4")) << r.out;
  r = RunCli(dir_, "inspect " + Q(plan_));
  EXPECT_TRUE(Contains(r.out, "batch profile:      min 1, opt 2, max 4")) << r.out;
  EXPECT_TRUE(Contains(r.out, "'x' float32 4x3x8x8")) << r.out;  // shapes at max
  // Random inputs at opt, or at the batch --shapes gives; the outputs match a fixed build's.
  r = RunCli(dir_, "run " + Q(plan_) + " --seed 3");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "output 0 'probs': float32 2x10")) << r.out;
  const std::string fixed = dir_.File("fixed3.plan"), ref = dir_.File("ref3");
  r = RunCli(dir_, "build " + Q(dyn) + " -o " + Q(fixed) + " --shapes x:3x3x8x8");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "run " + Q(fixed) + " --seed 4 --save-outputs " + Q(ref));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = RunCli(dir_, "run " + Q(plan_) + " --seed 4 --shapes x:3x3x8x8 --compare " + Q(ref) + " --rtol 1e-7");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "float32 3x10") && Contains(r.out, "PASS")) << r.out;
  r = RunCli(dir_, "run " + Q(plan_) + " --shapes x:5x3x8x8");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(Contains(r.err, "batch 5 is outside the engine's profile [1, 4]")) << r.err;
  r = RunCli(dir_, "bench " + Q(plan_) + " --iterations 2 --duration 0 --warmup 0 --shapes x:3x3x8x8");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(Contains(r.out, "batch: 3 of the plan's profile [1, 4]")) << r.out;
  // A missing part of the range is a usage error naming it.
  r = RunCli(dir_, "build " + Q(dyn) + " -o " + Q(plan_) + " --min-shapes x:1x3x8x8 --max-shapes x:4x3x8x8");
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(Contains(r.err, "--opt-shapes is missing")) << r.err;
}

}  // namespace
}  // namespace edgert
