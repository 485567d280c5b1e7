// CudaEngine and CudaExecutionContext (contracts in edgert/cuda_engine.h).
//
//  1. CudaEngine::Create(): check indices; derive the device network (float32 tensors become
//     float16 in an FP16 engine); plan the arena on it (PlanNetworkMemory, device dtype sizes);
//     with select_tactics, give each Conv/ConvTranspose/Gemm/MatMul layer without a kTacticAttr
//     the timing cache's choice where it holds one (ApplyTimingCache, edgert/timing_cache.h);
//     upload every constant once into one device allocation (float32 weights converted to float16
//     on the host in FP16, a plan's float16 weights copied as they are; on a thread and a
//     non-blocking stream of its own, overlapping the dry run); prepare every layer
//     once in a dry run (support check, CUDA kernel creation with null activation pointers) to
//     report unsupported layers up front and to size the shared workspace, on several host threads
//     with handles of their own (PrepareCudaKernels; CudaEngineOptions::load_threads), recording
//     beside each chosen index the kernel's TacticLabel / TacticBlob (kTacticLabelAttr /
//     kTacticBlobAttr: what lets a plan load rebuild the chosen convolution candidate alone); then,
//     with select_tactics, the tactic pass (SelectTactics): each such layer still without a choice
//     times its candidates in a scratch arena, and the choice (with its level) becomes a layer
//     attribute; when any was timed, a second dry run sizes the workspace for the chosen
//     candidates and records theirs; the choices go into the timing cache (StoreTimingCache);
//     record the I/O tensors.
//     Batch profiles: the profile is validated first; the device network and the arena plan are
//     those of the max batch (every smaller batch fits at the same offsets); the dry runs cover
//     max and min (SpecializeBatch); the tactic pass times the opt specialization (its own device
//     network, derived by DeviceNetwork() like the engine's) and writes the choices onto the
//     engine's layers (same indices), so the plan stores them.
//  2. CreateContext(): the caller's arena or one cudaMalloc, then the kernel set of the default
//     batch (MakeBatchKernels; made on KernelThreads host threads, each with a cuDNN and a cuBLASLt
//     handle of the context's that its kernels keep): a CudaTensor per network tensor
//     (constants: the engine's device copy; activations: arena + planned offset) and a kernel
//     (launch record) per layer the plan does not elide; one workspace cudaMalloc of the largest
//     need (the engine's, or the set's). Nothing is allocated after this but in SetBatchSize.
//  3. SetBatchSize(b): take b's kernel set from the context's cache, or make it against
//     SpecializeBatch(network, b) (the set keeps that network alive; its batch-valued constants get
//     device copies of their own), grow the workspace if the set needs more (dropping the other
//     cached sets, whose kernels hold the old one), evict the least recently used set beyond
//     kMaxCachedBatches. A failure leaves no current set: Enqueue refuses until a batch binds.
//  4. Enqueue(stream): check bindings, then the body of the current set: [poison memset] → inputs
//     copied or converted into the arena from their binding format (an input whose only reader is
//     a channels-first to channels-last Transpose goes straight into that layer's output, converted
//     and transposed, or only converted from a channels-last binding, and the layer is skipped:
//     CudaEngine::FoldedInputLayer) → layer kernels in order → outputs copied or converted (and
//     transposed for a channels-last binding) to their bindings (sizes of the current batch).
//     With CUDA graphs on, the first Enqueue of a set runs the body eagerly (libraries finish their
//     lazy initialisation outside any capture), the second captures the body into the set's graph
//     and instantiates it, later ones launch it; when a binding changes, the body is captured again
//     and the executable graph updated in place (re-instantiated only if the update is refused).
//     A capture the driver refuses turns graphs off for the context (the reason is kept) and the
//     body runs eagerly from then on.
#include "edgert/cuda_engine.h"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <thread>
#include <variant>

#include "backend/network_check.h"
#include "core/parallel.h"
#include "cuda_check.h"
#include "cuda_kernel.h"
#include "edgert/hash.h"
#include "edgert/tactic_label.h"
#include "edgert/timing_cache.h"
#include "edgert/version.h"
#include "engine_kernels.h"
#include "kernels_gemm.h"
#include "op_util.h"

namespace edgert {

using cuda::CudaKernel;
using cuda::CudaKernelPtr;
using cuda::CudaOpContext;
using cuda::CudaResources;
using cuda::CudaTensor;
using cuda::DeviceDtype;

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

StatusOr<DeviceKey> CudaDeviceKey(int device_id) {
  const int count = CudaDeviceCount();
  if (device_id < 0 || device_id >= count) {
    return NotFound("CUDA device " + std::to_string(device_id) + " does not exist (" + std::to_string(count) +
                    " visible)");
  }
  cudaDeviceProp prop;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device_id));
  DeviceKey key;
  key.backend = "cuda";
  key.gpu_name = prop.name;
  key.cc_major = prop.major;
  key.cc_minor = prop.minor;
  key.sm_count = prop.multiProcessorCount;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaRuntimeGetVersion(&key.cuda_version));
  key.cudnn_version = static_cast<int>(cudnnGetVersion());
  key.cublas_version = static_cast<int>(cublasLtGetVersion());
  return key;
}

// ---- Per-context state ---------------------------------------------------------------------------

// The launch records of one batch: the network at that batch (kept alive: kernels may keep
// pointers to its constants' host values), device views at the memory plan's offsets, a kernel per
// layer, and that batch's CUDA graph.
struct CudaBatchKernels {
  int64_t batch = 0;
  NetworkDef specialized;          // the network at `batch`; empty when it is the engine's (max or fixed)
  void* batch_constants = nullptr;  // device copies of the specialized constants holding batch values
  size_t batch_constants_bytes = 0;
  std::vector<CudaTensor> tensors;     // one per network tensor
  std::vector<CudaKernelPtr> kernels;  // one per layer; null for elided layers
  // The layers of the engine's stream_schedule() use the workspace from aux_workspace_offset on
  // (the main stream's layers use it from 0 meanwhile; the auxiliary layers run one after another).
  size_t aux_workspace_offset = 0;
  size_t workspace_bytes = 0;          // the largest need of its kernels
  uint64_t last_used = 0;              // CudaContextState::use_clock when it was last selected
  bool warmed_up = false;              // the body ran eagerly once
  std::vector<void*> captured_bindings;  // the bindings baked into graph_exec
  bool captured_poison = false;
  cudaGraphExec_t graph_exec = nullptr;

  CudaBatchKernels() = default;
  CudaBatchKernels(const CudaBatchKernels&) = delete;
  CudaBatchKernels& operator=(const CudaBatchKernels&) = delete;
  // An executable graph still in flight is freed by the driver when it completes; cudaFree waits
  // for the device.
  ~CudaBatchKernels() {
    if (graph_exec != nullptr) cudaGraphExecDestroy(graph_exec);
    kernels.clear();
    if (batch_constants != nullptr) cudaFree(batch_constants);
  }
};

namespace {

// Destroys the cuDNN and cuBLASLt handles of `res` that are set (cuDNN first) and clears them: the
// one teardown path for the handles that CreateResources makes.
void DestroyResources(CudaResources* res) {
  if (res->cudnn != nullptr) cudnnDestroy(res->cudnn);
  if (res->cublaslt != nullptr) cublasLtDestroy(res->cublaslt);
  res->cudnn = nullptr;
  res->cublaslt = nullptr;
}

}  // namespace

struct CudaContextState {
  // Handles: one per host thread that creates kernel sets (KernelThreads; each kernel keeps the
  // handles of the thread that made it): the first context takes the engine's dry-run handles,
  // the others are created with the first set.
  std::vector<CudaResources> resources;
  void* owned_arena = nullptr;
  size_t owned_arena_bytes = 0;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  std::vector<std::unique_ptr<CudaBatchKernels>> sets;  // the cache, at most kMaxCachedBatches
  CudaBatchKernels* current = nullptr;                  // the set Enqueue runs; null after a failed switch
  uint64_t use_clock = 0;
  std::vector<void*> bindings;                 // per I/O tensor
  bool poison = false;
  bool graphs = false;
  int64_t captures = 0;
  int64_t launches = 0;
  std::string graph_error;                     // why graphs were turned off, if they were
  // Concurrent branches: the auxiliary stream and, per StreamSchedule::aux entry, the events of
  // its fork (recorded on the Enqueue stream) and of its join (recorded on `aux`).
  cudaStream_t aux = nullptr;
  bool concurrent = true;  // off: every layer on the Enqueue stream (CudaEngine::TimeAuxStreams)
  std::vector<cudaEvent_t> fork_events;
  std::vector<cudaEvent_t> join_events;

  ~CudaContextState() {
    current = nullptr;
    sets.clear();  // kernels may hold library plans tied to the handles below
    for (cudaEvent_t e : fork_events) cudaEventDestroy(e);
    for (cudaEvent_t e : join_events) cudaEventDestroy(e);
    if (aux != nullptr) cudaStreamDestroy(aux);
    for (CudaResources& res : resources) DestroyResources(&res);
    if (workspace != nullptr) cudaFree(workspace);
    if (owned_arena != nullptr) cudaFree(owned_arena);
  }
};

namespace {

// Device buffers, a stream and a pair of events, each released on scope exit when set (the
// branch-schedule timing and RunOnHost).
struct DeviceScratch {
  std::vector<void*> ptrs;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ~DeviceScratch() {
    for (void* p : ptrs) cudaFree(p);
    if (start != nullptr) cudaEventDestroy(start);
    if (stop != nullptr) cudaEventDestroy(stop);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// A Status-returning task run on a thread of its own beside the caller's work (Create()'s weight
// upload and cuBLASLt warm-up), timed. Join() waits for it; the destructor joins too, so a return
// before Join() never leaves the thread running on the caller's locals.
class BesideTask {
 public:
  BesideTask() = default;
  BesideTask(const BesideTask&) = delete;
  BesideTask& operator=(const BesideTask&) = delete;
  ~BesideTask() { Join(); }
  void Start(std::function<Status()> task) {
    thread_ = std::thread([this, task = std::move(task)] {
      const auto start = std::chrono::steady_clock::now();
      status_ = task();
      ms_ = MsSince(start);
    });
  }
  // True when the task was started (and is or was running).
  bool Join() {
    if (!thread_.joinable()) return false;
    thread_.join();
    return true;
  }
  // After Join(): the task's result and its wall-clock time (0 when it was not started).
  const Status& status() const { return status_; }
  double ms() const { return ms_; }

 private:
  std::thread thread_;
  Status status_;
  double ms_ = 0;
};

// cuDNN / cuBLASLt handles for `device_id`, with the device's facts.
Status CreateResources(int device_id, CudaResources* res) {
  cudaDeviceProp prop;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device_id));
  res->device_id = device_id;
  res->sm_count = prop.multiProcessorCount;
  res->cc_major = prop.major;
  res->cc_minor = prop.minor;
  cudnnHandle_t cudnn = nullptr;
  EDGERT_CUDNN_RETURN_IF_ERROR(cudnnCreate(&cudnn));
  res->cudnn = cudnn;
  cublasLtHandle_t lt = nullptr;
  EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&lt));
  res->cublaslt = lt;
  return Status::Ok();
}

