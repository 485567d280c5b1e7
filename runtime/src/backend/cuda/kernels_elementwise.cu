// The elementwise CUDA family's entry point (CreateElementwiseKernel) and its unary kernels:
// float activations and math (Relu ... Ceil, Clip), the integer/bool unary ops (Relu, Neg, Abs,
// Clip, Not) and EdgertFusedElementwise.
//
// Float unary ops and fused chains share one kernel, ChainKernel<T> (T = float or __half): a
// StepProgram of up to kMaxSteps (kind, a, b) steps, passed by value as a __grid_constant__
// parameter, applied in float to every element; a unary op is a one-step program. Each step is the
// formula of the CPU operator (ops/elementwise_unary.cc, ops/fused_elementwise.cc), using
// activations.cuh where it has one. The kernel is a grid-stride loop over packs of 4 elements
// (one 16-byte / 8-byte vector load and store) when input and output are 4-element aligned, then a
// scalar tail. A chain longer than kMaxSteps runs as several launches, in place after the first.
// Integer unary ops run IntUnaryKernel<T>, with the CPU's wrapping Neg/Abs. Output 0 may alias
// input 0 (in-place memory plan): each element is read, then written, by one thread.
//
// Clip: bounds come from attributes min/max before opset 11, otherwise from the optional inputs
// min and max (the type's lowest/max when absent). A constant bound is read on the host at creation;
// a bound computed by the network is read on the device by every thread (no host sync).
#include <cfloat>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "activations.cuh"
#include "cuda_check.h"
#include "kernels_elementwise.cuh"
#include "op_util.h"

