//===- SelectLowering.cpp - hgc.select to loops ---------------------------===//
//
// Per (batch, KV head) row: score every candidate (a token's exact q.k, its
// approximate q.k from int8 codes or from product-quantized codes through a
// per-row table of q . centroid, or a block's upper bound from its key
// min/max summaries, or its q.k over the query head's channels of largest
// |q|), maximum over the GQA group's query heads, then find
// the k-th largest score by a 4-pass radix select over order-preserving
// 32-bit keys (O(n) per pass, no sort), and emit the chosen candidates in
// ascending order (sequential reads for the partial), ties broken toward the
// lower index. A mass keep rule first shrinks k to the fewest top candidates
// holding tau of the row's softmax mass: the same radix select, its
// histogram summing the candidates' exp(score - max) instead of counting.
// The coverage result is the kept candidates' share of that mass.
//
//===----------------------------------------------------------------------===//

#include "codegen/LoopEmitter.h"
#include "codegen/Lowerings.h"
#include "codegen/PagedKV.h"

using namespace mlir;
using namespace mlir::hgc;

namespace mlir::hgc::lowering {
namespace {

/// Radix-select digits: 4 passes of 8 bits over a 32-bit key.
constexpr int64_t kDigitBits = 8, kBins = 1 << kDigitBits;

/// An i32 constant shaped like `like` (a scalar or a vector of i32).
Value i32Like(Emitter &e, Type like, int32_t value) {
  if (auto vector = dyn_cast<VectorType>(like))
    return arith::ConstantOp::create(
        e.b, DenseElementsAttr::get(vector, e.b.getI32IntegerAttr(value)));
  return e.i32(value);
}

/// An unsigned 32-bit key (or vector of keys) that orders like the f32
/// score: negative floats flipped entirely, non-negative ones with the sign
/// bit set.
Value orderedKey(Emitter &e, Value score) {
  ImplicitLocOpBuilder &b = e.b;
  Type i32 = b.getI32Type();
  if (auto vector = dyn_cast<VectorType>(score.getType()))
    i32 = VectorType::get(vector.getShape(), i32);
  Value bits = arith::BitcastOp::create(b, i32, score);
  Value sign = arith::ShRSIOp::create(b, bits, i32Like(e, i32, 31));
  Value mask = arith::OrIOp::create(b, sign, i32Like(e, i32, INT32_MIN));
  return arith::XOrIOp::create(b, bits, mask);
}

/// Inverse of orderedKey: the f32 score (or vector of scores) a key orders.
Value scoreOfKey(Emitter &e, Value key) {
  ImplicitLocOpBuilder &b = e.b;
  Type type = key.getType();
  // Keys of non-negative scores have the top bit set: flip it back; the
  // others were flipped entirely.
  Value sign = arith::ShRSIOp::create(b, key, i32Like(e, type, 31));
  Value mask = arith::OrIOp::create(
      b, arith::XOrIOp::create(b, sign, i32Like(e, type, -1)),
      i32Like(e, type, INT32_MIN));
  Type f32 = b.getF32Type();
  if (auto vector = dyn_cast<VectorType>(type))
    f32 = VectorType::get(vector.getShape(), f32);
  return arith::BitcastOp::create(b, f32, arith::XOrIOp::create(b, key, mask));
}

/// What a radix select accumulates per key: a count (i32 bins, index totals)
/// or a weight `weightAt(t)` of key `t` (f32 bins and totals).
struct RadixWeights {
  function_ref<Value(Value)> weightAt; // null: count keys

