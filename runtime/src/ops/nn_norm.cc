// BatchNormalization (inference mode), InstanceNormalization, LayerNormalization.
//
// Algorithms:
//   BatchNormalization: per channel c, y = x * a[c] + b[c] with a = scale / sqrt(var + epsilon) and
//     b = bias - mean * a, folded once per Run from the (possibly non-constant) parameter inputs.
//   InstanceNormalization: per (image, channel) plane, mean and variance over the spatial elements
//     (two passes, accumulated in double), then y = (x - mean) / sqrt(var + epsilon) * scale + bias.
//   LayerNormalization: the input is viewed as [outer, inner] with inner = prod(shape[axis:]); per
//     row, mean and variance as above, y = (x - mean) * inv_std_dev * Scale + B, where Scale and B
//     broadcast against shape[axis:]. Mean and InvStdDev (optional outputs) have shape[axis:] set to 1.
#include <cmath>

#include "nn_common.h"
#include "op_util.h"

namespace edgert {
namespace {

// ---------------------------------------------------------------------------------------------
// BatchNormalization

Status BatchNormSupports(const OpContext& ctx) {
  static const char* const kNames[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 0; i < 5; ++i) EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, i, kNames[i]));
  EDGERT_ASSIGN_OR_RETURN(int64_t training, AttrInt(ctx, "training_mode", 0));
  if (training != 0) return ctx.NotSupported("training_mode=1 is not supported (inference only)");
  if (ctx.num_outputs() > 1) {
    return ctx.NotSupported("the running mean/variance outputs (training mode) are not supported");
  }
  EDGERT_ASSIGN_OR_RETURN(int64_t spatial, AttrInt(ctx, "spatial", 1));
  if (spatial != 1) return ctx.NotSupported("attribute 'spatial'=" + std::to_string(spatial) + " is not supported");
  EDGERT_ASSIGN_OR_RETURN(int64_t is_test, AttrInt(ctx, "is_test", 1));
  if (ctx.opset() < 7 && is_test == 0) return ctx.NotSupported("is_test=0 (training mode) is not supported");
  return Status::Ok();
}

Status BatchNormInfer(OpContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  if (x.size() < 2) return ctx.Error("input X has shape " + ShapeToString(x) + ", expected rank >= 2 (N x C x ...)");
  static const char* const kNames[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) {
    const Shape& p = ctx.input(i).shape;
    if (p.size() != 1 || p[0] != x[1]) {
      return ctx.Error(std::string("input '") + kNames[i] + "' has shape " + ShapeToString(p) + ", expected " +
                       std::to_string(x[1]) + " (the channels of X " + ShapeToString(x) + ")");
    }
  }
  ctx.SetOutput(0, DataType::kFloat32, x);
  return Status::Ok();
}

class BatchNormKernel : public CpuKernel {
 public:
  BatchNormKernel(int64_t n, int64_t c, int64_t inner, float epsilon)
      : n_(n), c_(c), inner_(inner), epsilon_(epsilon), a_(static_cast<size_t>(c)), b_(static_cast<size_t>(c)) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    const float* scale = inputs[1]->data<float>();
    const float* bias = inputs[2]->data<float>();
    const float* mean = inputs[3]->data<float>();
    const float* var = inputs[4]->data<float>();
    float* y = outputs[0]->data<float>();
    for (int64_t ch = 0; ch < c_; ++ch) {
      const float a = scale[ch] / std::sqrt(var[ch] + epsilon_);
      a_[ch] = a;
      b_[ch] = bias[ch] - mean[ch] * a;
    }
    for (int64_t img = 0; img < n_; ++img) {
      for (int64_t ch = 0; ch < c_; ++ch) {
        const int64_t off = (img * c_ + ch) * inner_;
        const float a = a_[ch], b = b_[ch];
        for (int64_t i = 0; i < inner_; ++i) y[off + i] = x[off + i] * a + b;
      }
    }
    return Status::Ok();
  }

 private:
  int64_t n_, c_, inner_;
  float epsilon_;
  std::vector<float> a_, b_;
};

StatusOr<std::unique_ptr<CpuKernel>> BatchNormCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, BatchNormInfer));
  const Shape& x = ctx.input(0).shape;
  EDGERT_ASSIGN_OR_RETURN(float epsilon, AttrFloat(ctx, "epsilon", 1e-5f));
  int64_t inner = 1;
  for (size_t i = 2; i < x.size(); ++i) inner *= x[i];
  return std::unique_ptr<CpuKernel>(new BatchNormKernel(x[0], x[1], inner, epsilon));
}