namespace edgert {
namespace cuda {
namespace ew {
namespace {

enum class StepKind : int32_t {
  kRelu,
  kLeakyRelu,  // a = alpha
  kSigmoid,
  kTanh,
  kHardSigmoid,  // a = alpha, b = beta
  kHardSwish,
  kElu,   // a = alpha
  kSelu,  // a = alpha, b = gamma
  kSoftplus,
  kErf,
  kGelu,
  kGeluTanh,
  kMish,
  kSqrt,
  kExp,
  kLog,
  kNeg,
  kAbs,
  kReciprocal,
  kFloor,
  kCeil,
  kAdd,   // x + a
  kSub,   // x - a
  kRSub,  // a - x
  kMul,   // x * a
  kDiv,   // x / a
  kRDiv,  // a / x
  kPow,   // x ^ a
  kMax,   // NaN in x propagates
  kMin,
  kClip,        // bounds a, b
  kClipInputs,  // bounds from the program's lo/hi (device inputs or defaults)
};

struct DeviceStep {
  StepKind kind = StepKind::kRelu;
  float a = 0.0f;
  float b = 0.0f;
};

inline constexpr int kMaxSteps = 24;

struct StepProgram {
  int32_t count = 0;
  const void* lo_ptr = nullptr;  // kClipInputs: device scalar of the element type, or null
  const void* hi_ptr = nullptr;
  float lo_default = -FLT_MAX;
  float hi_default = FLT_MAX;
  DeviceStep steps[kMaxSteps];
};

__device__ __forceinline__ float Softplus(float x) { return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x)); }

__device__ __forceinline__ float ApplyStep(const DeviceStep& s, float x, float lo, float hi) {
  const float a = s.a;
  switch (s.kind) {
    case StepKind::kRelu:
      return ActRelu(x);
    case StepKind::kLeakyRelu:
      return ActLeakyRelu(x, a);
    case StepKind::kSigmoid:
      return ActSigmoid(x);
    case StepKind::kTanh:
      return tanhf(x);
    case StepKind::kHardSigmoid:
      return ActHardSigmoid(x, a, s.b);
    case StepKind::kHardSwish:
      return ActHardSwish(x);
    case StepKind::kElu:
      return x >= 0.0f ? x : a * expm1f(x);
    case StepKind::kSelu:
      return x > 0.0f ? s.b * x : s.b * a * expm1f(x);
    case StepKind::kSoftplus:
      return Softplus(x);
    case StepKind::kErf:
      return erff(x);
    case StepKind::kGelu:
      return ActGelu(x);
    case StepKind::kGeluTanh:
      return ActGeluTanh(x);
    case StepKind::kMish:
      return x * tanhf(Softplus(x));
    case StepKind::kSqrt:
      return sqrtf(x);
    case StepKind::kExp:
      return expf(x);
    case StepKind::kLog:
      return logf(x);
    case StepKind::kNeg:
      return -x;
    case StepKind::kAbs:
      return fabsf(x);
    case StepKind::kReciprocal:
      return 1.0f / x;
    case StepKind::kFloor:
      return floorf(x);
    case StepKind::kCeil:
      return ceilf(x);
    case StepKind::kAdd:
      return x + a;
    case StepKind::kSub:
      return x - a;
    case StepKind::kRSub:
      return a - x;
    case StepKind::kMul:
      return x * a;
    case StepKind::kDiv:
      return x / a;
    case StepKind::kRDiv:
      return a / x;
    case StepKind::kPow:
      return powf(x, a);
    case StepKind::kMax:
      return (x >= a || x != x) ? x : a;
    case StepKind::kMin:
      return (x <= a || x != x) ? x : a;
    case StepKind::kClip:
      return ActClip(x, a, s.b);
    case StepKind::kClipInputs:
      return ActClip(x, lo, hi);
  }
  return x;
}

template <typename T>
__global__ void ChainKernel(const T* x, T* y, int64_t n, const __grid_constant__ StepProgram prog, bool vectorized) {
  GridDependencySync();
  const float lo = prog.lo_ptr != nullptr ? Load(static_cast<const T*>(prog.lo_ptr)) : prog.lo_default;
  const float hi = prog.hi_ptr != nullptr ? Load(static_cast<const T*>(prog.hi_ptr)) : prog.hi_default;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  int64_t tail = 0;
  if (vectorized) {
    const int64_t packs = n / 4;
    const Pack4<T>* xp = reinterpret_cast<const Pack4<T>*>(x);
    Pack4<T>* yp = reinterpret_cast<Pack4<T>*>(y);
    for (int64_t p = tid; p < packs; p += stride) {
      Pack4<T> v = xp[p];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        float f = Load(&v.v[j]);
        for (int s = 0; s < prog.count; ++s) f = ApplyStep(prog.steps[s], f, lo, hi);
        Store(&v.v[j], f);
      }
      yp[p] = v;
    }
    tail = packs * 4;
  }
  for (int64_t i = tail + tid; i < n; i += stride) {
    float f = Load(x + i);
    for (int s = 0; s < prog.count; ++s) f = ApplyStep(prog.steps[s], f, lo, hi);
    Store(y + i, f);
  }
}

// x and y may alias (an in-place memory plan, or the continuation of a long chain), hence no
// __restrict__: every element is read and then written by the same thread.
template <typename T>
void LaunchChain(const void* x, void* y, int64_t n, const StepProgram& prog, bool vectorized, cudaStream_t stream) {
  const int64_t work = vectorized ? (n + 3) / 4 : n;
  // A failed launch stays cudaGetLastError's, which the caller reads.
  LaunchDependentUnchecked(ChainKernel<T>, GridSize(work), kBlockSize, 0, stream, static_cast<const T*>(x),
                           static_cast<T*>(y), n, prog, vectorized);
}

class ChainLaunch : public CudaKernel {
 public:
  using LaunchFn = void (*)(const void*, void*, int64_t, const StepProgram&, bool, cudaStream_t);
  ChainLaunch(LaunchFn launch, const void* x, void* y, int64_t n, std::vector<StepProgram> programs, bool vectorized)
      : launch_(launch), x_(x), y_(y), n_(n), programs_(std::move(programs)), vectorized_(vectorized) {}

  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    for (size_t i = 0; i < programs_.size(); ++i) {
      launch_(i == 0 ? x_ : y_, y_, n_, programs_[i], vectorized_, stream);
    }
    return LaunchStatus("elementwise ChainKernel");
  }

 private:
  LaunchFn launch_;
  const void* x_;
  void* y_;
  int64_t n_;
  std::vector<StepProgram> programs_;
  bool vectorized_;
};

