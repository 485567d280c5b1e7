// Conv and ConvTranspose on CUDA (NCHW / NCDHW, 1 to 3 spatial dimensions, groups, dilations,
// strides, pads, auto_pad; float32 or float16 storage, float32 accumulation). The CPU reference is
// runtime/src/ops/nn_conv.cc; geometry comes from the same host helpers (ResolveWindow, Widen).
//
// Paths, tried in order at creation (ConvKernelPath reports the one taken):
//   Conv:
//     "cudnn-fused"     one cuDNN backend plan: conv -> +bias -> +residual -> activation, the
//                       intermediates virtual (kernels_conv_cudnn.h);
//     "cudnn"           the same with nothing to fuse (no bias, residual or activation);
//     "cudnn+epilogue"  a conv-only cuDNN plan, then EnqueueEpilogue (bias + residual +
//                       activation, one launch) when the fused plan does not finalize or the
//                       activation has no cuDNN mode;
//     "direct"          DirectConvKernel: one thread per output element, the epilogue inline;
//                       used when no cuDNN plan finalizes (unusual geometry) or no cuDNN handle.
//   ConvTranspose:
//     "cudnn+epilogue" / "cudnn"  cuDNN convolution backward data (dy = X, filter = W, dx = Y)
//                       when the output extent maps to a forward convolution with non-negative
//                       paddings, then EnqueueEpilogue for the bias;
//     "direct"          DirectConvTransposeKernel: one thread per output element gathering the
//                       input positions that reach it (i * s - pad + k * d = o), bias inline.
// 1-D layers are passed to cuDNN as 2-D with H = 1.
//
// Contracts (cuda_kernel.h): plans are built at creation, also in a dry run (to know the
// workspace); the variant pack is built once the pointers are known (creation when no workspace
// is needed, SetWorkspace otherwise). Enqueue only launches.
#include "kernels_conv.h"

#include <cudnn.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_device.cuh"
#include "epilogue.h"
#include "fused_activation.h"
#include "kernels_conv_cudnn.h"
#include "nn_common.h"

