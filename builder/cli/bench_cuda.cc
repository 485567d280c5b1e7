// `edgert bench` on the CUDA backend, with trtexec's metrics.
//  1. Engine: an ONNX model is built (--shapes, --fp16); a plan is validated for this GPU and loaded.
//  2. Per context (--contexts K): an execution context, its own stream, device buffers for every
//     I/O tensor (bound once, so a CUDA graph is captured once), two sets of random inputs in pinned
//     host memory (rotated between iterations, as trtexec does) and pinned host outputs.
//  3. K threads, one context each. An iteration: event e0, H2D of the next input set, e1,
//     Enqueue() (host time measured around it), e2, D2H of the outputs, e3, wait for e3. Warm-up
//     for --warmup seconds (the first Enqueue runs eagerly, the second captures the graph), then
//     timed iterations until both --iterations and --duration are reached.
//  4. Report: GPU compute (e1→e2), latency (e0→e3), H2D (e0→e1), D2H (e2→e3) and host enqueue
//     percentiles over every timed iteration of every thread; throughput = iterations / wall time
//     of the timed phase; device memory of the engine and of each context.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <thread>

#include "bench_common.h"
#include "cli_common.h"
#include "cli_util.h"
#include "edgert/builder.h"
#include "edgert/plan.h"
#include "edgert/tactic_label.h"
#ifdef EDGERT_HAVE_CUDA
#include <cuda_runtime.h>

#include "edgert/cuda_engine.h"
#endif

namespace edgert {

#ifndef EDGERT_HAVE_CUDA

int RunCudaBench(const BenchOptions& o, const std::map<std::string, Shape>& shapes) {
  return Fail(Unsupported("edgert bench --device cuda: this edgert was built without the CUDA backend"));
}

#else

namespace {

Status Cuda(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal(std::string(what) + ": " + cudaGetErrorString(err));
}

struct Timings {
  std::vector<double> compute, latency, h2d, d2h, enqueue;  // ms
};

// One thread's context, stream, buffers and timings.
struct CudaWorker {
  std::unique_ptr<CudaExecutionContext> context;
  cudaStream_t stream = nullptr;
  cudaEvent_t events[4] = {};
  std::vector<void*> device;                // per I/O tensor
  std::vector<size_t> bytes;                // per I/O tensor
  std::vector<void*> host_in[2];            // pinned, per input, two rotated sets
  std::vector<void*> host_out;              // pinned, per output
  Timings t;
  std::chrono::steady_clock::time_point timed_start, timed_end;
  Status status;

