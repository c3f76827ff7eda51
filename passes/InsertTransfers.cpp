//===- InsertTransfers.cpp - explicit asynchronous tier movement ---------===//

#include "dialect/HgcOps.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"

#include "llvm/ADT/DenseMap.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_INSERTTRANSFERSPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// The tier whose KV `op` reads, when that is visible from a kv_view.
std::optional<Tier> getReadTier(Operation *op) {
  Value kv;
  if (auto partial = dyn_cast<PartialAttentionOp>(op))
    kv = partial.getKey();
  else if (auto tail = dyn_cast<TailEstimateOp>(op))
    kv = tail.getKey();
  else if (auto select = dyn_cast<SelectOp>(op))
    kv = select.getInputs().front();
  if (auto view = kv ? kv.getDefiningOp<KVViewOp>() : KVViewOp())
    return view.getTier();
  return std::nullopt;
}

/// Moves `value` to `to` as early as possible and rewrites `users` to read
/// the copy through a wait placed before the first of them.
void moveTo(RewriterBase &rewriter, Value value, Tier from, Tier to,
            ArrayRef<OpOperand *> users) {
  if (Operation *def = value.getDefiningOp())
    rewriter.setInsertionPointAfter(def);
  else
    rewriter.setInsertionPointToStart(cast<BlockArgument>(value).getOwner());
  auto transfer = TransferOp::create(rewriter, value.getLoc(), value, from, to,
                                     ValueRange{});
  // Users in one block share a wait before the earliest; the wait must
  // dominate every use it feeds.
  llvm::SmallDenseMap<Block *, Operation *> earliest;
  for (OpOperand *use : users) {
    Operation *user = use->getOwner();
    Operation *&first = earliest[user->getBlock()];
    if (!first || user->isBeforeInBlock(first))
      first = user;
  }
  llvm::SmallDenseMap<Block *, Value> waited;
  for (auto [block, first] : earliest) {
    rewriter.setInsertionPoint(first);
    waited[block] = WaitOp::create(rewriter, value.getLoc(),
                                   ValueRange{transfer.getToken()},
                                   ValueRange{transfer.getResult()})
                        .getResults()
                        .front();
  }
  for (OpOperand *use : users)
    rewriter.modifyOpInPlace(use->getOwner(), [&] {
      use->set(waited[use->getOwner()->getBlock()]);
    });
}

struct InsertTransfersPass
    : hgc::impl::InsertTransfersPassBase<InsertTransfersPass> {
  void runOnOperation() override {
    // Queries read on each remote tier, and the remote partials' results.
    llvm::MapVector<std::pair<Value, Tier>, SmallVector<OpOperand *>> queries;
    SmallVector<std::pair<Operation *, Tier>> remotePartials;
    getOperation()->walk([&](Operation *op) {
      std::optional<Tier> tier = getReadTier(op);
      if (!tier || *tier == Tier::Device)
        return;
      // The query is operand 0 of hgc.select, hgc.partial_attention and
      // hgc.tail_estimate.
      OpOperand &query = op->getOpOperand(0);
      if (!query.get().getDefiningOp<WaitOp>())
        queries[{query.get(), *tier}].push_back(&query);
      if (isa<PartialAttentionOp, TailEstimateOp>(op))
        remotePartials.push_back({op, *tier});
    });
    IRRewriter rewriter(&getContext());
    for (auto &[key, users] : queries)
      moveTo(rewriter, key.first, Tier::Device, key.second, users);
    for (auto [partial, tier] : remotePartials) {
      for (Value result : partial->getResults()) {
        SmallVector<OpOperand *> users;
        for (OpOperand &use : result.getUses())
          if (!isa<TransferOp>(use.getOwner()))
            users.push_back(&use);
        if (!users.empty())
          moveTo(rewriter, result, tier, Tier::Device, users);
      }
    }
  }
};
} // namespace
