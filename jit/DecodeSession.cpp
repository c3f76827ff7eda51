//===- DecodeSession.cpp - one decode step behind hgc_decode --------------===//
//
// hgc_decode over an hgc_kv_cache reads the runtime's pages through the
// kernel compiled for paged KV of the cache's page size; hgc_decode_paged
// runs the same paged kernels over KV the engine owns. Both end in run():
// memref descriptors of the operands, packed, and the kernel's statistics.
//
//===----------------------------------------------------------------------===//

#include "jit/DecodeSession.h"
#include "jit/Calibration.h"
#include "jit/Residency.h"

#include "passes/policies/PlacementPolicy.h"

#include "hgc-rt/compiled.h"
#include "hgc-rt/gpu.h"
#include "hgc-rt/host_alloc.h"
#include "hgc-rt/kv_cache.h"

#include "mlir/ExecutionEngine/CRunnerUtils.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

using namespace hgc::jit;
namespace mhgc = mlir::hgc;

namespace {
Failure makeFailure(hgc_status status, std::string message) {
  return {status, std::move(message)};
}

bool splits(const mhgc::PlacementOptions &placement) {
  return mhgc::getPlacementPolicy(placement).splits();
}

/// A memref over the dense row-major buffer `data` of `shape`.
template <typename T, int Rank>
StridedMemRefType<T, Rank> getDenseMemRef(const void *data,
                                          const int64_t (&shape)[Rank]) {
  StridedMemRefType<T, Rank> memRef;
  memRef.basePtr = memRef.data = static_cast<T *>(const_cast<void *>(data));
  memRef.offset = 0;
  int64_t stride = 1;
  for (int d = Rank - 1; d >= 0; --d) {
    memRef.sizes[d] = shape[d];
    memRef.strides[d] = stride;
    stride *= shape[d];
  }
  return memRef;
}

/// The packed calling convention takes one pointer per descriptor field.
template <typename T, int Rank>
void appendPacked(std::vector<void *> &packed,
                  StridedMemRefType<T, Rank> &memRef) {
  packed.push_back(&memRef.basePtr);
  packed.push_back(&memRef.data);
  packed.push_back(&memRef.offset);
  for (int64_t &size : memRef.sizes)
    packed.push_back(&size);
  for (int64_t &stride : memRef.strides)
    packed.push_back(&stride);
}

/// Copies a decode result [batch][q_heads][head_dim] (fresh and dense
/// unless the lowering returned a view) into `outputs` when given, and
/// frees it.
void takeResult(const StridedMemRefType<float, 3> &result, float *outputs,
                const float *queries) {
  if (outputs) {
    const float *base = result.data + result.offset;
    for (int64_t b = 0; b < result.sizes[0]; ++b)
      for (int64_t h = 0; h < result.sizes[1]; ++h)
        std::memcpy(outputs + (b * result.sizes[1] + h) * result.sizes[2],
                    base + b * result.strides[0] + h * result.strides[1],
                    result.sizes[2] * sizeof(float));
  }
  if (result.basePtr && result.basePtr != queries)
    hgc_rt_host_free(result.basePtr);
}

/// Copies the candidates a selection ahead returned ([batch][kv_heads][k],
/// any strides) densely into `selection`, and frees them.
void takeCandidates(const StridedMemRefType<int32_t, 3> &selected,
                    hgc_selection &selection) {
  selection.count = selected.sizes[2];
  selection.candidates.resize(selected.sizes[0] * selected.sizes[1] *
                              selected.sizes[2]);
  const int32_t *base = selected.data + selected.offset;
  int32_t *out = selection.candidates.data();
  for (int64_t b = 0; b < selected.sizes[0]; ++b)
    for (int64_t h = 0; h < selected.sizes[1]; ++h)
      for (int64_t i = 0; i < selected.sizes[2]; ++i)
        *out++ = base[b * selected.strides[0] + h * selected.strides[1] +
                      i * selected.strides[2]];
  if (selected.basePtr)
    hgc_rt_host_free(selected.basePtr);
}

/// Adds a sequence of `total` tokens, `device` of them on the device tier,
/// to the tiers' token counts; head groups whose policy does not split
/// attend their host tokens whole (the selections count the rest).
void addSequenceStats(hgc_step_stats &stats, const AttentionConfig &k,
                      int64_t total, int64_t device) {
  bool full = !splits(k.placement);
  int64_t host = full ? 0 : total - device;
  stats.tokens[0] += full ? total : device;
  stats.tokens[1] += host;
  for (const HeadPolicy &head : k.overrides)
    if (!splits(head.placement))
      stats.selected_tokens += head.kvHeads * host;
}
} // namespace

