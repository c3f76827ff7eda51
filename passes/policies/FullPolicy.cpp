//===- FullPolicy.cpp - every token on the device tier, dense -------------===//

#include "passes/policies/PlacementPolicy.h"

using namespace mlir;
using namespace mlir::hgc;

namespace {
class FullPolicy final : public PlacementPolicy {
public:
  StringRef getName() const override { return "full"; }
  StringRef getSummary() const override {
    return "no split: every token on the device tier, attended densely";
  }
  bool splits() const override { return false; }
};
} // namespace

const PlacementPolicy &hgc::getFullPolicy() {
  static const FullPolicy policy;
  return policy;
}
