// CUDA kernels: ReduceSum/Mean/Max/Min/Prod, ArgMax/ArgMin, TopK, Softmax, LogSoftmax.
//
// Reduce* (float32/float16, int32, int64; ReduceMax/Min also int8, int16, bool), semantics as runtime/src/ops/reduce.cc:
//   Axes come from the attribute (ReduceSum before opset 13, the others before 18) or from the
//   build-time constant input 1. Empty axes reduce everything, or with noop_with_empty_axes=1 the
//   op is a copy. On the host, dims of extent 1 are dropped and neighbouring dims that are both
//   kept or both reduced are merged. One reduced group gives the (outer, len, inner) form:
//     inner == 1  rows: a warp per row (len <= 1024) or a block per row; few long rows are split
//                 into chunks whose partial accumulators go to the workspace, then combined by a
//                 second kernel (a warp per row);
//     inner > 1   columns: a 32 x 8 block per (outer, 32 inner) tile, 8 threads down each column,
//                 combined through shared memory; with fewer tiles than SMs (a channels-last
//                 global pool at batch 1) long columns are split into chunks whose partial
//                 accumulators go to the workspace, combined in chunk order by a second kernel.
//   More reduced groups: the general path, the rows kernel with strided index maps (kept groups
//   give the row's base offset, reduced groups the offset of element r of the row).
//   Accumulation: float for float data; int64 with wrap-around for integers (as the CPU's WrapAdd/
//   WrapMul, then truncated to the element type). Max/Min start at -inf/+inf (integer lowest/max)
//   and skip NaN, so an all-NaN or empty set gives the start value; Mean of an empty set is NaN
//   (float) or 0 (integer), Sum 0, Prod 1.
// ArgMax/ArgMin (float, int32, int64): per line of the [outer, n, inner] view, the first extreme
//   element (the last with select_last_index=1), NaN elements skipped, except that a NaN first
//   element wins (index 0), which is what the CPU's sequential scan gives. Lines: a warp (or block)
//   per line when inner == 1, a thread per line otherwise.
// TopK (float, int32, int64; K a build-time constant): order "before" = larger value first
//   (smaller for largest=0), NaN the largest value, ties by the smaller index: a strict total order,
//   the CPU's comparator, so the output (sorted=0 included) equals the CPU's exactly. Lines of up to
//   4096 elements: one block bitonic-sorts (value, index) pairs in shared memory and writes the
//   first K. Longer lines, K <= 64: K selection rounds per line, round j taking the first element
//   after round j-1's (a block reduction each). Longer lines, larger K: batches of lines are
//   bitonic-sorted in the workspace (tiles in shared memory, long distances as global passes;
//   at most 64 MiB of workspace, so lines of up to ~5.5M elements).
// Softmax/LogSoftmax (float): opset >= 13 normalises over `axis` alone, older opsets over the
//   flattened shape[axis:]. Per line: maximum, sum of exp(x - max) in float, then
//   exp(x - max) * (1 / sum) or (x - max) - log(sum). Contiguous lines (or few lines): a warp or
//   block per line; strided lines (inner > 1, many of them): a thread per line.
// Enqueue only launches (plus a device-to-device copy for the identity reduction).
#include <math_constants.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "../../ops/op_util.h"
#include "kernels_reduce_util.cuh"

namespace edgert {
namespace cuda {
namespace {

using namespace reduce_util;  // this family's shared helpers (kernels_reduce_util.cuh)

// ---------------------------------------------------------------------------------------------
// Reduce*

enum class ReduceKind { kSum, kMean, kProd, kMax, kMin };

template <ReduceKind kKind, typename T>
struct ReduceOp {
  using Acc = AccT<T>;
  static constexpr bool kFloat = kIsFloatStorage<T>;

  __device__ __forceinline__ static Acc Init() {
    if constexpr (kKind == ReduceKind::kSum || kKind == ReduceKind::kMean) {
      return Acc(0);
    } else if constexpr (kKind == ReduceKind::kProd) {
      return Acc(1);
    } else if constexpr (kKind == ReduceKind::kMax) {
      if constexpr (kFloat) {
        return -CUDART_INF_F;
      } else {
        return static_cast<Acc>(std::numeric_limits<T>::lowest());
      }
    } else {
      if constexpr (kFloat) {
        return CUDART_INF_F;
      } else {
        return static_cast<Acc>(std::numeric_limits<T>::max());
      }
    }
  }

  // `x` is an element or another partial accumulator (those are never NaN for Max/Min).
  __device__ __forceinline__ Acc operator()(Acc a, Acc x) const {
    if constexpr (kKind == ReduceKind::kSum || kKind == ReduceKind::kMean) {
      if constexpr (kFloat) {
        return a + x;
      } else {
        return static_cast<Acc>(static_cast<uint64_t>(a) + static_cast<uint64_t>(x));
      }
    } else if constexpr (kKind == ReduceKind::kProd) {
      if constexpr (kFloat) {
        return a * x;
      } else {
        return static_cast<Acc>(static_cast<uint64_t>(a) * static_cast<uint64_t>(x));
      }
    } else if constexpr (kKind == ReduceKind::kMax) {
      return x > a ? x : a;
    } else {
      return x < a ? x : a;
    }
  }