namespace {
/// The buffers of this thread's last step over a runtime cache.
thread_local RuntimeStep reusableStepBuffers;
} // namespace

DecodeSession::CacheStep::CacheStep()
    : runtime(std::move(reusableStepBuffers)) {}

DecodeSession::CacheStep::~CacheStep() {
  reusableStepBuffers = std::move(runtime);
}

DecodeSession::DecodeSession(hgc_kernel &kernel, int32_t batch,
                             const float *queries, float *outputs,
                             hgc_step_stats *stats)
    : kernel(kernel), batch(batch), queries(queries), outputs(outputs),
      stats(stats), start(std::chrono::steady_clock::now()) {}

Failure DecodeSession::prepareCacheStep(hgc_kv_cache &cache, int32_t layer,
                                        const int64_t *seqs, Ahead ahead,
                                        CacheStep &step) {
  if (Failure failure = checkBatch(); failure.failed())
    return failure;
  if (Failure failure = checkCacheFits(cache, layer); failure.failed())
    return failure;
  if (Failure failure = readLengths(cache, layer, seqs, step.lengths);
      failure.failed())
    return failure;
  if (Failure failure = getStepKernel(cache, layer, seqs, ahead, step.kernel);
      failure.failed())
    return failure;
  return getRuntimeOperands(cache, step.kernel->config, layer, batch, seqs,
                            step.lengths, step.runtime, step.kv);
}

Failure DecodeSession::runOnCache(hgc_kv_cache &cache, int32_t layer,
                                  const int64_t *seqs) {
  CacheStep step;
  if (Failure failure = prepareCacheStep(cache, layer, seqs, Ahead::None, step);
      failure.failed())
    return failure;
  return run(*step.kernel, step.kv);
}

Failure DecodeSession::checkSelectsAhead() const {
  const AttentionConfig &k = kernel.config;
  const mhgc::PlacementPolicy &policy = mhgc::getPlacementPolicy(k.placement);
  mlir::FailureOr<mhgc::Tail> tail = mhgc::parseTailOption(
      k.placement, [] { return mlir::InFlightDiagnostic(); });
  if (k.kvBlockSize > 0 || !policy.splits() || !k.overrides.empty() ||
      policy.calibrates() || failed(tail) || *tail != mhgc::Tail::None ||
      k.placement.hostCapacity > 0 || policy.usesChannels() ||
      (policy.usesCodebook() && k.placement.codebook != "int8"))
    return makeFailure(
        HGC_INVALID_ARGUMENT,
        "selection ahead needs a kernel for an hgc_kv_cache whose placement "
        "has two tiers, the host's selecting without estimating the rest "
        "(hgca, hca with int8 codes, quest; no overrides, no tail, no "
        "host_capacity); this kernel is " +
            k.describe());
  return Failure::ok();
}

Failure DecodeSession::selectAhead(hgc_kv_cache &cache, int32_t layer,
                                   const int64_t *seqs,
                                   hgc_selection &selection) {
  if (Failure failure = checkSelectsAhead(); failure.failed())
    return failure;
  CacheStep step;
  if (Failure failure =
          prepareCacheStep(cache, layer, seqs, Ahead::Select, step);
      failure.failed())
    return failure;
  selection.kernelKey = kernel.config.describe();
  selection.cache = &cache;
  selection.layer = layer;
  selection.batch = batch;
  selection.seqs.assign(seqs, seqs + batch);
  selection.lengths = step.lengths;
  selection.kvHeads = kernel.config.kvHeads;
  selection.blockSize =
      mhgc::getPlacementPolicy(kernel.config.placement).usesBlocks()
          ? kernel.config.placement.block
          : 1;
  return run(*step.kernel, step.kv, &selection);
}

