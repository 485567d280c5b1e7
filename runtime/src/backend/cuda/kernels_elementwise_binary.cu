// Broadcasting elementwise CUDA kernels: Add, Sub, Mul, Div, PRelu, the comparisons, And, Or
// (NaryKernel with two operands), the variadic Min, Max, Sum, Mean (NaryKernel with up to
// kMaxOperands operands), Pow (PowKernel<TA, TB>) and Where (WhereKernel<T>).
//
// Algorithm: one thread per output element in a grid-stride loop; each operand is read through its
// OperandMap (kernels_elementwise.cuh): same-shape and scalar operands need no index math, the
// others a StridedMap over the collapsed broadcast dims. When no operand needs a StridedMap (same
// shape or scalar, the common residual-add and scale cases) and the buffers are aligned, each
// thread handles packs of 4 elements with vector loads and stores, then a scalar tail. Float storage (float32/float16)
// computes in float; integers with the CPU's semantics (ops/elementwise_binary.cc): wrapping Add/Sub/Mul/Neg, Div
// truncating toward zero with x / -1 = -x, exact integer Pow, NaN-propagating Min/Max. Variadic ops fold left to right
// as the CPU does (out = f(in0, in1), then f(out, ink)); more than kMaxOperands inputs run as several launches, each
// later one folding into the output in place. The output may alias an operand of its own shape (in-place memory plan):
// element i of such an operand is read only by the thread that then writes output element i.
//
// Integer division by zero: the CPU reports an error at run time. Here a constant divisor with a
// zero element is rejected at creation; a divisor computed by the network yields 0 for that element
// (Enqueue cannot report data-dependent errors without a host sync).
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "kernels_elementwise.cuh"