// ---------------------------------------------------------------------------------------------
// InstanceNormalization

Status InstanceNormSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 0, "input"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 1, "scale"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 2, "B"));
  return Status::Ok();
}

Status InstanceNormInfer(OpContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  if (x.size() < 3) {
    return ctx.Error("input has shape " + ShapeToString(x) + ", expected N x C x D1 x ... (rank >= 3)");
  }
  static const char* const kNames[] = {"input", "scale", "B"};
  for (size_t i = 1; i < 3; ++i) {
    const Shape& p = ctx.input(i).shape;
    if (p.size() != 1 || p[0] != x[1]) {
      return ctx.Error(std::string("input '") + kNames[i] + "' has shape " + ShapeToString(p) + ", expected " +
                       std::to_string(x[1]) + " (the channels of the input " + ShapeToString(x) + ")");
    }
  }
  ctx.SetOutput(0, DataType::kFloat32, x);
  return Status::Ok();
}

// Mean and 1/sqrt(variance + epsilon) of n contiguous floats (population variance).
void MeanInvStd(const float* x, int64_t n, float epsilon, float* mean, float* inv_std) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const double m = n > 0 ? sum / static_cast<double>(n) : 0.0;
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = x[i] - m;
    sq += d * d;
  }
  const double var = n > 0 ? sq / static_cast<double>(n) : 0.0;
  *mean = static_cast<float>(m);
  *inv_std = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(epsilon)));
}

class InstanceNormKernel : public CpuKernel {
 public:
  InstanceNormKernel(int64_t n, int64_t c, int64_t inner, float epsilon)
      : n_(n), c_(c), inner_(inner), epsilon_(epsilon) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    const float* scale = inputs[1]->data<float>();
    const float* bias = inputs[2]->data<float>();
    float* y = outputs[0]->data<float>();
    for (int64_t img = 0; img < n_; ++img) {
      for (int64_t ch = 0; ch < c_; ++ch) {
        const int64_t off = (img * c_ + ch) * inner_;
        float mean, inv_std;
        MeanInvStd(x + off, inner_, epsilon_, &mean, &inv_std);
        const float a = scale[ch] * inv_std;
        const float b = bias[ch] - mean * a;
        for (int64_t i = 0; i < inner_; ++i) y[off + i] = x[off + i] * a + b;
      }
    }
    return Status::Ok();
  }

 private:
  int64_t n_, c_, inner_;
  float epsilon_;
};

StatusOr<std::unique_ptr<CpuKernel>> InstanceNormCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, InstanceNormInfer));
  const Shape& x = ctx.input(0).shape;
  EDGERT_ASSIGN_OR_RETURN(float epsilon, AttrFloat(ctx, "epsilon", 1e-5f));
  int64_t inner = 1;
  for (size_t i = 2; i < x.size(); ++i) inner *= x[i];
  return std::unique_ptr<CpuKernel>(new InstanceNormKernel(x[0], x[1], inner, epsilon));
}

// ---------------------------------------------------------------------------------------------
// LayerNormalization

Status LayerNormSupports(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 0, "X"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 1, "Scale"));
  EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, 2, "B"));
  return Status::Ok();
}

struct LayerNormShape {
  int64_t axis = 0, outer = 1, inner = 1;
  Shape norm_shape;  // shape[axis:]
};

StatusOr<LayerNormShape> ResolveLayerNorm(const OpContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  if (rank < 1) return ctx.Error("input X is a scalar, expected rank >= 1");
  EDGERT_ASSIGN_OR_RETURN(int64_t axis_attr, AttrInt(ctx, "axis", -1));
  LayerNormShape ls;
  EDGERT_ASSIGN_OR_RETURN(ls.axis, NormalizeAxis(ctx, axis_attr, rank, "attribute 'axis'"));
  for (int64_t i = 0; i < ls.axis; ++i) ls.outer *= x[i];
  ls.norm_shape.assign(x.begin() + ls.axis, x.end());
  ls.inner = NumElements(ls.norm_shape);
  static const char* const kNames[] = {"X", "Scale", "B"};
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    const Shape& p = ctx.input(i).shape;
    bool ok = p.size() <= ls.norm_shape.size();
    for (size_t k = 0; ok && k < p.size(); ++k) {
      const int64_t want = ls.norm_shape[ls.norm_shape.size() - p.size() + k];
      ok = p[k] == want || p[k] == 1;
    }
    if (!ok) {
      return ctx.Error(std::string("input '") + kNames[i] + "' has shape " + ShapeToString(p) +
                       ", which does not broadcast to the normalized shape " + ShapeToString(ls.norm_shape));
    }
  }
  return ls;
}

