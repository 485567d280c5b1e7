// Conv and ConvTranspose on CUDA (NCHW / NCDHW, 1 to 3 spatial dimensions, groups, dilations,
// strides, pads, auto_pad; float32 or float16 storage, float32 accumulation), and the
// channels-last EdgertConvNhwc (2-D). The CPU reference is runtime/src/ops/nn_conv.cc; geometry
// comes from the same host helpers (ResolveWindow, Widen, ResolveConvNhwc).
//
// Paths (ConvKernelPath reports the one taken):
//   Conv:
//     "cudnn-fused"     one cuDNN backend plan: conv -> +bias -> +residual -> activation, the
//                       intermediates virtual (kernels_conv_cudnn.h);
//     "cudnn"           a conv-only cuDNN plan with nothing to fuse (no bias, residual or activation);
//     "cudnn+epilogue"  a conv-only cuDNN plan, then EnqueueEpilogue (bias + residual +
//                       activation, one launch);
//     "depthwise"       edgert's depthwise kernel (kernels_depthwise.h), epilogue inline, for
//                       group == C_in == C_out in 1-D / 2-D;
//     "direct"          DirectConvKernel: one thread per output element, the epilogue inline.
//   EdgertConvNhwc (ops/nhwc.h; 2-D, X [N,H,W,C], W KRSC, Y [N,P,Q,K]; geometry and checks from
//   ResolveConvNhwc, shared with the CPU reference):
//     "cudnn-fused" / "cudnn" / "cudnn+epilogue"  as for Conv, the cuDNN graph described with
//                       channels-last strides (CudnnConvSpec::channels_last); the epilogue
//                       launch sees channel i % K (inner 1, channels K);
//     "depthwise-nhwc"  edgert's NHWC depthwise kernel (kernels_conv_nhwc.h) for group == C == K,
//                       vectorised over channels, epilogue inline;
//     "stem-nhwc"       edgert's tensor-core implicit GEMM (kernels_conv_stem.h) for the
//                       small-channel first layer: float16, group 1, C <= 8, K % 8 == 0,
//                       R * S * C <= 256 after padding to 16 (StemNhwcSupported), epilogue inline;
//     "igemm-nhwc"      edgert's tensor-core implicit GEMM (kernels_conv_igemm.h) for float16,
//                       group 1, C and K multiples of 8 (IgemmNhwcSupported): a cp.async pipeline,
//                       split-K over thread-block clusters on sm_90 for layers with few output
//                       tiles, epilogue inline;
//     "direct-nhwc"     edgert's NHWC direct kernel (kernels_conv_nhwc.h), any layer, epilogue
//                       inline. The NCHW "depthwise" / "direct" kernels are never candidates here.
//   ConvTranspose:
//     "cudnn+epilogue" / "cudnn"  cuDNN convolution backward data (dy = X, filter = W, dx = Y)
//                       when the output extent maps to a forward convolution with non-negative
//                       paddings, then EnqueueEpilogue for the bias;
//     "direct"          DirectConvTransposeKernel: one thread per output element gathering the
//                       input positions that reach it (i * s - pad + k * d = o), bias inline.
// 1-D layers are passed to cuDNN as 2-D with H = 1.
//
// Tactics (CudaOpContext::tactic / select_tactics / tactic_level, cuda_kernel.h):
//   1. Candidate list, deterministic for a layer, cuDNN version and GPU: the fused graph's plans
//      (heuristics mode A, then fallback, an engine once), then the conv-only graph's plans
//      ("cudnn" / "cudnn+epilogue"), then "depthwise" when it applies, then "direct" (NHWC:
//      "depthwise-nhwc" when it applies, then "stem-nhwc" when it applies, then "igemm-nhwc" when
//      it applies, then "direct-nhwc"). The own kernels come most specialised first and the
//      direct kernel, which takes any layer, last: the first own kernel is the default when
//      there is no cuDNN plan and the fallback when cuDNN refuses the chosen plan's variant pack
//      (Bind), so it should be the fastest that applies (depthwise-nhwc and stem-nhwc never both
//      apply: group == C == K and group == 1 leave C == K == 1, and stem-nhwc needs K >= 8;
//      depthwise-nhwc and igemm-nhwc neither, igemm-nhwc needing C >= 8; stem-nhwc and igemm-nhwc
//      both apply only at C == 8, where the stem kernel, made for it, comes first). Only plans
//      that finalize and pass the precision filter count. Candidate 0 is the pre-tactics default
//      (first fused plan, else first conv-only plan, else the first own kernel).
//   2. Size: built in full only when a tactic is forced (ctx.tactic >= 0), timed (select_tactics,
//      not a dry run, level >= 1) or listed (ConvCandidatePaths); otherwise only candidate 0 is
//      built. In full: at most 8 candidates at levels 0/1, 64 at level 2; edgert's own kernels
//      always get their slots, the fused graph at most half of the cuDNN slots (rounded up) and
//      the conv-only graph the rest. Indices are positions in that list, so a stored tactic
//      means the same candidate when the layer is built again at the same level. A forced
//      tactic builds the list only up to its index (the plans of each graph come in a fixed
//      order, so the indices hold); an index past the list falls back to candidate 0.
//   3. Choice: ctx.tactic when it exists (else candidate 0), untimed; with select_tactics
//      (SelectTactic): private buffers (x, w, bias, residual, y, the reference output, one
//      workspace of the largest candidate's size, cudaMalloc'ed and freed afterwards) filled with
//      deterministic pseudo-random values, a private stream; per candidate: bind, run once into a
//      NaN-poisoned y, compare with the reference on the device (EnqueueCompare, kernels_gemm.h;
//      the first candidate that runs is the reference; relative L2 <= 1e-3 fp32, 1e-2 fp16, no
//      NaN/Inf where the reference is finite: a mismatch is rejected), then one
//      eager launch timed with CUDA events: a candidate above 1 ms there, or above twice the best
//      so far plus 0.1 ms (room for a launch's host overhead), is judged on it alone and never
//      captured (a cuDNN engine that launches a kernel per group took minutes to capture for
//      MobileNetV2's depthwise layers at batch 32); otherwise a CUDA graph holding 4 launches of
//      the candidate back to back (TimeInGraph: the cost of a layer as the network's graph runs
//      it, launch gaps and programmatic launches included, host overhead excluded) run once as a
//      warm-up and 7 times timed with CUDA events, median per launch; a candidate whose warm-up
//      is above twice the best so far or above 1 ms per launch is judged on the warm-up alone;
//      where the capture fails, one more eager warm-up run and 7 eager timed runs. The fastest
//      valid one wins. A candidate whose bind or launch fails is skipped. Otherwise candidate 0.
//   4. Only the chosen candidate is kept (the other plans are freed); WorkspaceBytes() is its
//      workspace; Tactic() is its index, Tactics() the timing report, Describe()
//      "tactic i/n: <path> [engine e][, chosen ms (default ms)][ (notes)]".
//   5. Recorded tactics (a plan load): TacticLabel() "n/<label>" and, for a cuDNN plan,
//      TacticBlob() (the graph's CudnnConvSpecText line, a newline, then cuDNN's serialized plan
//      for a runtime-compiled engine, the engine config's knob choices for the others) go into
//      the plan beside the index. With ctx.tactic and a label, PlanRecorded builds that
//      candidate alone: an own kernel by its label, a cuDNN plan by its engine
//      (CudnnConvPlan::CreateForEngine, restored from the serialized plan or built from the knob
//      choices when the blob's geometry line is this layer's, which skips cuDNN's runtime
//      compilation or its heuristics); the note says "recorded" (", serialized plan" / ", engine
//      config"). A label that names nothing this layer can build (another path, an
//      engine cuDNN no longer offers, a malformed text) falls back to step 2's list up to the
//      index.
//
// Contracts (cuda_kernel.h): plans are built at creation, also in a dry run (to know the
// workspace); the variant pack is built once the pointers are known (creation when no workspace
// is needed, SetWorkspace otherwise). Enqueue only launches.
#include <cudnn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "activations.cuh"
#include "cuda_check.h"
#include "cuda_device.cuh"
#include "edgert/tactic_label.h"
#include "epilogue.h"
#include "fused_activation.h"
#include "kernels_conv.h"
#include "kernels_conv_cudnn.h"
#include "kernels_conv_igemm.h"
#include "kernels_conv_nhwc.h"
#include "kernels_conv_stem.h"
#include "kernels_depthwise.h"
#include "kernels_gemm.h"
#include "nhwc.h"
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
    Store(y + i, act.Finish(acc, residual != nullptr ? Load(residual + i) : kNoResidual));
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