// Keeps the first `n` entries of `resources` (destroying the handles of the others) and adds
// entries without handles up to `n` (PrepareCudaKernels creates those on their threads).
void ResizeResources(std::vector<CudaResources>* resources, size_t n) {
  for (size_t t = n; t < resources->size(); ++t) DestroyResources(&(*resources)[t]);
  resources->resize(n);
}

// How kernels are made: a dry run (validation), a context's launch records, or the tactic pass.
struct KernelMode {
  Precision precision = Precision::kFp32;
  int tactic_level = 1;
  bool dry_run = false;
  bool select_tactics = false;
  size_t max_workspace_bytes = size_t{64} << 20;
};

// ValueInfos of every network tensor (constants with their values), for OpContexts.
std::vector<ValueInfo> NetworkInfos(const NetworkDef& net) {
  std::vector<ValueInfo> infos(net.tensors.size());
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = net.tensors[i];
    infos[i].dtype = def.dtype;
    infos[i].shape = def.shape;
    if (def.is_constant()) infos[i].value = &def.value;
  }
  return infos;
}

// The support check of layer `l` and, unless `check_only`, its kernel against `tensors` (device
// views, one per network tensor). The layer's kTacticAttr, if any, becomes the kernel's tactic.
StatusOr<CudaKernelPtr> MakeLayerKernel(const NetworkDef& net, size_t l, const std::vector<ValueInfo>& infos,
                                        const std::vector<CudaTensor>& tensors, const KernelMode& mode,
                                        CudaResources* resources, bool check_only) {
  const LayerDef& layer = net.layers[l];
  std::vector<const ValueInfo*> in_infos;
  CudaOpContext cctx;
  for (int32_t t : layer.inputs) {
    in_infos.push_back(t < 0 ? nullptr : &infos[static_cast<size_t>(t)]);
    cctx.inputs.push_back(t < 0 ? nullptr : &tensors[static_cast<size_t>(t)]);
  }
  OpContext ctx(layer.op, layer.name, layer.attrs, layer.opset, in_infos, layer.outputs.size());
  for (size_t k = 0; k < layer.outputs.size(); ++k) {
    const size_t t = static_cast<size_t>(layer.outputs[k]);
    ctx.SetOutput(k, infos[t].dtype, infos[t].shape);
    cctx.outputs.push_back(&tensors[t]);
  }
  EDGERT_RETURN_IF_ERROR(CheckSupported(ctx));
  if (check_only) return CudaKernelPtr();
  cctx.op = &ctx;
  cctx.precision = mode.precision;
  cctx.resources = resources;
  cctx.dry_run = mode.dry_run;
  cctx.tactic_level = mode.tactic_level;
  cctx.select_tactics = mode.select_tactics && !mode.dry_run;
  cctx.max_workspace_bytes = mode.max_workspace_bytes;
  EDGERT_ASSIGN_OR_RETURN(int64_t tactic, layer.attrs.GetIntOr(kTacticAttr, -1, layer.name));
  cctx.tactic = static_cast<int>(tactic);
  if (tactic >= 0) {  // rebuild the candidate list the index was chosen from
    EDGERT_ASSIGN_OR_RETURN(int64_t level, layer.attrs.GetIntOr(kTacticLevelAttr, mode.tactic_level, layer.name));
    cctx.tactic_level = static_cast<int>(std::clamp<int64_t>(level, 0, 2));
    EDGERT_ASSIGN_OR_RETURN(cctx.tactic_label, layer.attrs.GetStringOr(kTacticLabelAttr, "", layer.name));
    EDGERT_ASSIGN_OR_RETURN(cctx.tactic_blob, layer.attrs.GetStringOr(kTacticBlobAttr, "", layer.name));
  }
  return cuda::CreateCudaKernel(cctx);
}

// What a kernel with a tactic records for later loads: {TacticLabel(), TacticBlob()}.
using RecordedTactic = std::pair<std::string, std::string>;

// The Transpose layer that graph input tensor `t`'s copy can perform (CudaEngine::FoldedInputLayer),
// or -1: t is read by exactly one layer, once, and is no network output; that layer is a Transpose
// with perm [0, 2, ..., r-1, 1] (r >= 3) the memory plan keeps, and the copy's dtypes (the
// binding's and the device's) are float32 / float16.
int FoldableInputTranspose(const NetworkDef& net, const NetworkDef& dnet, const NetworkMemoryPlan& plan, int32_t t,
                           DataType io_dtype) {
  if (std::find(net.outputs.begin(), net.outputs.end(), t) != net.outputs.end()) return -1;
  int reader = -1;
  for (size_t l = 0; l < net.layers.size(); ++l) {
    const int uses = static_cast<int>(std::count(net.layers[l].inputs.begin(), net.layers[l].inputs.end(), t));
    if (uses == 0) continue;
    if (uses > 1 || reader >= 0) return -1;
    reader = static_cast<int>(l);
  }
  if (reader < 0) return -1;
  const LayerDef& layer = net.layers[static_cast<size_t>(reader)];
  if (layer.op != OpType::kTranspose || layer.inputs.size() != 1 || layer.outputs.size() != 1) return -1;
  if (!plan.layer_elided.empty() && plan.layer_elided[static_cast<size_t>(reader)]) return -1;
  const int64_t rank = static_cast<int64_t>(net.tensors[static_cast<size_t>(t)].shape.size());
  if (rank < 3) return -1;
  StatusOr<std::vector<int64_t>> perm = layer.attrs.GetInts("perm");
  if (!perm.ok() || static_cast<int64_t>(perm->size()) != rank || (*perm)[0] != 0 || perm->back() != 1) return -1;
  for (int64_t k = 1; k + 1 < rank; ++k) {
    if ((*perm)[static_cast<size_t>(k)] != k + 1) return -1;
  }
  const DataType in = dnet.tensors[static_cast<size_t>(t)].dtype;
  const DataType out = dnet.tensors[static_cast<size_t>(layer.outputs[0])].dtype;
  if (in != out || !cuda::ConvertTransposeSupported(io_dtype, in)) return -1;
  return reader;
}

// Host threads that create a network's kernels (Create()'s dry runs, a context's kernel sets): the
// engine option, else (0) one per two layers with tactics (those create library plans), at most
// the hardware's threads and 8.
int KernelThreads(const NetworkDef& net, int option) {
  if (option > 0) return option;
  size_t tactic_layers = 0;
  for (const LayerDef& layer : net.layers) tactic_layers += cuda::OpHasTactics(layer.op) ? 1 : 0;
  const size_t hardware = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(std::clamp<size_t>(tactic_layers / 2, 1, std::min<size_t>(hardware, 8)));
}

// Creates the kernel of every layer of `net` against `tensors`; layers with `skip[l]` set are only
// checked. `kernels` may be null (validation only: each kernel is dropped at once); `recorded`,
// when given, receives per layer what a kernel with a tactic records (empty for the others).
// Threads: one per entry of `pool` (handles; entries without handles are given them on their
// thread, and the caller destroys them after the kernels). With one entry the calling thread
// does the work. Creating a layer's kernel is host work (cuDNN plan finalization dominates a
// plan's load); each thread takes the next layer from a shared counter and uses its own entry's
// handles (a cuDNN handle is used by one thread at a time), which its kernels keep: a kept kernel
// runs with the handles of the thread that made it. The layers are taken in KernelOrder(). After
// a failure only layers below the lowest failing one are still made, and the error of the lowest
// failing layer is returned: every layer below it is made, so it is the first error in network
// order, whatever the threads. `times`, when given, receives the slowest thread's handle creation
// and each layer's kernel creation, in ms.
struct KernelTimes {
  double handles_ms = 0;
  std::vector<double> layer_ms;
};

// The order in which the threads take the layers: first the first layer recorded with each
// cuDNN engine (a plan's kTacticLabelAttr, e.g. "cudnn-fused engine 39"), then the others in
// network order. Each engine's first finalization in the process loads its kernels (50-170 ms)
// and the engine's later layers wait for it; taken in network order, the threads could all wait
// on one engine while another's first load had not begun.
std::vector<size_t> KernelOrder(const NetworkDef& net) {
  std::vector<size_t> first, rest;
  std::set<std::string> engines;
  for (size_t l = 0; l < net.layers.size(); ++l) {
    StatusOr<std::string> text = net.layers[l].attrs.GetStringOr(kTacticLabelAttr, "");
    RecordedTacticLabel label;
    const bool engine = text.ok() && ParseTacticLabel(*text, &label) &&
                        label.label.find(" engine ") != std::string::npos && engines.insert(label.label).second;
    (engine ? first : rest).push_back(l);
  }
  first.insert(first.end(), rest.begin(), rest.end());
  return first;
}
Status PrepareCudaKernels(const NetworkDef& net, const KernelMode& mode, const std::vector<CudaTensor>& tensors,
                          const std::vector<uint8_t>& skip, int device_id, std::vector<CudaResources>* pool,
                          std::vector<CudaKernelPtr>* kernels, size_t* workspace_bytes,
                          std::vector<RecordedTactic>* recorded = nullptr, KernelTimes* times = nullptr) {
  const size_t n = net.layers.size();
  const std::vector<ValueInfo> infos = NetworkInfos(net);
  if (kernels != nullptr) {
    kernels->clear();
    kernels->resize(n);
  }
  if (recorded != nullptr) recorded->assign(n, RecordedTactic{});
  std::vector<Status> statuses(n);
  std::vector<size_t> workspaces(n, 0);
  const std::vector<size_t> order = KernelOrder(net);
  std::atomic<size_t> next{0};
  std::atomic<bool> setup_failed{false};
  std::atomic<size_t> failed_at{n};  // the lowest failing layer so far (n: none)
  std::vector<Status> setup(pool->size());
  std::vector<double> handles_ms(pool->size(), 0.0);
  std::vector<double> layer_ms(n, 0.0);
  auto work = [&](size_t t) {
    CudaResources& res = (*pool)[t];
    const auto setup_start = std::chrono::steady_clock::now();
    if (pool->size() > 1) setup[t] = cuda::CudaStatus(cudaSetDevice(device_id), "cudaSetDevice");
    if (setup[t].ok() && res.cudnn == nullptr) setup[t] = CreateResources(device_id, &res);
    handles_ms[t] = MsSince(setup_start);
    if (!setup[t].ok()) {
      setup_failed = true;
      return;
    }
    while (!setup_failed.load()) {
      const size_t i = next.fetch_add(1);
      if (i >= n) break;
      const size_t l = order[i];
      if (l > failed_at.load()) continue;  // a lower layer failed: its error is the one returned
      const bool skipped = !skip.empty() && skip[l];
      const auto layer_start = std::chrono::steady_clock::now();
      StatusOr<CudaKernelPtr> kernel = MakeLayerKernel(net, l, infos, tensors, mode, &res, skipped);
      if (!skipped) layer_ms[l] = MsSince(layer_start);
      if (!kernel.ok()) {
        statuses[l] = kernel.status();
        size_t lowest = failed_at.load();
        while (l < lowest && !failed_at.compare_exchange_weak(lowest, l)) {
        }
        continue;
      }
      if (skipped) continue;
      workspaces[l] = (*kernel)->WorkspaceBytes();
      if (recorded != nullptr && (*kernel)->Tactic() >= 0) {
        (*recorded)[l] = {(*kernel)->TacticLabel(), (*kernel)->TacticBlob()};
      }
      if (kernels != nullptr) (*kernels)[l] = std::move(*kernel);
    }
  };
  if (pool->size() == 1) {
    work(0);
  } else {
    std::vector<std::thread> threads;
    for (size_t t = 0; t < pool->size(); ++t) threads.emplace_back(work, t);
    for (std::thread& t : threads) t.join();
  }
  for (size_t l = 0; l < n; ++l) {
    if (!statuses[l].ok()) return statuses[l];
  }
  for (const Status& s : setup) EDGERT_RETURN_IF_ERROR(s);
  if (times != nullptr) {
    times->handles_ms = *std::max_element(handles_ms.begin(), handles_ms.end());
    times->layer_ms = std::move(layer_ms);
  }
  if (workspace_bytes != nullptr) {
    *workspace_bytes = n > 0 ? *std::max_element(workspaces.begin(), workspaces.end()) : 0;
  }
  return Status::Ok();
}