// The launch record of `steps` over input 0 -> output 0 (float32 or float16 on the device).
StatusOr<CudaKernelPtr> MakeChain(const CudaOpContext& ctx, const std::vector<DeviceStep>& steps,
                                  const void* lo_ptr = nullptr, const void* hi_ptr = nullptr,
                                  float lo_default = -FLT_MAX, float hi_default = FLT_MAX) {
  const CudaTensor& x = ctx.input(0);
  const CudaTensor& y = ctx.output(0);
  if (y.dtype != x.dtype || y.num_elements() != x.num_elements()) {
    return ctx.Error(std::string("output is ") + DataTypeName(y.dtype) + " " + ShapeToString(y.shape) +
                     ", expected the input's " + DataTypeName(x.dtype) + " " + ShapeToString(x.shape));
  }
  std::vector<StepProgram> programs;
  for (size_t start = 0; start < steps.size(); start += kMaxSteps) {
    StepProgram p;
    p.lo_ptr = lo_ptr;
    p.hi_ptr = hi_ptr;
    p.lo_default = lo_default;
    p.hi_default = hi_default;
    for (size_t i = start; i < steps.size() && i < start + kMaxSteps; ++i) p.steps[p.count++] = steps[i];
    programs.push_back(p);
  }
  ChainLaunch::LaunchFn launch = nullptr;
  size_t elem = 0;
  DispatchDevice(FloatDeviceTypes{}, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    launch = &LaunchChain<T>;
    elem = sizeof(T);
  });
  if (launch == nullptr) return DtypeNotSupported(ctx, x.dtype);
  const bool vectorized = Aligned(x.data, 4 * elem) && Aligned(y.data, 4 * elem);
  return CudaKernelPtr(new ChainLaunch(launch, x.data, y.data, x.num_elements(), std::move(programs), vectorized));
}

// ---- Integer and bool unary ops ---------------------------------------------------------------------

enum class IntUnaryOp : int32_t { kRelu, kNeg, kAbs, kClip, kNot };

template <typename T>
__global__ void IntUnaryKernel(const T* x, T* y, int64_t n, IntUnaryOp op, T lo, T hi, const T* lo_ptr,
                               const T* hi_ptr) {
  const T clip_lo = lo_ptr != nullptr ? *lo_ptr : lo;
  const T clip_hi = hi_ptr != nullptr ? *hi_ptr : hi;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const T v = x[i];
    if constexpr (std::is_same_v<T, bool>) {
      y[i] = !v;
    } else {
      T r = v;
      switch (op) {
        case IntUnaryOp::kRelu:
          r = v > T(0) ? v : T(0);
          break;
        case IntUnaryOp::kNeg:
          r = WrapNeg(v);
          break;
        case IntUnaryOp::kAbs:
          r = v < T(0) ? WrapNeg(v) : v;
          break;
        case IntUnaryOp::kClip: {
          const T m = v < clip_lo ? clip_lo : v;
          r = clip_hi < m ? clip_hi : m;
          break;
        }
        case IntUnaryOp::kNot:
          break;
      }
      y[i] = r;
    }
  }
}

template <typename T>
class IntUnaryLaunch : public CudaKernel {
 public:
  IntUnaryLaunch(const T* x, T* y, int64_t n, IntUnaryOp op, T lo, T hi, const T* lo_ptr, const T* hi_ptr)
      : x_(x), y_(y), n_(n), op_(op), lo_(lo), hi_(hi), lo_ptr_(lo_ptr), hi_ptr_(hi_ptr) {}

  Status Enqueue(cudaStream_t stream) override {
    if (n_ <= 0) return Status::Ok();
    IntUnaryKernel<T><<<GridSize(n_), kBlockSize, 0, stream>>>(x_, y_, n_, op_, lo_, hi_, lo_ptr_, hi_ptr_);
    return LaunchStatus("elementwise IntUnaryKernel");
  }

 private:
  const T* x_;
  T* y_;
  int64_t n_;
  IntUnaryOp op_;
  T lo_, hi_;
  const T* lo_ptr_;
  const T* hi_ptr_;
};