// Deterministic test data in [-1, 1) for tactic timing (select_tactics only).
template <typename T>
__global__ void FillTestDataKernel(T* __restrict__ p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ static_cast<uint32_t>(i >> 32) ^ seed;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    Store(p + i, static_cast<float>(h >> 8) * (2.0f / 16777216.0f) - 1.0f);
  }
}

// The pointers one launch of a candidate reads and writes (layer sense: x input, y output).
struct ConvBuffers {
  const void* x = nullptr;
  const void* w = nullptr;
  const void* b = nullptr;
  const void* r = nullptr;
  void* y = nullptr;
};

// Tactic candidate limits per CudaOpContext::tactic_level (level 0 builds candidate 0 only).
constexpr int kCandidatesLevel1 = 8;
constexpr int kCandidatesLevel2 = 64;
// Timing: warm-up launches and timed launches per candidate (median).
constexpr int kWarmupRuns = 2;
constexpr int kTimedRuns = 7;
// Launches of one candidate captured into the graph that each timed run launches (TimeInGraph).
constexpr int kChainedLaunches = 4;
// A candidate whose warm-up graph (or eager launch) takes longer per launch is timed on that run
// alone.
constexpr float kLongLaunchMs = 1.0f;
// Room for the host overhead of an eager launch (cudnnBackendExecute's, a first launch's) when an
// eager time is held against twice the best graph time so far.
constexpr float kEagerOverheadMs = 0.1f;

// One way to run the layer.
struct ConvCandidate {
  enum class Kind {
    kCudnnFused,
    kCudnn,
    kCudnnEpilogue,
    kDepthwise,
    kDirect,
    kDepthwiseNhwc,
    kStemNhwc,
    kIgemmNhwc,
    kDirectNhwc
  };
  Kind kind = Kind::kDirect;
  std::unique_ptr<CudnnConvPlan> plan;  // the cuDNN kinds

  const char* path() const {
    switch (kind) {
      case Kind::kCudnnFused: return "cudnn-fused";
      case Kind::kCudnn: return "cudnn";
      case Kind::kCudnnEpilogue: return "cudnn+epilogue";
      case Kind::kDepthwise: return "depthwise";
      case Kind::kDirect: return "direct";
      case Kind::kDepthwiseNhwc: return "depthwise-nhwc";
      case Kind::kStemNhwc: return "stem-nhwc";
      case Kind::kIgemmNhwc: return "igemm-nhwc";
      case Kind::kDirectNhwc: return "direct-nhwc";
    }
    return "direct";
  }
  // The path, with the cuDNN engine's global index when known ("cudnn-fused engine 12").
  std::string Label() const {
    std::string label = path();
    if (plan != nullptr && plan->engine_index() >= 0) label += " engine " + std::to_string(plan->engine_index());
    return label;
  }
  size_t workspace() const { return plan != nullptr ? static_cast<size_t>(plan->workspace_bytes()) : 0; }
};

// Wall-clock seconds since `start`.
double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Frees the device memory, events and stream of one tactic selection when it goes out of scope.
struct TimingResources {
  std::vector<void*> buffers;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr;
  cudaEvent_t stop = nullptr;
  cudnnHandle_t cudnn = nullptr;  // set to the private stream by the timed plans: reset to the default

  ~TimingResources() {
    if (stream != nullptr) cudaStreamSynchronize(stream);
    if (cudnn != nullptr) cudnnSetStream(cudnn, nullptr);
    for (void* b : buffers) cudaFree(b);
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
  // A buffer of `bytes` (at least 1), or null on failure (the CUDA error is cleared).
  void* Alloc(size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes > 0 ? bytes : 1) != cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    buffers.push_back(p);
    return p;
  }
};

class ConvKernel : public CudaKernel {
 public:
  // kConvNhwc: EdgertConvNhwc (ops/nhwc.h), channels-last; params_ hold its geometry in the
  // NCHW sense (c = C, m = K, in / out / k widened as (1, H, W) / (1, P, Q) / (1, R, S)).
  enum class Mode { kConv, kConvTranspose, kConvNhwc };

