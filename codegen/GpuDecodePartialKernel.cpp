//===- GpuDecodePartialKernel.cpp - the decode split kernel ---------------===//
//
// The decode kernel is a flash-decoding split: each block stages tiles of
// its KV head's K and V rows in workgroup memory once for every query head
// of the GQA group, each warp runs an online softmax for its heads over the
// tile, lanes hold 16-byte slices of a row, and warp shuffles finish the dot
// products and the per-step maxima. Accumulation is f32 whatever the KV type.
//
//===----------------------------------------------------------------------===//

#include "codegen/GpuKernelEmitter.h"

using namespace mlir;
using namespace mlir::hgc;
using namespace mlir::hgc::gpu_kernels;

namespace {

/// Declares kernel `name` with the arguments GpuKernels.h lists for
/// `config`, and K and V tiles of `plan.tileTokens` rows in workgroup
/// memory.
gpu::GPUFuncOp declareDecodePartialKernel(OpBuilder &builder, Location loc,
                                          gpu::GPUModuleOp module,
                                          StringRef name,
                                          const DecodeKernelConfig &config,
                                          const DecodeKernelPlan &plan) {
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
      builder.getContext(), gpu::GPUDialect::getWorkgroupAddressSpace());
  auto tileType = MemRefType::get({plan.tileTokens, d}, config.kvElement,
                                  MemRefLayoutAttrInterface(), workgroupSpace);
  return createKernel(builder, loc, module, name, arguments,
                      {tileType, tileType});
}

/// The body of a decode partial kernel, one method per step; the members
/// are the values those steps share (arguments, thread and block indices,
/// the warp's query slices).
class DecodePartialBody {
public:
  DecodePartialBody(ImplicitLocOpBuilder &b, gpu::GPUFuncOp func,
                    const DecodeKernelConfig &config,
                    const DecodeKernelPlan &plan);

  /// Thread and block indices, and the split's tokens [begin, end).
  void indexThreads();
  /// The warp's query slices, kept in registers for the whole split.
  void loadQueries();
  /// The online softmax over the split, tile by tile: per head of the warp
  /// its running max, this lane's running sum and accumulators.
  SmallVector<Value> attendSplit();
  /// Sums the warp's slots and stores the split's partials.
  void storePartials(ValueRange state);

private:
  /// Element offset of this lane's i-th slice of a row.
  Value column(int64_t i) {
    return e.mulIdx(e.addIdx(sub, e.index(i * lpt)), vw);
  }
  void stageTile(Value t0);
  SmallVector<Value> attendStep(Value t0, Value s0, ValueRange running);
  Value emitScore(int64_t head, ArrayRef<Value> keys, Value valid, Value term);
  void updateHead(ValueRange mine, Value score, ArrayRef<Value> values,
                  SmallVectorImpl<Value> &out);

  ImplicitLocOpBuilder &b;
  KernelEmitter e;
  const DecodeKernelConfig &config;
  const DecodeKernelPlan &plan;
  // Shorthands of the plan: vector width, lanes per token, vectors per
  // lane, tokens per step, heads per warp, query heads per KV head.
  const int64_t vw, lpt, vpl, tps, hpw, group;
  /// Values carried per head: max, sum, then vpl accumulators.
  const int64_t perHead;
  const int64_t kvAlign, queryAlign;
  Value query, key, value, lengths, bias, partMax, partSum, partAcc,
      splitTokens, rowsPerSequence, keyTile, valueTile;
  Value tid, lane, slot, sub, split, hk, bi, kvBatch, begin, end;
  SmallVector<Value> heads, queries;
  Value scale, zeroVector;
};

DecodePartialBody::DecodePartialBody(ImplicitLocOpBuilder &b,
                                     gpu::GPUFuncOp func,
                                     const DecodeKernelConfig &config,
                                     const DecodeKernelPlan &plan)
    : b(b), e{{b}}, config(config), plan(plan), vw(plan.vectorElements),
      lpt(plan.lanesPerToken), vpl(plan.vectorsPerLane),
      tps(plan.tokensPerStep), hpw(plan.headsPerWarp),
      group(config.qHeads / config.kvHeads), perHead(2 + vpl),
      kvAlign(vw * (config.kvElement.getIntOrFloatBitWidth() / 8)),
      queryAlign(std::min<int64_t>(
          16, vw * config.queryElement.getIntOrFloatBitWidth() / 8)) {
  unsigned arg = 0;
  query = func.getArgument(arg++);
  key = func.getArgument(arg++);
  value = func.getArgument(arg++);
  lengths = config.hasLengths ? func.getArgument(arg++) : Value();
  bias = config.hasBias ? func.getArgument(arg++) : Value();
  partMax = func.getArgument(arg++);
  partSum = func.getArgument(arg++);
  partAcc = func.getArgument(arg++);
  splitTokens = func.getArgument(arg++);
  rowsPerSequence = config.rowsPerSequence ? func.getArgument(arg++) : Value();
  keyTile = func.getWorkgroupAttributions()[0];
  valueTile = func.getWorkgroupAttributions()[1];
}

