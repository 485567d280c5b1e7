// The CUDA "tensor" family: shape ops, data movement and value creation (Resize/Upsample live in
// kernels_tensor_resize.cu). Mirrors the CPU reference (runtime/src/ops/tensor_*.cc).
//
// Algorithms (geometry is computed on the host at creation, passed to kernels by value):
//   Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout: one device-to-device copy (skipped
//     when input and output share storage); Dropout also fills its mask output with ones.
//   Slice, Expand, Tile, DepthToSpace, SpaceToDepth, Transpose (general case): a strided view of
//     the input copied into the contiguous output. The view is simplified first (size-1 dimensions
//     dropped, dimensions contiguous in the input merged) and, when its innermost run is contiguous,
//     widened to move up to 16 bytes per thread; a view that ends up as one contiguous run is a
//     cudaMemcpyAsync.
//   Transpose: size-1 axes dropped and axes that stay neighbours merged; a perm that reduces to
//     [B, M, N] -> [B, N, M] (last-two-dims swap, NCHW <-> NHWC) uses a 32x32 shared-memory tile
//     kernel (a thread per element of the wide side when M or N is at most 8: a 3-channel image),
//     anything else the strided view.
//   Concat / Split: output (input) viewed as [outer, columns]; each launch handles up to 8 parts,
//     each thread finds its part by column.
//   Gather: data [outer, dim, inner], indices read on the device (int32/int64); negative indices
//     wrap once, indices still outside [0, dim) write zeros (the CPU rejects them; the GPU must
//     neither read out of bounds nor synchronise to report it).
//   Pad: per output element and dimension, the source index of the mode (constant/edge/reflect/
//     wrap, negative pads crop) or the fill value. A Tile whose view keeps more than kMaxRank
//     dimensions runs as Pad in wrap mode.
//   Shape: values known at build time written by a tiny kernel; ConstantOfShape: a fill; Range:
//     start + i * delta in the output dtype (float math rounded as the CPU's, no FMA contraction).
// Enqueue only launches; every output element is written.
#include <algorithm>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels_tensor.cuh"
#include "op_util.h"
#include "tensor_util.h"