  ~CudaWorker() {
    for (cudaEvent_t e : events) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    for (void* p : device) cudaFree(p);
    for (auto& set : host_in) {
      for (void* p : set) cudaFreeHost(p);
    }
    for (void* p : host_out) cudaFreeHost(p);
    if (stream != nullptr) cudaStreamDestroy(stream);
  }
};

// A context (its creation, shapes included, timed into *context_ms), a stream, events, and device
// and pinned host I/O buffers with random inputs.
Status SetUpWorker(const CudaEngine& engine, std::mt19937_64& rng, CudaWorker* w, bool is_plan,
                   const std::map<std::string, Shape>& shapes, const std::string& model, double* context_ms) {
  const auto context_start = std::chrono::steady_clock::now();
  EDGERT_ASSIGN_OR_RETURN(w->context, engine.CreateContext());
  if (is_plan) EDGERT_RETURN_IF_ERROR(ApplyPlanShapes(engine, *w->context, shapes, model));
  *context_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - context_start).count();
  EDGERT_RETURN_IF_ERROR(Cuda(cudaStreamCreateWithFlags(&w->stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  for (cudaEvent_t& e : w->events) EDGERT_RETURN_IF_ERROR(Cuda(cudaEventCreate(&e), "cudaEventCreate"));
  for (int i = 0; i < engine.NumIOTensors(); ++i) {
    const IOTensorInfo& io = engine.IOTensor(i);
    const Shape shape = w->context->TensorShape(i);
    const size_t bytes = static_cast<size_t>(NumElements(shape)) * DataTypeSize(io.dtype);
    void* d = nullptr;
    EDGERT_RETURN_IF_ERROR(Cuda(cudaMalloc(&d, bytes > 0 ? bytes : 1), "cudaMalloc"));
    w->device.push_back(d);
    w->bytes.push_back(bytes);
    EDGERT_RETURN_IF_ERROR(w->context->SetTensorAddress(i, d));
    if (!io.is_input) {
      void* h = nullptr;
      EDGERT_RETURN_IF_ERROR(Cuda(cudaMallocHost(&h, bytes > 0 ? bytes : 1), "cudaMallocHost"));
      w->host_out.push_back(h);
      continue;
    }
    for (auto& set : w->host_in) {
      EDGERT_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(io.dtype, shape));
      FillRandom(&t, rng);
      void* h = nullptr;
      EDGERT_RETURN_IF_ERROR(Cuda(cudaMallocHost(&h, bytes > 0 ? bytes : 1), "cudaMallocHost"));
      std::memcpy(h, t.raw(), bytes);
      set.push_back(h);
    }
  }
  return Status::Ok();
}

// One iteration on input set `set`; appends its timings when `record`.
Status Iterate(const CudaEngine& engine, CudaWorker* w, int set, bool record) {
  using Clock = std::chrono::steady_clock;
  cudaStream_t s = w->stream;
  EDGERT_RETURN_IF_ERROR(Cuda(cudaEventRecord(w->events[0], s), "cudaEventRecord"));
  size_t in = 0, out = 0;
  for (int i = 0; i < engine.NumIOTensors(); ++i) {
    if (!engine.IOTensor(i).is_input || w->bytes[static_cast<size_t>(i)] == 0) continue;
    EDGERT_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(w->device[static_cast<size_t>(i)], w->host_in[set][in++],
                                                w->bytes[static_cast<size_t>(i)], cudaMemcpyHostToDevice, s),
                                "H2D cudaMemcpyAsync"));
  }
  EDGERT_RETURN_IF_ERROR(Cuda(cudaEventRecord(w->events[1], s), "cudaEventRecord"));
  const Clock::time_point t0 = Clock::now();
  EDGERT_RETURN_IF_ERROR(w->context->Enqueue(s));
  const Clock::time_point t1 = Clock::now();
  EDGERT_RETURN_IF_ERROR(Cuda(cudaEventRecord(w->events[2], s), "cudaEventRecord"));
  for (int i = 0; i < engine.NumIOTensors(); ++i) {
    if (engine.IOTensor(i).is_input) continue;
    if (w->bytes[static_cast<size_t>(i)] > 0) {
      EDGERT_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(w->host_out[out], w->device[static_cast<size_t>(i)],
                                                  w->bytes[static_cast<size_t>(i)], cudaMemcpyDeviceToHost, s),
                                  "D2H cudaMemcpyAsync"));
    }
    ++out;
  }
  EDGERT_RETURN_IF_ERROR(Cuda(cudaEventRecord(w->events[3], s), "cudaEventRecord"));
  EDGERT_RETURN_IF_ERROR(Cuda(cudaEventSynchronize(w->events[3]), "cudaEventSynchronize"));
  if (!record) return Status::Ok();
  float ms[3];
  EDGERT_RETURN_IF_ERROR(Cuda(cudaEventElapsedTime(&ms[0], w->events[0], w->events[1]), "cudaEventElapsedTime"));
  EDGERT_RETURN_IF_ERROR(Cuda(cudaEventElapsedTime(&ms[1], w->events[1], w->events[2]), "cudaEventElapsedTime"));
  EDGERT_RETURN_IF_ERROR(Cuda(cudaEventElapsedTime(&ms[2], w->events[2], w->events[3]), "cudaEventElapsedTime"));
  w->t.h2d.push_back(ms[0]);
  w->t.compute.push_back(ms[1]);
  w->t.d2h.push_back(ms[2]);
  w->t.latency.push_back(static_cast<double>(ms[0]) + ms[1] + ms[2]);
  w->t.enqueue.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  return Status::Ok();
}

