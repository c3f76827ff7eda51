//===- HeadStream.cpp - head-wise KV residency (HeadInfer) ----------------===//

#include "HeadStream.h"
#include "Element.h"
#include "OnlineSoftmax.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

using namespace hgc::rt;

namespace {
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

Result invalidStream(const std::string &why) {
  return Result::error(HGC_RT_INVALID_ARGUMENT,
                       "invalid head stream config: " + why);
}

constexpr hgc_rt_tier kSlowerTiers[] = {HGC_RT_TIER_HOST, HGC_RT_TIER_FAR,
                                        HGC_RT_TIER_STORAGE};
} // namespace

Result HeadStream::create(const hgc_rt_head_stream_config &config,
                          std::unique_ptr<HeadStream> &stream) {
  const hgc_rt_kv_config &kv = config.kv;
  if (kv.kv_heads <= 0)
    return invalidStream("kv_heads must be positive");
  if (config.resident_count < 0 ||
      (config.resident_count > 0 && !config.resident_heads))
    return invalidStream("resident_count must be >= 0, with resident_heads");
  std::vector<bool> isResident(kv.kv_heads, false);
  for (int32_t i = 0; i < config.resident_count; ++i) {
    int32_t head = config.resident_heads[i];
    if (head < 0 || head >= kv.kv_heads)
      return invalidStream("resident head " + std::to_string(head) +
                           " is not in [0, " + std::to_string(kv.kv_heads) +
                           ")");
    if (isResident[head])
      return invalidStream("resident head " + std::to_string(head) +
                           " is listed twice");
    isResident[head] = true;
  }
  int32_t streamed = kv.kv_heads - config.resident_count;
  if (streamed > 0 &&
      (config.group_heads <= 0 || streamed % config.group_heads != 0))
    return invalidStream("group_heads (" + std::to_string(config.group_heads) +
                         ") must divide the " + std::to_string(streamed) +
                         " streamed KV heads");
  if (config.double_buffer != 0 && config.double_buffer != 1)
    return invalidStream("double_buffer must be 0 or 1");
  if (!(config.link_bandwidth_gbs >= 0) ||
      std::isinf(config.link_bandwidth_gbs))
    return invalidStream("link_bandwidth_gbs must be finite and >= 0");

  std::unique_ptr<HeadStream> made(
      new HeadStream(config, config.link_bandwidth_gbs * 1e9));
  made->config.resident_heads = nullptr; // the caller's array may go
  auto addGroup = [&](std::vector<int32_t> heads, bool resident) -> Result {
    hgc_rt_kv_config groupConfig = kv;
    groupConfig.kv_heads = int32_t(heads.size());
    if (resident) {
      // Every page holds a sink: the whole cache is hot, on the device.
      groupConfig.sink = std::numeric_limits<int64_t>::max();
      groupConfig.window = 0;
    }
    Group group{std::move(heads), resident, nullptr};
    if (Result r = KVCache::create(groupConfig, group.cache); r.failed())
      return r;
    made->groups.push_back(std::move(group));
    return Result::ok();
  };
  std::vector<int32_t> resident, streamedHeads;
  for (int32_t head = 0; head < kv.kv_heads; ++head)
    (isResident[head] ? resident : streamedHeads).push_back(head);
  if (!resident.empty())
    if (Result r = addGroup(resident, true); r.failed())
      return r;
  for (size_t first = 0; first < streamedHeads.size();
       first += config.group_heads)
    if (Result r =
            addGroup({streamedHeads.begin() + first,
                      streamedHeads.begin() + first + config.group_heads},
                     false);
        r.failed())
      return r;
  // Streamed groups' copies first: they are the critical path.
  for (size_t g = 0; g < made->groups.size(); ++g)
    if (!made->groups[g].resident)
      made->copyOrder.push_back(g);
  if (!resident.empty())
    made->copyOrder.push_back(0);
  stream = std::move(made);
  return Result::ok();
}

//===----------------------------------------------------------------------===//
// Sequences and tokens
//===----------------------------------------------------------------------===//

Result HeadStream::checkSequence(int64_t seq, int32_t layer) const {
  std::lock_guard<std::mutex> lock(sequencesMutex);
  if (!generations.count(seq))
    return Result::error(HGC_RT_UNKNOWN_SEQUENCE,
                         "unknown sequence " + std::to_string(seq));
  if (broken.count(seq))
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "sequence " + std::to_string(seq) +
                             " lost an append partway; release it");
  if (layer < 0 || layer >= config.kv.layers)
    return Result::error(HGC_RT_OUT_OF_RANGE,
                         "layer " + std::to_string(layer) + " is not in [0, " +
                             std::to_string(config.kv.layers) + ")");
  return Result::ok();
}

