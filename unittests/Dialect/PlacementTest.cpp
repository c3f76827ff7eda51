//===- PlacementTest.cpp - placement attribute queries -------------------===//
//
// The queries later passes and `hgc plan` build on: which tokens live on
// which tier, how many a tier attends, which placement a KV head uses.
//
//===----------------------------------------------------------------------===//

#include "DialectTestSupport.h"

using namespace mlir;
using namespace mlir::hgc;
using hgc_test::DialectTest;

namespace {

using PlacementTest = DialectTest;

TEST_F(PlacementTest, DenseAttendsEveryResidentToken) {
  auto policy = parseAttr<TierPolicyAttr>("#hgc.tier_policy<device = dense>");
  ASSERT_TRUE(policy);
  EXPECT_TRUE(policy.isDense());
  EXPECT_EQ(policy.getAttendedTokens(0), 0);
  EXPECT_EQ(policy.getAttendedTokens(1000), 1000);
}

TEST_F(PlacementTest, TokenBudgetIsClampedToResidentTokens) {
  auto policy = parseAttr<TierPolicyAttr>(
      "#hgc.tier_policy<host = exact_topk(budget = 256)>");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy.getAttendedTokens(10000), 256);
  EXPECT_EQ(policy.getAttendedTokens(100), 100);
  EXPECT_EQ(policy.getAttendedTokens(-5), 0);
}

TEST_F(PlacementTest, FractionalBudgetRoundsUp) {
  auto policy = parseAttr<TierPolicyAttr>(
      "#hgc.tier_policy<host = exact_topk(budget = 0.05)>");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy.getAttendedTokens(1000), 50);
  EXPECT_EQ(policy.getAttendedTokens(1001), 51);
  EXPECT_EQ(policy.getAttendedTokens(1), 1);
}

TEST_F(PlacementTest, BlockBudgetCountsWholeBlocks) {
  auto policy = parseAttr<TierPolicyAttr>(
      "#hgc.tier_policy<host = block_topk(budget = 4, block = 16)>");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy.getBlockSize(), 16);
  EXPECT_EQ(policy.getAttendedTokens(1000), 64);
  // Fewer resident tokens than the budget covers: all of them.
  EXPECT_EQ(policy.getAttendedTokens(40), 40);
  auto fraction = parseAttr<TierPolicyAttr>(
      "#hgc.tier_policy<host = block_topk(budget = 0.5, block = 16)>");
  ASSERT_TRUE(fraction);
  // 100 tokens are 7 blocks; half rounds up to 4 blocks.
  EXPECT_EQ(fraction.getAttendedTokens(100), 64);
}

TEST_F(PlacementTest, QuantDefaultsToEightBits) {
  auto policy = parseAttr<TierPolicyAttr>(
      "#hgc.tier_policy<cxl = quant_topk(budget = 8)>");
  ASSERT_TRUE(policy);
  EXPECT_EQ(policy.getQuantBits(), 8);
  EXPECT_EQ(policy.getTier(), Tier::Cxl);
}

TEST_F(PlacementTest, ResidentTokensSplitHotSetAndRest) {
  auto placement = parseAttr<PlacementAttr>(
      "#hgc.placement<sink = 4, window = 60, tiers = [device = dense, "
      "host = exact_topk(budget = 0.1)]>");
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement.getResidentTokens(1000), (SmallVector<int64_t>{64, 936}));
  // A sequence shorter than the hot set lives entirely on the first tier.
  EXPECT_EQ(placement.getResidentTokens(10), (SmallVector<int64_t>{10, 0}));
  EXPECT_EQ(placement.getResidentTokens(0), (SmallVector<int64_t>{0, 0}));
}

TEST_F(PlacementTest, CapacitiesFillTiersOldestFirst) {
  auto placement = parseAttr<PlacementAttr>(
      "#hgc.placement<sink = 4, window = 60, tiers = [device = dense, "
      "host = exact_topk(budget = 0.1, capacity = 500), cxl = dense(capacity "
      "= 300), storage = dense]>");
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement.getResidentTokens(1000),
            (SmallVector<int64_t>{64, 500, 300, 136}));
  EXPECT_EQ(placement.getResidentTokens(700),
            (SmallVector<int64_t>{64, 500, 136, 0}));
  EXPECT_EQ(placement.getResidentTokens(10),
            (SmallVector<int64_t>{10, 0, 0, 0}));
  // Past the sinks: the host's oldest cold tokens, then cxl's, then storage's.
  EXPECT_EQ(placement.getTierStart(1), 4);
  EXPECT_EQ(placement.getTierStart(2), 504);
  EXPECT_EQ(placement.getTierStart(3), 804);
}