// ---- Timing cache ----------------------------------------------------------------------------------
// The file's format: edgert/timing_cache.h. The signature hashes the device key, the precision, the
// op and opset, every attribute but the tactic ones, and each input's and output's device dtype,
// shape and constness (weights' values do not change which kernel is fastest), the tactic level and
// the workspace budget (both shape the candidate lists), and the edgert version with
// kTacticsRevision: a cached tactic is an index into a candidate list, so a cache written before the
// lists or their timing changed is not read.

// Bumped whenever a candidate list or the way candidates are timed changes (2: igemm-nhwc, and
// convolutions timed in a CUDA graph; 3: the own matrix-vector kernel as Gemm candidate 1).
constexpr int kTacticsRevision = 3;

std::string AttrText(const AttrValue& v) {
  struct Visitor {
    std::string operator()(int64_t i) const { return "i" + std::to_string(i); }
    std::string operator()(float f) const { return "f" + std::to_string(f); }
    std::string operator()(const std::string& s) const { return "s" + std::to_string(s.size()) + ":" + s; }
    std::string operator()(const Tensor& t) const {
      return "t" + std::to_string(static_cast<int>(t.dtype())) + ShapeToString(t.shape()) + Sha256Hex(t.raw(), t.bytes());
    }
    std::string operator()(const std::vector<int64_t>& v) const {
      std::string out = "I";
      for (int64_t x : v) out += std::to_string(x) + ",";
      return out;
    }
    std::string operator()(const std::vector<float>& v) const {
      std::string out = "F";
      for (float x : v) out += std::to_string(x) + ",";
      return out;
    }
    std::string operator()(const std::vector<std::string>& v) const {
      std::string out = "S";
      for (const std::string& x : v) out += std::to_string(x.size()) + ":" + x;
      return out;
    }
  };
  return std::visit(Visitor{}, v);
}

std::string LayerSignature(const NetworkDef& net, const NetworkDef& dnet, size_t l, const std::string& device,
                           Precision precision, int tactic_level, size_t max_workspace_bytes) {
  const LayerDef& layer = net.layers[l];
  std::string text = std::string("edgert ") + EDGERT_VERSION_STRING + " tactics" + std::to_string(kTacticsRevision) +
                     "|" + device + "|" + PrecisionName(precision) + "|level" + std::to_string(tactic_level) + "|ws" +
                     std::to_string(max_workspace_bytes) + "|op" + std::to_string(static_cast<int>(layer.op)) +
                     "|opset" + std::to_string(layer.opset);
  for (const auto& [name, value] : layer.attrs.all()) {
    if (name != kTacticAttr && name != kTacticLevelAttr && name != kTacticLabelAttr && name != kTacticBlobAttr) {
      text += "|" + name + "=" + AttrText(value);
    }
  }
  auto tensor_text = [&](int32_t t) {
    if (t < 0) return std::string("|-");
    const TensorDef& d = dnet.tensors[static_cast<size_t>(t)];
    return "|" + std::string(DataTypeName(d.dtype)) + ShapeToString(d.shape) +
           (net.tensors[static_cast<size_t>(t)].is_constant() ? "c" : "");
  };
  for (int32_t t : layer.inputs) text += tensor_text(t);
  text += "|->";
  for (int32_t t : layer.outputs) text += tensor_text(t);
  return Sha256Hex(text);
}

// The network as the device holds it: same layers and tensors, device dtypes (float32 becomes
// float16 in an FP16 engine, except an INT8 convolution's bias and scales). Constants keep their host values (as views of the same bytes) so the
// planner and the kernels can read parameters. Used for the engine's network and for a batch
// specialization of it (the tactic pass at the profile's opt).
NetworkDef DeviceNetwork(const NetworkDef& net, Precision precision) {
  NetworkDef dnet;
  dnet.layers = net.layers;
  dnet.inputs = net.inputs;
  dnet.outputs = net.outputs;
  dnet.tensors.resize(net.tensors.size());
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    const TensorDef& def = net.tensors[i];
    TensorDef& d = dnet.tensors[i];
    d.name = def.name;
    d.shape = def.shape;
    d.dtype = DeviceDtype(def.dtype, precision);
    if (def.is_constant()) d.value = def.value;
  }
  // An INT8 convolution's bias and weight scales stay float32 in FP16 engines: the scales are
  // often below float16's normal range, and the epilogue computes in float32 (ops/int8_conv.h).
  for (const LayerDef& layer : net.layers) {
    if (layer.op != OpType::kInt8Conv) continue;
    for (size_t i : {size_t{2}, size_t{3}}) {
      if (i < layer.inputs.size() && layer.inputs[i] >= 0) {
        const size_t t = static_cast<size_t>(layer.inputs[i]);
        dnet.tensors[t].dtype = net.tensors[t].dtype;
      }
    }
  }
  return dnet;
}

// Device views of every tensor of `net` (the engine's network or a batch specialization of it:
// same tensor indices, so the engine's memory plan and device dtypes apply): shapes and host values
// from `net`; constants at the engine's device copy unless `constant_overrides` (one per tensor,
// may be empty) gives another address; planned activations at arena + offset (arena may be null:
// dry run); unused tensors null.
std::vector<CudaTensor> DeviceViews(const CudaEngine& engine, const NetworkDef& net, char* arena,
                                    const std::vector<void*>& constant_overrides = {}) {
  const NetworkDef& dnet = engine.device_network();
  const NetworkMemoryPlan& plan = engine.memory_plan();
  std::vector<CudaTensor> views(net.tensors.size());
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    CudaTensor& v = views[i];
    v.dtype = dnet.tensors[i].dtype;
    v.shape = net.tensors[i].shape;
    if (net.tensors[i].is_constant()) {
      const bool own = !constant_overrides.empty() && constant_overrides[i] != nullptr;
      v.data = own ? constant_overrides[i] : const_cast<void*>(engine.ConstantAddress(static_cast<int32_t>(i)));
      v.host = &net.tensors[i].value;
    } else if (arena != nullptr && plan.tensors[i].kind != TensorMemoryKind::kNone) {
      v.data = arena + plan.tensors[i].offset;
    }
  }
  return views;
}

// The kernel set of `batch` against `arena` (Enqueue's launch records; not a dry run). At a batch
// other than the engine network's own, the set holds SpecializeBatch(network, batch) and one device
// allocation with that specialization's batch-valued constants (the engine's device copy holds the
// max batch's values); other constants stay the engine's.
StatusOr<std::unique_ptr<CudaBatchKernels>> MakeBatchKernels(const CudaEngine& engine, int64_t batch, char* arena,
                                                             std::vector<CudaResources>* resources) {
  auto set = std::make_unique<CudaBatchKernels>();
  set->batch = batch;
  const NetworkDef* net = &engine.network();
  std::vector<void*> overrides;
  const BatchProfile& profile = engine.profile();
  if (profile.enabled() && batch != profile.max) {
    EDGERT_ASSIGN_OR_RETURN(set->specialized, SpecializeBatch(engine.network(), batch));
    net = &set->specialized;
    // The constants holding batch values, each once, at 256-byte aligned offsets.
    std::vector<int32_t> batch_constants;
    for (const BatchValue& v : profile.batch_values) {
      if (std::find(batch_constants.begin(), batch_constants.end(), v.tensor) == batch_constants.end()) {
        batch_constants.push_back(v.tensor);
      }
    }
    std::vector<size_t> offsets;
    size_t total = 0;
    for (int32_t t : batch_constants) {
      offsets.push_back(total);
      const size_t bytes = net->tensors[static_cast<size_t>(t)].value.bytes();
      if (!AlignUp(total + (bytes > 0 ? bytes : 1), kDefaultMemoryAlignment, &total)) {
        return OutOfRange("the batch-valued constants are too large");
      }
    }
    if (total > 0) {
      const cudaError_t err = cudaMalloc(&set->batch_constants, total);
      if (err != cudaSuccess) {
        cudaGetLastError();
        return OutOfRange("out of device memory allocating " + std::to_string(total) +
                          " bytes of batch-valued constants (" + cudaGetErrorString(err) + ")");
      }
      set->batch_constants_bytes = total;
      overrides.assign(net->tensors.size(), nullptr);
      for (size_t k = 0; k < batch_constants.size(); ++k) {
        const Tensor& value = net->tensors[static_cast<size_t>(batch_constants[k])].value;
        char* dst = static_cast<char*>(set->batch_constants) + offsets[k];
        overrides[static_cast<size_t>(batch_constants[k])] = dst;
        if (value.bytes() > 0) {
          EDGERT_CUDA_RETURN_IF_ERROR(cudaMemcpy(dst, value.raw(), value.bytes(), cudaMemcpyHostToDevice));
        }
      }
    }
  }
  set->tensors = DeviceViews(engine, *net, arena, overrides);
  const CudaEngineOptions& options = engine.options();
  const KernelMode mode{options.precision, options.tactic_level, false, false, options.max_workspace_bytes};
  Status s = PrepareCudaKernels(*net, mode, set->tensors, engine.memory_plan().layer_elided, options.device_id,
                                resources, &set->kernels, &set->workspace_bytes);
  if (!s.ok()) return profile.enabled() ? s.WithContext("at batch " + std::to_string(batch)) : s;
  // The scheduled auxiliary layers, and a workspace region of their own after the main stream's.
  const StreamSchedule& schedule = engine.stream_schedule();
  if (!schedule.empty()) {
    size_t main_bytes = 0, aux_bytes = 0;
    for (size_t l = 0; l < set->kernels.size(); ++l) {
      const CudaKernelPtr& k = set->kernels[l];
      const bool aux = schedule.on_aux[l] != 0;
      // The schedule takes Conv/Gemm/MatMul layers reading no graph input: never elided or folded.
      if (aux && (k == nullptr || engine.FoldingInput(static_cast<int>(l)) >= 0)) {
        return Internal("layer '" + net->layers[l].name +
                        "' is scheduled on the auxiliary stream but has no kernel of its own");
      }
      if (k == nullptr) continue;
      size_t& need = aux ? aux_bytes : main_bytes;
      need = std::max(need, k->WorkspaceBytes());
    }
    if (aux_bytes > 0) {
      if (!AlignUp(main_bytes, kDefaultMemoryAlignment, &set->aux_workspace_offset) ||
          set->aux_workspace_offset + aux_bytes < aux_bytes) {
        return OutOfRange("the workspace of the main and auxiliary streams is too large");
      }
      set->workspace_bytes = set->aux_workspace_offset + aux_bytes;
    }
  }
  return set;
}

