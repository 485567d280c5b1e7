// The convolution GPU tests' shared harness (conv_gpu_test_util.h).
#include "conv_gpu_test_util.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace edgert {
namespace testing {

Tensor Rand(Shape shape, uint32_t seed) { return RandomTensor(DataType::kFloat32, std::move(shape), seed); }

std::vector<OpArg> ConvLayerArgs(const ConvLayerCase& c, const Shape& y_shape, uint32_t seed) {
  std::vector<OpArg> args;
  args.push_back(OpArg{Rand(c.x, seed), false});
  args.push_back(OpArg{Rand(c.w, seed + 1), true});
  const int64_t k = c.w[0];
  if (c.bias || c.residual) args.push_back(OpArg{c.bias ? Rand({k}, seed + 2) : Tensor{}, true});
  if (c.residual) args.push_back(OpArg{Rand(y_shape, seed + 3), false});
  return args;
}

Attributes Conv2dAttrs(Ints pads, Ints strides, Ints dilations, int64_t group) {
  Attributes a;
  a.Set("pads", std::move(pads));
  a.Set("strides", std::move(strides));
  a.Set("dilations", std::move(dilations));
  a.Set("group", group);
  return a;
}

Attributes WithActivation(Attributes a, const ActCase& act) {
  a.Set(kActivationAttr, std::string(act.name));
  if (act.has_alpha) a.Set(kActivationAlphaAttr, act.alpha);
  if (act.has_beta) a.Set(kActivationBetaAttr, act.beta);
  return a;
}

int IndexOf(const std::vector<std::string>& paths, const std::string& prefix) {
  for (size_t i = 0; i < paths.size(); ++i) {
    if (paths[i].rfind(prefix, 0) == 0) return static_cast<int>(i);
  }
  return -1;
}

void SingleOpReference(OpType op, const std::string& name, const Attributes& attrs, const std::vector<OpArg>& args,
                       const Shape& y_shape, Tensor* want) {
  StatusOr<std::vector<Tensor>> got = RunSingleOp(op, attrs, args, 1, 17, name);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ((*got)[0].shape(), y_shape);
  *want = std::move((*got)[0]);
}

DeviceBuffers::~DeviceBuffers() {
  for (void* p : buffers_) cudaFree(p);
}

void DeviceBuffers::Alloc(size_t bytes, void** p) {
  ASSERT_EQ(cudaMalloc(p, std::max<size_t>(bytes, 1)), cudaSuccess);
  buffers_.push_back(*p);
}

void CopyToDevice(const Tensor& v, DataType dtype, void* dst) {
  const int64_t n = v.num_elements();
  if (dtype == DataType::kFloat16) {
    std::vector<__half> h(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) h[static_cast<size_t>(i)] = __float2half(v.data<float>()[i]);
    ASSERT_EQ(cudaMemcpy(dst, h.data(), h.size() * sizeof(__half), cudaMemcpyHostToDevice), cudaSuccess);
  } else {
    ASSERT_EQ(cudaMemcpy(dst, v.data<float>(), static_cast<size_t>(n) * sizeof(float), cudaMemcpyHostToDevice),
              cudaSuccess);
  }
}

void CopyFromDevice(const void* src, DataType dtype, Tensor* t) {
  const int64_t n = t->num_elements();
  if (dtype == DataType::kFloat16) {
    std::vector<__half> h(static_cast<size_t>(n));
    ASSERT_EQ(cudaMemcpy(h.data(), src, h.size() * sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
    for (int64_t i = 0; i < n; ++i) t->data<float>()[i] = __half2float(h[static_cast<size_t>(i)]);
  } else {
    ASSERT_EQ(cudaMemcpy(t->data<float>(), src, static_cast<size_t>(n) * sizeof(float), cudaMemcpyDeviceToHost),
              cudaSuccess);
  }
}

ConvLayerHarness::ConvLayerHarness(OpType op, std::string name, ConvLayerCase c, Shape y_shape, Precision precision,
                                   uint32_t seed)
    : op_type_(op), name_(std::move(name)), case_(std::move(c)), y_shape_(std::move(y_shape)), precision_(precision) {
  args_ = ConvLayerArgs(case_, y_shape_, seed);
  dtype_ = precision == Precision::kFp16 ? DataType::kFloat16 : DataType::kFloat32;
}

void ConvLayerHarness::Reference(Tensor* reference) {
  ASSERT_NO_FATAL_FAILURE(SingleOpReference(op_type_, name_, case_.attrs, args_, y_shape_, reference));
}

void ConvLayerHarness::Init(bool cpu_reference) {
  if (cpu_reference) {
    ASSERT_NO_FATAL_FAILURE(Reference(&want_));
  }
  infos_.resize(args_.size());
  std::vector<const ValueInfo*> ptrs(args_.size(), nullptr);
  tensors_.resize(args_.size());
  for (size_t i = 0; i < args_.size(); ++i) {
    if (!args_[i].value.defined()) continue;
    const Tensor& v = args_[i].value;
    infos_[i] = ValueInfo{v.dtype(), v.shape(), args_[i].constant ? &v : nullptr};
    ptrs[i] = &infos_[i];
    tensors_[i].dtype = dtype_;
    tensors_[i].shape = v.shape();
    tensors_[i].host = args_[i].constant ? &v : nullptr;
    ASSERT_NO_FATAL_FAILURE(UploadAt(v, 0, &tensors_[i].data));
  }
  op_ = std::make_unique<OpContext>(op_type_, name_, case_.attrs, 17, ptrs, 1);
  op_->SetOutput(0, DataType::kFloat32, y_shape_);
  output_.dtype = dtype_;
  output_.shape = y_shape_;
  ASSERT_NO_FATAL_FAILURE(Alloc(output_.bytes(), &output_.data));
  cudnn_ = cuda::CreateCudnnHandle();
  ASSERT_NE(cudnn_, nullptr) << "cudnnCreate failed";
  resources_.cudnn = cudnn_.get();
}

cuda::CudaOpContext ConvLayerHarness::Context(int tactic, bool select, int level) const {
  cuda::CudaOpContext ctx;
  ctx.op = op_.get();
  for (const cuda::CudaTensor& t : tensors_) ctx.inputs.push_back(t.data != nullptr ? &t : nullptr);
  ctx.outputs.push_back(&output_);
  ctx.precision = precision_;
  ctx.resources = &resources_;
  ctx.tactic = tactic;
  ctx.select_tactics = select;
  ctx.tactic_level = level;
  return ctx;
}

std::vector<std::string> ConvLayerHarness::Paths(int level) const {
  StatusOr<std::vector<std::string>> paths = cuda::ConvCandidatePaths(Context(-1, false, level));
  EXPECT_TRUE(paths.ok()) << paths.status().ToString();
  return paths.ok() ? *paths : std::vector<std::string>{};
}

void ConvLayerHarness::CreateKernel(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel) {
  StatusOr<cuda::CudaKernelPtr> created = cuda::CreateConvKernel(Context(tactic, select, level));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  cuda::CudaKernelPtr k = std::move(*created);
  void* workspace = nullptr;
  if (k->WorkspaceBytes() > 0) {
    ASSERT_NO_FATAL_FAILURE(Alloc(k->WorkspaceBytes(), &workspace));
  }
  k->SetWorkspace(workspace);
  *kernel = std::move(k);
}

void ConvLayerHarness::Run(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel, Tensor* got) {
  cuda::CudaKernelPtr k;
  ASSERT_NO_FATAL_FAILURE(CreateKernel(tactic, select, level, &k));
  ASSERT_EQ(cudaMemset(output_.data, 0xFF, output_.bytes()), cudaSuccess);
  const Status s = k->Enqueue(nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  *got = *Tensor::Create(DataType::kFloat32, y_shape_);
  ASSERT_NO_FATAL_FAILURE(CopyFromDevice(output_.data, dtype_, got));
  *kernel = std::move(k);
}

void ConvLayerHarness::RunAndCheck(int tactic, bool select, int level, cuda::CudaKernelPtr* kernel) {
  Tensor got;
  ASSERT_NO_FATAL_FAILURE(Run(tactic, select, level, kernel, &got));
  ExpectTensorsClose(got, want_, DefaultTolerance(precision_),
                     std::string(PrecisionName(precision_)) + " " + (*kernel)->Describe());
}

void ConvLayerHarness::TimeCandidate(int tactic, cudaStream_t stream, int warmup, int timed, double* ms) {
  *ms = -1;
  cuda::CudaKernelPtr k;
  ASSERT_NO_FATAL_FAILURE(CreateKernel(tactic, false, 1, &k));
  for (int i = 0; i < warmup; ++i) {
    const Status s = k->Enqueue(stream);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  cudaEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  std::vector<float> times;
  for (int i = 0; i < timed; ++i) {
    EXPECT_EQ(cudaEventRecord(start, stream), cudaSuccess);
    const Status s = k->Enqueue(stream);
    EXPECT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
    EXPECT_TRUE(s.ok()) << s.ToString();
    float t = 0;
    if (cudaEventSynchronize(stop) == cudaSuccess && cudaEventElapsedTime(&t, start, stop) == cudaSuccess) {
      times.push_back(t);
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  ASSERT_EQ(times.size(), static_cast<size_t>(timed));
  ASSERT_GT(timed, 0);
  std::sort(times.begin(), times.end());
  *ms = times[times.size() / 2];
}

void ConvLayerHarness::UploadAt(const Tensor& v, int64_t offset, void** p) {
  const size_t elem = DataTypeSize(dtype_);
  void* base = nullptr;
  ASSERT_NO_FATAL_FAILURE(Alloc(static_cast<size_t>(v.num_elements() + offset) * elem, &base));
  *p = static_cast<char*>(base) + static_cast<size_t>(offset) * elem;
  ASSERT_NO_FATAL_FAILURE(CopyToDevice(v, dtype_, *p));
}

void ExpectEveryCandidateMatches(ConvLayerHarness& h, const std::vector<std::string>& paths) {
  for (size_t i = 0; i < paths.size(); ++i) {
    SCOPED_TRACE("candidate " + std::to_string(i) + ": " + paths[i]);
    cuda::CudaKernelPtr kernel;
    ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(static_cast<int>(i), false, 1, &kernel));
    EXPECT_EQ(kernel->Tactic(), static_cast<int>(i));
    ASSERT_NE(cuda::ConvKernelPath(*kernel), nullptr);
    EXPECT_EQ(paths[i].rfind(cuda::ConvKernelPath(*kernel), 0), 0u) << kernel->Describe();
  }
  // An index past the list falls back to candidate 0.
  cuda::CudaKernelPtr kernel;
  ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(1000, false, 1, &kernel));
  EXPECT_EQ(kernel->Tactic(), 0);
}

void ExpectTimedSelection(ConvLayerHarness& h) {
  cuda::CudaKernelPtr kernel;
  ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(-1, true, 1, &kernel));
  EXPECT_GE(kernel->Tactic(), 0);
  const cuda::CudaKernel::TacticReport report = kernel->Tactics();
  EXPECT_GE(report.timed, 1) << kernel->Describe();
  EXPECT_GE(report.chosen_ms, 0.0) << kernel->Describe();
  EXPECT_LE(report.chosen_ms, report.default_ms > 0 ? report.default_ms : report.chosen_ms) << kernel->Describe();
  EXPECT_EQ(kernel->Describe().rfind("tactic " + std::to_string(kernel->Tactic()) + "/", 0), 0u) << kernel->Describe();
  // Every candidate's record, in list order: its label, a median where it was timed (the chosen
  // one's is chosen_ms), the rejected ones marked; the counts agree with timed / rejected.
  const std::vector<std::string> paths = h.Paths(1);
  ASSERT_EQ(report.candidates.size(), paths.size());
  int timed = 0, rejected = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    const TacticCandidateTime& c = report.candidates[i];
    EXPECT_EQ(c.label, paths[i]);
    EXPECT_GE(c.seconds, 0.0);
    // The check and the capture are parts of the candidate's time; a timed one was checked.
    EXPECT_LE(c.check_seconds + c.capture_seconds, c.seconds) << c.label;
    if (c.ms >= 0) {
      EXPECT_GT(c.check_seconds, 0.0) << c.label;
    }
    timed += c.ms >= 0 ? 1 : 0;
    rejected += c.rejected ? 1 : 0;
    if (c.rejected) {
      EXPECT_LT(c.ms, 0.0) << c.label;
    }
  }
  EXPECT_EQ(timed, report.timed);
  EXPECT_EQ(rejected, report.rejected);
  EXPECT_EQ(report.candidates[static_cast<size_t>(kernel->Tactic())].ms, report.chosen_ms);
  EXPECT_GE(report.list_seconds, 0.0);
  // Level 0: candidate 0 only, nothing timed.
  cuda::CudaKernelPtr untimed;
  ASSERT_NO_FATAL_FAILURE(h.RunAndCheck(-1, true, 0, &untimed));
  EXPECT_EQ(untimed->Tactic(), 0);
  EXPECT_EQ(untimed->Tactics().timed, 0);
}

void ExpectForcedCandidateGraphReplays(ConvLayerHarness& h, const std::string& path) {
  const int index = IndexOf(h.Paths(), path);
  ASSERT_GE(index, 0) << "no " << path << " candidate";
  StatusOr<cuda::CudaKernelPtr> created = cuda::CreateConvKernel(h.Context(index, false, 1));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  cuda::CudaKernelPtr kernel = std::move(*created);
  ASSERT_EQ(cuda::ConvKernelPath(*kernel), path);
  ASSERT_EQ(kernel->WorkspaceBytes(), 0u);
  kernel->SetWorkspace(nullptr);
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), cudaSuccess);
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  const Status s = kernel->Enqueue(stream);
  const cudaError_t end = cudaStreamEndCapture(stream, &graph);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(end, cudaSuccess) << cudaGetErrorString(end);
  if (s.ok() && end == cudaSuccess && graph != nullptr) {
    EXPECT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int replay = 0; exec != nullptr && replay < 2; ++replay) {
      SCOPED_TRACE("replay " + std::to_string(replay));
      ASSERT_EQ(cudaMemsetAsync(h.output().data, 0xFF, h.output().bytes(), stream), cudaSuccess);
      ASSERT_EQ(cudaGraphLaunch(exec, stream), cudaSuccess);
      ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
      Tensor got = *Tensor::Create(DataType::kFloat32, h.want().shape());
      ASSERT_NO_FATAL_FAILURE(CopyFromDevice(h.output().data, h.dtype(), &got));
      ExpectTensorsClose(got, h.want(), DefaultTolerance(h.precision()), "graph replay");
    }
  }
  if (exec != nullptr) cudaGraphExecDestroy(exec);
  if (graph != nullptr) cudaGraphDestroy(graph);
  cudaStreamDestroy(stream);
}

