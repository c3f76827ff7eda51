//===- GpuKernels.cpp - device kernels of the dense region ----------------===//
//
// The decode kernel is a flash-decoding split: each block stages tiles of
// its KV head's K and V rows in workgroup memory once for every query head
// of the GQA group, each warp runs an online softmax for its heads over the
// tile, lanes hold 16-byte slices of a row, and warp shuffles finish the dot
// products and the per-step maxima. Accumulation is f32 whatever the KV type.
//
//===----------------------------------------------------------------------===//

#include "codegen/GpuKernels.h"
#include "codegen/LoopEmitter.h"

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

namespace {

/// Kernel-side vocabulary beside the loop emitter: ids, shuffles, 16-byte
/// vector loads.
struct KernelEmitter : Emitter {
  Value threadId() { return gpu::ThreadIdOp::create(b, gpu::Dimension::x); }
  Value blockId(gpu::Dimension d) { return gpu::BlockIdOp::create(b, d); }
  Value shuffleXor(Value v, int64_t offset) {
    return gpu::ShuffleOp::create(b, v, offset, kWarpSize,
                                  gpu::ShuffleMode::XOR)
        .getShuffleResult();
  }
  /// Sum (or max) over the lanes whose ids differ in the bits of
  /// [first, last] (powers of two).
  Value butterfly(Value v, int64_t first, int64_t last, bool isMax) {
    for (int64_t offset = first; offset <= last && offset < kWarpSize;
         offset *= 2) {
      Value other = shuffleXor(v, offset);
      v = isMax ? fastMax(v, other) : add(v, other);
    }
    return v;
  }
  /// A vector of `lanes` elements at `indices`, widened to f32.
  Value loadF32Vector(Value memref, ValueRange indices, int64_t lanes,
                      int64_t alignment) {
    Type element = cast<MemRefType>(memref.getType()).getElementType();
    Value v = vector::LoadOp::create(b, VectorType::get({lanes}, element),
                                     memref, indices, /*nontemporal=*/false,
                                     llvm::MaybeAlign(alignment));
    return widen(v, lanes);
  }
  Value widen(Value v, int64_t lanes) {
    auto type = VectorType::get({lanes}, b.getF32Type());
    if (cast<VectorType>(v.getType()).getElementType().isF32())
      return v;
    return arith::ExtFOp::create(b, type, v);
  }
  Value splat(Value scalar, int64_t lanes) {
    return vector::BroadcastOp::create(
        b, VectorType::get({lanes}, b.getF32Type()), scalar);
  }
  Value mulIdx(Value x, int64_t c) {
    return arith::MulIOp::create(b, x, index(c));
  }
  Value addIdx(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
};

gpu::GPUFuncOp createKernel(OpBuilder &builder, Location loc,
                            gpu::GPUModuleOp module, StringRef name,
                            TypeRange arguments, TypeRange workgroup) {
  OpBuilder::InsertionGuard guard(builder);
  builder.setInsertionPointToEnd(module.getBody());
  auto func = gpu::GPUFuncOp::create(
      builder, loc, name, builder.getFunctionType(arguments, {}), workgroup);
  func->setAttr(gpu::GPUDialect::getKernelFuncAttrName(),
                builder.getUnitAttr());
  return func;
}

} // namespace

gpu::GPUFuncOp gpu_kernels::emitDecodePartialKernel(
    OpBuilder &builder, Location loc, gpu::GPUModuleOp module, StringRef name,
    const DecodeKernelConfig &config, const DecodeKernelPlan &plan) {
  MLIRContext *context = builder.getContext();
  Type f32 = builder.getF32Type();
  constexpr int64_t dyn = ShapedType::kDynamic;
  int64_t hq = config.qHeads, hkv = config.kvHeads, d = config.headDim;
  auto queryType = MemRefType::get({dyn, hq, d}, config.queryElement);
  auto kvType = MemRefType::get({dyn, hkv, dyn, d}, config.kvElement);
  auto partType = MemRefType::get({dyn, hq, dyn}, f32);
  auto accType = MemRefType::get({dyn, hq, dyn, d}, f32);
  SmallVector<Type> arguments = {queryType, kvType, kvType};
  if (config.hasLengths)
    arguments.push_back(MemRefType::get({dyn}, builder.getI32Type()));
  if (config.hasBias)
    arguments.push_back(MemRefType::get({dyn, dyn}, f32));
  arguments.append({partType, partType, accType, builder.getIndexType()});
  if (config.rowsPerSequence)
    arguments.push_back(builder.getIndexType());
  auto workgroupSpace = gpu::AddressSpaceAttr::get(
      context, gpu::GPUDialect::getWorkgroupAddressSpace());
  auto tileType = MemRefType::get({plan.tileTokens, d}, config.kvElement,
                                  MemRefLayoutAttrInterface(), workgroupSpace);
  gpu::GPUFuncOp func =
      createKernel(builder, loc, module, name, arguments, {tileType, tileType});

  ImplicitLocOpBuilder b(loc, builder);
  b.setInsertionPointToStart(&func.getBody().front());
  KernelEmitter e{{b}};
  unsigned arg = 0;
  Value query = func.getArgument(arg++), key = func.getArgument(arg++),
        value = func.getArgument(arg++);
  Value lengths = config.hasLengths ? func.getArgument(arg++) : Value();
  Value bias = config.hasBias ? func.getArgument(arg++) : Value();
  Value partMax = func.getArgument(arg++), partSum = func.getArgument(arg++),
        partAcc = func.getArgument(arg++);
  Value splitTokens = func.getArgument(arg++);
  Value rowsPerSequence =
      config.rowsPerSequence ? func.getArgument(arg++) : Value();
  Value keyTile = func.getWorkgroupAttributions()[0];
  Value valueTile = func.getWorkgroupAttributions()[1];

  const int64_t vw = plan.vectorElements, lpt = plan.lanesPerToken,
                vpl = plan.vectorsPerLane, tps = plan.tokensPerStep,
                hpw = plan.headsPerWarp, group = hq / hkv;
  int64_t kvAlign = vw * (config.kvElement.getIntOrFloatBitWidth() / 8);
  int64_t queryAlign = std::min<int64_t>(
      16, vw * config.queryElement.getIntOrFloatBitWidth() / 8);
  Value tid = e.threadId();
  Value lane = arith::RemUIOp::create(b, tid, e.index(kWarpSize));
  Value warp = arith::DivUIOp::create(b, tid, e.index(kWarpSize));
  Value slot = arith::DivUIOp::create(b, lane, e.index(lpt));
  Value sub = arith::RemUIOp::create(b, lane, e.index(lpt));
  Value split = e.blockId(gpu::Dimension::x);
  Value hk = e.blockId(gpu::Dimension::y);
  Value bi = e.blockId(gpu::Dimension::z);
  // The query row's KV sequence.
  Value kvBatch =
      rowsPerSequence ? arith::DivUIOp::create(b, bi, rowsPerSequence) : bi;
  Value tokens = e.dim(key, 2);
  Value n = e.validTokens(lengths, bi, tokens);
  Value begin = arith::MulIOp::create(b, split, splitTokens);
  Value end = arith::MinSIOp::create(
      b, arith::AddIOp::create(b, begin, splitTokens), n);
  // Element offset of this lane's i-th slice of a row.
  auto column = [&](int64_t i) {
    return e.mulIdx(e.addIdx(sub, e.index(i * lpt)), vw);
  };
  SmallVector<Value> heads;
  for (int64_t j = 0; j < hpw; ++j)
    heads.push_back(e.addIdx(e.mulIdx(hk, group),
                             e.addIdx(e.mulIdx(warp, hpw), e.index(j))));
  // The warp's query slices stay in registers for the whole split.
  SmallVector<Value> queries;
  for (Value h : heads)
    for (int64_t i = 0; i < vpl; ++i)
      queries.push_back(
          e.loadF32Vector(query, {bi, h, column(i)}, vw, queryAlign));
  Value scale =
      config.scale ? e.f32(*config.scale) : e.f32(1.0 / std::sqrt(double(d)));
  auto vectorType = VectorType::get({vw}, f32);
  Value zeroVector = arith::ConstantOp::create(
      b, vectorType, DenseElementsAttr::get(vectorType, 0.0f));

  // Carried per head: running max, this lane's running sum, accumulators.
  SmallVector<Value> init;
  for (int64_t j = 0; j < hpw; ++j) {
    init.push_back(e.negInf());
    init.push_back(e.f32(0));
    for (int64_t i = 0; i < vpl; ++i)
      init.push_back(zeroVector);
  }
  const int64_t perHead = 2 + vpl;
  int64_t chunks = d / vw;
  SmallVector<Value> state = e.forLoop(
      begin, end, init, e.index(plan.tileTokens),
      [&](Value t0, ValueRange carried) {
        // Stage the tile: every thread copies 16-byte slices; rows past
        // the split repeat its last row (their scores are masked).
        Value last = arith::SubIOp::create(b, end, e.index(1));
        e.forLoop(
            tid, e.index(plan.tileTokens * chunks), {}, e.index(plan.threads()),
            [&](Value at, ValueRange) {
              Value row = arith::DivUIOp::create(b, at, e.index(chunks));
              Value col =
                  e.mulIdx(arith::RemUIOp::create(b, at, e.index(chunks)), vw);
              Value token = arith::MinSIOp::create(b, e.addIdx(t0, row), last);
              auto vt = VectorType::get({vw}, config.kvElement);
              for (auto [global, tile] :
                   {std::pair(key, keyTile), std::pair(value, valueTile)}) {
                Value slice = vector::LoadOp::create(
                    b, vt, global, ValueRange{kvBatch, hk, token, col}, false,
                    llvm::MaybeAlign(kvAlign));
                vector::StoreOp::create(b, slice, tile, ValueRange{row, col},
                                        false, llvm::MaybeAlign(kvAlign));
              }
              return SmallVector<Value>{};
            });
        gpu::BarrierOp::create(b);
        SmallVector<Value> next = e.forLoop(
            e.index(0), e.index(plan.tileTokens), carried, e.index(tps),
            [&](Value s0, ValueRange running) {
              Value row = e.addIdx(s0, slot);
              Value valid =
                  e.icmp(arith::CmpIPredicate::slt, e.addIdx(t0, row), end);
              // The mask's term for this token (rows past the split read
              // the last one; their scores are masked anyway).
              Value term;
              if (bias) {
                Value last = arith::SubIOp::create(b, end, e.index(1));
                Value token =
                    arith::MinSIOp::create(b, e.addIdx(t0, row), last);
                term = memref::LoadOp::create(b, bias, ValueRange{bi, token});
              }
              SmallVector<Value> keys, values;
              for (int64_t i = 0; i < vpl; ++i) {
                keys.push_back(
                    e.loadF32Vector(keyTile, {row, column(i)}, vw, kvAlign));
                values.push_back(
                    e.loadF32Vector(valueTile, {row, column(i)}, vw, kvAlign));
              }
              SmallVector<Value> out;
              for (int64_t j = 0; j < hpw; ++j) {
                ValueRange mine = running.slice(j * perHead, perHead);
                Value dots = zeroVector;
                for (int64_t i = 0; i < vpl; ++i)
                  dots = vector::FMAOp::create(b, queries[j * vpl + i], keys[i],
                                               dots);
                Value dot = vector::ReductionOp::create(
                    b, vector::CombiningKind::ADD, dots);
                // The row's slices live in lpt adjacent lanes.
                dot = e.butterfly(dot, 1, lpt / 2, /*isMax=*/false);
                Value score = e.mul(dot, scale);
                if (config.softcap > 0) {
                  Value cap = e.f32(config.softcap);
                  score =
                      e.mul(cap, math::TanhOp::create(b, e.div(score, cap)));
                }
                if (term)
                  score = e.add(score, term);
                score = e.select(valid, score, e.negInf());
                // The step's max over its tps rows, on every lane.
                Value stepMax = e.butterfly(score, lpt, kWarpSize / 2, true);
                Value m = mine[0];
                Value mNew = e.fastMax(m, stepMax);
                Value mSafe = e.select(
                    e.fcmp(arith::CmpFPredicate::OEQ, mNew, e.negInf()),
                    e.f32(0), mNew);
                Value correction = e.exp(e.sub(m, mSafe));
                Value p = e.exp(e.sub(score, mSafe));
                out.push_back(mNew);
                out.push_back(e.add(e.mul(mine[1], correction), p));
                Value pv = e.splat(p, vw), cv = e.splat(correction, vw);
                for (int64_t i = 0; i < vpl; ++i)
                  out.push_back(vector::FMAOp::create(b, pv, values[i],
                                                      e.mul(mine[2 + i], cv)));
              }
              return out;
            });
        // The next tile overwrites what slower warps may still read.
        gpu::BarrierOp::create(b);
        return next;
      });

  // Rows of the step were spread over the warp's slots: sum the slots.
  Value isSlotLeader = e.icmp(arith::CmpIPredicate::eq, slot, e.index(0));
  Value isLaneLeader = e.icmp(arith::CmpIPredicate::eq, lane, e.index(0));
  for (int64_t j = 0; j < hpw; ++j) {
    ValueRange mine = ValueRange(state).slice(j * perHead, perHead);
    Value sum = e.butterfly(mine[1], lpt, kWarpSize / 2, false);
    SmallVector<Value> accs;
    for (int64_t i = 0; i < vpl; ++i) {
      Value acc = mine[2 + i];
      for (int64_t l = 0; l < vw; ++l) {
        Value x = vector::ExtractOp::create(b, acc, l);
        x = e.butterfly(x, lpt, kWarpSize / 2, false);
        acc = vector::InsertOp::create(b, x, acc, l);
      }
      accs.push_back(acc);
    }
    Value h = heads[j];
    e.ifThen(isSlotLeader, {}, [&]() {
      for (int64_t i = 0; i < vpl; ++i)
        vector::StoreOp::create(b, accs[i], partAcc,
                                ValueRange{bi, h, split, column(i)}, false,
                                llvm::MaybeAlign(16));
      return SmallVector<Value>{};
    });
    e.ifThen(isLaneLeader, {}, [&]() {
      memref::StoreOp::create(b, mine[0], partMax, ValueRange{bi, h, split});
      memref::StoreOp::create(b, sum, partSum, ValueRange{bi, h, split});
      return SmallVector<Value>{};
    });
  }
  gpu::ReturnOp::create(b);
  return func;
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