namespace edgert {
namespace cuda {
namespace ew {
namespace {

enum class BinOp : int32_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMax,
  kMin,
  kPRelu,
  kEqual,
  kLess,
  kGreater,
  kLessOrEqual,
  kGreaterOrEqual,
  kAnd,
  kOr,
};

inline constexpr int kMaxOperands = 8;

struct NaryParams {
  const void* in[kMaxOperands] = {};
  OperandMap map[kMaxOperands];
  int32_t count = 0;
  BinOp op = BinOp::kAdd;
  int32_t mean_divisor = 0;  // > 0: divide the result by it (Mean, last launch)
  bool small = true;
  // Every operand kSame or kScalar, kSame operands and the output 4-element aligned: packs of 4.
  bool vectorized = false;
};

template <typename C>
__host__ __device__ __forceinline__ bool IsNan(C v) {
  if constexpr (std::is_floating_point_v<C>) {
    return v != v;
  } else {
    return false;
  }
}

template <typename C>
__host__ __device__ __forceinline__ C Arith(BinOp op, C a, C b) {
  switch (op) {
    case BinOp::kAdd:
      return WrapAdd(a, b);
    case BinOp::kSub:
      return WrapSub(a, b);
    case BinOp::kMul:
      return WrapMul(a, b);
    case BinOp::kDiv:
      if constexpr (std::is_integral_v<C>) {
        if (b == C(-1)) return WrapNeg(a);
        return b == C(0) ? C(0) : static_cast<C>(a / b);
      } else {
        return a / b;
      }
    case BinOp::kMax:
      return (a >= b || IsNan(a)) ? a : b;
    case BinOp::kMin:
      return (a <= b || IsNan(a)) ? a : b;
    case BinOp::kPRelu:
      return a < C(0) ? WrapMul(a, b) : a;
    default:
      return a;
  }
}

template <typename C>
__host__ __device__ __forceinline__ bool Compare(BinOp op, C a, C b) {
  switch (op) {
    case BinOp::kEqual:
      return a == b;
    case BinOp::kLess:
      return a < b;
    case BinOp::kGreater:
      return a > b;
    case BinOp::kLessOrEqual:
      return a <= b;
    case BinOp::kGreaterOrEqual:
      return a >= b;
    case BinOp::kAnd:
      return static_cast<bool>(a) && static_cast<bool>(b);
    case BinOp::kOr:
      return static_cast<bool>(a) || static_cast<bool>(b);
    default:
      return false;
  }
}

// Operand k's elements 4q .. 4q+3 (vectorized path: kSame or kScalar).
template <typename T>
__device__ __forceinline__ void LoadPack(const void* ptr, MapKind kind, int64_t q, Compute<T> (&v)[4]) {
  const T* base = static_cast<const T*>(ptr);
  if (kind == MapKind::kScalar) {
    const Compute<T> s = LoadC(base);
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = s;
  } else {
    const Pack4<T> pack = reinterpret_cast<const Pack4<T>*>(base)[q];
#pragma unroll
    for (int j = 0; j < 4; ++j) v[j] = LoadC(&pack.v[j]);
  }
}

// The stored value of a folded result: divided by the operand count for Mean (last launch), then
// converted to the storage type.
template <typename T, typename O>
__device__ __forceinline__ O Finish(const NaryParams& p, Compute<T> acc) {
  if constexpr (std::is_floating_point_v<Compute<T>>) {
    if (p.mean_divisor > 0) acc = acc / static_cast<Compute<T>>(p.mean_divisor);
  }
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(acc);
  } else {
    return acc;
  }
}

// O = bool: a comparison or And/Or of operands 0 and 1. Otherwise the left fold of all operands.
// `out` may be operand 0 (a later variadic launch, an in-place plan): each element is read before
// it is written, by the same thread.
template <typename T, typename O>
__global__ void NaryKernel(const __grid_constant__ NaryParams p, O* out, int64_t n) {
  GridDependencySync();
  using C = Compute<T>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  int64_t tail = 0;
  if (p.vectorized) {
    const int64_t packs = n / 4;
    for (int64_t q = tid; q < packs; q += stride) {
      C acc[4];
      C b[4];
      Pack4<O> r;
      LoadPack<T>(p.in[0], p.map[0].kind, q, acc);
      if constexpr (std::is_same_v<O, bool>) {
        LoadPack<T>(p.in[1], p.map[1].kind, q, b);
#pragma unroll
        for (int j = 0; j < 4; ++j) r.v[j] = Compare(p.op, acc[j], b[j]);
      } else {
        for (int k = 1; k < p.count; ++k) {
          LoadPack<T>(p.in[k], p.map[k].kind, q, b);
#pragma unroll
          for (int j = 0; j < 4; ++j) acc[j] = Arith(p.op, acc[j], b[j]);
        }
#pragma unroll
        for (int j = 0; j < 4; ++j) r.v[j] = Finish<T, O>(p, acc[j]);
      }
      reinterpret_cast<Pack4<O>*>(out)[q] = r;
    }
    tail = packs * 4;
  }
  for (int64_t i = tail + tid; i < n; i += stride) {
    C acc = LoadC(static_cast<const T*>(p.in[0]) + OperandOffset(p.map[0], i, p.small));
    if constexpr (std::is_same_v<O, bool>) {
      const C b = LoadC(static_cast<const T*>(p.in[1]) + OperandOffset(p.map[1], i, p.small));
      out[i] = Compare(p.op, acc, b);
    } else {
      for (int k = 1; k < p.count; ++k) {
        acc = Arith(p.op, acc, LoadC(static_cast<const T*>(p.in[k]) + OperandOffset(p.map[k], i, p.small)));
      }
      out[i] = Finish<T, O>(p, acc);
    }
  }
}

// Host: whether `p`'s launch can take the vectorized path for element types T (in) and O (out).
template <typename T, typename O>
bool CanVectorize(const NaryParams& p, const void* out) {
  if (!Aligned(out, 4 * sizeof(O))) return false;
  for (int k = 0; k < p.count; ++k) {
    if (p.map[k].kind == MapKind::kStrided) return false;
    if (p.map[k].kind == MapKind::kSame && !Aligned(p.in[k], 4 * sizeof(T))) return false;
  }
  return true;
}

template <typename T, typename O>
void LaunchNary(const NaryParams& p, void* out, int64_t n, cudaStream_t stream) {
  // A failed launch stays cudaGetLastError's, which the caller reads.
  LaunchDependentUnchecked(NaryKernel<T, O>, GridSize(p.vectorized ? (n + 3) / 4 : n), kBlockSize, 0, stream, p,
                           static_cast<O*>(out), n);
}

// ---- Pow ------------------------------------------------------------------------------------------

struct PowParams {
  const void* a = nullptr;
  const void* b = nullptr;
  OperandMap map[2];
  bool small = true;
};

// Truncating, saturating double -> integer; NaN gives 0 (the CPU's SaturatingCast).
template <typename T>
__host__ __device__ __forceinline__ T SaturatingCast(double v) {
  if (v != v) return T(0);
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  return static_cast<T>(v);
}

// Exact integer power, wrapping; a negative exponent truncates 1 / base^-e toward zero.
template <typename T, typename E>
__host__ __device__ __forceinline__ T IntPow(T base, E exponent) {
  if (exponent < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exponent % 2 == 0) ? T(1) : T(-1);
    return 0;
  }
  T result = 1;
  T b = base;
  E e = exponent;
  while (e > 0) {
    if (e & 1) result = WrapMul(result, b);
    b = WrapMul(b, b);
    e >>= 1;
  }
  return result;
}

// a ^ b in the base's compute type. Float base and float exponent: powf; float base and integer
// exponent: pow in double; integer base: exact for an integer exponent, else pow in double
// truncated and saturated.
template <typename TA, typename TB>
__host__ __device__ __forceinline__ Compute<TA> PowElement(Compute<TA> a, Compute<TB> b) {
  if constexpr (kIsFloatStorage<TA>) {
    if constexpr (kIsFloatStorage<TB>) {
      return powf(a, b);
    } else {
      return static_cast<float>(pow(static_cast<double>(a), static_cast<double>(b)));
    }
  } else if constexpr (kIsFloatStorage<TB>) {
    return SaturatingCast<TA>(pow(static_cast<double>(a), static_cast<double>(b)));
  } else {
    return IntPow(a, b);
  }
}

template <typename TA, typename TB>
__global__ void PowKernel(const __grid_constant__ PowParams p, TA* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const Compute<TA> a = LoadC(static_cast<const TA*>(p.a) + OperandOffset(p.map[0], i, p.small));
    const Compute<TB> b = LoadC(static_cast<const TB*>(p.b) + OperandOffset(p.map[1], i, p.small));
    StoreC(out + i, PowElement<TA, TB>(a, b));
  }
}

