// Gemm and MatMul through cuBLASLt (CreateGemmKernel; contracts in cuda_kernel.h).
//
// Layout mapping: edgert tensors are row-major, cuBLASLt is column-major. A row-major [r, c] matrix
// with leading dimension ld is the column-major [c, r] matrix with the same ld, i.e. its transpose.
// So the row-major product D[M,N] = op(A)[M,K] * op(B)[K,N] is computed as the column-major
// D^T[N,M] = op(B)^T * op(A)^T: cuBLASLt's "A" is edgert's B (transposed iff transB), cuBLASLt's
// "B" is edgert's A (transposed iff transA), and D is column-major [N, M] with ld N (= row-major
// [M, N]). cuBLASLt's bias vector runs along the rows of its D, i.e. along edgert's N: exactly a
// Gemm C of shape [N] / [1, N].
//
// Numerics: compute type CUBLAS_COMPUTE_32F (true FP32, not TF32), scale type float, A/B/C/D of the
// device dtype (CUDA_R_32F, or CUDA_R_16F in FP16 engines: fp16 storage, fp32 accumulation).
//
// Gemm: Y = act(alpha * op(A) op(B) + beta * C).
//   - C of shape [N] / [1, N] with beta == 1: cuBLASLt's bias epilogue (BIAS, RELU_BIAS for Relu,
//     GELU_BIAS for GeluTanh; cuBLASLt's GELU is the tanh approximation, so the erf "Gelu" is not
//     fused).
//   - C of shape [M, N]: cuBLASLt's C matrix with beta.
//   - any other C (scalar, [1], [M, 1], [1, 1], or [N] with beta != 1): a small kernel writes C,
//     broadcast to [M, N], into Y first and cuBLASLt accumulates onto it (C = D, in place, beta).
//   - Relu / GeluTanh fuse into cuBLASLt (RELU / GELU epilogues, with or without bias); every other
//     activation runs after the matmul in EnqueueEpilogue (one launch).
//   If the heuristic offers no algorithm for a fused form, the next simpler form is tried: the
//   activation unfused, then the bias written by the broadcast kernel.
// MatMul (numpy semantics): 1-D A is [1, K], 1-D B is [K, 1]. Output batch dimensions of size 1
// are dropped and adjacent ones merged where both operands stay contiguous; the innermost merged
// dimension becomes one strided-batched call (stride 0 for a broadcast A; a broadcast B instead
// folds the batch into M), the outer ones a list of calls with precomputed element offsets
// (several cublasLtMatmul launches per Enqueue, no materialised broadcast).
// K == 0: the output is beta * C (or 0), then the activation; no matmul is issued.
//
// Creation, in order:
//   1. Form: the layer's matmul form (Gemm: most fused first, as above; MatMul: strided-batched,
//      then unrolled) is the first for which cublasLtMatmulAlgoGetHeuristic (also in a dry run, so
//      WorkspaceBytes() is known) returns an algorithm with at most 32 MiB of workspace, given the
//      operands' real alignments (the largest power of two <= 256 dividing every address a call
//      uses; an unknown address in a dry run counts as 256, as arena offsets and weights are
//      256-aligned).
//   2. Candidates: the algorithms the heuristic returns for that form that succeed and fit the
//      workspace cap, in its order (deterministic for the same shapes, GPU and cuBLAS version): 1
//      at ctx.tactic_level 0, up to 8 at level 1, up to 32 at level 2 (and enough to reach a forced
//      ctx.tactic). The heuristic is always asked for 32 results and the list cut after filtering,
//      so each level's list is a prefix of the same list: candidate 0, the default, is the first
//      valid result at every level, and a tactic index names the same algorithm at every level.
//   3. Choice: ctx.tactic >= 0 picks that candidate (candidate 0 when the list is shorter), untimed.
//      With ctx.select_tactics (never in a dry run; level >= 1), on a private stream: the
//      non-constant inputs (A, B, a runtime C) get deterministic test data (EnqueueTacticFill;
//      constants are never written), candidate 0 runs once and its output is copied to a cudaMalloc'ed
//      reference; then per candidate the whole layer's Enqueue (every call of a batched MatMul, all
//      with the one descriptor and algorithm) runs kWarmupRuns times, then kTimedRuns times between
//      CUDA events (median); its output is compared with the reference (relative L2 <= 1e-3 fp32,
//      <= 1e-2 fp16, no NaN/infinity where the reference is finite, EnqueueCompare): a mismatch
//      rejects it, a candidate whose launch fails is skipped. The fastest valid one wins (candidate
//      0 on a tie). A temporary workspace of the largest candidate need is cudaMalloc'ed and freed
//      with the rest after the selection.
//   4. Only the chosen algorithm is kept; WorkspaceBytes() is its need, Tactic() its index (-1 for
//      a layer without a matmul), Tactics() the timings, Describe() the algorithm and the timings.
// The own matrix-vector kernel (kernels_gemv.h) joins the list as candidate kGemvTactic (1; the
// cuBLASLt algorithms from the second on shift up by one) for a float16 Gemm with transA 0,
// transB 1, at most kGemvMaxTacticRows rows, K a multiple of 8, C absent or a vector along N (any
// beta), A and B 16-byte aligned, whenever the list holds more than one candidate (level >= 1, or
// a forced tactic >= 1). It fuses the bias and every activation, so it ignores the cuBLASLt
// form's broadcast fill and activation kernel, needs no workspace, and reads the weights before
// its programmatic wait when B is a constant. cuBLASLt's candidate 0 stays the default and the
// reference its output is checked against. A fixed index keeps a stored tactic meaning the same
// kernel at every level.
// Enqueue only launches (cublasLtMatmul, the fill and epilogue kernels); errors name the node. A
// failure in the selection other than a candidate's own (allocation, the reference run, a broken
// context) is an error naming the node. Integer MatMul is not supported (neither is it on the CPU
// reference).
#include "kernels_gemm.h"

#include <cublasLt.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cuda_check.h"
#include "cuda_kernel.h"
#include "edgert/fused_activation.h"
#include "epilogue.h"
#include "fused_activation.h"
#include "kernels_gemv.h"