void RunCudaWorker(const CudaEngine& engine, CudaWorker* w, const BenchOptions& o, int n_workers,
                   std::atomic<int>* ready) {
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  cudaSetDevice(engine.device_id());
  int set = 0;
  const Clock::time_point warmup_start = Clock::now();
  int warm = 0;
  do {  // at least 3: eager run, graph capture, first replay
    w->status = Iterate(engine, w, set, false);
    set ^= 1;
  } while (w->status.ok() && (++warm < 3 || seconds(Clock::now() - warmup_start) < o.warmup_s));
  ready->fetch_add(1);
  while (ready->load() < n_workers) std::this_thread::yield();
  if (!w->status.ok()) return;
  w->timed_start = Clock::now();
  int64_t n = 0;
  Clock::time_point now = w->timed_start;
  while (n < o.iterations || seconds(now - w->timed_start) < o.duration_s) {
    w->status = Iterate(engine, w, set, true);
    if (!w->status.ok()) return;
    now = Clock::now();
    set ^= 1;
    ++n;
  }
  w->timed_end = now;
}

std::string Stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  char text[256];
  std::snprintf(text, sizeof(text),
                "min = %.5f ms, mean = %.5f ms, median = %.5f ms, percentile(90%%) = %.5f ms, "
                "percentile(99%%) = %.5f ms, max = %.5f ms",
                v.front(), sum / static_cast<double>(v.size()), Percentile(v, 50), Percentile(v, 90),
                Percentile(v, 99), v.back());
  return text;
}

}  // namespace

// --profile: each layer's mean GPU time over 20 eager runs, the 30 slowest layers and the time per
// operator (trtexec's --dumpProfile, sorted).
Status PrintLayerProfile(const CudaEngine& engine, CudaWorker& w) {
  constexpr int kIterations = 20;
  EDGERT_ASSIGN_OR_RETURN(std::vector<double> ms, w.context->ProfileLayers(w.stream, kIterations));
  const NetworkDef& net = engine.network();
  double total = 0;
  for (double t : ms) total += t;
  std::vector<size_t> order(ms.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ms[a] > ms[b]; });
  std::printf("=== Layer profile (mean of %d eager runs, no CUDA graph; total %.4f ms) ===\n", kIterations, total);
  std::printf("%9s %6s  %-16s %-40s %s\n", "ms", "%", "op", "layer", "kernel");
  for (size_t k = 0; k < order.size() && k < 30; ++k) {
    const size_t l = order[k];
    if (ms[l] <= 0) break;
    std::printf("%9.4f %5.1f%%  %-16s %-40.40s %s\n", ms[l], total > 0 ? 100.0 * ms[l] / total : 0.0,
                std::string(OpTypeName(net.layers[l].op)).c_str(), net.layers[l].name.c_str(),
                w.context->LayerKernel(l).c_str());
  }
  std::map<std::string, std::pair<double, int>> per_op;
  for (size_t l = 0; l < ms.size(); ++l) {
    auto& e = per_op[std::string(OpTypeName(net.layers[l].op))];
    e.first += ms[l];
    e.second += 1;
  }
  std::vector<std::pair<std::string, std::pair<double, int>>> ops(per_op.begin(), per_op.end());
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  std::printf("--- time per operator ---\n");
  for (const auto& [op, v] : ops) {
    std::printf("%9.4f %5.1f%%  %-16s %d layers\n", v.first, total > 0 ? 100.0 * v.first / total : 0.0, op.c_str(),
                v.second);
  }
  return Status::Ok();
}

