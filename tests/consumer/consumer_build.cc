// A user of the installed static builder: ONNX model in, CPU plan out.
// Usage: edgert_consumer_build MODEL.onnx OUT.plan
// Exit status: 0 on success, 1 on a model or I/O error (message on stderr), 2 on usage errors.
#include <cstdio>
#include <string>

#include "edgert/builder.h"
#include "edgert/plan.h"
#include "edgert/version.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: edgert_consumer_build MODEL.onnx OUT.plan\n");
    return 2;
  }
  edgert::BuildReport report;
  auto network = edgert::BuildNetwork(argv[1], edgert::BuildOptions{}, &report);
  if (!network.ok()) {
    std::fprintf(stderr, "edgert_consumer_build: %s\n", network.status().ToString().c_str());
    return 1;
  }
  edgert::PlanMetadata metadata;
  metadata.edgert_version = EDGERT_VERSION_STRING;
  metadata.device = edgert::CpuDeviceKey();
  auto bytes = edgert::SerializePlan(*network, metadata);
  if (!bytes.ok()) {
    std::fprintf(stderr, "edgert_consumer_build: %s\n", bytes.status().ToString().c_str());
    return 1;
  }
  edgert::Status written = edgert::WritePlanFile(argv[2], *bytes);
  if (!written.ok()) {
    std::fprintf(stderr, "edgert_consumer_build: %s\n", written.ToString().c_str());
    return 1;
  }
  std::printf("built %s: %d model nodes, %d layers, %zu bytes\n", argv[2], report.model_nodes, report.layers,
              bytes->size());
  return 0;
}
