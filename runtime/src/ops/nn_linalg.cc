// Gemm, MatMul, Softmax, LogSoftmax.
//
// Algorithms:
//   Gemm:    Y = beta * C (broadcast to M x N, written first) + alpha * op(A) * op(B) through Sgemm.
//   MatMul:  numpy semantics: 1-D operands get a unit dimension (prepended for A, appended for B)
//            that is removed from the result; batch dimensions broadcast. One Sgemm per batch
//            element; when B has no batch (a weight matrix) and A is not broadcast, the batch folds
//            into the rows of a single Sgemm.
//   Softmax / LogSoftmax: the input is viewed as [outer, n, inner]; opset >= 13 normalises over
//            the single dimension `axis` (n = shape[axis]), earlier opsets coerce to 2-D at `axis`
//            (n = prod(shape[axis:]), inner = 1). Per (outer, inner) line: subtract the maximum,
//            exponentiate, divide by the sum (Softmax) or subtract its log (LogSoftmax). Lines with
//            inner > 1 are processed together, vectorised over inner, with per-kernel scratch.
#include <cmath>

#include "fused_activation.h"
#include "nn_common.h"
#include "op_util.h"

namespace edgert {
namespace {

// ---------------------------------------------------------------------------------------------
// Gemm

Status GemmSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 0, "A"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 1, "B"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 2, "C"));
  for (const char* name : {"transA", "transB"}) {
    EDGERT_ASSIGN_OR_RETURN(int64_t t, AttrInt(ctx, name, 0));
    if (t != 0 && t != 1) {
      return ctx.Error(std::string("attribute '") + name + "' is " + std::to_string(t) + ", expected 0 or 1");
    }
  }
  return ParseFusedEpilogue(ctx).status();
}

struct GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 1.0f;
  int64_t c_row_stride = 0, c_col_stride = 0;  // C broadcast to [m, n]
};

StatusOr<GemmShape> ResolveGemm(const OpContext& ctx) {
  const Shape& a = ctx.input(0).shape;
  const Shape& b = ctx.input(1).shape;
  if (a.size() != 2) return ctx.Error("input A has shape " + ShapeToString(a) + ", expected a matrix");
  if (b.size() != 2) return ctx.Error("input B has shape " + ShapeToString(b) + ", expected a matrix");
  GemmShape gs;
  EDGERT_ASSIGN_OR_RETURN(int64_t ta, AttrInt(ctx, "transA", 0));
  EDGERT_ASSIGN_OR_RETURN(int64_t tb, AttrInt(ctx, "transB", 0));
  EDGERT_ASSIGN_OR_RETURN(gs.alpha, AttrFloat(ctx, "alpha", 1.0f));
  EDGERT_ASSIGN_OR_RETURN(gs.beta, AttrFloat(ctx, "beta", 1.0f));
  gs.trans_a = ta != 0;
  gs.trans_b = tb != 0;
  gs.m = gs.trans_a ? a[1] : a[0];
  gs.k = gs.trans_a ? a[0] : a[1];
  const int64_t kb = gs.trans_b ? b[1] : b[0];
  gs.n = gs.trans_b ? b[0] : b[1];
  if (kb != gs.k) {
    return ctx.Error("inner dimensions differ: op(A) is " + std::to_string(gs.m) + "x" + std::to_string(gs.k) +
                     ", op(B) is " + std::to_string(kb) + "x" + std::to_string(gs.n) + " (A " + ShapeToString(a) +
                     ", B " + ShapeToString(b) + ", transA " + std::to_string(ta) + ", transB " + std::to_string(tb) +
                     ")");
  }
  if (ctx.has_input(2)) {
    const Shape& c = ctx.input(2).shape;
    Shape c2 = c;
    while (c2.size() < 2) c2.insert(c2.begin(), 1);
    if (c.size() > 2 || (c2[0] != 1 && c2[0] != gs.m) || (c2[1] != 1 && c2[1] != gs.n)) {
      return ctx.Error("input C has shape " + ShapeToString(c) + ", which does not broadcast to the output " +
                       std::to_string(gs.m) + "x" + std::to_string(gs.n));
    }
    gs.c_row_stride = c2[0] == 1 ? 0 : c2[1];
    gs.c_col_stride = c2[1] == 1 ? 0 : 1;
  }
  return gs;
}

