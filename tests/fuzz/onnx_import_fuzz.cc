// libFuzzer target: arbitrary bytes as a model.onnx. Import, then (when it imports) shape/dtype
// inference without options and lowering. Every outcome must be a Status, never a crash, a
// sanitizer report, a leak or an allocation the input does not justify.
//
// External data resolves against a directory made at start-up that holds one small file,
// "weights.bin", so inputs that reference it reach the external-data reader.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "ir/infer.h"
#include "onnx/onnx_importer.h"

namespace {

std::string* g_base_dir = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/edgert_fuzz_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  g_base_dir = new std::string(mkdtemp(buf.data()) ? buf.data() : "");
  if (!g_base_dir->empty()) {
    std::ofstream out(*g_base_dir + "/weights.bin", std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(i * 7));
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  edgert::StatusOr<edgert::Graph> graph =
      edgert::ImportOnnxBytes(data, size, g_base_dir ? *g_base_dir : std::string(), "fuzz.onnx");
  if (!graph.ok()) return 0;
  edgert::Status s = edgert::InferGraph(*graph, edgert::InferOptions());
  if (!s.ok()) return 0;
  edgert::StatusOr<edgert::NetworkDef> net = edgert::LowerGraph(*graph);
  (void)net;
  return 0;
}