namespace edgert {
namespace cuda {

void HostElementBytes(const Tensor& t, int64_t i, DataType device_dtype, unsigned char bytes[8]) {
  std::memset(bytes, 0, 8);
  const size_t size = DataTypeSize(t.dtype());
  if (t.dtype() == device_dtype && size <= 8) {
    std::memcpy(bytes, static_cast<const char*>(t.raw()) + i * static_cast<int64_t>(size), size);
    return;
  }
  const double v = t.dtype() == DataType::kFloat16 ? HalfToFloat(t.data<uint16_t>()[i]) : t.GetAsDouble(i);
  ScalarToBytes(v, device_dtype, bytes);
}

namespace {

constexpr int kMaxParts = 8;         // Concat inputs / Split outputs per launch
constexpr int kMaxShapeValues = 64;  // Shape output elements
constexpr int kTile = 32;
constexpr int kTileRows = 8;

#define EDGERT_GRID_STRIDE_LOOP(i, n)                                                    \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// ---- Device kernels ----------------------------------------------------------------------------

template <typename T>
__global__ void StridedCopyKernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, StridedMap map) {
  EDGERT_GRID_STRIDE_LOOP(i, n) { out[i] = in[map.Offset(i)]; }
}

// in [batches, rows, cols] -> out [batches, cols, rows], one 32x32 tile per block iteration.
template <typename T>
__global__ void TransposeTileKernel(const T* __restrict__ in, T* __restrict__ out, int64_t batches, int64_t rows,
                                    int64_t cols) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t tiles_r = (rows + kTile - 1) / kTile;
  const int64_t tiles_c = (cols + kTile - 1) / kTile;
  const int64_t per_batch = tiles_r * tiles_c;
  const int64_t total = batches * per_batch;
  for (int64_t t = blockIdx.x; t < total; t += gridDim.x) {
    const int64_t b = t / per_batch;
    const int64_t rem = t % per_batch;
    const int64_t r0 = (rem / tiles_c) * kTile;
    const int64_t c0 = (rem % tiles_c) * kTile;
    const T* src = in + b * rows * cols;
    T* dst = out + b * rows * cols;
    for (int k = threadIdx.y; k < kTile; k += kTileRows) {
      const int64_t r = r0 + k, c = c0 + threadIdx.x;
      if (r < rows && c < cols) tile[k][threadIdx.x] = src[r * cols + c];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < kTile; k += kTileRows) {
      const int64_t c = c0 + k, r = r0 + threadIdx.x;
      if (c < cols && r < rows) dst[c * rows + r] = tile[threadIdx.x][k];
    }
    __syncthreads();
  }
}

// The same transpose when rows or cols is at most kNarrow (NCHW <-> NHWC of a 3-channel image):
// one thread per element of the wide side, looping over the narrow side, so the wide side is read
// (or written) coalesced and no tile is mostly empty.
constexpr int64_t kNarrow = 8;
template <typename T>
__global__ void TransposeNarrowKernel(const T* __restrict__ in, T* __restrict__ out, int64_t batches, int64_t rows,
                                      int64_t cols) {
  const int64_t plane = rows * cols;
  if (rows <= kNarrow) {
    EDGERT_GRID_STRIDE_LOOP(i, batches * cols) {
      const int64_t b = i / cols, c = i - b * cols;
      const T* src = in + b * plane + c;
      T* dst = out + b * plane + c * rows;
      for (int64_t r = 0; r < rows; ++r) dst[r] = src[r * cols];
    }
  } else {
    EDGERT_GRID_STRIDE_LOOP(i, batches * rows) {
      const int64_t b = i / rows, r = i - b * rows;
      const T* src = in + b * plane + r * cols;
      T* dst = out + b * plane + r;
      for (int64_t c = 0; c < cols; ++c) dst[c * rows] = src[c];
    }
  }
}

// Columns [col[0], col[count]) of every row of a [outer, total_cols] matrix; part k owns columns
// [col[k], col[k + 1]) and is stored contiguously as [outer, col[k + 1] - col[k]].
struct ConcatParts {
  const void* src[kMaxParts] = {};
  int64_t col[kMaxParts + 1] = {};
  int count = 0;
};
struct SplitParts {
  void* dst[kMaxParts] = {};
  int64_t col[kMaxParts + 1] = {};
  int count = 0;
};

template <typename Parts>
__device__ __forceinline__ int FindPart(const Parts& parts, int64_t c) {
  int k = 0;
  while (k + 1 < parts.count && c >= parts.col[k + 1]) ++k;
  return k;
}

template <typename T>
__global__ void ConcatKernel(ConcatParts parts, T* __restrict__ out, int64_t outer, int64_t total_cols) {
  const int64_t width = parts.col[parts.count] - parts.col[0];
  EDGERT_GRID_STRIDE_LOOP(i, outer * width) {
    const int64_t o = i / width;
    const int64_t c = parts.col[0] + i % width;
    const int k = FindPart(parts, c);
    const int64_t w = parts.col[k + 1] - parts.col[k];
    out[o * total_cols + c] = static_cast<const T*>(parts.src[k])[o * w + (c - parts.col[k])];
  }
}

template <typename T>
__global__ void SplitKernel(SplitParts parts, const T* __restrict__ in, int64_t outer, int64_t total_cols) {
  const int64_t width = parts.col[parts.count] - parts.col[0];
  EDGERT_GRID_STRIDE_LOOP(i, outer * width) {
    const int64_t o = i / width;
    const int64_t c = parts.col[0] + i % width;
    const int k = FindPart(parts, c);
    if (parts.dst[k] == nullptr) continue;
    const int64_t w = parts.col[k + 1] - parts.col[k];
    static_cast<T*>(parts.dst[k])[o * w + (c - parts.col[k])] = in[o * total_cols + c];
  }
}

template <typename T, typename I>
__global__ void GatherKernel(const T* __restrict__ data, const I* __restrict__ indices, T* __restrict__ out,
                             int64_t outer, int64_t dim, int64_t n_idx, int64_t inner) {
  EDGERT_GRID_STRIDE_LOOP(i, outer * n_idx * inner) {
    const int64_t r = i % inner;
    const int64_t t = i / inner;
    const int64_t j = t % n_idx;
    const int64_t o = t / n_idx;
    int64_t k = static_cast<int64_t>(indices[j]);
    if (k < 0) k += dim;
    if (k >= 0 && k < dim) {
      out[i] = data[(o * dim + k) * inner + r];
    } else {
      out[i] = T{};
    }
  }
}

enum PadModeId : int { kPadConstant = 0, kPadReflect = 1, kPadEdge = 2, kPadWrap = 3 };

struct PadGeometry {
  int rank = 0;
  int mode = kPadConstant;
  int64_t out_dims[kMaxRank] = {};
  int64_t in_dims[kMaxRank] = {};
  int64_t in_strides[kMaxRank] = {};
  int64_t begin[kMaxRank] = {};
  // Constant mode, padding only after the last axis (channels appended to an NHWC tensor):
  // out[row, c] = c < in_last ? in[row, c] : fill, one division per element.
  bool last_only = false;
};

// Source index of position i on an axis of size dim padded by `begin` in front; -1 = fill.
__device__ __forceinline__ int64_t PadSourceIndex(int mode, int64_t i, int64_t begin, int64_t dim) {
  const int64_t k = i - begin;
  if (k >= 0 && k < dim) return k;
  switch (mode) {
    case kPadEdge:
      return k < 0 ? 0 : dim - 1;
    case kPadWrap:
      return ((k % dim) + dim) % dim;
    case kPadReflect: {
      const int64_t period = 2 * (dim - 1);
      const int64_t m = ((k % period) + period) % period;
      return m < dim ? m : period - m;
    }
    default:
      return -1;
  }
}

template <typename T>
__global__ void PadKernel(const T* __restrict__ in, T* __restrict__ out, int64_t n, PadGeometry g, T fill,
                          const T* fill_ptr) {
  const T value = fill_ptr != nullptr ? *fill_ptr : fill;
  EDGERT_GRID_STRIDE_LOOP(i, n) {
    if (g.last_only) {
      const int64_t out_last = g.out_dims[g.rank - 1], in_last = g.in_dims[g.rank - 1];
      const int64_t row = i / out_last, c = i - row * out_last;
      out[i] = c < in_last ? in[row * in_last + c] : value;
      continue;
    }
    int64_t linear = i;
    int64_t src = 0;
    bool inside = true;
    for (int d = g.rank - 1; d >= 0; --d) {
      const int64_t c = linear % g.out_dims[d];
      linear /= g.out_dims[d];
      const int64_t s = PadSourceIndex(g.mode, c, g.begin[d], g.in_dims[d]);
      if (s < 0) {
        inside = false;
        break;
      }
      src += s * g.in_strides[d];
    }
    out[i] = inside ? in[src] : value;
  }
}

template <typename T>
__global__ void FillKernel(T* __restrict__ out, int64_t n, T value) {
  EDGERT_GRID_STRIDE_LOOP(i, n) { out[i] = value; }
}

struct Int64Values {
  int64_t v[kMaxShapeValues] = {};
};

__global__ void WriteValuesKernel(int64_t* __restrict__ out, int n, Int64Values values) {
  const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  if (i < n) out[i] = values.v[i];
}

// start + i * delta with the CPU's rounding (no fused multiply-add).
template <typename T>
__device__ __forceinline__ T RangeValue(T start, T delta, int64_t i) {
  if constexpr (std::is_same_v<T, float>) {
    return __fadd_rn(start, __fmul_rn(static_cast<float>(i), delta));
  } else if constexpr (std::is_same_v<T, double>) {
    return __dadd_rn(start, __dmul_rn(static_cast<double>(i), delta));
  } else {
    return static_cast<T>(start + static_cast<T>(i) * delta);
  }
}

template <typename T, typename O>
__global__ void RangeKernel(O* __restrict__ out, int64_t n, T start, T delta) {
  EDGERT_GRID_STRIDE_LOOP(i, n) {
    const T v = RangeValue(start, delta, i);
    if constexpr (std::is_same_v<O, __half>) {
      out[i] = __float2half_rn(v);
    } else {
      out[i] = v;
    }
  }
}

// ---- Host helpers ------------------------------------------------------------------------------

bool IsMovableSize(size_t s) { return s == 1 || s == 2 || s == 4 || s == 8; }

Status CheckMovable(const CudaOpContext& ctx, const CudaTensor& t, const char* what) {
  if (!IsMovableSize(DataTypeSize(t.dtype))) {
    return ctx.NotSupported(std::string(what) + " has dtype " + DataTypeName(t.dtype) +
                            ", which the CUDA kernel cannot move");
  }
  return Status::Ok();
}

int64_t Product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// The widest element (up to 16 bytes, a multiple of elem) into which every value of `counts`
// (in elements) divides and to which every pointer is aligned.
size_t WidestElement(size_t elem, const std::vector<int64_t>& counts, const std::vector<const void*>& ptrs) {
  for (size_t w = 16; w > elem; w /= 2) {
    if (w % elem != 0) continue;
    const int64_t f = static_cast<int64_t>(w / elem);
    bool ok = true;
    for (int64_t c : counts) ok = ok && c % f == 0;
    for (const void* p : ptrs) ok = ok && Aligned(p, w);
    if (ok) return w;
  }
  return elem;
}

Status Launched(const char* what) { return LaunchStatus(what); }

Status EnqueueFill(cudaStream_t stream, void* out, size_t elem, int64_t n, const unsigned char value[8]) {
  if (n <= 0) return Status::Ok();
  DispatchBySize(elem, [&](auto tag) {
    using T = decltype(tag);
    FillKernel<T><<<GridSize(n), kBlockSize, 0, stream>>>(static_cast<T*>(out), n, ElemFromBytes<T>(value));
  });
  return Launched("FillKernel");
}

// ---- Copy (Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout) ---------------------------

class CopyKernel : public CudaKernel {
 public:
  CopyKernel(const void* src, void* dst, size_t bytes) : src_(src), dst_(dst), bytes_(bytes) {}
  // Dropout's mask: `count` elements of `elem` bytes set to `one`.
  void SetMask(void* mask, size_t elem, int64_t count, const unsigned char one[8]) {
    mask_ = mask;
    mask_elem_ = elem;
    mask_count_ = count;
    std::memcpy(mask_one_, one, 8);
  }
  Status Enqueue(cudaStream_t stream) override {
    if (bytes_ > 0 && src_ != dst_) {
      EDGERT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst_, src_, bytes_, cudaMemcpyDeviceToDevice, stream));
    }
    if (mask_ != nullptr) return EnqueueFill(stream, mask_, mask_elem_, mask_count_, mask_one_);
    return Status::Ok();
  }

 private:
  const void* src_;
  void* dst_;
  size_t bytes_;
  void* mask_ = nullptr;
  size_t mask_elem_ = 0;
  int64_t mask_count_ = 0;
  unsigned char mask_one_[8] = {};
};