Failure DecodeSession::runOnSelection(hgc_kv_cache &cache,
                                      const hgc_selection &selection) {
  if (selection.kernelKey != kernel.config.describe() ||
      selection.cache != &cache)
    return makeFailure(HGC_INVALID_ARGUMENT,
                       "the selection was made with another kernel or cache "
                       "(" +
                           selection.kernelKey + ")");
  CacheStep step;
  if (Failure failure = prepareCacheStep(
          cache, selection.layer, selection.seqs.data(), Ahead::Consume, step);
      failure.failed())
    return failure;
  for (int32_t b = 0; b < batch; ++b)
    if (step.lengths[b] < selection.lengths[b])
      return makeFailure(
          HGC_INVALID_ARGUMENT,
          "sequence " + std::to_string(selection.seqs[b]) + " has " +
              std::to_string(step.lengths[b]) + " tokens in layer " +
              std::to_string(selection.layer) + ", fewer than the " +
              std::to_string(selection.lengths[b]) +
              " its selection was made over");
  // Host tokens that arrived since the selection are attended too.
  hgc_selection current;
  addTokensSinceSelection(selection, kernel.config, step.lengths, current);
  if (!cache.residency)
    return run(*step.kernel, step.kv, &current);
  // Recalled pages are attended whole; the selection's other candidates
  // beside them.
  hgc_selection attended;
  RecallCounts counts;
  if (Failure failure = cache.residency->merge(current, kernel.config,
                                               step.lengths, attended, counts);
      failure.failed())
    return failure;
  if (Failure failure = run(*step.kernel, step.kv, &attended); failure.failed())
    return failure;
  cache.residency->update(cache.runtime, attended, step.kernel->config,
                          step.lengths, step.kv, queries, counts);
  if (stats) {
    stats->selected_tokens -= counts.recalledTokens;
    stats->recalled_tokens = counts.recalledTokens;
    stats->recall_hits = counts.hits;
    stats->evicted_pages = counts.evicted;
    stats->restored_pages = counts.restored;
  }
  return Failure::ok();
}

Failure DecodeSession::runOnPagedKV(const hgc_paged_kv &kv) {
  if (kernel.config.kvBlockSize <= 0)
    return makeFailure(
        HGC_INVALID_ARGUMENT,
        "the kernel was compiled for an hgc_kv_cache (kv_block_size 0): "
        "compile one with kv_block_size set for paged KV");
  if (Failure failure = checkBatch(); failure.failed())
    return failure;
  if (Failure failure = checkPagedKV(kv); failure.failed())
    return failure;
  PagedOperands operands;
  operands.keys = kv.k_cache;
  operands.values = kv.v_cache;
  operands.keyBlocks = operands.valueBlocks = kv.num_blocks;
  operands.tables = kv.block_tables;
  operands.maxBlocks = kv.max_blocks;
  operands.lengths = kv.seq_lens;
  operands.keyMin = kv.key_min;
  operands.keyMax = kv.key_max;
  operands.maxSummaries = kv.max_summaries;
  return run(*kernel.kernel, operands);
}

Failure DecodeSession::checkBatch() const {
  if (batch <= 0)
    return makeFailure(HGC_INVALID_ARGUMENT,
                       "batch must be positive, got " + std::to_string(batch));
  return Failure::ok();
}

Failure DecodeSession::checkCacheFits(const hgc_kv_cache &cache,
                                      int32_t layer) const {
  const AttentionConfig &k = kernel.config, &c = cache.config;
  if (k.kvBlockSize > 0)
    return makeFailure(HGC_INVALID_ARGUMENT,
                       "the kernel was compiled for paged KV (kv_block_size " +
                           std::to_string(k.kvBlockSize) +
                           "): run it with hgc_decode_paged");
  bool full = !splits(k.placement), cacheFull = !splits(c.placement);
  if (k.kvHeads != c.kvHeads || k.headDim != c.headDim ||
      k.kvDtype != c.kvDtype ||
      (!full && (cacheFull || k.placement.sink != c.placement.sink ||
                 k.placement.window != c.placement.window)))
    return makeFailure(HGC_SHAPE_MISMATCH, "kernel (" + k.describe() +
                                               ") does not fit the cache (" +
                                               c.describe() + ")");
  if (layer < 0 || layer >= cache.layers)
    return makeFailure(HGC_OUT_OF_RANGE,
                       "layer " + std::to_string(layer) + " is not in [0, " +
                           std::to_string(cache.layers) + ")");
  return Failure::ok();
}

