// The pass manager and the default pipeline.
//  1. nodes_before = live nodes of the inferred graph (what LowerGraph would emit unoptimized).
//  2. Per stage, run its passes in order; a repeating stage runs again while a round rewrote
//     anything (bounded by kMaxRounds, so a pair of passes that undo each other cannot hang).
//  3. After every pass that rewrote something, VerifyGraph re-infers every node (when verify is
//     on), so a broken rewrite is reported with the pass's name instead of a wrong result.
#include <algorithm>

#include "passes/pass_util.h"
#include "passes/passes.h"

namespace edgert {

void PassManager::AddStage(std::vector<std::pair<std::string, PassFn>> passes, bool repeat) {
  stages_.push_back({std::move(passes), repeat});
}

Status PassManager::Run(Graph& graph, OptimizeReport* report) const {
  OptimizeReport local;
  OptimizeReport& r = report ? *report : local;
  r = OptimizeReport();
  r.nodes_before = CountLiveNodes(graph);
  auto count_of = [&r](const std::string& name) -> PassCount& {
    for (PassCount& p : r.passes) {
      if (p.name == name) return p;
    }
    r.passes.push_back({name, 0});
    return r.passes.back();
  };
  for (const Stage& stage : stages_) {
    for (const auto& pass : stage.passes) count_of(pass.first);
  }
  for (const Stage& stage : stages_) {
    for (int round = 0; round < (stage.repeat ? kMaxRounds : 1); ++round) {
      int changed = 0;
      for (const auto& [name, fn] : stage.passes) {
        StatusOr<int> n = fn(graph);
        if (!n.ok()) return n.status().WithContext("pass " + name);
        if (*n > 0 && verify_) EDGERT_RETURN_IF_ERROR(VerifyGraph(graph, name));
        count_of(name).rewrites += *n;
        changed += *n;
      }
      if (changed == 0) break;
    }
  }
  r.nodes_after = CountLiveNodes(graph);
  return Status::Ok();
}

PassManager DefaultPipeline(const std::vector<std::string>& disabled, const std::vector<std::string>& enabled) {
  PassManager pm;
  const std::vector<std::string> optional = OptionalPassNames();
  auto named = [](const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  auto add = [&](std::vector<std::pair<std::string, PassFn>> passes, bool repeat) {
    passes.erase(std::remove_if(passes.begin(), passes.end(),
                                [&](const auto& p) {
                                  return named(disabled, p.first) ||
                                         (named(optional, p.first) && !named(enabled, p.first));
                                }),
                 passes.end());
    if (!passes.empty()) pm.AddStage(std::move(passes), repeat);
  };
  std::vector<std::pair<std::string, PassFn>> cleanup = {
      {"dead-nodes", &EliminateDeadNodes},
      {"identities", &RemoveIdentities},
      {"constant-folding", &FoldConstants},
      {"transpose-reshape", &CollapseTransposeReshape},
  };
  add(cleanup, true);
  add({{"pad-folding", &FoldPad},
       {"batchnorm-folding", &FoldBatchNorm},
       {"conv-affine-folding", &FoldConvAffine},
       {"gelu-pattern", &FuseGeluPattern}},
      true);
  add({{"vertical-fusion", &FuseVertical}}, false);
  add({{"activation-residual", &FuseActivationResidual}}, false);
  add({{"se-fusion", &FuseSqueezeExcite}}, false);
  add({{"horizontal-fusion", &FuseHorizontalConv}}, false);
  add({{"elementwise-chains", &FuseElementwiseChains}}, false);
  add(cleanup, true);
  return pm;
}

std::vector<std::string> OptimizationPassNames() {
  return {"dead-nodes",        "identities",          "constant-folding",  "transpose-reshape", "pad-folding",
          "batchnorm-folding", "conv-affine-folding", "gelu-pattern",      "vertical-fusion",   "activation-residual",
          "se-fusion",         "horizontal-fusion",   "elementwise-chains"};
}

std::vector<std::string> OptionalPassNames() { return {"se-fusion"}; }

StatusOr<OptimizeReport> OptimizeGraph(Graph& graph, const std::vector<std::string>& disabled,
                                       const std::vector<std::string>& enabled) {
  const std::vector<std::string> names = OptimizationPassNames();
  std::vector<std::string> given = disabled;
  given.insert(given.end(), enabled.begin(), enabled.end());
  for (const std::string& d : given) {
    if (std::find(names.begin(), names.end(), d) != names.end()) continue;
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    return InvalidArgument("unknown optimization pass '" + d + "' (passes: " + list + ")", d);
  }
  OptimizeReport report;
  EDGERT_RETURN_IF_ERROR(DefaultPipeline(disabled, enabled).Run(graph, &report));
  return report;
}

}  // namespace edgert
