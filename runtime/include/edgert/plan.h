// Plan files: a NetworkDef plus the facts that decide where it may run, written once by the
// builder and loaded through mmap by the runtime.
//
// File layout (little-endian; runtime/src/plan/plan_format.h has the header's byte layout):
//   header (96 bytes): magic "EDGERTPL", format version, header size, file size, the offset and size
//     of each section, an XXH64 of the metadata section, a ChunkedXxh64 (edgert/hash.h) of
//     everything after the header and an XXH64 of the header itself.
//   metadata section: a small FlatBuffer (edgert version, device key, build-options hash, model
//     hash, counts). ValidatePlan() and ReadPlanMetadata() read only the header and this section.
//   network section: a FlatBuffer holding the tensors, layers, attributes and graph inputs/outputs.
//   weights section: starts at a 256-byte aligned file offset; every constant's (and tensor
//     attribute's) bytes start at a 256-byte aligned offset, so the section can be uploaded to a
//     GPU as one block and each tensor addressed as base + offset.
//
// Contracts:
//   - Nothing here throws or aborts. Every number read from a plan is range-checked before use, so
//     a corrupt or hostile plan gives a Status (code kCorrupt for damaged bytes), never a crash.
//   - Every byte of a plan is covered by a checksum (the header by its own, the rest by the
//     content checksum), so a damaged plan is refused before its FlatBuffers are parsed.
//   - A plan written by SerializePlan() is deterministic: the same NetworkDef and metadata give the
//     same bytes.
//   - Thread rules: free functions are thread-safe. A LoadedPlan is immutable after Open(); copies
//     share the mapping, and the mapping lives as long as the last LoadedPlan copy or constant
//     Tensor taken from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgert/network.h"
#include "edgert/precision.h"
#include "edgert/status.h"

namespace edgert {

// The machine a plan is built for. Two keys are equal only when every field is equal; a plan runs
// only where its key equals the device's.
struct DeviceKey {
  std::string backend;   // "cpu" or "cuda"
  std::string gpu_name;  // e.g. "NVIDIA H100 80GB HBM3"; empty for cpu
  int cc_major = 0;      // compute capability
  int cc_minor = 0;
  int sm_count = 0;
  int cuda_version = 0;    // cudaRuntimeGetVersion(): 12040 for 12.4
  int cudnn_version = 0;   // CUDNN_VERSION: 90100 for 9.1.0 (8907 for 8.9.7)
  int cublas_version = 0;  // cublasGetVersion(): 120405 for 12.4.5

  // "cpu", or "NVIDIA H100 (sm_90, 132 SMs, CUDA 12.4, cuDNN 9.1.0, cuBLAS 12.4.5)".
  std::string ToString() const;
  bool operator==(const DeviceKey& other) const;
  bool operator!=(const DeviceKey& other) const { return !(*this == other); }
};

// The key of the reference CPU backend: backend "cpu", every other field empty or 0.
DeviceKey CpuDeviceKey();

struct PlanMetadata {
  std::string edgert_version;  // e.g. EDGERT_VERSION_STRING of the writer
  DeviceKey device;
  std::string build_options_hash;  // hex
  std::string model_hash;          // hex; model bytes and external data included
  Precision precision = Precision::kFp32;  // how the float layers run (engines of other backends ignore it)

