// edgert_conformance: runs ONNX's backend node test cases through the builder and the CPU engine.
//
// Usage: edgert_conformance NODE_DIR [--expected FILE] [--write-expected FILE] [--filter TEXT]
//                           [--known-failures FILE] [--backend cpu|cuda] [--fp16] [--verbose]
//
// Steps, for every directory NODE_DIR/test_* (sorted by name):
//   1. Parse model.onnx. SKIP when a node uses an operator edgert does not list (not in kOpTable,
//      or a domain other than ai.onnx) or a graph input/output has a type edgert cannot hold
//      (strings, sequences, optionals, ...).
//   2. For every test_data_set_*: read input_K.pb, build with BuildNetworkForInputs, run the
//      CpuEngine with the inputs that did not become constants (matched to network inputs by
//      name, in the network's order), and compare each output with output_K.pb: same dtype and
//      shape; floats by relative L2 <= 1e-4 (absolute L2 when the reference is all zeros), NaN
//      exactly where the reference has NaN, infinities equal; integers and bools exactly.
//   3. Any failure makes the case FAIL with its reason; otherwise it PASSes.
// --backend cuda runs step 2 on the CUDA engine instead (arena poisoned before each run), FP32 by
// default with tolerance 1e-3, or FP16 with --fp16 and tolerance 1e-2 (DESIGN.md §4).
// Then print one line per non-passing case, the counts, a per-operator summary and the run time.
// With --expected FILE (one case name per line, '#' comments), exit 1 if a listed case does not
// pass; cases that pass but are not listed are printed, not failed. --write-expected FILE writes
// the passing cases in that format. --known-failures FILE removes the cases it lists from the
// expected list (a backend's documented exceptions).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "edgert/builder.h"
#include "edgert/cpu_engine.h"
#ifdef EDGERT_HAVE_CUDA
#include "edgert/cuda_engine.h"
#endif
#include "edgert/op_type.h"
#include "edgert/status.h"
#include "edgert/tensor.h"
#include "onnx/onnx.pb.h"
#include "onnx/tensor_file.h"
#include "op_util.h"