uint64_t HeadStream::generation(int64_t seq) const {
  std::lock_guard<std::mutex> lock(sequencesMutex);
  auto it = generations.find(seq);
  return it == generations.end() ? 0 : it->second;
}

Result HeadStream::addSequence(int64_t seq) {
  {
    std::lock_guard<std::mutex> lock(sequencesMutex);
    if (generations.count(seq))
      return Result::error(HGC_RT_INVALID_ARGUMENT,
                           "sequence " + std::to_string(seq) + " exists");
  }
  for (size_t g = 0; g < groups.size(); ++g)
    if (Result r = groups[g].cache->addSequence(seq); r.failed()) {
      for (size_t undo = 0; undo < g; ++undo)
        (void)groups[undo].cache->releaseSequence(seq);
      return r;
    }
  std::lock_guard<std::mutex> lock(sequencesMutex);
  generations[seq] = nextGeneration++;
  return Result::ok();
}

Result HeadStream::releaseSequence(int64_t seq) {
  {
    std::lock_guard<std::mutex> lock(sequencesMutex);
    if (!generations.erase(seq))
      return Result::error(HGC_RT_UNKNOWN_SEQUENCE,
                           "unknown sequence " + std::to_string(seq));
    broken.erase(seq);
  }
  Result result = Result::ok();
  for (Group &group : groups)
    if (Result r = group.cache->releaseSequence(seq); r.failed())
      result = r;
  return result;
}

Result HeadStream::append(int64_t seq, int32_t layer,
                          const hgc_rt_kv_block &block) {
  if (Result r = checkBlockShape(config.kv, block); r.failed())
    return r;
  if (Result r = checkSequence(seq, layer); r.failed())
    return r;
  size_t rowBytes =
      size_t(block.tokens) * config.kv.head_dim * dtypeBytes(config.kv.dtype);
  std::vector<char> keys, values;
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::vector<int32_t> &heads = groups[g].heads;
    keys.resize(heads.size() * rowBytes);
    values.resize(heads.size() * rowBytes);
    for (size_t i = 0; i < heads.size() && rowBytes; ++i) {
      std::memcpy(keys.data() + i * rowBytes,
                  static_cast<const char *>(block.keys) + heads[i] * rowBytes,
                  rowBytes);
      std::memcpy(values.data() + i * rowBytes,
                  static_cast<const char *>(block.values) + heads[i] * rowBytes,
                  rowBytes);
    }
    hgc_rt_kv_block part = block;
    part.kv_heads = int32_t(heads.size());
    part.keys = keys.data();
    part.values = values.data();
    if (Result r = groups[g].cache->append(seq, layer, part); r.failed()) {
      // The groups before have the tokens; this one does not. Never let a
      // step attend the sequence half-appended.
      std::lock_guard<std::mutex> lock(sequencesMutex);
      if (g > 0)
        broken.insert(seq);
      return r;
    }
  }
  return Result::ok();
}

Result HeadStream::read(int64_t seq, int32_t layer, int64_t first,
                        int64_t count, void *keys, void *values) {
  if (Result r = checkSequence(seq, layer); r.failed())
    return r;
  if (count < 0 || (count > 0 && (!keys || !values)))
    return Result::error(HGC_RT_INVALID_ARGUMENT,
                         "read needs count >= 0 and key/value buffers");
  size_t rowBytes =
      size_t(count) * config.kv.head_dim * dtypeBytes(config.kv.dtype);
  std::vector<char> groupKeys, groupValues;
  for (Group &group : groups) {
    groupKeys.resize(group.heads.size() * rowBytes);
    groupValues.resize(group.heads.size() * rowBytes);
    if (Result r = group.cache->read(seq, layer, first, count, groupKeys.data(),
                                     groupValues.data());
        r.failed())
      return r;
    for (size_t i = 0; i < group.heads.size() && rowBytes; ++i) {
      std::memcpy(static_cast<char *>(keys) + group.heads[i] * rowBytes,
                  groupKeys.data() + i * rowBytes, rowBytes);
      std::memcpy(static_cast<char *>(values) + group.heads[i] * rowBytes,
                  groupValues.data() + i * rowBytes, rowBytes);
    }
  }
  return Result::ok();
}

Result HeadStream::group(int32_t index, std::vector<int32_t> &heads,
                         bool &resident, hgc_rt_kv_stats &stats) const {
  if (index < 0 || index >= groupCount())
    return Result::error(HGC_RT_OUT_OF_RANGE,
                         "head group " + std::to_string(index) +
                             " is not in [0, " + std::to_string(groupCount()) +
                             ")");
  heads = groups[index].heads;
  resident = groups[index].resident;
  stats = groups[index].cache->stats();
  return Result::ok();
}