  ConvKernel(const CudaOpContext& ctx, Mode mode, const ConvParams& params, const FusedEpilogue& epilogue)
      : name_(ctx.name()),
        op_(ctx.op->op()),
        mode_(mode),
        dtype_(ctx.input(0).dtype),
        params_(params),
        epilogue_(epilogue),
        dry_run_(ctx.dry_run) {
    real_.x = ctx.input(0).data;
    real_.w = ctx.input(1).data;
    real_.b = ctx.has_input(2) ? ctx.input(2).data : nullptr;
    real_.r = ctx.has_input(3) ? ctx.input(3).data : nullptr;
    real_.y = ctx.output(0).data;
    has_bias_ = ctx.has_input(2);
    has_residual_ = ctx.has_input(3);
    weights_constant_ = ctx.input(1).is_constant();
    x_bytes_ = ctx.input(0).bytes();
    w_bytes_ = ctx.input(1).bytes();
    b_bytes_ = has_bias_ ? ctx.input(2).bytes() : 0;
    y_bytes_ = ctx.output(0).bytes();
  }

  const char* path() const { return chosen_.path(); }
  std::string Describe() const override {
    const std::string why = note();
    std::string text =
        "tactic " + std::to_string(tactic_) + "/" + std::to_string(num_candidates_) + ": " + chosen_.Label();
    if (report_.timed > 0) {
      char times[96];
      std::snprintf(times, sizeof(times), ", %.3f ms (default %.3f ms)", report_.chosen_ms, report_.default_ms);
      text += times;
    }
    return text + (why.empty() ? "" : " (" + why + ")");
  }
  std::string note() const {
    std::string text;
    if (fused_failure_.empty()) {
      text = cudnn_failure_;
    } else if (cudnn_failure_.empty()) {
      text = "fused plan: " + fused_failure_;
    } else {
      text = "fused plan: " + fused_failure_ + "; conv-only plan: " + cudnn_failure_;
    }
    if (!tactic_note_.empty()) text += (text.empty() ? "" : "; ") + tactic_note_;
    return text;
  }
  int Tactic() const override { return tactic_; }
  TacticReport Tactics() const override { return report_; }
  const std::vector<std::string>& candidate_labels() const { return labels_; }

  // Sets the depthwise geometry: the own depthwise kernel becomes a candidate (Conv only).
  void EnableDepthwise(const DepthwiseParams& p) {
    depthwise_ = p;
    has_depthwise_ = true;
  }

  // Sets the channels-last geometry (kConvNhwc only): the own NHWC kernels become the candidates
  // after cuDNN's (direct-nhwc always, depthwise-nhwc when group == C == K, stem-nhwc when
  // StemNhwcSupported, igemm-nhwc when IgemmNhwcSupported); the NCHW kernels never are.
  void EnableNhwc(const NhwcConvGeometry& g) {
    nhwc_ = g;
    has_depthwise_nhwc_ = DepthwiseNhwcSupported(g);
    has_stem_nhwc_ = StemNhwcSupported(dtype_, g);
    has_igemm_nhwc_ = IgemmNhwcSupported(dtype_, g);
  }

  // Keeps the own kernels only, recording why cuDNN was not tried.
  void SkipCudnn(const CudaOpContext& ctx, const char* why, bool list_only) {
    cudnn_failure_ = why;
    std::vector<ConvCandidate> candidates;
    AddOwnKernels(&candidates);
    Choose(ctx, std::move(candidates), list_only);
  }

  // Builds the candidate list (file comment: cuDNN fused plans, conv-only plans, depthwise,
  // direct; limited by ctx.tactic_level), picks one (ctx.tactic, timing with ctx.select_tactics,
  // else candidate 0) and keeps only that one. With `list_only` the full list is built and only
  // its labels are kept (ConvCandidatePaths). Never fails: the direct kernel takes any layer.
  void Plan(const CudaOpContext& ctx, int spatial_rank, const std::vector<int64_t>& pre_pads,
            const std::vector<int64_t>& post_pads, bool list_only) {
    std::vector<ConvCandidate> candidates;
    cudnnHandle_t handle = ctx.resources != nullptr ? ctx.resources->cudnn : nullptr;
    CudnnConvSpec conv_spec = MakeSpec(spatial_rank, pre_pads, post_pads);
    conv_spec.max_workspace_bytes = static_cast<int64_t>(ctx.max_workspace_bytes);
    CudnnConvSpec fused_spec = conv_spec;
    fused_spec.bias = has_bias_;
    fused_spec.residual = has_residual_;
    fused_spec.act = epilogue_;
    conv_geometry_ = CudnnConvSpecText(conv_spec);
    fused_geometry_ = CudnnConvSpecText(fused_spec);
    if (ctx.tactic >= 0 && !ctx.tactic_label.empty() && !list_only &&
        PlanRecorded(ctx, handle, conv_spec, fused_spec)) {
      return;
    }
    if (handle == nullptr) {
      cudnn_failure_ = "no cuDNN handle";
      AddOwnKernels(&candidates);
      Choose(ctx, std::move(candidates), list_only);
      return;
    }
    const bool full = list_only || ctx.tactic >= 0 || (ctx.select_tactics && !ctx.dry_run && ctx.tactic_level > 0);
    const int own =
        ((has_depthwise_ || has_depthwise_nhwc_) ? 1 : 0) + (has_stem_nhwc_ ? 1 : 0) + (has_igemm_nhwc_ ? 1 : 0) + 1;
    const int cap = (full ? (ctx.tactic_level >= 2 ? kCandidatesLevel2 : kCandidatesLevel1) : 1);
    const int cudnn_cap = full ? cap - own : 1;
    // A forced tactic needs the list up to its index only (each graph's plans come in a fixed
    // order, so a shorter build keeps the indices).
    const bool forced_only = ctx.tactic >= 0 && !list_only;
    const int needed = forced_only ? ctx.tactic + 1 : cap;
    const CudnnConvSpec& spec = conv_spec;

    const bool has_epilogue = has_bias_ || has_residual_ || epilogue_.kind != FusedEpilogue::Kind::kNone;
    const bool try_fused = mode_ != Mode::kConvTranspose && has_epilogue;
    if (try_fused && epilogue_.kind != FusedEpilogue::Kind::kNone && !CudnnSupportsActivation(epilogue_)) {
      fused_failure_ = "the activation has no cuDNN pointwise mode";
    } else if (try_fused) {
      const CudnnConvSpec& fused = fused_spec;
      // Leave room for conv-only plans when the list is built in full.
      const int fused_cap = full ? (cudnn_cap + 1) / 2 : 1;
      StatusOr<std::vector<std::unique_ptr<CudnnConvPlan>>> plans =
          CudnnConvPlan::CreateAll(handle, fused, std::min(fused_cap, needed));
      if (plans.ok()) {
        for (std::unique_ptr<CudnnConvPlan>& plan : *plans) {
          ConvCandidate c;
          c.kind = ConvCandidate::Kind::kCudnnFused;
          c.plan = std::move(plan);
          candidates.push_back(std::move(c));
        }
      } else {
        fused_failure_ = plans.status().message();
      }
    }
    const int built = static_cast<int>(candidates.size());
    const int conv_cap = std::min(cudnn_cap - built, needed - built);
    if (conv_cap > 0) {
      StatusOr<std::vector<std::unique_ptr<CudnnConvPlan>>> plans = CudnnConvPlan::CreateAll(handle, spec, conv_cap);
      if (plans.ok()) {
        for (std::unique_ptr<CudnnConvPlan>& plan : *plans) {
          ConvCandidate c;
          c.kind = has_epilogue ? ConvCandidate::Kind::kCudnnEpilogue : ConvCandidate::Kind::kCudnn;
          c.plan = std::move(plan);
          candidates.push_back(std::move(c));
        }
      } else if (candidates.empty()) {
        cudnn_failure_ = plans.status().message();
      }
    }
    if ((full && static_cast<int>(candidates.size()) < needed) || candidates.empty()) AddOwnKernels(&candidates);
    Choose(ctx, std::move(candidates), list_only);
  }