  __device__ __forceinline__ static Acc Finish(Acc a, int64_t count) {
    if constexpr (kKind == ReduceKind::kMean) {
      if constexpr (kFloat) {
        return a / static_cast<float>(count);
      } else {
        return count == 0 ? Acc(0) : a / count;
      }
    } else {
      return a;
    }
  }
};

// Row r of a contiguous [rows, len] view.
struct ContiguousRows {
  int64_t len;
  __device__ __forceinline__ int64_t Offset(int64_t row, int64_t r) const { return row * len + r; }
};

// General path: kept dims give the row base, reduced dims the offset inside the row.
struct StridedRows {
  StridedMap kept;
  StridedMap reduced;
  __device__ __forceinline__ int64_t Offset(int64_t row, int64_t r) const {
    return kept.Offset(row) + reduced.Offset(r);
  }
};

// A warp per row; 256-thread blocks hold 8 rows.
template <ReduceKind kKind, typename T, typename Index>
__global__ void ReduceRowsWarpKernel(const T* x, T* y, Index index, int64_t rows, int64_t len, int64_t count) {
  using Op = ReduceOp<kKind, T>;
  const Op op;
  const int lane = threadIdx.x & 31;
  const int64_t warps_per_block = blockDim.x >> 5;
  for (int64_t row = blockIdx.x * warps_per_block + (threadIdx.x >> 5); row < rows;
       row += static_cast<int64_t>(gridDim.x) * warps_per_block) {
    typename Op::Acc a = Op::Init();
    for (int64_t r = lane; r < len; r += 32) a = op(a, LoadAcc(x + index.Offset(row, r)));
    a = WarpReduce(a, op);
    if (lane == 0) StoreAcc(y + row, Op::Finish(a, count));
  }
}

// A block per (row, chunk) work item. chunks == 1: finished values to y; otherwise partial
// accumulators to partial[row * chunks + chunk].
template <ReduceKind kKind, typename T, typename Index>
__global__ void ReduceRowsBlockKernel(const T* x, T* y, AccT<T>* partial, Index index, int64_t rows, int64_t len,
                                      int64_t chunks, int64_t chunk_len, int64_t count) {
  using Op = ReduceOp<kKind, T>;
  using Acc = typename Op::Acc;
  const Op op;
  __shared__ Acc smem[32];
  for (int64_t w = blockIdx.x; w < rows * chunks; w += gridDim.x) {
    const int64_t row = w / chunks;
    const int64_t begin = (w % chunks) * chunk_len;
    const int64_t end = min(len, begin + chunk_len);
    Acc a = Op::Init();
    for (int64_t r = begin + threadIdx.x; r < end; r += blockDim.x) a = op(a, LoadAcc(x + index.Offset(row, r)));
    a = BlockReduce(a, op, smem);
    if (threadIdx.x == 0) {
      if (chunks == 1) {
        StoreAcc(y + row, Op::Finish(a, count));
      } else {
        partial[w] = a;
      }
    }
  }
}

// Combines each row's `chunks` partial accumulators (a warp per row).
template <ReduceKind kKind, typename T>
__global__ void ReduceFinishKernel(const AccT<T>* partial, T* y, int64_t rows, int64_t chunks, int64_t count) {
  using Op = ReduceOp<kKind, T>;
  const Op op;
  const int lane = threadIdx.x & 31;
  const int64_t warps_per_block = blockDim.x >> 5;
  for (int64_t row = blockIdx.x * warps_per_block + (threadIdx.x >> 5); row < rows;
       row += static_cast<int64_t>(gridDim.x) * warps_per_block) {
    typename Op::Acc a = Op::Init();
    for (int64_t c = lane; c < chunks; c += 32) a = op(a, partial[row * chunks + c]);
    a = WarpReduce(a, op);
    if (lane == 0) StoreAcc(y + row, Op::Finish(a, count));
  }
}

// [outer, len, inner] reduced over len: 32 x 8 blocks, one per (outer, 32-wide inner tile, chunk
// of len). With one chunk the block finishes the outputs; with several (`partial` set) it writes
// its chunk's accumulator to partial[(o * chunks + chunk) * inner + i] for ReduceColumnsFinishKernel.
template <ReduceKind kKind, typename T>
__global__ void ReduceColumnsKernel(const T* x, T* y, AccT<T>* partial, int64_t outer, int64_t len, int64_t inner,
                                    int64_t chunks, int64_t chunk_len, int64_t count) {
  GridDependencySync();
  using Op = ReduceOp<kKind, T>;
  using Acc = typename Op::Acc;
  const Op op;
  __shared__ Acc smem[8][33];
  const int64_t tiles = (inner + 31) / 32;
  for (int64_t t = blockIdx.x; t < outer * tiles * chunks; t += gridDim.x) {
    const int64_t chunk = t % chunks;
    const int64_t o = t / chunks / tiles;
    const int64_t i = ((t / chunks) % tiles) * 32 + threadIdx.x;
    const int64_t end = (chunk + 1) * chunk_len < len ? (chunk + 1) * chunk_len : len;
    Acc a = Op::Init();
    if (i < inner) {
      for (int64_t r = chunk * chunk_len + threadIdx.y; r < end; r += 8) a = op(a, LoadAcc(x + (o * len + r) * inner + i));
    }
    smem[threadIdx.y][threadIdx.x] = a;
    __syncthreads();
    if (threadIdx.y == 0 && i < inner) {
      for (int k = 1; k < 8; ++k) a = op(a, smem[k][threadIdx.x]);
      if (partial != nullptr) {
        partial[(o * chunks + chunk) * inner + i] = a;
      } else {
        StoreAcc(y + o * inner + i, Op::Finish(a, count));
      }
    }
    __syncthreads();
  }
}

// Combines the column chunks' accumulators: one thread per output (o, i), chunks in order.
template <ReduceKind kKind, typename T>
__global__ void ReduceColumnsFinishKernel(const AccT<T>* partial, T* y, int64_t outer, int64_t inner, int64_t chunks,
                                          int64_t count) {
  GridDependencySync();
  using Op = ReduceOp<kKind, T>;
  const Op op;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < outer * inner;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t o = j / inner;
    const int64_t i = j % inner;
    typename Op::Acc a = Op::Init();
    for (int64_t c = 0; c < chunks; ++c) a = op(a, partial[(o * chunks + c) * inner + i]);
    StoreAcc(y + j, Op::Finish(a, count));
  }
}

// Calls fn(T{}) for the reduction storage types: float32/float16, int32, int64 and, with
// kOrderedTypes (ReduceMax/ReduceMin, as on the CPU), also int8, int16 and bool.
template <bool kOrderedTypes = false, typename Fn>
bool DispatchReduceType(DataType dtype, Fn&& fn) {
  switch (dtype) {
    case DataType::kFloat32: fn(float{}); return true;
    case DataType::kFloat16: fn(__half{}); return true;
    case DataType::kInt32: fn(int32_t{}); return true;
    case DataType::kInt64: fn(int64_t{}); return true;
    default: break;
  }
  if constexpr (kOrderedTypes) {
    switch (dtype) {
      case DataType::kInt8: fn(int8_t{}); return true;
      case DataType::kInt16: fn(int16_t{}); return true;
      case DataType::kBool: fn(bool{}); return true;
      default: break;
    }
  }
  return false;
}

struct ReducePlan {
  enum class Path { kEmpty, kCopy, kRows, kColumns, kGeneral } path = Path::kEmpty;
  int64_t outer = 1, len = 1, inner = 1;  // kRows (outer = rows), kColumns, kGeneral (outer = rows)
  int64_t count = 1;                      // elements folded into each output (Mean's divisor)
  int64_t chunks = 1, chunk_len = 1;      // split of len (kRows, kGeneral, kColumns)
  StridedRows strided;                    // kGeneral
  size_t copy_bytes = 0;                  // kCopy
};

int SmCount(const CudaOpContext& ctx) {
  return ctx.resources != nullptr && ctx.resources->sm_count > 0 ? ctx.resources->sm_count : 132;
}

StatusOr<ReducePlan> PlanReduce(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  const int axes_input_opset = op.op() == OpType::kReduceSum ? 13 : 18;
  EDGERT_RETURN_IF_ERROR(AttrFlag(op, "keepdims", true).status());  // the declared output shape reflects it
  EDGERT_ASSIGN_OR_RETURN(bool noop, AttrFlag(op, "noop_with_empty_axes", false));
  std::vector<int64_t> axes;
  if (op.opset() >= axes_input_opset) {
    if (op.has_input(1)) {
      EDGERT_ASSIGN_OR_RETURN(axes, ConstInputInts(op, 1, "axes"));
    }
  } else {
    EDGERT_ASSIGN_OR_RETURN(axes, AttrInts(op, "axes", {}));
  }
  const Shape& in = ctx.input(0).shape;
  const int64_t n_in = NumElements(in);
  const int64_t n_out = ctx.output(0).num_elements();
  ReducePlan p;
  if (axes.empty() && noop) {
    p.path = n_in == 0 ? ReducePlan::Path::kEmpty : ReducePlan::Path::kCopy;
    p.copy_bytes = ctx.input(0).bytes();
    return p;
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> norm, NormalizeAxes(op, axes, static_cast<int64_t>(in.size()), "axes"));
  std::vector<bool> reduced(in.size(), axes.empty());
  for (int64_t a : norm) reduced[static_cast<size_t>(a)] = true;
  p.count = 1;
  for (size_t d = 0; d < in.size(); ++d) {
    if (reduced[d]) p.count *= in[d];
  }
  if (n_out == 0) return p;  // kEmpty
  if (p.count == 0) {        // every output is the reduction of the empty set
    p.path = ReducePlan::Path::kRows;
    p.outer = n_out;
    p.len = 0;
    return p;
  }
  // Groups of merged dims (extent-1 dims dropped), innermost last.
  struct Group {
    int64_t size;
    int64_t stride;
    bool reduced;
  };
  std::vector<Group> groups;
  int64_t stride = 1;
  std::vector<int64_t> strides(in.size());
  for (size_t d = in.size(); d-- > 0;) {
    strides[d] = stride;
    stride *= in[d];
  }
  for (size_t d = 0; d < in.size(); ++d) {
    if (in[d] == 1) continue;
    if (!groups.empty() && groups.back().reduced == reduced[d]) {
      groups.back().size *= in[d];
      groups.back().stride = strides[d];
    } else {
      groups.push_back(Group{in[d], strides[d], reduced[d]});
    }
  }
  int reduced_groups = 0;
  for (const Group& g : groups) reduced_groups += g.reduced ? 1 : 0;
  if (reduced_groups == 0) {
    p.path = ReducePlan::Path::kCopy;
    p.copy_bytes = ctx.input(0).bytes();
    return p;
  }
  if (reduced_groups == 1) {
    bool seen = false;
    p.outer = 1;
    p.inner = 1;
    for (const Group& g : groups) {
      if (g.reduced) {
        p.len = g.size;
        seen = true;
      } else if (seen) {
        p.inner *= g.size;
      } else {
        p.outer *= g.size;
      }
    }
    p.path = p.inner == 1 ? ReducePlan::Path::kRows : ReducePlan::Path::kColumns;
  } else {
    Shape kept_dims, red_dims;
    std::vector<int64_t> kept_strides, red_strides;
    for (const Group& g : groups) {
      (g.reduced ? red_dims : kept_dims).push_back(g.size);
      (g.reduced ? red_strides : kept_strides).push_back(g.stride);
    }
    if (kept_dims.size() > static_cast<size_t>(kMaxRank) || red_dims.size() > static_cast<size_t>(kMaxRank)) {
      return ctx.NotSupported("reducing axes that leave more than " + std::to_string(kMaxRank) +
                              " separate dimension groups is not supported (input shape " + ShapeToString(in) + ")");
    }
    p.path = ReducePlan::Path::kGeneral;
    p.strided.kept = MakeStridedMap(kept_dims, kept_strides);
    p.strided.reduced = MakeStridedMap(red_dims, red_strides);
    p.outer = NumElements(kept_dims);
    p.len = p.count;
  }
  if (p.path != ReducePlan::Path::kColumns && p.len > 16384 && p.outer < 2 * SmCount(ctx)) {
    const int64_t want = (4 * SmCount(ctx) + p.outer - 1) / p.outer;
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(want, (p.len + 4095) / 4096));
    p.chunk_len = (p.len + chunks - 1) / chunks;
    p.chunks = (p.len + p.chunk_len - 1) / p.chunk_len;
  }
  // Columns (a channels-last global pool: [N, H*W, C] over H*W): fewer 32-wide tiles than SMs
  // would leave the GPU idle while 8 threads walk each long column, so len is split into chunks
  // of at least kColumnChunk rows until there are about 4 blocks per SM.
  constexpr int64_t kColumnChunk = 128;
  const int64_t column_tiles = p.outer * ((p.inner + 31) / 32);
  if (p.path == ReducePlan::Path::kColumns && column_tiles < 2 * SmCount(ctx) && p.len >= 2 * kColumnChunk) {
    const int64_t want = (4 * SmCount(ctx) + column_tiles - 1) / column_tiles;
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(want, p.len / kColumnChunk));
    p.chunk_len = (p.len + chunks - 1) / chunks;
    p.chunks = (p.len + p.chunk_len - 1) / p.chunk_len;
  }
  if (p.chunks == 1) p.chunk_len = p.len;
  return p;
}

