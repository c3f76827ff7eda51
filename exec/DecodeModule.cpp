//===- DecodeModule.cpp - one decode step as an hgc function --------------===//

#include "exec/DecodeModule.h"

#include "dialect/HgcOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::hgc;

namespace {
/// The types of the function's arguments, in order.
struct DecodeTypes {
  RankedTensorType queries, kv, tables, lengths, summaries, codes, scales,
      pqCodes, pqCodebooks, channelKeys, valueSums, candidates;
};

DecodeTypes getDecodeTypes(Builder &builder, const DecodeModuleSpec &spec) {
  DecodeTypes types;
  types.queries = RankedTensorType::get(
      {spec.batch, spec.queryHeads, spec.headDim}, builder.getF32Type());
  bool paged = spec.blockSize > 0;
  SmallVector<int64_t, 4> kvShape = {spec.blocks, spec.blockSize, spec.kvHeads,
                                     spec.headDim};
  if (!paged)
    kvShape = {spec.batch, spec.kvHeads, spec.tokens, spec.headDim};
  else if (spec.headsMajor)
    std::swap(kvShape[1], kvShape[2]);
  types.kv = RankedTensorType::get(kvShape, spec.kvElementType);
  if (paged) {
    types.tables = RankedTensorType::get({spec.batch, spec.maxBlocks},
                                         builder.getI32Type());
    types.lengths = RankedTensorType::get({spec.batch}, builder.getI32Type());
  }
  if (spec.summaryBlock > 0)
    types.summaries = RankedTensorType::get(
        {spec.batch, spec.kvHeads, spec.summaryBlocks, spec.headDim},
        spec.kvElementType);
  if (spec.keyCodes) {
    // Per sequence in token order, whatever the paging.
    SmallVector<int64_t, 4> shape(types.kv.getShape());
    if (paged)
      shape = {spec.batch, spec.kvHeads, ShapedType::kDynamic, spec.headDim};
    types.codes = RankedTensorType::get(shape, builder.getI8Type());
    types.scales = RankedTensorType::get(ArrayRef<int64_t>(shape).take_front(3),
                                         builder.getF32Type());
  }
  if (spec.pqSubspaces > 0) {
    // Per sequence in token order, whatever the paging.
    SmallVector<int64_t, 4> shape(types.kv.getShape());
    if (paged)
      shape = {spec.batch, spec.kvHeads, ShapedType::kDynamic, spec.headDim};
    types.pqCodes = RankedTensorType::get(
        {shape[0], shape[1], shape[2], spec.pqSubspaces},
        spec.pqCentroids > 256 ? builder.getI16Type() : builder.getI8Type());
    types.pqCodebooks = RankedTensorType::get(
        {shape[0], shape[1], spec.pqSubspaces, spec.pqCentroids,
         spec.headDim / spec.pqSubspaces},
        builder.getF32Type());
  }
  // Per sequence in token order, whatever the paging.
  int64_t tokens = paged ? ShapedType::kDynamic : spec.tokens;
  if (spec.channelKeys)
    types.channelKeys = RankedTensorType::get(
        {spec.batch, spec.kvHeads, spec.headDim, tokens}, spec.kvElementType);
  if (spec.valueBlock > 0)
    types.valueSums = RankedTensorType::get(
        {spec.batch, spec.kvHeads,
         ShapedType::isDynamic(tokens)
             ? ShapedType::kDynamic
             : (tokens + spec.valueBlock - 1) / spec.valueBlock,
         spec.headDim},
        builder.getF32Type());
  if (spec.ahead != DecodeModuleSpec::Ahead::None) {
    // A selection returns its budget's count; a step takes any number (the
    // JIT adds recalled pages to a selection's candidates).
    int64_t budget = spec.placement.getTiers()[1].getBudgetTokens();
    bool fixed = spec.ahead == DecodeModuleSpec::Ahead::Select && budget > 0;
    types.candidates = RankedTensorType::get(
        {spec.batch, spec.kvHeads, fixed ? budget : ShapedType::kDynamic},
        builder.getI32Type());
  }
  return types;
}
} // namespace

OwningOpRef<ModuleOp> hgc::buildDecodeModule(MLIRContext *context,
                                             const DecodeModuleSpec &spec) {
  context->loadDialect<func::FuncDialect, HgcDialect>();
  OpBuilder builder(context);
  Location loc = builder.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  builder.setInsertionPointToEnd(module->getBody());

  DecodeTypes types = getDecodeTypes(builder, spec);
  SmallVector<Type> inputs = {types.queries, types.kv, types.kv};
  if (types.tables)
    inputs.append({types.tables, types.lengths});
  if (types.summaries)
    inputs.append({types.summaries, types.summaries});
  if (types.codes)
    inputs.append({types.codes, types.scales});
  if (types.pqCodes)
    inputs.append({types.pqCodes, types.pqCodebooks});
  if (types.channelKeys)
    inputs.push_back(types.channelKeys);
  if (types.valueSums)
    inputs.push_back(types.valueSums);
  bool selects = spec.ahead == DecodeModuleSpec::Ahead::Select;
  if (spec.ahead == DecodeModuleSpec::Ahead::Consume)
    inputs.push_back(types.candidates);
  auto function = func::FuncOp::create(
      builder, loc, spec.entry,
      builder.getFunctionType(inputs,
                              selects ? types.candidates : types.queries));
  Block *body = function.addEntryBlock();
  builder.setInsertionPointToStart(body);

  auto arguments = body->getArguments();
  Value tables, lengths, keyMin, keyMax, codes, scales, pqCodes, pqCodebooks,
      channelKeys, valueSums;
  size_t next = 3;
  if (types.tables) {
    tables = arguments[next++];
    lengths = arguments[next++];
  }
  if (types.summaries) {
    keyMin = arguments[next++];
    keyMax = arguments[next++];
  }
  if (types.codes) {
    codes = arguments[next++];
    scales = arguments[next++];
  }
  if (types.pqCodes) {
    pqCodes = arguments[next++];
    pqCodebooks = arguments[next++];
  }
  if (types.channelKeys)
    channelKeys = arguments[next++];
  if (types.valueSums)
    valueSums = arguments[next++];
  auto cacheType =
      KVCacheType::get(spec.kvHeads, spec.headDim, spec.kvElementType);
  IntegerAttr summaryBlock =
      types.summaries ? builder.getI64IntegerAttr(spec.summaryBlock) : nullptr;
  StringAttr layout =
      types.tables && spec.headsMajor ? builder.getStringAttr("hnd") : nullptr;
  Value cache = BindKVOp::create(
      builder, loc, cacheType, arguments[1], arguments[2], lengths, keyMin,
      keyMax, codes, scales, pqCodes, pqCodebooks, channelKeys, valueSums,
      tables, summaryBlock,
      types.valueSums ? builder.getI64IntegerAttr(spec.valueBlock)
                      : IntegerAttr(),
      layout);
  auto floatAttr = [&](std::optional<float> value) {
    return value ? builder.getF32FloatAttr(*value) : FloatAttr();
  };
  if (selects) {
    Value candidates =
        PreselectOp::create(builder, loc, types.candidates, arguments[0], cache,
                            floatAttr(spec.scale), spec.placement);
    func::ReturnOp::create(builder, loc, candidates);
    return module;
  }
  Value preselected = types.candidates ? arguments.back() : Value();
  Value output = DecodeAttentionOp::create(
      builder, loc, types.queries, arguments[0], cache, preselected,
      floatAttr(spec.scale), floatAttr(spec.softcap), spec.placement);
  func::ReturnOp::create(builder, loc, output);
  return module;
}
