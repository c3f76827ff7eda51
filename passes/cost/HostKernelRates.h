//===- HostKernelRates.h - what hgc's host kernels cost ---------*- C++ -*-===//
//
// The throughput model's host side is measured, not assumed:
// bench/throughput.py `rates` times JIT decode steps on this machine and
// fits a step's fixed cost, dense attention's core-nanoseconds per (token,
// KV head) and per policy the cost of attending a kept token and its
// selection's cost per host token and KV head. The file it writes
// (docs/bench/host-rates.json) is compiled into hgc as the default;
// `--host-rates FILE` reads another.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_PASSES_COST_HOSTKERNELRATES_H
#define HGC_PASSES_COST_HOSTKERNELRATES_H

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <string>

namespace mlir::hgc {

struct HostKernelRates {
  std::string source;  // the file, or "built in (docs/bench/host-rates.json)"
  std::string machine; // where they were measured
  double stepOverheadUs = 0;
  double denseCoreNs = 0; // per (token, KV head), at the fitted row bytes
  llvm::StringMap<double> scanCoreNs; // per policy, per host (token, head)
  /// Per policy, per (token, KV head) its selection keeps: gathered, not
  /// streamed; a policy without one attends at the dense rate.
  llvm::StringMap<double> attendCoreNs;
  /// The KV row (head_dim x element bytes) the rates were fitted on; costs
  /// scale with a row's bytes.
  double fittedRowBytes = 0;
};

/// The rates compiled in from docs/bench/host-rates.json.
const HostKernelRates &getBuiltinHostKernelRates();

/// Rates from a file bench/throughput.py `rates` wrote.
llvm::Expected<HostKernelRates> loadHostKernelRates(llvm::StringRef path);

/// Rates from its JSON text; `source` names it in errors.
llvm::Expected<HostKernelRates> parseHostKernelRates(llvm::StringRef text,
                                                     llvm::StringRef source);

} // namespace mlir::hgc

#endif // HGC_PASSES_COST_HOSTKERNELRATES_H
