// EdgertSqueezeExcite on the CPU (contract in squeeze_excite.h). Per image n:
//  1. s = the per-channel mean of X (double accumulation, as GlobalAveragePool's reference), read
//     plane by plane (NCHW) or pixel row by pixel row (NHWC);
//  2. z = act(B1 + W1 s), g = gate(B2 + W2 z), both with the fused epilogue's formulas;
//  3. Y = X * g[c], element by element. Step 1 reads all of X before step 3 writes, so Y may share
//     X's memory (the memory plan lets it: network_memory_plan.cc).
#include "squeeze_excite.h"

#include <string>
#include <vector>

#include "nn_common.h"
#include "op_util.h"
#include "registry.h"

namespace edgert {
namespace {

Status SqueezeExciteSupports(const OpContext& ctx) {
  static const char* const kNames[] = {"X", "W1", "B1", "W2", "B2"};
  for (size_t i = 0; i < 5; ++i) EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, i, kNames[i]));
  EDGERT_ASSIGN_OR_RETURN(int64_t channels_last, AttrInt(ctx, kChannelsLastAttr, 0));
  if (channels_last != 0 && channels_last != 1) {
    return ctx.Error("attribute 'channels_last' is " + std::to_string(channels_last) + ", expected 0 or 1");
  }
  EDGERT_RETURN_IF_ERROR(ParseFusedEpilogue(ctx).status());
  EDGERT_ASSIGN_OR_RETURN(FusedEpilogue gate, ParseFusedEpilogue(ctx, kSqueezeExciteGateAttr));
  if (gate.kind == FusedEpilogue::Kind::kNone) return ctx.Error("required attribute 'gate' is missing");
  return Status::Ok();
}

Status SqueezeExciteInfer(OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(ResolveSqueezeExcite(ctx).status());
  ctx.SetOutput(0, DataType::kFloat32, ctx.input(0).shape);
  return Status::Ok();
}

class SqueezeExciteKernel : public CpuKernel {
 public:
  explicit SqueezeExciteKernel(const SqueezeExciteParams& p)
      : p_(p),
        sum_(static_cast<size_t>(p.c)),
        s_(static_cast<size_t>(p.c)),
        z_(static_cast<size_t>(p.cr)),
        g_(static_cast<size_t>(p.c)) {}

  Status Run(const std::vector<const Tensor*>& inputs, const std::vector<Tensor*>& outputs) override {
    const SqueezeExciteParams& p = p_;
    const float* w1 = inputs[1]->data<float>();
    const float* b1 = inputs[2]->data<float>();
    const float* w2 = inputs[3]->data<float>();
    const float* b2 = inputs[4]->data<float>();
    const int64_t hw = p.h * p.w;
    for (int64_t img = 0; img < p.n; ++img) {
      const float* x = inputs[0]->data<float>() + img * p.c * hw;
      float* y = outputs[0]->data<float>() + img * p.c * hw;
      // 1. Channel means.
      std::fill(sum_.begin(), sum_.end(), 0.0);
      if (p.channels_last) {
        for (int64_t i = 0; i < hw; ++i) {
          const float* row = x + i * p.c;
          for (int64_t ch = 0; ch < p.c; ++ch) sum_[static_cast<size_t>(ch)] += row[ch];
        }
      } else {
        for (int64_t ch = 0; ch < p.c; ++ch) {
          double sum = 0.0;
          for (int64_t i = 0; i < hw; ++i) sum += x[ch * hw + i];
          sum_[static_cast<size_t>(ch)] = sum;
        }
      }
      for (int64_t ch = 0; ch < p.c; ++ch) {
        s_[static_cast<size_t>(ch)] = static_cast<float>(sum_[static_cast<size_t>(ch)] / static_cast<double>(hw));
      }
      // 2. Squeeze and excitation.
      for (int64_t r = 0; r < p.cr; ++r) {
        float acc = b1[r];
        for (int64_t ch = 0; ch < p.c; ++ch) acc += w1[r * p.c + ch] * s_[static_cast<size_t>(ch)];
        z_[static_cast<size_t>(r)] = acc;
      }
      p.activation.Apply(z_.data(), nullptr, p.cr);
      for (int64_t ch = 0; ch < p.c; ++ch) {
        float acc = b2[ch];
        for (int64_t r = 0; r < p.cr; ++r) acc += w2[ch * p.cr + r] * z_[static_cast<size_t>(r)];
        g_[static_cast<size_t>(ch)] = acc;
      }
      p.gate.Apply(g_.data(), nullptr, p.c);
      // 3. Scale.
      if (p.channels_last) {
        for (int64_t i = 0; i < hw; ++i) {
          for (int64_t ch = 0; ch < p.c; ++ch) y[i * p.c + ch] = x[i * p.c + ch] * g_[static_cast<size_t>(ch)];
        }
      } else {
        for (int64_t ch = 0; ch < p.c; ++ch) {
          const float g = g_[static_cast<size_t>(ch)];
          for (int64_t i = 0; i < hw; ++i) y[ch * hw + i] = x[ch * hw + i] * g;
        }
      }
    }
    return Status::Ok();
  }