void ExpectForcedMatchesDirect(ConvLayerHarness& h, const std::string& path) {
  const std::vector<std::string> paths = h.Paths();
  const int index = IndexOf(paths, path);
  const int direct = IndexOf(paths, "direct-nhwc");
  ASSERT_GE(index, 0) << "no " << path << " candidate";
  ASSERT_GE(direct, 0);
  cuda::CudaKernelPtr oracle;
  Tensor want;
  ASSERT_NO_FATAL_FAILURE(h.Run(direct, false, 1, &oracle, &want));
  cuda::CudaKernelPtr kernel;
  Tensor got;
  ASSERT_NO_FATAL_FAILURE(h.Run(index, false, 1, &kernel, &got));
  ExpectTensorsClose(got, want, DefaultTolerance(h.precision()), path + " vs direct-nhwc");
}

void PrintEveryCandidateTime(ConvLayerHarness& h, const std::string& tag, const std::string& name,
                             cudaStream_t stream) {
  const std::vector<std::string> paths = h.Paths();
  for (size_t i = 0; i < paths.size(); ++i) {
    SCOPED_TRACE("candidate " + std::to_string(i) + ": " + paths[i]);
    double ms = -1;
    ASSERT_NO_FATAL_FAILURE(h.TimeCandidate(static_cast<int>(i), stream, 3, 21, &ms));
    std::string label = std::to_string(i) + ":" + paths[i];
    std::replace(label.begin(), label.end(), ' ', '_');
    std::printf("[ %s ] %s %s %.4f\n", tag.c_str(), name.c_str(), label.c_str(), ms);
  }
  std::fflush(stdout);
}