template <ReduceKind kKind, typename T, typename Index>
void LaunchRows(const ReducePlan& p, const Index& index, const T* x, T* y, void* workspace, cudaStream_t stream) {
  if (p.chunks > 1) {
    auto* partial = static_cast<AccT<T>*>(workspace);
    ReduceRowsBlockKernel<kKind, T, Index><<<ItemGrid(p.outer * p.chunks), 256, 0, stream>>>(
        x, y, partial, index, p.outer, p.len, p.chunks, p.chunk_len, p.count);
    ReduceFinishKernel<kKind, T><<<GridSize(p.outer * 32), kBlockSize, 0, stream>>>(partial, y, p.outer, p.chunks,
                                                                                    p.count);
  } else if (p.len <= 1024) {
    ReduceRowsWarpKernel<kKind, T, Index><<<GridSize(p.outer * 32), kBlockSize, 0, stream>>>(x, y, index, p.outer,
                                                                                           p.len, p.count);
  } else {
    ReduceRowsBlockKernel<kKind, T, Index><<<ItemGrid(p.outer), LineBlockSize(p.len), 0, stream>>>(
        x, y, nullptr, index, p.outer, p.len, 1, p.len, p.count);
  }
}

template <ReduceKind kKind>
StatusOr<CudaKernelPtr> CreateReduce(const CudaOpContext& ctx) {
  const DataType dtype = ctx.input(0).dtype;
  if (ctx.output(0).dtype != dtype) {
    return ctx.Error(std::string("output dtype ") + DataTypeName(ctx.output(0).dtype) + " differs from input dtype " +
                     DataTypeName(dtype));
  }
  EDGERT_ASSIGN_OR_RETURN(ReducePlan p, PlanReduce(ctx));
  const void* x = ctx.input(0).data;
  void* y = ctx.output(0).data;
  constexpr bool kOrdered = kKind == ReduceKind::kMax || kKind == ReduceKind::kMin;
  StatusOr<CudaKernelPtr> kernel = ctx.NotSupported(
      std::string(DataTypeName(dtype)) + " data is not supported (float32, float16, int32, int64" +
      (kOrdered ? ", int8, int16, bool are)" : " are)"));
  auto create = [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    T* yt = static_cast<T*>(y);
    const int64_t partials = p.outer * p.chunks * (p.path == ReducePlan::Path::kColumns ? p.inner : 1);
    const size_t workspace = p.chunks > 1 ? static_cast<size_t>(partials) * sizeof(AccT<T>) : 0;
    kernel = MakeLaunchKernel(
        "Reduce",
        [p, xt, yt](cudaStream_t stream, void* ws) {
          switch (p.path) {
            case ReducePlan::Path::kEmpty:
              break;
            case ReducePlan::Path::kCopy:
              cudaMemcpyAsync(yt, xt, p.copy_bytes, cudaMemcpyDeviceToDevice, stream);
              break;
            case ReducePlan::Path::kRows:
              LaunchRows<kKind, T>(p, ContiguousRows{p.len}, xt, yt, ws, stream);
              break;
            case ReducePlan::Path::kGeneral:
              LaunchRows<kKind, T>(p, p.strided, xt, yt, ws, stream);
              break;
            case ReducePlan::Path::kColumns: {
              auto* partial = p.chunks > 1 ? static_cast<AccT<T>*>(ws) : nullptr;
              // A failed launch stays cudaGetLastError's, which is read below.
              LaunchDependentUnchecked(ReduceColumnsKernel<kKind, T>,
                                       ItemGrid(p.outer * ((p.inner + 31) / 32) * p.chunks), dim3(32, 8), 0, stream, xt,
                                       yt, partial, p.outer, p.len, p.inner, p.chunks, p.chunk_len, p.count);
              if (partial != nullptr) {
                LaunchDependentUnchecked(ReduceColumnsFinishKernel<kKind, T>, GridSize(p.outer * p.inner), kBlockSize,
                                         0, stream, partial, yt, p.outer, p.inner, p.chunks, p.count);
              }
              break;
            }
          }
        },
        workspace);
  };
  DispatchReduceType<kOrdered>(dtype, create);
  return kernel;
}