 private:
  SqueezeExciteParams p_;
  std::vector<double> sum_;
  std::vector<float> s_, z_, g_;
};

StatusOr<std::unique_ptr<CpuKernel>> SqueezeExciteCreate(const OpContext& ctx) {
  EDGERT_RETURN_IF_ERROR(CheckDeclaredOutputs(ctx, SqueezeExciteInfer));
  EDGERT_ASSIGN_OR_RETURN(SqueezeExciteParams p, ResolveSqueezeExcite(ctx));
  return std::unique_ptr<CpuKernel>(new SqueezeExciteKernel(p));
}

}  // namespace

StatusOr<SqueezeExciteParams> ResolveSqueezeExcite(const OpContext& ctx) {
  if (ctx.num_inputs() != 5) return ctx.Error("needs five inputs X, W1, B1, W2, B2");
  static const char* const kNames[] = {"X", "W1", "B1", "W2", "B2"};
  for (size_t i = 0; i < 5; ++i) {
    if (!ctx.has_input(i)) return ctx.Error(std::string("required input ") + kNames[i] + " is empty");
    EDGERT_RETURN_IF_ERROR(RequireFloat32Input(ctx, i, kNames[i]));
  }
  SqueezeExciteParams p;
  EDGERT_ASSIGN_OR_RETURN(int64_t channels_last, AttrInt(ctx, kChannelsLastAttr, 0));
  if (channels_last != 0 && channels_last != 1) {
    return ctx.Error("attribute 'channels_last' is " + std::to_string(channels_last) + ", expected 0 or 1");
  }
  p.channels_last = channels_last == 1;
  const Shape& x = ctx.input(0).shape;
  if (x.size() != 4) {
    return ctx.NotSupported("input X has shape " + ShapeToString(x) + ", expected " +
                            (p.channels_last ? "N x H x W x C" : "N x C x H x W"));
  }
  p.n = x[0];
  p.c = p.channels_last ? x[3] : x[1];
  p.h = p.channels_last ? x[1] : x[2];
  p.w = p.channels_last ? x[2] : x[3];
  if (p.h * p.w < 1) return ctx.Error("input X has shape " + ShapeToString(x) + ": no pixel to pool");
  const Shape& w1 = ctx.input(1).shape;
  if (w1.size() != 2 || w1[1] != p.c || w1[0] < 1) {
    return ctx.Error("input W1 has shape " + ShapeToString(w1) + ", expected Cr x " + std::to_string(p.c) +
                     " (X's channels)");
  }
  p.cr = w1[0];
  const Shape& b1 = ctx.input(2).shape;
  if (b1 != Shape{p.cr}) {
    return ctx.Error("input B1 has shape " + ShapeToString(b1) + ", expected " + ShapeToString(Shape{p.cr}));
  }
  const Shape& w2 = ctx.input(3).shape;
  if (w2 != Shape{p.c, p.cr}) {
    return ctx.Error("input W2 has shape " + ShapeToString(w2) + ", expected " + ShapeToString(Shape{p.c, p.cr}));
  }
  const Shape& b2 = ctx.input(4).shape;
  if (b2 != Shape{p.c}) {
    return ctx.Error("input B2 has shape " + ShapeToString(b2) + ", expected " + ShapeToString(Shape{p.c}));
  }
  EDGERT_ASSIGN_OR_RETURN(p.activation, ParseFusedEpilogue(ctx));
  EDGERT_ASSIGN_OR_RETURN(p.gate, ParseFusedEpilogue(ctx, kSqueezeExciteGateAttr));
  if (p.gate.kind == FusedEpilogue::Kind::kNone) return ctx.Error("required attribute 'gate' is missing");
  return p;
}

void RegisterSqueezeExciteOp(OpRegistry& registry) {
  registry.Register(OpType::kSqueezeExcite, OpDef{&SqueezeExciteSupports, &SqueezeExciteInfer, &SqueezeExciteCreate});
}

}  // namespace edgert