Status LayerNormInfer(OpContext& ctx) {
  EDGERT_ASSIGN_OR_RETURN(LayerNormShape ls, ResolveLayerNorm(ctx));
  const Shape& x = ctx.input(0).shape;
  ctx.SetOutput(0, DataType::kFloat32, x);
  Shape stat = x;
  for (size_t i = static_cast<size_t>(ls.axis); i < stat.size(); ++i) stat[i] = 1;
  for (size_t k = 1; k < ctx.num_outputs(); ++k) ctx.SetOutput(k, DataType::kFloat32, stat);
  return Status::Ok();
}

class LayerNormKernel : public CpuKernel {
 public:
  // scale_index[i] / bias_index[i]: the element of Scale / B that normalized element i reads.
  LayerNormKernel(LayerNormShape ls, float epsilon, std::vector<int64_t> scale_index, std::vector<int64_t> bias_index)
      : ls_(std::move(ls)),
        epsilon_(epsilon),
        scale_index_(std::move(scale_index)),
        bias_index_(std::move(bias_index)) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const float* x = inputs[0]->data<float>();
    const float* scale = inputs[1]->data<float>();
    const float* bias = inputs.size() > 2 && inputs[2] != nullptr ? inputs[2]->data<float>() : nullptr;
    float* y = outputs[0]->data<float>();
    float* mean_out = outputs.size() > 1 && outputs[1] != nullptr ? outputs[1]->data<float>() : nullptr;
    float* inv_out = outputs.size() > 2 && outputs[2] != nullptr ? outputs[2]->data<float>() : nullptr;
    const int64_t inner = ls_.inner;
    const int64_t* si = scale_index_.data();
    const int64_t* bi = bias_index_.data();
    for (int64_t r = 0; r < ls_.outer; ++r) {
      const float* xr = x + r * inner;
      float* yr = y + r * inner;
      float mean, inv_std;
      MeanInvStd(xr, inner, epsilon_, &mean, &inv_std);
      if (bias) {
        for (int64_t i = 0; i < inner; ++i) yr[i] = (xr[i] - mean) * inv_std * scale[si[i]] + bias[bi[i]];
      } else {
        for (int64_t i = 0; i < inner; ++i) yr[i] = (xr[i] - mean) * inv_std * scale[si[i]];
      }
      if (mean_out) mean_out[r] = mean;
      if (inv_out) inv_out[r] = inv_std;
    }
    return Status::Ok();
  }

 private:
  LayerNormShape ls_;
  float epsilon_;
  std::vector<int64_t> scale_index_, bias_index_;
};

// Flat index into a tensor of shape `param` for every element of `norm` (numpy broadcasting).
std::vector<int64_t> BroadcastIndex(const Shape& param, const Shape& norm) {
  std::vector<int64_t> index(static_cast<size_t>(NumElements(norm)));
  ForEachBroadcast(norm, {BroadcastStrides(param, norm)},
                   [&](int64_t i, const int64_t* off) { index[static_cast<size_t>(i)] = off[0]; });
  return index;
}

StatusOr<std::unique_ptr<CpuKernel>> LayerNormCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, LayerNormInfer));
  EDGERT_ASSIGN_OR_RETURN(LayerNormShape ls, ResolveLayerNorm(ctx));
  EDGERT_ASSIGN_OR_RETURN(float epsilon, AttrFloat(ctx, "epsilon", 1e-5f));
  std::vector<int64_t> scale_index = BroadcastIndex(ctx.input(1).shape, ls.norm_shape);
  std::vector<int64_t> bias_index =
      ctx.has_input(2) ? BroadcastIndex(ctx.input(2).shape, ls.norm_shape) : std::vector<int64_t>();
  return std::unique_ptr<CpuKernel>(new LayerNormKernel(ls, epsilon, scale_index, bias_index));
}

}  // namespace

void RegisterNnNormOps(OpRegistry& registry) {
  registry.Register(OpType::kBatchNormalization, OpDef{BatchNormSupports, BatchNormInfer, BatchNormCreate});
  registry.Register(OpType::kInstanceNormalization, OpDef{InstanceNormSupports, InstanceNormInfer, InstanceNormCreate});
  registry.Register(OpType::kLayerNormalization, OpDef{LayerNormSupports, LayerNormInfer, LayerNormCreate});
}

}  // namespace edgert
