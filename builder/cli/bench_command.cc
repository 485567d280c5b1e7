// `edgert bench`: latency and throughput of an engine on the reference CPU backend, with trtexec's
// metrics.
//  1. Build the Engine: an ONNX model is built with --shapes; a plan is validated and loaded (its
//     shapes are fixed and --shapes must match them, or it has a batch profile and --shapes picks
//     the batch, default its opt batch).
//  2. Make K contexts (--contexts), each with two sets of random input buffers (rotated between
//     iterations, as trtexec does) and its own output buffers, all bound by I/O index.
//  3. K threads, one context each: warm-up for --warmup seconds, then timed Enqueue() calls (each
//     timed with std::chrono::steady_clock) until both --iterations and --duration are reached.
//  4. Report: latency min/mean/median/p90/p99/max over every timed call of every thread (nearest-
//     rank percentiles), aggregate throughput (timed calls / wall time of the timed phase), host
//     enqueue time, H2D/D2H, arena and weight bytes.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "cli_common.h"
#include "cli_device.h"
#include "cli_util.h"
#include "edgert/builder.h"
#include "edgert/engine.h"
#include "edgert/plan.h"

namespace edgert {

const char kBenchHelp[] =
    "usage: edgert bench MODEL.onnx|PLAN [--shapes NAME:DIMS[,...]] [--iterations N] [--duration S]\n"
    "                    [--warmup S] [--contexts K] [--seed N] [--device cpu|cuda|auto] [--fp16]\n"
    "                    [--no-graphs] [--profile] [--input-format F[,F...]] [--output-format F[,F...]]\n"
    "\n"
    "Builds the model (or loads the plan) into an engine, feeds random inputs and times it after a\n"
    "warm-up. Prints, like trtexec: latency min/mean/median/p90/p99/max in ms, throughput in\n"
    "inferences/s, host enqueue time, H2D/D2H and the memory used.\n"
    "CPU backend: Enqueue() runs synchronously and is timed with a steady clock.\n"
    "CUDA backend: each iteration copies the inputs from pinned host memory (two rotated sets), runs\n"
    "the network (replaying its CUDA graph unless --no-graphs) and copies the outputs back, on the\n"
    "context's own stream, timed with CUDA events: 'GPU Compute' is the network alone, 'Latency' the\n"
    "three together; device memory = weights + one arena and one workspace per context.\n"
    "\n"
    "  --shapes NAME:DIMS,...  build-time shapes of inputs with dynamic dimensions (plans: must match;\n"
    "                          a plan with a batch profile runs the batch given, default its opt)\n"
    "  --iterations N          at least N timed runs per context (default 10)\n"
    "  --duration S            at least S seconds of timed runs (default 3; 0 when only --iterations\n"
    "                          is given, so exactly N runs)\n"
    "  --warmup S              seconds of untimed runs first (default 0.2)\n"
    "  --contexts K            K threads, each with its own execution context on the one engine;\n"
    "                          throughput is the aggregate (default 1)\n"
    "  --seed N                seed of the random inputs (default 1)\n"
    EDGERT_DEVICE_OPTIONS_HELP
    EDGERT_IO_FORMAT_HELP
    "                          (ONNX models; a plan keeps the formats it was built with)\n"
    "  --no-graphs             CUDA: enqueue the layers every time instead of replaying a CUDA graph\n"
    "  --profile               CUDA: then time every layer (mean of 20 eager runs, CUDA events) and\n"
    "                          print the 30 slowest layers with their kernels and the time per operator\n"
    "\n"
    "Exit 0 on success, 1 on model errors, 2 on usage errors.\n";

namespace {

// Parses a non-negative decimal number of seconds; false when `text` is not one.
bool ParseSeconds(const std::string& text, double* value) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v >= 0) || !std::isfinite(v) || v > 86400.0) return false;
  *value = v;
  return true;
}

// Parses an integer in [lo, hi]; false when `text` is not one.
bool ParseInt(const std::string& text, int64_t lo, int64_t hi, int64_t* value) {
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  const int64_t v = std::strtoll(text.c_str(), nullptr, 10);
  if (v < lo || v > hi) return false;
  *value = v;
  return true;
}

