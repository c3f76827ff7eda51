//===- PolicyRegistryTest.cpp - placement policies through the registry --===//
//
// What every entry point asks of a policy: found by name, its placement
// built from the shared options (device tier dense, its host tier where it
// splits), its option errors reported, and the names listed for messages.
//
//===----------------------------------------------------------------------===//

#include "DialectTestSupport.h"

#include "passes/policies/PlacementPolicy.h"

#include <set>

using namespace mlir;
using namespace mlir::hgc;
using hgc_test::DialectTest;

namespace {

using PolicyRegistryTest = DialectTest;

TEST_F(PolicyRegistryTest, NamesAreUniqueAndSorted) {
  std::set<std::string> seen;
  std::string previous;
  for (const PlacementPolicy *policy : getPlacementPolicies()) {
    std::string name = policy->getName().str();
    EXPECT_TRUE(seen.insert(name).second) << name;
    EXPECT_LT(previous, name);
    EXPECT_EQ(lookupPlacementPolicy(name), policy);
    EXPECT_FALSE(policy->getSummary().empty()) << name;
    previous = name;
  }
  for (const char *name : {"full", "hgca", "quest"})
    EXPECT_TRUE(seen.count(name)) << name;
  EXPECT_EQ(lookupPlacementPolicy("mystery"), nullptr);
  // "a, b or c" in name order, whatever else a build registers.
  std::string names;
  for (auto [i, name] : llvm::enumerate(seen))
    names += (i == 0 ? "" : i + 1 == seen.size() ? " or " : ", ") + name;
  EXPECT_EQ(getPlacementPolicyNames(), names);
  // Without placement options a model compiles as one tier.
  const PlacementPolicy *byDefault =
      lookupPlacementPolicy(PlacementOptions{}.policy);
  ASSERT_TRUE(byDefault);
  EXPECT_FALSE(byDefault->splits());
}

TEST_F(PolicyRegistryTest, EveryPolicyBuildsItsPlacement) {
  for (const PlacementPolicy *policy : getPlacementPolicies()) {
    PlacementOptions options;
    options.policy = policy->getName().str();
    options.sink = 8;
    options.window = 64;
    options.budget = "0.25";
    options.block = 16;
    FailureOr<PlacementAttr> placement =
        buildPlacement(&context, options, emitAtUnknownLoc());
    ASSERT_TRUE(succeeded(placement)) << options.policy << diagnostics;
    ArrayRef<TierPolicyAttr> tiers = placement->getTiers();
    EXPECT_EQ(tiers.front().getTier(), Tier::Device);
    EXPECT_TRUE(tiers.front().isDense());
    if (!policy->splits()) {
      EXPECT_EQ(tiers.size(), 1u) << options.policy;
      EXPECT_EQ(placement->getSink(), 0);
      continue;
    }
    ASSERT_EQ(tiers.size(), 2u) << options.policy;
    EXPECT_EQ(placement->getSink(), 8);
    EXPECT_EQ(placement->getWindow(), 64);
    EXPECT_EQ(tiers[1].getTier(), Tier::Host);
    EXPECT_FALSE(tiers[1].isDense());
    EXPECT_EQ(tiers[1].getBlockSize() != 0, policy->usesBlocks())
        << options.policy;
    // A quarter of 1000 host tokens, in whole blocks where it selects
    // blocks.
    EXPECT_EQ(tiers[1].getAttendedTokens(1000),
              policy->usesBlocks() ? 256 : 250)
        << options.policy;
  }
}

TEST_F(PolicyRegistryTest, OptionErrorsAreReported) {
  PlacementOptions options;
  options.policy = "mystery";
  EXPECT_TRUE(failed(buildPlacement(&context, options, emitAtUnknownLoc())));
  EXPECT_TRUE(diagnosed("unknown placement policy 'mystery', expected " +
                        getPlacementPolicyNames()));
  for (const PlacementPolicy *policy : getPlacementPolicies()) {
    if (!policy->splits())
      continue;
    options.policy = policy->getName().str();
    options.budget = "lots";
    diagnostics.clear();
    EXPECT_TRUE(failed(buildPlacement(&context, options, emitAtUnknownLoc())));
    EXPECT_TRUE(diagnosed("budget 'lots' is neither a token count"))
        << options.policy;
    options.budget = "0.05";
    if (!policy->usesBlocks())
      continue;
    options.block = 24;
    diagnostics.clear();
    EXPECT_TRUE(failed(buildPlacement(&context, options, emitAtUnknownLoc())));
    EXPECT_TRUE(diagnosed("block must be a positive power of two, got 24"));
    options.block = 16;
  }
}

} // namespace
