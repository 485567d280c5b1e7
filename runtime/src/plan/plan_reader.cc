// Plan reader.
//  ReadPlanMetadata / ValidatePlan:
//   1. open + fstat; pread the header; CheckHeader (magic, format, header checksum, truncation,
//      section layout).
//   2. pread the metadata section only; compare its checksum; run the FlatBuffers verifier on it.
//   3. ValidatePlan compares the edgert version, then the device key, and words the first
//      difference as one sentence.
//  LoadedPlan::Open / OpenBytes:
//   1. mmap the file read-only (OpenBytes: copy into a page-aligned buffer) and CheckHeader.
//   2. Compare the content checksum over everything after the header (ChunkedXxh64 on
//      ChecksumThreads() threads, which also fault the mapping's pages in): damage anywhere is
//      refused here, before any FlatBuffer is parsed.
//   3. Verify both FlatBuffers, read the metadata, then build the NetworkDef: every dtype id,
//      shape, weight range (aligned, inside the section, size = elements x dtype size), op id,
//      attribute kind and tensor index is checked before use; constants and tensor attributes
//      become Tensor::Share views into the mapping. CheckNetworkStructure finishes the checks.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "edgert/hash.h"
#include "edgert/plan.h"
#include "plan/plan_format.h"
#include "plan_generated.h"

namespace edgert {
namespace {

using plan_internal::CheckHeader;
using plan_internal::kPlanHeaderSize;
using plan_internal::PlanError;
using plan_internal::PlanHeader;

Status CorruptPlan(const std::string& name, const std::string& message) {
  return PlanError(StatusCode::kCorrupt, name, message);
}

// An open file descriptor, closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int Get() const { return fd_; }