namespace edgert {
namespace cuda {
namespace {

constexpr uint64_t kMaxWorkspaceBytes = uint64_t{32} << 20;
// The heuristic is always asked for kMaxCandidates results, so that every level's candidate list
// is a prefix of the same list (a tactic index means the same algorithm at every level).
constexpr int kMaxCandidates = 32;
// Candidates per CudaOpContext::tactic_level (0, 1, 2).
constexpr int kCandidatesPerLevel[] = {1, 8, 32};
// Tactic timing: untimed warm-up runs, then timed runs (the median counts).
constexpr int kWarmupRuns = 2;
constexpr int kTimedRuns = 7;
constexpr uint32_t kAssumedAlignment = 256;
// The own matrix-vector kernel's fixed place in a Gemm candidate list, and the most rows it is a
// candidate for (it reads W once per 4 rows).
constexpr int kGemvTactic = 1;
constexpr int64_t kGemvMaxTacticRows = 8;

// RAII for the cuBLASLt descriptors.
struct MatmulDescDeleter {
  void operator()(cublasLtMatmulDesc_t d) const { cublasLtMatmulDescDestroy(d); }
};
struct LayoutDeleter {
  void operator()(cublasLtMatrixLayout_t l) const { cublasLtMatrixLayoutDestroy(l); }
};
struct PreferenceDeleter {
  void operator()(cublasLtMatmulPreference_t p) const { cublasLtMatmulPreferenceDestroy(p); }
};
using MatmulDescPtr = std::unique_ptr<std::remove_pointer_t<cublasLtMatmulDesc_t>, MatmulDescDeleter>;
using LayoutPtr = std::unique_ptr<std::remove_pointer_t<cublasLtMatrixLayout_t>, LayoutDeleter>;
using PreferencePtr = std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>, PreferenceDeleter>;

// The largest power of two <= 256 dividing `base` (kAssumedAlignment when unknown) and every value
// of `byte_offsets`.
uint32_t Alignment(const void* base, const std::vector<int64_t>& byte_offsets) {
  uint64_t bits = base == nullptr ? kAssumedAlignment : static_cast<uint64_t>(reinterpret_cast<uintptr_t>(base));
  for (int64_t off : byte_offsets) bits |= static_cast<uint64_t>(off);
  bits |= kAssumedAlignment;
  return static_cast<uint32_t>(bits & (~bits + 1));
}

// One cuBLASLt matmul in edgert's row-major terms: D[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C
// (C with D's layout; the same buffer as D or not), `batch` times with element strides.
struct MatmulSpec {
  cudaDataType_t type = CUDA_R_32F;
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_d = 0;
  float alpha = 1.0f, beta = 0.0f;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  uint32_t align_a = kAssumedAlignment, align_b = kAssumedAlignment, align_c = kAssumedAlignment,
           align_d = kAssumedAlignment;
  uint64_t max_workspace = kMaxWorkspaceBytes;  // min(kMaxWorkspaceBytes, CudaOpContext::max_workspace_bytes)
};

const char* EpilogueName(cublasLtEpilogue_t e) {
  switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT:
      return "DEFAULT";
    case CUBLASLT_EPILOGUE_BIAS:
      return "BIAS";
    case CUBLASLT_EPILOGUE_RELU:
      return "RELU";
    case CUBLASLT_EPILOGUE_RELU_BIAS:
      return "RELU_BIAS";
    case CUBLASLT_EPILOGUE_GELU:
      return "GELU";
    case CUBLASLT_EPILOGUE_GELU_BIAS:
      return "GELU_BIAS";
    default:
      return "other";
  }
}

std::string SpecString(const MatmulSpec& s) {
  return "M=" + std::to_string(s.m) + " N=" + std::to_string(s.n) + " K=" + std::to_string(s.k) +
         " transA=" + std::to_string(s.trans_a) + " transB=" + std::to_string(s.trans_b) +
         " batch=" + std::to_string(s.batch) + " dtype=" + (s.type == CUDA_R_16F ? "float16" : "float32") +
         " epilogue=" + EpilogueName(s.epilogue);
}

// The tile of a cublasLtMatmulTile_t ("128x64"); "#<id>" for the rarer shapes.
std::string TileName(uint32_t tile) {
  switch (static_cast<cublasLtMatmulTile_t>(tile)) {
    case CUBLASLT_MATMUL_TILE_8x8:
      return "8x8";
    case CUBLASLT_MATMUL_TILE_8x16:
      return "8x16";
    case CUBLASLT_MATMUL_TILE_16x8:
      return "16x8";
    case CUBLASLT_MATMUL_TILE_8x32:
      return "8x32";
    case CUBLASLT_MATMUL_TILE_16x16:
      return "16x16";
    case CUBLASLT_MATMUL_TILE_32x8:
      return "32x8";
    case CUBLASLT_MATMUL_TILE_8x64:
      return "8x64";
    case CUBLASLT_MATMUL_TILE_16x32:
      return "16x32";
    case CUBLASLT_MATMUL_TILE_32x16:
      return "32x16";
    case CUBLASLT_MATMUL_TILE_64x8:
      return "64x8";
    case CUBLASLT_MATMUL_TILE_32x32:
      return "32x32";
    case CUBLASLT_MATMUL_TILE_32x64:
      return "32x64";
    case CUBLASLT_MATMUL_TILE_64x32:
      return "64x32";
    case CUBLASLT_MATMUL_TILE_32x128:
      return "32x128";
    case CUBLASLT_MATMUL_TILE_64x64:
      return "64x64";
    case CUBLASLT_MATMUL_TILE_128x32:
      return "128x32";
    case CUBLASLT_MATMUL_TILE_64x128:
      return "64x128";
    case CUBLASLT_MATMUL_TILE_128x64:
      return "128x64";
    case CUBLASLT_MATMUL_TILE_64x256:
      return "64x256";
    case CUBLASLT_MATMUL_TILE_128x128:
      return "128x128";
    case CUBLASLT_MATMUL_TILE_256x64:
      return "256x64";
    case CUBLASLT_MATMUL_TILE_64x512:
      return "64x512";
    case CUBLASLT_MATMUL_TILE_128x256:
      return "128x256";
    case CUBLASLT_MATMUL_TILE_256x128:
      return "256x128";
    case CUBLASLT_MATMUL_TILE_512x64:
      return "512x64";
    case CUBLASLT_MATMUL_TILE_64x96:
      return "64x96";
    case CUBLASLT_MATMUL_TILE_96x64:
      return "96x64";
    case CUBLASLT_MATMUL_TILE_96x128:
      return "96x128";
    case CUBLASLT_MATMUL_TILE_128x160:
      return "128x160";
    case CUBLASLT_MATMUL_TILE_160x128:
      return "160x128";
    case CUBLASLT_MATMUL_TILE_192x128:
      return "192x128";
    case CUBLASLT_MATMUL_TILE_128x192:
      return "128x192";
    case CUBLASLT_MATMUL_TILE_128x96:
      return "128x96";
    case CUBLASLT_MATMUL_TILE_32x256:
      return "32x256";
    case CUBLASLT_MATMUL_TILE_256x32:
      return "256x32";
    default:
      break;
  }
  return "#" + std::to_string(tile);
}

// The descriptors and chosen algorithm of one MatmulSpec (see the file comment for the mapping).
class LtMatmul {
 public:
  // Builds the descriptors and asks the heuristic, keeping up to `max_candidates` (1..kMaxCandidates)
  // of the algorithms it returns that succeed and fit the workspace cap, in its order; candidate 0
  // is chosen. *found is false (and the status Ok) when none fits. Errors are the failing cuBLASLt
  // call.
  Status Init(cublasLtHandle_t handle, const MatmulSpec& spec, const void* bias, int max_candidates, bool* found) {
    *found = false;
    handle_ = handle;
    spec_ = spec;
    cublasLtMatmulDesc_t desc = nullptr;
    EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    desc_.reset(desc);
    // cuBLASLt's A is edgert's B and vice versa.
    const cublasOperation_t op_lt_a = spec.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_lt_b = spec.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    EDGERT_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_lt_a, sizeof(op_lt_a)));
    EDGERT_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_lt_b, sizeof(op_lt_b)));
    EDGERT_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &spec.epilogue, sizeof(spec.epilogue)));
    if (bias != nullptr) {
      EDGERT_CUBLAS_RETURN_IF_ERROR(
          cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
    }
    const uint64_t m = static_cast<uint64_t>(spec.m), n = static_cast<uint64_t>(spec.n),
                   k = static_cast<uint64_t>(spec.k);
    // Stored (pre-op) shapes, column-major: edgert B [K,N] row-major = col-major [N,K] ld N; with
    // transB it is [N,K] row-major = col-major [K,N] ld K. Likewise for A with M.
    EDGERT_RETURN_IF_ERROR(MakeLayout(spec.trans_b ? k : n, spec.trans_b ? n : k, spec.trans_b ? spec.k : spec.n,
                                      spec.stride_b, &layout_lt_a_));
    EDGERT_RETURN_IF_ERROR(MakeLayout(spec.trans_a ? m : k, spec.trans_a ? k : m, spec.trans_a ? spec.m : spec.k,
                                      spec.stride_a, &layout_lt_b_));
    EDGERT_RETURN_IF_ERROR(MakeLayout(n, m, spec.n, spec.stride_d, &layout_d_));

    cublasLtMatmulPreference_t pref = nullptr;
    EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
    PreferencePtr pref_owner(pref);
    const uint64_t max_ws = spec.max_workspace;
    EDGERT_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws, sizeof(max_ws)));
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, spec.align_b},  // cuBLASLt's A is edgert's B
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, spec.align_a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, spec.align_c},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, spec.align_d},
    };
    for (const auto& [attr, value] : aligns) {
      EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)));
    }
    std::vector<cublasLtMatmulHeuristicResult_t> results(static_cast<size_t>(kMaxCandidates));
    int returned = 0;
    // A refusal of the heuristic (NOT_SUPPORTED, or INVALID_VALUE for a combination this cuBLASLt
    // version rejects) means "no algorithm": the caller tries a simpler form.
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(handle, desc, layout_lt_a_.get(), layout_lt_b_.get(), layout_d_.get(),
                                       layout_d_.get(), pref, kMaxCandidates, results.data(), &returned);
    if (st != CUBLAS_STATUS_SUCCESS) {
      heuristic_status_ = cublasLtGetStatusName(st);
      return Status::Ok();
    }
    heuristic_status_ = "no algorithm returned";
    for (int i = 0; i < returned && static_cast<int>(candidates_.size()) < max_candidates; ++i) {
      const cublasLtMatmulHeuristicResult_t& r = results[static_cast<size_t>(i)];
      if (r.state != CUBLAS_STATUS_SUCCESS || r.workspaceSize > spec.max_workspace) continue;
      candidates_.push_back(Candidate{r.algo, r.workspaceSize});
    }
    if (candidates_.empty()) return Status::Ok();
    Choose(0);
    *found = true;
    return Status::Ok();
  }

  // The candidates kept by Init (heuristic order; 0 = the default), until KeepChosen.
  int num_candidates() const { return static_cast<int>(candidates_.size()); }
  // The largest workspace any candidate needs.
  size_t max_workspace_bytes() const {
    size_t bytes = 0;
    for (const Candidate& c : candidates_) bytes = std::max(bytes, c.workspace_bytes);
    return bytes;
  }
  // Makes candidate `index` (< num_candidates()) the algorithm Enqueue uses.
  void Choose(int index) {
    algo_ = candidates_[static_cast<size_t>(index)].algo;
    workspace_bytes_ = candidates_[static_cast<size_t>(index)].workspace_bytes;
  }
  // Drops the candidate list; the chosen algorithm stays.
  void KeepChosen() {
    candidates_.clear();
    candidates_.shrink_to_fit();
  }
  // "id 21, tile 128x64, stages 12, splitK 1" for the chosen algorithm (the fields cuBLASLt reports).
  std::string AlgoString() const {
    int32_t id = -1, split_k = 1;
    uint32_t tile = 0, stages = 0;
    size_t written = 0;
    std::string text;
    if (cublasLtMatmulAlgoConfigGetAttribute(&algo_, CUBLASLT_ALGO_CONFIG_ID, &id, sizeof(id), &written) ==
        CUBLAS_STATUS_SUCCESS) {
      text = "id " + std::to_string(id);
    }
    if (cublasLtMatmulAlgoConfigGetAttribute(&algo_, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &written) ==
            CUBLAS_STATUS_SUCCESS &&
        tile != CUBLASLT_MATMUL_TILE_UNDEFINED) {
      text += ", tile " + TileName(tile);
    }
    if (cublasLtMatmulAlgoConfigGetAttribute(&algo_, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages),
                                             &written) == CUBLAS_STATUS_SUCCESS &&
        stages != CUBLASLT_MATMUL_STAGES_UNDEFINED) {
      text += ", stages " + std::to_string(stages);
    }
    if (cublasLtMatmulAlgoConfigGetAttribute(&algo_, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &split_k, sizeof(split_k),
                                             &written) == CUBLAS_STATUS_SUCCESS &&
        split_k > 1) {
      text += ", splitK " + std::to_string(split_k);
    }
    if (text.rfind(", ", 0) == 0) text.erase(0, 2);
    return text;
  }

  const MatmulSpec& spec() const { return spec_; }
  size_t workspace_bytes() const { return workspace_bytes_; }
  // Why Init found nothing: the heuristic's status name.
  const std::string& heuristic_status() const { return heuristic_status_; }

  // D = alpha * op(A) op(B) + beta * C; `c` has D's layout (may be `d`).
  Status Enqueue(cudaStream_t stream, const void* a, const void* b, const void* c, void* d, void* workspace) const {
    // cuBLASLt's A is edgert's B.
    EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle_, desc_.get(), &spec_.alpha, b, layout_lt_a_.get(), a,
                                                 layout_lt_b_.get(), &spec_.beta, c, layout_d_.get(), d,
                                                 layout_d_.get(), &algo_, workspace, workspace_bytes_, stream));
    return Status::Ok();
  }

 private:
  Status MakeLayout(uint64_t rows, uint64_t cols, int64_t ld, int64_t batch_stride, LayoutPtr* out) const {
    cublasLtMatrixLayout_t layout = nullptr;
    EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&layout, spec_.type, rows, cols, ld));
    out->reset(layout);
    if (spec_.batch > 1) {
      const int32_t count = static_cast<int32_t>(spec_.batch);
      EDGERT_CUBLAS_RETURN_IF_ERROR(
          cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
      EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(
          layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &batch_stride, sizeof(batch_stride)));
    }
    return Status::Ok();
  }

  struct Candidate {
    cublasLtMatmulAlgo_t algo;
    size_t workspace_bytes;
  };

  cublasLtHandle_t handle_ = nullptr;
  MatmulSpec spec_;
  MatmulDescPtr desc_;
  LayoutPtr layout_lt_a_, layout_lt_b_, layout_d_;
  std::vector<Candidate> candidates_;
  cublasLtMatmulAlgo_t algo_ = {};
  size_t workspace_bytes_ = 0;
  std::string heuristic_status_;
};

