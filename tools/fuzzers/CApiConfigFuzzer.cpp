//===- CApiConfigFuzzer.cpp - libFuzzer entry for libhgc's configurations -===//
//
// Structured inputs for the C API's configuration checks: the bytes fill an
// hgc_attention_config field by field (any int, float or string, per-head
// overrides, paged-KV fields), which goes through what hgc_compile checks
// before it compiles: AttentionConfig::fromC, then the base and every
// override's placement (buildPlacement), then the canonical description.
// A crash or sanitizer report is a bug: a bad configuration must be an
// error naming its field.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcDialect.h"
#include "jit/Jit.h"
#include "passes/PlacementOptions.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <vector>

namespace {
/// Strings a field may hold: the vocabulary's and garbage.
std::string pickString(FuzzedDataProvider &data) {
  static const char *const words[] = {
      "full",    "hgca", "hca",     "quest", "scout",    "sparf",
      "fluxion", "0.05", "256",     "0",     "1.0",      "-1",
      "1e-300",  "nan",  "inf",     "int8",  "pq16x256", "pq3x7",
      "auto",    "none", "summary", ""};
  if (data.ConsumeBool())
    return words[data.ConsumeIntegralInRange<size_t>(
        0, sizeof(words) / sizeof(words[0]) - 1)];
  return data.ConsumeRandomLengthString(16);
}

int64_t pickCount(FuzzedDataProvider &data) {
  switch (data.ConsumeIntegralInRange(0, 3)) {
  case 0:
    return data.ConsumeIntegralInRange<int64_t>(0, 64);
  case 1:
    return data.ConsumeIntegralInRange<int64_t>(-4, 4);
  case 2:
    return int64_t(1) << data.ConsumeIntegralInRange(0, 62);
  default:
    return data.ConsumeIntegral<int64_t>();
  }
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *bytes, size_t size) {
  static mlir::MLIRContext *context = [] {
    auto *created = new mlir::MLIRContext();
    created->loadDialect<mlir::hgc::HgcDialect>();
    return created;
  }();
  mlir::ScopedDiagnosticHandler silence(
      context, [](mlir::Diagnostic &) { return mlir::success(); });
  FuzzedDataProvider data(bytes, size);
  std::vector<std::string> strings; // the C strings' storage
  strings.reserve(64);
  auto cString = [&]() -> const char * {
    if (data.ConsumeIntegralInRange(0, 7) == 0)
      return nullptr;
    strings.push_back(pickString(data));
    return strings.back().c_str();
  };

  hgc_attention_config c{};
  c.q_heads = int32_t(pickCount(data));
  c.kv_heads = int32_t(pickCount(data));
  c.head_dim = int32_t(pickCount(data));
  c.kv_dtype = hgc_dtype(data.ConsumeIntegralInRange(0, 3));
  c.scale = data.ConsumeFloatingPoint<float>();
  c.causal = data.ConsumeIntegralInRange(0, 2);
  c.softcap = data.ConsumeFloatingPoint<float>();
  hgc_placement &p = c.placement;
  p.policy = cString();
  p.sink = pickCount(data);
  p.window = pickCount(data);
  p.budget = cString();
  p.block = pickCount(data);
  p.tau = data.ConsumeFloatingPoint<double>();
  p.codebook = cString();
  p.channels = pickCount(data);
  p.host_capacity = pickCount(data);
  p.tail = cString();
  p.far_capacity = pickCount(data);
  std::vector<hgc_head_override> overrides(
      data.ConsumeIntegralInRange<size_t>(0, 4));
  for (hgc_head_override &o : overrides) {
    o.first_kv_head = int32_t(pickCount(data));
    o.kv_heads = int32_t(pickCount(data));
    o.policy = cString();
    o.budget = cString();
    o.block = pickCount(data);
    o.tau = data.ConsumeFloatingPoint<double>();
  }
  c.overrides = overrides.empty() || data.ConsumeIntegralInRange(0, 9) == 0
                    ? nullptr
                    : overrides.data();
  // The count may be negative or short, never past the array: that would
  // break the C contract (an array of num_overrides), not test hgc.
  c.num_overrides =
      data.ConsumeIntegralInRange(0, 9) == 0
          ? -data.ConsumeIntegralInRange<int32_t>(1, 1 << 30)
          : data.ConsumeIntegralInRange<int32_t>(0, int32_t(overrides.size()));
  c.kv_block_size = int32_t(pickCount(data));
  c.kv_layout = hgc_kv_layout(data.ConsumeIntegralInRange(0, 1));
  c.kv_summaries = data.ConsumeIntegralInRange(0, 2);

  hgc::jit::AttentionConfig config;
  if (hgc::jit::AttentionConfig::fromC(c, config).failed())
    return 0;
  auto report = [&] { return mlir::emitError(mlir::UnknownLoc::get(context)); };
  if (failed(mlir::hgc::buildPlacement(context, config.placement, report)))
    return 0;
  for (const hgc::jit::HeadPolicy &head : config.overrides)
    (void)mlir::hgc::buildPlacement(context, head.placement, report);
  (void)config.describe();
  return 0;
}