StatusOr<CudaKernelPtr> CreateCopy(const CudaOpContext& ctx) {
  const CudaTensor& in = ctx.input(0);
  const CudaTensor& out = ctx.output(0);
  EDGERT_RETURN_IF_ERROR(CheckMovable(ctx, in, "input 0"));
  if (in.bytes() != out.bytes() || in.dtype != out.dtype) {
    return ctx.Error("input (" + std::string(DataTypeName(in.dtype)) + " " + ShapeToString(in.shape) +
                     ") and output (" + DataTypeName(out.dtype) + " " + ShapeToString(out.shape) + ") differ in size");
  }
  auto kernel = std::make_unique<CopyKernel>(in.data, out.data, out.bytes());
  if (ctx.op->op() == OpType::kDropout) {
    if (ctx.has_input(2)) {
      // Training mode drops nothing when the ratio is a build-time 0, so the layer is a copy (and a
      // mask of ones) whatever training_mode is at run time.
      const ValueInfo& mode = ctx.op->input(2);
      const bool may_train =
          mode.value == nullptr || (mode.value->num_elements() > 0 && mode.value->GetAsDouble(0) != 0.0);
      if (may_train) {
        EDGERT_ASSIGN_OR_RETURN(float ratio, AttrFloat(*ctx.op, "ratio", 0.5f));
        if (ctx.has_input(1)) {
          if (ctx.op->input(1).value == nullptr) {
            return ctx.NotSupported("input 'ratio' must be known at build time when training_mode may be true");
          }
          EDGERT_ASSIGN_OR_RETURN(std::vector<float> r, ConstInputFloats(*ctx.op, 1, "ratio"));
          if (!r.empty()) ratio = r[0];
        }
        if (ratio != 0.0f) {
          return ctx.NotSupported("training_mode " +
                                  std::string(mode.value == nullptr ? "(a run-time input)" : "true") + " with ratio " +
                                  std::to_string(ratio) + "; only inference (or ratio 0) is supported");
        }
      }
    }
    if (ctx.outputs.size() > 1 && ctx.outputs[1] != nullptr) {
      const CudaTensor& mask = ctx.output(1);
      EDGERT_RETURN_IF_ERROR(CheckMovable(ctx, mask, "output 'mask'"));
      unsigned char one[8];
      ScalarToBytes(1.0, mask.dtype, one);
      kernel->SetMask(mask.data, DataTypeSize(mask.dtype), mask.num_elements(), one);
    }
  }
  return CudaKernelPtr(std::move(kernel));
}

// ---- Strided view copy ------------------------------------------------------------------------

// Drops size-1 dimensions of a view of a contiguous output and merges neighbours that are
// contiguous in the input; at least one dimension remains.
void SimplifyView(const Shape& dims, const std::vector<int64_t>& strides, Shape* sd, std::vector<int64_t>* ss) {
  sd->clear();
  ss->clear();
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;
    if (!sd->empty() && ss->back() == strides[d] * dims[d]) {
      sd->back() *= dims[d];
      ss->back() = strides[d];
      continue;
    }
    sd->push_back(dims[d]);
    ss->push_back(strides[d]);
  }
  if (sd->empty()) {
    sd->push_back(1);
    ss->push_back(1);
  }
}

// Copies the view (dims, strides, offset; elements of `elem` bytes) of `in` into the contiguous `out`.
class ViewCopyKernel : public CudaKernel {
 public:
  ViewCopyKernel(const void* in, void* out, size_t elem, int64_t n, StridedMap map)
      : in_(in), out_(out), elem_(elem), n_(n), map_(map) {}
  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    if (map_.rank == 1 && map_.strides[0] == 1) {
      EDGERT_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(out_, in_, static_cast<size_t>(n_) * elem_, cudaMemcpyDeviceToDevice, stream));
      return Status::Ok();
    }
    DispatchBySize(elem_, [&](auto tag) {
      using T = decltype(tag);
      StridedCopyKernel<T>
          <<<GridSize(n_), kBlockSize, 0, stream>>>(static_cast<const T*>(in_), static_cast<T*>(out_), n_, map_);
    });
    return Launched("StridedCopyKernel");
  }

 private:
  const void* in_;
  void* out_;
  size_t elem_;
  int64_t n_;
  StridedMap map_;
};

// The kernel copying the view of input 0 given by (dims, strides, offset) in elements into output 0.
StatusOr<CudaKernelPtr> MakeViewCopy(const CudaOpContext& ctx, const Shape& dims, const std::vector<int64_t>& strides,
                                     int64_t offset) {
  const CudaTensor& in = ctx.input(0);
  const CudaTensor& out = ctx.output(0);
  size_t elem = DataTypeSize(in.dtype);
  const int64_t total = NumElements(dims);
  if (total != out.num_elements()) {
    return ctx.Error("internal: view of " + std::to_string(total) + " elements for an output of " +
                     std::to_string(out.num_elements()));
  }
  Shape sd;
  std::vector<int64_t> ss;
  SimplifyView(dims, strides, &sd, &ss);
  const char* base =
      in.data == nullptr ? nullptr : static_cast<const char*>(in.data) + offset * static_cast<int64_t>(elem);
  // Widen a contiguous innermost run.
  if (ss.back() == 1 && total > 0) {
    std::vector<int64_t> counts = {sd.back(), offset};
    for (size_t d = 0; d + 1 < ss.size(); ++d) counts.push_back(ss[d]);
    const size_t w = WidestElement(elem, counts, {in.data, out.data});
    const int64_t f = static_cast<int64_t>(w / elem);
    if (f > 1) {
      sd.back() /= f;
      for (size_t d = 0; d + 1 < ss.size(); ++d) ss[d] /= f;
      elem = w;
    }
  }
  if (sd.size() > static_cast<size_t>(kMaxRank)) {
    return ctx.NotSupported("the data movement needs a view of rank " + std::to_string(sd.size()) +
                            " after simplification; the CUDA kernel handles up to " + std::to_string(kMaxRank));
  }
  return CudaKernelPtr(std::make_unique<ViewCopyKernel>(base, out.data, elem, NumElements(sd), MakeStridedMap(sd, ss)));
}