namespace edgert {
namespace {

namespace fs = std::filesystem;

// Where step 2 runs, and the tolerance of float comparisons (set once by Main).
struct RunConfig {
  bool cuda = false;
  bool fp16 = false;
  double tolerance = 1e-4;
};
RunConfig g_config;

enum class Outcome { kPass, kFail, kSkip };

struct CaseResult {
  std::string name;
  std::string op;  // the operator the case tests, for the per-op summary
  Outcome outcome = Outcome::kFail;
  std::string reason;  // empty for kPass
};

struct ModelFacts {
  std::vector<std::string> op_types;     // distinct, in node order
  std::vector<std::string> input_names;  // graph inputs that are not initializers, in order
  std::string skip_reason;               // non-empty: the case is skipped
};

// "ReduceMean" -> "reducemean"; "reduce_mean" -> "reducemean".
std::string Normalize(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c != '_') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool ReadFileBytes(const fs::path& path, std::string* bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *bytes = buffer.str();
  return static_cast<bool>(in) || in.eof();
}

std::string DescribeType(const onnx::TypeProto& type) {
  if (type.has_tensor_type()) {
    return "tensor of ONNX type " + std::to_string(type.tensor_type().elem_type());
  }
  if (type.has_sequence_type()) return "sequence";
  if (type.has_map_type()) return "map";
  if (type.has_optional_type()) return "optional";
  if (type.has_sparse_tensor_type()) return "sparse tensor";
  return "unknown type";
}

bool HoldableType(const onnx::TypeProto& type) {
  return type.has_tensor_type() &&
         DataTypeFromOnnx(type.tensor_type().elem_type()) != DataType::kUndefined;
}

// Reads model.onnx far enough to classify the case and to know its input names.
Status ReadModelFacts(const fs::path& model_path, ModelFacts* facts) {
  std::string bytes;
  if (!ReadFileBytes(model_path, &bytes)) return IoError("cannot read the model", model_path.string());
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return Corrupt("not an ONNX ModelProto", model_path.string());
  const onnx::GraphProto& graph = model.graph();
  std::set<std::string> initializers;
  for (const auto& init : graph.initializer()) initializers.insert(init.name());
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    const std::string node_label = node.name().empty() ? "#" + std::to_string(i) : "'" + node.name() + "'";
    if (std::find(facts->op_types.begin(), facts->op_types.end(), node.op_type()) == facts->op_types.end()) {
      facts->op_types.push_back(node.op_type());
    }
    if (!facts->skip_reason.empty()) continue;
    const std::string& domain = node.domain();
    if (!domain.empty() && domain != "ai.onnx") {
      facts->skip_reason = "operator " + domain + "." + node.op_type() + " (node " + node_label +
                           ") is outside the default domain";
    } else if (FindOpInfoByName(node.op_type()) == nullptr) {
      facts->skip_reason = "operator " + node.op_type() + " (node " + node_label + ") is not supported";
    }
  }
  for (const auto& input : graph.input()) {
    if (initializers.count(input.name())) continue;
    facts->input_names.push_back(input.name());
    if (facts->skip_reason.empty() && !HoldableType(input.type())) {
      facts->skip_reason = "input '" + input.name() + "' is a " + DescribeType(input.type());
    }
  }
  for (const auto& output : graph.output()) {
    if (facts->skip_reason.empty() && !HoldableType(output.type())) {
      facts->skip_reason = "output '" + output.name() + "' is a " + DescribeType(output.type());
    }
  }
  return Status::Ok();
}

// The operator a case tests: the longest operator name (from the model or edgert's table) that
// prefixes the case name, ignoring case and underscores ("test_reduce_mean_..." -> ReduceMean,
// "test_globalaveragepool" -> GlobalAveragePool). Falls back to the model's first operator.
std::string CaseOperator(const std::string& case_name, const ModelFacts& facts) {
  // Case-name spellings that differ from the operator name.
  static const std::map<std::string, std::string> kAliases = {
      {"LessOrEqual", "lessequal"},           {"GreaterOrEqual", "greaterequal"},
      {"BatchNormalization", "batchnorm"},    {"InstanceNormalization", "instancenorm"},
  };
  std::string key = Normalize(case_name.substr(std::min<size_t>(5, case_name.size())));  // "test_"
  std::vector<std::string> candidates = facts.op_types;
  for (const OpInfo& info : kOpTable) candidates.emplace_back(info.name);
  std::string best;
  size_t best_length = 0;
  for (const std::string& op : candidates) {
    std::vector<std::string> spellings = {Normalize(op)};
    auto alias = kAliases.find(op);
    if (alias != kAliases.end()) spellings.push_back(alias->second);
    for (const std::string& norm : spellings) {
      if (!norm.empty() && key.compare(0, norm.size(), norm) == 0 && norm.size() > best_length) {
        best = op;
        best_length = norm.size();
      }
    }
  }
  if (best.empty() && !facts.op_types.empty()) best = facts.op_types.front();
  return best.empty() ? "(no nodes)" : best;
}

std::vector<fs::path> SortedFiles(const fs::path& dir, const std::string& prefix, const std::string& suffix) {
  std::vector<std::pair<int, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string file = entry.path().filename().string();
    if (file.size() <= prefix.size() + suffix.size() || file.compare(0, prefix.size(), prefix) != 0 ||
        file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    std::string index = file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
    if (index.empty() || !std::all_of(index.begin(), index.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      continue;
    }
    found.emplace_back(std::stoi(index), entry.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> paths;
  for (auto& [index, path] : found) paths.push_back(path);
  return paths;
}

double ElementAsDouble(const Tensor& t, int64_t i) {
  if (t.dtype() == DataType::kFloat16) return HalfToFloat(t.data<uint16_t>()[i]);
  return t.GetAsDouble(i);
}

// Empty when `out` matches `ref`; otherwise why not.
std::string CompareTensors(const Tensor& out, const Tensor& ref) {
  if (out.dtype() != ref.dtype()) {
    return std::string("dtype ") + DataTypeName(out.dtype()) + ", expected " + DataTypeName(ref.dtype());
  }
  if (out.shape() != ref.shape()) {
    return "shape " + ShapeToString(out.shape()) + ", expected " + ShapeToString(ref.shape());
  }
  const int64_t n = ref.num_elements();
  if (IsFloatType(ref.dtype())) {
    double diff2 = 0.0;
    double ref2 = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      double a = ElementAsDouble(out, i);
      double b = ElementAsDouble(ref, i);
      if (std::isnan(b) || std::isnan(a)) {
        if (std::isnan(b) != std::isnan(a)) {
          return "element " + std::to_string(i) + " is " + std::to_string(a) + ", expected " + std::to_string(b);
        }
        continue;
      }
      if (std::isinf(b) || std::isinf(a)) {
        if (a != b) {
          return "element " + std::to_string(i) + " is " + std::to_string(a) + ", expected " + std::to_string(b);
        }
        continue;
      }
      diff2 += (a - b) * (a - b);
      ref2 += b * b;
    }
    double diff = std::sqrt(diff2);
    double norm = std::sqrt(ref2);
    double error = norm > 0.0 ? diff / norm : diff;
    if (!(error <= g_config.tolerance)) {
      char text[128];
      std::snprintf(text, sizeof(text), "%s L2 error %.3g > %.0e", norm > 0.0 ? "relative" : "absolute", error,
                    g_config.tolerance);
      return text;
    }
    return {};
  }
  if (ref.dtype() == DataType::kBool) {
    for (int64_t i = 0; i < n; ++i) {
      if ((out.GetAsInt64(i) != 0) != (ref.GetAsInt64(i) != 0)) {
        return "element " + std::to_string(i) + " differs (bool)";
      }
    }
    return {};
  }
  const size_t element_size = DataTypeSize(ref.dtype());
  const auto* a = static_cast<const unsigned char*>(out.raw());
  const auto* b = static_cast<const unsigned char*>(ref.raw());
  for (int64_t i = 0; i < n; ++i) {
    if (std::memcmp(a + i * element_size, b + i * element_size, element_size) != 0) {
      return "element " + std::to_string(i) + " is " + std::to_string(out.GetAsInt64(i)) + ", expected " +
             std::to_string(ref.GetAsInt64(i));
    }
  }
  return {};
}

// Runs one test_data_set directory; empty when every output matches, else the reason.
std::string RunDataSet(const fs::path& model_path, const fs::path& set_dir, const ModelFacts& facts) {
  std::vector<Tensor> inputs;
  for (const fs::path& path : SortedFiles(set_dir, "input_", ".pb")) {
    StatusOr<Tensor> tensor = ReadTensorFile(path.string());
    if (!tensor.ok()) return "reading " + path.filename().string() + ": " + tensor.status().ToString();
    inputs.push_back(*std::move(tensor));
  }
  if (inputs.size() != facts.input_names.size()) {
    return std::to_string(inputs.size()) + " input files for " + std::to_string(facts.input_names.size()) +
           " model inputs";
  }
  std::vector<Tensor> references;
  for (const fs::path& path : SortedFiles(set_dir, "output_", ".pb")) {
    StatusOr<Tensor> tensor = ReadTensorFile(path.string());
    if (!tensor.ok()) return "reading " + path.filename().string() + ": " + tensor.status().ToString();
    references.push_back(*std::move(tensor));
  }

  std::vector<std::string> bound;
  StatusOr<NetworkDef> network = BuildNetworkForInputs(model_path.string(), inputs, &bound);
  if (!network.ok()) return "build: " + network.status().ToString();

  std::vector<Tensor> engine_inputs;
  for (int32_t index : network->inputs) {
    const std::string& name = network->tensors[static_cast<size_t>(index)].name;
    auto it = std::find(facts.input_names.begin(), facts.input_names.end(), name);
    if (it == facts.input_names.end()) return "network input '" + name + "' is not a model input";
    engine_inputs.push_back(inputs[static_cast<size_t>(it - facts.input_names.begin())]);
  }
  std::vector<Tensor> outputs;
  if (g_config.cuda) {
#ifdef EDGERT_HAVE_CUDA
    CudaEngineOptions options;
    options.precision = g_config.fp16 ? Precision::kFp16 : Precision::kFp32;
    options.cuda_graphs = false;
    StatusOr<std::shared_ptr<CudaEngine>> engine = CudaEngine::Create(*std::move(network), options);
    if (!engine.ok()) return "engine: " + engine.status().ToString();
    StatusOr<std::unique_ptr<CudaExecutionContext>> context = (*engine)->CreateContext();
    if (!context.ok()) return "context: " + context.status().ToString();
    (*context)->SetPoisonArena(true);
    Status run = RunOnHost(**context, engine_inputs, &outputs);
    if (!run.ok()) return "run: " + run.ToString();
#endif
  } else {
    StatusOr<std::unique_ptr<CpuEngine>> engine = CpuEngine::Create(*std::move(network));
    if (!engine.ok()) return "engine: " + engine.status().ToString();
    Status run = (*engine)->Run(engine_inputs, &outputs);
    if (!run.ok()) return "run: " + run.ToString();
  }

  if (outputs.size() != references.size()) {
    return std::to_string(outputs.size()) + " outputs, expected " + std::to_string(references.size());
  }
  for (size_t k = 0; k < outputs.size(); ++k) {
    std::string mismatch = CompareTensors(outputs[k], references[k]);
    if (!mismatch.empty()) return "output " + std::to_string(k) + ": " + mismatch;
  }
  return {};
}

CaseResult RunCase(const fs::path& case_dir) {
  CaseResult result;
  result.name = case_dir.filename().string();
  const fs::path model_path = case_dir / "model.onnx";
  ModelFacts facts;
  Status read = ReadModelFacts(model_path, &facts);
  result.op = CaseOperator(result.name, facts);
  if (!read.ok()) {
    result.reason = read.ToString();
    return result;
  }
  if (!facts.skip_reason.empty()) {
    result.outcome = Outcome::kSkip;
    result.reason = facts.skip_reason;
    return result;
  }
  std::vector<fs::path> sets;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(case_dir, ec)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      sets.push_back(entry.path());
    }
  }
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) {
    result.reason = "no test_data_set_* directory";
    return result;
  }
  for (const fs::path& set_dir : sets) {
    std::string mismatch = RunDataSet(model_path, set_dir, facts);
    if (!mismatch.empty()) {
      result.reason = sets.size() > 1 ? set_dir.filename().string() + ": " + mismatch : mismatch;
      return result;
    }
  }
  result.outcome = Outcome::kPass;
  return result;
}

