// Element-copy engines of the tensor family.
//  StridedCopy: 1. drop size-1 dimensions, 2. merge neighbours that are contiguous in both views,
//  3. walk the outer dimensions with an odometer, copying the innermost dimension either as one
//  memcpy (both strides 1) or element by element with a copy sized for the element.
//  IndexMapCopy: precompute the innermost map as runs (contiguous source / fill), then walk the
//  outer dimensions with an odometer, resolving each outer index through its map. A row whose
//  source row equals the previous one is copied from the previous output row; maps made of
//  single-element runs use a typed gather loop.
#include "tensor_util.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "op_util.h"

namespace edgert {
namespace {

template <typename T>
void CopyRun(const char* in, int64_t in_stride, char* out, int64_t out_stride, int64_t n) {
  const T* src = reinterpret_cast<const T*>(in);
  T* dst = reinterpret_cast<T*>(out);
  for (int64_t i = 0; i < n; ++i) dst[i * out_stride] = src[i * in_stride];
}

void CopyInner(size_t elem, const char* in, int64_t in_stride, char* out, int64_t out_stride, int64_t n) {
  if (in_stride == 1 && out_stride == 1) {
    std::memcpy(out, in, static_cast<size_t>(n) * elem);
    return;
  }
  switch (elem) {
    case 1:
      CopyRun<uint8_t>(in, in_stride, out, out_stride, n);
      return;
    case 2:
      CopyRun<uint16_t>(in, in_stride, out, out_stride, n);
      return;
    case 4:
      CopyRun<uint32_t>(in, in_stride, out, out_stride, n);
      return;
    case 8:
      CopyRun<uint64_t>(in, in_stride, out, out_stride, n);
      return;
    default:
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(out + i * out_stride * static_cast<int64_t>(elem), in + i * in_stride * static_cast<int64_t>(elem),
                    elem);
      }
  }
}

template <typename T>
void SaturateInt(double v, unsigned char bytes[8]) {
  T r;
  if (std::isnan(v)) {
    r = 0;
  } else if (v <= static_cast<double>(std::numeric_limits<T>::min())) {
    r = std::numeric_limits<T>::min();
  } else if (v >= static_cast<double>(std::numeric_limits<T>::max())) {
    r = std::numeric_limits<T>::max();
  } else {
    r = static_cast<T>(v);
  }
  std::memcpy(bytes, &r, sizeof(T));
}

template <typename T>
void GatherRow(const char* in_row, const std::vector<int64_t>& map, const void* fill, int64_t n, char* out_row) {
  const T* src = reinterpret_cast<const T*>(in_row);
  T* dst = reinterpret_cast<T*>(out_row);
  T f;
  std::memcpy(&f, fill, sizeof(T));
  for (int64_t j = 0; j < n; ++j) dst[j] = map[j] < 0 ? f : src[map[j]];
}

}  // namespace

void StridedCopy(size_t elem_size, const Shape& shape, const void* in, const std::vector<int64_t>& in_strides,
                 void* out, const std::vector<int64_t>& out_strides) {
  if (NumElements(shape) <= 0) return;
  // 1-2: simplify.
  Shape dims;
  std::vector<int64_t> is, os;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!dims.empty() && is.back() == in_strides[d] * shape[d] && os.back() == out_strides[d] * shape[d]) {
      dims.back() *= shape[d];
      is.back() = in_strides[d];
      os.back() = out_strides[d];
      continue;
    }
    dims.push_back(shape[d]);
    is.push_back(in_strides[d]);
    os.push_back(out_strides[d]);
  }
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(out);
  const int64_t e = static_cast<int64_t>(elem_size);
  if (dims.empty()) {
    std::memcpy(dst, src, elem_size);
    return;
  }
  // 3: odometer over the outer dimensions.
  const size_t rank = dims.size();
  const int64_t inner = dims[rank - 1];
  std::vector<int64_t> idx(rank - 1, 0);
  int64_t in_off = 0, out_off = 0;
  while (true) {
    CopyInner(elem_size, src + in_off * e, is[rank - 1], dst + out_off * e, os[rank - 1], inner);
    size_t d = rank - 1;
    while (d > 0) {
      --d;
      ++idx[d];
      in_off += is[d];
      out_off += os[d];
      if (idx[d] < dims[d]) break;
      in_off -= is[d] * dims[d];
      out_off -= os[d] * dims[d];
      idx[d] = 0;
      if (d == 0) return;
    }
    if (rank == 1) return;
  }
}

void FillElements(void* out, size_t elem_size, int64_t count, const void* value) {
  char* dst = static_cast<char*>(out);
  switch (elem_size) {
    case 1:
      std::memset(dst, *static_cast<const uint8_t*>(value), static_cast<size_t>(count));
      return;
    case 2: {
      uint16_t v;
      std::memcpy(&v, value, 2);
      for (int64_t i = 0; i < count; ++i) reinterpret_cast<uint16_t*>(dst)[i] = v;
      return;
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, value, 4);
      for (int64_t i = 0; i < count; ++i) reinterpret_cast<uint32_t*>(dst)[i] = v;
      return;
    }
    case 8: {
      uint64_t v;
      std::memcpy(&v, value, 8);
      for (int64_t i = 0; i < count; ++i) reinterpret_cast<uint64_t*>(dst)[i] = v;
      return;
    }
    default:
      for (int64_t i = 0; i < count; ++i) std::memcpy(dst + i * static_cast<int64_t>(elem_size), value, elem_size);
  }
}