// Element offsets of one cublasLtMatmul launch (MatMul batch groups).
struct CallOffsets {
  int64_t a = 0, b = 0, d = 0;
};

// A device buffer the tactic pass fills with test data (a non-constant input of the layer).
struct FillTarget {
  void* data = nullptr;
  int64_t elements = 0;
};

// Owns what one tactic selection allocates; the destructor waits for the stream and frees all.
class TacticScratch {
 public:
  TacticScratch() = default;
  TacticScratch(const TacticScratch&) = delete;
  TacticScratch& operator=(const TacticScratch&) = delete;
  ~TacticScratch() {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    for (cudaEvent_t e : events_) cudaEventDestroy(e);
    if (reference_ != nullptr) cudaFree(reference_);
    if (workspace_ != nullptr) cudaFree(workspace_);
    if (sums_ != nullptr) cudaFree(sums_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // A private (blocking) stream, kTimedRuns + 1 timing events, the reference output buffer, the
  // workspace and the comparison sums.
  Status Init(size_t output_bytes, size_t workspace_bytes) {
    EDGERT_CUDA_RETURN_IF_ERROR(cudaStreamCreate(&stream_));
    events_.assign(kTimedRuns + 1, nullptr);
    for (cudaEvent_t& e : events_) EDGERT_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e));
    EDGERT_CUDA_RETURN_IF_ERROR(cudaMalloc(&reference_, output_bytes));
    if (workspace_bytes > 0) EDGERT_CUDA_RETURN_IF_ERROR(cudaMalloc(&workspace_, workspace_bytes));
    EDGERT_CUDA_RETURN_IF_ERROR(cudaMalloc(reinterpret_cast<void**>(&sums_), 3 * sizeof(double)));
    return Status::Ok();
  }