// Integer Relu/Neg/Abs (int32, int64), Clip (int8 ... int64) and Not (bool).
StatusOr<CudaKernelPtr> MakeIntUnary(const CudaOpContext& ctx, IntUnaryOp op) {
  const CudaTensor& x = ctx.input(0);
  const CudaTensor& y = ctx.output(0);
  if (y.dtype != x.dtype || y.num_elements() != x.num_elements()) {
    return ctx.Error(std::string("output is ") + DataTypeName(y.dtype) + " " + ShapeToString(y.shape) +
                     ", expected the input's " + DataTypeName(x.dtype) + " " + ShapeToString(x.shape));
  }
  // Clip: constant bounds (in range of the input's dtype, as the CPU reads them), device bounds.
  bool has_const[2] = {false, false};
  int64_t const_bound[2] = {0, 0};
  const void* bound_ptr[2] = {nullptr, nullptr};
  if (op == IntUnaryOp::kClip) {
    for (size_t i = 1; i <= 2; ++i) {
      if (!ctx.has_input(i)) continue;
      const CudaTensor& b = ctx.input(i);
      if (b.is_constant()) {
        EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> v, ConstInputInts(*ctx.op, i, i == 1 ? "min" : "max"));
        if (v.size() != 1) return ctx.Error("Clip bounds min and max must be scalars");
        has_const[i - 1] = true;
        const_bound[i - 1] = v[0];
      } else {
        if (b.dtype != x.dtype) {
          return ctx.Error(std::string("bound is ") + DataTypeName(b.dtype) + " on the device, input is " +
                           DataTypeName(x.dtype));
        }
        bound_ptr[i - 1] = b.data;
      }
    }
  }
  CudaKernelPtr kernel;
  auto make = [&](auto tag) {
    using T = decltype(tag);
    const T lo = has_const[0] ? static_cast<T>(const_bound[0]) : std::numeric_limits<T>::lowest();
    const T hi = has_const[1] ? static_cast<T>(const_bound[1]) : std::numeric_limits<T>::max();
    kernel.reset(new IntUnaryLaunch<T>(static_cast<const T*>(x.data), static_cast<T*>(y.data), x.num_elements(), op, lo,
                                       hi, static_cast<const T*>(bound_ptr[0]), static_cast<const T*>(bound_ptr[1])));
  };
  bool dispatched = false;
  switch (op) {
    case IntUnaryOp::kNot:
      dispatched = DispatchDevice(DeviceTypes<bool>{}, x.dtype, make);
      break;
    case IntUnaryOp::kClip:
      dispatched = DispatchDevice(DeviceTypes<int32_t, int64_t, int8_t, int16_t>{}, x.dtype, make);
      break;
    case IntUnaryOp::kRelu:
    case IntUnaryOp::kNeg:
    case IntUnaryOp::kAbs:
      dispatched = DispatchDevice(DeviceTypes<int32_t, int64_t>{}, x.dtype, make);
      break;
  }
  if (!dispatched) return DtypeNotSupported(ctx, x.dtype);
  return kernel;
}

// ---- Clip ------------------------------------------------------------------------------------------

StatusOr<CudaKernelPtr> MakeClip(const CudaOpContext& ctx) {
  const DataType dtype = ctx.input(0).dtype;
  const bool is_float = dtype == DataType::kFloat32 || dtype == DataType::kFloat16;
  if (ctx.op->opset() < 11) {
    if (!is_float) return DtypeNotSupported(ctx, dtype);
    EDGERT_ASSIGN_OR_RETURN(float lo, AttrFloat(*ctx.op, "min", std::numeric_limits<float>::lowest()));
    EDGERT_ASSIGN_OR_RETURN(float hi, AttrFloat(*ctx.op, "max", std::numeric_limits<float>::max()));
    return MakeChain(ctx, {DeviceStep{StepKind::kClip, lo, hi}});
  }
  if (!is_float) return MakeIntUnary(ctx, IntUnaryOp::kClip);
  const void* ptr[2] = {nullptr, nullptr};
  float value[2] = {std::numeric_limits<float>::lowest(), std::numeric_limits<float>::max()};
  for (size_t i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i)) continue;
    const CudaTensor& b = ctx.input(i);
    if (b.is_constant()) {
      EDGERT_ASSIGN_OR_RETURN(std::vector<float> v, ConstInputFloats(*ctx.op, i, i == 1 ? "min" : "max"));
      if (v.size() != 1) return ctx.Error("Clip bounds min and max must be scalars");
      value[i - 1] = v[0];
    } else {
      if (b.dtype != dtype) {
        return ctx.Error(std::string("bound is ") + DataTypeName(b.dtype) + " on the device, input is " +
                         DataTypeName(dtype));
      }
      ptr[i - 1] = b.data;
    }
  }
  return MakeChain(ctx, {DeviceStep{StepKind::kClipInputs}}, ptr[0], ptr[1], value[0], value[1]);
}

// ---- EdgertFusedElementwise -------------------------------------------------------------------------