namespace edgert {
namespace cuda {
namespace {

// Geometry of one layer for the direct kernels, widened to three spatial dimensions.
struct ConvParams {
  int64_t n = 0;
  int64_t c = 0;   // input channels
  int64_t m = 0;   // output channels
  int64_t cg = 0;  // input channels per group
  int64_t mg = 0;  // output channels per group
  int64_t in[3] = {1, 1, 1};
  int64_t out[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1};
  int64_t s[3] = {1, 1, 1};
  int64_t d[3] = {1, 1, 1};
  int64_t pb[3] = {0, 0, 0};
};

ConvParams MakeParams(int64_t n, int64_t c, int64_t m, int64_t group, const Geometry3& g) {
  ConvParams p;
  p.n = n;
  p.c = c;
  p.m = m;
  p.cg = c / group;
  p.mg = m / group;
  for (int i = 0; i < 3; ++i) {
    p.in[i] = g.in[i];
    p.out[i] = g.out[i];
    p.k[i] = g.k[i];
    p.s[i] = g.s[i];
    p.d[i] = g.d[i];
    p.pb[i] = g.pb[i];
  }
  return p;
}

// y[n][oc][o] = act(bias[oc] + sum_{ci, tap} x[n][g * cg + ci][o * s - pb + tap * d] * w[oc][ci][tap]
//                   + residual[n][oc][o]).
template <typename T>
__global__ void DirectConvKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                 const T* __restrict__ residual, T* __restrict__ y, ConvParams p,
                                 DeviceActivation act) {
  const int64_t out_size = p.out[0] * p.out[1] * p.out[2];
  const int64_t in_size = p.in[0] * p.in[1] * p.in[2];
  const int64_t k_size = p.k[0] * p.k[1] * p.k[2];
  const int64_t total = p.n * p.m * out_size;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t r = i;
    const int64_t ow = r % p.out[2];
    r /= p.out[2];
    const int64_t oh = r % p.out[1];
    r /= p.out[1];
    const int64_t od = r % p.out[0];
    r /= p.out[0];
    const int64_t oc = r % p.m;
    const int64_t img = r / p.m;
    const int64_t grp = oc / p.mg;
    const T* xg = x + (img * p.c + grp * p.cg) * in_size;
    const T* wo = w + oc * p.cg * k_size;
    float acc = bias != nullptr ? Load(bias + oc) : 0.0f;
    for (int64_t ci = 0; ci < p.cg; ++ci) {
      const T* xc = xg + ci * in_size;
      const T* wc = wo + ci * k_size;
      for (int64_t kd = 0; kd < p.k[0]; ++kd) {
        const int64_t id = od * p.s[0] - p.pb[0] + kd * p.d[0];
        if (id < 0 || id >= p.in[0]) continue;
        for (int64_t kh = 0; kh < p.k[1]; ++kh) {
          const int64_t ih = oh * p.s[1] - p.pb[1] + kh * p.d[1];
          if (ih < 0 || ih >= p.in[1]) continue;
          const T* xrow = xc + (id * p.in[1] + ih) * p.in[2];
          const T* wrow = wc + (kd * p.k[1] + kh) * p.k[2];
          for (int64_t kw = 0; kw < p.k[2]; ++kw) {
            const int64_t iw = ow * p.s[2] - p.pb[2] + kw * p.d[2];
            if (iw < 0 || iw >= p.in[2]) continue;
            acc += Load(xrow + iw) * Load(wrow + kw);
          }
        }
      }
    }
    if (residual != nullptr) acc += Load(residual + i);
    Store(y + i, act.Apply(acc));
  }
}

// ConvTranspose, gather form: y[n][oc][o] = bias[oc] + sum over ci of group g and taps with
// o = i * s - pb + tap * d (0 <= i < in) of x[n][g * cg + ci][i] * w[g * cg + ci][oc % mg][tap].
// Here p.c / p.cg are X's channels and p.m / p.mg Y's.
template <typename T>
__global__ void DirectConvTransposeKernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                                          T* __restrict__ y, ConvParams p) {
  const int64_t out_size = p.out[0] * p.out[1] * p.out[2];
  const int64_t in_size = p.in[0] * p.in[1] * p.in[2];
  const int64_t k_size = p.k[0] * p.k[1] * p.k[2];
  const int64_t total = p.n * p.m * out_size;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t r = i;
    const int64_t ow = r % p.out[2];
    r /= p.out[2];
    const int64_t oh = r % p.out[1];
    r /= p.out[1];
    const int64_t od = r % p.out[0];
    r /= p.out[0];
    const int64_t oc = r % p.m;
    const int64_t img = r / p.m;
    const int64_t grp = oc / p.mg;
    const int64_t ocl = oc % p.mg;
    float acc = bias != nullptr ? Load(bias + oc) : 0.0f;
    for (int64_t kd = 0; kd < p.k[0]; ++kd) {
      const int64_t td = od + p.pb[0] - kd * p.d[0];
      if (td < 0 || td % p.s[0] != 0 || td / p.s[0] >= p.in[0]) continue;
      const int64_t id = td / p.s[0];
      for (int64_t kh = 0; kh < p.k[1]; ++kh) {
        const int64_t th = oh + p.pb[1] - kh * p.d[1];
        if (th < 0 || th % p.s[1] != 0 || th / p.s[1] >= p.in[1]) continue;
        const int64_t ih = th / p.s[1];
        for (int64_t kw = 0; kw < p.k[2]; ++kw) {
          const int64_t tw = ow + p.pb[2] - kw * p.d[2];
          if (tw < 0 || tw % p.s[2] != 0 || tw / p.s[2] >= p.in[2]) continue;
          const int64_t iw = tw / p.s[2];
          const int64_t in_off = (id * p.in[1] + ih) * p.in[2] + iw;
          const int64_t tap = (kd * p.k[1] + kh) * p.k[2] + kw;
          for (int64_t ci = 0; ci < p.cg; ++ci) {
            const int64_t ch = grp * p.cg + ci;
            acc += Load(x + (img * p.c + ch) * in_size + in_off) * Load(w + (ch * p.mg + ocl) * k_size + tap);
          }
        }
      }
    }
    Store(y + i, acc);
  }
}