// ---------------------------------------------------------------------------------------------
// Lines of an [outer, n, inner] view (ArgMax/ArgMin, TopK, Softmax)

struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
  __host__ __device__ __forceinline__ int64_t Base(int64_t line) const {
    return (line / inner) * n * inner + line % inner;
  }
  __host__ __device__ __forceinline__ int64_t lines() const { return outer * inner; }
};

AxisView ViewAround(const Shape& shape, int64_t axis) {
  AxisView v;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis) v.outer *= shape[static_cast<size_t>(d)];
    if (d == axis) v.n = shape[static_cast<size_t>(d)];
    if (d > axis) v.inner *= shape[static_cast<size_t>(d)];
  }
  return v;
}

// The comparison key of an element: float for float data, int64 for integers.
template <typename T>
using KeyT = std::conditional_t<kIsFloatStorage<T>, float, int64_t>;

template <typename K>
__device__ __forceinline__ bool IsNan(K v) {
  if constexpr (std::is_same_v<K, float>) {
    return v != v;
  } else {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin

// (value, index) candidate; index -1: none.
template <typename K>
struct ArgCand {
  K value;
  int64_t index;
};

template <typename K, bool kMax, bool kLast>
__device__ __forceinline__ ArgCand<K> ArgCombine(ArgCand<K> a, ArgCand<K> b) {
  if (b.index < 0) return a;
  if (a.index < 0) return b;
  const bool better = kMax ? b.value > a.value : b.value < a.value;
  if (better || (b.value == a.value && (kLast ? b.index > a.index : b.index < a.index))) return b;
  return a;
}

template <typename K, bool kMax, bool kLast>
__device__ __forceinline__ ArgCand<K> ArgWarpReduce(ArgCand<K> c) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    ArgCand<K> o;
    o.value = __shfl_xor_sync(0xffffffffu, c.value, offset);
    o.index = __shfl_xor_sync(0xffffffffu, c.index, offset);
    c = ArgCombine<K, kMax, kLast>(c, o);
  }
  return c;
}

template <typename T, bool kMax, bool kLast>
__device__ __forceinline__ ArgCand<KeyT<T>> ArgScan(const T* x, int64_t n, int64_t stride, int64_t start,
                                                     int64_t step) {
  using K = KeyT<T>;
  ArgCand<K> c{K(0), -1};
  for (int64_t j = start; j < n; j += step) {
    const K v = static_cast<K>(LoadAcc(x + j * stride));
    if (!IsNan(v)) c = ArgCombine<K, kMax, kLast>(c, ArgCand<K>{v, j});
  }
  return c;
}

// The CPU scan keeps a NaN first element: its index wins.
template <typename T>
__device__ __forceinline__ int64_t ArgResult(const T* line, int64_t index) {
  return IsNan(static_cast<KeyT<T>>(LoadAcc(line))) ? 0 : (index < 0 ? 0 : index);
}

// A warp per line; 256-thread blocks hold 8 lines.
template <typename T, bool kMax, bool kLast>
__global__ void ArgWarpKernel(const T* x, int64_t* y, AxisView v) {
  const int lane = threadIdx.x & 31;
  const int64_t warps_per_block = blockDim.x >> 5;
  for (int64_t line = blockIdx.x * warps_per_block + (threadIdx.x >> 5); line < v.lines();
       line += static_cast<int64_t>(gridDim.x) * warps_per_block) {
    const T* xl = x + v.Base(line);
    auto c = ArgWarpReduce<KeyT<T>, kMax, kLast>(ArgScan<T, kMax, kLast>(xl, v.n, v.inner, lane, 32));
    if (lane == 0) y[line] = ArgResult(xl, c.index);
  }
}

