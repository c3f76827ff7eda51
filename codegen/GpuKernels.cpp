//===- GpuKernels.cpp - device kernels of the dense region ----------------===//
//
// How the decode split kernel maps its work to threads, how many tokens
// each split takes, and the split-merge kernel; the split kernel's body is
// in GpuDecodePartialKernel.cpp.
//
//===----------------------------------------------------------------------===//

#include "codegen/GpuKernels.h"
#include "codegen/GpuKernelEmitter.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::gpu_kernels;
using lowering::Emitter;

/// Workgroup memory a block may stage (static shared memory is 48 KiB on
/// every target; two blocks of 16 KiB K + 16 KiB V fit one SM's partition).
constexpr int64_t kStagingBytes = 32 * 1024;
/// Longest K/V tile a block stages.
constexpr int64_t kMaxTileTokens = 64;
/// Most warps per block (the query heads of a group beyond it share warps).
constexpr int64_t kMaxWarps = 8;
/// Most f32 registers a lane spends on query and accumulator slices.
constexpr int64_t kMaxLaneFloats = 128;

FailureOr<DecodeKernelPlan>
gpu_kernels::planDecodeKernel(const DecodeKernelConfig &config,
                              std::string &why) {
  if (config.qHeads <= 0 || config.kvHeads <= 0 || config.headDim <= 0 ||
      config.qHeads % config.kvHeads != 0) {
    why = "needs static query and KV head counts (a multiple of each other) "
          "and a static head dim";
    return failure();
  }
  int64_t elementBytes = config.kvElement.getIntOrFloatBitWidth() / 8;
  DecodeKernelPlan plan;
  plan.vectorElements = 16 / elementBytes;
  while (plan.vectorElements > 1 && config.headDim % plan.vectorElements)
    plan.vectorElements /= 2;
  int64_t chunks = config.headDim / plan.vectorElements;
  plan.lanesPerToken = 1;
  while (plan.lanesPerToken * 2 <= std::min(kWarpSize, chunks) &&
         chunks % (plan.lanesPerToken * 2) == 0)
    plan.lanesPerToken *= 2;
  plan.vectorsPerLane = chunks / plan.lanesPerToken;
  plan.tokensPerStep = kWarpSize / plan.lanesPerToken;
  int64_t group = config.qHeads / config.kvHeads;
  plan.warps = 1;
  for (int64_t w = std::min(group, kMaxWarps); w >= 1; --w)
    if (group % w == 0) {
      plan.warps = w;
      break;
    }
  plan.headsPerWarp = group / plan.warps;
  int64_t laneFloats =
      2 * plan.headsPerWarp * plan.vectorsPerLane * plan.vectorElements;
  if (laneFloats > kMaxLaneFloats) {
    why = "would hold " + std::to_string(laneFloats) +
          " f32 values per lane (at most " + std::to_string(kMaxLaneFloats) +
          "): head dim " + std::to_string(config.headDim) + " with " +
          std::to_string(group) + " query heads per KV head";
    return failure();
  }
  int64_t rowBytes = config.headDim * elementBytes;
  int64_t tile = std::min(kMaxTileTokens, kStagingBytes / (2 * rowBytes));
  tile = std::max(plan.tokensPerStep,
                  tile / plan.tokensPerStep * plan.tokensPerStep);
  plan.tileTokens = tile;
  plan.minSplitTokens =
      std::max<int64_t>(tile, llvm::alignTo(config.minSplitTokens, tile));
  plan.sharedBytes = 2 * tile * rowBytes;
  return plan;
}

int64_t gpu_kernels::splitTokensFor(const DecodeKernelPlan &plan,
                                    int64_t tokens, int64_t rows) {
  int64_t splits = llvm::divideCeil(kTargetBlocks, std::max<int64_t>(1, rows));
  int64_t chunk =
      llvm::alignTo(llvm::divideCeil(tokens, splits), plan.tileTokens);
  return std::max(plan.minSplitTokens, chunk);
}