// The largest power of two <= 16 dividing the address (16 for a dry run's null pointer).
int64_t PointerAlignment(const void* p) {
  if (p == nullptr) return 16;
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  int64_t align = 16;
  while (align > 1 && a % static_cast<uintptr_t>(align) != 0) align /= 2;
  return align;
}

std::vector<int64_t> Ints(const int64_t* v, size_t begin, size_t end) {
  return std::vector<int64_t>(v + begin, v + end);
}

class ConvKernel : public CudaKernel {
 public:
  enum class Mode { kConv, kConvTranspose };

  ConvKernel(const CudaOpContext& ctx, Mode mode, const ConvParams& params, const FusedEpilogue& epilogue)
      : name_(ctx.name()),
        op_(ctx.op->op()),
        mode_(mode),
        dtype_(ctx.input(0).dtype),
        params_(params),
        epilogue_(epilogue),
        dry_run_(ctx.dry_run) {
    x_ = ctx.input(0).data;
    w_ = ctx.input(1).data;
    b_ = ctx.has_input(2) ? ctx.input(2).data : nullptr;
    r_ = ctx.has_input(3) ? ctx.input(3).data : nullptr;
    y_ = ctx.output(0).data;
  }

  const char* path() const { return path_; }
  std::string Describe() const override {
    const std::string why = note();
    return std::string(path_) + (why.empty() ? "" : " (" + why + ")");
  }
  std::string note() const {
    if (fused_failure_.empty()) return cudnn_failure_;
    if (cudnn_failure_.empty()) return "fused plan: " + fused_failure_;
    return "fused plan: " + fused_failure_ + "; conv-only plan: " + cudnn_failure_;
  }

  // Keeps the direct path, recording why cuDNN was not tried.
  void SkipCudnn(const char* why) {
    path_ = "direct";
    cudnn_failure_ = why;
  }

