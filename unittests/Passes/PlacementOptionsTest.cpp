//===- PlacementOptionsTest.cpp - one set of placement options -----------===//
//
// The hgc-place-kv pass, the tools and the hybrid pipeline declare their
// options from forEachPlacementOption. The pass must have every option with
// its default, and the pipeline must hand every option to the pass.
//
//===----------------------------------------------------------------------===//

#include "codegen/Pipelines.h"
#include "passes/Passes.h"

#include "mlir/Pass/PassManager.h"

#include "gtest/gtest.h"

#include <cstdio>
#include <string>

using namespace mlir;
using namespace mlir::hgc;

namespace {

std::string text(const std::string &value) { return value; }
std::string text(int64_t value) { return std::to_string(value); }
/// As llvm::cl prints a double option (%e).
std::string text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%e", value);
  return buffer;
}

/// "name=value" for every option of `options`.
std::vector<std::string> assignments(PlacementOptions options) {
  std::vector<std::string> all;
  forEachPlacementOption(options,
                         [&](StringRef name, StringRef, const auto &value) {
                           all.push_back(name.str() + "=" + text(value));
                         });
  return all;
}

TEST(PlacementOptionsTest, PassHasTheSharedOptionsAndDefaults) {
  std::string printed;
  llvm::raw_string_ostream os(printed);
  createPlaceKVPass()->printAsTextualPipeline(os);
  for (const std::string &assignment : assignments(PlacementOptions{}))
    EXPECT_NE(printed.find(assignment), std::string::npos)
        << printed << " lacks " << assignment;
}

TEST(PlacementOptionsTest, PipelineHandsEveryOptionToThePass) {
  MLIRContext context;
  PlacementOptions options;
  options.policy = "quest";
  options.sink = 7;
  options.window = 93;
  options.budget = "0.125";
  options.block = 32;
  options.tau = 0.75;
  options.codebook = "pq16x256";
  options.channels = 12;
  options.hostCapacity = 4096;
  PassManager pm(&context);
  buildPlacementPipeline(pm, options);
  std::string printed;
  llvm::raw_string_ostream os(printed);
  pm.printAsTextualPipeline(os);
  for (const std::string &assignment : assignments(options))
    EXPECT_NE(printed.find(assignment), std::string::npos)
        << printed << " lacks " << assignment;
}

} // namespace