// ---- Transpose --------------------------------------------------------------------------------

class TransposeTiledKernel : public CudaKernel {
 public:
  TransposeTiledKernel(const void* in, void* out, size_t elem, int64_t batches, int64_t rows, int64_t cols)
      : in_(in), out_(out), elem_(elem), batches_(batches), rows_(rows), cols_(cols) {}
  Status Enqueue(cudaStream_t stream) override {
    const int64_t tiles = batches_ * ((rows_ + kTile - 1) / kTile) * ((cols_ + kTile - 1) / kTile);
    if (tiles <= 0) return Status::Ok();
    if (std::min(rows_, cols_) <= kNarrow) {
      DispatchBySize(elem_, [&](auto tag) {
        using T = decltype(tag);
        TransposeNarrowKernel<T><<<GridSize(batches_ * std::max(rows_, cols_)), kBlockSize, 0, stream>>>(
            static_cast<const T*>(in_), static_cast<T*>(out_), batches_, rows_, cols_);
      });
      return Launched("TransposeNarrowKernel");
    }
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(tiles, int64_t{1} << 20));
    const dim3 threads(kTile, kTileRows);
    DispatchBySize(elem_, [&](auto tag) {
      using T = decltype(tag);
      TransposeTileKernel<T>
          <<<blocks, threads, 0, stream>>>(static_cast<const T*>(in_), static_cast<T*>(out_), batches_, rows_, cols_);
    });
    return Launched("TransposeTileKernel");
  }

 private:
  const void* in_;
  void* out_;
  size_t elem_;
  int64_t batches_, rows_, cols_;
};

StatusOr<CudaKernelPtr> CreateTranspose(const CudaOpContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> def(static_cast<size_t>(rank));
  for (int64_t i = 0; i < rank; ++i) def[static_cast<size_t>(i)] = rank - 1 - i;
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> perm, AttrInts(*ctx.op, "perm", def));
  if (static_cast<int64_t>(perm.size()) != rank) {
    return ctx.Error("perm has " + std::to_string(perm.size()) + " entries but the input has rank " +
                     std::to_string(rank));
  }
  EDGERT_ASSIGN_OR_RETURN(perm, NormalizeAxes(*ctx.op, perm, rank, "perm"));
  // Drop size-1 axes (renumbering the rest), then merge axes that stay neighbours.
  std::vector<int64_t> new_id(static_cast<size_t>(rank), -1);
  Shape kept;
  for (int64_t a = 0; a < rank; ++a) {
    if (in[static_cast<size_t>(a)] != 1) {
      new_id[static_cast<size_t>(a)] = static_cast<int64_t>(kept.size());
      kept.push_back(in[static_cast<size_t>(a)]);
    }
  }
  std::vector<int64_t> p;
  for (int64_t a : perm) {
    if (new_id[static_cast<size_t>(a)] >= 0) p.push_back(new_id[static_cast<size_t>(a)]);
  }
  // Groups of input axes, in output order: [first input axis, last input axis].
  std::vector<std::pair<int64_t, int64_t>> groups;
  for (int64_t a : p) {
    if (!groups.empty() && groups.back().second + 1 == a) {
      groups.back().second = a;
    } else {
      groups.push_back({a, a});
    }
  }
  std::vector<size_t> by_input(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) by_input[g] = g;
  std::sort(by_input.begin(), by_input.end(), [&](size_t x, size_t y) { return groups[x].first < groups[y].first; });
  const size_t mrank = groups.size();
  Shape mdims(mrank);                // merged input dims, input order
  std::vector<size_t> mperm(mrank);  // output position -> merged input axis
  std::vector<size_t> rank_of(mrank);
  for (size_t r = 0; r < mrank; ++r) rank_of[by_input[r]] = r;
  for (size_t g = 0; g < mrank; ++g) {
    int64_t size = 1;
    for (int64_t a = groups[g].first; a <= groups[g].second; ++a) size *= kept[static_cast<size_t>(a)];
    mdims[rank_of[g]] = size;
    mperm[g] = rank_of[g];
  }
  const size_t elem = DataTypeSize(ctx.input(0).dtype);
  if (NumElements(in) > 0 && mrank == 2 && mperm[0] == 1) {
    return CudaKernelPtr(
        std::make_unique<TransposeTiledKernel>(ctx.input(0).data, ctx.output(0).data, elem, 1, mdims[0], mdims[1]));
  }
  if (NumElements(in) > 0 && mrank == 3 && mperm[0] == 0 && mperm[1] == 2) {
    return CudaKernelPtr(std::make_unique<TransposeTiledKernel>(ctx.input(0).data, ctx.output(0).data, elem, mdims[0],
                                                                mdims[1], mdims[2]));
  }
  const std::vector<int64_t> istr = ContiguousStrides(in);
  Shape dims;
  std::vector<int64_t> strides;
  for (int64_t a : perm) {
    dims.push_back(in[static_cast<size_t>(a)]);
    strides.push_back(istr[static_cast<size_t>(a)]);
  }
  return MakeViewCopy(ctx, dims, strides, 0);
}

// ---- Slice ------------------------------------------------------------------------------------

