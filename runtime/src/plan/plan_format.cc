// Plan header encoding and checks.
//  1. CheckHeader() goes from the cheapest, most telling check to the most specific: magic, format
//     version (a newer format may lay its header out differently, so nothing else is read before
//     it), header length, header checksum, file size against the header (truncation), then the
//     section layout (in order, inside the file, aligned).
//  2. SealPlan() computes the metadata checksum, the content checksum over everything after the
//     header, and last the header checksum, which covers the other two.
#include "plan/plan_format.h"

#include <cstring>

#include "core/parallel.h"
#include "edgert/hash.h"
#include "edgert/plan.h"

namespace edgert {
namespace plan_internal {
namespace {

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string Num(uint64_t v) { return std::to_string(v); }

}  // namespace

Status PlanError(StatusCode code, const std::string& name, const std::string& message) {
  return Status(code, name + ": " + message, name);
}

void EncodeHeader(const PlanHeader& h, uint8_t* out) {
  std::memcpy(out, kPlanMagic, sizeof(kPlanMagic));
  PutU32(out + 8, h.format_version);
  PutU32(out + 12, h.header_size);
  PutU64(out + 16, h.file_size);
  PutU64(out + 24, h.meta_offset);
  PutU64(out + 32, h.meta_size);
  PutU64(out + 40, h.body_offset);
  PutU64(out + 48, h.body_size);
  PutU64(out + 56, h.weights_offset);
  PutU64(out + 64, h.weights_size);
  PutU64(out + 72, h.meta_checksum);
  PutU64(out + 80, h.content_checksum);
  PutU64(out + 88, h.header_checksum);
}

PlanHeader DecodeHeader(const uint8_t* p) {
  PlanHeader h;
  h.format_version = GetU32(p + 8);
  h.header_size = GetU32(p + 12);
  h.file_size = GetU64(p + 16);
  h.meta_offset = GetU64(p + 24);
  h.meta_size = GetU64(p + 32);
  h.body_offset = GetU64(p + 40);
  h.body_size = GetU64(p + 48);
  h.weights_offset = GetU64(p + 56);
  h.weights_size = GetU64(p + 64);
  h.meta_checksum = GetU64(p + 72);
  h.content_checksum = GetU64(p + 80);
  h.header_checksum = GetU64(p + 88);
  return h;
}

StatusOr<PlanHeader> CheckHeader(const uint8_t* bytes, size_t available, uint64_t actual_size,
                                 const std::string& name) {
  if (actual_size == 0) return PlanError(StatusCode::kCorrupt, name, "not an edgert plan (the file is empty)");
  const size_t magic_seen = available < sizeof(kPlanMagic) ? available : sizeof(kPlanMagic);
  if (std::memcmp(bytes, kPlanMagic, magic_seen) != 0) {
    return PlanError(StatusCode::kCorrupt, name, "not an edgert plan (bad magic)");
  }
  if (available < kPlanHeaderSize || actual_size < kPlanHeaderSize) {
    if (available >= 12 && GetU32(bytes + 8) != kPlanFormatVersion) {
      return PlanError(StatusCode::kUnsupported, name,
                       "plan format version " + Num(GetU32(bytes + 8)) +
                           " is not supported by this edgert, which reads version " + Num(kPlanFormatVersion));
    }
    return PlanError(StatusCode::kCorrupt, name,
                     "plan is truncated: the file has " + Num(actual_size) + " bytes, less than the " +
                         Num(kPlanHeaderSize) + "-byte header");
  }
  const PlanHeader h = DecodeHeader(bytes);
  if (h.format_version != kPlanFormatVersion) {
    return PlanError(StatusCode::kUnsupported, name,
                     "plan format version " + Num(h.format_version) +
                         " is not supported by this edgert, which reads version " + Num(kPlanFormatVersion));
  }
  if (Xxh64(bytes, kHeaderChecksumOffset) != h.header_checksum) {
    return PlanError(StatusCode::kCorrupt, name, "checksum mismatch: the plan is corrupt (header)");
  }
  if (h.header_size != kPlanHeaderSize) {
    return PlanError(StatusCode::kCorrupt, name,
                     "plan header size " + Num(h.header_size) + " is not " + Num(kPlanHeaderSize));
  }
  if (actual_size < h.file_size) {
    return PlanError(StatusCode::kCorrupt, name,
                     "plan is truncated: header says " + Num(h.file_size) + " bytes, file has " + Num(actual_size));
  }
  if (actual_size > h.file_size) {
    return PlanError(
        StatusCode::kCorrupt, name,
        "plan has trailing data: header says " + Num(h.file_size) + " bytes, file has " + Num(actual_size));
  }
  // Section layout: header | metadata | network | weights, in this order, inside the file. Every
  // value is compared against the file size before it is added to another, so nothing overflows.
  const uint64_t size = h.file_size;
  const bool layout_ok = h.meta_offset == kPlanHeaderSize && h.meta_size > 0 && h.meta_size <= kMaxMetadataBytes &&
                         h.meta_size <= size - h.meta_offset && h.body_offset <= size &&
                         h.body_offset >= h.meta_offset + h.meta_size && h.body_offset % 8 == 0 && h.body_size > 0 &&
                         h.body_size <= kMaxNetworkBytes && h.body_size <= size - h.body_offset &&
                         h.weights_offset <= size && h.weights_offset >= h.body_offset + h.body_size &&
                         h.weights_offset % kPlanWeightAlignment == 0 && h.weights_size == size - h.weights_offset;
  if (!layout_ok) {
    return PlanError(StatusCode::kCorrupt, name,
                     "plan sections are out of place (metadata " + Num(h.meta_offset) + "+" + Num(h.meta_size) +
                         ", network " + Num(h.body_offset) + "+" + Num(h.body_size) + ", weights " +
                         Num(h.weights_offset) + "+" + Num(h.weights_size) + " in a file of " + Num(size) + " bytes)");
  }
  return h;
}

int ChecksumThreads() { return HostThreads(8); }

Status SealPlan(uint8_t* data, size_t size) {
  if (size < kPlanHeaderSize) return InvalidArgument("a plan is at least " + Num(kPlanHeaderSize) + " bytes");
  PlanHeader h = DecodeHeader(data);
  if (h.meta_offset > size || h.meta_size > size - h.meta_offset) {
    return InvalidArgument("the plan's metadata section lies outside its bytes");
  }
  h.meta_checksum = Xxh64(data + h.meta_offset, h.meta_size);
  h.content_checksum = ChunkedXxh64(data + kPlanHeaderSize, size - kPlanHeaderSize, ChecksumThreads());
  EncodeHeader(h, data);
  h.header_checksum = Xxh64(data, kHeaderChecksumOffset);
  EncodeHeader(h, data);
  return Status::Ok();
}

}  // namespace plan_internal
}  // namespace edgert
