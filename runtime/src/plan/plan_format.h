// Internal: the fixed binary header of a plan file and helpers shared by the plan writer, the
// plan reader, the unit tests and the fuzzer. Not installed.
//
// Header layout (96 bytes, every integer little-endian):
//    0  char[8]  magic "EDGERTPL"
//    8  u32      format version (kPlanFormatVersion)
//   12  u32      header size (96)
//   16  u64      file size
//   24  u64      metadata offset (= 96)      32  u64  metadata size
//   40  u64      network offset (8-aligned)  48  u64  network size
//   56  u64      weights offset (256-aligned) 64 u64  weights size (the file ends there)
//   72  u64      XXH64 of the metadata section
//   80  u64      ChunkedXxh64 (edgert/hash.h) of bytes [96, file size): everything after the
//                header, padding included (format 1: the plain XXH64 of those bytes)
//   88  u64      XXH64 of bytes [0, 88)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "edgert/network.h"
#include "edgert/plan.h"
#include "edgert/status.h"

namespace edgert {
namespace plan_internal {

inline constexpr char kPlanMagic[8] = {'E', 'D', 'G', 'E', 'R', 'T', 'P', 'L'};
inline constexpr size_t kPlanHeaderSize = 96;
inline constexpr size_t kHeaderChecksumOffset = 88;
// Bounds that keep a corrupt header from asking for absurd reads, well inside FlatBuffers' 2 GiB
// buffer limit (its verifier asserts on larger buffers). Weights are outside both sections.
inline constexpr uint64_t kMaxMetadataBytes = uint64_t{1} << 20;
inline constexpr uint64_t kMaxNetworkBytes = uint64_t{1} << 30;

struct PlanHeader {
  uint32_t format_version = 0;
  uint32_t header_size = 0;
  uint64_t file_size = 0;
  uint64_t meta_offset = 0;
  uint64_t meta_size = 0;
  uint64_t body_offset = 0;
  uint64_t body_size = 0;
  uint64_t weights_offset = 0;
  uint64_t weights_size = 0;
  uint64_t meta_checksum = 0;
  uint64_t content_checksum = 0;
  uint64_t header_checksum = 0;
};

// Writes `header` (checksum fields as given) into out[0, kPlanHeaderSize).
void EncodeHeader(const PlanHeader& header, uint8_t* out);
// Reads the fields from bytes[0, kPlanHeaderSize); no checks.
PlanHeader DecodeHeader(const uint8_t* bytes);

// Checks what can be checked from the first `available` bytes (at most kPlanHeaderSize needed) of
// a plan whose real size is `actual_size`: magic, format version, header checksum, truncation and
// the section layout. Errors name `name` (the file) and are one sentence.
StatusOr<PlanHeader> CheckHeader(const uint8_t* bytes, size_t available, uint64_t actual_size, const std::string& name);

// Recomputes the three checksums of a complete plan in place from the section layout its header
// declares. The writer uses it; tests and the fuzzer use it to "re-seal" deliberately damaged
// plans so that the structural checks behind the checksums are exercised. Fails if the declared
// layout does not fit in `size` bytes.
Status SealPlan(uint8_t* data, size_t size);

// Threads the content checksum runs on when a plan is sealed or opened: the host's cores, at most 8.
int ChecksumThreads();

// True for the DataType ids a plan may hold: every defined id except kUndefined and kString.
bool IsStorableDataType(int64_t id);
// Largest tensor rank a plan may hold.
inline constexpr size_t kMaxPlanRank = 64;

// The structural rules every plan's network obeys; the writer checks them before writing and the
// reader after building: known op ids and dtypes, shapes of rank <= kMaxPlanRank with
// non-negative dimensions whose element count fits Tensor::kMaxBytes, constants whose dtype and
// shape match their TensorDef, layer inputs -1 or a tensor index, layer outputs and graph
// inputs/outputs tensor indices, no layer writing a constant, attribute tensors defined and
// storable. Errors carry `code` and name the tensor or layer and `name` (the file).
Status CheckNetworkStructure(const NetworkDef& network, StatusCode code, const std::string& name);

// One sentence on the first difference between a plan's device key and this device's, e.g.
// "plan was built for NVIDIA H100 (sm_90) with CUDA 12.4 but this device has CUDA 12.6". Only
// meaningful when the keys differ.
std::string DescribeDeviceMismatch(const DeviceKey& plan, const DeviceKey& here);

// "<name>: <message>" with `name` as the Status subject.
Status PlanError(StatusCode code, const std::string& name, const std::string& message);

}  // namespace plan_internal
}  // namespace edgert