  cudaStream_t stream() const { return stream_; }
  const std::vector<cudaEvent_t>& events() const { return events_; }
  void* reference() const { return reference_; }
  void* workspace() const { return workspace_; }
  double* sums() const { return sums_; }

 private:
  cudaStream_t stream_ = nullptr;
  std::vector<cudaEvent_t> events_;
  void* reference_ = nullptr;
  void* workspace_ = nullptr;
  double* sums_ = nullptr;
};

// What one Gemm/MatMul layer does on each Enqueue, in order:
//   1. fill: D = fill_scale * broadcast(fill_src) (or zeros when fill_src is null);
//   2. the matmul launches (one per CallOffsets, all with the plan's one algorithm), C = c_ or D in
//      place;
//   3. post: D = act(D) through EnqueueEpilogue.
class GemmKernel : public CudaKernel {
 public:
  struct Config {
    std::string where;  // "<Op> node '<name>': "
    std::string node;
    DataType dtype = DataType::kFloat32;
    const void* a = nullptr;
    const void* b = nullptr;
    const void* c = nullptr;  // C matrix of D's layout, or nullptr for C = D
    void* d = nullptr;
    int64_t rows = 0, cols = 0;  // the output viewed as row-major [rows, cols]
    bool fill = false;
    const void* fill_src = nullptr;
    int64_t fill_row_stride = 0, fill_col_stride = 0;
    float fill_scale = 1.0f;
    bool matmul = false;
    std::vector<CallOffsets> calls;
    FusedEpilogue post;
    std::string post_name;  // the activation run by `post`, for Describe
    // The own matrix-vector kernel as candidate kGemvTactic (file comment); unused when !gemv.
    bool gemv = false;
    GemvShape gemv_shape;
    const void* gemv_bias = nullptr;  // C's [N] vector, scaled by gemv_shape.beta; may be null
    FusedEpilogue gemv_act;
    bool gemv_weights_constant = false;
  };

  GemmKernel(Config config, std::unique_ptr<LtMatmul> plan) : cfg_(std::move(config)), plan_(std::move(plan)) {
    elem_size_ = DataTypeSize(cfg_.dtype);
  }

  size_t WorkspaceBytes() const override {
    return plan_ != nullptr && !use_gemv_ ? plan_->workspace_bytes() : 0;
  }
  void SetWorkspace(void* workspace) override { workspace_ = workspace; }

  Status Enqueue(cudaStream_t stream) override {
    if (cfg_.rows * cfg_.cols == 0) return Status::Ok();
    if (use_gemv_) {
      return Named(EnqueueGemvFp16(stream, cfg_.gemv_shape, cfg_.a, cfg_.b, cfg_.gemv_bias, cfg_.d, cfg_.gemv_act,
                                   cfg_.gemv_weights_constant));
    }
    if (cfg_.fill) {
      Status s = EnqueueBroadcastFill(stream, cfg_.dtype, cfg_.d, cfg_.rows, cfg_.cols, cfg_.fill_src,
                                      cfg_.fill_row_stride, cfg_.fill_col_stride, cfg_.fill_scale);
      if (!s.ok()) return Named(s);
    }
    if (cfg_.matmul) {
      const char* a = static_cast<const char*>(cfg_.a);
      const char* b = static_cast<const char*>(cfg_.b);
      char* d = static_cast<char*>(cfg_.d);
      for (const CallOffsets& call : cfg_.calls) {
        char* dc = d + call.d * static_cast<int64_t>(elem_size_);
        Status s = plan_->Enqueue(stream, a + call.a * static_cast<int64_t>(elem_size_),
                                  b + call.b * static_cast<int64_t>(elem_size_), cfg_.c != nullptr ? cfg_.c : dc, dc,
                                  workspace_);
        if (!s.ok()) return Named(s);
      }
    }
    if (cfg_.post.kind != FusedEpilogue::Kind::kNone) {
      Status s = EnqueueEpilogue(stream, cfg_.dtype, cfg_.d, cfg_.rows * cfg_.cols, nullptr, 1, 1, nullptr, cfg_.post);
      if (!s.ok()) return Named(s);
    }
    return Status::Ok();
  }

  int Tactic() const override { return tactic_; }
  TacticReport Tactics() const override { return report_; }

  std::string Describe() const override {
    if (plan_ == nullptr) {
      if (cfg_.rows * cfg_.cols == 0) return "empty output";
      return std::string("no matmul (K == 0): beta * C or zeros") +
             (cfg_.post_name.empty() ? "" : ", then " + cfg_.post_name);
    }
    const MatmulSpec& spec = plan_->spec();
    std::string text;
    if (use_gemv_) {
      text = "gemv tactic " + std::to_string(tactic_) + "/" + std::to_string(num_candidates_) +
             " (own kernel, a warp per output column" + (cfg_.gemv_bias != nullptr ? ", bias" : "") +
             (cfg_.gemv_act.kind != FusedEpilogue::Kind::kNone ? ", activation" : "") + " inline" +
             (cfg_.gemv_weights_constant ? ", weights read before the wait" : "") + ")";
    } else {
      text = "cublasLt algo " + std::to_string(tactic_) + "/" + std::to_string(num_candidates_) + " (" +
             plan_->AlgoString() + ", " + EpilogueName(spec.epilogue) + ")";
      if (spec.batch > 1) text += ", batch " + std::to_string(spec.batch);
      if (cfg_.calls.size() > 1) text += ", " + std::to_string(cfg_.calls.size()) + " calls";
      if (cfg_.fill) text += ", C broadcast first";
      if (!cfg_.post_name.empty()) text += ", " + cfg_.post_name + " kernel after";
    }
    if (report_.timed > 0) {
      text += ", " + Ms(report_.chosen_ms) + " ms (default " + Ms(report_.default_ms) + " ms; " +
              std::to_string(report_.timed) + " timed";
      if (report_.rejected > 0) text += ", " + std::to_string(report_.rejected) + " rejected";
      if (failed_ > 0) text += ", " + std::to_string(failed_) + " failed";
      text += ")";
    }
    return text;
  }

  int num_candidates() const { return num_candidates_; }