  // kTacticLabelAttr: "<candidates>/<label>", e.g. "8/cudnn-fused engine 12" (the count keeps
  // Describe's "tactic i/n" after a load that builds no list).
  std::string TacticLabel() const override { return std::to_string(num_candidates_) + "/" + chosen_.Label(); }
  // kTacticBlobAttr: for a cuDNN plan, the geometry line of its graph (CudnnConvSpecText), a
  // newline and the plan's text: cuDNN's serialized plan for a runtime-compiled engine, the engine
  // config's knob choices (CudnnConvPlan::KnobText) for the others; "" for the own kernels.
  std::string TacticBlob() const override {
    if (chosen_.plan == nullptr) return {};
    if (chosen_.plan->from_json()) return restored_blob_;
    const std::string text = chosen_.plan->runtime_compiled() ? chosen_.plan->Serialize() : chosen_.plan->KnobText();
    if (text.empty()) return {};
    return (chosen_.kind == ConvCandidate::Kind::kCudnnFused ? fused_geometry_ : conv_geometry_) + "\n" + text;
  }

  size_t WorkspaceBytes() const override { return chosen_.workspace(); }

  void SetWorkspace(void* workspace) override {
    if (chosen_.plan == nullptr || dry_run_ || chosen_.plan->workspace_bytes() == 0) return;
    Bind(workspace);
  }

  Status Enqueue(cudaStream_t stream) override {
    const Status s = Launch(chosen_, real_, stream);
    return s.ok() ? s : Fail(s);
  }