Status GemmInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(GemmShape gs, ResolveGemm(ctx));
  ctx.SetOutput(0, DataType::kFloat32, {gs.m, gs.n});
  return Status::Ok();
}

class GemmKernel : public CpuKernel {
 public:
  GemmKernel(const GemmShape& gs, FusedEpilogue epilogue) : gs_(gs), epilogue_(epilogue) {
    gemm_.Reserve(gs.m, gs.n, gs.k);
  }

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const GemmShape& g = gs_;
    const float* a = inputs[0]->data<float>();
    const float* b = inputs[1]->data<float>();
    const float* c = inputs.size() > 2 && inputs[2] != nullptr ? inputs[2]->data<float>() : nullptr;
    float* y = outputs[0]->data<float>();
    const bool with_c = c != nullptr && g.beta != 0.0f;
    if (with_c) {
      for (int64_t i = 0; i < g.m; ++i) {
        for (int64_t j = 0; j < g.n; ++j) y[i * g.n + j] = g.beta * c[i * g.c_row_stride + j * g.c_col_stride];
      }
    }
    Sgemm(g.trans_a, g.trans_b, g.m, g.n, g.k, g.alpha, a, g.trans_a ? g.m : g.k, b, g.trans_b ? g.k : g.n, with_c, y,
          g.n, gemm_);
    epilogue_.Apply(y, nullptr, g.m * g.n);
    return Status::Ok();
  }

 private:
  GemmShape gs_;
  GemmScratch gemm_;
  FusedEpilogue epilogue_;
};

StatusOr<std::unique_ptr<CpuKernel>> GemmCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, GemmInfer));
  EDGERT_ASSIGN_OR_RETURN(GemmShape gs, ResolveGemm(ctx));
  EDGERT_ASSIGN_OR_RETURN(FusedEpilogue epilogue, ParseFusedEpilogue(ctx));
  return std::unique_ptr<CpuKernel>(new GemmKernel(gs, epilogue));
}

// ---------------------------------------------------------------------------------------------
// MatMul

Status MatMulSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 0, "A"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 1, "B"));
  return Status::Ok();
}

struct MatMulShape {
  int64_t m = 1, n = 1, k = 1;
  Shape a_batch, b_batch, batch;  // batch dimensions of A, B and their broadcast
  Shape out;
};

StatusOr<MatMulShape> ResolveMatMul(const OpContext& ctx) {
  const Shape& a = ctx.input(0).shape;
  const Shape& b = ctx.input(1).shape;
  if (a.empty() || b.empty()) {
    return ctx.Error("inputs A " + ShapeToString(a) + " and B " + ShapeToString(b) + " must have rank >= 1");
  }
  MatMulShape ms;
  int64_t kb;
  if (a.size() == 1) {
    ms.k = a[0];
  } else {
    ms.m = a[a.size() - 2];
    ms.k = a.back();
    ms.a_batch.assign(a.begin(), a.end() - 2);
  }
  if (b.size() == 1) {
    kb = b[0];
  } else {
    kb = b[b.size() - 2];
    ms.n = b.back();
    ms.b_batch.assign(b.begin(), b.end() - 2);
  }
  if (kb != ms.k) {
    return ctx.Error("inner dimensions differ: A " + ShapeToString(a) + " has " + std::to_string(ms.k) +
                     " columns, B " + ShapeToString(b) + " has " + std::to_string(kb) + " rows");
  }
  EDGERT_ASSIGN_OR_RETURN(ms.batch, BroadcastShapes(ctx, {ms.a_batch, ms.b_batch}));
  ms.out = ms.batch;
  if (a.size() > 1) ms.out.push_back(ms.m);
  if (b.size() > 1) ms.out.push_back(ms.n);
  return ms;
}