  // Picks the algorithm (file comment, creation steps 3-4) and drops the other candidates. `fills`:
  // the non-constant inputs, written with test data only when timing.
  Status ChooseTactic(const CudaOpContext& ctx, const std::vector<FillTarget>& fills) {
    if (plan_ == nullptr) return Status::Ok();
    num_candidates_ = plan_->num_candidates() + (cfg_.gemv ? 1 : 0);
    int chosen = ctx.tactic >= 0 && ctx.tactic < num_candidates_ ? ctx.tactic : 0;
    if (ctx.select_tactics && !ctx.dry_run && ctx.tactic_level > 0) {
      EDGERT_ASSIGN_OR_RETURN(chosen, SelectFastest(fills));
    }
    Select(chosen);
    plan_->KeepChosen();
    tactic_ = chosen;
    return Status::Ok();
  }

 private:
  Status Named(const Status& s) const {
    return s.ok() ? s : Status(s.code(), cfg_.where + s.message(), cfg_.node);
  }

  // Makes candidate `index` the one Enqueue runs: the own kernel at kGemvTactic, else the cuBLASLt
  // algorithm it stands for.
  void Select(int index) {
    use_gemv_ = cfg_.gemv && index == kGemvTactic;
    if (!use_gemv_) plan_->Choose(cfg_.gemv && index > kGemvTactic ? index - 1 : index);
  }

  static std::string Ms(double ms) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.4g", ms);
    return buf;
  }

  // Times every candidate (the whole layer's Enqueue, on test data) and returns the index of the
  // fastest whose output matches candidate 0's; fills report_ and failed_.
  StatusOr<int> SelectFastest(const std::vector<FillTarget>& fills) {
    const int64_t elements = cfg_.rows * cfg_.cols;
    TacticScratch scratch;
    Status s = scratch.Init(static_cast<size_t>(elements) * elem_size_, plan_->max_workspace_bytes());
    if (!s.ok()) return Named(s);
    const cudaStream_t stream = scratch.stream();
    for (size_t i = 0; i < fills.size(); ++i) {
      s = EnqueueTacticFill(stream, cfg_.dtype, fills[i].data, fills[i].elements, 0x5EED0000u + i);
      if (!s.ok()) return Named(s);
    }
    workspace_ = scratch.workspace();
    Select(0);
    // The reference: candidate 0, the algorithm inference would use without tactics (if it does
    // not run, inference would fail the same way: an error).
    s = Enqueue(stream);
    if (s.ok()) {
      s = Named(CudaCall(cudaMemcpyAsync(scratch.reference(), cfg_.d, static_cast<size_t>(elements) * elem_size_,
                                         cudaMemcpyDeviceToDevice, stream),
                         "cudaMemcpyAsync (tactic reference)"));
    }
    if (s.ok()) s = Named(CudaCall(cudaStreamSynchronize(stream), "cudaStreamSynchronize (tactic reference)"));
    if (!s.ok()) {
      workspace_ = nullptr;
      return s;
    }
    int best = 0;
    double best_ms = 0;
    report_.candidates.resize(static_cast<size_t>(num_candidates_));
    for (int i = 0; i < num_candidates_; ++i) {
      Select(i);
      TacticCandidateTime& record = report_.candidates[static_cast<size_t>(i)];
      record.label = cfg_.gemv && i == kGemvTactic ? "gemv" : "cublasLt algo " + std::to_string(i);
      const auto started = std::chrono::steady_clock::now();
      StatusOr<double> ms = TimeLayer(scratch);
      record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (!ms.ok()) {
        // A candidate that cannot run is skipped, unless the context itself is broken.
        cudaGetLastError();
        const cudaError_t sync = cudaStreamSynchronize(stream);
        if (sync != cudaSuccess) {
          workspace_ = nullptr;
          return Named(CudaStatus(sync, "cudaStreamSynchronize (tactic timing)"));
        }
        ++failed_;
        continue;
      }
      if (i > 0) {
        StatusOr<bool> same = MatchesReference(scratch, elements);
        if (!same.ok()) {
          workspace_ = nullptr;
          return same.status();
        }
        if (!*same) {
          ++report_.rejected;
          record.rejected = true;
          continue;
        }
      } else {
        report_.default_ms = *ms;
      }
      record.ms = *ms;
      ++report_.timed;
      if (report_.timed == 1 || *ms < best_ms) {
        best = i;
        best_ms = *ms;
      }
    }
    workspace_ = nullptr;
    report_.chosen_ms = report_.timed > 0 ? best_ms : 0.0;
    return best;
  }

  // kWarmupRuns runs, then kTimedRuns runs between events; the median time of one run in ms.
  StatusOr<double> TimeLayer(const TacticScratch& scratch) {
    const cudaStream_t stream = scratch.stream();
    const std::vector<cudaEvent_t>& events = scratch.events();
    for (int r = 0; r < kWarmupRuns; ++r) EDGERT_RETURN_IF_ERROR(Enqueue(stream));
    EDGERT_RETURN_IF_ERROR(CudaCall(cudaEventRecord(events[0], stream), "cudaEventRecord"));
    for (int r = 0; r < kTimedRuns; ++r) {
      EDGERT_RETURN_IF_ERROR(Enqueue(stream));
      EDGERT_RETURN_IF_ERROR(
          CudaCall(cudaEventRecord(events[static_cast<size_t>(r) + 1], stream), "cudaEventRecord"));
    }
    EDGERT_RETURN_IF_ERROR(CudaCall(cudaEventSynchronize(events.back()), "cudaEventSynchronize"));
    std::vector<double> times;
    for (int r = 0; r < kTimedRuns; ++r) {
      float ms = 0;
      EDGERT_RETURN_IF_ERROR(CudaCall(
          cudaEventElapsedTime(&ms, events[static_cast<size_t>(r)], events[static_cast<size_t>(r) + 1]),
          "cudaEventElapsedTime"));
      times.push_back(ms);
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  }

  // Whether the output (left by the last timed run) matches the reference (CompareSumsMatch).
  StatusOr<bool> MatchesReference(const TacticScratch& scratch, int64_t elements) {
    const cudaStream_t stream = scratch.stream();
    Status s = EnqueueCompare(stream, cfg_.dtype, cfg_.d, scratch.reference(), elements, scratch.sums());
    double sums[3] = {0, 0, 0};
    if (s.ok()) {
      s = CudaCall(cudaMemcpyAsync(sums, scratch.sums(), sizeof(sums), cudaMemcpyDeviceToHost, stream),
                   "cudaMemcpyAsync (tactic check)");
    }
    if (s.ok()) s = CudaCall(cudaStreamSynchronize(stream), "cudaStreamSynchronize (tactic check)");
    if (!s.ok()) return Named(s);
    return CompareSumsMatch(sums, cfg_.dtype);
  }

  static Status CudaCall(cudaError_t err, const char* what) {
    return err == cudaSuccess ? Status::Ok() : CudaStatus(err, what);
  }

  Config cfg_;
  std::unique_ptr<LtMatmul> plan_;
  size_t elem_size_ = 4;
  void* workspace_ = nullptr;
  int tactic_ = -1;
  bool use_gemv_ = false;
  int num_candidates_ = 0;
  int failed_ = 0;
  TacticReport report_;
};

std::string Where(const CudaOpContext& ctx) {
  return std::string(OpTypeName(ctx.op->op())) + " node '" + ctx.name() + "': ";
}

Status NameError(const CudaOpContext& ctx, const Status& s) {
  return Status(s.code(), Where(ctx) + s.message(), ctx.name());
}