// A block per line (long contiguous lines).
template <typename T, bool kMax, bool kLast>
__global__ void ArgBlockKernel(const T* x, int64_t* y, AxisView v) {
  using K = KeyT<T>;
  __shared__ K s_value[32];
  __shared__ int64_t s_index[32];
  for (int64_t line = blockIdx.x; line < v.lines(); line += gridDim.x) {
    const T* xl = x + v.Base(line);
    auto c = ArgWarpReduce<K, kMax, kLast>(ArgScan<T, kMax, kLast>(xl, v.n, v.inner, threadIdx.x, blockDim.x));
    __syncthreads();
    if ((threadIdx.x & 31) == 0) {
      s_value[threadIdx.x >> 5] = c.value;
      s_index[threadIdx.x >> 5] = c.index;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      ArgCand<K> r{s_value[0], s_index[0]};
      for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
        r = ArgCombine<K, kMax, kLast>(r, ArgCand<K>{s_value[w], s_index[w]});
      }
      y[line] = ArgResult(xl, r.index);
    }
  }
}

// A thread per line (strided lines).
template <typename T, bool kMax, bool kLast>
__global__ void ArgThreadKernel(const T* x, int64_t* y, AxisView v) {
  for (int64_t line = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; line < v.lines();
       line += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T* xl = x + v.Base(line);
    y[line] = ArgResult(xl, ArgScan<T, kMax, kLast>(xl, v.n, v.inner, 0, 1).index);
  }
}

template <typename T, bool kMax, bool kLast>
void LaunchArg(const T* x, int64_t* y, AxisView v, cudaStream_t stream) {
  if (v.inner > 1 && v.lines() >= 2048) {
    ArgThreadKernel<T, kMax, kLast><<<GridSize(v.lines()), kBlockSize, 0, stream>>>(x, y, v);
  } else if (v.n <= 1024) {
    ArgWarpKernel<T, kMax, kLast><<<GridSize(v.lines() * 32), kBlockSize, 0, stream>>>(x, y, v);
  } else {
    ArgBlockKernel<T, kMax, kLast><<<ItemGrid(v.lines()), LineBlockSize(v.n), 0, stream>>>(x, y, v);
  }
}

StatusOr<CudaKernelPtr> CreateArg(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis_attr, AttrInt(op, "axis", 0));
  EDGERT_ASSIGN_OR_RETURN(bool select_last, AttrFlag(op, "select_last_index", false));
  const Shape& in = ctx.input(0).shape;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op, axis_attr, static_cast<int64_t>(in.size())));
  if (ctx.output(0).dtype != DataType::kInt64) {
    return ctx.Error(std::string("output is declared ") + DataTypeName(ctx.output(0).dtype) + ", expected int64");
  }
  const AxisView v = ViewAround(in, axis);
  const bool is_max = op.op() == OpType::kArgMax;
  const void* x = ctx.input(0).data;
  int64_t* y = static_cast<int64_t*>(ctx.output(0).data);
  const DataType dtype = ctx.input(0).dtype;
  StatusOr<CudaKernelPtr> kernel = ctx.NotSupported(std::string(DataTypeName(dtype)) +
                                                    " data is not supported (float32, float16, int32, int64 are)");
  DispatchReduceType(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    kernel = MakeLaunchKernel(is_max ? "ArgMax" : "ArgMin", [xt, y, v, is_max, select_last](cudaStream_t stream, void*) {
      if (v.lines() == 0 || v.n == 0) return;
      if (is_max) {
        if (select_last) {
          LaunchArg<T, true, true>(xt, y, v, stream);
        } else {
          LaunchArg<T, true, false>(xt, y, v, stream);
        }
      } else {
        if (select_last) {
          LaunchArg<T, false, true>(xt, y, v, stream);
        } else {
          LaunchArg<T, false, false>(xt, y, v, stream);
        }
      }
    });
  });
  return kernel;
}

// ---------------------------------------------------------------------------------------------
// TopK

inline constexpr int64_t kTopKSortMax = 4096;                // longest line sorted in shared memory
inline constexpr int64_t kTopKSelectMaxK = 64;               // largest K selected round by round
inline constexpr int64_t kTopKTile = 2048;                   // elements per block in the tiled bitonic passes
inline constexpr int64_t kTopKWorkspaceMax = int64_t{64} << 20;  // bytes of the global sort's workspace

// Strict total order of the CPU's TopK: true when (va, ia) comes before (vb, ib).
template <typename K, bool kLargest>
__device__ __forceinline__ bool Before(K va, int64_t ia, K vb, int64_t ib) {
  const bool na = IsNan(va), nb = IsNan(vb);
  if (na || nb) {
    if (na && nb) return ia < ib;
    return kLargest ? na : nb;
  }
  if (va != vb) return kLargest ? va > vb : va < vb;
  return ia < ib;
}

template <typename T>
__device__ __forceinline__ void StoreKey(T* p, KeyT<T> v) {
  if constexpr (kIsFloatStorage<T>) {
    Store(p, v);
  } else {
    *p = static_cast<T>(v);
  }
}

// A block per line: bitonic sort of the line's (key, index) pairs padded to `padded` (a power of
// two; padding has index >= n and sorts last), then the first k go out.
template <typename T, bool kLargest>
__global__ void TopKSortKernel(const T* x, T* values, int64_t* indices, AxisView v, int64_t k, int padded) {
  using K = KeyT<T>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  K* s_key = reinterpret_cast<K*>(smem_raw);
  int* s_idx = reinterpret_cast<int*>(s_key + padded);
  const int n = static_cast<int>(v.n);
  for (int64_t line = blockIdx.x; line < v.lines(); line += gridDim.x) {
    const T* xl = x + v.Base(line);
    for (int t = threadIdx.x; t < padded; t += blockDim.x) {
      s_key[t] = t < n ? static_cast<K>(LoadAcc(xl + t * v.inner)) : K(0);
      s_idx[t] = t;
    }
    __syncthreads();
    for (int size = 2; size <= padded; size <<= 1) {
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        for (int t = threadIdx.x; t < padded; t += blockDim.x) {
          const int partner = t ^ stride;
          if (partner > t) {
            const bool pad_t = s_idx[t] >= n, pad_p = s_idx[partner] >= n;
            // "a before b" with padding after everything
            const bool p_before_t =
                pad_p ? false : (pad_t ? true : Before<K, kLargest>(s_key[partner], s_idx[partner], s_key[t], s_idx[t]));
            const bool t_before_p =
                pad_t ? false : (pad_p ? true : Before<K, kLargest>(s_key[t], s_idx[t], s_key[partner], s_idx[partner]));
            const bool ascending = (t & size) == 0;
            if (ascending ? p_before_t : t_before_p) {
              const K tk = s_key[t];
              s_key[t] = s_key[partner];
              s_key[partner] = tk;
              const int ti = s_idx[t];
              s_idx[t] = s_idx[partner];
              s_idx[partner] = ti;
            }
          }
        }
        __syncthreads();
      }
    }
    const int64_t out_base = (line / v.inner) * k * v.inner + line % v.inner;
    for (int64_t j = threadIdx.x; j < k; j += blockDim.x) {
      StoreKey(values + out_base + j * v.inner, s_key[j]);
      indices[out_base + j * v.inner] = s_idx[j];
    }
    __syncthreads();
  }
}

