//===- HostKernelRates.cpp - what hgc's host kernels cost -----------------===//

#include "passes/cost/HostKernelRates.h"

#include "passes/cost/JsonFields.h"

#include "llvm/Support/MemoryBuffer.h"

using namespace llvm;
using namespace mlir::hgc;
using namespace mlir::hgc::cost;

namespace {
// docs/bench/host-rates.json, as passes/cost/CMakeLists.txt embeds it.
#include "passes/cost/HostRates.inc"

constexpr StringLiteral kBuiltinSource =
    "built in (docs/bench/host-rates.json)";
} // namespace

Expected<HostKernelRates> mlir::hgc::parseHostKernelRates(StringRef text,
                                                          StringRef source) {
  Expected<json::Value> value = parseJsonObject(text, source);
  if (!value)
    return value.takeError();
  JsonFields top(value->getAsObject(), source.str());
  HostKernelRates rates;
  rates.source = source.str();
  rates.machine = top.string("machine");
  rates.stepOverheadUs =
      top.number("step_overhead_us", true, 0, /*allowZero=*/true);
  rates.denseCoreNs = top.number("dense_core_ns_per_token_head");
  bool present = false;
  JsonFields fitted = top.object("fitted_on", present);
  if (!present)
    top.fail("fitted_on", "is missing");
  std::string dtype = fitted.string("kv_dtype");
  double elementBytes = dtype == "f32" ? 4 : 2;
  if (dtype != "f32" && dtype != "f16" && dtype != "bf16")
    fitted.fail("kv_dtype", "must be f32, f16 or bf16");
  rates.fittedRowBytes = double(fitted.integer("head_dim")) * elementBytes;
  auto readPolicies = [&](StringRef key, StringMap<double> &into,
                          bool required) {
    const json::Object *policies = value->getAsObject()->getObject(key);
    if (!policies) {
      if (required || value->getAsObject()->get(key))
        top.fail(key, "must be an object");
      return;
    }
    JsonFields fields(policies, source.str(), key.str());
    for (const auto &entry : *policies)
      into[entry.first] =
          fields.number(entry.first, true, 0, /*allowZero=*/true);
  };
  readPolicies("scan_core_ns_per_token_head", rates.scanCoreNs, true);
  readPolicies("attend_core_ns_per_token_head", rates.attendCoreNs, false);
  if (Error error = top.takeError())
    return std::move(error);
  return rates;
}

const HostKernelRates &mlir::hgc::getBuiltinHostKernelRates() {
  static const HostKernelRates rates = [] {
    Expected<HostKernelRates> parsed =
        parseHostKernelRates(kHostRatesJson, kBuiltinSource);
    if (!parsed)
      report_fatal_error(parsed.takeError()); // the build checks the file
    return std::move(*parsed);
  }();
  return rates;
}

Expected<HostKernelRates> mlir::hgc::loadHostKernelRates(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> file = MemoryBuffer::getFile(path);
  if (!file)
    return createStringError(inconvertibleErrorCode(),
                             path + ": " + file.getError().message());
  return parseHostKernelRates((*file)->getBuffer(), path);
}