Value gpu_kernels::emitSplitTokens(ImplicitLocOpBuilder &b,
                                   const DecodeKernelPlan &plan, Value tokens,
                                   Value rows) {
  Emitter e{b};
  Value splits = arith::CeilDivUIOp::create(
      b, e.index(kTargetBlocks), arith::MaxUIOp::create(b, rows, e.index(1)));
  Value chunk = arith::CeilDivUIOp::create(b, tokens, splits);
  Value tile = e.index(plan.tileTokens);
  chunk = arith::MulIOp::create(b, arith::CeilDivUIOp::create(b, chunk, tile),
                                tile);
  return arith::MaxUIOp::create(b, chunk, e.index(plan.minSplitTokens));
}

gpu::GPUFuncOp gpu_kernels::emitSplitMergeKernel(OpBuilder &builder,
                                                 Location loc,
                                                 gpu::GPUModuleOp module,
                                                 StringRef name, int64_t qHeads,
                                                 int64_t headDim) {
  Type f32 = builder.getF32Type();
  constexpr int64_t dyn = ShapedType::kDynamic;
  auto partType = MemRefType::get({dyn, qHeads, dyn}, f32);
  auto accType = MemRefType::get({dyn, qHeads, dyn, headDim}, f32);
  auto outType = MemRefType::get({dyn, qHeads, headDim}, f32);
  auto lseType = MemRefType::get({dyn, qHeads}, f32);
  gpu::GPUFuncOp func =
      createKernel(builder, loc, module, name,
                   {partType, partType, accType, outType, lseType}, {});
  ImplicitLocOpBuilder b(loc, builder);
  b.setInsertionPointToStart(&func.getBody().front());
  KernelEmitter e{{b}};
  Value partMax = func.getArgument(0), partSum = func.getArgument(1),
        partAcc = func.getArgument(2), out = func.getArgument(3),
        lse = func.getArgument(4);
  Value h = e.blockId(gpu::Dimension::x), bi = e.blockId(gpu::Dimension::y);
  Value lane = e.threadId();
  Value splits = e.dim(partMax, 2);
  Value m =
      e.forLoop(e.index(0), splits, {e.negInf()}, [&](Value s, ValueRange c) {
        return SmallVector<Value>{e.max(c[0], e.load(partMax, {bi, h, s}))};
      })[0];
  Value empty = e.fcmp(arith::CmpFPredicate::OEQ, m, e.negInf());
  Value mSafe = e.select(empty, e.f32(0), m);
  auto weight = [&](Value s) {
    return e.exp(e.sub(e.load(partMax, {bi, h, s}), mSafe));
  };
  Value l =
      e.forLoop(e.index(0), splits, {e.f32(0)}, [&](Value s, ValueRange c) {
        return SmallVector<Value>{
            e.add(c[0], e.mul(weight(s), e.load(partSum, {bi, h, s})))};
      })[0];
  Value nonEmpty = e.fcmp(arith::CmpFPredicate::OGT, l, e.f32(0));
  Value inverse = e.select(nonEmpty, e.div(e.f32(1), l), e.f32(0));
  e.forLoop(
      lane, e.index(headDim), {}, e.index(kWarpSize),
      [&](Value dd, ValueRange) {
        Value a = e.forLoop(
            e.index(0), splits, {e.f32(0)}, [&](Value s, ValueRange c) {
              return SmallVector<Value>{e.add(
                  c[0], e.mul(weight(s), e.load(partAcc, {bi, h, s, dd})))};
            })[0];
        memref::StoreOp::create(b, e.mul(a, inverse), out,
                                ValueRange{bi, h, dd});
        return SmallVector<Value>{};
      });
  e.ifThen(e.icmp(arith::CmpIPredicate::eq, lane, e.index(0)), {}, [&]() {
    Value logSum = e.add(mSafe, e.log(e.select(nonEmpty, l, e.f32(1))));
    memref::StoreOp::create(b, e.select(nonEmpty, logSum, e.negInf()), lse,
                            ValueRange{bi, h});
    return SmallVector<Value>{};
  });
  gpu::ReturnOp::create(b);
  return func;
}