template <typename TA, typename TB>
void LaunchPow(const PowParams& p, void* out, int64_t n, cudaStream_t stream) {
  PowKernel<TA, TB><<<GridSize(n), kBlockSize, 0, stream>>>(p, static_cast<TA*>(out), n);
}

// ---- Where ----------------------------------------------------------------------------------------

struct WhereParams {
  const bool* cond = nullptr;
  const void* x = nullptr;
  const void* y = nullptr;
  OperandMap map[3];
  bool small = true;
};

template <typename T>
__global__ void WhereKernel(const __grid_constant__ WhereParams p, T* out, int64_t n) {
  const T* x = static_cast<const T*>(p.x);
  const T* y = static_cast<const T*>(p.y);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = p.cond[OperandOffset(p.map[0], i, p.small)] ? x[OperandOffset(p.map[1], i, p.small)]
                                                         : y[OperandOffset(p.map[2], i, p.small)];
  }
}

template <typename T>
void LaunchWhere(const WhereParams& p, void* out, int64_t n, cudaStream_t stream) {
  WhereKernel<T><<<GridSize(n), kBlockSize, 0, stream>>>(p, static_cast<T*>(out), n);
}

// ---- Launch record ----------------------------------------------------------------------------------

// One or more launches of one kernel over the output, in order.
template <typename Params>
class ParamsLaunch : public CudaKernel {
 public:
  using LaunchFn = void (*)(const Params&, void*, int64_t, cudaStream_t);
  ParamsLaunch(const char* what, LaunchFn launch, std::vector<Params> params, void* out, int64_t n)
      : what_(what), launch_(launch), params_(std::move(params)), out_(out), n_(n) {}

  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    for (const Params& p : params_) launch_(p, out_, n_, stream);
    return LaunchStatus(what_);
  }

 private:
  const char* what_;
  LaunchFn launch_;
  std::vector<Params> params_;
  void* out_;
  int64_t n_;
};