// Returns "" on success, else the usage error.
std::string ParseBenchArgs(const std::vector<std::string>& args, BenchOptions* o) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--shapes") {
      if (!has_value) return "--shapes needs a value (NAME:1x3x224x224[,...])";
      if (o->has_shapes) return "--shapes given twice; list every input in one --shapes";
      o->shapes_text = args[++i];
      o->has_shapes = true;
    } else if (a == "--iterations") {
      if (!has_value) return "--iterations needs a value";
      if (!ParseInt(args[++i], 1, int64_t{1} << 40, &o->iterations))
        return "--iterations '" + args[i] + "' is not a positive integer";
      o->has_iterations = true;
    } else if (a == "--duration") {
      if (!has_value) return "--duration needs a value in seconds";
      if (!ParseSeconds(args[++i], &o->duration_s)) return "--duration '" + args[i] + "' is not a number of seconds";
      o->has_duration = true;
    } else if (a == "--warmup") {
      if (!has_value) return "--warmup needs a value in seconds";
      if (!ParseSeconds(args[++i], &o->warmup_s)) return "--warmup '" + args[i] + "' is not a number of seconds";
    } else if (a == "--contexts") {
      if (!has_value) return "--contexts needs a value";
      int64_t k = 0;
      if (!ParseInt(args[++i], 1, 256, &k)) return "--contexts '" + args[i] + "' is not an integer from 1 to 256";
      o->contexts = static_cast<int>(k);
    } else if (a == "--seed") {
      if (!has_value) return "--seed needs a value";
      int64_t seed = 0;
      if (!ParseInt(args[++i], 0, INT64_MAX, &seed)) return "--seed '" + args[i] + "' is not a non-negative integer";
      o->seed = static_cast<uint64_t>(seed);
    } else if (a == "--no-graphs") {
      o->graphs = false;
    } else if (a == "--profile") {
      o->profile = true;
    } else if (std::string device_error; ParseDeviceArg(args, &i, &o->device, &device_error)) {
      if (!device_error.empty()) return device_error;
    } else if (std::string format_error; ParseIoFormatArg(args, &i, &o->io_formats, &format_error)) {
      if (!format_error.empty()) return format_error;
    } else if (a.rfind("--", 0) == 0 || (a.size() > 1 && a[0] == '-')) {
      return "unknown option '" + a + "'";
    } else if (o->model.empty()) {
      o->model = a;
    } else {
      return "unexpected argument '" + a + "' (the model is '" + o->model + "')";
    }
  }
  if (o->model.empty()) return "no model given";
  if (o->has_iterations && !o->has_duration) o->duration_s = 0;
  return "";
}

// One thread's share of the benchmark: a context, its buffers and its timings.
struct Worker {
  std::unique_ptr<ExecutionContext> context;
  std::vector<std::vector<Tensor>> input_sets;  // two sets, rotated; one tensor per engine input
  std::vector<Tensor> outputs;
  std::vector<double> latencies_ms;
  std::chrono::steady_clock::time_point timed_start, timed_end;
  Status status;
};

// Binds input set `set` of `w` (inputs are I/O indices 0..n_inputs-1).
Status BindInputs(Worker* w, size_t set) {
  std::vector<Tensor>& inputs = w->input_sets[set];
  for (size_t i = 0; i < inputs.size(); ++i) {
    EDGERT_RETURN_IF_ERROR(w->context->SetTensorAddress(static_cast<int>(i), inputs[i].raw()));
  }
  return Status::Ok();
}