  // Tries the cuDNN paths (header comment); on return path_ names the chosen one and the note
  // members say why faster paths were not taken. Never fails: the direct kernel takes any layer.
  void Plan(const CudaOpContext& ctx, int spatial_rank, const std::vector<int64_t>& pre_pads,
            const std::vector<int64_t>& post_pads) {
    path_ = "direct";
    cudnnHandle_t handle = ctx.resources != nullptr ? ctx.resources->cudnn : nullptr;
    if (handle == nullptr) {
      cudnn_failure_ = "no cuDNN handle";
      return;
    }
    // cuDNN dims: 1-D as 2-D with H = 1 (the widened geometry already has it: take the last two or
    // three dimensions).
    const int nd = spatial_rank == 3 ? 3 : 2;
    const size_t first = static_cast<size_t>(3 - nd);
    CudnnConvSpec spec;
    spec.io_type = dtype_ == DataType::kFloat16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    const ConvParams& p = params_;
    std::vector<int64_t> in_sp = Ints(p.in, first, 3), out_sp = Ints(p.out, first, 3), k_sp = Ints(p.k, first, 3);
    spec.strides = Ints(p.s, first, 3);
    spec.dilations = Ints(p.d, first, 3);
    spec.pre_pads.assign(static_cast<size_t>(nd) - pre_pads.size(), 0);
    spec.pre_pads.insert(spec.pre_pads.end(), pre_pads.begin(), pre_pads.end());
    spec.post_pads.assign(static_cast<size_t>(nd) - post_pads.size(), 0);
    spec.post_pads.insert(spec.post_pads.end(), post_pads.begin(), post_pads.end());
    auto dims = [](int64_t a, int64_t b, const std::vector<int64_t>& sp) {
      std::vector<int64_t> v = {a, b};
      v.insert(v.end(), sp.begin(), sp.end());
      return v;
    };
    if (mode_ == Mode::kConv) {
      spec.x_dims = dims(p.n, p.c, in_sp);
      spec.w_dims = dims(p.m, p.cg, k_sp);
      spec.y_dims = dims(p.n, p.m, out_sp);
    } else {
      // Backward data of the forward convolution Y -> X: dx = Y, dy = X, filter W (C x M/g x k).
      spec.backward_data = true;
      spec.x_dims = dims(p.n, p.m, out_sp);
      spec.w_dims = dims(p.c, p.mg, k_sp);
      spec.y_dims = dims(p.n, p.c, in_sp);
    }
    const void* x_ptr = mode_ == Mode::kConv ? x_ : y_;
    const void* y_ptr = mode_ == Mode::kConv ? y_ : x_;
    spec.align_x = PointerAlignment(x_ptr);
    spec.align_w = PointerAlignment(w_);
    spec.align_y = PointerAlignment(y_ptr);
    spec.align_b = PointerAlignment(b_);
    spec.align_r = PointerAlignment(r_);

    const bool want_bias = ctx.has_input(2);
    const bool want_residual = ctx.has_input(3);
    const bool has_epilogue = want_bias || want_residual || epilogue_.kind != FusedEpilogue::Kind::kNone;
    if (mode_ == Mode::kConv && has_epilogue && epilogue_.kind != FusedEpilogue::Kind::kNone &&
        !CudnnSupportsActivation(epilogue_)) {
      fused_failure_ = "the activation has no cuDNN pointwise mode";
    } else if (mode_ == Mode::kConv && has_epilogue) {
      CudnnConvSpec fused = spec;
      fused.bias = want_bias;
      fused.residual = want_residual;
      fused.act = epilogue_;
      StatusOr<std::unique_ptr<CudnnConvPlan>> plan = CudnnConvPlan::Create(handle, fused);
      if (plan.ok()) {
        plan_ = std::move(*plan);
        path_ = "cudnn-fused";
        epilogue_after_ = false;
        BindIfReady();
        return;
      }
      fused_failure_ = plan.status().message();
    }
    StatusOr<std::unique_ptr<CudnnConvPlan>> plan = CudnnConvPlan::Create(handle, spec);
    if (!plan.ok()) {
      cudnn_failure_ = plan.status().message();
      return;
    }
    plan_ = std::move(*plan);
    epilogue_after_ = has_epilogue;
    path_ = has_epilogue ? "cudnn+epilogue" : "cudnn";
    BindIfReady();
  }

  size_t WorkspaceBytes() const override {
    return plan_ != nullptr ? static_cast<size_t>(plan_->workspace_bytes()) : 0;
  }

  void SetWorkspace(void* workspace) override {
    if (plan_ == nullptr || dry_run_ || plan_->workspace_bytes() == 0) return;
    Bind(workspace);
  }

  Status Enqueue(cudaStream_t stream) override {
    const int64_t out_size = params_.out[0] * params_.out[1] * params_.out[2];
    const int64_t total = params_.n * params_.m * out_size;
    if (plan_ != nullptr) {
      const Status s = plan_->Execute(stream);
      if (!s.ok()) return Fail(s);
      if (!epilogue_after_) return Status::Ok();
      const void* residual = mode_ == Mode::kConv ? r_ : nullptr;
      const FusedEpilogue act = mode_ == Mode::kConv ? epilogue_ : FusedEpilogue{};
      const Status e = EnqueueEpilogue(stream, dtype_, y_, total, b_, out_size, params_.m, residual, act);
      return e.ok() ? e : Fail(e);
    }
    if (total == 0) return Status::Ok();
    const bool ok = DispatchFloat(dtype_, [&](auto tag) {
      using T = decltype(tag);
      if (mode_ == Mode::kConv) {
        DirectConvKernel<T><<<GridSize(total), kBlockSize, 0, stream>>>(
            static_cast<const T*>(x_), static_cast<const T*>(w_), static_cast<const T*>(b_), static_cast<const T*>(r_),
            static_cast<T*>(y_), params_, ToDevice(epilogue_));
      } else {
        DirectConvTransposeKernel<T>
            <<<GridSize(total), kBlockSize, 0, stream>>>(static_cast<const T*>(x_), static_cast<const T*>(w_),
                                                         static_cast<const T*>(b_), static_cast<T*>(y_), params_);
      }
    });
    if (!ok) return Fail(Internal(std::string("unsupported dtype ") + DataTypeName(dtype_)));
    const Status s = LaunchStatus(mode_ == Mode::kConv ? "DirectConvKernel" : "DirectConvTransposeKernel");
    return s.ok() ? s : Fail(s);
  }