  Type binType(Emitter &e) const {
    return weightAt ? Type(e.b.getF32Type()) : Type(e.b.getI32Type());
  }
  Value zero(Emitter &e) const { return weightAt ? e.f32(0) : e.index(0); }
  /// A bin's value as a total.
  Value total(Emitter &e, Value bin) const {
    return weightAt ? bin : e.toIndex(bin);
  }
  Value add(Emitter &e, Value x, Value y) const {
    return weightAt ? e.add(x, y)
                    : arith::AddIOp::create(e.b, x, y).getResult();
  }
  Value sub(Emitter &e, Value x, Value y) const {
    return weightAt ? e.sub(x, y)
                    : arith::SubIOp::create(e.b, x, y).getResult();
  }
  Value reaches(Emitter &e, Value x, Value need) const {
    return weightAt ? e.fcmp(arith::CmpFPredicate::OGE, x, need)
                    : e.icmp(arith::CmpIPredicate::sge, x, need);
  }
  /// What key `t` adds to its bin when it `matches` the prefix.
  Value increment(Emitter &e, Value t, Value matches) const {
    if (!weightAt)
      return arith::ExtUIOp::create(e.b, e.b.getI32Type(), matches);
    return e.select(matches, weightAt(t), e.f32(0));
  }
};

/// The largest key `x` of `keys[0, n)` (unsigned) whose keys >= x weigh at
/// least `need` (counting: the need-th largest key, 1 <= need <= n), and
/// how much of `need` is left for the keys equal to it. Weighted totals
/// that round short of `need` settle on the smallest key's bin.
std::pair<Value, Value> radixSelect(Emitter &e, Value keys, Value n, Value need,
                                    const RadixWeights &weights = {}) {
  ImplicitLocOpBuilder &b = e.b;
  Value histogram =
      memref::AllocaOp::create(b, MemRefType::get({kBins}, weights.binType(e)));
  Value emptyBin = weights.weightAt ? e.f32(0) : e.i32(0);
  ValueRange found = e.forLoop(
      e.index(0), e.index(32 / kDigitBits), {e.i32(0), need},
      [&](Value pass, ValueRange state) {
        Value prefix = state[0], remaining = state[1];
        Value passI32 = arith::IndexCastOp::create(b, b.getI32Type(), pass);
        Value shift = arith::SubIOp::create(
            b, e.i32(32 - kDigitBits),
            arith::MulIOp::create(b, passI32, e.i32(kDigitBits)));
        // Bits fixed by earlier passes (none in the first; a shift by 32
        // would be poison, so that pass selects 0 instead).
        Value fixed = e.select(
            e.icmp(arith::CmpIPredicate::eq, pass, e.index(0)), e.i32(0),
            arith::ShLIOp::create(
                b, e.i32(-1),
                arith::AddIOp::create(b, shift, e.i32(kDigitBits))));
        e.forLoop(e.index(0), e.index(kBins), {}, [&](Value d, ValueRange) {
          memref::StoreOp::create(b, emptyBin, histogram, d);
          return SmallVector<Value>{};
        });
        e.forLoop(e.index(0), n, {}, [&](Value t, ValueRange) {
          Value key = memref::LoadOp::create(b, keys, t);
          Value matches = e.icmp(arith::CmpIPredicate::eq,
                                 arith::AndIOp::create(b, key, fixed), prefix);
          Value digit = arith::AndIOp::create(
              b, arith::ShRUIOp::create(b, key, shift), e.i32(kBins - 1));
          Value bin = e.toIndex(digit);
          Value count = memref::LoadOp::create(b, histogram, bin);
          Value add = weights.increment(e, t, matches);
          Value sum = weights.weightAt
                          ? e.add(count, add)
                          : arith::AddIOp::create(b, count, add).getResult();
          memref::StoreOp::create(b, sum, histogram, bin);
          return SmallVector<Value>{};
        });
        // From the highest digit down: the bin where the total reaches
        // `remaining` holds the key; bins above it are all taken.
        Value falseV = arith::ConstantOp::create(b, b.getBoolAttr(false));
        ValueRange scan = e.forLoop(
            e.index(0), e.index(kBins),
            {weights.zero(e), e.index(0), weights.zero(e), falseV},
            [&](Value i, ValueRange s) {
              Value cumulative = s[0], digit = s[1], above = s[2], done = s[3];
              Value d = arith::SubIOp::create(b, e.index(kBins - 1), i);
              Value next = weights.add(
                  e, cumulative,
                  weights.total(e, memref::LoadOp::create(b, histogram, d)));
              Value last = e.icmp(arith::CmpIPredicate::eq, d, e.index(0));
              Value hit = arith::AndIOp::create(
                  b,
                  arith::XOrIOp::create(
                      b, done,
                      arith::ConstantOp::create(b, b.getBoolAttr(true))),
                  arith::OrIOp::create(b, weights.reaches(e, next, remaining),
                                       last));
              return SmallVector<Value>{next, e.select(hit, d, digit),
                                        e.select(hit, cumulative, above),
                                        arith::OrIOp::create(b, done, hit)};
            });
        Value digit = arith::IndexCastOp::create(b, b.getI32Type(), scan[1]);
        return SmallVector<Value>{
            arith::OrIOp::create(b, prefix,
                                 arith::ShLIOp::create(b, digit, shift)),
            weights.sub(e, remaining, scan[2])};
      });
  return {found[0], found[1]};
}

/// Walks `keys[0, n)` in order and calls `take(c, key, kept)` for the keys
/// above `threshold` and the first `ties` equal to it (what a radix select
/// found), `kept` counting those taken before; returns how many it took.
Value forEachTaken(Emitter &e, Value keys, Value n, Value threshold, Value ties,
                   function_ref<void(Value, Value, Value)> take) {
  ImplicitLocOpBuilder &b = e.b;
  return e.forLoop(
      e.index(0), n, {e.index(0), e.index(0)}, [&](Value c, ValueRange s) {
        Value key = memref::LoadOp::create(b, keys, c);
        Value tie = arith::AndIOp::create(
            b, e.icmp(arith::CmpIPredicate::eq, key, threshold),
            e.icmp(arith::CmpIPredicate::slt, s[1], ties));
        Value taken = arith::OrIOp::create(
            b, e.icmp(arith::CmpIPredicate::ugt, key, threshold), tie);
        e.ifThen(taken, {}, [&]() {
          take(c, key, s[0]);
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{
            e.select(taken, arith::AddIOp::create(b, s[0], e.index(1)), s[0]),
            e.select(tie, arith::AddIOp::create(b, s[1], e.index(1)), s[1])};
      })[0];
}

/// One hgc.select as loops: per (sequence, KV head) the candidates' best
/// scores over the GQA group, radix-selected down to the budget.
class SelectLowering {
public:
  SelectLowering(SelectOp op, ImplicitLocOpBuilder &b)
      : op(op), byBlock(op.getPolicy() == Selection::BlockTopK),
        byCodes(op.getPolicy() == Selection::QuantTopK),
        byPq(op.getPolicy() == Selection::PqTopK),
        byChannels(op.getPolicy() == Selection::ChannelTopK), b(b), e{b} {}

  /// With `countInto`, also counts the kept entries for the runtime.
  void lower(RewriterBase &rewriter, ModuleOp countInto);

private:
  void readOperands();
  void allocateResult();
  Value budgetFor(Value n);
  SmallVector<Value> scoresOf(Value bi, Value hk, Value c,
                              ArrayRef<Value> heads);
  void buildPqTable(Value bi, Value hk);
  SmallVector<Value> pqScoresOf(Value bi, Value hk, Value c,
                                ArrayRef<Value> heads);
  void buildChannelTable();
  void fillChannelKeys(Value keys, Value bi, Value hk, Value n);
  void storeCoverage(Value keys, Value bi, Value hk, Value n, Value kept);
  Value bestOf(Value bi, Value hk, Value c);
  void scoreAllHeads();
  void selectRow(Value bi, Value hk);
  Value rowKeys(Value bi, Value hk, Value n);
  void fillKeys(Value keys, Value bi, Value hk, Value n);
  Value takeByMass(Value keys, Value bi, Value hk, Value n, Value keep,
                   double mass);
  Value sumOfWeights(Value keys, Value n, Value best);
  void takeTopK(Value keys, Value bi, Value hk, Value n, Value keep);
  void fillUnused(Value bi, Value hk, Value kept);
  void countKeptEntries(ModuleOp module);
  SmallVector<Value> candidateAt(Value bi, Value hk, Value c) {
    if (paged)
      return paged->at(e, bi, hk, c);
    return {bi, hk, c};
  }

  SelectOp op;
  bool byBlock, byCodes, byPq, byChannels;
  // channel_topk: per (sequence, KV head) the `channels` channels of largest
  // |q| summed over its group ([batch, kv_heads, channels] index), and each
  // query head's entries there, scaled ([batch, q_heads, channels] f32),
  // made before scoring.
  Value channelIndex, channelQuery;
  // pq_topk: the row's table [subspaces, centroids, group] of scaled
  // q . centroid, built per row before its candidates are scored (a
  // centroid's entries for the group's heads side by side: one vector load
  // serves a tile of heads).
  Value pqTable;
  ImplicitLocOpBuilder &b;
  Emitter e;
  // Token keys of a paged tier view are scored where they are.
  std::optional<PagedKV> paged;
  // The query; the tokens' keys, their codes and scales, or the blocks' key
  // minima and maxima.
  Value q, first, second, lengths;
  Value batch, qHeads, headDim, kvHeads, candidates, group, scale;
  std::optional<HeadDimLoop> lanes;
  int64_t tile = 1;
  // Keys of token-major paged blocks are scored for every head up front
  // into `scored` ([batch, kv_heads, candidates] ordered keys).
  bool allHeads = false;
  Value scored;
  // The result, as wide as the largest budget over the batch, and the kept
  // share of each row's mass when the op reports it.
  RankedTensorType resultType;
  Value width, out, coverage;
};

void SelectLowering::lower(RewriterBase &rewriter, ModuleOp countInto) {
  // 1. Operands as buffers (paged keys in place), with sizes.
  readOperands();
  // 2. The result, -1 past each row's kept entries.
  allocateResult();
  // 3. Each query head's channels (channel_topk); keys of token-major paged
  //    blocks: every head's scores up front.
  if (byChannels)
    buildChannelTable();
  if (allHeads)
    scoreAllHeads();
  // 4. Per (sequence, KV head), in parallel: the kept candidates in order.
  e.parallel({batch, kvHeads},
             [&](ValueRange row) { selectRow(row[0], row[1]); });
  // 5. For the runtime's statistics, the entries kept.
  if (countInto)
    countKeptEntries(countInto);
  // 6. The results replace the op's.
  SmallVector<Value> results = {e.tensor(out, resultType)};
  if (coverage)
    results.push_back(e.tensor(coverage, op.getCoverage().getType()));
  rewriter.replaceOp(op, results);
}

void SelectLowering::readOperands() {
  q = e.buffer(op.getQuery());
  paged = byBlock || byCodes || byPq || byChannels
              ? std::nullopt
              : PagedKV::of(e, op.getInputs()[0]);
  first = paged ? paged->key : e.buffer(op.getInputs()[0]);
  second = op.getInputs().size() > 1 ? e.buffer(op.getInputs()[1]) : Value();
  lengths = op.getLengths() ? e.buffer(op.getLengths()) : Value();
  batch = e.dim(q, 0);
  qHeads = e.dim(q, 1);
  headDim = e.dim(q, 2);
  auto inputType = cast<RankedTensorType>(op.getInputs()[0].getType());
  kvHeads = paged ? e.index(inputType.getDimSize(1)) : e.dim(first, 1);
  // Channel-major keys are [batch, kv_heads, head_dim, tokens].
  candidates = paged        ? longestLength(e, lengths)
               : byChannels ? e.dim(first, 3)
                            : e.dim(first, 2);
  group = arith::DivUIOp::create(b, qHeads, kvHeads);
  scale = e.scale(op.getScale(), headDim);
  // pq codes are [.., subspaces] and channel-major keys [.., tokens]: the
  // head dim is the query's.
  lanes.emplace(e, headDim,
                byPq || byChannels ? op.getQuery().getType().getDimSize(2)
                                   : inputType.getDimSize(3));
  tile =
      headTile(op.getQuery().getType().getDimSize(1), inputType.getDimSize(1));
  allHeads = paged && !paged->headsMajor;
}

void SelectLowering::allocateResult() {
  resultType = op.getIndices().getType();
  if (!resultType.isDynamicDim(2)) {
    width = e.index(resultType.getDimSize(2));
  } else {
    width =
        e.forLoop(e.index(0), batch, {e.index(0)}, [&](Value bi, ValueRange w) {
          Value n = e.validTokens(lengths, bi, candidates);
          return SmallVector<Value>{
              arith::MaxSIOp::create(b, w[0], budgetFor(n))};
        })[0];
  }
  out = e.alloc(resultType, {batch, kvHeads, width});
  if (op.getCoverage())
    coverage = e.alloc(op.getCoverage().getType(), {batch, kvHeads});
}

/// Candidates to keep for a sequence of `n`.
Value SelectLowering::budgetFor(Value n) {
  if (std::optional<uint64_t> count = op.getK())
    return e.index(*count);
  Value nf = arith::SIToFPOp::create(
      b, b.getF64Type(), arith::IndexCastOp::create(b, b.getI64Type(), n));
  Value chosen = math::CeilOp::create(
      b, arith::MulFOp::create(
             b, nf,
             arith::ConstantOp::create(
                 b, b.getF64FloatAttr(op.getFraction()->convertToDouble()))));
  return arith::IndexCastOp::create(
      b, b.getIndexType(), arith::FPToSIOp::create(b, b.getI64Type(), chosen));
}

/// The row's pq table: for each of the group's query heads, sub-space and
/// centroid, the scaled dot product of the query's sub-vector with the
/// centroid. group * centroids * head_dim multiply-adds per row, against
/// that many per candidate for exact scores.
void SelectLowering::buildPqTable(Value bi, Value hk) {
  auto books = cast<RankedTensorType>(op.getInputs()[1].getType());
  int64_t subspaces = books.getDimSize(2), centroids = books.getDimSize(3);
  Value width = e.dim(second, 4);
  pqTable = memref::AllocOp::create(
      b,
      MemRefType::get({subspaces, centroids, ShapedType::kDynamic},
                      b.getF32Type()),
      ValueRange{group});
  Value h0 = arith::MulIOp::create(b, hk, group);
  e.forLoop(e.index(0), group, {}, [&](Value i, ValueRange) {
    Value h = arith::AddIOp::create(b, h0, i);
    e.forLoop(e.index(0), e.index(subspaces), {}, [&](Value g, ValueRange) {
      Value base = arith::MulIOp::create(b, g, width);
      e.forLoop(e.index(0), e.index(centroids), {}, [&](Value c, ValueRange) {
        Value dot = e.forLoop(
            e.index(0), width, {e.f32(0)}, [&](Value j, ValueRange s) {
              Value query =
                  e.loadF32(q, {bi, h, arith::AddIOp::create(b, base, j)});
              Value center = e.loadF32(second, {bi, hk, g, c, j});
              return SmallVector<Value>{
                  math::FmaOp::create(b, query, center, s[0])};
            })[0];
        memref::StoreOp::create(b, e.mul(dot, scale), pqTable,
                                ValueRange{g, c, i});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
}

/// A candidate's pq scores for query heads `heads` (consecutive): per
/// sub-space, its code's entries of the row's table, summed, the heads'
/// entries loaded as one vector.
SmallVector<Value> SelectLowering::pqScoresOf(Value bi, Value hk, Value c,
                                              ArrayRef<Value> heads) {
  auto codesType = cast<RankedTensorType>(op.getInputs()[0].getType());
  int64_t subspaces = codesType.getDimSize(3);
  int64_t count = int64_t(heads.size());
  auto lanesType = VectorType::get({count}, b.getF32Type());
  Value firstHead = arith::SubIOp::create(b, heads.front(),
                                          arith::MulIOp::create(b, hk, group));
  Value sum = vector::BroadcastOp::create(b, lanesType, e.f32(0));
  for (int64_t g = 0; g < subspaces; ++g) {
    Value gi = e.index(g);
    // Codes are unsigned.
    Value code = memref::LoadOp::create(b, first, ValueRange{bi, hk, c, gi});
    Value centroid = arith::IndexCastUIOp::create(
        b, b.getIndexType(), arith::ExtUIOp::create(b, b.getI32Type(), code));
    sum =
        e.add(sum, vector::LoadOp::create(b, lanesType, pqTable,
                                          ValueRange{gi, centroid, firstHead}));
  }
  SmallVector<Value> scores;
  for (int64_t i = 0; i < count; ++i)
    scores.push_back(vector::ExtractOp::create(b, sum, i));
  return scores;
}

/// SparQ's channel choice, per (sequence, KV head): the `channels` channels
/// of largest |q| summed over the group's query heads (ties toward the
/// lower channel; one set per KV head, so scoring reads that many rows of
/// its channel-major keys), by repeated arg-max over a copy of the sums
/// (channels * head_dim compares, against that many multiply-adds per
/// candidate). Each query head's entries there are scaled by the softmax
/// scale times sqrt(|q|_1 / |q_r|_1), SparQ's correction that keeps the
/// softmax of partial scores as sharp as the exact one.
void SelectLowering::buildChannelTable() {
  int64_t channels = int64_t(*op.getChannels());
  auto tableType = [&](Type element) {
    return MemRefType::get(
        {ShapedType::kDynamic, ShapedType::kDynamic, channels}, element);
  };
  channelIndex = memref::AllocOp::create(b, tableType(b.getIndexType()),
                                         ValueRange{batch, kvHeads});
  channelQuery = memref::AllocOp::create(b, tableType(b.getF32Type()),
                                         ValueRange{batch, qHeads});
  e.parallel({batch, kvHeads}, [&](ValueRange row) {
    Value bi = row[0], hk = row[1];
    Value h0 = arith::MulIOp::create(b, hk, group);
    Value magnitude = memref::AllocaOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
        ValueRange{headDim});
    e.forLoop(e.index(0), headDim, {}, [&](Value d, ValueRange) {
      Value sum = e.forLoop(
          e.index(0), group, {e.f32(0)}, [&](Value i, ValueRange acc) {
            Value h = arith::AddIOp::create(b, h0, i);
            return SmallVector<Value>{e.add(
                acc[0], math::AbsFOp::create(b, e.loadF32(q, {bi, h, d})))};
          })[0];
      memref::StoreOp::create(b, sum, magnitude, d);
      return SmallVector<Value>{};
    });
    e.forLoop(e.index(0), e.index(channels), {}, [&](Value j, ValueRange) {
      // The largest sum left; a taken channel is marked -1.
      SmallVector<Value> best =
          e.forLoop(e.index(0), headDim, {e.f32(-1), e.index(0)},
                    [&](Value d, ValueRange m) {
                      Value v = memref::LoadOp::create(b, magnitude, d);
                      Value larger = e.fcmp(arith::CmpFPredicate::OGT, v, m[0]);
                      return SmallVector<Value>{e.select(larger, v, m[0]),
                                                e.select(larger, d, m[1])};
                    });
      memref::StoreOp::create(b, e.f32(-1), magnitude, best[1]);
      memref::StoreOp::create(b, best[1], channelIndex, ValueRange{bi, hk, j});
      return SmallVector<Value>{};
    });
    e.forLoop(e.index(0), group, {}, [&](Value i, ValueRange) {
      Value h = arith::AddIOp::create(b, h0, i);
      Value l1 = e.forLoop(
          e.index(0), headDim, {e.f32(0)}, [&](Value d, ValueRange acc) {
            return SmallVector<Value>{e.add(
                acc[0], math::AbsFOp::create(b, e.loadF32(q, {bi, h, d})))};
          })[0];
      auto channelAt = [&](Value j) {
        return memref::LoadOp::create(b, channelIndex, ValueRange{bi, hk, j})
            .getResult();
      };
      Value chosenL1 = e.forLoop(
          e.index(0), e.index(channels), {e.f32(0)},
          [&](Value j, ValueRange acc) {
            return SmallVector<Value>{e.add(
                acc[0],
                math::AbsFOp::create(b, e.loadF32(q, {bi, h, channelAt(j)})))};
          })[0];
      // A zero query scores every token 0 whatever the factor: keep it
      // finite.
      Value positive = e.fcmp(arith::CmpFPredicate::OGT, chosenL1, e.f32(0));
      Value factor = e.mul(
          scale, math::SqrtOp::create(
                     b, e.select(positive, e.div(l1, chosenL1), e.f32(1))));
      e.forLoop(e.index(0), e.index(channels), {}, [&](Value j, ValueRange) {
        memref::StoreOp::create(
            b, e.mul(e.loadF32(q, {bi, h, channelAt(j)}), factor), channelQuery,
            ValueRange{bi, h, j});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  });
}

/// The row's ordered keys for channel_topk. Candidates go in runs of
/// `vectors` x 8 lanes, a tile of query heads at a time: for each chosen
/// channel the run's stretch of that channel's row is loaded once and
/// multiplied into every head's accumulators, all held in registers
/// (tile x vectors <= 8 of them), then the maximum over the group. The tail
/// past the whole runs is scored one candidate at a time.
void SelectLowering::fillChannelKeys(Value keys, Value bi, Value hk, Value n) {
  int64_t channels = int64_t(*op.getChannels());
  int64_t vectors = std::max<int64_t>(1, 8 / tile);
  int64_t run = vectors * kLanes;
  Type elt = cast<MemRefType>(first.getType()).getElementType();
  auto lanesType = VectorType::get({kLanes}, b.getF32Type());
  auto loadedType = VectorType::get({kLanes}, elt);
  Value h0 = arith::MulIOp::create(b, hk, group);
  Value zeros = vector::BroadcastOp::create(b, lanesType, e.f32(0));
  Value negInf = vector::BroadcastOp::create(b, lanesType, e.negInf());
  auto weightOf = [&](Value h, Value j) -> Value {
    return memref::LoadOp::create(b, channelQuery, ValueRange{bi, h, j});
  };
  Value whole = arith::MulIOp::create(
      b, arith::DivUIOp::create(b, n, e.index(run)), e.index(run));
  e.forLoop(e.index(0), whole, {}, e.index(run), [&](Value c0, ValueRange) {
    SmallVector<Value> init(vectors, negInf);
    SmallVector<Value> best = llvm::to_vector(e.forLoop(
        e.index(0), group, init, e.index(tile), [&](Value g0, ValueRange m) {
          Value first0 = arith::AddIOp::create(b, h0, g0);
          SmallVector<Value> sums = llvm::to_vector(e.forLoop(
              e.index(0), e.index(channels),
              SmallVector<Value>(tile * vectors, zeros),
              [&](Value j, ValueRange acc) {
                Value d = memref::LoadOp::create(b, channelIndex,
                                                 ValueRange{bi, hk, j});
                SmallVector<Value> x;
                for (int64_t v = 0; v < vectors; ++v) {
                  Value c = arith::AddIOp::create(b, c0, e.index(v * kLanes));
                  Value loaded = vector::LoadOp::create(
                      b, loadedType, first, ValueRange{bi, hk, d, c});
                  x.push_back(elt.isF32()
                                  ? loaded
                                  : arith::ExtFOp::create(b, lanesType, loaded)
                                        .getResult());
                }
                SmallVector<Value> next;
                for (int64_t i = 0; i < tile; ++i) {
                  Value h = arith::AddIOp::create(b, first0, e.index(i));
                  Value w =
                      vector::BroadcastOp::create(b, lanesType, weightOf(h, j));
                  for (int64_t v = 0; v < vectors; ++v)
                    next.push_back(vector::FMAOp::create(b, w, x[v],
                                                         acc[i * vectors + v]));
                }
                return next;
              }));
          SmallVector<Value> running(m.begin(), m.end());
          for (int64_t i = 0; i < tile; ++i)
            for (int64_t v = 0; v < vectors; ++v)
              running[v] = e.fastMax(running[v], sums[i * vectors + v]);
          return running;
        }));
    for (int64_t v = 0; v < vectors; ++v)
      vector::StoreOp::create(
          b, orderedKey(e, best[v]), keys,
          ValueRange{arith::AddIOp::create(b, c0, e.index(v * kLanes))});
    return SmallVector<Value>{};
  });
  e.forLoop(whole, n, {}, [&](Value c, ValueRange) {
    Value best =
        e.forLoop(e.index(0), group, {e.negInf()}, [&](Value i, ValueRange m) {
          Value h = arith::AddIOp::create(b, h0, i);
          Value score = e.forLoop(
              e.index(0), e.index(channels), {e.f32(0)},
              [&](Value j, ValueRange s) {
                Value d = memref::LoadOp::create(b, channelIndex,
                                                 ValueRange{bi, hk, j});
                return SmallVector<Value>{math::FmaOp::create(
                    b, weightOf(h, j), e.loadF32(first, {bi, hk, d, c}), s[0])};
              })[0];
          return SmallVector<Value>{e.fastMax(m[0], score)};
        })[0];
    memref::StoreOp::create(b, orderedKey(e, best), keys, c);
    return SmallVector<Value>{};
  });
}

/// A candidate's score for query heads `heads`: q.k scaled (a token's codes
/// times its scale standing in for its key; a pq table's entries), or for a
/// block the largest q.k any key inside its per-lane [min, max] box can
/// reach.
SmallVector<Value> SelectLowering::scoresOf(Value bi, Value hk, Value c,
                                            ArrayRef<Value> heads) {
  if (byPq)
    return pqScoresOf(bi, hk, c, heads);
  SmallVector<Value> zeros(heads.size(), lanes->zero());
  SmallVector<Value> sums = lanes->over(zeros, [&](Value d, ValueRange acc) {
    Value lo = lanes->load(first, candidateAt(bi, hk, c), d);
    Value hi = byBlock ? lanes->load(second, {bi, hk, c}, d) : Value();
    SmallVector<Value> next;
    for (auto [h, a] : llvm::zip(heads, acc)) {
      Value query = lanes->load(q, {bi, h}, d);
      if (!byBlock) {
        next.push_back(lanes->fma(query, lo, a));
        continue;
      }
      // The scale folds into the query so a negative one bounds too.
      query = e.mul(query, lanes->splat(scale));
      next.push_back(e.add(a, e.fastMax(e.mul(query, lo), e.mul(query, hi))));
    }
    return next;
  });
  Value factor = scale;
  if (byCodes)
    factor =
        e.mul(scale, memref::LoadOp::create(b, second, ValueRange{bi, hk, c}));
  SmallVector<Value> scores;
  for (Value sum : lanes->sums(sums))
    scores.push_back(byBlock ? sum : e.mul(sum, factor));
  return scores;
}

/// A candidate's best score over KV head `hk`'s query heads, as an ordered
/// key.
Value SelectLowering::bestOf(Value bi, Value hk, Value c) {
  Value h0 = arith::MulIOp::create(b, hk, group);
  Value best =
      e.forLoop(e.index(0), group, {e.negInf()}, e.index(tile),
                [&](Value g0, ValueRange m) {
                  SmallVector<Value> heads;
                  for (int64_t i = 0; i < tile; ++i)
                    heads.push_back(arith::AddIOp::create(
                        b, h0, arith::AddIOp::create(b, g0, e.index(i))));
                  Value running = m[0];
                  for (Value s : scoresOf(bi, hk, c, heads))
                    running = e.fastMax(running, s);
                  return SmallVector<Value>{running};
                })[0];
  return orderedKey(e, best);
}

/// Token-major paged blocks (NHD) hold every head's key of a token
/// together: scoring one head at a time would stride over the others'.
/// Score them first, every head in turn within runs of kRun candidates, in
/// parallel over chunks of kChunk candidates.
void SelectLowering::scoreAllHeads() {
  constexpr int64_t kRun = 16, kChunk = 1024;
  scored = memref::AllocOp::create(
      b,
      MemRefType::get(
          {ShapedType::kDynamic, ShapedType::kDynamic, ShapedType::kDynamic},
          b.getI32Type()),
      ValueRange{batch, kvHeads, candidates});
  Value chunks = arith::CeilDivUIOp::create(b, candidates, e.index(kChunk));
  e.parallel({batch, chunks}, [&](ValueRange row) {
    Value bi = row[0];
    Value n = e.validTokens(lengths, bi, candidates);
    Value begin = arith::MulIOp::create(b, row[1], e.index(kChunk));
    Value end = arith::MinSIOp::create(
        b, arith::AddIOp::create(b, begin, e.index(kChunk)), n);
    e.forLoop(begin, end, {}, e.index(kRun), [&](Value run, ValueRange) {
      Value last = arith::MinSIOp::create(
          b, arith::AddIOp::create(b, run, e.index(kRun)), end);
      paged->beginRun(e, bi, run, kRun);
      e.forLoop(e.index(0), kvHeads, {}, [&](Value hk, ValueRange) {
        e.forLoop(run, last, {}, [&](Value c, ValueRange) {
          memref::StoreOp::create(b, bestOf(bi, hk, c), scored,
                                  ValueRange{bi, hk, c});
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
      paged->endRun();
      return SmallVector<Value>{};
    });
  });
}

/// Row (bi, hk) of the result: its kept candidates, then -1.
void SelectLowering::selectRow(Value bi, Value hk) {
  Value n = e.validTokens(lengths, bi, candidates);
  Value keep = arith::MinSIOp::create(b, budgetFor(n), n);
  Value keys = rowKeys(bi, hk, n);
  if (byPq)
    buildPqTable(bi, hk);
  // A mass rule scores every candidate first: it may keep fewer than the
  // budget even when the budget covers the row.
  // A mass rule scores every candidate (it may keep fewer than a budget
  // that covers the row); a mass of 1 keeps the whole budget.
  std::optional<llvm::APFloat> mass = op.getMass();
  if (mass && mass->convertToDouble() < 1.0) {
    fillKeys(keys, bi, hk, n);
    Value kept =
        e.ifThen(e.icmp(arith::CmpIPredicate::sgt, keep, e.index(0)),
                 {e.index(0)}, [&]() {
                   return SmallVector<Value>{takeByMass(
                       keys, bi, hk, n, keep, mass->convertToDouble())};
                 })[0];
    fillUnused(bi, hk, kept);
    if (coverage)
      storeCoverage(keys, bi, hk, n, kept);
    return;
  }
  Value partial = arith::AndIOp::create(
      b, e.icmp(arith::CmpIPredicate::sgt, keep, e.index(0)),
      e.icmp(arith::CmpIPredicate::slt, keep, n));
  auto ifOp = scf::IfOp::create(b, partial, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenYield());
    fillKeys(keys, bi, hk, n);
    takeTopK(keys, bi, hk, n, keep);
    if (coverage)
      storeCoverage(keys, bi, hk, n, keep);
    b.setInsertionPoint(ifOp.elseYield());
    // Keeping every candidate (or none) needs no scores.
    e.forLoop(e.index(0), keep, {}, [&](Value j, ValueRange) {
      memref::StoreOp::create(b,
                              arith::IndexCastOp::create(b, b.getI32Type(), j),
                              out, ValueRange{bi, hk, j});
      return SmallVector<Value>{};
    });
    if (coverage)
      memref::StoreOp::create(
          b,
          e.select(e.icmp(arith::CmpIPredicate::sgt, keep, e.index(0)),
                   e.f32(1), e.f32(0)),
          coverage, ValueRange{bi, hk});
  }
  fillUnused(bi, hk, keep);
  // The deallocation pipeline frees `keys` (it rejects explicit frees).
}

/// The share of row (bi, hk)'s softmax mass under its `n` filled keys that
/// its first `kept` result entries hold.
void SelectLowering::storeCoverage(Value keys, Value bi, Value hk, Value n,
                                   Value kept) {
  Value best = e.forLoop(e.index(0), n, {e.i32(0)}, [&](Value c, ValueRange m) {
    return SmallVector<Value>{
        arith::MaxUIOp::create(b, m[0], memref::LoadOp::create(b, keys, c))};
  })[0];
  Value bestScore = scoreOfKey(e, best);
  Value total = sumOfWeights(keys, n, bestScore);
  Value held =
      e.forLoop(e.index(0), kept, {e.f32(0)}, [&](Value j, ValueRange acc) {
        Value c = e.toIndex(e.load(out, {bi, hk, j}));
        Value key = memref::LoadOp::create(b, keys, c);
        return SmallVector<Value>{
            e.add(acc[0], e.exp(e.sub(scoreOfKey(e, key), bestScore)))};
      })[0];
  Value positive = e.fcmp(arith::CmpFPredicate::OGT, total, e.f32(0));
  memref::StoreOp::create(b, e.select(positive, e.div(held, total), e.f32(0)),
                          coverage, ValueRange{bi, hk});
}

/// -1 in row (bi, hk) of the result from entry `kept` on.
void SelectLowering::fillUnused(Value bi, Value hk, Value kept) {
  e.forLoop(kept, width, {}, [&](Value j, ValueRange) {
    memref::StoreOp::create(b, e.i32(-1), out, ValueRange{bi, hk, j});
    return SmallVector<Value>{};
  });
}

/// The row's ordered keys: this head's slice of `scored` (allHeads), else a
/// fresh buffer takeTopK fills.
Value SelectLowering::rowKeys(Value bi, Value hk, Value n) {
  if (!allHeads)
    return memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getI32Type()),
        ValueRange{n});
  SmallVector<OpFoldResult> offsets = {bi, hk, b.getIndexAttr(0)},
                            sizes = {b.getIndexAttr(1), b.getIndexAttr(1), n},
                            strides(3, b.getIndexAttr(1));
  return memref::SubViewOp::create(
      b,
      MemRefType::get(
          {ShapedType::kDynamic}, b.getI32Type(),
          StridedLayoutAttr::get(b.getContext(), ShapedType::kDynamic, {1})),
      scored, offsets, sizes, strides);
}

/// The row's ordered keys into `keys` (allHeads has them already).
void SelectLowering::fillKeys(Value keys, Value bi, Value hk, Value n) {
  if (allHeads)
    return;
  if (byChannels)
    return fillChannelKeys(keys, bi, hk, n);
  e.forLoop(e.index(0), n, {}, [&](Value c, ValueRange) {
    memref::StoreOp::create(b, bestOf(bi, hk, c), keys, c);
    return SmallVector<Value>{};
  });
}

/// Sum over the row's `n` keys of exp(score - best), 8 lanes at a time.
Value SelectLowering::sumOfWeights(Value keys, Value n, Value best) {
  auto lanes = VectorType::get({kLanes}, b.getI32Type());
  auto floats = VectorType::get({kLanes}, b.getF32Type());
  Value whole = arith::MulIOp::create(
      b, arith::DivUIOp::create(b, n, e.index(kLanes)), e.index(kLanes));
  Value bestLanes = vector::BroadcastOp::create(b, floats, best);
  Value zeros = vector::BroadcastOp::create(b, floats, e.f32(0));
  Value vectorSum = e.forLoop(
      e.index(0), whole, {zeros}, e.index(kLanes),
      [&](Value c, ValueRange acc) {
        Value key = vector::LoadOp::create(b, lanes, keys, ValueRange{c});
        return SmallVector<Value>{
            e.add(acc[0], e.exp(e.sub(scoreOfKey(e, key), bestLanes)))};
      })[0];
  Value total =
      vector::ReductionOp::create(b, vector::CombiningKind::ADD, vectorSum);
  return e.forLoop(whole, n, {total}, [&](Value c, ValueRange acc) {
    Value key = memref::LoadOp::create(b, keys, c);
    return SmallVector<Value>{
        e.add(acc[0], e.exp(e.sub(scoreOfKey(e, key), best)))};
  })[0];
}

/// HCAttention's keep rule on a row whose `n` keys are filled, `keep` (>= 1)
/// the budget: of the row's top `keep` candidates, the fewest best ones
/// whose softmax mass (over all `n`) reaches `mass`, written to the result
/// in ascending order; returns how many.
Value SelectLowering::takeByMass(Value keys, Value bi, Value hk, Value n,
                                 Value keep, double mass) {
  // 1. The budget's top candidates, compacted in index order with their
  //    keys (the mass rule never looks past them).
  std::pair<Value, Value> kth = radixSelect(e, keys, n, keep);
  Value threshold = kth.first, ties = kth.second;
  auto buffer = [&](Type element) {
    return memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, element), ValueRange{keep});
  };
  Value topKeys = buffer(b.getI32Type()), topIndices = buffer(b.getI32Type());
  forEachTaken(e, keys, n, threshold, ties, [&](Value c, Value key, Value at) {
    memref::StoreOp::create(b, key, topKeys, at);
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, b.getI32Type(), c),
                            topIndices, at);
  });
  Value best =
      e.forLoop(e.index(0), keep, {e.i32(0)}, [&](Value i, ValueRange m) {
        return SmallVector<Value>{arith::MaxUIOp::create(
            b, m[0], memref::LoadOp::create(b, topKeys, i))};
      })[0];
  // 2. The row's softmax normalizer under its best score.
  Value bestScore = scoreOfKey(e, best);
  Value total = sumOfWeights(keys, n, bestScore);
  // 3. Among the top candidates, the key where the mass from the top
  //    reaches mass * total, and the mass still needed from keys equal to it.
  Value weights = buffer(b.getF32Type());
  auto weightOf = [&](Value key) {
    return e.exp(e.sub(scoreOfKey(e, key), bestScore));
  };
  e.forLoop(e.index(0), keep, {}, [&](Value i, ValueRange) {
    memref::StoreOp::create(b, weightOf(memref::LoadOp::create(b, topKeys, i)),
                            weights, i);
    return SmallVector<Value>{};
  });
  auto weightAt = [&](Value i) -> Value {
    return memref::LoadOp::create(b, weights, i);
  };
  std::pair<Value, Value> cut = radixSelect(
      e, topKeys, keep, e.mul(e.f32(mass), total), RadixWeights{weightAt});
  Value cutKey = cut.first, rest = cut.second;
  // 4. As many keys equal to the cut as the rest needs: ceil(rest / weight),
  //    clamped to [1, keep] as a float first (a NaN or an infinite ratio
  //    from an underflowed weight reads as keep), so converting is defined.
  Value ratio = math::CeilOp::create(b, e.div(rest, weightOf(cutKey)));
  Value keepF = arith::SIToFPOp::create(
      b, b.getF32Type(), arith::IndexCastOp::create(b, b.getI64Type(), keep));
  ratio =
      e.select(e.fcmp(arith::CmpFPredicate::OLE, ratio, keepF), ratio, keepF);
  ratio = e.select(e.fcmp(arith::CmpFPredicate::OGE, ratio, e.f32(1)), ratio,
                   e.f32(1));
  Value cutTies = arith::IndexCastOp::create(
      b, b.getIndexType(), arith::FPToSIOp::create(b, b.getI64Type(), ratio));
  // 5. The kept candidates, in index order.
  return forEachTaken(
      e, topKeys, keep, cutKey, cutTies, [&](Value i, Value, Value at) {
        memref::StoreOp::create(b, memref::LoadOp::create(b, topIndices, i),
                                out, ValueRange{bi, hk, at});
      });
}

/// The `keep` best of the row's `n` candidates (keys filled), in ascending
/// order, ties broken toward the lower index.
void SelectLowering::takeTopK(Value keys, Value bi, Value hk, Value n,
                              Value keep) {
  // Not a structured binding: lambdas below capture them (C++17).
  std::pair<Value, Value> kth = radixSelect(e, keys, n, keep);
  Value threshold = kth.first, ties = kth.second;
  // Candidates above the threshold, and the first `ties` equal to it.
  forEachTaken(e, keys, n, threshold, ties, [&](Value c, Value, Value at) {
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, b.getI32Type(), c),
                            out, ValueRange{bi, hk, at});
  });
}

/// On the calling thread, after the parallel selection: the entries kept, a
/// block counting its block size, passed to the runtime.
void SelectLowering::countKeptEntries(ModuleOp module) {
  Type i64 = b.getI64Type();
  Value unit = arith::ConstantOp::create(
      b, b.getI64IntegerAttr(byBlock ? int64_t(op.getBlockSize()) : 1));
  Value zero = arith::ConstantOp::create(b, b.getI64IntegerAttr(0));
  Value total =
      e.forLoop(e.index(0), batch, {zero}, [&](Value bi, ValueRange acc) {
        return llvm::to_vector(e.forLoop(
            e.index(0), kvHeads, {acc[0]}, [&](Value hk, ValueRange acc) {
              return llvm::to_vector(e.forLoop(
                  e.index(0), width, {acc[0]}, [&](Value j, ValueRange acc) {
                    Value entry = e.load(out, {bi, hk, j});
                    Value kept =
                        e.icmp(arith::CmpIPredicate::sge, entry, e.i32(0));
                    return SmallVector<Value>{arith::AddIOp::create(
                        b, acc[0], e.select(kept, unit, zero))};
                  }));
            }));
      })[0];
  func::FuncOp count = declareRuntimeFunction(
      module, "hgc_rt_compiled_count_selected", b.getFunctionType({i64}, {}));
  func::CallOp::create(b, count, ValueRange{total});
}

} // namespace

LogicalResult lowerSelect(RewriterBase &rewriter, SelectOp op,
                          bool countSelected) {
  auto module = op->getParentOfType<ModuleOp>();
  if (countSelected && !module)
    return op.emitOpError("count-selected needs a builtin.module");
  ImplicitLocOpBuilder b = builderBefore(rewriter, op);
  SelectLowering(op, b).lower(rewriter, countSelected ? module : ModuleOp());
  return success();
}

} // namespace mlir::hgc::lowering