// A layer's tactic choice on the engine's host and device networks: kTacticAttr and its level,
// and, where given, what recreates the candidate alone (kTacticLabelAttr, kTacticBlobAttr).
void SetTacticAttrs(LayerDef* host, LayerDef* device, int tactic, int level, const std::string& label,
                    const std::string& blob) {
  for (LayerDef* target : {host, device}) {
    target->attrs.Set(kTacticAttr, int64_t{tactic});
    target->attrs.Set(kTacticLevelAttr, int64_t{level});
    if (!label.empty()) target->attrs.Set(kTacticLabelAttr, label);
    if (!blob.empty()) target->attrs.Set(kTacticBlobAttr, blob);
  }
}

}  // namespace

// ---- CudaEngine ------------------------------------------------------------------------------------

// The tactic pass's state across Create(): the cache, the network the layers are tuned on and each
// layer's signature there.
struct TimingCacheState {
  TimingCache entries;  // the file's, then this build's choices
  TimingCache before;   // as read: the file is written only when something changed
  // The profile's opt specialization when it differs from the max batch (where TensorRT tunes),
  // as host and device networks; otherwise the engine's own networks are the tuned ones, and only
  // then do entries carry label and blob (recorded at the engine's shapes).
  NetworkDef at_opt;
  NetworkDef at_opt_device;
  bool engine_shapes = true;
  std::vector<std::string> signatures;  // per layer: "" for layers the pass leaves alone
};

struct CudaHandlePool {
  std::mutex mutex;
  std::vector<CudaResources> resources;
  ~CudaHandlePool() {
    for (CudaResources& res : resources) DestroyResources(&res);
  }
};

CudaEngine::~CudaEngine() {
  spare_handles_.reset();
  if (weights_ != nullptr) cudaFree(weights_);
}

StatusOr<std::shared_ptr<CudaEngine>> CudaEngine::Create(NetworkDef network, const CudaEngineOptions& options) {
  std::shared_ptr<CudaEngine> engine(new CudaEngine());
  engine->options_ = options;
  engine->network_ = std::move(network);
  const NetworkDef& net = engine->network_;
  EDGERT_RETURN_IF_ERROR(CheckNetworkIndices(net));
  EDGERT_RETURN_IF_ERROR(ValidateBatchProfile(net));
  EDGERT_RETURN_IF_ERROR(ValidateIoFormats(net));
  if (CudaDeviceCount() <= options.device_id || options.device_id < 0) {
    return NotFound("no CUDA device " + std::to_string(options.device_id) + " (" +
                    std::to_string(CudaDeviceCount()) + " visible): the CUDA backend needs an NVIDIA GPU and driver");
  }
  EDGERT_CUDA_RETURN_IF_ERROR(cudaSetDevice(options.device_id));

  // 0. cuBLASLt's one-time heuristics set-up (cuda::WarmUpCublasLt), on a thread of its own beside
  //    steps 1-4, when a layer may reach cuBLAS (cuDNN's cuBLAS-backed convolution engines, Gemm and
  //    MatMul: the layers with tactics); joined after the dry run, and on every return before.
  BesideTask warm_up;
  if (std::any_of(net.layers.begin(), net.layers.end(), [](const LayerDef& l) { return cuda::OpHasTactics(l.op); })) {
    const DataType dtype = options.precision == Precision::kFp16 ? DataType::kFloat16 : DataType::kFloat32;
    warm_up.Start([dtype, device = options.device_id]() -> Status {
      EDGERT_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
      return cuda::WarmUpCublasLt(dtype);
    });
  }

  auto phase = std::chrono::steady_clock::now();
  // 1. The device network (device dtypes) and the arena plan on it. With a batch profile the
  //    network holds the max batch's shapes, so the plan fits every batch at the same offsets.
  engine->device_network_ = DeviceNetwork(net, options.precision);
  const NetworkDef& dnet = engine->device_network_;
  // A narrowed constant (a plan's float16 weights, PlanNetwork()) is uploaded as it is stored.
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    if (net.tensors[i].is_narrowed() && dnet.tensors[i].dtype != DataType::kFloat16) {
      const std::string& name = net.tensors[i].name;
      return InvalidArgument("constant '" + name + "' is stored as float16, but a " + PrecisionName(options.precision) +
                                 " engine holds it as " + DataTypeName(dnet.tensors[i].dtype) +
                                 ": float16 weights need an FP16 engine",
                             name);
    }
  }
  NetworkMemoryOptions memory = options.memory;
  memory.layer_spans.clear();
  if (options.aux_streams > 0) {
    // A layer a build found better on the main stream (kAuxStreamAttr 0) stays there.
    engine->schedule_ = ScheduleAuxLayers(dnet, [](const LayerDef& layer) {
      StatusOr<int64_t> aux = layer.attrs.GetIntOr(kAuxStreamAttr, 1, layer.name);
      return cuda::OpHasTactics(layer.op) && aux.ok() && *aux != 0;
    });
    memory.layer_spans = engine->schedule_.spans;
  }
  EDGERT_ASSIGN_OR_RETURN(engine->memory_plan_, PlanNetworkMemory(dnet, memory));
  const size_t plan_alignment = engine->memory_plan_.alignment;
  engine->arena_alignment_ = (plan_alignment > kDefaultMemoryAlignment && plan_alignment <= 4096 &&
                              (plan_alignment & (plan_alignment - 1)) == 0)
                                 ? plan_alignment
                                 : kDefaultMemoryAlignment;
  const size_t plan_bytes = engine->memory_plan_.figures.arena_bytes;
  if (!AlignUp(plan_bytes > 0 ? plan_bytes : 1, engine->arena_alignment_, &engine->arena_bytes_)) {
    return OutOfRange("the activation arena of " + std::to_string(plan_bytes) + " bytes is too large");
  }

  engine->load_.memory_plan_ms = MsSince(phase);

  // 2. Timing cache (with tactic timing): layers without a kTacticAttr whose signature the cache
  //    holds take its choice, with what recreates it alone where the cache has that (the dry run
  //    then restores those candidates as a plan load does).
  engine->tactics_.assign(net.layers.size(), LayerTactic{});
  const bool tuning = options.select_tactics && options.tactic_level > 0;
  TimingCacheState cache_state;
  if (tuning) EDGERT_RETURN_IF_ERROR(engine->ApplyTimingCache(&cache_state));

  phase = std::chrono::steady_clock::now();
  // 3. Weights: one allocation, every constant at a 256-byte aligned offset, in its device dtype.
  //    The addresses are fixed first; the copies run on a thread of their own while step 4
  //    creates the kernels (the dry run reads no weights on the device).
  std::vector<size_t> offsets(net.tensors.size(), 0);
  size_t total = 0;
  for (size_t i = 0; i < net.tensors.size(); ++i) {
    if (!net.tensors[i].is_constant()) continue;
    offsets[i] = total;
    const size_t bytes = static_cast<size_t>(net.tensors[i].value.num_elements()) * DataTypeSize(dnet.tensors[i].dtype);
    if (!AlignUp(total + (bytes > 0 ? bytes : 1), kDefaultMemoryAlignment, &total)) {
      return OutOfRange("the network's weights are too large");
    }
  }
  engine->weights_bytes_ = total;
  engine->constant_ptrs_.assign(net.tensors.size(), nullptr);
  if (total > 0) {
    const cudaError_t err = cudaMalloc(&engine->weights_, total);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return OutOfRange("out of device memory uploading " + std::to_string(total) + " bytes of weights (" +
                        cudaGetErrorString(err) + ")");
    }
    for (size_t i = 0; i < net.tensors.size(); ++i) {
      if (net.tensors[i].is_constant()) engine->constant_ptrs_[i] = static_cast<char*>(engine->weights_) + offsets[i];
    }
  }
  const CudaEngine& uploading = *engine;
  // float32 constants the device holds as float16 are converted on the host (FloatsToHalves, the
  // conversion that narrows a plan's weights, so an engine built from float32 weights and one
  // loaded from its plan hold the same bits) into one buffer, then copied as float16; every other
  // constant is copied as it is (a plan's float16 weights straight from the mapped file). A GPU
  // conversion needed a device staging buffer of the float32 size beside the weights, and engines
  // uploaded that way ran ResNet-50 at batch 1 up to 4% slower in some loads (bench/RESULTS.md,
  // thirteenth session). The copies run on a non-blocking stream of their own (the legacy default
  // stream would order them against every blocking stream of the process, the caller's included).
  auto upload = [&net, &dnet, &uploading, device = options.device_id]() -> Status {
    EDGERT_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
    std::vector<size_t> half_at(net.tensors.size(), SIZE_MAX);
    std::vector<HalfConversion> jobs;
    size_t halves = 0;
    for (size_t i = 0; i < net.tensors.size(); ++i) {
      const Tensor& value = net.tensors[i].value;
      if (net.tensors[i].is_constant() && dnet.tensors[i].dtype == DataType::kFloat16 &&
          value.dtype() == DataType::kFloat32) {
        half_at[i] = halves;
        jobs.push_back({value.data<float>(), nullptr, static_cast<size_t>(value.num_elements())});
        halves += jobs.back().count;
      }
    }
    std::unique_ptr<uint16_t[]> half;
    if (halves > 0) {
      half.reset(new (std::nothrow) uint16_t[halves]);
      if (half == nullptr) {
        return OutOfRange("out of host memory converting " + std::to_string(halves) + " weights to float16");
      }
      size_t at = 0;
      for (HalfConversion& job : jobs) {
        job.dst = half.get() + at;
        at += job.count;
      }
      FloatsToHalves(jobs, HostThreads(8));
    }
    cudaStream_t stream = nullptr;
    EDGERT_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    auto copy = [&]() -> Status {
      for (size_t i = 0; i < net.tensors.size(); ++i) {
        const Tensor& value = net.tensors[i].value;
        if (!net.tensors[i].is_constant() || value.bytes() == 0) continue;
        void* dst = const_cast<void*>(uploading.ConstantAddress(static_cast<int32_t>(i)));
        const bool converted = half_at[i] != SIZE_MAX;
        const void* src = converted ? static_cast<const void*>(half.get() + half_at[i]) : value.raw();
        const size_t bytes = converted ? static_cast<size_t>(value.num_elements()) * 2 : value.bytes();
        EDGERT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
      }
      return Status::Ok();
    };
    Status s = copy();
    // Also after a failed copy: nothing is left queued, and `half` outlives every copy from it.
    const cudaError_t synced = cudaStreamSynchronize(stream);
    cudaStreamDestroy(stream);
    EDGERT_RETURN_IF_ERROR(s);
    EDGERT_CUDA_RETURN_IF_ERROR(synced);
    return Status::Ok();
  };
  BesideTask upload_task;
  if (total > 0) upload_task.Start(upload);

  // 4. Validation: every layer gets a CUDA kernel (dry run, at max and min), and the workspace is
  //    sized.
  const Status dry_run = engine->DryRun();
  engine->load_.kernels_ms = MsSince(phase);
  upload_task.Join();
  engine->load_.weights_ms = upload_task.ms();
  if (warm_up.Join()) {
    engine->load_.cublaslt_warm_up_ms = warm_up.ms();
    // A failed warm-up only costs the layers that set-up; the reason is kept for the load report.
    if (!warm_up.status().ok()) engine->load_.cublaslt_warm_up_error = warm_up.status().message();
  }
  EDGERT_RETURN_IF_ERROR(dry_run);
  EDGERT_RETURN_IF_ERROR(upload_task.status());

  // 5. Tactics: layers still without a kTacticAttr get one by timing their candidates in a
  //    scratch arena (at the profile's opt batch; a layer with the signature of one timed earlier
  //    in this network takes its choice); then, when any was timed, the workspace is sized again
  //    for the chosen candidates. The cache gets every choice with what the dry run recorded.
  if (tuning) {
    int timed = 0;
    EDGERT_RETURN_IF_ERROR(engine->SelectTactics(&cache_state, &timed));
    if (timed > 0) EDGERT_RETURN_IF_ERROR(engine->DryRun());
    EDGERT_RETURN_IF_ERROR(engine->StoreTimingCache(&cache_state));
  } else {
    for (size_t l = 0; l < net.layers.size(); ++l) {
      EDGERT_ASSIGN_OR_RETURN(int64_t t, net.layers[l].attrs.GetIntOr(kTacticAttr, -1, net.layers[l].name));
      engine->tactics_[l].tactic = static_cast<int>(t);
      engine->tactics_[l].from_cache = t >= 0;
    }
  }

  engine->io_ = NetworkIOTensors(net);
  engine->io_tensor_index_ = net.inputs;
  engine->io_tensor_index_.insert(engine->io_tensor_index_.end(), net.outputs.begin(), net.outputs.end());
  engine->folded_input_layer_.assign(engine->io_.size(), -1);
  engine->folding_input_.assign(net.layers.size(), -1);
  for (size_t i = 0; i < engine->io_.size(); ++i) {
    if (!engine->io_[i].is_input) continue;
    const int layer =
        FoldableInputTranspose(net, dnet, engine->memory_plan_, engine->io_tensor_index_[i], engine->io_[i].dtype);
    engine->folded_input_layer_[i] = layer;
    if (layer >= 0 && engine->folding_input_[static_cast<size_t>(layer)] < 0) {  // the first such input
      engine->folding_input_[static_cast<size_t>(layer)] = static_cast<int>(i);
    }
  }

  // 6. Concurrent branches, timed with the tactics: the faster of the auxiliary stream and one
  //    stream is recorded on the scheduled layers; with one stream the schedule is dropped (the
  //    memory plan keeps its spans: larger, still correct).
  //    Where the timing cannot run (e.g. no device memory for its two extra contexts on a small
  //    Jetson), the schedule stays as it is, unrecorded, and the reason is kept. A network whose
  //    scheduled layers all carry a recorded choice (made again from a timed engine's network)
  //    keeps it untimed, as a plan load does.
  const bool recorded =
      std::all_of(engine->schedule_.aux.begin(), engine->schedule_.aux.end(), [&](const AuxLayer& a) {
        return std::all_of(a.layers.begin(), a.layers.end(), [&](int32_t l) {
          return engine->device_network_.layers[static_cast<size_t>(l)].attrs.Has(kAuxStreamAttr);
        });
      });
  if (options.select_tactics && options.tactic_level > 0 && !engine->schedule_.empty() && !recorded) {
    const Status timed = engine->TimeAuxStreams();
    if (!timed.ok()) {
      cudaGetLastError();
      engine->aux_timing_ = AuxStreamTiming{};
      engine->aux_timing_.error = timed.message();
      return engine;
    }
    for (const AuxLayer& a : engine->schedule_.aux) {
      for (NetworkDef* n : {&engine->network_, &engine->device_network_}) {
        for (int32_t l : a.layers) {
          n->layers[static_cast<size_t>(l)].attrs.Set(kAuxStreamAttr, int64_t{engine->aux_timing_.kept ? 1 : 0});
        }
      }
    }
    if (!engine->aux_timing_.kept) engine->schedule_ = StreamSchedule{};
  }
  return engine;
}