 private:
  // The cuDNN "x" / "y" tensors (backward data: dx is the layer output, dy its input).
  const void* CudnnX() const { return mode_ == Mode::kConv ? x_ : y_; }
  void* CudnnY() const { return mode_ == Mode::kConv ? y_ : const_cast<void*>(x_); }

  // Binds now unless this is a dry run or the plan needs the workspace (SetWorkspace binds then).
  void BindIfReady() {
    if (!dry_run_ && plan_->workspace_bytes() == 0) Bind(nullptr);
  }

  // Builds the plan's variant pack; should cuDNN refuse it, the layer falls back to the direct
  // kernel (before its first Enqueue), and ConvKernelNote says why.
  void Bind(void* workspace) {
    const Status s = plan_->BindPointers(CudnnX(), w_, CudnnY(), b_, r_, workspace);
    if (s.ok()) return;
    cudnn_failure_ = std::string(path_) + " variant pack: " + s.message();
    plan_.reset();
    path_ = "direct";
    epilogue_after_ = false;
  }

  Status Fail(const Status& s) const {
    return Status(s.code(), std::string(OpTypeName(op_)) + " node '" + name_ + "' (" + path_ + "): " + s.message(),
                  name_);
  }

  std::string name_;
  OpType op_;
  Mode mode_;
  DataType dtype_;
  ConvParams params_;
  FusedEpilogue epilogue_;
  bool dry_run_ = false;
  const void* x_ = nullptr;
  const void* w_ = nullptr;
  const void* b_ = nullptr;
  const void* r_ = nullptr;
  void* y_ = nullptr;
  const char* path_ = "direct";
  std::unique_ptr<CudnnConvPlan> plan_;
  bool epilogue_after_ = false;
  std::string fused_failure_;  // why the fused plan was not taken (ConvKernelNote)
  std::string cudnn_failure_;  // why no cuDNN plan was taken (ConvKernelNote)
};

Status CheckDtypes(const CudaOpContext& ctx, size_t num_inputs) {
  const DataType dtype = ctx.input(0).dtype;
  if (dtype != DataType::kFloat32 && dtype != DataType::kFloat16) {
    return ctx.NotSupported(std::string("input X has device dtype ") + DataTypeName(dtype) +
                            ", expected float32 or float16");
  }
  for (size_t i = 1; i < num_inputs; ++i) {
    if (ctx.has_input(i) && ctx.input(i).dtype != dtype) {
      return ctx.NotSupported("input " + std::to_string(i) + " has device dtype " + DataTypeName(ctx.input(i).dtype) +
                              ", expected " + DataTypeName(dtype) + " like X");
    }
  }
  if (ctx.output(0).dtype != dtype) {
    return ctx.NotSupported(std::string("output has device dtype ") + DataTypeName(ctx.output(0).dtype) +
                            ", expected " + DataTypeName(dtype) + " like X");
  }
  return Status::Ok();
}