TEST_F(PlacementTest, SingleTierHoldsEverything) {
  auto placement =
      parseAttr<PlacementAttr>("#hgc.placement<tiers = [host = dense]>");
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement.getResidentTokens(4096), (SmallVector<int64_t>{4096}));
  EXPECT_TRUE(placement.getTierPolicy(Tier::Host));
  EXPECT_FALSE(placement.getTierPolicy(Tier::Device));
}

TEST_F(PlacementTest, HeadOverridesSelectNestedPlacement) {
  auto placement = parseAttr<PlacementAttr>(
      "#hgc.placement<sink = 4, window = 64, tiers = [device = dense, host = "
      "exact_topk(budget = 0.1)], heads = [[1, 6] = <tiers = [host = "
      "dense]>, [3] = <window = 8, tiers = [device = dense, host = "
      "block_topk(budget = 2)]>]>");
  ASSERT_TRUE(placement);
  EXPECT_EQ(placement.getMaxOverriddenHead(), 6);
  EXPECT_EQ(placement.getForHead(0), placement);
  EXPECT_EQ(placement.getForHead(1).getTiers().size(), 1u);
  EXPECT_EQ(placement.getForHead(6), placement.getForHead(1));
  PlacementAttr head3 = placement.getForHead(3);
  EXPECT_EQ(head3.getWindow(), 8);
  EXPECT_EQ(head3.getTierPolicy(Tier::Host).getSelection(),
            Selection::BlockTopK);
  EXPECT_EQ(head3.getResidentTokens(100), (SmallVector<int64_t>{8, 92}));
}

TEST_F(PlacementTest, PrintParseRoundTrip) {
  const char *text =
      "#hgc.placement<sink = 4, window = 1024, tiers = [device = dense, host "
      "= exact_topk(budget = 0.05, capacity = 65536), storage = "
      "channel_topk(budget = 512, channels = 16)], heads = [[6, 7] = <tiers = "
      "[host = dense]>]>";
  auto placement = parseAttr<PlacementAttr>(text);
  ASSERT_TRUE(placement);
  EXPECT_EQ(print(placement), text);
  EXPECT_EQ(parseAttr<PlacementAttr>(print(placement)), placement);
}

TEST_F(PlacementTest, BuiltPlacementIsUniqued) {
  auto device = TierPolicyAttr::getDense(&context, Tier::Device);
  auto host = TierPolicyAttr::get(&context, Tier::Host, Selection::ExactTopK, 0,
                                  llvm::APFloat(0.05), 0, 0, llvm::APFloat(0.0),
                                  0, 0, 0, 0, Tail::None);
  auto built = PlacementAttr::get(&context, 4, 1024, {device, host}, {});
  EXPECT_EQ(built, parseAttr<PlacementAttr>(
                       "#hgc.placement<sink = 4, window = 1024, tiers = "
                       "[device = dense, host = exact_topk(budget = 0.05)]>"));
}

TEST_F(PlacementTest, NestedOverridesAreRejectedThroughTheApi) {
  auto host = TierPolicyAttr::getDense(&context, Tier::Host);
  auto inner = PlacementAttr::get(&context, 0, 0, {host}, {});
  auto head = HeadPlacementAttr::get(&context, {0}, inner);
  auto outer = PlacementAttr::get(&context, 0, 0, {host}, {head});
  EXPECT_FALSE(HeadPlacementAttr::getChecked(emitAtUnknownLoc(), &context,
                                             ArrayRef<int64_t>{1}, outer));
  EXPECT_TRUE(diagnosed("a head placement cannot override heads again"))
      << diagnostics;
}

TEST_F(PlacementTest, InvalidBudgetIsReportedNotCreated) {
  EXPECT_FALSE(TierPolicyAttr::getChecked(
      emitAtUnknownLoc(), &context, Tier::Host, Selection::ExactTopK,
      int64_t{0}, llvm::APFloat(2.0), int64_t{0}, int64_t{0},
      llvm::APFloat(0.0), int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0},
      Tail::None));
  EXPECT_TRUE(diagnosed("fraction in (0, 1], got 2")) << diagnostics;
}

TEST_F(PlacementTest, BudgetIsCountOrFractionNotBoth) {
  // The parser cannot produce both; the C++ builder can.
  EXPECT_FALSE(TierPolicyAttr::getChecked(
      emitAtUnknownLoc(), &context, Tier::Host, Selection::ExactTopK,
      int64_t{64}, llvm::APFloat(0.5), int64_t{0}, int64_t{0},
      llvm::APFloat(0.0), int64_t{0}, int64_t{0}, int64_t{0}, int64_t{0},
      Tail::None));
  EXPECT_TRUE(diagnosed("either a count or a fraction, not both"))
      << diagnostics;
}

} // namespace