bool ReadCaseList(const std::string& path, std::vector<std::string>* names) {
  std::ifstream in(path);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    size_t begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos) continue;
    size_t end = line.find_last_not_of(" \t\r");
    names->push_back(line.substr(begin, end - begin + 1));
  }
  return true;
}

int Usage() {
  std::fprintf(stderr,
               "usage: edgert_conformance NODE_DIR [--expected FILE] [--write-expected FILE] [--filter TEXT] "
               "[--known-failures FILE] [--backend cpu|cuda] [--fp16] [--verbose]\n");
  return 2;
}

int Main(int argc, char** argv) {
  std::string node_dir;
  std::string expected_path;
  std::string known_path;
  std::string write_path;
  std::string filter;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&](std::string* value) {
      if (i + 1 >= argc) return false;
      *value = argv[++i];
      return true;
    };
    if (arg == "--expected") {
      if (!next(&expected_path)) return Usage();
    } else if (arg == "--known-failures") {
      if (!next(&known_path)) return Usage();
    } else if (arg == "--write-expected") {
      if (!next(&write_path)) return Usage();
    } else if (arg == "--filter") {
      if (!next(&filter)) return Usage();
    } else if (arg == "--verbose") {
      verbose = true;
    } else if (arg == "--backend") {
      std::string backend;
      if (!next(&backend) || (backend != "cpu" && backend != "cuda")) return Usage();
      g_config.cuda = backend == "cuda";
    } else if (arg == "--fp16") {
      g_config.fp16 = true;
    } else if (!arg.empty() && arg[0] != '-' && node_dir.empty()) {
      node_dir = arg;
    } else {
      return Usage();
    }
  }
  if (node_dir.empty()) return Usage();
  if (g_config.fp16 && !g_config.cuda) {
    std::fprintf(stderr, "edgert_conformance: --fp16 needs --backend cuda\n");
    return 2;
  }
  if (g_config.cuda) {
#ifdef EDGERT_HAVE_CUDA
    if (CudaDeviceCount() == 0) {
      std::fprintf(stderr, "edgert_conformance: --backend cuda: no CUDA device is visible\n");
      return 2;
    }
    g_config.tolerance = g_config.fp16 ? 1e-2 : 1e-3;
#else
    std::fprintf(stderr, "edgert_conformance: --backend cuda: this build has no CUDA backend\n");
    return 2;
#endif
  }

  std::vector<std::string> expected;
  if (!expected_path.empty() && !ReadCaseList(expected_path, &expected)) {
    std::fprintf(stderr, "edgert_conformance: cannot read the expected-pass list %s\n", expected_path.c_str());
    return 2;
  }
  // Cases this backend is known not to run (each with its reason in the file) leave the list.
  std::vector<std::string> known;
  if (!known_path.empty() && !ReadCaseList(known_path, &known)) {
    std::fprintf(stderr, "edgert_conformance: cannot read the known-failures list %s\n", known_path.c_str());
    return 2;
  }
  for (const std::string& k : known) expected.erase(std::remove(expected.begin(), expected.end(), k), expected.end());

  std::vector<fs::path> case_dirs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(node_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("test_", 0) == 0 &&
        (filter.empty() || name.find(filter) != std::string::npos)) {
      case_dirs.push_back(entry.path());
    }
  }
  if (ec) {
    std::fprintf(stderr, "edgert_conformance: cannot list %s: %s\n", node_dir.c_str(), ec.message().c_str());
    return 2;
  }
  if (case_dirs.empty()) {
    std::fprintf(stderr, "edgert_conformance: no test_* cases in %s\n", node_dir.c_str());
    return 2;
  }
  std::sort(case_dirs.begin(), case_dirs.end());

  const auto start = std::chrono::steady_clock::now();
  std::vector<CaseResult> results;
  for (const fs::path& dir : case_dirs) {
    if (verbose) {
      std::printf("running %s\n", dir.filename().string().c_str());
      std::fflush(stdout);
    }
    CaseResult result = RunCase(dir);
    // Reasons quote the model's full path; the case name already says which one it is.
    const std::string prefix = dir.string() + "/";
    for (size_t at; (at = result.reason.find(prefix)) != std::string::npos;) result.reason.erase(at, prefix.size());
    results.push_back(std::move(result));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Per-case lines for everything that did not pass.
  int passed = 0, failed = 0, skipped = 0;
  struct Counts { int pass = 0, fail = 0, skip = 0; };
  std::map<std::string, Counts> per_op;
  Counts unsupported_ops;
  std::set<std::string> passing;
  for (const CaseResult& r : results) {
    bool known = FindOpInfoByName(r.op) != nullptr;
    Counts& counts = known ? per_op[r.op] : unsupported_ops;
    switch (r.outcome) {
      case Outcome::kPass:
        ++passed;
        ++counts.pass;
        passing.insert(r.name);
        break;
      case Outcome::kFail:
        ++failed;
        ++counts.fail;
        std::printf("FAIL %s: %s\n", r.name.c_str(), r.reason.c_str());
        break;
      case Outcome::kSkip:
        ++skipped;
        ++counts.skip;
        std::printf("SKIP %s: %s\n", r.name.c_str(), r.reason.c_str());
        break;
    }
  }

  std::printf("\nper-operator summary (operator under test: passed / failed / skipped)\n");
  for (const auto& [op, counts] : per_op) {
    std::printf("  %-24s %4d %4d %4d\n", op.c_str(), counts.pass, counts.fail, counts.skip);
  }
  std::printf("  %-24s %4d %4d %4d\n", "(operators edgert lacks)", unsupported_ops.pass, unsupported_ops.fail,
              unsupported_ops.skip);
  std::printf("\nconformance: %d passed, %d failed, %d skipped (%zu cases, %.1f s)\n", passed, failed, skipped,
              results.size(), seconds);

  int exit_code = 0;
  if (!expected_path.empty()) {
    std::set<std::string> listed(expected.begin(), expected.end());
    std::set<std::string> present;
    for (const CaseResult& r : results) present.insert(r.name);
    int regressions = 0;
    for (const std::string& name : listed) {
      if (!filter.empty() && name.find(filter) == std::string::npos) continue;
      if (!present.count(name)) {
        std::printf("REGRESSION %s: listed as passing but not found in %s\n", name.c_str(), node_dir.c_str());
        ++regressions;
      } else if (!passing.count(name)) {
        std::printf("REGRESSION %s: listed as passing but did not pass\n", name.c_str());
        ++regressions;
      }
    }
    int unlisted = 0;
    for (const std::string& name : passing) {
      if (!listed.count(name)) {
        std::printf("NEW PASS %s (not in %s)\n", name.c_str(), expected_path.c_str());
        ++unlisted;
      }
    }
    std::printf("expected-pass list: %zu listed, %d regressions, %d passing cases not listed\n", listed.size(),
                regressions, unlisted);
    if (regressions > 0) exit_code = 1;
  }

  if (!write_path.empty()) {
    std::ofstream out(write_path);
    out << "# ONNX backend node test cases that edgert's CPU engine must pass, one per line.\n"
           "# Written by: edgert_conformance NODE_DIR --write-expected FILE (NODE_DIR: onnx/backend/test/data/node\n"
           "# of the onnx 1.16.2 wheel). A listed case that stops passing fails the onnx_conformance test.\n";
    for (const std::string& name : passing) out << name << "\n";
    if (!out) {
      std::fprintf(stderr, "edgert_conformance: cannot write %s\n", write_path.c_str());
      return 2;
    }
    std::printf("wrote %zu passing cases to %s\n", passing.size(), write_path.c_str());
  }
  return exit_code;
}

}  // namespace
}  // namespace edgert

int main(int argc, char** argv) { return edgert::Main(argc, argv); }