StatusOr<CudaKernelPtr> CreateConv(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  if (ctx.num_inputs() < 2 || !ctx.has_input(0) || !ctx.has_input(1) || ctx.outputs.empty()) {
    return ctx.Error("expected inputs X and W and one output");
  }
  EDGERT_RETURN_IF_ERROR(CheckDtypes(ctx, 4));
  const Shape& x = ctx.input(0).shape;
  const Shape& w = ctx.input(1).shape;
  const Shape& y = ctx.output(0).shape;
  if (x.size() < 3 || x.size() > 5 || w.size() != x.size() || y.size() != x.size()) {
    return ctx.NotSupported("X " + ShapeToString(x) + ", W " + ShapeToString(w) + " and Y " + ShapeToString(y) +
                            " must be N x C x D1 [x D2 [x D3]] tensors of one rank");
  }
  EDGERT_ASSIGN_OR_RETURN(int64_t group, AttrInt(op, "group", 1));
  if (group < 1 || x[1] % group != 0 || w[0] % group != 0 || w[1] * group != x[1]) {
    return ctx.Error("W " + ShapeToString(w) + " and group " + std::to_string(group) + " do not match X " +
                     ShapeToString(x));
  }
  const std::vector<int64_t> in_spatial(x.begin() + 2, x.end());
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  EDGERT_ASSIGN_OR_RETURN(WindowGeometry wg, ResolveWindow(op, in_spatial, kernel, false));
  Shape want = {x[0], w[0]};
  want.insert(want.end(), wg.out.begin(), wg.out.end());
  if (want != y) return ctx.Error("output has shape " + ShapeToString(y) + ", expected " + ShapeToString(want));
  if (ctx.has_input(3) && ctx.input(3).shape != y) {
    return ctx.Error("residual has shape " + ShapeToString(ctx.input(3).shape) + ", expected " + ShapeToString(y));
  }
  EDGERT_ASSIGN_OR_RETURN(FusedEpilogue epilogue, ParseFusedEpilogue(op));
  const Geometry3 g = Widen(wg.in, wg.out, wg.kernel, wg.strides, wg.dilations, wg.pad_begin);
  auto kernel_obj =
      std::make_unique<ConvKernel>(ctx, ConvKernel::Mode::kConv, MakeParams(x[0], x[1], w[0], group, g), epilogue);
  kernel_obj->Plan(ctx, static_cast<int>(wg.rank()), wg.pad_begin, wg.pad_end);
  return CudaKernelPtr(std::move(kernel_obj));
}

// ConvTranspose's leading padding per spatial dimension, as the CPU reference places the window
// (nn_conv.cc, ResolveConvTranspose): explicit pads, or with output_shape / SAME_* the total
// padding max(0, full - target) split with the odd element at the end for SAME_UPPER and at the
// start otherwise. `out` is the (already inferred) output extent.
StatusOr<std::vector<int64_t>> ConvTransposePadBegin(const OpContext& op, const std::vector<int64_t>& in,
                                                     const std::vector<int64_t>& kernel,
                                                     const std::vector<int64_t>& strides,
                                                     const std::vector<int64_t>& dilations,
                                                     const std::vector<int64_t>& out) {
  const size_t nd = in.size();
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> pads, AttrInts(op, "pads", std::vector<int64_t>(2 * nd, 0)));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> out_pad, AttrInts(op, "output_padding", std::vector<int64_t>(nd, 0)));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> out_shape, AttrInts(op, "output_shape", {}));
  EDGERT_ASSIGN_OR_RETURN(AutoPad auto_pad, ParseAutoPad(op));
  if (pads.size() != 2 * nd || out_pad.size() != nd)
    return op.Error("attributes 'pads' / 'output_padding' do not match the rank");
  std::vector<int64_t> pad_begin(nd, 0);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t full = strides[i] * (in[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1;
    if (!out_shape.empty() || auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      const int64_t target = out_shape.empty() ? in[i] * strides[i] : out[i];
      const int64_t total = std::max<int64_t>(0, full - target);
      pad_begin[i] = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
    } else if (auto_pad == AutoPad::kNotSet) {
      pad_begin[i] = pads[i];
    }
  }
  return pad_begin;
}