int RunCudaBench(const BenchOptions& o, const std::map<std::string, Shape>& shapes) {
  // Step 1.
  const bool is_plan = LooksLikePlan(o.model);
  CudaEngineOptions options = CudaOptionsFor(o.device);
  // The process's one-time start-up (CUDA context, cuDNN and cuBLASLt), reported apart.
  const auto init_start = std::chrono::steady_clock::now();
  if (Status s = CudaEngine::InitializeLibraries(options.device_id); !s.ok()) return Fail(s);
  const double init_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - init_start).count();
  const auto build_start = std::chrono::steady_clock::now();
  options.cuda_graphs = o.graphs;
  auto create = [&]() -> StatusOr<std::shared_ptr<CudaEngine>> {
    if (is_plan) return CudaEngine::CreateFromPlan(o.model, options);
    BuildOptions build_options;
    build_options.shapes = shapes;
    build_options.precision = options.precision;
    build_options.input_formats = o.io_formats.inputs;
    build_options.output_formats = o.io_formats.outputs;
    EDGERT_ASSIGN_OR_RETURN(NetworkDef net, BuildNetwork(o.model, build_options));
    StatusOr<std::shared_ptr<CudaEngine>> built = CudaEngine::Create(std::move(net), options);
    if (!built.ok()) return built.status().WithContext(o.model);
    return built;
  };
  StatusOr<std::shared_ptr<CudaEngine>> engine_or = create();
  if (!engine_or.ok()) return Fail(engine_or.status());
  const double build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - build_start).count();
  const CudaEngine& engine = **engine_or;
  if (is_plan && o.device.fp16 && engine.precision() != Precision::kFp16) {
    return Fail(InvalidArgument(o.model + " is an fp32 plan; --fp16 cannot change that (rebuild it with --fp16)"));
  }
  // Step 2.
  std::mt19937_64 rng(o.seed);
  std::vector<std::unique_ptr<CudaWorker>> workers;
  double first_context_ms = 0;
  for (int k = 0; k < o.contexts; ++k) {
    workers.push_back(std::make_unique<CudaWorker>());
    double context_ms = 0;
    Status s = SetUpWorker(engine, rng, workers.back().get(), is_plan, shapes, o.model, &context_ms);
    if (!s.ok()) return Fail(s.WithContext(o.model));
    if (k == 0) first_context_ms = context_ms;
  }

  // Step 3.
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back(RunCudaWorker, std::cref(engine), w.get(), std::cref(o), o.contexts, &ready);
  }
  for (std::thread& t : threads) t.join();
  for (const auto& w : workers) {
    if (!w->status.ok()) return Fail(w->status.WithContext(o.model));
  }

  // Step 4.
  Timings all;
  auto first_start = workers[0]->timed_start, last_end = workers[0]->timed_end;
  for (const auto& w : workers) {
    for (auto [dst, src] : {std::pair{&all.compute, &w->t.compute}, std::pair{&all.latency, &w->t.latency},
                            std::pair{&all.h2d, &w->t.h2d}, std::pair{&all.d2h, &w->t.d2h},
                            std::pair{&all.enqueue, &w->t.enqueue}}) {
      dst->insert(dst->end(), src->begin(), src->end());
    }
    first_start = std::min(first_start, w->timed_start);
    last_end = std::max(last_end, w->timed_end);
  }
  const double wall_s = std::chrono::duration<double>(last_end - first_start).count();
  const double throughput = wall_s > 0 ? static_cast<double>(all.compute.size()) / wall_s : 0.0;
  StatusOr<DeviceKey> key = CudaDeviceKey(engine.device_id());
  const double mib = 1024.0 * 1024.0;
  std::printf("engine: %s (%s), %zu layers, ready in %.1f ms (first context %.1f ms; CUDA/cuDNN/cuBLASLt start-up "
              "before it %.1f ms)\n",
              o.model.c_str(), is_plan ? "plan" : "built from ONNX", engine.network().layers.size(), build_ms,
              first_context_ms, init_ms);
  const CudaEngine::LoadBreakdown& load = engine.load_breakdown();
  std::string warm_up;
  if (load.cublaslt_warm_up_ms > 0) {
    char text[96];
    std::snprintf(text, sizeof(text), "; cuBLASLt warm-up %.1f ms beside them", load.cublaslt_warm_up_ms);
    warm_up = text;
    if (!load.cublaslt_warm_up_error.empty()) warm_up += " (failed: " + load.cublaslt_warm_up_error + ")";
  }
  std::printf(
      "engine load: plan file %.1f ms, memory plan %.1f ms, layer kernels %.1f ms (%d host thread%s; "
      "weights' upload %.1f ms beside them%s)\n",
      load.open_ms, load.memory_plan_ms, load.kernels_ms, load.kernel_threads, load.kernel_threads == 1 ? "" : "s",
      load.weights_ms, warm_up.c_str());
  // The dry run's slowest layer kernels (cuDNN's first plan finalizations dominate a plan's load).
  if (!load.layer_kernel_ms.empty()) {
    std::vector<size_t> order(load.layer_kernel_ms.size());
    for (size_t l = 0; l < order.size(); ++l) order[l] = l;
    const size_t shown = std::min<size_t>(5, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown), order.end(),
                      [&](size_t a, size_t b) { return load.layer_kernel_ms[a] > load.layer_kernel_ms[b]; });
    double sum = 0;
    for (double ms : load.layer_kernel_ms) sum += ms;
    std::printf("layer kernels: %.1f ms summed over the threads, handles %.1f ms; slowest:", sum, load.handles_ms);
    for (size_t i = 0; i < shown; ++i) {
      const LayerDef& layer = engine.network().layers[order[i]];
      StatusOr<std::string> label = layer.attrs.GetStringOr(kTacticLabelAttr, "");
      RecordedTacticLabel parsed;
      const std::string what =
          label.ok() && ParseTacticLabel(*label, &parsed) ? parsed.label : std::string(OpTypeName(layer.op));
      StatusOr<std::string> blob = layer.attrs.GetStringOr(kTacticBlobAttr, "");
      const char* from = !blob.ok() || blob->empty()       ? ""
                         : TacticBlobIsEngineConfig(*blob) ? ", engine config"
                                                           : ", serialized plan";
      std::printf("%s %s (%s%s) %.1f ms", i == 0 ? "" : ",", layer.name.c_str(), what.c_str(), from,
                  load.layer_kernel_ms[order[i]]);
    }
    std::printf("\n");
  }
  std::printf("backend: cuda %s on %s, CUDA graphs %s\n", PrecisionName(engine.precision()),
              key.ok() ? key->ToString().c_str() : "?",
              !o.graphs ? "off" : (workers[0]->context->graph_error().empty()
                                       ? "on"
                                       : ("off (" + workers[0]->context->graph_error() + ")").c_str()));
  if (const int aux = workers[0]->context->aux_stream_layers(); aux > 0) {
    std::printf("concurrent branches: %d layer%s on an auxiliary stream per context (--aux-streams 0: one stream)\n",
                aux, aux == 1 ? "" : "s");
  }
  if (const BatchProfile& p = engine.profile(); p.enabled()) {
    std::printf("batch: %lld of the plan's profile [%lld, %lld] (one inference = the whole batch)\n",
                static_cast<long long>(workers[0]->context->batch_size()), static_cast<long long>(p.min),
                static_cast<long long>(p.max));
  }
  std::printf("contexts: %d (one thread and stream each), warm-up %.3g s, %zu timed iterations in %.3f s\n",
              o.contexts, o.warmup_s, all.compute.size(), wall_s);
  std::printf("device memory: weights %.2f MiB (shared), per context arena %.2f MiB + workspace %.2f MiB; "
              "total %.2f MiB\n",
              engine.WeightsBytes() / mib, engine.ArenaBytes() / mib, engine.WorkspaceBytes() / mib,
              (engine.WeightsBytes() + o.contexts * (engine.ArenaBytes() + engine.WorkspaceBytes())) / mib);
  std::printf("=== Performance summary ===\n");
  std::printf("Throughput: %.3f inferences/s\n", throughput);
  std::printf("Latency: %s\n", Stats(all.latency).c_str());
  std::printf("Enqueue Time: %s\n", Stats(all.enqueue).c_str());
  std::printf("H2D Latency: %s\n", Stats(all.h2d).c_str());
  std::printf("GPU Compute Time: %s\n", Stats(all.compute).c_str());
  std::printf("D2H Latency: %s\n", Stats(all.d2h).c_str());
  if (o.profile) {
    Status s = PrintLayerProfile(engine, *workers[0]);
    if (!s.ok()) return Fail(s.WithContext(o.model));
  }
  return kExitOk;
}

#endif  // EDGERT_HAVE_CUDA

}  // namespace edgert