// The view Slice selects, with start/end clamped exactly as the CPU reference (tensor_move.cc).
StatusOr<CudaKernelPtr> CreateSlice(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  const Shape& in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> starts, ConstInputInts(op, 1, "starts"));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> ends, ConstInputInts(op, 2, "ends"));
  std::vector<int64_t> axes, steps;
  if (op.has_input(3)) {
    EDGERT_ASSIGN_OR_RETURN(axes, ConstInputInts(op, 3, "axes"));
  } else {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (op.has_input(4)) {
    EDGERT_ASSIGN_OR_RETURN(steps, ConstInputInts(op, 4, "steps"));
  } else {
    steps.assign(starts.size(), 1);
  }
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    return ctx.Error("starts, ends, axes and steps must have the same length");
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(op, axes, rank));
  Shape dims = in;
  const std::vector<int64_t> base = ContiguousStrides(in);
  std::vector<int64_t> strides = base;
  int64_t offset = 0;
  for (size_t i = 0; i < norm.size(); ++i) {
    const size_t a = static_cast<size_t>(norm[i]);
    const int64_t dim = in[a];
    if (steps[i] == 0) return ctx.Error("steps[" + std::to_string(i) + "] is 0; a slice step must be non-zero");
    const int64_t step = std::clamp<int64_t>(steps[i], -(dim + 1), dim + 1);
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) count = (end - start - 1) / step + 1;
    } else if (dim > 0) {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      if (start > end) count = (start - end - 1) / (-step) + 1;
    }
    dims[a] = count;
    if (count > 0) offset += start * base[a];
    strides[a] = base[a] * step;
  }
  if (dims != ctx.output(0).shape) {
    return ctx.Error("slice of " + ShapeToString(in) + " gives " + ShapeToString(dims) + " but the output is " +
                     ShapeToString(ctx.output(0).shape));
  }
  return MakeViewCopy(ctx, dims, strides, offset);
}

// ---- Expand / DepthToSpace / SpaceToDepth ----------------------------------------------------

StatusOr<CudaKernelPtr> CreateExpand(const CudaOpContext& ctx) {
  const Shape& out = ctx.output(0).shape;
  return MakeViewCopy(ctx, out, BroadcastStrides(ctx.input(0).shape, out), 0);
}

StatusOr<CudaKernelPtr> CreateBlock(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  EDGERT_ASSIGN_OR_RETURN(int64_t b, AttrInt(op, "blocksize", 0));
  if (b < 1) return ctx.Error("blocksize must be at least 1, got " + std::to_string(b));
  const Shape& in = ctx.input(0).shape;
  if (in.size() != 4) return ctx.Error("input must be 4-D (NCHW), its shape is " + ShapeToString(in));
  const int64_t n = in[0], c = in[1], h = in[2], w = in[3];
  const int64_t sc = h * w, sn = c * h * w;
  Shape dims;
  std::vector<int64_t> strides;
  if (op.op() == OpType::kDepthToSpace) {
    EDGERT_ASSIGN_OR_RETURN(std::string mode, AttrString(op, "mode", "DCR"));
    if (mode != "DCR" && mode != "CRD") return ctx.Error("mode '" + mode + "' is not DCR or CRD");
    if (c % (b * b) != 0) return ctx.Error("channels are not divisible by blocksize^2");
    // Output viewed as [N, C', H, bh, W, bw] reads channel (bh * b + bw) * C' + c (DCR) or
    // c * b * b + bh * b + bw (CRD) at (h, w).
    const int64_t co = c / (b * b);
    dims = {n, co, h, b, w, b};
    if (mode == "CRD") {
      strides = {sn, b * b * sc, w, b * sc, 1, sc};
    } else {
      strides = {sn, sc, w, b * co * sc, 1, co * sc};
    }
  } else {
    if (h % b != 0 || w % b != 0) return ctx.Error("height and width are not divisible by blocksize");
    // Output viewed as [N, bh, bw, C, H', W'] reads (c, h' * b + bh, w' * b + bw).
    dims = {n, b, b, c, h / b, w / b};
    strides = {sn, w, 1, sc, b * w, b};
  }
  return MakeViewCopy(ctx, dims, strides, 0);
}

// ---- Concat / Split ---------------------------------------------------------------------------

class ConcatKernelLaunch : public CudaKernel {
 public:
  ConcatKernelLaunch(std::vector<ConcatParts> batches, void* out, size_t elem, int64_t outer, int64_t total_cols)
      : batches_(std::move(batches)), out_(out), elem_(elem), outer_(outer), total_cols_(total_cols) {}
  Status Enqueue(cudaStream_t stream) override {
    for (const ConcatParts& parts : batches_) {
      const int64_t n = outer_ * (parts.col[parts.count] - parts.col[0]);
      if (n <= 0) continue;
      DispatchBySize(elem_, [&](auto tag) {
        using T = decltype(tag);
        ConcatKernel<T><<<GridSize(n), kBlockSize, 0, stream>>>(parts, static_cast<T*>(out_), outer_, total_cols_);
      });
      EDGERT_RETURN_IF_ERROR(Launched("ConcatKernel"));
    }
    return Status::Ok();
  }

 private:
  std::vector<ConcatParts> batches_;
  void* out_;
  size_t elem_;
  int64_t outer_, total_cols_;
};

class SplitKernelLaunch : public CudaKernel {
 public:
  SplitKernelLaunch(std::vector<SplitParts> batches, const void* in, size_t elem, int64_t outer, int64_t total_cols)
      : batches_(std::move(batches)), in_(in), elem_(elem), outer_(outer), total_cols_(total_cols) {}
  Status Enqueue(cudaStream_t stream) override {
    for (const SplitParts& parts : batches_) {
      const int64_t n = outer_ * (parts.col[parts.count] - parts.col[0]);
      if (n <= 0) continue;
      DispatchBySize(elem_, [&](auto tag) {
        using T = decltype(tag);
        SplitKernel<T><<<GridSize(n), kBlockSize, 0, stream>>>(parts, static_cast<const T*>(in_), outer_, total_cols_);
      });
      EDGERT_RETURN_IF_ERROR(Launched("SplitKernel"));
    }
    return Status::Ok();
  }

 private:
  std::vector<SplitParts> batches_;
  const void* in_;
  size_t elem_;
  int64_t outer_, total_cols_;
};

// Column widths (in elements) of the parts along `axis` and the widened element size.
struct ColumnLayout {
  int64_t outer = 1;
  std::vector<int64_t> widths;
  size_t elem = 1;
};

ColumnLayout MakeColumns(const std::vector<const CudaTensor*>& parts, const CudaTensor& whole, int64_t axis) {
  ColumnLayout l;
  const size_t a = static_cast<size_t>(axis);
  l.outer = Product(whole.shape, 0, a);
  const size_t elem = DataTypeSize(whole.dtype);
  std::vector<const void*> ptrs = {whole.data};
  for (const CudaTensor* p : parts) {
    l.widths.push_back(p == nullptr ? 0 : Product(p->shape, a, p->shape.size()));
    if (p != nullptr) ptrs.push_back(p->data);
  }
  const size_t w = WidestElement(elem, l.widths, ptrs);
  for (int64_t& c : l.widths) c /= static_cast<int64_t>(w / elem);
  l.elem = w;
  return l;
}