// The float device dtype shared by the inputs and the output, as a cuBLASLt type.
StatusOr<cudaDataType_t> CommonType(const CudaOpContext& ctx, size_t num_inputs) {
  const DataType dtype = ctx.output(0).dtype;
  for (size_t i = 0; i < num_inputs; ++i) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input(i).dtype != dtype) {
      return ctx.NotSupported("input " + std::to_string(i) + " is " + DataTypeName(ctx.input(i).dtype) +
                              " on the device while the output is " + DataTypeName(dtype));
    }
  }
  if (dtype == DataType::kFloat32) return CUDA_R_32F;
  if (dtype == DataType::kFloat16) return CUDA_R_16F;
  return ctx.NotSupported(std::string("has no CUDA kernel for dtype ") + DataTypeName(dtype) +
                          " (float32 and float16 only)");
}

cublasLtHandle_t Handle(const CudaOpContext& ctx) {
  return ctx.resources != nullptr ? static_cast<cublasLtHandle_t>(ctx.resources->cublaslt) : nullptr;
}

// How many heuristic results a layer chooses among: the tactic level's count, enough to reach a
// forced ctx.tactic, at most kMaxCandidates.
int CandidateLimit(const CudaOpContext& ctx) {
  const int level = std::clamp(ctx.tactic_level, 0, 2);
  int limit = kCandidatesPerLevel[level];
  if (ctx.tactic >= 0 && !ctx.select_tactics) limit = std::max(limit, ctx.tactic + 1);
  return std::min(limit, kMaxCandidates);
}

// The kernel for `cfg` and `plan` (nullptr: no matmul) with its algorithm chosen (ChooseTactic).
StatusOr<CudaKernelPtr> MakeKernel(const CudaOpContext& ctx, GemmKernel::Config cfg, std::unique_ptr<LtMatmul> plan) {
  auto kernel = std::make_unique<GemmKernel>(std::move(cfg), std::move(plan));
  std::vector<FillTarget> fills;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i) || ctx.input(i).is_constant() || ctx.input(i).data == nullptr) continue;
    fills.push_back(FillTarget{ctx.input(i).data, ctx.input(i).num_elements()});
  }
  EDGERT_RETURN_IF_ERROR(kernel->ChooseTactic(ctx, fills));
  return CudaKernelPtr(std::move(kernel));
}

// The activation attribute's value ("" when absent), for Describe.
std::string ActivationName(const CudaOpContext& ctx) {
  StatusOr<std::string> name = ctx.op->attrs().GetStringOr(kActivationAttr, "");
  return name.ok() ? *name : std::string();
}

// Tries `spec` and returns the plan, or nullptr when the heuristic offers nothing (its reason in
// *why).
StatusOr<std::unique_ptr<LtMatmul>> TryPlan(const CudaOpContext& ctx, const MatmulSpec& spec, const void* bias,
                                            std::string* why) {
  auto plan = std::make_unique<LtMatmul>();
  bool found = false;
  Status s = plan->Init(Handle(ctx), spec, bias, CandidateLimit(ctx), &found);
  if (!s.ok()) return NameError(ctx, s);
  if (!found) {
    *why = plan->heuristic_status();
    return std::unique_ptr<LtMatmul>();
  }
  return plan;
}

Status NoAlgorithm(const CudaOpContext& ctx, const MatmulSpec& spec, const std::string& why) {
  return ctx.NotSupported("cuBLASLt offers no algorithm for " + SpecString(spec) + " (alignments A " +
                          std::to_string(spec.align_a) + ", B " + std::to_string(spec.align_b) + ", D " +
                          std::to_string(spec.align_d) + " bytes; cublasLtMatmulAlgoGetHeuristic: " + why + ")");
}

// ---------------------------------------------------------------------------------------------
// Gemm