// A block per line, k rounds: round j picks the first element (in "before" order) that comes
// after round j-1's pick.
template <typename T, bool kLargest>
__global__ void TopKSelectKernel(const T* x, T* values, int64_t* indices, AxisView v, int64_t k) {
  using K = KeyT<T>;
  __shared__ K s_key[32];
  __shared__ int64_t s_idx[32];
  const int lane = threadIdx.x & 31;
  for (int64_t line = blockIdx.x; line < v.lines(); line += gridDim.x) {
    const T* xl = x + v.Base(line);
    const int64_t out_base = (line / v.inner) * k * v.inner + line % v.inner;
    K prev_key = K(0);
    int64_t prev_idx = -1;
    for (int64_t round = 0; round < k; ++round) {
      K best_key = K(0);
      int64_t best_idx = -1;
      for (int64_t j = threadIdx.x; j < v.n; j += blockDim.x) {
        const K key = static_cast<K>(LoadAcc(xl + j * v.inner));
        if (prev_idx >= 0 && !Before<K, kLargest>(prev_key, prev_idx, key, j)) continue;
        if (best_idx < 0 || Before<K, kLargest>(key, j, best_key, best_idx)) {
          best_key = key;
          best_idx = j;
        }
      }
      for (int offset = 16; offset > 0; offset >>= 1) {
        const K ok = __shfl_xor_sync(0xffffffffu, best_key, offset);
        const int64_t oi = __shfl_xor_sync(0xffffffffu, best_idx, offset);
        if (oi >= 0 && (best_idx < 0 || Before<K, kLargest>(ok, oi, best_key, best_idx))) {
          best_key = ok;
          best_idx = oi;
        }
      }
      __syncthreads();
      if (lane == 0) {
        s_key[threadIdx.x >> 5] = best_key;
        s_idx[threadIdx.x >> 5] = best_idx;
      }
      __syncthreads();
      best_key = s_key[0];
      best_idx = s_idx[0];
      for (int w = 1; w < static_cast<int>(blockDim.x >> 5); ++w) {
        if (s_idx[w] >= 0 && (best_idx < 0 || Before<K, kLargest>(s_key[w], s_idx[w], best_key, best_idx))) {
          best_key = s_key[w];
          best_idx = s_idx[w];
        }
      }
      if (threadIdx.x == 0) {
        StoreKey(values + out_base + round * v.inner, best_key);
        indices[out_base + round * v.inner] = best_idx;
      }
      prev_key = best_key;
      prev_idx = best_idx;
    }
  }
}

// ---- Global bitonic sort (lines longer than kTopKSortMax, k > kTopKSelectMaxK) ----
// A batch of lines is copied to the workspace as (key, index) pairs padded to `padded` (a power of
// two; padding has index >= n and sorts last) and sorted by the bitonic network: stages up to
// kTopKTile and, of each larger stage, the distances below kTopKTile run per tile in shared memory;
// longer distances are one global pass each. The first k pairs of each line go out.

// Compare-exchange of positions a < b of the network: ascending puts the "before" element at a.
template <typename K, bool kLargest>
__device__ __forceinline__ void BitonicStep(K* key, int* idx, int64_t a, int64_t b, bool ascending, int64_t n) {
  const bool pad_a = idx[a] >= n, pad_b = idx[b] >= n;
  const bool b_before_a = pad_b ? false : (pad_a ? true : Before<K, kLargest>(key[b], idx[b], key[a], idx[a]));
  const bool a_before_b = pad_a ? false : (pad_b ? true : Before<K, kLargest>(key[a], idx[a], key[b], idx[b]));
  if (ascending ? b_before_a : a_before_b) {
    const K tk = key[a];
    key[a] = key[b];
    key[b] = tk;
    const int ti = idx[a];
    idx[a] = idx[b];
    idx[b] = ti;
  }
}

template <typename T>
__global__ void TopKLoadKernel(const T* x, KeyT<T>* keys, int* idx, AxisView v, int64_t line0, int64_t lines,
                               int64_t padded) {
  using K = KeyT<T>;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < lines * padded;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t l = e / padded, t = e % padded;
    keys[e] = t < v.n ? static_cast<K>(LoadAcc(x + v.Base(line0 + l) + t * v.inner)) : K(0);
    idx[e] = static_cast<int>(t);
  }
}

// Per tile of kTopKTile pairs: stages [size_lo, size_hi] (powers of two), each from distance
// min(size, kTopKTile) / 2 down to 1. Directions follow the position in the whole line.
template <typename K, bool kLargest>
__global__ void TopKTileKernel(K* keys, int* idx, int64_t lines, int64_t padded, int64_t n, int64_t size_lo,
                               int64_t size_hi) {
  __shared__ K s_key[kTopKTile];
  __shared__ int s_idx[kTopKTile];
  const int64_t tiles = padded / kTopKTile;
  for (int64_t w = blockIdx.x; w < lines * tiles; w += gridDim.x) {
    const int64_t l = w / tiles;
    const int64_t g0 = (w % tiles) * kTopKTile;
    K* kl = keys + l * padded + g0;
    int* il = idx + l * padded + g0;
    for (int t = threadIdx.x; t < kTopKTile; t += blockDim.x) {
      s_key[t] = kl[t];
      s_idx[t] = il[t];
    }
    __syncthreads();
    for (int64_t size = size_lo; size <= size_hi; size <<= 1) {
      for (int64_t stride = min(size, kTopKTile) >> 1; stride > 0; stride >>= 1) {
        for (int t = threadIdx.x; t < kTopKTile; t += blockDim.x) {
          const int partner = t ^ static_cast<int>(stride);
          if (partner > t) BitonicStep<K, kLargest>(s_key, s_idx, t, partner, ((g0 + t) & size) == 0, n);
        }
        __syncthreads();
      }
    }
    for (int t = threadIdx.x; t < kTopKTile; t += blockDim.x) {
      kl[t] = s_key[t];
      il[t] = s_idx[t];
    }
    __syncthreads();
  }
}