bool Overlaps(const CudaTensor& a, const CudaTensor& b) {
  if (a.data == nullptr || b.data == nullptr) return false;
  const uintptr_t a0 = reinterpret_cast<uintptr_t>(a.data);
  const uintptr_t b0 = reinterpret_cast<uintptr_t>(b.data);
  return a0 < b0 + b.bytes() && b0 < a0 + a.bytes();
}

// The kernels are race-free in place only element for element: an output sharing bytes with an
// input must start at the same address with the same element size (what the memory plan's in-place
// rule gives: same dtype and shape). Anything else would let one thread overwrite an element
// another has not read yet, so it is refused.
Status CheckInPlace(const CudaOpContext& ctx) {
  const CudaTensor& out = ctx.output(0);
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i) || !Overlaps(out, ctx.input(i))) continue;
    const CudaTensor& in = ctx.input(i);
    if (in.data != out.data || DataTypeSize(in.dtype) != DataTypeSize(out.dtype)) {
      return ctx.Error("output shares bytes with input " + std::to_string(i) +
                       " other than element for element; the CUDA kernel would race");
    }
  }
  return Status::Ok();
}

Status CheckOutputDtype(const CudaOpContext& ctx, DataType want) {
  if (ctx.output(0).dtype == want) return Status::Ok();
  return ctx.Error(std::string("output is ") + DataTypeName(ctx.output(0).dtype) + " on the device, expected " +
                   DataTypeName(want));
}

Status RankNotSupported(const CudaOpContext& ctx) {
  return ctx.NotSupported("broadcast over output shape " + ShapeToString(ctx.output(0).shape) + " needs more than " +
                          std::to_string(kMaxRank) + " dims");
}

// Error naming the node when a constant integer divisor has a zero element (the CPU's run-time
// check, done once here).
Status CheckConstantDivisor(const CudaOpContext& ctx) {
  const CudaTensor& b = ctx.input(1);
  if (!b.is_constant() || IsFloatType(b.host->dtype())) return Status::Ok();
  for (int64_t i = 0; i < b.host->num_elements(); ++i) {
    if (b.host->GetAsInt64(i) == 0) {
      return ctx.Error("integer division by zero (divisor element " + std::to_string(i) + ")");
    }
  }
  return Status::Ok();
}

StatusOr<CudaKernelPtr> MakePow(const CudaOpContext& ctx) {
  const CudaTensor& a = ctx.input(0);
  const CudaTensor& b = ctx.input(1);
  const CudaTensor& out = ctx.output(0);
  EDGERT_RETURN_IF_ERROR(CheckOutputDtype(ctx, a.dtype));
  EDGERT_RETURN_IF_ERROR(CheckInPlace(ctx));
  PowParams p;
  p.a = a.data;
  p.b = b.data;
  p.small = SmallIndex(out.num_elements());
  std::vector<OperandMap> maps;
  if (!MakeOperandMaps({a.shape, b.shape}, out.shape, &maps)) return RankNotSupported(ctx);
  p.map[0] = maps[0];
  p.map[1] = maps[1];
  ParamsLaunch<PowParams>::LaunchFn launch = nullptr;
  DispatchDevice(NumericDeviceTypes{}, a.dtype, [&](auto tag_a) {
    DispatchDevice(NumericDeviceTypes{}, b.dtype,
                   [&](auto tag_b) { launch = &LaunchPow<decltype(tag_a), decltype(tag_b)>; });
  });
  if (launch == nullptr) {
    return ctx.NotSupported(std::string("dtypes ") + DataTypeName(a.dtype) + " and " + DataTypeName(b.dtype) +
                            " have no CUDA kernel");
  }
  return CudaKernelPtr(new ParamsLaunch<PowParams>("elementwise PowKernel", launch, {p}, out.data, out.num_elements()));
}

