// DecodeDetectionsCuda: the yolov8 / yolov5 detector decode of decode.cc on device outputs, with NMS
// on the GPU; only the kept boxes come back to the host.
//
// Algorithm:
//  1. Host: check the output's shape and the layout exactly as Decode does (same errors), check
//     the transform, reserve the workspace for the anchors (allocates only when it grows).
//  2. CandidateKernel, one thread per anchor: best class (first maximum wins, `>` as in decode.cc;
//     yolov5: objectness * best class score); anchors whose score is not >= threshold stop (NaN
//     never passes). The box (cx -+ w/2, cy -+ h/2) goes to the frame with (v - pad) / scale and
//     is clamped to [0, frame] like std::clamp, all with IEEE-rounded intrinsics (no FMA
//     contraction), so it equals the host's float result bit for bit; boxes with no area left stop.
//     A passing anchor stores its box, class and score at its anchor index and appends the key
//     (ordered score bits << 32 | (0xffffffff - anchor)) with atomicAdd.
//  3. The candidate count comes to the host (pinned, one synchronise). cub's radix sort orders the
//     keys descending: by score, then by lower anchor first, which is the order decode.cc's stable
//     sort gives (its candidates are in anchor order).
//  4. GatherKernel copies the first min(count, 4096) candidates' boxes and classes in that order;
//     NmsCuda (scratch from the workspace) marks the kept ones.
//  5. CompactKernel (one block, a block-wide exclusive scan of the keep flags) writes the kept
//     boxes, in order, at most max_detections of them; they are copied to pinned host memory and
//     become Detections with config.Label.
// The workspace holds every buffer (device block + pinned host block): steady state allocates
// nothing.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>
#include <string>

#include "edgert/vision/decode.h"