Status MatMulInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(MatMulShape ms, ResolveMatMul(ctx));
  ctx.SetOutput(0, DataType::kFloat32, ms.out);
  return Status::Ok();
}

class MatMulKernel : public CpuKernel {
 public:
  explicit MatMulKernel(const MatMulShape& ms) : m_(ms.m), n_(ms.n), k_(ms.k) {
    const int64_t batches = NumElements(ms.batch);
    const bool b_single = NumElements(ms.b_batch) == 1;
    const bool a_full = ms.a_batch.size() == ms.batch.size() && ms.a_batch == ms.batch;
    if (b_single && a_full) {  // fold the batch into the rows of one product
      m_ *= batches;
      a_offsets_.push_back(0);
      b_offsets_.push_back(0);
    } else {
      std::vector<int64_t> a_strides = BroadcastStrides(ms.a_batch, ms.batch);
      std::vector<int64_t> b_strides = BroadcastStrides(ms.b_batch, ms.batch);
      a_offsets_.resize(static_cast<size_t>(batches));
      b_offsets_.resize(static_cast<size_t>(batches));
      ForEachBroadcast(ms.batch, {a_strides, b_strides}, [&](int64_t i, const int64_t* off) {
        a_offsets_[static_cast<size_t>(i)] = off[0] * ms.m * ms.k;
        b_offsets_[static_cast<size_t>(i)] = off[1] * ms.k * ms.n;
      });
    }
    gemm_.Reserve(m_, n_, k_);
  }

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* a = inputs[0]->data<float>();
    const float* b = inputs[1]->data<float>();
    float* y = outputs[0]->data<float>();
    for (size_t i = 0; i < a_offsets_.size(); ++i) {
      Sgemm(false, false, m_, n_, k_, 1.0f, a + a_offsets_[i], k_, b + b_offsets_[i], n_, false,
            y + static_cast<int64_t>(i) * m_ * n_, n_, gemm_);
    }
    return Status::Ok();
  }

 private:
  int64_t m_, n_, k_;
  std::vector<int64_t> a_offsets_, b_offsets_;  // element offsets per output batch element
  GemmScratch gemm_;
};

StatusOr<std::unique_ptr<CpuKernel>> MatMulCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, MatMulInfer));
  EDGERT_ASSIGN_OR_RETURN(MatMulShape ms, ResolveMatMul(ctx));
  return std::unique_ptr<CpuKernel>(new MatMulKernel(ms));
}

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax

Status SoftmaxSupports(const OpContext& ctx) { return RequireFloat32Input(ctx, 0, "input"); }

struct SoftmaxShape {
  int64_t outer = 1, n = 1, inner = 1;
};

StatusOr<SoftmaxShape> ResolveSoftmax(const OpContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  const bool legacy = ctx.opset() > 0 && ctx.opset() < 13;
  EDGERT_ASSIGN_OR_RETURN(int64_t axis_attr, AttrInt(ctx, "axis", legacy ? 1 : -1));
  if (rank == 0) return ctx.Error("input is a scalar, expected rank >= 1");
  EDGERT_ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(ctx, axis_attr, rank, "attribute 'axis'"));
  SoftmaxShape ss;
  for (int64_t i = 0; i < axis; ++i) ss.outer *= x[i];
  if (legacy) {
    for (int64_t i = axis; i < rank; ++i) ss.n *= x[i];
  } else {
    ss.n = x[axis];
    for (int64_t i = axis + 1; i < rank; ++i) ss.inner *= x[i];
  }
  return ss;
}

Status SoftmaxInfer(OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(ResolveSoftmax(ctx).status());
  ctx.SetOutput(0, DataType::kFloat32, ctx.input(0).shape);
  return Status::Ok();
}