void IndexMapCopy(size_t elem_size, const Shape& in_shape, const void* in, const Shape& out_shape,
                  const std::vector<std::vector<int64_t>>& maps, const void* fill, void* out) {
  const int64_t total = NumElements(out_shape);
  if (total <= 0) return;
  const int64_t e = static_cast<int64_t>(elem_size);
  const char* src = static_cast<const char*>(in);
  char* dst = static_cast<char*>(out);
  const size_t rank = out_shape.size();
  if (rank == 0) {
    std::memcpy(dst, src, elem_size);
    return;
  }
  const std::vector<int64_t> in_strides = ContiguousStrides(in_shape);
  // Innermost dimension as runs: {out_start, length, src_index or -1}.
  struct Run {
    int64_t start, length, src;
  };
  std::vector<Run> runs;
  const std::vector<int64_t>& last = maps[rank - 1];
  const int64_t inner = out_shape[rank - 1];
  for (int64_t j = 0; j < inner;) {
    int64_t k = j + 1;
    if (last[j] < 0) {
      while (k < inner && last[k] < 0) ++k;
    } else {
      while (k < inner && last[k] == last[k - 1] + 1) ++k;
    }
    runs.push_back({j, k - j, last[j]});
    j = k;
  }
  // Maps that mostly move single elements (e.g. nearest upsampling) are gathered with a typed
  // loop instead of one memcpy per run.
  const bool typed = static_cast<int64_t>(runs.size()) * 2 > inner &&
                     (elem_size == 1 || elem_size == 2 || elem_size == 4 || elem_size == 8);
  std::vector<int64_t> idx(rank, 0);
  int64_t prev_off = -2;  // source offset of the previous row; -1 = filled row
  for (int64_t row = 0; row < total / inner; ++row) {
    char* out_row = dst + row * inner * e;
    int64_t in_off = 0;
    for (size_t d = 0; d + 1 < rank; ++d) {
      int64_t m = maps[d][idx[d]];
      if (m < 0) {
        in_off = -1;
        break;
      }
      in_off += m * in_strides[d];
    }
    if (in_off == prev_off) {
      // Same source row as the previous output row (repeated outer index): copy that row.
      std::memcpy(out_row, out_row - inner * e, static_cast<size_t>(inner * e));
    } else if (in_off < 0) {
      FillElements(out_row, elem_size, inner, fill);
    } else if (typed) {
      const char* in_row = src + in_off * e;
      switch (elem_size) {
        case 1:
          GatherRow<uint8_t>(in_row, last, fill, inner, out_row);
          break;
        case 2:
          GatherRow<uint16_t>(in_row, last, fill, inner, out_row);
          break;
        case 4:
          GatherRow<uint32_t>(in_row, last, fill, inner, out_row);
          break;
        default:
          GatherRow<uint64_t>(in_row, last, fill, inner, out_row);
          break;
      }
    } else {
      const char* in_row = src + in_off * e;
      for (const Run& r : runs) {
        if (r.src < 0) {
          FillElements(out_row + r.start * e, elem_size, r.length, fill);
        } else {
          std::memcpy(out_row + r.start * e, in_row + r.src * e, static_cast<size_t>(r.length * e));
        }
      }
    }
    prev_off = in_off;
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

void ScalarToBytes(double value, DataType dtype, unsigned char bytes[8]) {
  std::memset(bytes, 0, 8);
  switch (dtype) {
    case DataType::kFloat32: {
      float f = static_cast<float>(value);
      std::memcpy(bytes, &f, 4);
      return;
    }
    case DataType::kFloat64:
      std::memcpy(bytes, &value, 8);
      return;
    case DataType::kFloat16: {
      uint16_t h = FloatToHalf(static_cast<float>(value));
      std::memcpy(bytes, &h, 2);
      return;
    }
    case DataType::kBool:
      bytes[0] = value != 0.0 ? 1 : 0;
      return;
    case DataType::kUInt8:
      SaturateInt<uint8_t>(value, bytes);
      return;
    case DataType::kInt8:
      SaturateInt<int8_t>(value, bytes);
      return;
    case DataType::kUInt16:
      SaturateInt<uint16_t>(value, bytes);
      return;
    case DataType::kInt16:
      SaturateInt<int16_t>(value, bytes);
      return;
    case DataType::kInt32:
      SaturateInt<int32_t>(value, bytes);
      return;
    case DataType::kInt64:
      SaturateInt<int64_t>(value, bytes);
      return;
    case DataType::kUInt32:
      SaturateInt<uint32_t>(value, bytes);
      return;
    case DataType::kUInt64:
      SaturateInt<uint64_t>(value, bytes);
      return;
    case DataType::kUndefined:
    case DataType::kString:
      return;
  }
}

bool IsCopyableType(DataType dtype) {
  size_t s = DataTypeSize(dtype);
  return s == 1 || s == 2 || s == 4 || s == 8;
}

Status CheckCopyableInput(const OpContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return ctx.Error("input " + std::to_string(i) + " is required");
  DataType dt = ctx.input(i).dtype;
  if (!IsCopyableType(dt)) {
    return ctx.NotSupported("input " + std::to_string(i) + " has dtype " + DataTypeName(dt) +
                            ", which this operator cannot hold");
  }
  return Status::Ok();
}

Status CopyKernel::Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) {
  const Tensor& in = *inputs[0];
  Tensor& out = *outputs[0];
  if (in.bytes() != out.bytes()) {
    return Internal("copy kernel: input has " + std::to_string(in.bytes()) + " bytes, output " +
                    std::to_string(out.bytes()));
  }
  if (out.bytes()) std::memcpy(out.raw(), in.raw(), out.bytes());
  return Status::Ok();
}

}  // namespace edgert