// One pass of stage `size` at distance `stride` (>= kTopKTile) over global memory.
template <typename K, bool kLargest>
__global__ void TopKGlobalPassKernel(K* keys, int* idx, int64_t lines, int64_t padded, int64_t n, int64_t size,
                                     int64_t stride) {
  const int64_t half = padded / 2;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < lines * half;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t l = e / half, q = e % half;
    const int64_t t = (q / stride) * 2 * stride + q % stride;
    BitonicStep<K, kLargest>(keys + l * padded, idx + l * padded, t, t + stride, (t & size) == 0, n);
  }
}

template <typename T>
__global__ void TopKWriteKernel(const KeyT<T>* keys, const int* idx, T* values, int64_t* indices, AxisView v,
                                int64_t line0, int64_t lines, int64_t padded, int64_t k) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < lines * k;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t l = e / k, j = e % k;
    const int64_t line = line0 + l;
    const int64_t out = (line / v.inner) * k * v.inner + line % v.inner + j * v.inner;
    StoreKey(values + out, keys[l * padded + j]);
    indices[out] = idx[l * padded + j];
  }
}

template <typename T, bool kLargest>
void LaunchTopKGlobalSort(const T* x, T* values, int64_t* indices, AxisView v, int64_t k, int64_t padded,
                          int64_t batch, void* workspace, cudaStream_t stream) {
  using K = KeyT<T>;
  K* keys = static_cast<K*>(workspace);
  int* idx = reinterpret_cast<int*>(keys + batch * padded);
  for (int64_t line0 = 0; line0 < v.lines(); line0 += batch) {
    const int64_t lines = std::min(batch, v.lines() - line0);
    TopKLoadKernel<T><<<GridSize(lines * padded), kBlockSize, 0, stream>>>(x, keys, idx, v, line0, lines, padded);
    const unsigned tile_grid = ItemGrid(lines * (padded / kTopKTile));
    TopKTileKernel<K, kLargest><<<tile_grid, 512, 0, stream>>>(keys, idx, lines, padded, v.n, 2, kTopKTile);
    for (int64_t size = 2 * kTopKTile; size <= padded; size <<= 1) {
      for (int64_t stride = size / 2; stride >= kTopKTile; stride >>= 1) {
        TopKGlobalPassKernel<K, kLargest><<<GridSize(lines * padded / 2), kBlockSize, 0, stream>>>(
            keys, idx, lines, padded, v.n, size, stride);
      }
      TopKTileKernel<K, kLargest><<<tile_grid, 512, 0, stream>>>(keys, idx, lines, padded, v.n, size, size);
    }
    TopKWriteKernel<T><<<GridSize(lines * k), kBlockSize, 0, stream>>>(keys, idx, values, indices, v, line0, lines,
                                                                       padded, k);
  }
}

StatusOr<CudaKernelPtr> CreateTopK(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  if (op.opset() < 10) {
    return ctx.NotSupported("TopK before opset 10 (k as an attribute) is not supported");
  }
  const Shape& in = ctx.input(0).shape;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis_attr, AttrInt(op, "axis", -1));
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op, axis_attr, static_cast<int64_t>(in.size())));
  EDGERT_ASSIGN_OR_RETURN(bool largest, AttrFlag(op, "largest", true));
  if (!ctx.has_input(1) || !ctx.input(1).is_constant()) {
    return ctx.NotSupported("input 'K' must be a build-time constant on CUDA");
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> ks, ConstInputInts(op, 1, "K"));
  if (ks.size() != 1) return ctx.Error("input 'K' must hold one value, got " + std::to_string(ks.size()));
  const int64_t k = ks[0];
  const AxisView v = ViewAround(in, axis);
  if (k < 0 || k > v.n) {
    return ctx.Error("k = " + std::to_string(k) + " is outside [0, " + std::to_string(v.n) + "]");
  }
  int64_t padded = 1;
  while (padded < v.n) padded <<= 1;
  // Bytes of one line in the global sort's workspace (8-byte key and 4-byte index at most).
  const int64_t line_bytes = padded * 12;
  if (v.n > kTopKSortMax && k > kTopKSelectMaxK && line_bytes > kTopKWorkspaceMax) {
    return ctx.NotSupported("k = " + std::to_string(k) + " over an axis of " + std::to_string(v.n) +
                            " elements is not supported (k <= " + std::to_string(kTopKSelectMaxK) + " or axis <= " +
                            std::to_string(kTopKWorkspaceMax / 12) + ")");
  }
  if (ctx.output(1).dtype != DataType::kInt64) {
    return ctx.Error(std::string("output 'Indices' is declared ") + DataTypeName(ctx.output(1).dtype) +
                     ", expected int64");
  }
  const void* x = ctx.input(0).data;
  void* values = ctx.output(0).data;
  int64_t* indices = static_cast<int64_t*>(ctx.output(1).data);
  const DataType dtype = ctx.input(0).dtype;
  StatusOr<CudaKernelPtr> kernel = ctx.NotSupported(std::string(DataTypeName(dtype)) +
                                                    " data is not supported (float32, float16, int32, int64 are)");
  DispatchReduceType(dtype, [&](auto tag) {
    using T = decltype(tag);
    using K = KeyT<T>;
    const T* xt = static_cast<const T*>(x);
    T* vt = static_cast<T*>(values);
    const int block_padded = static_cast<int>(padded);
    const size_t smem = static_cast<size_t>(padded) * (sizeof(K) + sizeof(int));
    const int threads = padded >= 1024 ? 512 : (padded >= 256 ? 256 : 64);
    const bool block_sort = v.n <= kTopKSortMax;
    const bool select = !block_sort && k <= kTopKSelectMaxK;
    const int64_t pair_bytes = static_cast<int64_t>(sizeof(K) + sizeof(int));
    const int64_t batch =
        block_sort || select ? 0 : std::max<int64_t>(1, std::min(v.lines(), kTopKWorkspaceMax / (padded * pair_bytes)));
    const size_t workspace = static_cast<size_t>(batch * padded * pair_bytes);
    kernel = MakeLaunchKernel(
        "TopK",
        [=](cudaStream_t stream, void* ws) {
          if (k == 0 || v.lines() == 0) return;
          if (block_sort) {
            if (largest) {
              TopKSortKernel<T, true><<<ItemGrid(v.lines()), threads, smem, stream>>>(xt, vt, indices, v, k,
                                                                                       block_padded);
            } else {
              TopKSortKernel<T, false><<<ItemGrid(v.lines()), threads, smem, stream>>>(xt, vt, indices, v, k,
                                                                                        block_padded);
            }
          } else if (select) {
            if (largest) {
              TopKSelectKernel<T, true><<<ItemGrid(v.lines()), 512, 0, stream>>>(xt, vt, indices, v, k);
            } else {
              TopKSelectKernel<T, false><<<ItemGrid(v.lines()), 512, 0, stream>>>(xt, vt, indices, v, k);
            }
          } else if (largest) {
            LaunchTopKGlobalSort<T, true>(xt, vt, indices, v, k, padded, batch, ws, stream);
          } else {
            LaunchTopKGlobalSort<T, false>(xt, vt, indices, v, k, padded, batch, ws, stream);
          }
        },
        workspace);
  });
  return kernel;
}