void DecodePartialBody::indexThreads() {
  tid = e.threadId();
  lane = arith::RemUIOp::create(b, tid, e.index(kWarpSize));
  Value warp = arith::DivUIOp::create(b, tid, e.index(kWarpSize));
  slot = arith::DivUIOp::create(b, lane, e.index(lpt));
  sub = arith::RemUIOp::create(b, lane, e.index(lpt));
  split = e.blockId(gpu::Dimension::x);
  hk = e.blockId(gpu::Dimension::y);
  bi = e.blockId(gpu::Dimension::z);
  // The query row's KV sequence.
  kvBatch =
      rowsPerSequence ? arith::DivUIOp::create(b, bi, rowsPerSequence) : bi;
  Value tokens = e.dim(key, 2);
  Value n = e.validTokens(lengths, bi, tokens);
  begin = arith::MulIOp::create(b, split, splitTokens);
  end = arith::MinSIOp::create(b, arith::AddIOp::create(b, begin, splitTokens),
                               n);
  for (int64_t j = 0; j < hpw; ++j)
    heads.push_back(e.addIdx(e.mulIdx(hk, group),
                             e.addIdx(e.mulIdx(warp, hpw), e.index(j))));
}

void DecodePartialBody::loadQueries() {
  for (Value h : heads)
    for (int64_t i = 0; i < vpl; ++i)
      queries.push_back(
          e.loadF32Vector(query, {bi, h, column(i)}, vw, queryAlign));
  scale = config.scale ? e.f32(*config.scale)
                       : e.f32(1.0 / std::sqrt(double(config.headDim)));
  auto vectorType = VectorType::get({vw}, b.getF32Type());
  zeroVector = arith::ConstantOp::create(
      b, vectorType, DenseElementsAttr::get(vectorType, 0.0f));
}

SmallVector<Value> DecodePartialBody::attendSplit() {
  SmallVector<Value> init;
  for (int64_t j = 0; j < hpw; ++j) {
    init.push_back(e.negInf());
    init.push_back(e.f32(0));
    for (int64_t i = 0; i < vpl; ++i)
      init.push_back(zeroVector);
  }
  return e.forLoop(begin, end, init, e.index(plan.tileTokens),
                   [&](Value t0, ValueRange carried) {
                     stageTile(t0);
                     gpu::BarrierOp::create(b);
                     SmallVector<Value> next = e.forLoop(
                         e.index(0), e.index(plan.tileTokens), carried,
                         e.index(tps), [&](Value s0, ValueRange running) {
                           return attendStep(t0, s0, running);
                         });
                     // The next tile overwrites what slower warps may still
                     // read.
                     gpu::BarrierOp::create(b);
                     return next;
                   });
}