 private:
  int fd_;
};

Status OpenError(const std::string& path, int err) {
  if (err == ENOENT) return NotFound(path + ": no such plan file", path);
  return IoError(path + ": cannot open the plan: " + std::strerror(err), path);
}

// Opens `path` and returns its size; regular files only.
StatusOr<uint64_t> OpenRegular(const std::string& path, int* fd_out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return OpenError(path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return IoError(path + ": cannot stat the plan: " + std::strerror(err), path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return IoError(path + ": not a regular file", path);
  }
  *fd_out = fd;
  return static_cast<uint64_t>(st.st_size);
}

Status PreadAll(int fd, uint8_t* out, size_t size, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError(path + ": cannot read the plan: " + std::strerror(errno), path);
    if (n == 0) return CorruptPlan(path, "plan is truncated: it ended while being read");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string Str(const flatbuffers::String* s) { return s == nullptr ? std::string() : s->str(); }

// The FlatBuffers verifier checks only a vector's 4-byte length field for alignment; vectors of
// 8-byte elements are read in place, so their element alignment is checked here (the writer
// aligns non-empty ones, and every section base is at least 8-aligned in memory).
bool ElementsAligned(const flatbuffers::Vector<int64_t>* v) {
  return v == nullptr || v->size() == 0 || reinterpret_cast<uintptr_t>(v->Data()) % alignof(int64_t) == 0;
}

// Step 2 of both paths: checksum and verify the metadata section, then copy it out.
StatusOr<PlanMetadata> ParseMetadata(const uint8_t* meta, const PlanHeader& h, const std::string& name) {
  if (Xxh64(meta, h.meta_size) != h.meta_checksum) {
    return CorruptPlan(name, "checksum mismatch: the plan is corrupt (metadata)");
  }
  flatbuffers::Verifier verifier(meta, h.meta_size, 16, 64);
  if (!verifier.VerifyBuffer<fb::Metadata>(nullptr)) {
    return CorruptPlan(name, "the plan's metadata is malformed");
  }
  const fb::Metadata* m = flatbuffers::GetRoot<fb::Metadata>(meta);
  PlanMetadata out;
  out.edgert_version = Str(m->edgert_version());
  if (const fb::DeviceKey* d = m->device()) {
    out.device.backend = Str(d->backend());
    out.device.gpu_name = Str(d->gpu_name());
    out.device.cc_major = d->cc_major();
    out.device.cc_minor = d->cc_minor();
    out.device.sm_count = d->sm_count();
    out.device.cuda_version = d->cuda_version();
    out.device.cudnn_version = d->cudnn_version();
    out.device.cublas_version = d->cublas_version();
  }
  out.build_options_hash = Str(m->build_options_hash());
  out.model_hash = Str(m->model_hash());
  out.format_version = h.format_version;
  out.num_tensors = m->num_tensors();
  out.num_layers = m->num_layers();
  out.num_constants = m->num_constants();
  out.weights_bytes = m->weights_bytes();
  if (m->precision() > static_cast<uint8_t>(Precision::kFp16)) {
    return CorruptPlan(name, "the plan's metadata names an unknown precision " + std::to_string(m->precision()));
  }
  out.precision = static_cast<Precision>(m->precision());
  out.file_bytes = h.file_size;
  if (out.weights_bytes != h.weights_size) {
    return CorruptPlan(name, "the plan's metadata and header disagree on the weights size");
  }
  return out;
}

StatusOr<PlanMetadata> ReadMetadataFromFile(const std::string& path) {
  int raw_fd = -1;
  EDGERT_ASSIGN_OR_RETURN(const uint64_t file_size, OpenRegular(path, &raw_fd));
  Fd fd(raw_fd);
  uint8_t header[kPlanHeaderSize] = {};
  const size_t header_bytes = file_size < kPlanHeaderSize ? static_cast<size_t>(file_size) : kPlanHeaderSize;
  EDGERT_RETURN_IF_ERROR(PreadAll(fd.Get(), header, header_bytes, 0, path));
  EDGERT_ASSIGN_OR_RETURN(const PlanHeader h, CheckHeader(header, header_bytes, file_size, path));
  std::vector<uint8_t> meta(static_cast<size_t>(h.meta_size));
  EDGERT_RETURN_IF_ERROR(PreadAll(fd.Get(), meta.data(), meta.size(), h.meta_offset, path));
  return ParseMetadata(meta.data(), h, path);
}

// Step 3 of Open: the shape, dtype and weight range of one stored tensor; the Tensor viewing it.
StatusOr<Tensor> StoredTensor(int32_t dtype_id, const flatbuffers::Vector<int64_t>* dims, const fb::WeightRef* ref,
                              const std::shared_ptr<void>& owner, const uint8_t* weights, uint64_t weights_size,
                              const std::string& what, const std::string& name) {
  if (!plan_internal::IsStorableDataType(dtype_id)) {
    return CorruptPlan(name, what + " has data type id " + std::to_string(dtype_id) + ", which is not valid");
  }
  const DataType dtype = static_cast<DataType>(dtype_id);
  Shape shape;
  if (dims != nullptr) {
    if (dims->size() > plan_internal::kMaxPlanRank) return CorruptPlan(name, what + " has an impossible rank");
    if (!ElementsAligned(dims)) return CorruptPlan(name, what + " has a misaligned shape");
    shape.assign(dims->begin(), dims->end());
  }
  for (int64_t d : shape) {
    if (d < 0) return CorruptPlan(name, what + " has a negative dimension");
  }
  const int64_t n = NumElements(shape);
  const uint64_t elem = DataTypeSize(dtype);
  if (n < 0 || static_cast<uint64_t>(n) > Tensor::kMaxBytes / elem) {
    return CorruptPlan(name, what + " has an impossible shape " + ShapeToString(shape));
  }
  if (ref == nullptr) return Tensor::View(dtype, std::move(shape), nullptr);
  const uint64_t offset = ref->offset();
  const uint64_t size = ref->size();
  if (offset % kPlanWeightAlignment != 0 || offset > weights_size || size > weights_size - offset) {
    return CorruptPlan(name, what + " has bytes [" + std::to_string(offset) + ", +" + std::to_string(size) +
                                 ") outside the weights section or misaligned");
  }
  if (size != static_cast<uint64_t>(n) * elem) {
    return CorruptPlan(name, what + " has " + std::to_string(size) + " bytes of data but its shape " +
                                 ShapeToString(shape) + " needs " + std::to_string(static_cast<uint64_t>(n) * elem));
  }
  void* data = const_cast<uint8_t*>(weights + offset);
  return Tensor::Share(dtype, std::move(shape), owner, data);
}

std::vector<int32_t> Indices(const flatbuffers::Vector<int32_t>* v) {
  return v == nullptr ? std::vector<int32_t>() : std::vector<int32_t>(v->begin(), v->end());
}

StatusOr<AttrValue> ReadAttr(const fb::Attr& a, const std::string& attr_what, const std::shared_ptr<void>& owner,
                             const uint8_t* weights, uint64_t weights_size, const std::string& name) {
  switch (a.kind()) {
    case fb::AttrKind::Int:
      return AttrValue(a.i());
    case fb::AttrKind::Float:
      return AttrValue(a.f());
    case fb::AttrKind::String:
      return AttrValue(Str(a.s()));
    case fb::AttrKind::Tensor: {
      const fb::TensorValue* t = a.t();
      if (t == nullptr || t->data() == nullptr) return CorruptPlan(name, attr_what + " has no tensor value");
      EDGERT_ASSIGN_OR_RETURN(
          Tensor value, StoredTensor(t->dtype(), t->shape(), t->data(), owner, weights, weights_size, attr_what, name));
      return AttrValue(std::move(value));
    }
    case fb::AttrKind::Ints:
      if (!ElementsAligned(a.ints())) return CorruptPlan(name, attr_what + " has misaligned values");
      return AttrValue(a.ints() == nullptr ? std::vector<int64_t>()
                                           : std::vector<int64_t>(a.ints()->begin(), a.ints()->end()));
    case fb::AttrKind::Floats:
      return AttrValue(a.floats() == nullptr ? std::vector<float>()
                                             : std::vector<float>(a.floats()->begin(), a.floats()->end()));
    case fb::AttrKind::Strings: {
      std::vector<std::string> strings;
      if (a.strings() != nullptr) {
        strings.reserve(a.strings()->size());
        for (const flatbuffers::String* s : *a.strings()) strings.push_back(Str(s));
      }
      return AttrValue(std::move(strings));
    }
  }
  return CorruptPlan(name, attr_what + " has unknown kind " + std::to_string(static_cast<int>(a.kind())));
}

Status BuildNetwork(const fb::Network& fn, const std::shared_ptr<void>& owner, const uint8_t* weights,
                    uint64_t weights_size, const std::string& name, NetworkDef* net) {
  if (fn.tensors() != nullptr) {
    net->tensors.reserve(fn.tensors()->size());
    for (const fb::Tensor* ft : *fn.tensors()) {
      TensorDef def;
      def.name = Str(ft->name());
      const std::string what = "tensor '" + def.name + "'";
      // A narrowed constant (stored_dtype float16, dtype float32) is read at its stored dtype.
      const int32_t stored_id = ft->stored_dtype();
      const bool narrowed = stored_id != 0 && stored_id != ft->dtype();
      if (narrowed && (stored_id != static_cast<int32_t>(DataType::kFloat16) ||
                       ft->dtype() != static_cast<int32_t>(DataType::kFloat32) || ft->constant() == nullptr)) {
        return CorruptPlan(name, what + " is stored as data type id " + std::to_string(stored_id) +
                                     ", which is not a float16 copy of a float32 constant");
      }
      EDGERT_ASSIGN_OR_RETURN(Tensor stored, StoredTensor(narrowed ? stored_id : ft->dtype(), ft->shape(),
                                                          ft->constant(), owner, weights, weights_size, what, name));
      def.dtype = narrowed ? DataType::kFloat32 : stored.dtype();
      def.shape = stored.shape();
      if (ft->constant() != nullptr) def.value = std::move(stored);
      def.binding.dtype = static_cast<DataType>(ft->binding_dtype());
      def.binding.channels_last = ft->binding_channels_last();
      net->tensors.push_back(std::move(def));
    }
  }
  if (fn.layers() != nullptr) {
    net->layers.reserve(fn.layers()->size());
    for (const fb::Layer* fl : *fn.layers()) {
      LayerDef layer;
      layer.name = Str(fl->name());
      layer.op = static_cast<OpType>(fl->op());
      if (FindOpInfo(layer.op) == nullptr) {
        return CorruptPlan(name, "layer '" + layer.name + "' has unknown op id " + std::to_string(fl->op()));
      }
      layer.opset = fl->opset();
      if (fl->attrs() != nullptr) {
        for (const fb::Attr* fa : *fl->attrs()) {
          const std::string attr_name = Str(fa->name());
          const std::string what = "layer '" + layer.name + "' attribute '" + attr_name + "'";
          if (layer.attrs.Has(attr_name)) return CorruptPlan(name, what + " appears twice");
          EDGERT_ASSIGN_OR_RETURN(AttrValue value, ReadAttr(*fa, what, owner, weights, weights_size, name));
          layer.attrs.Set(attr_name, std::move(value));
        }
      }
      layer.inputs = Indices(fl->inputs());
      layer.outputs = Indices(fl->outputs());
      net->layers.push_back(std::move(layer));
    }
  }
  net->inputs = Indices(fn.inputs());
  net->outputs = Indices(fn.outputs());
  if (const fb::BatchProfile* fp = fn.profile(); fp != nullptr) {
    net->profile.min = fp->min();
    net->profile.opt = fp->opt();
    net->profile.max = fp->max();
    net->profile.batch_tensors = Indices(fp->batch_tensors());
    if (fp->batch_values() != nullptr) {
      for (const fb::BatchValue* v : *fp->batch_values())
        net->profile.batch_values.push_back({v->tensor(), v->element()});
    }
    if (!net->profile.enabled()) return CorruptPlan(name, "its batch profile has no maximum");
  }
  EDGERT_RETURN_IF_ERROR(plan_internal::CheckNetworkStructure(*net, StatusCode::kCorrupt, name));
  Status profile = ValidateBatchProfile(*net);
  if (!profile.ok()) return CorruptPlan(name, profile.message());
  Status formats = ValidateIoFormats(*net);
  if (!formats.ok()) return CorruptPlan(name, formats.message());
  return Status::Ok();
}

}  // namespace

StatusOr<PlanMetadata> ReadPlanMetadata(const std::string& path) { return ReadMetadataFromFile(path); }

Status ValidatePlan(const std::string& path, const DeviceKey& here, const std::string& edgert_version) {
  EDGERT_ASSIGN_OR_RETURN(const PlanMetadata m, ReadMetadataFromFile(path));
  if (m.edgert_version != edgert_version) {
    return PlanError(StatusCode::kUnsupported, path,
                     "plan was built by edgert " + m.edgert_version + ", this is " + edgert_version);
  }
  if (m.device != here)
    return PlanError(StatusCode::kUnsupported, path, plan_internal::DescribeDeviceMismatch(m.device, here));
  return Status::Ok();
}

StatusOr<LoadedPlan> LoadedPlan::Open(const std::string& path) {
  int raw_fd = -1;
  EDGERT_ASSIGN_OR_RETURN(const uint64_t file_size, OpenRegular(path, &raw_fd));
  Fd fd(raw_fd);
  if (file_size == 0) return CheckHeader(nullptr, 0, 0, path).status();
  if (file_size > SIZE_MAX) return OutOfRange(path + ": the plan does not fit in the address space", path);
  const size_t size = static_cast<size_t>(file_size);
  // Not MAP_POPULATE: the checksum's threads fault the pages in, on several cores at once.
  void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.Get(), 0);
  if (addr == MAP_FAILED) return IoError(path + ": cannot map the plan: " + std::strerror(errno), path);
  std::shared_ptr<const uint8_t> mapping(static_cast<const uint8_t*>(addr),
                                         [size](const uint8_t* p) { munmap(const_cast<uint8_t*>(p), size); });
  return FromMapping(std::move(mapping), size, path);
}

StatusOr<LoadedPlan> LoadedPlan::OpenBytes(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) return CheckHeader(nullptr, 0, 0, name).status();
  void* buffer = nullptr;
  if (posix_memalign(&buffer, 4096, size) != 0) {
    return OutOfRange(name + ": out of host memory copying a " + std::to_string(size) + "-byte plan", name);
  }
  std::memcpy(buffer, data, size);
  std::shared_ptr<const uint8_t> owned(static_cast<const uint8_t*>(buffer),
                                       [](const uint8_t* p) { std::free(const_cast<uint8_t*>(p)); });
  return FromMapping(std::move(owned), size, name);
}

