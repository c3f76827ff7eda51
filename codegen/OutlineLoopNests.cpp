//===- OutlineLoopNests.cpp - top-level loop nests into functions ---------===//
//
// LLVM's loop passes cost time superlinear in the size of the function
// around the loops; a model's single @main holds one loop nest per op. Each
// top-level nest (scf.for, and scf.parallel without reductions, whose
// OpenMP outlining also scans the function around it) becomes a private
// noinline function so that every loop is optimized inside a small one.
// Nests that are the same code (the same op in every layer of a model, its
// weights passed in as arguments) share one function: LLVM compiles a
// repeated layer's loops once, not once per layer.
//
//===----------------------------------------------------------------------===//

#include "codegen/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

#include <map>

namespace mlir::hgc {
#define GEN_PASS_DEF_OUTLINELOOPNESTSPASS
#include "codegen/Passes.h.inc"
} // namespace mlir::hgc

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// Outlined functions by their signature and structure, to find one that is
/// the same code as a new one.
class OutlinedFunctions {
public:
  /// An existing function equivalent to `function`, or null (then
  /// `function` is remembered).
  func::FuncOp findOrAdd(func::FuncOp function) {
    std::vector<func::FuncOp> &bucket =
        buckets[{function.getFunctionType(), structuralHash(function)}];
    for (func::FuncOp existing : bucket)
      if (OperationEquivalence::isRegionEquivalentTo(
              &existing.getBody(), &function.getBody(),
              OperationEquivalence::IgnoreLocations))
        return existing;
    bucket.push_back(function);
    return nullptr;
  }

private:
  static llvm::hash_code structuralHash(func::FuncOp function) {
    llvm::hash_code hash(0);
    auto ignoreValues = [](Value) { return llvm::hash_code(0); };
    function.getBody().walk([&](Operation *op) {
      hash =
          llvm::hash_combine(hash, OperationEquivalence::computeHash(
                                       op, ignoreValues, ignoreValues,
                                       OperationEquivalence::IgnoreLocations));
    });
    return hash;
  }

  std::map<std::pair<FunctionType, size_t>, std::vector<func::FuncOp>,
           std::function<bool(const std::pair<FunctionType, size_t> &,
                              const std::pair<FunctionType, size_t> &)>>
      buckets{[](const auto &a, const auto &b) {
        return std::make_pair(a.first.getAsOpaquePointer(), a.second) <
               std::make_pair(b.first.getAsOpaquePointer(), b.second);
      }};
};

void outline(Operation *loop, func::FuncOp parent, SymbolTable &symbols,
             OutlinedFunctions &outlined, int64_t id) {
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
  auto type = b.getFunctionType(ValueRange(arguments).getTypes(),
                                loop->getResultTypes());
  auto function = func::FuncOp::create(
      b, loop->getLoc(), (parent.getName() + "_nest" + Twine(id)).str(), type);
  function.setPrivate();
  function->setAttr("passthrough",
                    b.getArrayAttr({b.getStringAttr("noinline")}));
  symbols.insert(function);
  Block *body = function.addEntryBlock();
  b.setInsertionPointToStart(body);
  IRMapping mapping;
  for (Operation *constant : constants)
    mapping.map(constant->getResults(), b.clone(*constant)->getResults());
  for (auto [value, argument] : llvm::zip(arguments, body->getArguments()))
    mapping.map(value, argument);
  Operation *clone = b.clone(*loop, mapping);
  func::ReturnOp::create(b, loop->getLoc(), clone->getResults());
  if (func::FuncOp same = outlined.findOrAdd(function)) {
    symbols.erase(function);
    function = same;
  }
  b.setInsertionPoint(loop);
  auto call = func::CallOp::create(b, loop->getLoc(), function, arguments);
  loop->replaceAllUsesWith(call.getResults());
  loop->erase();
}

struct OutlineLoopNestsPass
    : hgc::impl::OutlineLoopNestsPassBase<OutlineLoopNestsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    OutlinedFunctions outlined;
    SmallVector<func::FuncOp> functions(module.getOps<func::FuncOp>());
    for (func::FuncOp function : functions) {
      if (function.isExternal())
        continue;
      SmallVector<Operation *> nests;
      for (Block &block : function.getBody())
        for (Operation &op : block) {
          if (!isa<scf::ForOp, scf::ParallelOp>(op))
            continue;
          int64_t size = 0;
          op.walk([&](Operation *) { ++size; });
          if (size >= minOps)
            nests.push_back(&op);
        }
      for (auto [id, loop] : llvm::enumerate(nests))
        outline(loop, function, symbols, outlined, int64_t(id));
      // What is left of a function without loops is glue (allocations,
      // descriptors, calls): LLVM's instruction selection, not its loop
      // passes, is what grows with it, and optimizing it buys nothing.
      bool loops = false;
      function.walk([&](Operation *op) {
        loops |= isa<scf::ForOp, scf::ParallelOp, scf::WhileOp>(op);
      });
      if (!nests.empty() && !loops)
        function->setAttr("passthrough",
                          OpBuilder(function).getArrayAttr(
                              {OpBuilder(function).getStringAttr("noinline"),
                               OpBuilder(function).getStringAttr("optnone")}));
    }
  }
};
} // namespace