/// Stages the tile at `t0`: every thread copies 16-byte slices; rows past
/// the split repeat its last row (their scores are masked).
void DecodePartialBody::stageTile(Value t0) {
  int64_t chunks = config.headDim / vw;
  Value last = arith::SubIOp::create(b, end, e.index(1));
  e.forLoop(tid, e.index(plan.tileTokens * chunks), {}, e.index(plan.threads()),
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
}

/// One warp step at staged row `s0` of the tile at `t0`: each slot scores
/// its row for every head of the warp and folds it into `running`.
SmallVector<Value> DecodePartialBody::attendStep(Value t0, Value s0,
                                                 ValueRange running) {
  Value row = e.addIdx(s0, slot);
  Value valid = e.icmp(arith::CmpIPredicate::slt, e.addIdx(t0, row), end);
  // The mask's term for this token (rows past the split read the last
  // one; their scores are masked anyway).
  Value term;
  if (bias) {
    Value last = arith::SubIOp::create(b, end, e.index(1));
    Value token = arith::MinSIOp::create(b, e.addIdx(t0, row), last);
    term = memref::LoadOp::create(b, bias, ValueRange{bi, token});
  }
  SmallVector<Value> keys, values;
  for (int64_t i = 0; i < vpl; ++i) {
    keys.push_back(e.loadF32Vector(keyTile, {row, column(i)}, vw, kvAlign));
    values.push_back(e.loadF32Vector(valueTile, {row, column(i)}, vw, kvAlign));
  }
  SmallVector<Value> out;
  for (int64_t j = 0; j < hpw; ++j) {
    ValueRange mine = running.slice(j * perHead, perHead);
    Value score = emitScore(j, keys, valid, term);
    updateHead(mine, score, values, out);
  }
  return out;
}

/// The scaled, capped and masked score of the warp's head `head` for this
/// slot's row, on every lane of the slot.
Value DecodePartialBody::emitScore(int64_t head, ArrayRef<Value> keys,
                                   Value valid, Value term) {
  Value dots = zeroVector;
  for (int64_t i = 0; i < vpl; ++i)
    dots = vector::FMAOp::create(b, queries[head * vpl + i], keys[i], dots);
  Value dot = vector::ReductionOp::create(b, vector::CombiningKind::ADD, dots);
  // The row's slices live in lpt adjacent lanes.
  dot = e.butterfly(dot, 1, lpt / 2, /*isMax=*/false);
  Value score = e.mul(dot, scale);
  if (config.softcap > 0) {
    Value cap = e.f32(config.softcap);
    score = e.mul(cap, math::TanhOp::create(b, e.div(score, cap)));
  }
  if (term)
    score = e.add(score, term);
  return e.select(valid, score, e.negInf());
}

/// Folds the step's scores into one head's running max, sum and
/// accumulators (`mine`), appending the updated ones to `out`.
void DecodePartialBody::updateHead(ValueRange mine, Value score,
                                   ArrayRef<Value> values,
                                   SmallVectorImpl<Value> &out) {
  // The step's max over its tps rows, on every lane.
  Value stepMax = e.butterfly(score, lpt, kWarpSize / 2, true);
  Value m = mine[0];
  Value mNew = e.fastMax(m, stepMax);
  Value mSafe = e.select(e.fcmp(arith::CmpFPredicate::OEQ, mNew, e.negInf()),
                         e.f32(0), mNew);
  Value correction = e.exp(e.sub(m, mSafe));
  Value p = e.exp(e.sub(score, mSafe));
  out.push_back(mNew);
  out.push_back(e.add(e.mul(mine[1], correction), p));
  Value pv = e.splat(p, vw), cv = e.splat(correction, vw);
  for (int64_t i = 0; i < vpl; ++i)
    out.push_back(
        vector::FMAOp::create(b, pv, values[i], e.mul(mine[2 + i], cv)));
}

void DecodePartialBody::storePartials(ValueRange state) {
  // Rows of the step were spread over the warp's slots: sum the slots.
  Value isSlotLeader = e.icmp(arith::CmpIPredicate::eq, slot, e.index(0));
  Value isLaneLeader = e.icmp(arith::CmpIPredicate::eq, lane, e.index(0));
  for (int64_t j = 0; j < hpw; ++j) {
    ValueRange mine = state.slice(j * perHead, perHead);
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
}

} // namespace

gpu::GPUFuncOp gpu_kernels::emitDecodePartialKernel(
    OpBuilder &builder, Location loc, gpu::GPUModuleOp module, StringRef name,
    const DecodeKernelConfig &config, const DecodeKernelPlan &plan) {
  // 1. Declare the kernel: its arguments and the K and V tiles.
  // 2. Index the thread (lane, warp, slot) and the block (split, KV head,
  //    query row), and the split's tokens.
  // 3. Load the warp's query slices into registers.
  // 4. Per tile of the split: stage its K and V rows, then fold them into
  //    each head's online softmax, a step of tps rows at a time.
  // 5. Sum the warp's slots and store the split's max, sum and accumulators.
  gpu::GPUFuncOp func =
      declareDecodePartialKernel(builder, loc, module, name, config, plan);
  ImplicitLocOpBuilder b(loc, builder);
  b.setInsertionPointToStart(&func.getBody().front());
  DecodePartialBody body(b, func, config, plan);
  body.indexThreads();
  body.loadQueries();
  SmallVector<Value> state = body.attendSplit();
  body.storePartials(state);
  gpu::ReturnOp::create(b);
  return func;
}
