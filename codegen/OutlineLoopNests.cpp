//===- OutlineLoopNests.cpp - top-level loop nests into functions ---------===//
//
// LLVM's loop passes cost time superlinear in the size of the function
// around the loops; a model's single @main holds one loop nest per op. Each
// top-level nest becomes a private noinline function so that every loop is
// optimized inside a small function.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

namespace mlir::hgc {
#define GEN_PASS_DEF_OUTLINELOOPNESTSPASS
#include "passes/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {
void outline(scf::ForOp loop, func::FuncOp parent, SymbolTable &symbols,
             int64_t id) {
  // Values from above: constants are cloned in, the rest become arguments.
  SetVector<Value> above;
  getUsedValuesDefinedAbove(loop->getRegions(), above);
  for (Value bound : loop->getOperands())
    above.insert(bound);
  SmallVector<Value> arguments;
  SmallVector<Operation *> constants;
  for (Value value : above) {
    Operation *def = value.getDefiningOp();
    if (def && def->hasTrait<OpTrait::ConstantLike>())
      constants.push_back(def);
    else
      arguments.push_back(value);
  }
  OpBuilder b(parent);
  auto type = b.getFunctionType(ValueRange(arguments).getTypes(), {});
  auto function = func::FuncOp::create(
      b, loop.getLoc(), (parent.getName() + "_nest" + Twine(id)).str(), type);
  function.setPrivate();
  function->setAttr("passthrough", b.getArrayAttr({b.getStringAttr(
                                       "noinline")}));
  symbols.insert(function);
  Block *body = function.addEntryBlock();
  b.setInsertionPointToStart(body);
  IRMapping mapping;
  for (Operation *constant : constants)
    mapping.map(constant->getResults(), b.clone(*constant)->getResults());
  for (auto [value, argument] : llvm::zip(arguments, body->getArguments()))
    mapping.map(value, argument);
  b.clone(*loop, mapping);
  func::ReturnOp::create(b, loop.getLoc());
  b.setInsertionPoint(loop);
  func::CallOp::create(b, loop.getLoc(), function, arguments);
  loop.erase();
}

struct OutlineLoopNestsPass
    : hgc::impl::OutlineLoopNestsPassBase<OutlineLoopNestsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
    for (func::FuncOp function : functions) {
      if (function.isExternal())
        continue;
      SmallVector<scf::ForOp> nests;
      for (Block &block : function.getBody())
        for (auto loop : block.getOps<scf::ForOp>()) {
          int64_t size = 0;
          loop->walk([&](Operation *) { ++size; });
          if (loop.getNumResults() == 0 && size >= minOps)
            nests.push_back(loop);
        }
      for (auto [id, loop] : llvm::enumerate(nests))
        outline(loop, function, symbols, int64_t(id));
    }
  }
};
} // namespace