Failure DecodeSession::readLengths(hgc_kv_cache &cache, int32_t layer,
                                   const int64_t *seqs,
                                   std::vector<int64_t> &lengths) const {
  lengths.assign(batch, 0);
  for (int32_t b = 0; b < batch; ++b) {
    if (Failure failure = fromRuntimeStatus(
            hgc_rt_kv_length(cache.runtime, seqs[b], layer, &lengths[b]));
        failure.failed())
      return failure;
    if (lengths[b] == 0)
      return makeFailure(HGC_OUT_OF_RANGE,
                         "sequence " + std::to_string(seqs[b]) +
                             " has no tokens in layer " +
                             std::to_string(layer) + "; append its KV first");
  }
  return Failure::ok();
}

Failure DecodeSession::calibrate(hgc_kv_cache &cache, int32_t layer,
                                 const int64_t *seqs) {
  if (!mlir::hgc::getPlacementPolicy(kernel.config.placement).calibrates())
    return {HGC_INVALID_ARGUMENT,
            "policy '" + kernel.config.placement.policy +
                "' does not calibrate per-head budgets (fluxion does)"};
  if (Failure failure = checkBatch(); failure.failed())
    return failure;
  if (Failure failure = checkCacheFits(cache, layer); failure.failed())
    return failure;
  std::vector<int64_t> lengths;
  if (Failure failure = readLengths(cache, layer, seqs, lengths);
      failure.failed())
    return failure;
  return cache.calibration->calibrate(cache, kernel.config, layer, batch, seqs,
                                      queries);
}

Failure DecodeSession::getStepKernel(hgc_kv_cache &cache, int32_t layer,
                                     const int64_t *seqs, Ahead ahead,
                                     std::shared_ptr<Kernel> &paged) {
  if (ahead != Ahead::None ||
      !mlir::hgc::getPlacementPolicy(kernel.config.placement).calibrates())
    return getInPlaceKernel(cache.pageTokens, ahead, paged);
  if (cache.calibration->stepNeedsCalibration(kernel.config, layer))
    if (Failure failure = cache.calibration->calibrate(
            cache, kernel.config, layer, batch, seqs, queries);
        failure.failed())
      return failure;
  AttentionConfig config = inPlaceConfig(
      cache.calibration->getConfig(kernel.config, layer), cache.pageTokens);
  return kernel.context->kernels->get(config, paged);
}

Failure DecodeSession::getInPlaceKernel(int32_t pageTokens, Ahead ahead,
                                        std::shared_ptr<Kernel> &paged) const {
  std::lock_guard<std::mutex> lock(kernel.inPlaceMutex);
  std::shared_ptr<Kernel> &known = kernel.inPlace[{pageTokens, ahead}];
  if (!known) {
    AttentionConfig config = inPlaceConfig(kernel.config, pageTokens);
    config.ahead = ahead;
    if (Failure failure = kernel.context->kernels->get(config, known);
        failure.failed())
      return failure;
  }
  paged = known;
  return Failure::ok();
}

Failure DecodeSession::checkPagedKV(const hgc_paged_kv &kv) const {
  const AttentionConfig &k = kernel.config;
  if (!kv.k_cache || !kv.v_cache || !kv.block_tables || !kv.seq_lens)
    return makeFailure(HGC_INVALID_ARGUMENT,
                       "k_cache, v_cache, block_tables or seq_lens is null");
  if (k.kvSummaries && (!kv.key_min || !kv.key_max))
    return makeFailure(
        HGC_INVALID_ARGUMENT,
        "key_min or key_max (the kernel reads summaries) is null");
  if (kv.num_blocks <= 0 || kv.max_blocks <= 0)
    return makeFailure(HGC_INVALID_ARGUMENT,
                       "num_blocks and max_blocks must be positive, got " +
                           std::to_string(kv.num_blocks) + " and " +
                           std::to_string(kv.max_blocks));
  for (int32_t b = 0; b < batch; ++b)
    if (Failure failure = checkPagedSequence(kv, b); failure.failed())
      return failure;
  return Failure::ok();
}