StatusOr<CudaKernelPtr> CreateConcat(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  const int64_t rank = static_cast<int64_t>(ctx.input(0).shape.size());
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, AttrInt(op, "axis", 1));
  EDGERT_ASSIGN_OR_RETURN(axis, NormalizeAxis(op, axis, rank));
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input " + std::to_string(i) + " is required");
    if (ctx.input(i).dtype != ctx.output(0).dtype) return ctx.Error("inputs and output differ in dtype");
  }
  const ColumnLayout l = MakeColumns(ctx.inputs, ctx.output(0), axis);
  int64_t total = 0;
  for (int64_t w : l.widths) total += w;
  std::vector<ConcatParts> batches;
  int64_t col = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (batches.empty() || batches.back().count == kMaxParts) {
      batches.emplace_back();
      batches.back().col[0] = col;
    }
    ConcatParts& b = batches.back();
    b.src[b.count] = ctx.input(i).data;
    col += l.widths[i];
    b.col[++b.count] = col;
  }
  return CudaKernelPtr(
      std::make_unique<ConcatKernelLaunch>(std::move(batches), ctx.output(0).data, l.elem, l.outer, total));
}

StatusOr<CudaKernelPtr> CreateSplit(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  const Shape& in = ctx.input(0).shape;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, AttrInt(op, "axis", 0));
  EDGERT_ASSIGN_OR_RETURN(axis, NormalizeAxis(op, axis, static_cast<int64_t>(in.size())));
  // The split sizes are the outputs' extents along the axis (infer resolved split/num_outputs).
  int64_t sum = 0;
  for (const CudaTensor* o : ctx.outputs) {
    if (o == nullptr) continue;
    if (o->dtype != ctx.input(0).dtype) return ctx.Error("outputs and input differ in dtype");
    sum += o->shape[static_cast<size_t>(axis)];
  }
  bool all_present = true;
  for (const CudaTensor* o : ctx.outputs) all_present = all_present && o != nullptr;
  if (all_present && sum != in[static_cast<size_t>(axis)]) {
    return ctx.Error("output extents along axis " + std::to_string(axis) + " sum to " + std::to_string(sum) +
                     ", not the input's " + std::to_string(in[static_cast<size_t>(axis)]));
  }
  if (!all_present) return ctx.NotSupported("every output of Split must be connected on CUDA");
  const ColumnLayout l = MakeColumns(ctx.outputs, ctx.input(0), axis);
  int64_t total = 0;
  for (int64_t w : l.widths) total += w;
  std::vector<SplitParts> batches;
  int64_t col = 0;
  for (size_t k = 0; k < ctx.outputs.size(); ++k) {
    if (batches.empty() || batches.back().count == kMaxParts) {
      batches.emplace_back();
      batches.back().col[0] = col;
    }
    SplitParts& b = batches.back();
    b.dst[b.count] = ctx.output(k).data;
    col += l.widths[k];
    b.col[++b.count] = col;
  }
  return CudaKernelPtr(
      std::make_unique<SplitKernelLaunch>(std::move(batches), ctx.input(0).data, l.elem, l.outer, total));
}

// ---- Gather -----------------------------------------------------------------------------------

class GatherKernelLaunch : public CudaKernel {
 public:
  GatherKernelLaunch(const void* data, const void* indices, bool idx64, void* out, size_t elem, int64_t outer,
                     int64_t dim, int64_t n_idx, int64_t inner)
      : data_(data),
        indices_(indices),
        idx64_(idx64),
        out_(out),
        elem_(elem),
        outer_(outer),
        dim_(dim),
        n_idx_(n_idx),
        inner_(inner) {}
  Status Enqueue(cudaStream_t stream) override {
    const int64_t n = outer_ * n_idx_ * inner_;
    if (n <= 0) return Status::Ok();
    DispatchBySize(elem_, [&](auto tag) {
      using T = decltype(tag);
      if (idx64_) {
        GatherKernel<T, int64_t><<<GridSize(n), kBlockSize, 0, stream>>>(
            static_cast<const T*>(data_), static_cast<const int64_t*>(indices_), static_cast<T*>(out_), outer_, dim_,
            n_idx_, inner_);
      } else {
        GatherKernel<T, int32_t><<<GridSize(n), kBlockSize, 0, stream>>>(
            static_cast<const T*>(data_), static_cast<const int32_t*>(indices_), static_cast<T*>(out_), outer_, dim_,
            n_idx_, inner_);
      }
    });
    return Launched("GatherKernel");
  }

 private:
  const void* data_;
  const void* indices_;
  bool idx64_;
  void* out_;
  size_t elem_;
  int64_t outer_, dim_, n_idx_, inner_;
};

StatusOr<CudaKernelPtr> CreateGather(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  const CudaTensor& data = ctx.input(0);
  const CudaTensor& idx = ctx.input(1);
  if (idx.dtype != DataType::kInt32 && idx.dtype != DataType::kInt64) {
    return ctx.NotSupported(std::string("indices of dtype ") + DataTypeName(idx.dtype) + " (int32 or int64 only)");
  }
  const int64_t rank = static_cast<int64_t>(data.shape.size());
  if (rank == 0) return ctx.Error("input 'data' must have rank 1 or more, it is a scalar");
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, AttrInt(op, "axis", 0));
  EDGERT_ASSIGN_OR_RETURN(axis, NormalizeAxis(op, axis, rank));
  const size_t a = static_cast<size_t>(axis);
  const int64_t outer = Product(data.shape, 0, a);
  const int64_t dim = data.shape[a];
  int64_t inner = Product(data.shape, a + 1, data.shape.size());
  const size_t elem = DataTypeSize(data.dtype);
  const size_t w = WidestElement(elem, {inner}, {data.data, ctx.output(0).data});
  inner /= static_cast<int64_t>(w / elem);
  return CudaKernelPtr(std::make_unique<GatherKernelLaunch>(data.data, idx.data, idx.dtype == DataType::kInt64,
                                                            ctx.output(0).data, w, outer, dim, idx.num_elements(),
                                                            inner));
}

// ---- Pad --------------------------------------------------------------------------------------

class PadKernelLaunch : public CudaKernel {
 public:
  PadKernelLaunch(const void* in, void* out, size_t elem, int64_t n, PadGeometry g, const unsigned char fill[8],
                  const void* fill_ptr)
      : in_(in), out_(out), elem_(elem), n_(n), g_(g), fill_ptr_(fill_ptr) {
    std::memcpy(fill_, fill, 8);
  }
  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    DispatchBySize(elem_, [&](auto tag) {
      using T = decltype(tag);
      PadKernel<T><<<GridSize(n_), kBlockSize, 0, stream>>>(static_cast<const T*>(in_), static_cast<T*>(out_), n_, g_,
                                                            ElemFromBytes<T>(fill_), static_cast<const T*>(fill_ptr_));
    });
    return Launched("PadKernel");
  }

 private:
  const void* in_;
  void* out_;
  size_t elem_;
  int64_t n_;
  PadGeometry g_;
  unsigned char fill_[8];
  const void* fill_ptr_;
};