struct FusedStepName {
  const char* name;
  StepKind kind;
  int params;
};

// The step names of ops/fused_elementwise.cc and how many operands each takes.
constexpr FusedStepName kFusedSteps[] = {
    {"Relu", StepKind::kRelu, 0},
    {"Sigmoid", StepKind::kSigmoid, 0},
    {"Tanh", StepKind::kTanh, 0},
    {"Exp", StepKind::kExp, 0},
    {"Log", StepKind::kLog, 0},
    {"Neg", StepKind::kNeg, 0},
    {"Abs", StepKind::kAbs, 0},
    {"Sqrt", StepKind::kSqrt, 0},
    {"Erf", StepKind::kErf, 0},
    {"Reciprocal", StepKind::kReciprocal, 0},
    {"Floor", StepKind::kFloor, 0},
    {"Ceil", StepKind::kCeil, 0},
    {"HardSwish", StepKind::kHardSwish, 0},
    {"Add", StepKind::kAdd, 1},
    {"Sub", StepKind::kSub, 1},
    {"RSub", StepKind::kRSub, 1},
    {"Mul", StepKind::kMul, 1},
    {"Div", StepKind::kDiv, 1},
    {"RDiv", StepKind::kRDiv, 1},
    {"Pow", StepKind::kPow, 1},
    {"Max", StepKind::kMax, 1},
    {"Min", StepKind::kMin, 1},
    {"LeakyRelu", StepKind::kLeakyRelu, 1},
    {"Clip", StepKind::kClip, 2},
    {"HardSigmoid", StepKind::kHardSigmoid, 2},
};

StatusOr<std::vector<DeviceStep>> ParseFusedSteps(const CudaOpContext& ctx) {
  const auto& all = ctx.op->attrs().all();
  const auto it = all.find("steps");
  if (it == all.end()) return ctx.Error("attribute 'steps' is required");
  const auto* names = std::get_if<std::vector<std::string>>(&it->second);
  if (names == nullptr) return ctx.Error("attribute 'steps' must be a list of strings");
  if (names->empty()) return ctx.Error("attribute 'steps' is empty");
  EDGERT_ASSIGN_OR_RETURN(std::vector<float> operands, ctx.op->attrs().GetFloatsOr("operands", {}, ctx.name()));
  std::vector<DeviceStep> steps;
  size_t next = 0;
  for (const std::string& name : *names) {
    const FusedStepName* info = nullptr;
    for (const FusedStepName& s : kFusedSteps) {
      if (name == s.name) info = &s;
    }
    if (info == nullptr) return ctx.Error("step '" + name + "' is not a known elementwise step");
    if (next + static_cast<size_t>(info->params) > operands.size()) {
      return ctx.Error("attribute 'operands' has " + std::to_string(operands.size()) +
                       " values, too few for the steps");
    }
    DeviceStep s{info->kind};
    if (info->params > 0) s.a = operands[next];
    if (info->params > 1) s.b = operands[next + 1];
    next += static_cast<size_t>(info->params);
    steps.push_back(s);
  }
  if (next != operands.size()) {
    return ctx.Error("attribute 'operands' has " + std::to_string(operands.size()) + " values, the steps use " +
                     std::to_string(next));
  }
  return steps;
}