// ---------------------------------------------------------------------------------------------
// Softmax / LogSoftmax

template <bool kLog, typename T>
__device__ __forceinline__ void SoftmaxWrite(const T* x, T* y, float mx, float sum) {
  const float xv = Load(x);
  if (kLog) {
    Store(y, (xv - mx) - logf(sum));
  } else {
    Store(y, expf(xv - mx) * (1.0f / sum));
  }
}

// A warp per line (blockDim 256: 8 lines per block) or, with `block_per_line`, a block per line.
template <bool kLog, typename T>
__global__ void SoftmaxLineKernel(const T* x, T* y, AxisView v, bool block_per_line) {
  __shared__ float smem[32];
  const int64_t lanes = block_per_line ? blockDim.x : 32;
  const int64_t lane = block_per_line ? threadIdx.x : (threadIdx.x & 31);
  const int64_t per_block = block_per_line ? 1 : (blockDim.x >> 5);
  const int64_t first = blockIdx.x * per_block + (block_per_line ? 0 : (threadIdx.x >> 5));
  for (int64_t line = first; line < v.lines(); line += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t base = v.Base(line);
    const T* xl = x + base;
    T* yl = y + base;
    float mx = -CUDART_INF_F;
    for (int64_t j = lane; j < v.n; j += lanes) mx = FloatMax()(mx, Load(xl + j * v.inner));
    mx = block_per_line ? BlockReduce(mx, FloatMax(), smem) : WarpReduce(mx, FloatMax());
    float sum = 0.0f;
    for (int64_t j = lane; j < v.n; j += lanes) sum += expf(Load(xl + j * v.inner) - mx);
    sum = block_per_line ? BlockReduce(sum, FloatSum(), smem) : WarpReduce(sum, FloatSum());
    for (int64_t j = lane; j < v.n; j += lanes) SoftmaxWrite<kLog>(xl + j * v.inner, yl + j * v.inner, mx, sum);
  }
}

// A thread per (strided) line.
template <bool kLog, typename T>
__global__ void SoftmaxThreadKernel(const T* x, T* y, AxisView v) {
  for (int64_t line = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; line < v.lines();
       line += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = v.Base(line);
    const T* xl = x + base;
    T* yl = y + base;
    float mx = -CUDART_INF_F;
    for (int64_t j = 0; j < v.n; ++j) mx = FloatMax()(mx, Load(xl + j * v.inner));
    float sum = 0.0f;
    for (int64_t j = 0; j < v.n; ++j) sum += expf(Load(xl + j * v.inner) - mx);
    for (int64_t j = 0; j < v.n; ++j) SoftmaxWrite<kLog>(xl + j * v.inner, yl + j * v.inner, mx, sum);
  }
}

template <bool kLog, typename T>
void LaunchSoftmax(const T* x, T* y, AxisView v, cudaStream_t stream) {
  if (v.inner > 1 && v.lines() >= 2048) {
    SoftmaxThreadKernel<kLog, T><<<GridSize(v.lines()), kBlockSize, 0, stream>>>(x, y, v);
  } else if (v.n <= 1024) {
    SoftmaxLineKernel<kLog, T><<<GridSize(v.lines() * 32), kBlockSize, 0, stream>>>(x, y, v, false);
  } else {
    SoftmaxLineKernel<kLog, T><<<ItemGrid(v.lines()), LineBlockSize(v.n), 0, stream>>>(x, y, v, true);
  }
}

StatusOr<CudaKernelPtr> CreateSoftmax(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  const Shape& in = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(in.size());
  if (rank == 0) return ctx.Error("input is a scalar, expected rank >= 1");
  const bool legacy = op.opset() > 0 && op.opset() < 13;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis_attr, AttrInt(op, "axis", legacy ? 1 : -1));
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op, axis_attr, rank, "attribute 'axis'"));
  AxisView v;
  for (int64_t d = 0; d < axis; ++d) v.outer *= in[static_cast<size_t>(d)];
  if (legacy) {
    for (int64_t d = axis; d < rank; ++d) v.n *= in[static_cast<size_t>(d)];
  } else {
    v.n = in[static_cast<size_t>(axis)];
    for (int64_t d = axis + 1; d < rank; ++d) v.inner *= in[static_cast<size_t>(d)];
  }
  const bool log = op.op() == OpType::kLogSoftmax;
  const DataType dtype = ctx.input(0).dtype;
  const void* x = ctx.input(0).data;
  void* y = ctx.output(0).data;
  StatusOr<CudaKernelPtr> kernel =
      ctx.NotSupported(std::string(DataTypeName(dtype)) + " input is not supported (float32, float16 are)");
  DispatchFloat(dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xt = static_cast<const T*>(x);
    T* yt = static_cast<T*>(y);
    kernel = MakeLaunchKernel(log ? "LogSoftmax" : "Softmax", [xt, yt, v, log](cudaStream_t stream, void*) {
      if (v.lines() == 0 || v.n == 0) return;
      if (log) {
        LaunchSoftmax<true, T>(xt, yt, v, stream);
      } else {
        LaunchSoftmax<false, T>(xt, yt, v, stream);
      }
    });
  });
  return kernel;
}

}  // namespace

StatusOr<CudaKernelPtr> CreateReduceKernel(const CudaOpContext& ctx) {
  switch (ctx.op->op()) {
    case OpType::kReduceSum: return CreateReduce<ReduceKind::kSum>(ctx);
    case OpType::kReduceMean: return CreateReduce<ReduceKind::kMean>(ctx);
    case OpType::kReduceProd: return CreateReduce<ReduceKind::kProd>(ctx);
    case OpType::kReduceMax: return CreateReduce<ReduceKind::kMax>(ctx);
    case OpType::kReduceMin: return CreateReduce<ReduceKind::kMin>(ctx);
    case OpType::kArgMax:
    case OpType::kArgMin: return CreateArg(ctx);
    case OpType::kTopK: return CreateTopK(ctx);
    case OpType::kSoftmax:
    case OpType::kLogSoftmax: return CreateSoftmax(ctx);
    default: break;
  }
  return ctx.NotSupported("is not a reduction operator");
}

}  // namespace cuda
}  // namespace edgert