StatusOr<CudaKernelPtr> CreatePad(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  const CudaTensor& x = ctx.input(0);
  const Shape& in = x.shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  if (rank > kMaxRank)
    return ctx.NotSupported("input rank " + std::to_string(rank) + " is above " + std::to_string(kMaxRank));
  PadGeometry g;
  EDGERT_ASSIGN_OR_RETURN(std::string mode, AttrString(op, "mode", "constant"));
  if (mode == "constant") {
    g.mode = kPadConstant;
  } else if (mode == "reflect") {
    g.mode = kPadReflect;
  } else if (mode == "edge") {
    g.mode = kPadEdge;
  } else if (mode == "wrap") {
    g.mode = kPadWrap;
  } else {
    return ctx.Error("mode '" + mode + "' is not one of constant, reflect, edge, wrap");
  }
  std::vector<int64_t> pads;
  if (op.has_input(1)) {
    EDGERT_ASSIGN_OR_RETURN(pads, ConstInputInts(op, 1, "pads"));
  } else if (op.attrs().Has("pads") || op.attrs().Has("paddings")) {
    EDGERT_ASSIGN_OR_RETURN(pads, AttrInts(op, op.attrs().Has("pads") ? "pads" : "paddings", {}));
  } else {
    return ctx.Error("pads are required (the 'pads' input, or attribute before opset 11)");
  }
  std::vector<int64_t> axes;
  if (op.has_input(3)) {
    EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> raw, ConstInputInts(op, 3, "axes"));
    EDGERT_ASSIGN_OR_RETURN(axes, NormalizeAxes(op, raw, rank));
  } else {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  if (pads.size() != 2 * axes.size())
    return ctx.Error("pads has " + std::to_string(pads.size()) + " values, expected " +
                     std::to_string(2 * axes.size()));
  g.rank = static_cast<int>(rank);
  const std::vector<int64_t> istr = ContiguousStrides(in);
  for (int64_t d = 0; d < rank; ++d) {
    g.in_dims[d] = in[static_cast<size_t>(d)];
    g.in_strides[d] = istr[static_cast<size_t>(d)];
  }
  std::vector<int64_t> end(static_cast<size_t>(rank), 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    g.begin[axes[i]] = pads[i];
    end[static_cast<size_t>(axes[i])] = pads[i + axes.size()];
  }
  for (int64_t d = 0; d < rank; ++d) {
    g.out_dims[d] = in[static_cast<size_t>(d)] + g.begin[d] + end[static_cast<size_t>(d)];
    if (g.out_dims[d] != ctx.output(0).shape[static_cast<size_t>(d)]) {
      return ctx.Error("padded shape disagrees with the output " + ShapeToString(ctx.output(0).shape));
    }
    const bool outside = g.begin[d] > 0 || end[static_cast<size_t>(d)] > 0;
    if (outside && g.mode != kPadConstant && g.in_dims[d] == 0) {
      return ctx.Error("cannot pad the empty axis " + std::to_string(d) + " in a non-constant mode");
    }
    if (outside && g.mode == kPadReflect && g.in_dims[d] < 2) {
      return ctx.Error("reflect mode needs at least 2 elements on padded axis " + std::to_string(d));
    }
  }
  g.last_only = g.mode == kPadConstant && rank > 0;
  for (int64_t d = 0; d < rank; ++d) {
    g.last_only = g.last_only && g.begin[d] == 0 && (d == rank - 1 || end[static_cast<size_t>(d)] == 0);
  }
  // The fill value: constant_value (input 2) with one element, else the 'value' attribute.
  unsigned char fill[8] = {};
  const void* fill_ptr = nullptr;
  const DataType dt = x.dtype;
  const bool has_cv = ctx.has_input(2) && ctx.input(2).num_elements() == 1;
  if (has_cv && op.input(2).value != nullptr) {
    HostElementBytes(*op.input(2).value, 0, dt, fill);
  } else if (has_cv) {
    if (ctx.input(2).dtype != dt) {
      return ctx.NotSupported(std::string("a runtime constant_value of dtype ") + DataTypeName(ctx.input(2).dtype) +
                              " for data of dtype " + DataTypeName(dt));
    }
    fill_ptr = ctx.input(2).data;
  } else {
    EDGERT_ASSIGN_OR_RETURN(float value, AttrFloat(op, "value", 0.0f));
    ScalarToBytes(value, dt, fill);
  }
  return CudaKernelPtr(std::make_unique<PadKernelLaunch>(x.data, ctx.output(0).data, DataTypeSize(dt),
                                                         ctx.output(0).num_elements(), g, fill, fill_ptr));
}

// ---- Tile ------------------------------------------------------------------------------------

// The output viewed as [r0, d0, r1, d1, ...] is contiguous; the input is read with stride 0 over
// each repeat dimension (repeats = output / input per axis). A view left with more than kMaxRank
// dimensions after simplification runs as Pad in wrap mode instead.
StatusOr<CudaKernelPtr> CreateTile(const CudaOpContext& ctx) {
  const Shape& in = ctx.input(0).shape;
  const Shape& out = ctx.output(0).shape;
  if (in.size() != out.size()) return ctx.Error("input and output ranks differ");
  const std::vector<int64_t> istr = ContiguousStrides(in);
  Shape dims;
  std::vector<int64_t> strides;
  for (size_t d = 0; d < in.size(); ++d) {
    const int64_t reps = in[d] == 0 ? 1 : out[d] / in[d];
    if (in[d] != 0 && reps * in[d] != out[d]) {
      return ctx.Error("output " + ShapeToString(out) + " is not a tiling of input " + ShapeToString(in));
    }
    dims.push_back(in[d] == 0 ? 0 : reps);
    strides.push_back(0);
    dims.push_back(in[d]);
    strides.push_back(istr[d]);
  }
  Shape sd;
  std::vector<int64_t> ss;
  SimplifyView(dims, strides, &sd, &ss);
  if (sd.size() <= static_cast<size_t>(kMaxRank) || in.size() > static_cast<size_t>(kMaxRank)) {
    return MakeViewCopy(ctx, dims, strides, 0);
  }
  // Too many repeated dimensions for a strided view: Tile is Pad in wrap mode with no leading pad.
  PadGeometry g;
  g.rank = static_cast<int>(in.size());
  g.mode = kPadWrap;
  for (size_t d = 0; d < in.size(); ++d) {
    g.out_dims[d] = out[d];
    g.in_dims[d] = in[d];
    g.in_strides[d] = istr[d];
  }
  const unsigned char zero[8] = {};
  return CudaKernelPtr(std::make_unique<PadKernelLaunch>(ctx.input(0).data, ctx.output(0).data,
                                                         DataTypeSize(ctx.input(0).dtype), ctx.output(0).num_elements(),
                                                         g, zero, nullptr));
}

// ---- Shape / ConstantOfShape / Range ----------------------------------------------------------

