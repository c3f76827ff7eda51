//===- ThroughputPlan.cpp - `hgc plan --hardware`
//--------------------------===//

#include "tools/hgc/ThroughputPlan.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

using namespace llvm;
using namespace mlir;
using namespace mlir::hgc;

namespace {
json::Object toJson(const StepPrediction &step, double offloadTokensPerSec) {
  json::Object row{{"strategy", stringifyStrategy(step.strategy)},
                   {"fits", step.fits},
                   {"device_tokens", step.deviceTokens},
                   {"device_kv_bytes", step.deviceKVBytes},
                   {"host_kv_bytes", step.hostKVBytes},
                   {"device_read_bytes", step.deviceReadBytes},
                   {"host_read_bytes", step.hostReadBytes},
                   {"link_bytes", step.linkBytes},
                   {"weight_seconds", step.weightSeconds},
                   {"device_seconds", step.deviceSeconds},
                   {"host_seconds", step.hostSeconds},
                   {"link_seconds", step.linkSeconds},
                   {"step_seconds", step.stepSeconds},
                   {"tokens_per_second", step.tokensPerSecond}};
  if (step.strategy == Strategy::Hybrid ||
      step.strategy == Strategy::BalancedHybrid ||
      step.strategy == Strategy::HeadStream) {
    row["policy"] = step.policy;
    row["budget"] = step.budget;
  }
  if (step.strategy == Strategy::HeadStream)
    row["resident_heads"] = step.residentHeads;
  if (!step.fits)
    row["why_not"] = step.whyNot;
  if (step.fits && offloadTokensPerSec > 0)
    row["vs_offload"] = step.tokensPerSecond / offloadTokensPerSec;
  return row;
}

std::string gb(double bytes) { return formatv("{0:f1} GB", bytes / 1e9); }
} // namespace

LogicalResult
hgc::printThroughputPlan(MLIRContext *context, const ThroughputQuery &query,
                         const HybridSweep &sweep, bool asJson, raw_ostream &os,
                         function_ref<InFlightDiagnostic()> emitError) {
  std::vector<StepPrediction> rows;
  for (Strategy strategy : {Strategy::GpuOnly, Strategy::OffloadOnly,
                            Strategy::HeadStream, Strategy::CpuAttention})
    rows.push_back(predictBaseline(query, strategy));
  for (const std::string &policy : sweep.policies)
    for (const std::string &budget : sweep.budgets) {
      PlacementOptions options = sweep.placement;
      options.policy = policy;
      options.budget = budget;
      FailureOr<StepPrediction> hybrid =
          predictHybrid(context, query, options, emitError);
      if (failed(hybrid))
        return failure();
      rows.push_back(*hybrid);
      if (!sweep.balance || !query.hardware.gpu)
        continue;
      FailureOr<StepPrediction> balanced =
          predictBalancedHybrid(context, query, options, emitError);
      if (failed(balanced))
        return failure();
      rows.push_back(*balanced);
    }
  const StepPrediction &offload = rows[1];
  double offloadRate = offload.fits ? offload.tokensPerSecond : 0.0;
  const ModelShape &model = query.model;
  const HardwareProfile &hw = query.hardware;
  std::vector<std::string> assumptions = getModelAssumptions(query);

  if (asJson) {
    json::Array strategies;
    for (const StepPrediction &row : rows)
      strategies.push_back(toJson(row, offloadRate));
    json::Object hardware{{"name", hw.name},
                          {"description", hw.description},
                          {"cpu_bandwidth_gbs", hw.cpu.bandwidthGBs},
                          {"cpu_cores", hw.cpuCores}};
    if (hw.gpu) {
      hardware["gpu_bandwidth_gbs"] = hw.gpu->bandwidthGBs;
      hardware["gpu_capacity_gb"] = hw.gpu->capacityGB;
      hardware["link_bandwidth_gbs"] = hw.link.bandwidthGBs;
    }
    json::Object result{
        {"hardware", std::move(hardware)},
        {"model", json::Object{{"name", model.name},
                               {"layers", model.layers},
                               {"q_heads", model.qHeads},
                               {"kv_heads", model.kvHeads},
                               {"head_dim", model.headDim},
                               {"kv_dtype", model.kvDtype},
                               {"parameters", model.parameters}}},
        {"context", query.context},
        {"batch", query.batch},
        {"host_rates", query.rates.source},
        {"assumptions", json::Array(std::vector<json::Value>(
                            assumptions.begin(), assumptions.end()))},
        {"strategies", std::move(strategies)}};
    os << formatv("{0:2}", json::Value(std::move(result))) << "\n";
    return success();
  }

  os << "hardware " << hw.name << ": " << hw.description << "\n";
  os << "model " << model.name << ": " << model.layers << " layers, "
     << model.qHeads << " q heads, " << model.kvHeads << " kv heads, head dim "
     << model.headDim << ", " << model.kvDtype << " ("
     << llvm::format("%.3g", model.parameters) << " parameters, "
     << gb(model.getWeightBytes()) << " of weights); context " << query.context
     << ", batch " << query.batch << ": "
     << gb(model.getKVBytesPerToken() *
           double(query.context * query.batch * model.layers))
     << " of KV\n";
  os << formatv("{0,-15} {1,-8} {2,-6} {3,8} {4,10} {5,10} {6,12} {7,10} "
                "{8,9} {9,11}\n",
                "strategy", "policy", "budget", "window", "device KV",
                "host KV", "host reads", "step ms", "tok/s", "vs offload");
  for (const StepPrediction &row : rows) {
    os << formatv("{0,-15} {1,-8} {2,-6} {3,8} {4,10} {5,10} {6,12} ",
                  stringifyStrategy(row.strategy), row.policy, row.budget,
                  row.deviceTokens, gb(row.deviceKVBytes), gb(row.hostKVBytes),
                  gb(row.hostReadBytes));
    if (!row.fits) {
      os << "does not fit: " << row.whyNot << "\n";
      continue;
    }
    os << formatv("{0,10:f2} {1,9:f2} ", 1e3 * row.stepSeconds,
                  row.tokensPerSecond);
    if (offloadRate > 0)
      os << formatv("{0,10:f2}x", row.tokensPerSecond / offloadRate);
    else
      os << formatv("{0,11}", "-");
    os << "\n";
  }
  os << "assumptions:\n";
  for (const std::string &line : assumptions)
    os << "  - " << line << "\n";
  return success();
}