// Step 3 for one thread. `ready` counts threads done with warm-up; timing starts when all are.
void RunWorker(Worker* w, const BenchOptions& o, int n_workers, std::atomic<int>* ready) {
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  size_t set = 0;
  const Clock::time_point warmup_start = Clock::now();
  do {
    w->status = BindInputs(w, set);
    if (w->status.ok()) w->status = w->context->Enqueue();
    set ^= 1;
  } while (w->status.ok() && seconds(Clock::now() - warmup_start) < o.warmup_s);
  ready->fetch_add(1);
  while (ready->load() < n_workers) std::this_thread::yield();
  if (!w->status.ok()) return;

  w->latencies_ms.reserve(static_cast<size_t>(std::min<int64_t>(o.iterations, 1 << 20)));
  w->timed_start = Clock::now();
  int64_t n = 0;
  Clock::time_point now = w->timed_start;
  while (n < o.iterations || seconds(now - w->timed_start) < o.duration_s) {
    w->status = BindInputs(w, set);
    if (!w->status.ok()) return;
    const Clock::time_point t0 = Clock::now();
    w->status = w->context->Enqueue();
    now = Clock::now();
    if (!w->status.ok()) return;
    w->latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - t0).count());
    set ^= 1;
    ++n;
  }
  w->timed_end = now;
}

}  // namespace

double Percentile(const std::vector<double>& v, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::max<size_t>(rank, 1);
  return v[std::min(rank, v.size()) - 1];
}