  // Filled by ReadPlanMetadata() / LoadedPlan; ignored by SerializePlan(), which computes them.
  uint32_t format_version = 0;
  uint32_t num_tensors = 0;
  uint32_t num_layers = 0;
  uint32_t num_constants = 0;
  uint64_t weights_bytes = 0;  // size of the weights section
  uint64_t file_bytes = 0;     // size of the whole plan
};

// The format version this edgert writes and reads (2: the content checksum is a ChunkedXxh64,
// computed on several threads, and a tensor may record a stored dtype, for narrowed constants;
// 1: a plain XXH64). A plan of another version is refused with a sentence naming both versions;
// the plan cache rebuilds it.
inline constexpr uint32_t kPlanFormatVersion = 2;
// Alignment of the weights section and of every tensor in it.
inline constexpr size_t kPlanWeightAlignment = 256;

// Serialises `network` with `metadata`. Fails (kInvalidArgument, naming the tensor or layer) for a
// network that a loader would refuse: an unknown op id or dtype, a negative dimension, a constant
// whose bytes do not match its dtype and shape, a tensor index out of range.
StatusOr<std::vector<uint8_t>> SerializePlan(const NetworkDef& network, const PlanMetadata& metadata);

// The network a GPU FP16 plan stores: `network` with its weights narrowed (edgert/network.h) to
// float16, exactly as the device holds them (round to nearest even, as the CUDA engine converts a
// float32 constant it uploads), so the plan's weights take half the bytes and a load copies them
// without a conversion. `device_dtypes` holds each tensor's dtype on the device (one per tensor).
// A constant is narrowed when it is float32 in `network`, float16 on the device, and every layer
// reads it only as the weights or bias of a Conv, ConvTranspose or EdgertConvNhwc, the B or C of a
// Gemm, or the B of a MatMul: inputs whose kernels use only the device copy, never host values. A
// graph output or a profile's batch-valued tensor is never narrowed. `bytes_saved` (may be null)
// receives the constants' bytes saved. Fails (kInvalidArgument) if `device_dtypes` does not match.
StatusOr<NetworkDef> NarrowWeightsForPlan(const NetworkDef& network, const std::vector<DataType>& device_dtypes,
                                          uint64_t* bytes_saved = nullptr);

// Writes `bytes` to `path` atomically: a temporary file in the same directory, fsync, rename over
// `path`, fsync of the directory. Readers see the old file or the new one, never a partial one.
Status WritePlanFile(const std::string& path, const std::vector<uint8_t>& bytes);

// Reads the header and the metadata section only (cost independent of the model's size).
StatusOr<PlanMetadata> ReadPlanMetadata(const std::string& path);

// Ok if the plan at `path` can be used on `here` by edgert `edgert_version`; otherwise one sentence
// naming the file and the reason (not a plan, truncated, corrupt header or metadata, other format
// version, other edgert version, other device). Reads only the header and the metadata section:
// damage to the network or weights sections is found by LoadedPlan::Open(), not here.
Status ValidatePlan(const std::string& path, const DeviceKey& here, const std::string& edgert_version);

// A plan mapped into memory with its NetworkDef built. Constants are Tensor::Share views into the
// mapping (read-only memory: kernels must not write to constants).
class LoadedPlan {
 public:
  // Maps `path` read-only and checks the header, both checksums, the FlatBuffers verifier and every
  // index, id, shape and weight range before building the network. The file must not be truncated
  // while mapped (WritePlanFile replaces files by rename, which is safe).
  static StatusOr<LoadedPlan> Open(const std::string& path);
  // The same for a plan in memory; the bytes are copied into an aligned buffer the plan owns.
  static StatusOr<LoadedPlan> OpenBytes(const uint8_t* data, size_t size, const std::string& name = "<memory>");

  const PlanMetadata& metadata() const { return metadata_; }
  const NetworkDef& network() const { return network_; }
  // The weights section, as it is to be uploaded to a device; offsets of constants are relative to
  // weights_data(). Valid while this LoadedPlan (or a copy) lives.
  const uint8_t* weights_data() const { return weights_; }
  size_t weights_size() const { return weights_size_; }

 private:
  LoadedPlan() = default;
  static StatusOr<LoadedPlan> FromMapping(std::shared_ptr<const uint8_t> mapping, size_t size, const std::string& name);

  std::shared_ptr<const uint8_t> mapping_;
  PlanMetadata metadata_;
  NetworkDef network_;
  const uint8_t* weights_ = nullptr;
  size_t weights_size_ = 0;
};

}  // namespace edgert