class SoftmaxKernel : public CpuKernel {
 public:
  SoftmaxKernel(SoftmaxShape ss, bool log)
      : ss_(ss), log_(log), max_(static_cast<size_t>(ss.inner)), sum_(static_cast<size_t>(ss.inner)) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    float* y = outputs[0]->data<float>();
    const int64_t n = ss_.n, inner = ss_.inner;
    for (int64_t o = 0; o < ss_.outer; ++o) {
      const float* xo = x + o * n * inner;
      float* yo = y + o * n * inner;
      if (inner == 1) {
        Line(xo, yo, n);
      } else {
        Lines(xo, yo, n, inner);
      }
    }
    return Status::Ok();
  }

 private:
  void Line(const float* x, float* y, int64_t n) const {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t j = 1; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
    double sum = 0.0;
    if (log_) {
      for (int64_t j = 0; j < n; ++j) sum += std::exp(x[j] - mx);
      // (x - max) - log(sum) keeps the precision that x - (max + log(sum)) loses for large x.
      const float log_sum = static_cast<float>(std::log(sum));
      for (int64_t j = 0; j < n; ++j) y[j] = (x[j] - mx) - log_sum;
    } else {
      for (int64_t j = 0; j < n; ++j) {
        y[j] = std::exp(x[j] - mx);
        sum += y[j];
      }
      const float inv = static_cast<float>(1.0 / sum);
      for (int64_t j = 0; j < n; ++j) y[j] *= inv;
    }
  }

  // `inner` interleaved lines: element j of line i is at [j * inner + i].
  void Lines(const float* x, float* y, int64_t n, int64_t inner) {
    if (n <= 0) return;
    float* mx = max_.data();
    float* sum = sum_.data();
    for (int64_t i = 0; i < inner; ++i) {
      mx[i] = x[i];
      sum[i] = 0.0f;
    }
    for (int64_t j = 1; j < n; ++j) {
      const float* xj = x + j * inner;
      for (int64_t i = 0; i < inner; ++i) mx[i] = xj[i] > mx[i] ? xj[i] : mx[i];
    }
    for (int64_t j = 0; j < n; ++j) {
      const float* xj = x + j * inner;
      float* yj = y + j * inner;
      for (int64_t i = 0; i < inner; ++i) {
        const float e = std::exp(xj[i] - mx[i]);
        sum[i] += e;
        if (!log_) yj[i] = e;
      }
    }
    if (log_) {
      for (int64_t i = 0; i < inner; ++i) sum[i] = std::log(sum[i]);
      for (int64_t j = 0; j < n; ++j) {
        const float* xj = x + j * inner;
        float* yj = y + j * inner;
        for (int64_t i = 0; i < inner; ++i) yj[i] = (xj[i] - mx[i]) - sum[i];
      }
    } else {
      for (int64_t i = 0; i < inner; ++i) sum[i] = 1.0f / sum[i];
      for (int64_t j = 0; j < n; ++j) {
        float* yj = y + j * inner;
        for (int64_t i = 0; i < inner; ++i) yj[i] *= sum[i];
      }
    }
  }

  SoftmaxShape ss_;
  bool log_;
  std::vector<float> max_, sum_;
};

StatusOr<std::unique_ptr<CpuKernel>> SoftmaxCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, SoftmaxInfer));
  EDGERT_ASSIGN_OR_RETURN(SoftmaxShape ss, ResolveSoftmax(ctx));
  return std::unique_ptr<CpuKernel>(new SoftmaxKernel(ss, ctx.op() == OpType::kLogSoftmax));
}

}  // namespace

void RegisterNnLinalgOps(OpRegistry& registry) {
  registry.Register(OpType::kGemm, OpDef{GemmSupports, GemmInfer, GemmCreate});
  registry.Register(OpType::kMatMul, OpDef{MatMulSupports, MatMulInfer, MatMulCreate});
  registry.Register(OpType::kSoftmax, OpDef{SoftmaxSupports, SoftmaxInfer, SoftmaxCreate});
  registry.Register(OpType::kLogSoftmax, OpDef{SoftmaxSupports, SoftmaxInfer, SoftmaxCreate});
}

}  // namespace edgert