int RunBenchCommand(const std::vector<std::string>& args) {
  BenchOptions o;
  std::string err = ParseBenchArgs(args, &o);
  if (!err.empty()) return Usage(err, "bench");
  std::map<std::string, Shape> shapes;
  if (o.has_shapes) {
    Status s = ParseShapesOption(o.shapes_text, &shapes);
    if (!s.ok()) return Usage(s.message(), "bench");
  }

  // The backend: a plan's own, else --device (auto: the GPU when there is one).
  std::string backend;
  if (LooksLikePlan(o.model)) {
    if (o.io_formats.given()) {
      return Fail(InvalidArgument(o.model + " is a plan: its input and output formats were chosen when it was built; "
                                            "--input-format / --output-format apply to ONNX models (rebuild it with "
                                            "`edgert build --input-format`)",
                                  "--input-format"));
    }
    StatusOr<PlanMetadata> meta = ReadPlanMetadata(o.model);
    if (!meta.ok()) return Fail(meta.status());
    backend = meta->device.backend == "cuda" ? "cuda" : "cpu";
  } else {
    StatusOr<std::string> resolved = ResolveBackend(&o.device);
    if (!resolved.ok()) return Fail(resolved.status());
    backend = *resolved;
  }
  if (backend == "cuda") return RunCudaBench(o, shapes);
  if (o.profile) return Usage("--profile times CUDA layers; the CPU backend has no per-layer profile", "bench");
  if (o.device.fp16) return Fail(InvalidArgument("--fp16 needs the CUDA backend"));

  // Step 1.
  const bool is_plan = LooksLikePlan(o.model);
  const auto build_start = std::chrono::steady_clock::now();
  auto create = [&]() -> StatusOr<std::shared_ptr<Engine>> {
    if (is_plan) return Engine::CreateFromPlan(o.model);
    BuildOptions build_options;
    build_options.shapes = shapes;
    build_options.input_formats = o.io_formats.inputs;
    build_options.output_formats = o.io_formats.outputs;
    EDGERT_ASSIGN_OR_RETURN(NetworkDef net, BuildNetwork(o.model, build_options));
    StatusOr<std::shared_ptr<Engine>> built = Engine::Create(std::move(net));
    if (!built.ok()) return built.status().WithContext(o.model);
    return built;
  };
  StatusOr<std::shared_ptr<Engine>> engine_or = create();
  if (!engine_or.ok()) return Fail(engine_or.status());
  const double build_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - build_start).count();
  std::shared_ptr<Engine> engine = *engine_or;
  int n_inputs = 0;
  for (int i = 0; i < engine->NumIOTensors(); ++i) n_inputs += engine->IOTensor(i).is_input ? 1 : 0;
  // Step 2.
  std::mt19937_64 rng(o.seed);
  std::vector<Worker> workers(static_cast<size_t>(o.contexts));
  for (Worker& w : workers) {
    StatusOr<std::unique_ptr<ExecutionContext>> ctx = engine->CreateContext();
    if (!ctx.ok()) return Fail(ctx.status());
    w.context = std::move(*ctx);
    if (is_plan) {
      Status s = ApplyPlanShapes(*engine, *w.context, shapes, o.model);
      if (!s.ok()) return Fail(s.WithContext(o.model));
    }
    w.input_sets.resize(2);
    for (int i = 0; i < engine->NumIOTensors(); ++i) {
      const IOTensorInfo& io = engine->IOTensor(i);
      const Shape shape = w.context->TensorShape(i);
      StatusOr<Tensor> t = Tensor::Create(io.dtype, shape);
      if (!t.ok()) return Fail(t.status().WithContext("tensor '" + io.name + "'"));
      if (!io.is_input) {
        Status s = w.context->SetTensorAddress(i, t->raw());
        if (!s.ok()) return Fail(s);
        w.outputs.push_back(*t);
        continue;
      }
      FillRandom(&*t, rng);
      StatusOr<Tensor> second = Tensor::Create(io.dtype, shape);
      if (!second.ok()) return Fail(second.status());
      FillRandom(&*second, rng);
      w.input_sets[0].push_back(*t);
      w.input_sets[1].push_back(*second);
    }
  }

  // Step 3.
  std::atomic<int> ready{0};
  if (o.contexts == 1) {
    RunWorker(&workers[0], o, 1, &ready);
  } else {
    std::vector<std::thread> threads;
    for (Worker& w : workers) threads.emplace_back(RunWorker, &w, std::cref(o), o.contexts, &ready);
    for (std::thread& t : threads) t.join();
  }
  for (const Worker& w : workers) {
    if (!w.status.ok()) return Fail(w.status.WithContext(o.model));
  }

  // Step 4.
  std::vector<double> all;
  auto first_start = workers[0].timed_start, last_end = workers[0].timed_end;
  for (const Worker& w : workers) {
    all.insert(all.end(), w.latencies_ms.begin(), w.latencies_ms.end());
    first_start = std::min(first_start, w.timed_start);
    last_end = std::max(last_end, w.timed_end);
  }
  std::sort(all.begin(), all.end());
  double sum = 0;
  for (double v : all) sum += v;
  const double mean = sum / static_cast<double>(all.size());
  const double wall_s = std::chrono::duration<double>(last_end - first_start).count();
  const double throughput = wall_s > 0 ? static_cast<double>(all.size()) / wall_s : 0.0;

  std::printf("engine: %s (%s), %zu layers, %d inputs, %d outputs, ready in %.1f ms\n", o.model.c_str(),
              is_plan ? "plan" : "built from ONNX", engine->network().layers.size(), n_inputs,
              engine->NumIOTensors() - n_inputs, build_ms);
  std::printf("backend: cpu (reference kernels)\n");
  if (const BatchProfile& p = engine->profile(); p.enabled()) {
    std::printf("batch: %lld of the plan's profile [%lld, %lld] (one inference = the whole batch)\n",
                static_cast<long long>(workers[0].context->batch_size()), static_cast<long long>(p.min),
                static_cast<long long>(p.max));
  }
  std::printf("contexts: %d (one thread each), warm-up %.3g s, %zu timed runs in %.3f s\n", o.contexts, o.warmup_s,
              all.size(), wall_s);
  std::printf("arena: %zu bytes per context (%zu in all)\n", engine->ArenaBytes(),
              engine->ArenaBytes() * static_cast<size_t>(o.contexts));
  std::printf("weights: %zu bytes (shared by every context)\n", engine->WeightsBytes());
  std::printf("=== Performance summary ===\n");
  std::printf("Throughput: %.3f inferences/s\n", throughput);
  std::printf(
      "Latency: min = %.5f ms, mean = %.5f ms, median = %.5f ms, percentile(90%%) = %.5f ms, "
      "percentile(99%%) = %.5f ms, max = %.5f ms\n",
      all.front(), mean, Percentile(all, 50), Percentile(all, 90), Percentile(all, 99), all.back());
  std::printf(
      "Enqueue Time: min = %.5f ms, mean = %.5f ms, median = %.5f ms (the same as latency on the CPU "
      "backend: Enqueue runs the network synchronously)\n",
      all.front(), mean, Percentile(all, 50));
  std::printf("H2D Latency: n/a on the CPU backend\n");
  std::printf("D2H Latency: n/a on the CPU backend\n");
  return kExitOk;
}

}  // namespace edgert
