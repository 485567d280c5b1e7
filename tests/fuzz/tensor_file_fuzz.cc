// libFuzzer target: arbitrary bytes as a tensor file, read once as .npy and once as .pb. Every
// outcome must be a Status; a tensor that is read must hold exactly what its header claims.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "onnx/tensor_file.h"

namespace {

std::string* g_dir = nullptr;

void ReadAs(const std::string& path, const uint8_t* data, size_t size) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  edgert::StatusOr<edgert::Tensor> t = edgert::ReadTensorFile(path);
  if (t.ok() && t->bytes() != static_cast<size_t>(t->num_elements()) * edgert::DataTypeSize(t->dtype())) abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* tmp = std::getenv("TMPDIR");
  // /dev/shm keeps the two file writes per input off the disk.
  std::string tmpl =
      std::string(tmp && *tmp ? tmp : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp")) + "/edgert_fuzz_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  g_dir = new std::string(mkdtemp(buf.data()) ? buf.data() : "/tmp");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ReadAs(*g_dir + "/t.npy", data, size);
  ReadAs(*g_dir + "/t.pb", data, size);
  return 0;
}