BinOp ToBinOp(OpType op) {
  switch (op) {
    case OpType::kAdd:
      return BinOp::kAdd;
    case OpType::kSub:
      return BinOp::kSub;
    case OpType::kMul:
      return BinOp::kMul;
    case OpType::kDiv:
      return BinOp::kDiv;
    case OpType::kPRelu:
      return BinOp::kPRelu;
    case OpType::kEqual:
      return BinOp::kEqual;
    case OpType::kLess:
      return BinOp::kLess;
    case OpType::kGreater:
      return BinOp::kGreater;
    case OpType::kLessOrEqual:
      return BinOp::kLessOrEqual;
    case OpType::kGreaterOrEqual:
      return BinOp::kGreaterOrEqual;
    case OpType::kAnd:
      return BinOp::kAnd;
    case OpType::kOr:
      return BinOp::kOr;
    case OpType::kMin:
      return BinOp::kMin;
    case OpType::kMax:
      return BinOp::kMax;
    case OpType::kSum:
    case OpType::kMean:
    default:
      return BinOp::kAdd;
  }
}

bool IsComparison(BinOp op) { return op >= BinOp::kEqual; }

}  // namespace

StatusOr<CudaKernelPtr> CreateBinaryKernel(const CudaOpContext& ctx) {
  if (ctx.op->op() == OpType::kPow) return MakePow(ctx);
  const CudaTensor& a = ctx.input(0);
  const CudaTensor& b = ctx.input(1);
  const CudaTensor& out = ctx.output(0);
  const BinOp op = ToBinOp(ctx.op->op());
  if (b.dtype != a.dtype) {
    return ctx.Error(std::string("inputs are ") + DataTypeName(a.dtype) + " and " + DataTypeName(b.dtype) +
                     " on the device; expected one dtype");
  }
  const bool compare = IsComparison(op);
  EDGERT_RETURN_IF_ERROR(CheckOutputDtype(ctx, compare ? DataType::kBool : a.dtype));
  EDGERT_RETURN_IF_ERROR(CheckInPlace(ctx));
  if (op == BinOp::kDiv) {
    EDGERT_RETURN_IF_ERROR(CheckConstantDivisor(ctx));
  }
  NaryParams p;
  p.in[0] = a.data;
  p.in[1] = b.data;
  p.count = 2;
  p.op = op;
  p.small = SmallIndex(out.num_elements());
  std::vector<OperandMap> maps;
  if (!MakeOperandMaps({a.shape, b.shape}, out.shape, &maps)) return RankNotSupported(ctx);
  p.map[0] = maps[0];
  p.map[1] = maps[1];
  ParamsLaunch<NaryParams>::LaunchFn launch = nullptr;
  if (op == BinOp::kAnd || op == BinOp::kOr) {
    DispatchDevice(DeviceTypes<bool>{}, a.dtype, [&](auto) {
      launch = &LaunchNary<bool, bool>;
      p.vectorized = CanVectorize<bool, bool>(p, out.data);
    });
  } else if (compare) {
    DispatchDevice(ValueDeviceTypes{}, a.dtype, [&](auto tag) {
      using T = decltype(tag);
      launch = &LaunchNary<T, bool>;
      p.vectorized = CanVectorize<T, bool>(p, out.data);
    });
  } else {
    DispatchDevice(NumericDeviceTypes{}, a.dtype, [&](auto tag) {
      using T = decltype(tag);
      launch = &LaunchNary<T, T>;
      p.vectorized = CanVectorize<T, T>(p, out.data);
    });
  }
  if (launch == nullptr) return DtypeNotSupported(ctx, a.dtype);
  return CudaKernelPtr(
      new ParamsLaunch<NaryParams>("elementwise NaryKernel", launch, {p}, out.data, out.num_elements()));
}

