//===- Faults.h - faults injected into the KV runtime -----------*- C++ -*-===//
//
// The process-wide plan of hgc-rt/faults.h. Each place that can fail as
// hardware or the OS would asks `shouldFail` before doing its work; with no
// plan set that is one relaxed atomic load.
//
//===----------------------------------------------------------------------===//

#ifndef HGC_RUNTIME_FAULTS_H
#define HGC_RUNTIME_FAULTS_H

#include "hgc-rt/faults.h"

#include "Result.h"

#include <cstdint>

namespace hgc::rt::faults {

/// True when this occurrence of `fault` is to fail (and counts it).
bool shouldFail(hgc_rt_fault fault);

/// The plans of hgc-rt/faults.h; `fault` an hgc_rt_fault as the C caller's
/// int, unknown ones an error (count: 0).
Result inject(int fault, int64_t skip, int64_t count);
Result injectRate(int fault, double rate, uint64_t seed);
void clear();
int64_t count(int fault);

} // namespace hgc::rt::faults

#endif // HGC_RUNTIME_FAULTS_H