StatusOr<LoadedPlan> LoadedPlan::FromMapping(std::shared_ptr<const uint8_t> mapping, size_t size,
                                             const std::string& name) {
  const uint8_t* base = mapping.get();
  // Step 1.
  EDGERT_ASSIGN_OR_RETURN(const PlanHeader h, CheckHeader(base, size, size, name));
  // Step 2.
  if (ChunkedXxh64(base + kPlanHeaderSize, size - kPlanHeaderSize, plan_internal::ChecksumThreads()) !=
      h.content_checksum) {
    return CorruptPlan(name, "checksum mismatch: the plan is corrupt");
  }
  // Step 3.
  LoadedPlan plan;
  EDGERT_ASSIGN_OR_RETURN(plan.metadata_, ParseMetadata(base + h.meta_offset, h, name));
  const uint8_t* body = base + h.body_offset;
  flatbuffers::Verifier verifier(body, static_cast<size_t>(h.body_size), 64,
                                 static_cast<flatbuffers::uoffset_t>(h.body_size / 4 + 16));
  if (!verifier.VerifyBuffer<fb::Network>(fb::NetworkIdentifier())) {
    return CorruptPlan(name, "the plan's network section is malformed");
  }
  const fb::Network* fn = flatbuffers::GetRoot<fb::Network>(body);
  plan.weights_ = base + h.weights_offset;
  plan.weights_size_ = static_cast<size_t>(h.weights_size);
  std::shared_ptr<void> owner = std::const_pointer_cast<uint8_t>(mapping);
  EDGERT_RETURN_IF_ERROR(BuildNetwork(*fn, owner, plan.weights_, h.weights_size, name, &plan.network_));
  if (plan.network_.tensors.size() != plan.metadata_.num_tensors ||
      plan.network_.layers.size() != plan.metadata_.num_layers) {
    return CorruptPlan(name, "the plan's metadata and network disagree on the number of tensors or layers");
  }
  plan.mapping_ = std::move(mapping);
  return plan;
}

}  // namespace edgert