StatusOr<CudaKernelPtr> CreateGemm(const CudaOpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(cudaDataType_t type, CommonType(ctx, 3));
  const Attributes& attrs = ctx.op->attrs();
  EDGERT_ASSIGN_OR_RETURN(int64_t trans_a, attrs.GetIntOr("transA", 0, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(int64_t trans_b, attrs.GetIntOr("transB", 0, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(float alpha, attrs.GetFloatOr("alpha", 1.0f, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(float beta, attrs.GetFloatOr("beta", 1.0f, ctx.name()));
  EDGERT_ASSIGN_OR_RETURN(FusedEpilogue act, ParseFusedEpilogue(*ctx.op));
  const Shape& a_shape = ctx.input(0).shape;
  const Shape& b_shape = ctx.input(1).shape;
  const Shape& y_shape = ctx.output(0).shape;
  if (a_shape.size() != 2 || b_shape.size() != 2 || y_shape.size() != 2) {
    return ctx.Error("expects matrices, got A " + ShapeToString(a_shape) + ", B " + ShapeToString(b_shape) + ", Y " +
                     ShapeToString(y_shape));
  }
  MatmulSpec spec;
  spec.type = type;
  spec.max_workspace = std::min<uint64_t>(kMaxWorkspaceBytes, ctx.max_workspace_bytes);
  spec.trans_a = trans_a != 0;
  spec.trans_b = trans_b != 0;
  spec.m = spec.trans_a ? a_shape[1] : a_shape[0];
  spec.k = spec.trans_a ? a_shape[0] : a_shape[1];
  spec.n = spec.trans_b ? b_shape[0] : b_shape[1];
  const int64_t kb = spec.trans_b ? b_shape[1] : b_shape[0];
  if (kb != spec.k || y_shape[0] != spec.m || y_shape[1] != spec.n) {
    return ctx.Error("shapes do not agree: A " + ShapeToString(a_shape) + ", B " + ShapeToString(b_shape) + ", Y " +
                     ShapeToString(y_shape) + ", transA " + std::to_string(trans_a) + ", transB " +
                     std::to_string(trans_b));
  }
  spec.alpha = alpha;

  GemmKernel::Config cfg;
  cfg.where = Where(ctx);
  cfg.node = ctx.name();
  cfg.dtype = ctx.output(0).dtype;
  cfg.a = ctx.input(0).data;
  cfg.b = ctx.input(1).data;
  cfg.d = ctx.output(0).data;
  cfg.rows = spec.m;
  cfg.cols = spec.n;
  cfg.calls.push_back(CallOffsets{});

  // C as seen by the output: strides over [M, N] (0 = broadcast).
  const bool with_c = ctx.has_input(2) && beta != 0.0f;
  int64_t c_row_stride = 0, c_col_stride = 0;
  const void* c_data = nullptr;
  if (with_c) {
    Shape c2 = ctx.input(2).shape;
    if (c2.size() > 2) return ctx.Error("input C has shape " + ShapeToString(c2) + ", expected rank <= 2");
    while (c2.size() < 2) c2.insert(c2.begin(), 1);
    if ((c2[0] != 1 && c2[0] != spec.m) || (c2[1] != 1 && c2[1] != spec.n)) {
      return ctx.Error("input C has shape " + ShapeToString(ctx.input(2).shape) + ", which does not broadcast to " +
                       ShapeToString(y_shape));
    }
    c_row_stride = c2[0] == 1 ? 0 : c2[1];
    c_col_stride = c2[1] == 1 ? 0 : 1;
    c_data = ctx.input(2).data;
  }
  const bool c_full = with_c && c_row_stride == spec.n && c_col_stride == 1 && spec.m > 1;
  const bool c_bias = with_c && c_row_stride == 0 && c_col_stride == 1 && beta == 1.0f;

  if (spec.m * spec.n == 0) return MakeKernel(ctx, std::move(cfg), nullptr);
  if (spec.k == 0) {  // Y = act(beta * C) or act(0)
    cfg.fill = true;
    cfg.fill_src = with_c ? c_data : nullptr;
    cfg.fill_row_stride = c_row_stride;
    cfg.fill_col_stride = c_col_stride;
    cfg.fill_scale = beta;
    cfg.post = act;
    if (act.kind != FusedEpilogue::Kind::kNone) cfg.post_name = ActivationName(ctx);
    return MakeKernel(ctx, std::move(cfg), nullptr);
  }

  spec.align_a = Alignment(cfg.a, {});
  spec.align_b = Alignment(cfg.b, {});
  spec.align_d = Alignment(cfg.d, {});
  const bool act_fusable = act.kind == FusedEpilogue::Kind::kRelu || act.kind == FusedEpilogue::Kind::kGeluTanh;
  // Bias pointers must be at least 16-byte aligned to be handed to cuBLASLt here.
  const bool bias_ok = c_bias && Alignment(c_data, {}) >= 16;

  // Candidate forms, most fused first.
  enum class CMode { kNone, kBias, kMatrix, kFill };
  struct Form {
    CMode c_mode;
    bool fuse_act;
  };
  std::vector<Form> forms;
  const CMode base_mode = !with_c ? CMode::kNone : bias_ok ? CMode::kBias : c_full ? CMode::kMatrix : CMode::kFill;
  if (act_fusable) forms.push_back({base_mode, true});
  forms.push_back({base_mode, false});
  if (base_mode == CMode::kBias) {
    if (act_fusable) forms.push_back({CMode::kFill, true});
    forms.push_back({CMode::kFill, false});
  }
  std::unique_ptr<LtMatmul> plan;
  MatmulSpec tried = spec;
  std::string why;
  for (const Form& form : forms) {
    MatmulSpec s = spec;
    const void* bias = nullptr;
    bool with_bias = false;
    switch (form.c_mode) {
      case CMode::kNone:
        s.beta = 0.0f;
        s.align_c = s.align_d;
        break;
      case CMode::kBias:
        s.beta = 0.0f;
        s.align_c = s.align_d;
        with_bias = true;
        bias = c_data;
        break;
      case CMode::kMatrix:
        s.beta = beta;
        s.align_c = Alignment(c_data, {});
        break;
      case CMode::kFill:
        s.beta = beta;
        s.align_c = s.align_d;
        break;
    }
    const bool relu = form.fuse_act && act.kind == FusedEpilogue::Kind::kRelu;
    const bool gelu = form.fuse_act && act.kind == FusedEpilogue::Kind::kGeluTanh;
    s.epilogue = relu   ? (with_bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU)
                 : gelu ? (with_bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU)
                        : (with_bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT);
    tried = s;
    EDGERT_ASSIGN_OR_RETURN(plan, TryPlan(ctx, s, bias, &why));
    if (plan == nullptr) continue;
    if (form.c_mode == CMode::kMatrix) cfg.c = c_data;
    if (form.c_mode == CMode::kFill) {
      cfg.fill = true;
      cfg.fill_src = c_data;
      cfg.fill_row_stride = c_row_stride;
      cfg.fill_col_stride = c_col_stride;
      cfg.fill_scale = 1.0f;
    }
    if (!form.fuse_act) {
      cfg.post = act;
      if (act.kind != FusedEpilogue::Kind::kNone) cfg.post_name = ActivationName(ctx);
    }
    cfg.matmul = true;
    break;
  }
  if (plan == nullptr) return NoAlgorithm(ctx, tried, why);
  // The own matrix-vector kernel (file comment).
  const bool c_vector = with_c && c_row_stride == 0 && c_col_stride == 1;
  const GemvShape gemv_shape{spec.m, spec.k, spec.n, alpha, beta};
  cfg.gemv = type == CUDA_R_16F && !spec.trans_a && spec.trans_b && spec.m <= kGemvMaxTacticRows &&
             (!with_c || c_vector) && CandidateLimit(ctx) > 1 && spec.align_a >= 16 && spec.align_b >= 16 &&
             GemvSupported(gemv_shape, nullptr, nullptr);
  if (cfg.gemv) {
    cfg.gemv_shape = gemv_shape;
    cfg.gemv_bias = with_c ? c_data : nullptr;
    cfg.gemv_act = act;
    cfg.gemv_weights_constant = ctx.input(1).is_constant();
  }
  return MakeKernel(ctx, std::move(cfg), std::move(plan));
}

// ---------------------------------------------------------------------------------------------
// MatMul

// One batch dimension of the output with the operands' element strides along it (0 = broadcast).
struct BatchDim {
  int64_t size = 1, a = 0, b = 0, d = 0;
};

StatusOr<CudaKernelPtr> CreateMatMul(const CudaOpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(cudaDataType_t type, CommonType(ctx, 2));
  const Shape& a_shape = ctx.input(0).shape;
  const Shape& b_shape = ctx.input(1).shape;
  if (a_shape.empty() || b_shape.empty()) {
    return ctx.Error("inputs A " + ShapeToString(a_shape) + " and B " + ShapeToString(b_shape) +
                     " must have rank >= 1");
  }
  MatmulSpec spec;
  spec.type = type;
  spec.max_workspace = std::min<uint64_t>(kMaxWorkspaceBytes, ctx.max_workspace_bytes);
  spec.m = a_shape.size() == 1 ? 1 : a_shape[a_shape.size() - 2];
  spec.k = a_shape.back();
  const int64_t kb = b_shape.size() == 1 ? b_shape[0] : b_shape[b_shape.size() - 2];
  spec.n = b_shape.size() == 1 ? 1 : b_shape.back();
  if (kb != spec.k) {
    return ctx.Error("inner dimensions differ: A " + ShapeToString(a_shape) + ", B " + ShapeToString(b_shape));
  }
  Shape a_batch(a_shape.begin(), a_shape.end() - std::min<size_t>(a_shape.size(), 2));
  Shape b_batch(b_shape.begin(), b_shape.end() - std::min<size_t>(b_shape.size(), 2));
  const size_t rank = std::max(a_batch.size(), b_batch.size());
  a_batch.insert(a_batch.begin(), rank - a_batch.size(), 1);
  b_batch.insert(b_batch.begin(), rank - b_batch.size(), 1);

  // Batch dimensions of the output, innermost last, size-1 ones dropped.
  std::vector<BatchDim> dims(rank);
  int64_t sa = spec.m * spec.k, sb = spec.k * spec.n, sd = spec.m * spec.n;
  int64_t total = 1;
  for (size_t i = rank; i-- > 0;) {
    const int64_t da = a_batch[i], db = b_batch[i];
    if (da != db && da != 1 && db != 1) {
      return ctx.Error("batch dimensions of A " + ShapeToString(a_shape) + " and B " + ShapeToString(b_shape) +
                       " do not broadcast");
    }
    BatchDim& bd = dims[i];
    bd.size = std::max(da, db);
    bd.a = da == 1 ? 0 : sa;
    bd.b = db == 1 ? 0 : sb;
    bd.d = sd;
    sa *= da;
    sb *= db;
    sd *= bd.size;
    total *= bd.size;
  }
  if (NumElements(ctx.output(0).shape) != total * spec.m * spec.n) {
    return ctx.Error("output shape " + ShapeToString(ctx.output(0).shape) + " does not match A " +
                     ShapeToString(a_shape) + " x B " + ShapeToString(b_shape));
  }
  std::vector<BatchDim> merged;
  for (const BatchDim& bd : dims) {
    if (bd.size == 1) continue;
    if (!merged.empty()) {
      BatchDim& outer = merged.back();
      if (outer.a == bd.a * bd.size && outer.b == bd.b * bd.size && outer.d == bd.d * bd.size) {
        outer.size *= bd.size;
        outer.a = bd.a;
        outer.b = bd.b;
        outer.d = bd.d;
        continue;
      }
    }
    merged.push_back(bd);
  }

  GemmKernel::Config cfg;
  cfg.where = Where(ctx);
  cfg.node = ctx.name();
  cfg.dtype = ctx.output(0).dtype;
  cfg.a = ctx.input(0).data;
  cfg.b = ctx.input(1).data;
  cfg.d = ctx.output(0).data;
  cfg.rows = total * spec.m;
  cfg.cols = spec.n;
  if (cfg.rows * cfg.cols == 0) return MakeKernel(ctx, std::move(cfg), nullptr);
  if (spec.k == 0) {
    cfg.fill = true;
    return MakeKernel(ctx, std::move(cfg), nullptr);
  }

  // The innermost merged dimension: folded into M when B is broadcast along it, else batched.
  if (!merged.empty()) {
    const BatchDim inner = merged.back();
    merged.pop_back();
    if (inner.b == 0) {
      spec.m *= inner.size;
    } else {
      spec.batch = inner.size;
      spec.stride_a = inner.a;
      spec.stride_b = inner.b;
      spec.stride_d = inner.d;
    }
  }
  const int64_t es = static_cast<int64_t>(DataTypeSize(cfg.dtype));
  // Offsets of the remaining (outer) dimensions, then of the batched one if it must be unrolled.
  auto expand = [](const std::vector<BatchDim>& outer) {
    std::vector<CallOffsets> calls(1);
    for (const BatchDim& bd : outer) {
      std::vector<CallOffsets> next;
      next.reserve(calls.size() * static_cast<size_t>(bd.size));
      for (const CallOffsets& c : calls) {
        for (int64_t i = 0; i < bd.size; ++i)
          next.push_back(CallOffsets{c.a + i * bd.a, c.b + i * bd.b, c.d + i * bd.d});
      }
      calls = std::move(next);
    }
    return calls;
  };
  auto set_alignments = [&](MatmulSpec& s, const std::vector<CallOffsets>& calls) {
    std::vector<int64_t> off_a{s.stride_a * es}, off_b{s.stride_b * es}, off_d{s.stride_d * es};
    for (const CallOffsets& c : calls) {
      off_a.push_back(c.a * es);
      off_b.push_back(c.b * es);
      off_d.push_back(c.d * es);
    }
    s.align_a = Alignment(cfg.a, off_a);
    s.align_b = Alignment(cfg.b, off_b);
    s.align_d = Alignment(cfg.d, off_d);
    s.align_c = s.align_d;
  };

  std::vector<CallOffsets> calls = expand(merged);
  set_alignments(spec, calls);
  std::string why;
  EDGERT_ASSIGN_OR_RETURN(std::unique_ptr<LtMatmul> plan, TryPlan(ctx, spec, nullptr, &why));
  if (plan == nullptr && spec.batch > 1) {  // unroll the batched dimension into separate calls
    MatmulSpec single = spec;
    single.batch = 1;
    single.stride_a = single.stride_b = single.stride_d = 0;
    std::vector<BatchDim> all = merged;
    all.push_back(BatchDim{spec.batch, spec.stride_a, spec.stride_b, spec.stride_d});
    calls = expand(all);
    set_alignments(single, calls);
    spec = single;
    EDGERT_ASSIGN_OR_RETURN(plan, TryPlan(ctx, spec, nullptr, &why));
  }
  if (plan == nullptr) return NoAlgorithm(ctx, spec, why);
  cfg.matmul = true;
  cfg.calls = std::move(calls);
  return MakeKernel(ctx, std::move(cfg), std::move(plan));
}

}  // namespace

StatusOr<CudaKernelPtr> CreateGemmKernel(const CudaOpContext& ctx) {
  if (Handle(ctx) == nullptr) return Internal(Where(ctx) + "no cuBLASLt handle in the CUDA resources", ctx.name());
  switch (ctx.op->op()) {
    case OpType::kGemm:
      return CreateGemm(ctx);
    case OpType::kMatMul:
      return CreateMatMul(ctx);
    default:
      break;
  }
  return ctx.NotSupported("is not a Gemm or MatMul");
}

StatusOr<int> GemmCandidateCount(const CudaOpContext& ctx) {
  CudaOpContext probe = ctx;
  probe.tactic = -1;
  probe.select_tactics = false;
  EDGERT_ASSIGN_OR_RETURN(CudaKernelPtr kernel, CreateGemmKernel(probe));
  const auto* gemm = dynamic_cast<const GemmKernel*>(kernel.get());
  if (gemm == nullptr) return Internal(Where(ctx) + "not a Gemm/MatMul kernel", ctx.name());
  return gemm->num_candidates();
}

Status WarmUpCublasLt(DataType dtype) {
  if (dtype != DataType::kFloat32 && dtype != DataType::kFloat16) {
    return InvalidArgument(std::string("cuBLASLt warm-up for ") + DataTypeName(dtype));
  }
  const cudaDataType_t type = dtype == DataType::kFloat16 ? CUDA_R_16F : CUDA_R_32F;
  struct Objects {
    cublasLtHandle_t handle = nullptr;
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulPreference_t preference = nullptr;
    ~Objects() {
      if (preference != nullptr) cublasLtMatmulPreferenceDestroy(preference);
      for (cublasLtMatrixLayout_t l : {a, b, c}) {
        if (l != nullptr) cublasLtMatrixLayoutDestroy(l);
      }
      if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
      if (handle != nullptr) cublasLtDestroy(handle);
    }
  } o;
  constexpr uint64_t kSide = 64;
  EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&o.handle));
  EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&o.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T;
  EDGERT_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(o.desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose, sizeof(transpose)));
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_RELU_BIAS;
  EDGERT_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(o.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
  EDGERT_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescSetAttribute(o.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &type, sizeof(type)));
  for (cublasLtMatrixLayout_t* l : {&o.a, &o.b, &o.c}) {
    EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(l, type, kSide, kSide, kSide));
  }
  EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&o.preference));
  const size_t workspace = size_t{4} << 20;
  EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceSetAttribute(
      o.preference, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace, sizeof(workspace)));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  EDGERT_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulAlgoGetHeuristic(o.handle, o.desc, o.a, o.b, o.c, o.c, o.preference, 1, &result, &found));
  if (found < 1) return NotFound("cuBLASLt offers no algorithm for the warm-up GEMM");
  return Status::Ok();
}

StatusOr<cublasLtContext*> CreateCublasLtHandle() {
  cublasLtHandle_t handle = nullptr;
  EDGERT_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&handle));
  return handle;
}

void DestroyCublasLtHandle(cublasLtContext* handle) {
  if (handle != nullptr) cublasLtDestroy(handle);
}

}  // namespace cuda
}  // namespace edgert
