//===- Result.h - status plus message ---------------------------*- C++ -*-===//

#ifndef HGC_RUNTIME_RESULT_H
#define HGC_RUNTIME_RESULT_H

#include "hgc-rt/kv_cache.h"

#include <string>

namespace hgc::rt {

/// What every runtime operation returns: never an exception, never an abort.
struct Result {
  hgc_rt_status status = HGC_RT_OK;
  std::string message;

  static Result ok() { return {}; }
  static Result error(hgc_rt_status status, std::string message) {
    return {status, std::move(message)};
  }
  bool failed() const { return status != HGC_RT_OK; }
};

} // namespace hgc::rt

#endif // HGC_RUNTIME_RESULT_H