// The one-step program of a float unary op.
StatusOr<DeviceStep> FloatUnaryStep(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  switch (op.op()) {
    case OpType::kRelu:
      return DeviceStep{StepKind::kRelu};
    case OpType::kLeakyRelu: {
      EDGERT_ASSIGN_OR_RETURN(float alpha, AttrFloat(op, "alpha", 0.01f));
      return DeviceStep{StepKind::kLeakyRelu, alpha};
    }
    case OpType::kSigmoid:
      return DeviceStep{StepKind::kSigmoid};
    case OpType::kTanh:
      return DeviceStep{StepKind::kTanh};
    case OpType::kHardSigmoid: {
      EDGERT_ASSIGN_OR_RETURN(float alpha, AttrFloat(op, "alpha", 0.2f));
      EDGERT_ASSIGN_OR_RETURN(float beta, AttrFloat(op, "beta", 0.5f));
      return DeviceStep{StepKind::kHardSigmoid, alpha, beta};
    }
    case OpType::kHardSwish:
      return DeviceStep{StepKind::kHardSwish};
    case OpType::kElu: {
      EDGERT_ASSIGN_OR_RETURN(float alpha, AttrFloat(op, "alpha", 1.0f));
      return DeviceStep{StepKind::kElu, alpha};
    }
    case OpType::kSelu: {
      EDGERT_ASSIGN_OR_RETURN(float alpha, AttrFloat(op, "alpha", 1.67326319217681884765625f));
      EDGERT_ASSIGN_OR_RETURN(float gamma, AttrFloat(op, "gamma", 1.05070102214813232421875f));
      return DeviceStep{StepKind::kSelu, alpha, gamma};
    }
    case OpType::kSoftplus:
      return DeviceStep{StepKind::kSoftplus};
    case OpType::kErf:
      return DeviceStep{StepKind::kErf};
    case OpType::kGelu: {
      EDGERT_ASSIGN_OR_RETURN(std::string mode, AttrString(op, "approximate", "none"));
      if (mode != "none" && mode != "tanh") {
        return ctx.Error("attribute 'approximate' must be \"none\" or \"tanh\", got \"" + mode + "\"");
      }
      return DeviceStep{mode == "tanh" ? StepKind::kGeluTanh : StepKind::kGelu};
    }
    case OpType::kMish:
      return DeviceStep{StepKind::kMish};
    case OpType::kSqrt:
      return DeviceStep{StepKind::kSqrt};
    case OpType::kExp:
      return DeviceStep{StepKind::kExp};
    case OpType::kLog:
      return DeviceStep{StepKind::kLog};
    case OpType::kNeg:
      return DeviceStep{StepKind::kNeg};
    case OpType::kAbs:
      return DeviceStep{StepKind::kAbs};
    case OpType::kReciprocal:
      return DeviceStep{StepKind::kReciprocal};
    case OpType::kFloor:
      return DeviceStep{StepKind::kFloor};
    case OpType::kCeil:
      return DeviceStep{StepKind::kCeil};
    default:
      break;
  }
  return ctx.NotSupported("is not a float unary operator");
}

}  // namespace

StatusOr<CudaKernelPtr> CreateUnaryKernel(const CudaOpContext& ctx) {
  const OpType op = ctx.op->op();
  if (op == OpType::kClip) return MakeClip(ctx);
  if (op == OpType::kNot) return MakeIntUnary(ctx, IntUnaryOp::kNot);
  const DataType dtype = ctx.input(0).dtype;
  if (dtype != DataType::kFloat32 && dtype != DataType::kFloat16) {
    switch (op) {
      case OpType::kRelu:
        return MakeIntUnary(ctx, IntUnaryOp::kRelu);
      case OpType::kNeg:
        return MakeIntUnary(ctx, IntUnaryOp::kNeg);
      case OpType::kAbs:
        return MakeIntUnary(ctx, IntUnaryOp::kAbs);
      default:
        return DtypeNotSupported(ctx, dtype);
    }
  }
  EDGERT_ASSIGN_OR_RETURN(DeviceStep step, FloatUnaryStep(ctx));
  return MakeChain(ctx, {step});
}

StatusOr<CudaKernelPtr> CreateFusedElementwiseKernel(const CudaOpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::vector<DeviceStep> steps, ParseFusedSteps(ctx));
  return MakeChain(ctx, steps);
}

}  // namespace ew

StatusOr<CudaKernelPtr> CreateElementwiseKernel(const CudaOpContext& ctx) {
  switch (ctx.op->op()) {
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kPow:
    case OpType::kPRelu:
    case OpType::kEqual:
    case OpType::kLess:
    case OpType::kGreater:
    case OpType::kLessOrEqual:
    case OpType::kGreaterOrEqual:
    case OpType::kAnd:
    case OpType::kOr:
      return ew::CreateBinaryKernel(ctx);
    case OpType::kMin:
    case OpType::kMax:
    case OpType::kSum:
    case OpType::kMean:
      return ew::CreateVariadicKernel(ctx);
    case OpType::kWhere:
      return ew::CreateWhereKernel(ctx);
    case OpType::kCast:
      return ew::CreateCastKernel(ctx);
    case OpType::kFusedElementwise:
      return ew::CreateFusedElementwiseKernel(ctx);
    default:
      return ew::CreateUnaryKernel(ctx);
  }
}

}  // namespace cuda
}  // namespace edgert