Status CudaEngine::TimeAuxStreams() {
  // Two contexts, the second on one stream, on zero-filled I/O buffers; CUDA graphs as configured.
  // Single inferences alternate between them; the medians are compared. The auxiliary stream is
  // kept only when faster by more than 0.5% (noise favours the simpler graph).
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutionContext> aux, CreateContext());
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutionContext> one, CreateContext());
  one->state_->concurrent = false;
  DeviceScratch b;
  for (int i = 0; i < NumIOTensors(); ++i) {
    const size_t bytes = static_cast<size_t>(NumElements(aux->TensorShape(i))) * DataTypeSize(IOTensor(i).dtype);
    void* p = nullptr;
    EDGERT_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, bytes > 0 ? bytes : 1));
    b.ptrs.push_back(p);
    EDGERT_CUDA_RETURN_IF_ERROR(cudaMemset(p, 0, bytes > 0 ? bytes : 1));
    EDGERT_RETURN_IF_ERROR(aux->SetTensorAddress(i, p));
    EDGERT_RETURN_IF_ERROR(one->SetTensorAddress(i, p));
  }
  EDGERT_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&b.stream, cudaStreamNonBlocking));
  EDGERT_CUDA_RETURN_IF_ERROR(cudaEventCreate(&b.start));
  EDGERT_CUDA_RETURN_IF_ERROR(cudaEventCreate(&b.stop));
  // Each inference alone between two events and waited for, as a caller's latency (and `edgert
  // bench`'s GPU compute time) sees it, alternating between the two contexts. Back-to-back runs
  // hide each graph launch's start-up behind the previous run and favoured the second stream where
  // a caller who waits for each result sees no gain (YOLOv8n-style at batch 1).
  constexpr int kSamples = 51;  // per context
  std::vector<double> times[2];
  CudaExecutionContext* contexts[2] = {aux.get(), one.get()};
  for (CudaExecutionContext* c : contexts) {
    for (int k = 0; k < 3; ++k) EDGERT_RETURN_IF_ERROR(c->Enqueue(b.stream));  // warm-up, capture, replay
  }
  for (int sample = 0; sample < kSamples; ++sample) {
    for (int which = 0; which < 2; ++which) {
      EDGERT_CUDA_RETURN_IF_ERROR(cudaEventRecord(b.start, b.stream));
      EDGERT_RETURN_IF_ERROR(contexts[which]->Enqueue(b.stream));
      EDGERT_CUDA_RETURN_IF_ERROR(cudaEventRecord(b.stop, b.stream));
      EDGERT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(b.stop));
      float ms = 0;
      EDGERT_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, b.start, b.stop));
      times[which].push_back(static_cast<double>(ms));
    }
  }
  for (std::vector<double>& t : times) std::sort(t.begin(), t.end());
  aux_timing_.timed = true;
  aux_timing_.layers = aux->aux_stream_layers();
  aux_timing_.aux_ms = times[0][kSamples / 2];
  aux_timing_.one_stream_ms = times[1][kSamples / 2];
  aux_timing_.kept = aux_timing_.aux_ms < 0.995 * aux_timing_.one_stream_ms;
  return Status::Ok();
}

Status CudaEngine::DryRun() {
  const KernelMode mode{options_.precision, options_.tactic_level, true, false, options_.max_workspace_bytes};
  // The handles of the dry run's threads (KernelThreads): an earlier dry run's, else created on
  // the threads; kept afterwards for the first context (spare_handles_; a handle's creation costs
  // a few ms, and the threads' creations wait on one another).
  if (spare_handles_ == nullptr) spare_handles_ = std::make_unique<CudaHandlePool>();
  std::vector<CudaResources>& pool = spare_handles_->resources;
  ResizeResources(&pool, static_cast<size_t>(KernelThreads(network_, options_.load_threads)));
  load_.kernel_threads = static_cast<int>(pool.size());
  auto validate = [&](const NetworkDef& net, size_t* workspace, std::vector<RecordedTactic>* recorded,
                      KernelTimes* times) -> Status {
    const std::vector<CudaTensor> views = DeviceViews(*this, net, nullptr);
    return PrepareCudaKernels(net, mode, views, memory_plan_.layer_elided, options_.device_id, &pool, nullptr,
                              workspace, recorded, times);
  };
  size_t workspace = 0;
  std::vector<RecordedTactic> recorded;
  KernelTimes times;
  Status s = validate(network_, &workspace, &recorded, &times);
  if (load_.layer_kernel_ms.empty()) {  // the first dry run (Create()'s kernels_ms)
    load_.handles_ms = times.handles_ms;
    load_.layer_kernel_ms = std::move(times.layer_ms);
  }
  // Layers with a chosen tactic also carry what recreates that candidate alone at a plan load
  // (kTacticLabelAttr / kTacticBlobAttr): the tactic pass's and the timing cache's choices alike.
  // A label naming the same candidate keeps its count: the tactic pass's kernel built the whole
  // list, a dry run's forced tactic only the list up to the index.
  for (size_t l = 0; s.ok() && l < recorded.size(); ++l) {
    const auto& [label, blob] = recorded[l];
    StatusOr<int64_t> tactic = network_.layers[l].attrs.GetIntOr(kTacticAttr, -1, network_.layers[l].name);
    if (label.empty() || !tactic.ok() || *tactic < 0) continue;
    StatusOr<std::string> had = network_.layers[l].attrs.GetStringOr(kTacticLabelAttr, "");
    RecordedTacticLabel old_label, new_label;
    const bool same = had.ok() && ParseTacticLabel(*had, &old_label) && ParseTacticLabel(label, &new_label) &&
                      old_label.label == new_label.label && old_label.candidates > *tactic;
    for (LayerDef* target : {&network_.layers[l], &device_network_.layers[l]}) {
      if (!same) target->attrs.Set(kTacticLabelAttr, label);
      if (blob.empty()) {
        target->attrs.Erase(kTacticBlobAttr);
      } else {
        target->attrs.Set(kTacticBlobAttr, blob);
      }
    }
  }
  // A profile's smallest batch gets the same check (library plans may refuse shapes the max
  // accepts), with the tactics the layers carry by now.
  const BatchProfile& profile = network_.profile;
  if (s.ok() && profile.enabled() && profile.min != profile.max) {
    StatusOr<NetworkDef> at_min = SpecializeBatch(network_, profile.min);
    size_t min_workspace = 0;
    if (!at_min.ok()) {
      s = at_min.status();
    } else {
      s = validate(*at_min, &min_workspace, nullptr, nullptr);
      if (!s.ok()) s = s.WithContext("at the profile's min batch " + std::to_string(profile.min));
    }
    workspace = std::max(workspace, min_workspace);
  }
  if (s.ok()) workspace_bytes_ = workspace;
  return s;
}