class ShapeKernelLaunch : public CudaKernel {
 public:
  ShapeKernelLaunch(void* out, int n, Int64Values values) : out_(out), n_(n), values_(values) {}
  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    WriteValuesKernel<<<1, kMaxShapeValues, 0, stream>>>(static_cast<int64_t*>(out_), n_, values_);
    return Launched("WriteValuesKernel");
  }

 private:
  void* out_;
  int n_;
  Int64Values values_;
};

StatusOr<CudaKernelPtr> CreateShape(const CudaOpContext& ctx) {
  const Shape& s = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(s.size());
  EDGERT_ASSIGN_OR_RETURN(int64_t start, AttrInt(*ctx.op, "start", 0));
  EDGERT_ASSIGN_OR_RETURN(int64_t end, AttrInt(*ctx.op, "end", rank));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::min(std::max<int64_t>(start, 0), rank);
  end = std::min(std::max<int64_t>(end, 0), rank);
  if (end < start) end = start;
  const int64_t n = end - start;
  if (ctx.output(0).dtype != DataType::kInt64 || ctx.output(0).num_elements() != n) {
    return ctx.Error("output must be int64 with " + std::to_string(n) + " elements");
  }
  if (n > kMaxShapeValues) {
    return ctx.NotSupported("reports " + std::to_string(n) + " dimensions; the CUDA kernel handles up to " +
                            std::to_string(kMaxShapeValues));
  }
  Int64Values values;
  for (int64_t d = start; d < end; ++d) values.v[d - start] = s[static_cast<size_t>(d)];
  return CudaKernelPtr(std::make_unique<ShapeKernelLaunch>(ctx.output(0).data, static_cast<int>(n), values));
}

class FillKernelLaunch : public CudaKernel {
 public:
  FillKernelLaunch(void* out, size_t elem, int64_t n, const unsigned char value[8]) : out_(out), elem_(elem), n_(n) {
    std::memcpy(value_, value, 8);
  }
  Status Enqueue(cudaStream_t stream) override { return EnqueueFill(stream, out_, elem_, n_, value_); }

 private:
  void* out_;
  size_t elem_;
  int64_t n_;
  unsigned char value_[8];
};

StatusOr<CudaKernelPtr> CreateConstantOfShape(const CudaOpContext& ctx) {
  const CudaTensor& out = ctx.output(0);
  EDGERT_RETURN_IF_ERROR(CheckMovable(ctx, out, "output"));
  unsigned char value[8] = {};
  if (ctx.op->attrs().Has("value")) {
    EDGERT_ASSIGN_OR_RETURN(Tensor v, ctx.op->attrs().GetTensor("value", ctx.name()));
    if (v.num_elements() != 1) return ctx.Error("attribute 'value' must hold exactly one element");
    HostElementBytes(v, 0, out.dtype, value);
  } else {
    ScalarToBytes(0.0, out.dtype, value);
  }
  return CudaKernelPtr(
      std::make_unique<FillKernelLaunch>(out.data, DataTypeSize(out.dtype), out.num_elements(), value));
}

template <typename T, typename O>
class RangeKernelLaunch : public CudaKernel {
 public:
  RangeKernelLaunch(void* out, int64_t n, T start, T delta) : out_(out), n_(n), start_(start), delta_(delta) {}
  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    RangeKernel<T, O><<<GridSize(n_), kBlockSize, 0, stream>>>(static_cast<O*>(out_), n_, start_, delta_);
    return Launched("RangeKernel");
  }

 private:
  void* out_;
  int64_t n_;
  T start_, delta_;
};

template <typename T, typename O = T>
CudaKernelPtr MakeRange(const CudaOpContext& ctx) {
  const T start = ctx.op->input(0).value->data<T>()[0];
  const T delta = ctx.op->input(2).value->data<T>()[0];
  return std::make_unique<RangeKernelLaunch<T, O>>(ctx.output(0).data, ctx.output(0).num_elements(), start, delta);
}

StatusOr<CudaKernelPtr> CreateRange(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  const char* names[] = {"start", "limit", "delta"};
  for (size_t i = 0; i < 3; ++i) {
    if (!op.has_input(i) || op.input(i).value == nullptr || op.input(i).value->num_elements() != 1) {
      return ctx.NotSupported(std::string("input '") + names[i] + "' must be a scalar known at build time");
    }
    if (op.input(i).value->dtype() != op.input(0).dtype) return ctx.Error("inputs differ in dtype");
  }
  const DataType t = op.input(0).value->dtype();
  const DataType dt = ctx.output(0).dtype;
  switch (t) {
    case DataType::kFloat32:
      if (dt == DataType::kFloat16) return MakeRange<float, __half>(ctx);
      return MakeRange<float>(ctx);
    case DataType::kFloat64:
      return MakeRange<double>(ctx);
    case DataType::kInt16:
      return MakeRange<int16_t>(ctx);
    case DataType::kInt32:
      return MakeRange<int32_t>(ctx);
    case DataType::kInt64:
      return MakeRange<int64_t>(ctx);
    default:
      return ctx.NotSupported(std::string("dtype ") + DataTypeName(t) + " is not supported");
  }
}

#undef EDGERT_GRID_STRIDE_LOOP

}  // namespace

StatusOr<CudaKernelPtr> CreateTensorKernel(const CudaOpContext& ctx) {
  const OpType op = ctx.op->op();
  switch (op) {
    case OpType::kShape:
      return CreateShape(ctx);
    case OpType::kConstantOfShape:
      return CreateConstantOfShape(ctx);
    case OpType::kRange:
      return CreateRange(ctx);
    default:
      break;
  }
  if (!ctx.has_input(0)) return ctx.Error("input 0 is required");
  EDGERT_RETURN_IF_ERROR(CheckMovable(ctx, ctx.input(0), "input 0"));
  switch (op) {
    case OpType::kFlatten:
    case OpType::kReshape:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kIdentity:
    case OpType::kDropout:
      return CreateCopy(ctx);
    case OpType::kTranspose:
      return CreateTranspose(ctx);
    case OpType::kConcat:
      return CreateConcat(ctx);
    case OpType::kSplit:
      return CreateSplit(ctx);
    case OpType::kSlice:
      return CreateSlice(ctx);
    case OpType::kGather:
      return CreateGather(ctx);
    case OpType::kExpand:
      return CreateExpand(ctx);
    case OpType::kTile:
      return CreateTile(ctx);
    case OpType::kPad:
      return CreatePad(ctx);
    case OpType::kDepthToSpace:
    case OpType::kSpaceToDepth:
      return CreateBlock(ctx);
    case OpType::kResize:
    case OpType::kUpsample:
      return CreateResizeKernel(ctx);
    default:
      return ctx.NotSupported("is not an operator of the CUDA tensor family");
  }
}

}  // namespace cuda
}  // namespace edgert