StatusOr<CudaKernelPtr> CreateConvTranspose(const CudaOpContext& ctx) {
  const OpContext& op = *ctx.op;
  if (ctx.num_inputs() < 2 || !ctx.has_input(0) || !ctx.has_input(1) || ctx.outputs.empty()) {
    return ctx.Error("expected inputs X and W and one output");
  }
  if (op.attrs().Has(kActivationAttr) || ctx.has_input(3)) {
    return ctx.NotSupported("a fused activation or residual is only supported on Conv");
  }
  EDGERT_RETURN_IF_ERROR(CheckDtypes(ctx, 3));
  const Shape& x = ctx.input(0).shape;
  const Shape& w = ctx.input(1).shape;
  const Shape& y = ctx.output(0).shape;
  if (x.size() < 3 || x.size() > 5 || w.size() != x.size() || y.size() != x.size()) {
    return ctx.NotSupported("X " + ShapeToString(x) + ", W " + ShapeToString(w) + " and Y " + ShapeToString(y) +
                            " must be N x C x D1 [x D2 [x D3]] tensors of one rank");
  }
  const size_t nd = x.size() - 2;
  EDGERT_ASSIGN_OR_RETURN(int64_t group, AttrInt(op, "group", 1));
  if (group < 1 || w[0] != x[1] || x[1] % group != 0 || y[1] != w[1] * group || y[0] != x[0]) {
    return ctx.Error("W " + ShapeToString(w) + ", group " + std::to_string(group) + " and output " + ShapeToString(y) +
                     " do not match X " + ShapeToString(x));
  }
  const std::vector<int64_t> in(x.begin() + 2, x.end());
  const std::vector<int64_t> out(y.begin() + 2, y.end());
  const std::vector<int64_t> kernel(w.begin() + 2, w.end());
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> strides, AttrInts(op, "strides", std::vector<int64_t>(nd, 1)));
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> dilations, AttrInts(op, "dilations", std::vector<int64_t>(nd, 1)));
  if (strides.size() != nd || dilations.size() != nd) {
    return ctx.Error("attributes 'strides' / 'dilations' do not match the rank");
  }
  EDGERT_ASSIGN_OR_RETURN(std::vector<int64_t> pad_begin,
                          ConvTransposePadBegin(op, in, kernel, strides, dilations, out));
  const Geometry3 g = Widen(in, out, kernel, strides, dilations, pad_begin);
  const ConvParams params = MakeParams(x[0], x[1], y[1], group, g);
  auto kernel_obj = std::make_unique<ConvKernel>(ctx, ConvKernel::Mode::kConvTranspose, params, FusedEpilogue{});
  // The forward convolution Y -> X has X's extent when in - 1 == floor((out + pb + pe - eff_k) / s),
  // i.e. pe in [pe_min, pe_min + s - 1] with pe_min = s * (in - 1) + eff_k - out - pb; cuDNN needs
  // pe >= 0 (and pb >= 0, which holds).
  std::vector<int64_t> post_pads(nd, 0);
  bool maps = true;
  for (size_t i = 0; i < nd; ++i) {
    const int64_t eff_k = (kernel[i] - 1) * dilations[i] + 1;
    const int64_t pe_min = strides[i] * (in[i] - 1) + eff_k - out[i] - pad_begin[i];
    post_pads[i] = std::max<int64_t>(0, pe_min);
    maps = maps && pad_begin[i] >= 0 && post_pads[i] <= pe_min + strides[i] - 1;
  }
  if (maps) {
    kernel_obj->Plan(ctx, static_cast<int>(nd), pad_begin, post_pads);
  } else {
    kernel_obj->SkipCudnn("the output extent does not map to a backward-data convolution with non-negative pads");
  }
  return CudaKernelPtr(std::move(kernel_obj));
}

}  // namespace

const char* ConvKernelPath(const CudaKernel& kernel) {
  const ConvKernel* conv = dynamic_cast<const ConvKernel*>(&kernel);
  return conv != nullptr ? conv->path() : nullptr;
}

std::string ConvKernelNote(const CudaKernel& kernel) {
  const ConvKernel* conv = dynamic_cast<const ConvKernel*>(&kernel);
  return conv != nullptr ? conv->note() : std::string();
}

StatusOr<CudaKernelPtr> CreateConvKernel(const CudaOpContext& ctx) {
  switch (ctx.op->op()) {
    case OpType::kConv:
      return CreateConv(ctx);
    case OpType::kConvTranspose:
      return CreateConvTranspose(ctx);
    default:
      return ctx.NotSupported("is not a convolution");
  }
}

}  // namespace cuda
}  // namespace edgert