Status CudaEngine::ApplyTimingCache(TimingCacheState* st) {
  if (network_.profile.enabled() && network_.profile.opt != network_.profile.max) {
    EDGERT_ASSIGN_OR_RETURN(st->at_opt, SpecializeBatch(network_, network_.profile.opt));
    st->at_opt_device = DeviceNetwork(st->at_opt, options_.precision);
    st->engine_shapes = false;
  }
  const NetworkDef& tuned = st->engine_shapes ? network_ : st->at_opt;
  const NetworkDef& tuned_device = st->engine_shapes ? device_network_ : st->at_opt_device;
  if (!options_.timing_cache.empty()) st->entries = ReadTimingCache(options_.timing_cache);
  st->before = st->entries;
  EDGERT_ASSIGN_OR_RETURN(DeviceKey key, CudaDeviceKey(options_.device_id));
  const std::string device = key.ToString();
  st->signatures.assign(network_.layers.size(), std::string());
  for (size_t l = 0; l < network_.layers.size(); ++l) {
    if (memory_plan_.layer_elided[l] || !cuda::OpHasTactics(network_.layers[l].op)) continue;
    LayerDef& layer = network_.layers[l];
    EDGERT_ASSIGN_OR_RETURN(int64_t given, layer.attrs.GetIntOr(kTacticAttr, -1, layer.name));
    if (given >= 0) {  // from the plan
      tactics_[l].tactic = static_cast<int>(given);
      tactics_[l].from_cache = true;
      continue;
    }
    st->signatures[l] = LayerSignature(tuned, tuned_device, l, device, options_.precision, options_.tactic_level,
                                       options_.max_workspace_bytes);
    auto hit = st->entries.find(st->signatures[l]);
    if (hit == st->entries.end()) continue;
    // A blob comes only with a label (timing_cache.h); both only where recorded at these shapes.
    const CachedTactic& cached = hit->second;
    SetTacticAttrs(&layer, &device_network_.layers[l], cached.tactic, options_.tactic_level,
                   st->engine_shapes ? cached.label : std::string(), st->engine_shapes ? cached.blob : std::string());
    tactics_[l].tactic = cached.tactic;
    tactics_[l].from_cache = true;
  }
  return Status::Ok();
}

Status CudaEngine::SelectTactics(TimingCacheState* st, int* timed_layers) {
  *timed_layers = 0;
  std::vector<size_t> pending;  // layers with a signature and no tactic yet
  for (size_t l = 0; l < network_.layers.size(); ++l) {
    if (!st->signatures[l].empty() && !network_.layers[l].attrs.Has(kTacticAttr)) pending.push_back(l);
  }
  if (pending.empty()) return Status::Ok();
  // Candidates are timed on the tuned network; its layers have the engine's indices, and choices
  // are written onto network_ and device_network_ (the plan stores them and every batch uses them).
  const NetworkDef& net = st->engine_shapes ? network_ : st->at_opt;

  void* scratch = nullptr;
  const cudaError_t err = cudaMalloc(&scratch, arena_bytes_);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return OutOfRange("out of device memory allocating a scratch arena of " + std::to_string(arena_bytes_) +
                      " bytes for tactic timing (" + cudaGetErrorString(err) + ")");
  }
  CudaResources res;
  Status s = CreateResources(options_.device_id, &res);
  // The scratch arena has the max batch's size; the opt batch's tensors fit at the same offsets.
  // The tactic layers (Conv, ConvTranspose, Gemm, MatMul) read no integer batch values, so the
  // engine's constant copies serve.
  const std::vector<CudaTensor> views = DeviceViews(*this, net, static_cast<char*>(scratch));
  const std::vector<ValueInfo> infos = NetworkInfos(net);
  const KernelMode mode{options_.precision, options_.tactic_level, false, true, options_.max_workspace_bytes};
  for (size_t l : pending) {
    if (!s.ok()) break;
    LayerDef& layer = network_.layers[l];
    const std::string& signature = st->signatures[l];
    auto hit = st->entries.find(signature);  // an earlier layer of this network with the same signature
    if (hit != st->entries.end()) {
      SetTacticAttrs(&layer, &device_network_.layers[l], hit->second.tactic, options_.tactic_level, {}, {});
      tactics_[l].tactic = hit->second.tactic;
      tactics_[l].from_cache = true;
      continue;
    }
    if (options_.progress) options_.progress(l, net.layers.size(), layer.name);
    const auto layer_start = std::chrono::steady_clock::now();
    StatusOr<CudaKernelPtr> kernel = MakeLayerKernel(net, l, infos, views, mode, &res, false);
    const double layer_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - layer_start).count();
    if (!kernel.ok()) {
      s = kernel.status();
      break;
    }
    const int tactic = (*kernel)->Tactic();
    if (tactic < 0) continue;
    ++*timed_layers;
    const CudaKernel::TacticReport report = (*kernel)->Tactics();
    const std::string label = (*kernel)->TacticLabel();
    SetTacticAttrs(&layer, &device_network_.layers[l], tactic, options_.tactic_level, label, {});
    LayerTactic& t = tactics_[l];
    t = LayerTactic{};
    t.tactic = tactic;
    t.chosen_ms = report.chosen_ms;
    t.default_ms = report.default_ms;
    t.timed = report.timed;
    t.rejected = report.rejected;
    t.seconds = layer_seconds;
    t.list_seconds = report.list_seconds;
    t.candidates = report.candidates;
    st->entries[signature] = CachedTactic{tactic, {}, {}};
  }
  DestroyResources(&res);
  cudaFree(scratch);
  return s;
}

Status CudaEngine::StoreTimingCache(TimingCacheState* st) const {
  for (size_t l = 0; l < network_.layers.size(); ++l) {
    if (st->signatures[l].empty()) continue;
    const Attributes& attrs = network_.layers[l].attrs;
    EDGERT_ASSIGN_OR_RETURN(int64_t tactic, attrs.GetIntOr(kTacticAttr, -1, network_.layers[l].name));
    if (tactic < 0) continue;
    CachedTactic entry{static_cast<int>(tactic), {}, {}};
    if (st->engine_shapes) {
      EDGERT_ASSIGN_OR_RETURN(entry.label, attrs.GetStringOr(kTacticLabelAttr, ""));
      if (!entry.label.empty()) {
        EDGERT_ASSIGN_OR_RETURN(entry.blob, attrs.GetStringOr(kTacticBlobAttr, ""));
      }
    }
    st->entries[st->signatures[l]] = std::move(entry);
  }
  if (options_.timing_cache.empty() || st->entries == st->before) return Status::Ok();
  return WriteTimingCache(options_.timing_cache, st->entries);
}

Status CudaEngine::InitializeLibraries(int device_id) {
  CudaResources res;
  const Status s = CreateResources(device_id, &res);
  DestroyResources(&res);
  return s;
}

StatusOr<NetworkDef> CudaEngine::PlanNetwork(uint64_t* bytes_saved) const {
  std::vector<DataType> dtypes;
  dtypes.reserve(device_network_.tensors.size());
  for (const TensorDef& t : device_network_.tensors) dtypes.push_back(t.dtype);
  return NarrowWeightsForPlan(network_, dtypes, bytes_saved);
}

StatusOr<std::shared_ptr<CudaEngine>> CudaEngine::CreateFromPlan(const std::string& path,
                                                                 const CudaEngineOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  EDGERT_ASSIGN_OR_RETURN(DeviceKey here, CudaDeviceKey(options.device_id));
  EDGERT_RETURN_IF_ERROR(ValidatePlan(path, here, EDGERT_VERSION_STRING));
  EDGERT_ASSIGN_OR_RETURN(LoadedPlan plan, LoadedPlan::Open(path));
  const double open_ms = MsSince(start);
  auto shared_plan = std::make_shared<const LoadedPlan>(std::move(plan));
  CudaEngineOptions from_plan = options;
  from_plan.precision = shared_plan->metadata().precision;
  from_plan.select_tactics = false;  // the plan's layers carry the tactics chosen when it was built
  StatusOr<std::shared_ptr<CudaEngine>> engine = Create(shared_plan->network(), from_plan);
  if (!engine.ok()) return engine.status().WithContext(path);
  (*engine)->plan_ = std::move(shared_plan);
  (*engine)->load_.open_ms = open_ms;
  return engine;
}

int CudaEngine::FindIOTensor(const std::string& name) const { return FindIOTensorIndex(io_, name); }

StatusOr<std::unique_ptr<CudaExecutionContext>> CudaEngine::CreateContext(void* device_arena, size_t bytes) const {
  EDGERT_CUDA_RETURN_IF_ERROR(cudaSetDevice(options_.device_id));
  std::unique_ptr<CudaExecutionContext> context(new CudaExecutionContext(shared_from_this()));
  CudaContextState& st = *context->state_;
  if (device_arena != nullptr) {
    EDGERT_RETURN_IF_ERROR(CheckCallerArena(device_arena, bytes, arena_bytes_, arena_alignment_));
    context->arena_ = static_cast<char*>(device_arena);
  } else {
    const cudaError_t err = cudaMalloc(&st.owned_arena, arena_bytes_);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return OutOfRange("out of device memory allocating the activation arena of " + std::to_string(arena_bytes_) +
                        " bytes (" + cudaGetErrorString(err) + ")");
    }
    context->arena_ = static_cast<char*>(st.owned_arena);
  }
  st.owned_arena_bytes = st.owned_arena != nullptr ? arena_bytes_ : 0;
  // The first context takes the dry run's handles (the rest are created by its kernel threads).
  if (spare_handles_ != nullptr) {
    std::lock_guard<std::mutex> lock(spare_handles_->mutex);
    st.resources = std::move(spare_handles_->resources);
    spare_handles_->resources.clear();
  }
  ResizeResources(&st.resources, static_cast<size_t>(KernelThreads(network_, options_.load_threads)));
  st.bindings.assign(io_.size(), nullptr);
  st.graphs = options_.cuda_graphs;
  if (!schedule_.empty()) {
    EDGERT_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&st.aux, cudaStreamNonBlocking));
    st.fork_events.assign(schedule_.aux.size(), nullptr);
    st.join_events.assign(schedule_.aux.size(), nullptr);
    for (std::vector<cudaEvent_t>* events : {&st.fork_events, &st.join_events}) {
      for (cudaEvent_t& e : *events) EDGERT_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    }
  }
  const int64_t batch = DefaultBatch(network_);
  EDGERT_RETURN_IF_ERROR(context->SelectBatchKernels(batch));
  context->batch_ = batch;
  return context;
}