//===----------------------------------------------------------------------===//
// Staging
//===----------------------------------------------------------------------===//

void HeadStream::settle(Staging &buffer) {
  if (buffer.ticket) {
    buffer.copied = copies.wait(buffer.ticket);
    buffer.ticket = 0;
  }
}

void HeadStream::stage(Staging &buffer, int64_t seq, int32_t layer,
                       size_t group, CopyEngine::Priority priority) {
  settle(buffer);
  buffer.seq = seq;
  buffer.layer = layer;
  buffer.group = group;
  buffer.generation = generation(seq);
  buffer.ticket =
      copies.submit([this, &buffer] { return fill(buffer); }, priority);
}

bool HeadStream::isCurrent(const Staging &buffer) {
  if (buffer.copied.failed() || buffer.generation != generation(buffer.seq))
    return false;
  for (hgc_rt_tier tier : kSlowerTiers) {
    int64_t count = 0;
    if (groups[buffer.group]
            .cache->viewTokens(&buffer.seq, 1, buffer.layer, tier, count)
            .failed() ||
        count != buffer.counts[tier])
      return false;
  }
  return true;
}

Result HeadStream::fill(Staging &buffer) {
  Clock::time_point start = Clock::now();
  KVCache &cache = *groups[buffer.group].cache;
  size_t heads = groups[buffer.group].heads.size();
  size_t tokenBytes = heads * config.kv.head_dim * dtypeBytes(config.kv.dtype);
  int64_t total = 0;
  for (hgc_rt_tier tier : kSlowerTiers) {
    if (Result r = cache.viewTokens(&buffer.seq, 1, buffer.layer, tier,
                                    buffer.counts[tier]);
        r.failed())
      return r;
    total += buffer.counts[tier];
  }
  buffer.keys.resize(size_t(total) * tokenBytes);
  buffer.values.resize(size_t(total) * tokenBytes);
  size_t offset = 0;
  for (hgc_rt_tier tier : kSlowerTiers) {
    int64_t count = buffer.counts[tier];
    if (count == 0)
      continue;
    int32_t length = 0;
    if (Result r = cache.view(&buffer.seq, 1, buffer.layer, tier, count,
                              buffer.keys.data() + offset,
                              buffer.values.data() + offset, &length);
        r.failed())
      return r;
    offset += size_t(count) * tokenBytes;
  }
  buffer.bytes = 2 * offset;
  link.charge(buffer.bytes);
  buffer.seconds = secondsSince(start);
  return Result::ok();
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

Result HeadStream::attendDevice(int64_t seq, int32_t layer, int32_t qPerKv,
                                const float *query, float scale, float *output,
                                float *lse) {
  size_t dim = config.kv.head_dim;
  std::vector<float> q, out, groupLse;
  for (Group &group : groups) {
    size_t rows = group.heads.size() * qPerKv;
    q.resize(rows * dim);
    out.resize(rows * dim);
    groupLse.resize(rows);
    // A KV head's query heads are consecutive rows.
    for (size_t i = 0; i < group.heads.size(); ++i)
      std::memcpy(q.data() + i * qPerKv * dim,
                  query + size_t(group.heads[i]) * qPerKv * dim,
                  qPerKv * dim * sizeof(float));
    if (Result r =
            group.cache->attend(seq, layer, HGC_RT_TIER_DEVICE, int32_t(rows),
                                q.data(), scale, out.data(), groupLse.data());
        r.failed())
      return r;
    for (size_t i = 0; i < group.heads.size(); ++i) {
      size_t row = size_t(group.heads[i]) * qPerKv;
      std::memcpy(output + row * dim, out.data() + i * qPerKv * dim,
                  qPerKv * dim * sizeof(float));
      std::copy_n(groupLse.data() + i * qPerKv, qPerKv, lse + row);
    }
  }
  return Result::ok();
}

void HeadStream::attendStaged(const Staging &buffer, int32_t qPerKv,
                              const float *query, float scale, float *output,
                              float *lse) const {
  const std::vector<int32_t> &heads = groups[buffer.group].heads;
  int32_t dim = config.kv.head_dim;
  size_t rowBytes = size_t(dim) * dtypeBytes(config.kv.dtype);
  int32_t rows = int32_t(heads.size()) * qPerKv;
#pragma omp parallel for schedule(static)
  for (int32_t r = 0; r < rows; ++r) {
    size_t i = r / qPerKv;
    size_t row = size_t(heads[i]) * qPerKv + r % qPerKv;
    const float *q = query + row * dim;
    std::vector<float> partial(dim);
    OnlineSoftmax softmax(partial.data(), dim);
    size_t offset = 0;
    for (hgc_rt_tier tier : kSlowerTiers) {
      int64_t count = buffer.counts[tier];
      // Part of a tier: [heads][count][dim]; head i's rows are contiguous.
      size_t head = offset + i * count * rowBytes;
      softmax.addRows(config.kv.dtype, q, scale, buffer.keys.data() + head,
                      buffer.values.data() + head, count, rowBytes);
      offset += heads.size() * count * rowBytes;
    }
    float partialLse;
    softmax.finish(partialLse);
    mergePartial(output + row * dim, lse[row], partial.data(), partialLse, dim);
  }
}

Result HeadStream::attend(int64_t seq, int32_t layer, int32_t qHeads,
                          const float *query, float scale, float *output,
                          float *lse, int32_t nextLayer,
                          hgc_rt_head_step &step) {
  Clock::time_point start = Clock::now();
  step = {};
  if (qHeads <= 0 || qHeads % config.kv.kv_heads != 0)
    return Result::error(HGC_RT_SHAPE_MISMATCH,
                         "q_heads (" + std::to_string(qHeads) +
                             ") must be a multiple of kv_heads (" +
                             std::to_string(config.kv.kv_heads) + ")");
  if (!query || !output || !lse)
    return Result::error(HGC_RT_INVALID_ARGUMENT, "null query or output");
  if (!std::isfinite(scale))
    return Result::error(HGC_RT_INVALID_ARGUMENT, "scale must be finite");
  if (nextLayer < -1 || nextLayer >= config.kv.layers)
    return Result::error(HGC_RT_OUT_OF_RANGE,
                         "next_layer " + std::to_string(nextLayer) +
                             " is not -1 or in [0, " +
                             std::to_string(config.kv.layers) + ")");
  if (Result r = checkSequence(seq, layer); r.failed())
    return r;
  std::lock_guard<std::mutex> lock(attendMutex);
  int32_t qPerKv = qHeads / config.kv.kv_heads;
  bool overlap = config.double_buffer == 1;
  size_t n = copyOrder.size();

  // The first group's copy, unless the previous step staged it for us and
  // no append since changed what it holds.
  int first = -1;
  for (int b = 0; b < 2 && overlap; ++b) {
    Staging &buffer = buffers[b];
    if (buffer.layer != layer || buffer.seq != seq ||
        buffer.group != copyOrder[0])
      continue;
    Clock::time_point waiting = Clock::now();
    settle(buffer);
    step.stall_seconds += secondsSince(waiting);
    if (isCurrent(buffer))
      first = b;
  }
  step.prefetched = first >= 0;
  if (first < 0) {
    // A buffer no copy is running into, when there is one.
    first = buffers[0].ticket && !buffers[1].ticket ? 1 : 0;
    stage(buffers[first], seq, layer, copyOrder[0],
          CopyEngine::Priority::Critical);
  }

  // What needs no copy goes while the first one runs: every group's device
  // tokens (the resident heads', the streamed heads' sinks and window).
  Clock::time_point computing = Clock::now();
  if (Result r = attendDevice(seq, layer, qPerKv, query, scale, output, lse);
      r.failed()) {
    settle(buffers[first]);
    return r;
  }
  step.compute_seconds += secondsSince(computing);

  for (size_t i = 0; i < n; ++i) {
    Staging &buffer = buffers[overlap ? (first + i) % 2 : first];
    Staging &other = buffers[overlap ? (first + i + 1) % 2 : first];
    if (!overlap && i > 0)
      stage(buffer, seq, layer, copyOrder[i], CopyEngine::Priority::Critical);
    if (overlap && i + 1 < n)
      stage(other, seq, layer, copyOrder[i + 1],
            CopyEngine::Priority::Critical);
    else if (overlap && nextLayer >= 0)
      stage(other, seq, nextLayer, copyOrder[0],
            CopyEngine::Priority::Background);
    Clock::time_point waiting = Clock::now();
    settle(buffer);
    step.stall_seconds += secondsSince(waiting);
    if (buffer.copied.failed()) {
      Result failed = buffer.copied;
      settle(other);
      return failed;
    }
    computing = Clock::now();
    attendStaged(buffer, qPerKv, query, scale, output, lse);
    step.compute_seconds += secondsSince(computing);
    step.copy_seconds += buffer.seconds;
    step.streamed_bytes += int64_t(buffer.bytes);
    step.streamed_groups += buffer.bytes > 0;
    // Consumed: a later step must not take it for a prefetch.
    buffer.layer = -1;
  }
  step.seconds = secondsSince(start);
  return Result::ok();
}