Failure DecodeSession::checkPagedSequence(const hgc_paged_kv &kv,
                                          int32_t b) const {
  const AttentionConfig &k = kernel.config;
  std::string sequence = "sequence " + std::to_string(b);
  int64_t n = kv.seq_lens[b];
  int64_t capacity = int64_t(kv.max_blocks) * k.kvBlockSize;
  if (n < 1 || n > capacity)
    return makeFailure(HGC_OUT_OF_RANGE,
                       sequence + " has seq_len " + std::to_string(n) +
                           ", not within [1, max_blocks x block_size = " +
                           std::to_string(capacity) + "]");
  if (k.kvSummaries &&
      (n + k.placement.block - 1) / k.placement.block > kv.max_summaries)
    return makeFailure(
        HGC_OUT_OF_RANGE,
        sequence + " has seq_len " + std::to_string(n) + ", more blocks of " +
            std::to_string(k.placement.block) + " tokens than max_summaries " +
            std::to_string(kv.max_summaries));
  const int32_t *row = kv.block_tables + int64_t(b) * kv.max_blocks;
  for (int64_t j = 0; j < (n + k.kvBlockSize - 1) / k.kvBlockSize; ++j)
    if (row[j] < 0 || row[j] >= kv.num_blocks)
      return makeFailure(HGC_OUT_OF_RANGE,
                         sequence + ": block_tables[" + std::to_string(b) +
                             "][" + std::to_string(j) +
                             "] = " + std::to_string(row[j]) +
                             " is not a block id in [0, " +
                             std::to_string(kv.num_blocks) + ")");
  return Failure::ok();
}