StatusOr<CudaKernelPtr> CreateVariadicKernel(const CudaOpContext& ctx) {
  const OpType op_type = ctx.op->op();
  const CudaTensor& out = ctx.output(0);
  const DataType dtype = ctx.input(0).dtype;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input " + std::to_string(i) + " is empty");
    if (ctx.input(i).dtype != dtype) {
      return ctx.Error("input " + std::to_string(i) + " is " + DataTypeName(ctx.input(i).dtype) +
                       " on the device, input 0 is " + DataTypeName(dtype));
    }
  }
  EDGERT_RETURN_IF_ERROR(CheckOutputDtype(ctx, dtype));
  EDGERT_RETURN_IF_ERROR(CheckInPlace(ctx));
  // Launches: inputs [0, kMaxOperands), then the output and the next kMaxOperands - 1 inputs, ...
  std::vector<NaryParams> launches;
  const size_t n_in = ctx.num_inputs();
  size_t next = 0;
  while (next < n_in) {
    NaryParams p;
    p.op = ToBinOp(op_type);
    p.small = SmallIndex(out.num_elements());
    std::vector<Shape> shapes;
    if (next > 0) {
      p.in[p.count++] = out.data;
      shapes.push_back(out.shape);
    }
    while (next < n_in && p.count < kMaxOperands) {
      p.in[p.count++] = ctx.input(next).data;
      shapes.push_back(ctx.input(next).shape);
      ++next;
    }
    std::vector<OperandMap> maps;
    if (!MakeOperandMaps(shapes, out.shape, &maps)) return RankNotSupported(ctx);
    for (size_t k = 0; k < maps.size(); ++k) p.map[k] = maps[k];
    launches.push_back(p);
  }
  if (op_type == OpType::kMean) launches.back().mean_divisor = static_cast<int32_t>(n_in);
  ParamsLaunch<NaryParams>::LaunchFn launch = nullptr;
  auto pick = [&](auto tag) {
    using T = decltype(tag);
    launch = &LaunchNary<T, T>;
    for (NaryParams& p : launches) p.vectorized = CanVectorize<T, T>(p, out.data);
  };
  switch (op_type) {
    case OpType::kMean:
      DispatchDevice(FloatDeviceTypes{}, dtype, pick);
      break;
    case OpType::kSum:
      DispatchDevice(NumericDeviceTypes{}, dtype, pick);
      break;
    default:
      DispatchDevice(OrderedDeviceTypes{}, dtype, pick);
      break;
  }
  if (launch == nullptr) return DtypeNotSupported(ctx, dtype);
  return CudaKernelPtr(new ParamsLaunch<NaryParams>("elementwise NaryKernel", launch, std::move(launches), out.data,
                                                    out.num_elements()));
}

StatusOr<CudaKernelPtr> CreateWhereKernel(const CudaOpContext& ctx) {
  const CudaTensor& cond = ctx.input(0);
  const CudaTensor& x = ctx.input(1);
  const CudaTensor& y = ctx.input(2);
  const CudaTensor& out = ctx.output(0);
  if (cond.dtype != DataType::kBool) return DtypeNotSupported(ctx, cond.dtype, "condition dtype");
  if (y.dtype != x.dtype) {
    return ctx.Error(std::string("inputs X and Y are ") + DataTypeName(x.dtype) + " and " + DataTypeName(y.dtype) +
                     " on the device; expected one dtype");
  }
  EDGERT_RETURN_IF_ERROR(CheckOutputDtype(ctx, x.dtype));
  EDGERT_RETURN_IF_ERROR(CheckInPlace(ctx));
  WhereParams p;
  p.cond = static_cast<const bool*>(cond.data);
  p.x = x.data;
  p.y = y.data;
  p.small = SmallIndex(out.num_elements());
  std::vector<OperandMap> maps;
  if (!MakeOperandMaps({cond.shape, x.shape, y.shape}, out.shape, &maps)) return RankNotSupported(ctx);
  for (size_t k = 0; k < 3; ++k) p.map[k] = maps[k];
  ParamsLaunch<WhereParams>::LaunchFn launch = nullptr;
  DispatchDevice(ValueDeviceTypes{}, x.dtype, [&](auto tag) { launch = &LaunchWhere<decltype(tag)>; });
  if (launch == nullptr) return DtypeNotSupported(ctx, x.dtype);
  return CudaKernelPtr(
      new ParamsLaunch<WhereParams>("elementwise WhereKernel", launch, {p}, out.data, out.num_elements()));
}

}  // namespace ew
}  // namespace cuda
}  // namespace edgert