// ---- CudaExecutionContext ----------------------------------------------------------------------------

CudaExecutionContext::CudaExecutionContext(std::shared_ptr<const CudaEngine> engine)
    : engine_(std::move(engine)), state_(new CudaContextState()) {}

CudaExecutionContext::~CudaExecutionContext() {
  cudaSetDevice(engine_->device_id());
  state_.reset();
}

Status CudaExecutionContext::SelectBatchKernels(int64_t batch) {
  CudaContextState& st = *state_;
  const CudaEngine& engine = *engine_;
  st.current = nullptr;
  for (std::unique_ptr<CudaBatchKernels>& set : st.sets) {
    if (set->batch == batch) {
      set->last_used = ++st.use_clock;
      st.current = set.get();
      return Status::Ok();
    }
  }
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<CudaBatchKernels> set,
                          MakeBatchKernels(engine, batch, arena_, &st.resources));
  if (set->workspace_bytes > st.workspace_bytes) {
    // A larger workspace: the cached sets' kernels hold the old one, so they go with it (cudaFree
    // waits for the device, so queued work that still uses it finishes first).
    const size_t bytes = std::max(set->workspace_bytes, engine.WorkspaceBytes());
    void* workspace = nullptr;
    const cudaError_t err = cudaMalloc(&workspace, bytes);
    if (err != cudaSuccess) {
      cudaGetLastError();
      return OutOfRange("out of device memory allocating a workspace of " + std::to_string(bytes) + " bytes (" +
                        cudaGetErrorString(err) + ")");
    }
    st.sets.clear();
    void* old = st.workspace;
    st.workspace = workspace;
    st.workspace_bytes = bytes;
    if (old != nullptr) EDGERT_CUDA_RETURN_IF_ERROR(cudaFree(old));
  }
  if (st.workspace != nullptr) {
    const StreamSchedule& schedule = engine.stream_schedule();
    for (size_t l = 0; l < set->kernels.size(); ++l) {
      const bool aux = !schedule.empty() && schedule.on_aux[l] != 0;
      if (set->kernels[l] != nullptr) {
        set->kernels[l]->SetWorkspace(static_cast<char*>(st.workspace) + (aux ? set->aux_workspace_offset : 0));
      }
    }
  }
  if (st.sets.size() >= kMaxCachedBatches) {  // drop the least recently used set
    auto oldest = std::min_element(st.sets.begin(), st.sets.end(), [](const auto& a, const auto& b) {
      return a->last_used < b->last_used;
    });
    st.sets.erase(oldest);
  }
  set->last_used = ++st.use_clock;
  st.current = set.get();
  st.sets.push_back(std::move(set));
  return Status::Ok();
}

Status CudaExecutionContext::SetBatchSize(int64_t batch) {
  const CudaEngine& engine = *engine_;
  EDGERT_RETURN_IF_ERROR(CheckBatchSize(engine.profile(), DefaultBatch(engine.network()), batch));
  if (batch == batch_) return Status::Ok();
  EDGERT_CUDA_RETURN_IF_ERROR(cudaSetDevice(engine.device_id()));
  const Status s = SelectBatchKernels(batch);
  // On a failure there is no current kernel set: Enqueue refuses until a batch binds.
  batch_ = s.ok() ? batch : -1;
  return s;
}

Status CudaExecutionContext::SetInputShape(const std::string& name, const Shape& shape) {
  EDGERT_ASSIGN_OR_RETURN(int64_t batch, BatchOfInputShape(engine_->IOTensors(), engine_->profile(), name, shape));
  return batch < 0 ? Status::Ok() : SetBatchSize(batch);
}

Shape CudaExecutionContext::TensorShape(int io_index) const {
  if (io_index < 0 || io_index >= engine_->NumIOTensors()) return {};
  return IOShapeAtBatch(engine_->IOTensor(io_index), batch_);
}

Status CudaExecutionContext::SetTensorAddress(const std::string& name, void* data) {
  const int index = engine_->FindIOTensor(name);
  if (index < 0) return NotFound("'" + name + "' is not an input or output of the engine", name);
  return SetTensorAddress(index, data);
}

Status CudaExecutionContext::SetTensorAddress(int io_index, void* data) {
  EDGERT_RETURN_IF_ERROR(CheckTensorAddress(engine_->IOTensors(), io_index, data));
  state_->bindings[static_cast<size_t>(io_index)] = data;
  return Status::Ok();
}

std::string CudaExecutionContext::LayerKernel(size_t index) const {
  const CudaBatchKernels* set = state_->current;
  if (set == nullptr || index >= set->kernels.size()) return {};
  const CudaKernelPtr& k = set->kernels[index];
  if (k == nullptr) return "elided";
  const int input = engine_->FoldingInput(static_cast<int>(index));
  if (input >= 0) {
    const IOTensorInfo& io = engine_->IOTensor(input);
    return "folded into input '" + io.name + "''s copy (" +
           (io.channels_last ? "its binding is channels-last already" : "one converting transpose") + ")";
  }
  std::string text = k->Describe();
  const StreamSchedule& schedule = engine_->stream_schedule();
  if (!schedule.empty() && schedule.on_aux[index] != 0) {
    for (const AuxLayer& a : schedule.aux) {
      if (std::find(a.layers.begin(), a.layers.end(), static_cast<int32_t>(index)) == a.layers.end()) continue;
      text += std::string(text.empty() ? "" : "; ") + "auxiliary stream after layer " + std::to_string(a.fork_after) +
              ", joined before layer " + std::to_string(a.join_before);
    }
  }
  return text;
}

int CudaExecutionContext::aux_stream_layers() const {
  if (state_->current == nullptr) return 0;
  const std::vector<uint8_t>& on_aux = engine_->stream_schedule().on_aux;
  return static_cast<int>(std::count(on_aux.begin(), on_aux.end(), uint8_t{1}));
}

void CudaExecutionContext::SetCudaGraphs(bool on) { state_->graphs = on; }
bool CudaExecutionContext::cuda_graphs() const { return state_->graphs; }
int64_t CudaExecutionContext::graph_captures() const { return state_->captures; }
int64_t CudaExecutionContext::graph_launches() const { return state_->launches; }
const std::string& CudaExecutionContext::graph_error() const { return state_->graph_error; }
void CudaExecutionContext::SetPoisonArena(bool on) { state_->poison = on; }
size_t CudaExecutionContext::OwnedDeviceBytes() const {
  size_t bytes = state_->owned_arena_bytes + state_->workspace_bytes;
  for (const std::unique_ptr<CudaBatchKernels>& set : state_->sets) bytes += set->batch_constants_bytes;
  return bytes;
}

namespace {

// The work of one inference, queued on `stream` (captured into a graph or run eagerly).
// The size of dims 2.. of a network tensor [N, C, d...] (1 below rank 3).
int64_t SpatialSize(const Shape& shape) {
  return shape.size() > 2 ? NumElements(Shape(shape.begin() + 2, shape.end())) : 1;
}

// Input I/O tensor `i`'s copy from its binding into the arena, converted to the device dtype. With
// a folded Transpose (CudaEngine::FoldedInputLayer) it lands channels-last in that layer's output:
// transposed from a channels-first binding, copied as it is from a channels-last one. A
// channels-last binding without one is transposed back to the network's [N, C, d...].
Status EnqueueInputCopy(const CudaEngine& engine, const CudaContextState& st, const CudaBatchKernels& set, int i,
                        cudaStream_t stream) {
  const CudaTensor& dst = set.tensors[static_cast<size_t>(engine.IOTensorIndex(i))];
  if (dst.num_elements() == 0) return Status::Ok();
  const void* binding = st.bindings[static_cast<size_t>(i)];
  const IOTensorInfo& io = engine.IOTensor(i);
  const int folded = engine.FoldedInputLayer(i);
  const int64_t n = dst.shape.empty() ? 1 : dst.shape[0];  // rank >= 3 where it is used
  Status s;
  if (folded >= 0) {
    const int32_t out = engine.network().layers[static_cast<size_t>(folded)].outputs[0];  // same in a specialization
    const CudaTensor& y = set.tensors[static_cast<size_t>(out)];
    s = io.channels_last ? cuda::EnqueueConvert(stream, binding, io.dtype, y.data, y.dtype, y.num_elements())
                         : cuda::EnqueueConvertTranspose(stream, binding, io.dtype, y.data, y.dtype, n, dst.shape[1],
                                                         SpatialSize(dst.shape));
  } else {
    if (dst.data == nullptr) return Status::Ok();  // unused by the network
    s = io.channels_last ? cuda::EnqueueConvertTranspose(stream, binding, io.dtype, dst.data, dst.dtype, n,
                                                         SpatialSize(dst.shape), dst.shape[1])
                         : cuda::EnqueueConvert(stream, binding, io.dtype, dst.data, dst.dtype, dst.num_elements());
  }
  return s.WithContext("input '" + io.name + "'");
}

// The layers in order on `stream`; with `concurrent`, the set's auxiliary layers on st.aux: each
// right after its fork layer (an event on `stream` that st.aux waits for), and `stream` waits for
// its join event before its join layer. On an error the forked layers are joined first, so a
// capture can end.
Status EnqueueLayers(const CudaEngine& engine, const CudaContextState& st, const CudaBatchKernels& set,
                     cudaStream_t stream, bool concurrent) {
  const NetworkDef& net = engine.network();
  const StreamSchedule& schedule = engine.stream_schedule();
  const bool aux = concurrent && st.concurrent && st.aux != nullptr && !schedule.empty();
  size_t forked = 0;  // schedule.aux[0, forked) were forked (in fork order)
  auto fail = [&](const Status& s, size_t layer) {
    for (size_t k = 0; k < forked; ++k) cudaStreamWaitEvent(stream, st.join_events[k], 0);
    return s.WithContext("layer '" + net.layers[layer].name + "'");
  };
  for (size_t l = 0; l < set.kernels.size(); ++l) {
    if (aux) {
      for (int32_t k : schedule.joins_before[l]) {
        const cudaError_t e = cudaStreamWaitEvent(stream, st.join_events[static_cast<size_t>(k)], 0);
        if (e != cudaSuccess) return fail(cuda::CudaStatus(e, "cudaStreamWaitEvent (join)"), l);
      }
    }
    // Elided by the memory plan, done by an input's copy, or run on the auxiliary stream.
    if (set.kernels[l] != nullptr && engine.FoldingInput(static_cast<int>(l)) < 0 && !(aux && schedule.on_aux[l])) {
      Status s = set.kernels[l]->Enqueue(stream);
      if (!s.ok()) return fail(s, l);
    }
    if (!aux) continue;
    for (int32_t k : schedule.forks_after[l]) {
      const size_t a = static_cast<size_t>(k);
      forked = std::max(forked, a + 1);
      const AuxLayer& branch = schedule.aux[a];
      cudaError_t e = cudaEventRecord(st.fork_events[a], stream);
      if (e == cudaSuccess) e = cudaStreamWaitEvent(st.aux, st.fork_events[a], 0);
      if (e != cudaSuccess) {
        forked = a;  // not forked: nothing to join
        return fail(cuda::CudaStatus(e, "fork to the auxiliary stream"), static_cast<size_t>(branch.layer));
      }
      Status s;
      size_t layer = static_cast<size_t>(branch.layer);
      for (int32_t b : branch.layers) {
        layer = static_cast<size_t>(b);
        s = set.kernels[layer]->Enqueue(st.aux);
        if (!s.ok()) break;
      }
      e = cudaEventRecord(st.join_events[a], st.aux);
      if (!s.ok()) return fail(s, layer);
      if (e != cudaSuccess) return fail(cuda::CudaStatus(e, "join from the auxiliary stream"), layer);
    }
  }
  return Status::Ok();
}

Status EnqueueBody(const CudaEngine& engine, const CudaContextState& st, const CudaBatchKernels& set, void* arena,
                   cudaStream_t stream, bool concurrent = true) {
  if (st.poison) EDGERT_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(arena, 0xFF, engine.ArenaBytes(), stream));
  const int n_io = engine.NumIOTensors();
  for (int i = 0; i < n_io; ++i) {
    if (!engine.IOTensor(i).is_input) continue;
    EDGERT_RETURN_IF_ERROR(EnqueueInputCopy(engine, st, set, i, stream));
  }
  EDGERT_RETURN_IF_ERROR(EnqueueLayers(engine, st, set, stream, concurrent));
  for (int i = 0; i < n_io; ++i) {
    if (engine.IOTensor(i).is_input) continue;
    const CudaTensor& src = set.tensors[static_cast<size_t>(engine.IOTensorIndex(i))];
    if (src.num_elements() == 0) continue;
    const IOTensorInfo& io = engine.IOTensor(i);
    void* binding = st.bindings[static_cast<size_t>(i)];
    const Status s = io.channels_last
                         ? cuda::EnqueueConvertTranspose(stream, src.data, src.dtype, binding, io.dtype, src.shape[0],
                                                         src.shape[1], SpatialSize(src.shape))
                         : cuda::EnqueueConvert(stream, src.data, src.dtype, binding, io.dtype, src.num_elements());
    EDGERT_RETURN_IF_ERROR(s.WithContext("output '" + io.name + "'"));
  }
  return Status::Ok();
}

}  // namespace