Failure DecodeSession::run(const Kernel &paged, const PagedOperands &kv,
                           hgc_selection *selection) {
  const AttentionConfig &k = paged.config;
  int64_t queryShape[3] = {batch, k.qHeads, k.headDim};
  int64_t keyShape[4] = {kv.keyBlocks, k.kvBlockSize, k.kvHeads, k.headDim};
  if (k.kvLayout == HGC_KV_HND)
    std::swap(keyShape[1], keyShape[2]);
  int64_t valueShape[4] = {kv.valueBlocks, keyShape[1], keyShape[2], k.headDim};
  int64_t tableShape[2] = {batch, kv.maxBlocks};
  int64_t lengthShape[1] = {batch};
  int64_t summaryShape[4] = {batch, k.kvHeads, kv.maxSummaries, k.headDim};
  auto query = getDenseMemRef<float>(queries, queryShape);
  auto keys = getDenseMemRef<char>(kv.keys, keyShape);
  auto values = getDenseMemRef<char>(kv.values, valueShape);
  auto tables = getDenseMemRef<int32_t>(kv.tables, tableShape);
  auto lengths = getDenseMemRef<int32_t>(kv.lengths, lengthShape);
  auto keyMin = getDenseMemRef<char>(kv.keyMin, summaryShape);
  auto keyMax = getDenseMemRef<char>(kv.keyMax, summaryShape);
  int64_t codeShape[4] = {batch, k.kvHeads, kv.codeTokens, k.headDim};
  auto codes = getDenseMemRef<int8_t>(kv.codes, codeShape);
  int64_t scaleShape[3] = {batch, k.kvHeads, kv.codeTokens};
  auto scales = getDenseMemRef<float>(kv.scales, scaleShape);
  int64_t channelShape[4] = {batch, k.kvHeads, k.headDim, kv.channelTokens};
  auto channelKeys = getDenseMemRef<char>(kv.channelKeys, channelShape);
  int64_t sumShape[4] = {batch, k.kvHeads, kv.sumPages, k.headDim};
  auto valueSums = getDenseMemRef<float>(kv.valueSums, sumShape);
  auto [subspaces, centroids] =
      mhgc::getPlacementPolicy(k.placement).getProductQuantizer(k.placement);
  // Codes of 2 bytes are read as i16 (a memref of any 2-byte type).
  int64_t pqShape[4] = {batch, k.kvHeads, kv.pqTokens, subspaces};
  auto pqCodes8 = getDenseMemRef<int8_t>(kv.pqCodes, pqShape);
  auto pqCodes16 = getDenseMemRef<int16_t>(kv.pqCodes, pqShape);
  int64_t bookShape[5] = {batch, k.kvHeads, subspaces, centroids,
                          subspaces ? k.headDim / subspaces : 0};
  auto pqBooks = getDenseMemRef<float>(kv.pqCodebooks, bookShape);
  int64_t candidateShape[3] = {batch, k.kvHeads,
                               selection ? selection->count : 0};
  auto candidates = getDenseMemRef<int32_t>(
      selection ? selection->candidates.data() : nullptr, candidateShape);
  StridedMemRefType<float, 3> result{};
  StridedMemRefType<int32_t, 3> selected{};
  std::vector<void *> packed;
  appendPacked(packed, query);
  appendPacked(packed, keys);
  appendPacked(packed, values);
  appendPacked(packed, tables);
  appendPacked(packed, lengths);
  if (k.kvSummaries) {
    appendPacked(packed, keyMin);
    appendPacked(packed, keyMax);
  }
  if (k.kvCodes) {
    appendPacked(packed, codes);
    appendPacked(packed, scales);
  }
  if (k.kvPq) {
    if (centroids > 256)
      appendPacked(packed, pqCodes16);
    else
      appendPacked(packed, pqCodes8);
    appendPacked(packed, pqBooks);
  }
  if (k.kvChannels) {
    appendPacked(packed, channelKeys);
    appendPacked(packed, valueSums);
  }
  if (k.ahead == Ahead::Consume)
    appendPacked(packed, candidates);
  if (k.ahead == Ahead::Select)
    packed.push_back(&selected);
  else
    packed.push_back(&result);

  if (kernel.context->threads > 0)
    omp_set_num_threads(kernel.context->threads);
  hgc_rt_compiled_reset();
  hgc_rt_gpu_reset_kernel_time();
  auto computeStart = std::chrono::steady_clock::now();
  Failure failure = invokeDecode(*paged.code, packed.data());
  double computeSeconds = secondsSince(computeStart);
  if (k.ahead == Ahead::Select) {
    if (!failure.failed())
      takeCandidates(selected, *selection);
    else if (selected.basePtr)
      hgc_rt_host_free(selected.basePtr);
    return failure;
  }
  takeResult(result, failure.failed() ? nullptr : outputs, queries);
  if (failure.failed())
    return failure;
  if (stats)
    recordStats(k, kv, computeSeconds);
  if (stats && k.ahead == Ahead::Consume)
    // Nothing selects in the step: the host tier attends the candidates.
    stats->selected_tokens =
        selection->blockSize *
        std::count_if(selection->candidates.begin(),
                      selection->candidates.end(),
                      [](int32_t index) { return index >= 0; });
  return Failure::ok();
}

void DecodeSession::recordStats(const AttentionConfig &k,
                                const PagedOperands &kv,
                                double computeSeconds) const {
  std::memset(stats, 0, sizeof(*stats));
  hgc_rt_compiled_stats counted;
  hgc_rt_compiled_get_stats(&counted);
  stats->selected_tokens = counted.selected_tokens;
  int64_t hot = k.placement.sink + k.placement.window;
  int64_t gathered = 0; // the device tier's tokens, copied for its kernel
  for (int32_t b = 0; b < batch; ++b) {
    int64_t n = kv.lengths[b], device = std::min(n, hot);
    addSequenceStats(*stats, k, n, device);
    gathered += splits(k.placement) ? device : 0;
  }
  double kernelSeconds = 0;
  long long launches = 0;
  hgc_rt_gpu_kernel_time(&kernelSeconds, &launches);
  stats->compute_seconds = computeSeconds;
  stats->device_kernel_seconds = kernelSeconds;
  stats->bytes_moved =
      2 * gathered * k.kvHeads * k.headDim * getElementBytes(k) +
      kv.copiedBytes +
      2 * batch * k.qHeads * k.headDim * int64_t(sizeof(float));
  stats->gather_seconds[1] = kv.copySeconds;
  stats->seconds = secondsSince(start);
}