cuda::NhwcConvGeometry SquareNhwcGeometry(int64_t n, int64_t hw, int64_t c, int64_t k, int64_t rs, int64_t pq,
                                          int64_t stride, int64_t pad) {
  cuda::NhwcConvGeometry g;
  g.n = n;
  g.h = g.w = hw;
  g.c = c;
  g.k = k;
  g.r = g.s = rs;
  g.p = g.q = pq;
  g.stride_h = g.stride_w = stride;
  g.pad_top = g.pad_left = pad;
  return g;
}

void ExpectMisalignedLaunchMatches(const std::vector<OpArg>& args, const Tensor& want, const HalfConvLaunch& launch,
                                   const std::string& what) {
  ASSERT_GE(args.size(), 4u) << "X, W, B and Z";
  DeviceBuffers buffers;
  std::vector<__half*> dev(4, nullptr);
  for (size_t i = 0; i < 4; ++i) {
    void* p = nullptr;
    ASSERT_NO_FATAL_FAILURE(
        buffers.Alloc((static_cast<size_t>(args[i].value.num_elements()) + 8) * sizeof(__half), &p));
    dev[i] = static_cast<__half*>(p) + 1;
    ASSERT_NO_FATAL_FAILURE(CopyToDevice(args[i].value, DataType::kFloat16, dev[i]));
  }
  const size_t y_count = static_cast<size_t>(want.num_elements());
  void* y_base = nullptr;
  ASSERT_NO_FATAL_FAILURE(buffers.Alloc((y_count + 8) * sizeof(__half), &y_base));
  __half* y = static_cast<__half*>(y_base) + 1;
  ASSERT_EQ(cudaMemset(y_base, 0xFF, (y_count + 8) * sizeof(__half)), cudaSuccess);
  const Status s = launch(dev[0], dev[1], dev[2], dev[3], y);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  Tensor got = *Tensor::Create(DataType::kFloat32, want.shape());
  ASSERT_NO_FATAL_FAILURE(CopyFromDevice(y, DataType::kFloat16, &got));
  ExpectTensorsClose(got, want, DefaultTolerance(Precision::kFp16), what);
  // The halves around Y were not written (still the 0xFFFF NaN poison).
  __half edges[2];
  ASSERT_EQ(cudaMemcpy(&edges[0], y_base, sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(&edges[1], y + y_count, sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_TRUE(std::isnan(__half2float(edges[0])));
  EXPECT_TRUE(std::isnan(__half2float(edges[1])));
}

}  // namespace testing
}  // namespace edgert