Status CudaExecutionContext::Enqueue(CudaStream stream) {
  const CudaEngine& engine = *engine_;
  CudaContextState& st = *state_;
  if (batch_ < 0 || st.current == nullptr) {
    return InvalidArgument("the last SetBatchSize failed; set a batch that the engine accepts");
  }
  CudaBatchKernels& set = *st.current;
  EDGERT_RETURN_IF_ERROR(CheckAllBound(engine.IOTensors(), st.bindings));
  EDGERT_CUDA_RETURN_IF_ERROR(cudaSetDevice(engine.device_id()));
  // The legacy default stream cannot be captured: work queued there runs eagerly.
  if (!st.graphs || !set.warmed_up || stream == nullptr) {
    set.warmed_up = true;
    return EnqueueBody(engine, st, set, arena_, stream);
  }
  if (set.graph_exec == nullptr || set.captured_bindings != st.bindings || set.captured_poison != st.poison) {
    // Capture (thread-local mode: other threads' CUDA calls are not affected).
    const cudaError_t begin = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
    if (begin != cudaSuccess) {
      cudaGetLastError();  // not sticky: clear it so no later launch check reports it
      st.graphs = false;
      st.graph_error = std::string("cudaStreamBeginCapture: ") + cudaGetErrorString(begin);
      return EnqueueBody(engine, st, set, arena_, stream);
    }
    Status body = EnqueueBody(engine, st, set, arena_, stream);
    cudaGraph_t graph = nullptr;
    const cudaError_t end = cudaStreamEndCapture(stream, &graph);
    if (!body.ok() || end != cudaSuccess || graph == nullptr) {
      if (graph != nullptr) cudaGraphDestroy(graph);
      cudaGetLastError();
      st.graphs = false;
      st.graph_error = !body.ok() ? body.message() : std::string("cudaStreamEndCapture: ") + cudaGetErrorString(end);
      if (set.graph_exec != nullptr) {
        cudaGraphExecDestroy(set.graph_exec);
        set.graph_exec = nullptr;
      }
      // Run the inference eagerly instead; a real error shows up again here.
      return EnqueueBody(engine, st, set, arena_, stream);
    }
    bool updated = false;
    if (set.graph_exec != nullptr) {
      cudaGraphExecUpdateResultInfo info;
      updated = cudaGraphExecUpdate(set.graph_exec, graph, &info) == cudaSuccess;
      if (!updated) {
        cudaGetLastError();
        cudaGraphExecDestroy(set.graph_exec);
        set.graph_exec = nullptr;
      }
    }
    if (!updated) {
      const cudaError_t inst = cudaGraphInstantiate(&set.graph_exec, graph, 0);
      if (inst != cudaSuccess) {
        cudaGraphDestroy(graph);
        cudaGetLastError();
        set.graph_exec = nullptr;
        st.graphs = false;
        st.graph_error = std::string("cudaGraphInstantiate: ") + cudaGetErrorString(inst);
        return EnqueueBody(engine, st, set, arena_, stream);
      }
    }
    cudaGraphDestroy(graph);
    set.captured_bindings = st.bindings;
    set.captured_poison = st.poison;
    ++st.captures;
  }
  EDGERT_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(set.graph_exec, stream));
  ++st.launches;
  return Status::Ok();
}

StatusOr<std::vector<double>> CudaExecutionContext::ProfileLayers(CudaStream stream, int iterations) {
  const CudaEngine& engine = *engine_;
  CudaContextState& st = *state_;
  if (batch_ < 0 || st.current == nullptr) {
    return InvalidArgument("the last SetBatchSize failed; set a batch that the engine accepts");
  }
  if (iterations < 1) return InvalidArgument("ProfileLayers needs at least one iteration");
  EDGERT_RETURN_IF_ERROR(CheckAllBound(engine.IOTensors(), st.bindings));
  EDGERT_CUDA_RETURN_IF_ERROR(cudaSetDevice(engine.device_id()));
  CudaBatchKernels& set = *st.current;
  const NetworkDef& net = engine.network();
  const size_t n = set.kernels.size();
  std::vector<cudaEvent_t> events(n + 1, nullptr);
  struct EventsGuard {
    std::vector<cudaEvent_t>* events;
    ~EventsGuard() {
      for (cudaEvent_t e : *events) {
        if (e != nullptr) cudaEventDestroy(e);
      }
    }
  } guard{&events};
  for (cudaEvent_t& e : events) EDGERT_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
  EDGERT_RETURN_IF_ERROR(EnqueueBody(engine, st, set, arena_, stream, false));  // warm-up, one stream
  std::vector<double> ms(n, 0.0);
  for (int it = 0; it < iterations; ++it) {
    EDGERT_CUDA_RETURN_IF_ERROR(cudaEventRecord(events[0], stream));
    for (size_t l = 0; l < n; ++l) {
      const int input = engine.FoldingInput(static_cast<int>(l));
      if (set.kernels[l] != nullptr && input >= 0) {  // the input copy that does this layer's work
        EDGERT_RETURN_IF_ERROR(EnqueueInputCopy(engine, st, set, input, stream));
      } else if (set.kernels[l] != nullptr) {
        Status s = set.kernels[l]->Enqueue(stream);
        if (!s.ok()) return s.WithContext("layer '" + net.layers[l].name + "'");
      }
      EDGERT_CUDA_RETURN_IF_ERROR(cudaEventRecord(events[l + 1], stream));
    }
    EDGERT_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(events[n]));
    for (size_t l = 0; l < n; ++l) {
      float t = 0;
      EDGERT_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&t, events[l], events[l + 1]));
      ms[l] += t / static_cast<double>(iterations);
    }
  }
  return ms;
}

// ---- Host convenience --------------------------------------------------------------------------------

Status RunOnHost(CudaExecutionContext& context, const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) {
  const CudaEngine& engine = context.engine();
  EDGERT_CUDA_RETURN_IF_ERROR(cudaSetDevice(engine.device_id()));
  size_t n_inputs = 0;
  for (int i = 0; i < engine.NumIOTensors(); ++i) n_inputs += engine.IOTensor(i).is_input ? 1 : 0;
  if (inputs.size() != n_inputs) {
    return InvalidArgument("the engine has " + std::to_string(n_inputs) + " inputs; " + std::to_string(inputs.size()) +
                           " given");
  }
  EDGERT_RETURN_IF_ERROR(SetBatchFromInputs(context, engine.IOTensors(), engine.profile(), inputs));
  DeviceScratch buffers;
  EDGERT_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&buffers.stream, cudaStreamNonBlocking));
  const cudaStream_t stream = buffers.stream;
  outputs->clear();
  size_t next_input = 0;
  for (int i = 0; i < engine.NumIOTensors(); ++i) {
    const IOTensorInfo& io = engine.IOTensor(i);
    const Shape shape = context.TensorShape(i);
    const size_t bytes = static_cast<size_t>(NumElements(shape)) * DataTypeSize(io.dtype);
    void* ptr = nullptr;
    EDGERT_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr, bytes > 0 ? bytes : 1));
    buffers.ptrs.push_back(ptr);
    if (io.is_input) {
      const Tensor& in = inputs[next_input++];
      if (in.dtype() != io.dtype || in.shape() != shape) {
        return InvalidArgument("input '" + io.name + "' must be " + DataTypeName(io.dtype) + " " +
                                   ShapeToString(shape) + " at batch " + std::to_string(context.batch_size()) + "; got " +
                                   DataTypeName(in.dtype()) + " " +
                                   ShapeToString(in.shape()),
                               io.name);
      }
      // On `stream`: a pageable cudaMemcpy on the legacy stream may return before its DMA lands,
      // and the non-blocking stream would not wait for it.
      if (bytes > 0) {
        EDGERT_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(ptr, in.raw(), bytes, cudaMemcpyHostToDevice, stream));
      }
    }
    EDGERT_RETURN_IF_ERROR(context.SetTensorAddress(i, ptr));
  }
  EDGERT_RETURN_IF_ERROR(context.Enqueue(stream));
  EDGERT_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  for (int i = 0; i < engine.NumIOTensors(); ++i) {
    const IOTensorInfo& io = engine.IOTensor(i);
    if (io.is_input) continue;
    EDGERT_ASSIGN_OR_RETURN(Tensor out, Tensor::Create(io.dtype, context.TensorShape(i)));
    if (out.bytes() > 0) {
      EDGERT_CUDA_RETURN_IF_ERROR(
          cudaMemcpy(out.raw(), buffers.ptrs[static_cast<size_t>(i)], out.bytes(), cudaMemcpyDeviceToHost));
    }
    outputs->push_back(std::move(out));
  }
  return Status::Ok();
}

}  // namespace edgert