namespace edgert::vision {

namespace {

constexpr int kMaxCandidates = kMaxGpuDetectionCandidates;
constexpr int kScanThreads = 1024;
constexpr int kScanItems = kMaxCandidates / kScanThreads;  // 4 flags per thread
static_assert(kScanThreads * kScanItems == kMaxCandidates, "the compaction scan covers every candidate");

struct DeviceDetection {
  float x0, y0, x1, y1, score;
  int class_id;
};

Status CudaCheck(cudaError_t err, const char* call) {
  if (err == cudaSuccess) return Status::Ok();
  return Internal(std::string(call) + " failed: " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")",
                  "DecodeDetectionsCuda");
}

#define DECODE_CUDA_RETURN_IF_ERROR(call)                       \
  do {                                                          \
    ::edgert::Status decode_status_ = CudaCheck((call), #call); \
    if (!decode_status_.ok()) return decode_status_;            \
  } while (0)

size_t AlignUp(size_t v) { return (v + 255) / 256 * 256; }

// Byte offsets of the workspace's device buffers for `anchors` anchors.
struct Layout {
  size_t count, keys_in, keys_out, anchor_box, anchor_class, anchor_score, sorted_box, sorted_class, keep, out,
      nms_scratch, sort_temp, total;
};

Layout MakeLayout(int64_t anchors, size_t sort_temp_bytes) {
  const size_t a = static_cast<size_t>(anchors);
  Layout l{};
  size_t at = 0;
  auto take = [&at](size_t bytes) {
    const size_t offset = at;
    at += AlignUp(bytes);
    return offset;
  };
  l.count = take(sizeof(int));
  l.keys_in = take(a * sizeof(unsigned long long));
  l.keys_out = take(a * sizeof(unsigned long long));
  l.anchor_box = take(a * 4 * sizeof(float));
  l.anchor_class = take(a * sizeof(int));
  l.anchor_score = take(a * sizeof(float));
  l.sorted_box = take(kMaxCandidates * 4 * sizeof(float));
  l.sorted_class = take(kMaxCandidates * sizeof(int));
  l.keep = take(kMaxCandidates * sizeof(int));
  l.out = take(kMaxCandidates * sizeof(DeviceDetection));
  l.nms_scratch = take(NmsCudaScratchBytes(kMaxCandidates));
  l.sort_temp = take(sort_temp_bytes);
  l.total = at;
  return l;
}

// Pinned host block: the candidate count, then kMaxCandidates detections.
constexpr size_t kHostDetectionsOffset = 256;
constexpr size_t kHostBytes = kHostDetectionsOffset + kMaxCandidates * sizeof(DeviceDetection);

struct CandidateParams {
  const float* x;
  int anchors;
  int num_classes;
  long long a_stride, k_stride;  // element (anchor a, channel k) = x[a * a_stride + k * k_stride]
  int class_offset;              // first class channel: 4 (yolov8) or 5 (yolov5)
  bool objectness;               // yolov5: channel 4 multiplies the class score
  float threshold;
  float pad_x, pad_y, scale_x, scale_y, frame_w, frame_h;
};

__device__ __forceinline__ float ClampLikeStd(float v, float lo, float hi) { return v < lo ? lo : (hi < v ? hi : v); }

__device__ __forceinline__ unsigned int OrderedBits(float score) {
  const float s = score == 0.f ? 0.f : score;  // -0 and +0 tie, as the host's comparisons treat them
  unsigned int u = __float_as_uint(s);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

__global__ void CandidateKernel(CandidateParams p, int* __restrict__ count, unsigned long long* __restrict__ keys,
                                float* __restrict__ anchor_box, int* __restrict__ anchor_class,
                                float* __restrict__ anchor_score) {
  const int a = blockIdx.x * blockDim.x + threadIdx.x;
  if (a >= p.anchors) return;
  const float* base = p.x + static_cast<long long>(a) * p.a_stride;
  int best = 0;
  float best_score = base[static_cast<long long>(p.class_offset) * p.k_stride];
  for (int k = 1; k < p.num_classes; ++k) {
    const float v = base[static_cast<long long>(p.class_offset + k) * p.k_stride];
    if (v > best_score) {
      best_score = v;
      best = k;
    }
  }
  const float score = p.objectness ? __fmul_rn(base[4 * p.k_stride], best_score) : best_score;
  if (!(score >= p.threshold)) return;
  const float cx = base[0], cy = base[p.k_stride], w = base[2 * p.k_stride], h = base[3 * p.k_stride];
  const float hw = __fdiv_rn(w, 2.f), hh = __fdiv_rn(h, 2.f);
  const float x0 = ClampLikeStd(__fdiv_rn(__fsub_rn(__fsub_rn(cx, hw), p.pad_x), p.scale_x), 0.f, p.frame_w);
  const float x1 = ClampLikeStd(__fdiv_rn(__fsub_rn(__fadd_rn(cx, hw), p.pad_x), p.scale_x), 0.f, p.frame_w);
  const float y0 = ClampLikeStd(__fdiv_rn(__fsub_rn(__fsub_rn(cy, hh), p.pad_y), p.scale_y), 0.f, p.frame_h);
  const float y1 = ClampLikeStd(__fdiv_rn(__fsub_rn(__fadd_rn(cy, hh), p.pad_y), p.scale_y), 0.f, p.frame_h);
  if (!(x1 > x0 && y1 > y0)) return;  // also false for NaN coordinates
  anchor_box[a * 4 + 0] = x0;
  anchor_box[a * 4 + 1] = y0;
  anchor_box[a * 4 + 2] = x1;
  anchor_box[a * 4 + 3] = y1;
  anchor_class[a] = best;
  anchor_score[a] = score;
  const int slot = atomicAdd(count, 1);
  keys[slot] = (static_cast<unsigned long long>(OrderedBits(score)) << 32) |
               static_cast<unsigned long long>(0xffffffffu - static_cast<unsigned int>(a));
}

__global__ void GatherKernel(const unsigned long long* __restrict__ sorted_keys, int n,
                             const float* __restrict__ anchor_box, const int* __restrict__ anchor_class,
                             float* __restrict__ sorted_box, int* __restrict__ sorted_class) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const unsigned int a = 0xffffffffu - static_cast<unsigned int>(sorted_keys[i] & 0xffffffffull);
  for (int k = 0; k < 4; ++k) sorted_box[i * 4 + k] = anchor_box[a * 4 + k];
  sorted_class[i] = anchor_class[a];
}

__global__ void CompactKernel(const unsigned long long* __restrict__ sorted_keys, int n,
                              const float* __restrict__ sorted_box, const int* __restrict__ sorted_class,
                              const float* __restrict__ anchor_score, const int* __restrict__ keep, int max_keep,
                              DeviceDetection* __restrict__ out) {
  using Scan = cub::BlockScan<int, kScanThreads>;
  __shared__ typename Scan::TempStorage temp;
  int flags[kScanItems], ranks[kScanItems];
  const int first = threadIdx.x * kScanItems;
  for (int j = 0; j < kScanItems; ++j) flags[j] = first + j < n ? keep[first + j] : 0;
  Scan(temp).ExclusiveSum(flags, ranks);
  for (int j = 0; j < kScanItems; ++j) {
    const int i = first + j;
    if (flags[j] == 0 || ranks[j] >= max_keep) continue;
    const unsigned int a = 0xffffffffu - static_cast<unsigned int>(sorted_keys[i] & 0xffffffffull);
    DeviceDetection d;
    d.x0 = sorted_box[i * 4 + 0];
    d.y0 = sorted_box[i * 4 + 1];
    d.x1 = sorted_box[i * 4 + 2];
    d.y1 = sorted_box[i * 4 + 3];
    d.score = anchor_score[a];
    d.class_id = sorted_class[i];
    out[ranks[j]] = d;
  }
}

std::string OutputName(const std::vector<std::string>& names, size_t index) {
  if (index < names.size() && !names[index].empty()) return names[index];
  return "output " + std::to_string(index);
}

Status ShapeError(const std::string& name, const Shape& s, DecoderKind kind, const std::string& expected) {
  return InvalidArgument("output '" + name + "' has shape [" + ShapeToString(s) + "] but the " + DecoderKindName(kind) +
                             " decoder expects " + expected,
                         name);
}

// Step 1: the layout of output 0 as decode.cc reads it.
Status ResolveLayout(const ModelConfig& config, const Shape& s, const std::string& name, CandidateParams* p) {
  const DecoderKind kind = config.decoder.kind;
  const int64_t labels = static_cast<int64_t>(config.labels.size());
  bool channels_first = false;
  int64_t channels = 0, anchors = 0;
  if (kind == DecoderKind::kYoloV8) {
    const std::string expected = labels > 0 ? "[1,4+C,N] or [1,N,4+C] with C = " + std::to_string(labels) + " labels"
                                            : "[1,4+C,N] or [1,N,4+C] (C >= 1, the smaller dimension is 4+C)";
    if (s.size() != 3 || s[0] != 1 || s[1] < 1 || s[2] < 1) return ShapeError(name, s, kind, expected);
    if (labels > 0) {
      if (s[1] == 4 + labels) {
        channels_first = true;
      } else if (s[2] == 4 + labels) {
        channels_first = false;
      } else {
        return ShapeError(name, s, kind, expected);
      }
    } else {
      channels_first = s[1] <= s[2];
      if (std::min(s[1], s[2]) < 5) return ShapeError(name, s, kind, expected);
    }
    channels = channels_first ? s[1] : s[2];
    anchors = channels_first ? s[2] : s[1];
    p->class_offset = 4;
    p->objectness = false;
  } else {
    const std::string expected =
        labels > 0 ? "[1,N,5+C] with C = " + std::to_string(labels) + " labels" : "[1,N,5+C] (C >= 1)";
    if (s.size() != 3 || s[0] != 1 || s[1] < 1 || s[2] < 6 || (labels > 0 && s[2] != 5 + labels)) {
      return ShapeError(name, s, kind, expected);
    }
    anchors = s[1];
    channels = s[2];
    p->class_offset = 5;
    p->objectness = true;
  }
  if (anchors > INT_MAX / 4 || channels > INT_MAX) {
    return OutOfRange(
        "output '" + name + "' has " + std::to_string(anchors) + " anchors, more than the GPU decode takes", name);
  }
  p->anchors = static_cast<int>(anchors);
  p->num_classes = static_cast<int>(channels - p->class_offset);
  p->a_stride = channels_first ? 1 : channels;
  p->k_stride = channels_first ? anchors : 1;
  return Status::Ok();
}

}  // namespace

DetectionWorkspace::~DetectionWorkspace() { Release(); }

void DetectionWorkspace::Release() {
  if (device_ != nullptr) {
    cudaDeviceSynchronize();  // a decode on any stream may still read it
    cudaFree(device_);
  }
  if (host_ != nullptr) cudaFreeHost(host_);
  device_ = nullptr;
  host_ = nullptr;
  anchors_ = 0;
  sort_temp_bytes_ = 0;
}

Status DetectionWorkspace::Reserve(int64_t anchors) {
  if (anchors < 0 || anchors > INT_MAX / 4) {
    return OutOfRange("DetectionWorkspace::Reserve: " + std::to_string(anchors) + " anchors", "anchors");
  }
  if (anchors <= anchors_ && device_ != nullptr) return Status::Ok();
  Release();
  const int items = static_cast<int>(std::max<int64_t>(anchors, 1));
  size_t sort_bytes = 0;
  DECODE_CUDA_RETURN_IF_ERROR(
      cub::DeviceRadixSort::SortKeysDescending(nullptr, sort_bytes, static_cast<const unsigned long long*>(nullptr),
                                               static_cast<unsigned long long*>(nullptr), items));
  const Layout layout = MakeLayout(items, sort_bytes);
  DECODE_CUDA_RETURN_IF_ERROR(cudaMalloc(&device_, layout.total));
  const cudaError_t host_err = cudaHostAlloc(&host_, kHostBytes, cudaHostAllocDefault);
  if (host_err != cudaSuccess) {
    cudaFree(device_);
    device_ = nullptr;
    host_ = nullptr;
    return CudaCheck(host_err, "cudaHostAlloc(DetectionWorkspace)");
  }
  anchors_ = items;
  sort_temp_bytes_ = sort_bytes;
  ++allocations_;
  return Status::Ok();
}

Status DecodeDetectionsCuda(const ModelConfig& config, const std::vector<const float*>& device_outputs,
                            const std::vector<Shape>& shapes, const std::vector<std::string>& names,
                            const InputTransform& tr, DetectionWorkspace* workspace, void* stream,
                            FrameResults* results) {
  if (results == nullptr) return InvalidArgument("DecodeDetectionsCuda needs a FrameResults to fill", "results");
  if (workspace == nullptr) return InvalidArgument("DecodeDetectionsCuda needs a DetectionWorkspace", "workspace");
  results->classes.clear();
  results->detections.clear();
  results->mask = SegmentationMask{};
  const DecoderConfig& dc = config.decoder;
  if (dc.kind != DecoderKind::kYoloV8 && dc.kind != DecoderKind::kYoloV5) {
    return Unsupported("the GPU decode takes decoder kinds yolov8 and yolov5, not " +
                           std::string(DecoderKindName(dc.kind)) + "; use Decode",
                       "decoder.kind");
  }
  // 1. Shapes, layout, transform, workspace.
  if (device_outputs.empty() || shapes.size() != device_outputs.size()) {
    return InvalidArgument("the " + std::string(DecoderKindName(dc.kind)) + " decoder needs output 0 (got " +
                               std::to_string(device_outputs.size()) + " device output(s) and " +
                               std::to_string(shapes.size()) + " shape(s))",
                           OutputName(names, 0));
  }
  const std::string name = OutputName(names, 0);
  if (device_outputs[0] == nullptr) {
    return InvalidArgument("output '" + name + "' has no device pointer", name);
  }
  CandidateParams p{};
  EDGERT_RETURN_IF_ERROR(ResolveLayout(config, shapes[0], name, &p));
  if (tr.frame_width <= 0 || tr.frame_height <= 0 || !(tr.scale_x > 0.f) || !(tr.scale_y > 0.f)) {
    return InvalidArgument(
        "the " + std::string(DecoderKindName(dc.kind)) + " decoder needs the input transform of the frame (frame " +
            std::to_string(tr.frame_width) + "x" + std::to_string(tr.frame_height) + ", scale " +
            std::to_string(tr.scale_x) + "x" + std::to_string(tr.scale_y) + "); preprocessing sets it",
        "transform");
  }
  EDGERT_RETURN_IF_ERROR(workspace->Reserve(p.anchors));
  p.x = device_outputs[0];
  p.threshold = dc.threshold;
  p.pad_x = tr.pad_x;
  p.pad_y = tr.pad_y;
  p.scale_x = tr.scale_x;
  p.scale_y = tr.scale_y;
  p.frame_w = static_cast<float>(tr.frame_width);
  p.frame_h = static_cast<float>(tr.frame_height);

  const Layout l = MakeLayout(workspace->capacity(), workspace->sort_temp_bytes());
  char* base = static_cast<char*>(workspace->device());
  int* count = reinterpret_cast<int*>(base + l.count);
  auto* keys_in = reinterpret_cast<unsigned long long*>(base + l.keys_in);
  auto* keys_out = reinterpret_cast<unsigned long long*>(base + l.keys_out);
  float* anchor_box = reinterpret_cast<float*>(base + l.anchor_box);
  int* anchor_class = reinterpret_cast<int*>(base + l.anchor_class);
  float* anchor_score = reinterpret_cast<float*>(base + l.anchor_score);
  float* sorted_box = reinterpret_cast<float*>(base + l.sorted_box);
  int* sorted_class = reinterpret_cast<int*>(base + l.sorted_class);
  int* keep = reinterpret_cast<int*>(base + l.keep);
  auto* out = reinterpret_cast<DeviceDetection*>(base + l.out);
  int* host_count = static_cast<int*>(workspace->host());
  auto* host_out = reinterpret_cast<DeviceDetection*>(static_cast<char*>(workspace->host()) + kHostDetectionsOffset);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  // Every return from here on leaves `stream` idle, error returns too (the caller may free the
  // outputs or reuse the workspace as soon as this returns); on the success paths the stream is
  // already synchronised and this costs nothing.
  struct SyncOnReturn {
    cudaStream_t stream;
    ~SyncOnReturn() { cudaStreamSynchronize(stream); }
  } sync_on_return{s};

  // 2. Candidates.
  DECODE_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(count, 0, sizeof(int), s));
  constexpr int kThreads = 256;
  CandidateKernel<<<(p.anchors + kThreads - 1) / kThreads, kThreads, 0, s>>>(p, count, keys_in, anchor_box,
                                                                             anchor_class, anchor_score);
  DECODE_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  // 3. Count to the host, sort.
  DECODE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_count, count, sizeof(int), cudaMemcpyDeviceToHost, s));
  DECODE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s));
  const int candidates = *host_count;
  if (candidates == 0) return Status::Ok();
  size_t sort_bytes = 0;
  DECODE_CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortKeysDescending(
      nullptr, sort_bytes, static_cast<const unsigned long long*>(keys_in), keys_out, candidates));
  if (sort_bytes > workspace->sort_temp_bytes()) {
    return Internal("the radix sort of " + std::to_string(candidates) + " candidates needs " +
                        std::to_string(sort_bytes) + " bytes, the workspace has " +
                        std::to_string(workspace->sort_temp_bytes()),
                    "DecodeDetectionsCuda");
  }
  sort_bytes = workspace->sort_temp_bytes();
  DECODE_CUDA_RETURN_IF_ERROR(cub::DeviceRadixSort::SortKeysDescending(
      base + l.sort_temp, sort_bytes, static_cast<const unsigned long long*>(keys_in), keys_out, candidates, 0, 64, s));
  // 4. The best 4096 in order, NMS.
  const int n = std::min(candidates, kMaxCandidates);
  GatherKernel<<<(n + kThreads - 1) / kThreads, kThreads, 0, s>>>(keys_out, n, anchor_box, anchor_class, sorted_box,
                                                                  sorted_class);
  DECODE_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  int kept = 0;
  EDGERT_RETURN_IF_ERROR(NmsCuda(sorted_box, nullptr, dc.class_agnostic_nms ? nullptr : sorted_class, n, dc.nms_iou,
                                 keep, &kept, s, base + l.nms_scratch, NmsCudaScratchBytes(kMaxCandidates)));
  // 5. Kept boxes, at most max_detections, to the host.
  const int max_keep = dc.max_detections > 0 ? dc.max_detections : INT_MAX;
  const int reported = std::min(kept, max_keep);
  if (reported == 0) return Status::Ok();
  CompactKernel<<<1, kScanThreads, 0, s>>>(keys_out, n, sorted_box, sorted_class, anchor_score, keep, max_keep, out);
  DECODE_CUDA_RETURN_IF_ERROR(cudaGetLastError());
  DECODE_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(host_out, out, static_cast<size_t>(reported) * sizeof(DeviceDetection),
                                              cudaMemcpyDeviceToHost, s));
  DECODE_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(s));
  results->detections.reserve(static_cast<size_t>(reported));
  for (int i = 0; i < reported; ++i) {
    const DeviceDetection& d = host_out[i];
    results->detections.push_back(Detection{d.x0, d.y0, d.x1, d.y1, d.class_id, d.score, config.Label(d.class_id)});
  }
  return Status::Ok();
}

}  // namespace edgert::vision