 private:
  // The recorded candidate alone (CudaOpContext::tactic_label / tactic_blob, a plan's layer): an
  // own kernel by its label, a cuDNN plan by its engine, restored from the serialized plan when
  // the blob's geometry line is this layer's. False (nothing chosen) when the label names nothing
  // this layer can build now; the caller then builds the list up to ctx.tactic.
  bool PlanRecorded(const CudaOpContext& ctx, cudnnHandle_t handle, const CudnnConvSpec& conv_spec,
                    const CudnnConvSpec& fused_spec) {
    RecordedTacticLabel recorded;
    if (!ParseTacticLabel(ctx.tactic_label, &recorded) || recorded.candidates <= ctx.tactic) return false;
    const std::string& label = recorded.label;
    ConvCandidate chosen;
    bool found = false;
    std::vector<ConvCandidate> own;
    AddOwnKernels(&own);
    for (ConvCandidate& c : own) {
      if (c.Label() == label) {
        chosen = std::move(c);
        found = true;
        break;
      }
    }
    if (!found) {  // "<path> engine <index>"
      const size_t at = label.find(" engine ");
      if (at == std::string::npos || handle == nullptr) return false;
      const std::string path = label.substr(0, at);
      const std::string digits = label.substr(at + 8);
      if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) {
        return false;
      }
      const bool has_epilogue = has_bias_ || has_residual_ || epilogue_.kind != FusedEpilogue::Kind::kNone;
      ConvCandidate::Kind kind;
      if (path == "cudnn-fused" && mode_ != Mode::kConvTranspose && has_epilogue) {
        kind = ConvCandidate::Kind::kCudnnFused;
      } else if (path == "cudnn+epilogue" && has_epilogue) {
        kind = ConvCandidate::Kind::kCudnnEpilogue;
      } else if (path == "cudnn" && !has_epilogue) {
        kind = ConvCandidate::Kind::kCudnn;
      } else {
        return false;
      }
      const bool fused = kind == ConvCandidate::Kind::kCudnnFused;
      const std::string& geometry = fused ? fused_geometry_ : conv_geometry_;
      std::string serialized;
      if (ctx.tactic_blob.size() > geometry.size() && ctx.tactic_blob.compare(0, geometry.size(), geometry) == 0 &&
          ctx.tactic_blob[geometry.size()] == '\n') {
        serialized = ctx.tactic_blob.substr(geometry.size() + 1);
      }
      StatusOr<std::unique_ptr<CudnnConvPlan>> plan = CudnnConvPlan::CreateForEngine(
          handle, fused ? fused_spec : conv_spec, std::atoll(digits.c_str()), serialized);
      if (!plan.ok()) {
        tactic_note_ = "recorded " + label + ": " + plan.status().message();
        return false;
      }
      chosen.kind = kind;
      chosen.plan = std::move(*plan);
    }
    num_candidates_ = static_cast<int>(recorded.candidates);
    tactic_ = ctx.tactic;
    chosen_ = std::move(chosen);
    tactic_note_ = chosen_.plan == nullptr      ? "recorded"
                   : chosen_.plan->from_json()  ? "recorded, serialized plan"
                   : chosen_.plan->from_knobs() ? "recorded, engine config"
                                                : "recorded";
    if (chosen_.plan != nullptr && chosen_.plan->from_json()) restored_blob_ = ctx.tactic_blob;
    if (chosen_.plan != nullptr && !dry_run_ && chosen_.plan->workspace_bytes() == 0) Bind(nullptr);
    return true;
  }

  void AddOwnKernels(std::vector<ConvCandidate>* candidates) const {
    if (mode_ == Mode::kConvNhwc) {
      if (has_depthwise_nhwc_) {
        ConvCandidate c;
        c.kind = ConvCandidate::Kind::kDepthwiseNhwc;
        candidates->push_back(std::move(c));
      }
      if (has_stem_nhwc_) {
        ConvCandidate c;
        c.kind = ConvCandidate::Kind::kStemNhwc;
        candidates->push_back(std::move(c));
      }
      if (has_igemm_nhwc_) {
        ConvCandidate c;
        c.kind = ConvCandidate::Kind::kIgemmNhwc;
        candidates->push_back(std::move(c));
      }
      ConvCandidate c;
      c.kind = ConvCandidate::Kind::kDirectNhwc;
      candidates->push_back(std::move(c));
      return;
    }
    if (has_depthwise_) {
      ConvCandidate c;
      c.kind = ConvCandidate::Kind::kDepthwise;
      candidates->push_back(std::move(c));
    }
    ConvCandidate c;
    c.kind = ConvCandidate::Kind::kDirect;
    candidates->push_back(std::move(c));
  }

  CudnnConvSpec MakeSpec(int spatial_rank, const std::vector<int64_t>& pre_pads,
                         const std::vector<int64_t>& post_pads) const {
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
    if (mode_ != Mode::kConvTranspose) {
      // kConvNhwc: the same N, C, H, W dims with channels-last strides (kernels_conv_cudnn.h).
      spec.channels_last = mode_ == Mode::kConvNhwc;
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
    spec.align_x = PointerAlignment(CudnnX(real_));
    spec.align_w = PointerAlignment(real_.w);
    spec.align_y = PointerAlignment(CudnnY(real_));
    spec.align_b = PointerAlignment(real_.b);
    spec.align_r = PointerAlignment(real_.r);
    return spec;
  }

  // Picks the candidate (class comment of Plan) and keeps it alone.
  void Choose(const CudaOpContext& ctx, std::vector<ConvCandidate> candidates, bool list_only) {
    num_candidates_ = static_cast<int>(candidates.size());
    if (list_only) {
      for (const ConvCandidate& c : candidates) labels_.push_back(c.Label());
    }
    size_t index = 0;
    if (ctx.tactic >= 0) {
      index = static_cast<size_t>(ctx.tactic) < candidates.size() ? static_cast<size_t>(ctx.tactic) : 0;
    } else if (ctx.select_tactics && !ctx.dry_run && !list_only && candidates.size() > 1) {
      const double list_seconds = SecondsSince(created_);
      index = SelectTactic(candidates);
      report_.list_seconds = list_seconds;
    }
    tactic_ = static_cast<int>(index);
    chosen_ = std::move(candidates[index]);
    candidates.clear();  // frees the other candidates' plans
    if (chosen_.plan != nullptr && !dry_run_ && chosen_.plan->workspace_bytes() == 0) Bind(nullptr);
  }

  // Times every candidate on test data and returns the fastest whose output matches the first
  // candidate that runs (the reference); 0 when nothing could be timed.
  size_t SelectTactic(std::vector<ConvCandidate>& candidates) {
    TimingResources res;
    size_t max_workspace = 0;
    for (const ConvCandidate& c : candidates) max_workspace = std::max(max_workspace, c.workspace());
    ConvBuffers test;
    void* x = res.Alloc(x_bytes_);
    void* w = res.Alloc(w_bytes_);
    void* b = has_bias_ ? res.Alloc(b_bytes_) : nullptr;
    void* r = has_residual_ ? res.Alloc(y_bytes_) : nullptr;
    void* y = res.Alloc(y_bytes_);
    void* workspace = max_workspace > 0 ? res.Alloc(max_workspace) : nullptr;
    // The first candidate's output, which the others' are compared with on the device (a host
    // comparison took ~1 s per candidate for a batch-128 layer's 200 MB output).
    void* reference = res.Alloc(y_bytes_);
    auto* sums = static_cast<double*>(res.Alloc(3 * sizeof(double)));
    if (x == nullptr || w == nullptr || y == nullptr || (has_bias_ && b == nullptr) ||
        (has_residual_ && r == nullptr) || (max_workspace > 0 && workspace == nullptr) || reference == nullptr ||
        sums == nullptr) {
      tactic_note_ = "tactic timing: out of device memory";
      return 0;
    }
    if (cudaStreamCreateWithFlags(&res.stream, cudaStreamNonBlocking) != cudaSuccess ||
        cudaEventCreate(&res.start) != cudaSuccess || cudaEventCreate(&res.stop) != cudaSuccess) {
      cudaGetLastError();
      tactic_note_ = "tactic timing: no stream or events";
      return 0;
    }
    for (const ConvCandidate& c : candidates) {
      if (c.plan != nullptr) res.cudnn = c.plan->handle();
    }
    test.x = x;
    test.w = w;
    test.b = b;
    test.r = r;
    test.y = y;
    const size_t elem = DataTypeSize(dtype_);
    uint32_t seed = 0x9e3779b9u;
    for (void* p : {x, w, b, r}) {
      if (p == nullptr) continue;
      const size_t bytes = p == x ? x_bytes_ : (p == w ? w_bytes_ : (p == b ? b_bytes_ : y_bytes_));
      const int64_t n = static_cast<int64_t>(bytes / elem);
      DispatchFloat(dtype_, [&](auto tag) {
        using T = decltype(tag);
        FillTestDataKernel<T><<<GridSize(n), kBlockSize, 0, res.stream>>>(static_cast<T*>(p), n, seed);
      });
      seed = seed * 747796405u + 2891336453u;
    }
    if (cudaStreamSynchronize(res.stream) != cudaSuccess) {
      cudaGetLastError();
      tactic_note_ = "tactic timing: the test data fill failed";
      return 0;
    }
    const int64_t y_elements = static_cast<int64_t>(y_bytes_ / elem);
    bool have_reference = false;
    size_t best = 0;
    double best_ms = -1;
    report_ = TacticReport{};
    report_.candidates.resize(candidates.size());
    for (size_t i = 0; i < candidates.size(); ++i) {
      ConvCandidate& c = candidates[i];
      TacticCandidateTime& record = report_.candidates[i];
      record.label = c.Label();
      // Sets record.seconds however this iteration ends.
      struct Stopwatch {
        TacticCandidateTime& record;
        std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
        ~Stopwatch() { record.seconds = SecondsSince(start); }
      } stopwatch{record};
      if (c.plan != nullptr &&
          !c.plan->BindPointers(CudnnX(test), test.w, CudnnY(test), test.b, test.r, workspace).ok()) {
        continue;
      }
      // NaN-poison the output: an element a candidate does not write shows as NaN.
      bool ok = cudaMemsetAsync(y, 0xFF, y_bytes_, res.stream) == cudaSuccess && Launch(c, test, res.stream).ok();
      double diff[3] = {0, 0, 0};  // EnqueueCompare's sums
      if (ok && !have_reference) {
        ok = cudaMemcpyAsync(reference, y, y_bytes_, cudaMemcpyDeviceToDevice, res.stream) == cudaSuccess;
      } else if (ok) {
        ok = EnqueueCompare(res.stream, dtype_, y, reference, y_elements, sums).ok() &&
             cudaMemcpyAsync(diff, sums, sizeof(diff), cudaMemcpyDeviceToHost, res.stream) == cudaSuccess;
      }
      ok = ok && cudaStreamSynchronize(res.stream) == cudaSuccess;
      if (!ok) {
        cudaGetLastError();
        continue;
      }
      if (!have_reference) {
        have_reference = true;
      } else if (!CompareSumsMatch(diff, dtype_)) {
        ++report_.rejected;
        record.rejected = true;
        continue;
      }
      // One eager launch, timed: a slow candidate is judged on it without a graph capture, whose
      // cost grows with the kernels a launch makes (minutes for a cuDNN engine that launches one
      // per group of a depthwise layer).
      float eager_ms = 0;
      ok = TimeEagerLaunch(c, test, res, &eager_ms);
      record.check_seconds = SecondsSince(stopwatch.start);
      const bool slow = ok && (eager_ms > kLongLaunchMs || (best_ms > 0 && eager_ms > 2 * best_ms + kEagerOverheadMs));
      double median = !ok ? -1 : slow ? eager_ms : TimeInGraph(c, test, res, best_ms, &record.capture_seconds);
      if (median < 0) {  // not capturable: warm-up, then one eager launch per sample
        for (int k = 1; ok && k < kWarmupRuns; ++k) ok = Launch(c, test, res.stream).ok();
        std::vector<float> times;
        for (int k = 0; ok && k < kTimedRuns; ++k) {
          float ms = 0;
          ok = TimeEagerLaunch(c, test, res, &ms);
          times.push_back(ms);
        }
        if (ok) {
          std::sort(times.begin(), times.end());
          median = times[times.size() / 2];
        }
      }
      if (!ok || median < 0) {
        cudaGetLastError();
        continue;
      }
      ++report_.timed;
      record.ms = median;
      if (i == 0) report_.default_ms = median;
      if (best_ms < 0 || median < best_ms) {
        best_ms = median;
        best = i;
      }
    }
    if (best_ms < 0) {
      tactic_note_ = "tactic timing: no candidate ran";
      report_ = TacticReport{};
      return 0;
    }
    report_.chosen_ms = best_ms;
    return best;
  }

  // The median time of one launch of `c` as a network's CUDA graph runs it: kChainedLaunches
  // launches captured back to back into one graph (so a kernel's start overlaps its predecessor's
  // end as between layers: graph launch gaps, programmatic dependent launches, and no host
  // overhead such as cudnnBackendExecute's), timed kTimedRuns times; the graph's time divided by
  // the launches. A candidate whose warm-up launch of the graph is above twice `best_ms` (the
  // fastest so far; <= 0: none) or above kLongLaunchMs per launch gets that time. -1 when the
  // launches cannot be captured or run (the caller times eager launches instead); the CUDA error
  // is cleared. Sets *capture_seconds to the wall-clock time of the capture and instantiation.
  double TimeInGraph(const ConvCandidate& c, const ConvBuffers& buf, TimingResources& res, double best_ms,
                     double* capture_seconds) const {
    const auto capture_start = std::chrono::steady_clock::now();
    cudaGraph_t graph = nullptr;
    cudaGraphExec_t exec = nullptr;
    bool ok = cudaStreamBeginCapture(res.stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
    if (ok) {
      for (int k = 0; ok && k < kChainedLaunches; ++k) ok = Launch(c, buf, res.stream).ok();
      ok = cudaStreamEndCapture(res.stream, &graph) == cudaSuccess && ok;
    }
    ok = ok && cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess;
    *capture_seconds = SecondsSince(capture_start);
    // The first (warm-up) launch, timed: a candidate slower than twice the best so far, or slower
    // than kLongLaunchMs, is judged on it alone (it cannot win / one sample of a long kernel is
    // precise enough), which keeps slow candidates from dominating the build time.
    float first = 0;
    ok = ok && TimeGraphLaunch(exec, res, &first);
    first /= kChainedLaunches;
    const bool judged = ok && ((best_ms > 0 && first > 2 * best_ms) || first > kLongLaunchMs);
    std::vector<float> times;
    if (judged) times.push_back(first);
    for (int k = 0; ok && !judged && k < kTimedRuns; ++k) {
      float ms = 0;
      ok = TimeGraphLaunch(exec, res, &ms);
      times.push_back(ms / kChainedLaunches);
    }
    if (exec != nullptr) cudaGraphExecDestroy(exec);
    if (graph != nullptr) cudaGraphDestroy(graph);
    if (!ok) {
      cudaGetLastError();
      cudaStreamSynchronize(res.stream);
      cudaGetLastError();
      return -1;
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }

  // One launch of candidate `c` on res.stream between res.start and res.stop, waited for; *ms its
  // time. False when a call or the launch fails (the CUDA error left for the caller to clear).
  bool TimeEagerLaunch(const ConvCandidate& c, const ConvBuffers& buf, TimingResources& res, float* ms) const {
    return cudaEventRecord(res.start, res.stream) == cudaSuccess && Launch(c, buf, res.stream).ok() &&
           cudaEventRecord(res.stop, res.stream) == cudaSuccess && cudaEventSynchronize(res.stop) == cudaSuccess &&
           cudaEventElapsedTime(ms, res.start, res.stop) == cudaSuccess;
  }

  // The same for one launch of the instantiated graph `exec`.
  static bool TimeGraphLaunch(cudaGraphExec_t exec, TimingResources& res, float* ms) {
    return cudaEventRecord(res.start, res.stream) == cudaSuccess && cudaGraphLaunch(exec, res.stream) == cudaSuccess &&
           cudaEventRecord(res.stop, res.stream) == cudaSuccess && cudaEventSynchronize(res.stop) == cudaSuccess &&
           cudaEventElapsedTime(ms, res.start, res.stop) == cudaSuccess;
  }

  // One launch of candidate `c` on `buf` (the variant pack of a cuDNN plan must be bound to it).
  Status Launch(const ConvCandidate& c, const ConvBuffers& buf, cudaStream_t stream) const {
    const int64_t out_size = params_.out[0] * params_.out[1] * params_.out[2];
    const int64_t total = params_.n * params_.m * out_size;
    switch (c.kind) {
      case ConvCandidate::Kind::kCudnnFused:
      case ConvCandidate::Kind::kCudnn:
        return c.plan->Execute(stream);
      case ConvCandidate::Kind::kCudnnEpilogue: {
        EDGERT_RETURN_IF_ERROR(c.plan->Execute(stream));
        const void* residual = mode_ != Mode::kConvTranspose ? buf.r : nullptr;
        const FusedEpilogue act = mode_ != Mode::kConvTranspose ? epilogue_ : FusedEpilogue{};
        // NCHW: the channel of element i is (i / spatial) % K; NHWC: i % K.
        const int64_t inner = mode_ == Mode::kConvNhwc ? 1 : out_size;
        return EnqueueEpilogue(stream, dtype_, buf.y, total, buf.b, inner, params_.m, residual, act);
      }
      case ConvCandidate::Kind::kDepthwise:
        if (total == 0) return Status::Ok();
        return EnqueueDepthwiseConv(stream, dtype_, depthwise_, buf.x, buf.w, buf.b, buf.r, buf.y, epilogue_);
      case ConvCandidate::Kind::kDepthwiseNhwc:
        return EnqueueDepthwiseConvNhwc(stream, dtype_, nhwc_, buf.x, buf.w, buf.b, buf.r, buf.y, epilogue_);
      case ConvCandidate::Kind::kStemNhwc:
        return EnqueueStemConvNhwc(stream, dtype_, nhwc_, buf.x, buf.w, buf.b, buf.r, buf.y, epilogue_);
      case ConvCandidate::Kind::kIgemmNhwc: {
        // A constant W (the engine's weights, uploaded before any layer runs; SelectTactic's test
        // W, filled and synchronized before the timing) may be read before the wait for the
        // preceding kernel (kernels_conv_igemm.h).
        IgemmNhwcOptions options;
        options.weights_constant = weights_constant_;
        return EnqueueIgemmConvNhwc(stream, dtype_, nhwc_, buf.x, buf.w, buf.b, buf.r, buf.y, epilogue_, options);
      }
      case ConvCandidate::Kind::kDirectNhwc:
        return EnqueueDirectConvNhwc(stream, dtype_, nhwc_, buf.x, buf.w, buf.b, buf.r, buf.y, epilogue_);
      case ConvCandidate::Kind::kDirect:
        break;
    }
    if (total == 0) return Status::Ok();
    const bool ok = DispatchFloat(dtype_, [&](auto tag) {
      using T = decltype(tag);
      if (mode_ == Mode::kConv) {
        DirectConvKernel<T><<<GridSize(total), kBlockSize, 0, stream>>>(
            static_cast<const T*>(buf.x), static_cast<const T*>(buf.w), static_cast<const T*>(buf.b),
            static_cast<const T*>(buf.r), static_cast<T*>(buf.y), params_, ToDevice(epilogue_));
      } else {
        DirectConvTransposeKernel<T><<<GridSize(total), kBlockSize, 0, stream>>>(
            static_cast<const T*>(buf.x), static_cast<const T*>(buf.w), static_cast<const T*>(buf.b),
            static_cast<T*>(buf.y), params_);
      }
    });
    if (!ok) return Internal(std::string("unsupported dtype ") + DataTypeName(dtype_));
    return LaunchStatus(mode_ == Mode::kConv ? "DirectConvKernel" : "DirectConvTransposeKernel");
  }

  // The cuDNN "x" / "y" tensors (backward data: dx is the layer output, dy its input).
  const void* CudnnX(const ConvBuffers& b) const { return mode_ != Mode::kConvTranspose ? b.x : b.y; }
  void* CudnnY(const ConvBuffers& b) const { return mode_ != Mode::kConvTranspose ? b.y : const_cast<void*>(b.x); }

  // Builds the chosen plan's variant pack on the layer's pointers; should cuDNN refuse it, the
  // layer falls back to its own kernel (before its first Enqueue), and ConvKernelNote says why.
  void Bind(void* workspace) {
    const Status s = chosen_.plan->BindPointers(CudnnX(real_), real_.w, CudnnY(real_), real_.b, real_.r, workspace);
    if (s.ok()) return;
    cudnn_failure_ = std::string(chosen_.path()) + " variant pack: " + s.message();
    chosen_.plan.reset();
    std::vector<ConvCandidate> own;
    AddOwnKernels(&own);
    chosen_.kind = own.front().kind;
  }

  Status Fail(const Status& s) const {
    return Status(s.code(), std::string(OpTypeName(op_)) + " node '" + name_ + "' (" + chosen_.path() +
                                "): " + s.message(),
                  name_);
  }

  std::string name_;
  OpType op_;
  Mode mode_;
  DataType dtype_;
  ConvParams params_;
  FusedEpilogue epilogue_;
  bool dry_run_ = false;
  ConvBuffers real_;
  bool has_bias_ = false;
  bool has_residual_ = false;
  bool weights_constant_ = false;  // W is a network constant (CudaTensor::is_constant)
  // When the kernel was made: the candidate list's build time is counted from here (TacticReport).
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
  size_t x_bytes_ = 0, w_bytes_ = 0, b_bytes_ = 0, y_bytes_ = 0;
  bool has_depthwise_ = false;
  DepthwiseParams depthwise_;
  bool has_depthwise_nhwc_ = false;
  bool has_stem_nhwc_ = false;   // kConvNhwc only: StemNhwcSupported
  bool has_igemm_nhwc_ = false;  // kConvNhwc only: IgemmNhwcSupported
  NhwcConvGeometry nhwc_;  // kConvNhwc only
  ConvCandidate chosen_;
  int tactic_ = 0;
  int num_candidates_ = 1;
  TacticReport report_;
  std::vector<std::string> labels_;  // list_only: every candidate's label
  std::string fused_failure_;        // why the fused plan was not taken (ConvKernelNote)
  std::string cudnn_failure_;        // why no cuDNN plan was taken (ConvKernelNote)
  std::string tactic_note_;          // why tactic timing did not happen, or how a recorded tactic was rebuilt
  std::string restored_blob_;        // the recorded blob a plan was restored from (TacticBlob gives it back)
  std::string conv_geometry_;        // CudnnConvSpecText of the conv-only / fused graph (TacticBlob)
  std::string fused_geometry_;
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

StatusOr<std::unique_ptr<ConvKernel>> CreateConv(const CudaOpContext& ctx, bool list_only) {
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
  const ConvParams params = MakeParams(x[0], x[1], w[0], group, g);
  auto kernel_obj = std::make_unique<ConvKernel>(ctx, ConvKernel::Mode::kConv, params, epilogue);
  if (group == x[1] && w[0] == x[1] && wg.rank() <= 2) {
    // Widened geometry: a 2-D layer is (1, H, W), a 1-D one (1, 1, W).
    DepthwiseParams dw;
    dw.n = params.n;
    dw.c = params.c;
    dw.in_h = params.in[1];
    dw.in_w = params.in[2];
    dw.out_h = params.out[1];
    dw.out_w = params.out[2];
    dw.kernel_h = params.k[1];
    dw.kernel_w = params.k[2];
    dw.stride_h = params.s[1];
    dw.stride_w = params.s[2];
    dw.dilation_h = params.d[1];
    dw.dilation_w = params.d[2];
    dw.pad_top = params.pb[1];
    dw.pad_left = params.pb[2];
    if (DepthwiseSupported(dw)) kernel_obj->EnableDepthwise(dw);
  }
  kernel_obj->Plan(ctx, static_cast<int>(wg.rank()), wg.pad_begin, wg.pad_end, list_only);
  return kernel_obj;
}

// EdgertConvNhwc: the checks and geometry of ResolveConvNhwc (ops/nhwc.h, shared with the CPU
// reference), the device dtypes, then the candidates: cuDNN channels-last plans, then the own NHWC
// kernels (depthwise-nhwc when group == C == K, stem-nhwc when StemNhwcSupported, igemm-nhwc when
// IgemmNhwcSupported, direct-nhwc).
StatusOr<std::unique_ptr<ConvKernel>> CreateConvNhwc(const CudaOpContext& ctx, bool list_only) {
  if (ctx.num_inputs() < 2 || !ctx.has_input(0) || !ctx.has_input(1) || ctx.outputs.empty()) {
    return ctx.Error("expected inputs X and W and one output");
  }
  EDGERT_RETURN_IF_ERROR(CheckDtypes(ctx, 4));
  EDGERT_ASSIGN_OR_RETURN(NhwcConvParams np, ResolveConvNhwc(*ctx.op));
  const WindowGeometry& wg = np.window;
  if (wg.rank() != 2) return ctx.NotSupported("only 2-D channels-last convolutions are supported");
  const Shape want = {np.n, wg.out[0], wg.out[1], np.k};
  const Shape& y = ctx.output(0).shape;
  if (y != want) return ctx.Error("output has shape " + ShapeToString(y) + ", expected " + ShapeToString(want));
  if (ctx.input(0).shape != Shape{np.n, np.h, np.w, np.c}) {
    return ctx.Error("input X has device shape " + ShapeToString(ctx.input(0).shape) + ", expected " +
                     ShapeToString(Shape{np.n, np.h, np.w, np.c}));
  }
  if (ctx.has_input(3) && ctx.input(3).shape != y) {
    return ctx.Error("residual has shape " + ShapeToString(ctx.input(3).shape) + ", expected " + ShapeToString(y));
  }
  const Geometry3 g = Widen(wg.in, wg.out, wg.kernel, wg.strides, wg.dilations, wg.pad_begin);
  const ConvParams params = MakeParams(np.n, np.c, np.k, np.group, g);
  auto kernel_obj = std::make_unique<ConvKernel>(ctx, ConvKernel::Mode::kConvNhwc, params, np.epilogue);
  const NhwcConvGeometry geom = MakeNhwcConvGeometry(np);
  kernel_obj->EnableNhwc(geom);
  kernel_obj->Plan(ctx, 2, wg.pad_begin, wg.pad_end, list_only);
  return kernel_obj;
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

StatusOr<std::unique_ptr<ConvKernel>> CreateConvTranspose(const CudaOpContext& ctx, bool list_only) {
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
    kernel_obj->Plan(ctx, static_cast<int>(nd), pad_begin, post_pads, list_only);
  } else {
    kernel_obj->SkipCudnn(ctx, "the output extent does not map to a backward-data convolution with non-negative pads",
                          list_only);
  }
  return kernel_obj;
}

StatusOr<std::unique_ptr<ConvKernel>> CreateConvOrTranspose(const CudaOpContext& ctx, bool list_only) {
  switch (ctx.op->op()) {
    case OpType::kConv:
      return CreateConv(ctx, list_only);
    case OpType::kConvTranspose:
      return CreateConvTranspose(ctx, list_only);
    case OpType::kConvNhwc:
      return CreateConvNhwc(ctx, list_only);
    default:
      return ctx.NotSupported("is not a convolution");
  }
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

StatusOr<std::vector<std::string>> ConvCandidatePaths(const CudaOpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<ConvKernel> kernel, CreateConvOrTranspose(ctx, true));
  return kernel->candidate_labels();
}

std::shared_ptr<cudnnContext> CreateCudnnHandle() {
  cudnnHandle_t handle = nullptr;
  if (cudnnCreate(&handle) != CUDNN_STATUS_SUCCESS) return nullptr;
  return std::shared_ptr<cudnnContext>(handle, [](cudnnContext* h) { cudnnDestroy(h); });
}

StatusOr<CudaKernelPtr> CreateConvKernel(const CudaOpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<ConvKernel> kernel, CreateConvOrTranspose(ctx, false));
  return CudaKernelPtr(std::move(kernel));
}

}  // namespace cuda
}  // namespace edgert
