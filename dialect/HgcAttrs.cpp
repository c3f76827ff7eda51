//===- HgcAttrs.cpp - hgc placement attributes ---------------------------===//
//
// Parsing, printing and verification of #hgc.tier_policy, #hgc.placement and
// #hgc.head_placement. The three share one body syntax so a placement can
// nest tier policies and head overrides without repeating attribute prefixes.
//
//===----------------------------------------------------------------------===//

#include "dialect/HgcDialect.h"

#include "mlir/IR/Builders.h"

#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace mlir;
using namespace mlir::hgc;

#define GET_ATTRDEF_CLASSES
#include "dialect/HgcAttrs.cpp.inc"

void HgcDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialect/HgcAttrs.cpp.inc"
      >();
}

namespace {
/// Parses `keyword` and maps it through `symbolize`, reporting the accepted
/// spellings on failure.
template <typename EnumT>
FailureOr<EnumT> parseEnumKeyword(AsmParser &parser, StringRef what,
                                  std::optional<EnumT> (*symbolize)(StringRef),
                                  StringRef accepted) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef keyword;
  if (parser.parseKeyword(&keyword))
    return failure();
  std::optional<EnumT> value = symbolize(keyword);
  if (!value)
    return parser.emitError(loc, "unknown ")
           << what << " '" << keyword << "', expected one of " << accepted;
  return *value;
}

/// Shortest decimal spelling of a fraction that reads back to the same double
/// and lexes as a float, never as an integer token count: 0.05, 1.0, 1.0e-05.
std::string formatFraction(const llvm::APFloat &value) {
  double number = value.convertToDouble();
  char text[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, number);
    if (std::strtod(text, nullptr) == number)
      break;
  }
  std::string result(text);
  if (result.find('.') == std::string::npos)
    result.insert(std::min(result.find('e'), result.size()), ".0");
  return result;
}

/// Parses `[elt, elt, ...]` (possibly empty) with `parseElement`.
ParseResult parseSquareList(AsmParser &parser,
                            function_ref<ParseResult()> parseElement) {
  return parser.parseCommaSeparatedList(AsmParser::Delimiter::Square,
                                        parseElement);
}
} // namespace

//===----------------------------------------------------------------------===//
// TierPolicyAttr
//===----------------------------------------------------------------------===//

// tier = selection[(budget = N|F[, block = N][, bits = N][, subspaces = N]
//                   [, centroids = N][, channels = N][, mass = F]
//                   [, capacity = N][, tail = none|summary])]
TierPolicyAttr TierPolicyAttr::parseBody(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  FailureOr<Tier> tier = parseEnumKeyword<Tier>(parser, "tier", symbolizeTier,
                                                "device, host, cxl, storage");
  if (failed(tier) || parser.parseEqual())
    return {};
  FailureOr<Selection> selection =
      parseEnumKeyword<Selection>(parser, "selection", symbolizeSelection,
                                  "dense, exact_topk, block_topk, quant_topk, "
                                  "pq_topk, channel_topk");
  if (failed(selection))
    return {};

  int64_t budgetTokens = 0, blockSize = 0, quantBits = 0, subspaces = 0,
          centroids = 0, channels = 0, capacity = 0;
  double fraction = 0.0, mass = 0.0;
  Tail tail = Tail::None;
  if (*selection == Selection::BlockTopK)
    blockSize = 16;
  if (*selection == Selection::QuantTopK)
    quantBits = 8;
  if (*selection == Selection::PqTopK) {
    subspaces = 16;
    centroids = 256;
  }
  if (*selection == Selection::ChannelTopK)
    channels = 32;
  llvm::SmallDenseSet<StringRef> seen;
  auto parseOption = [&]() -> ParseResult {
    SMLoc keyLoc = parser.getCurrentLocation();
    StringRef key;
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return failure();
    if (!seen.insert(key).second)
      return parser.emitError(keyLoc, "duplicate option '") << key << "'";
    if (key == "budget") {
      OptionalParseResult asInt = parser.parseOptionalInteger(budgetTokens);
      if (asInt.has_value())
        return *asInt;
      return parser.parseFloat(fraction);
    }
    if (key == "block")
      return parser.parseInteger(blockSize);
    if (key == "bits")
      return parser.parseInteger(quantBits);
    if (key == "mass")
      return parser.parseFloat(mass);
    if (key == "subspaces")
      return parser.parseInteger(subspaces);
    if (key == "centroids")
      return parser.parseInteger(centroids);
    if (key == "channels")
      return parser.parseInteger(channels);
    if (key == "capacity")
      return parser.parseInteger(capacity);
    if (key == "tail") {
      FailureOr<Tail> parsed = parseEnumKeyword<Tail>(
          parser, "tail", symbolizeTail, "none, summary");
      if (failed(parsed))
        return failure();
      tail = *parsed;
      return success();
    }
    return parser.emitError(keyLoc, "unknown selection option '")
           << key
           << "', expected budget, block, bits, subspaces, centroids, "
              "channels, mass, capacity or tail";
  };
  if (succeeded(parser.parseOptionalLParen()) &&
      (parser.parseCommaSeparatedList(parseOption) || parser.parseRParen()))
    return {};
  return parser.getChecked<TierPolicyAttr>(
      loc, parser.getContext(), *tier, *selection, budgetTokens,
      llvm::APFloat(fraction), blockSize, quantBits, llvm::APFloat(mass),
      subspaces, centroids, channels, capacity, tail);
}

void TierPolicyAttr::printBody(AsmPrinter &printer) const {
  printer << stringifyTier(getTier()) << " = "
          << stringifySelection(getSelection());
  if (isDense()) {
    if (getCapacity() > 0)
      printer << "(capacity = " << getCapacity() << ")";
    return;
  }
  printer << "(budget = ";
  if (getBudgetTokens() > 0)
    printer << getBudgetTokens();
  else
    printer << formatFraction(getBudgetFraction());
  if (getSelection() == Selection::BlockTopK)
    printer << ", block = " << getBlockSize();
  if (getSelection() == Selection::QuantTopK)
    printer << ", bits = " << getQuantBits();
  if (getSelection() == Selection::PqTopK)
    printer << ", subspaces = " << getPqSubspaces()
            << ", centroids = " << getPqCentroids();
  if (getSelection() == Selection::ChannelTopK)
    printer << ", channels = " << getChannels();
  if (getMass())
    printer << ", mass = " << formatFraction(getMassThreshold());
  if (getCapacity() > 0)
    printer << ", capacity = " << getCapacity();
  if (getTail() != Tail::None)
    printer << ", tail = " << stringifyTail(getTail());
  printer << ")";
}

Attribute TierPolicyAttr::parse(AsmParser &parser, Type) {
  if (parser.parseLess())
    return {};
  TierPolicyAttr attr = parseBody(parser);
  if (!attr || parser.parseGreater())
    return {};
  return attr;
}

void TierPolicyAttr::print(AsmPrinter &printer) const {
  printer << "<";
  printBody(printer);
  printer << ">";
}

LogicalResult
TierPolicyAttr::verify(function_ref<InFlightDiagnostic()> emitError, Tier tier,
                       Selection selection, int64_t budgetTokens,
                       llvm::APFloat budgetFractionAttr, int64_t blockSize,
                       int64_t quantBits, llvm::APFloat massAttr,
                       int64_t subspaces, int64_t centroids, int64_t channels,
                       int64_t capacity, Tail tail) {
  StringRef name = stringifySelection(selection);
  double budgetFraction = budgetFractionAttr.convertToDouble();
  double mass = massAttr.convertToDouble();
  if (capacity < 0)
    return emitError() << "tier '" << stringifyTier(tier)
                       << "' capacity must be positive, got " << capacity;
  if (selection == Selection::Dense) {
    if (budgetTokens != 0 || budgetFraction != 0.0 || blockSize != 0 ||
        quantBits != 0 || mass != 0.0 || subspaces != 0 || centroids != 0 ||
        channels != 0 || tail != Tail::None)
      return emitError() << "dense selection on tier '" << stringifyTier(tier)
                         << "' takes no budget, block, bits, codebook, "
                            "channels, mass or tail";
    return success();
  }
  if (budgetTokens < 0)
    return emitError() << "'" << name << "' budget must be positive, got "
                       << budgetTokens;
  if (budgetTokens > 0 && budgetFraction != 0.0)
    return emitError() << "'" << name
                       << "' budget is either a count or a fraction, not both";
  if (budgetTokens == 0 && (!std::isfinite(budgetFraction) ||
                            budgetFraction <= 0.0 || budgetFraction > 1.0))
    return emitError() << "'" << name
                       << "' needs a budget: a positive count or a fraction "
                          "in (0, 1], got "
                       << budgetFraction;
  if (selection == Selection::BlockTopK) {
    if (blockSize <= 0 || !llvm::isPowerOf2_64(blockSize))
      return emitError() << "block_topk block must be a positive power of "
                            "two, got "
                         << blockSize;
  } else if (blockSize != 0) {
    return emitError() << "'" << name << "' takes no block size";
  }
  if (selection == Selection::QuantTopK) {
    if (quantBits != 4 && quantBits != 8)
      return emitError() << "quant_topk bits must be 4 or 8, got " << quantBits;
  } else if (quantBits != 0) {
    return emitError() << "'" << name << "' takes no bits";
  }
  if (selection == Selection::PqTopK) {
    if (subspaces <= 0)
      return emitError() << "pq_topk subspaces must be positive, got "
                         << subspaces;
    if (centroids < 2 || centroids > 65536 || !llvm::isPowerOf2_64(centroids))
      return emitError() << "pq_topk centroids must be a power of two in [2, "
                            "65536], got "
                         << centroids;
  } else if (subspaces != 0 || centroids != 0) {
    return emitError() << "'" << name << "' takes no subspaces or centroids";
  }
  if (selection == Selection::ChannelTopK) {
    if (channels <= 0)
      return emitError() << "channel_topk channels must be positive, got "
                         << channels;
    if (mass != 0.0)
      return emitError() << "'" << name
                         << "' takes no mass: it folds in the mass it leaves "
                            "out as the mean of the values";
  } else if (channels != 0) {
    return emitError() << "'" << name << "' takes no channels";
  }
  if (mass != 0.0 && selection == Selection::BlockTopK)
    return emitError() << "'" << name
                       << "' takes no mass: block scores are upper bounds, "
                          "not a softmax";
  if (mass != 0.0 && (!std::isfinite(mass) || mass < 0.0 || mass > 1.0))
    return emitError() << "'" << name << "' mass must be in (0, 1], got "
                       << mass;
  return success();
}

TierPolicyAttr TierPolicyAttr::getDense(MLIRContext *context, Tier tier) {
  return get(context, tier, Selection::Dense, 0, llvm::APFloat(0.0), 0, 0,
             llvm::APFloat(0.0), 0, 0, 0, 0, Tail::None);
}

TierPolicyAttr TierPolicyAttr::withTier(Tier tier, int64_t capacity) const {
  return get(getContext(), tier, getSelection(), getBudgetTokens(),
             getBudgetFraction(), getBlockSize(), getQuantBits(),
             getMassThreshold(), getPqSubspaces(), getPqCentroids(),
             getChannels(), capacity, getTail());
}

int64_t TierPolicyAttr::getAttendedTokens(int64_t residentTokens) const {
  if (residentTokens <= 0)
    return 0;
  if (isDense())
    return residentTokens;
  int64_t unit = getSelection() == Selection::BlockTopK ? getBlockSize() : 1;
  int64_t candidates = llvm::divideCeil(residentTokens, unit);
  int64_t chosen =
      getBudgetTokens() > 0
          ? getBudgetTokens()
          : static_cast<int64_t>(std::ceil(
                getBudgetFraction().convertToDouble() * double(candidates)));
  return std::min(residentTokens, std::min(chosen, candidates) * unit);
}

double TierPolicyAttr::getStepReadBytes(int64_t residentTokens, int64_t headDim,
                                        int64_t elementBytes,
                                        const KeptWithKV &kept) const {
  double row = double(headDim) * double(elementBytes);
  double resident = double(std::max<int64_t>(residentTokens, 0));
  double scored = 0.0;
  switch (getSelection()) {
  case Selection::Dense:
    break;
  case Selection::ExactTopK:
    scored = resident * row;
    break;
  case Selection::BlockTopK:
    scored = 2.0 * std::ceil(resident / double(getBlockSize())) * row;
    break;
  case Selection::QuantTopK:
    scored =
        kept.keyCodes ? resident * (double(headDim) + 4.0) : resident * row;
    break;
  case Selection::PqTopK:
    // A code per sub-space, and the codebook the step's table is made from.
    scored = resident * double(getPqSubspaces()) *
                 (getPqCentroids() > 256 ? 2.0 : 1.0) +
             double(getPqCentroids()) * double(headDim) * 4.0;
    break;
  case Selection::ChannelTopK:
    // The chosen channels' rows, or every key to transpose; the tier's whole
    // blocks' value sums and at most two partial blocks' values, or every
    // value.
    scored = kept.channelKeys
                 ? resident * double(getChannels()) * double(elementBytes)
                 : resident * row;
    scored += kept.valueBlock > 0
                  ? std::ceil(resident / double(kept.valueBlock)) *
                            double(headDim) * 4.0 +
                        std::min(resident, 2.0 * double(kept.valueBlock)) * row
                  : resident * row;
    break;
  }
  // A summary tail: per block the count, key sum, key sum of squares and
  // value sum (f32), or every key and value to make them from; after an
  // exact selection (whose scores give each block's mass) only the value
  // sums, or every value.
  double tail = 0.0;
  if (getTail() == Tail::Summary) {
    bool exactMass = getSelection() == Selection::ExactTopK;
    double blocks = std::ceil(resident / double(kTailSummaryBlock));
    if (kept.tailMoments)
      tail = blocks * ((exactMass ? 1.0 : 3.0) * double(headDim) + 1.0) * 4.0;
    else
      tail = (exactMass ? 1.0 : 2.0) * resident * row;
  }
  return scored + tail + 2.0 * row * double(getAttendedTokens(residentTokens));
}

//===----------------------------------------------------------------------===//
// HeadPlacementAttr
//===----------------------------------------------------------------------===//

// [h, h, ...] = <placement body>
HeadPlacementAttr HeadPlacementAttr::parseBody(AsmParser &parser) {
  SMLoc loc = parser.getCurrentLocation();
  SmallVector<int64_t> heads;
  if (parseSquareList(
          parser,
          [&]() { return parser.parseInteger(heads.emplace_back()); }) ||
      parser.parseEqual())
    return {};
  PlacementAttr placement =
      PlacementAttr::parseBody(parser, /*allowHeads=*/false);
  if (!placement)
    return {};
  return parser.getChecked<HeadPlacementAttr>(loc, parser.getContext(), heads,
                                              placement);
}

void HeadPlacementAttr::printBody(AsmPrinter &printer) const {
  printer << "[";
  llvm::interleaveComma(getHeads(), printer);
  printer << "] = ";
  getPlacement().printBody(printer);
}

Attribute HeadPlacementAttr::parse(AsmParser &parser, Type) {
  if (parser.parseLess())
    return {};
  HeadPlacementAttr attr = parseBody(parser);
  if (!attr || parser.parseGreater())
    return {};
  return attr;
}

void HeadPlacementAttr::print(AsmPrinter &printer) const {
  printer << "<";
  printBody(printer);
  printer << ">";
}

LogicalResult
HeadPlacementAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          ArrayRef<int64_t> heads, PlacementAttr placement) {
  if (heads.empty())
    return emitError() << "head placement names no KV heads";
  llvm::SmallDenseSet<int64_t> seen;
  for (int64_t head : heads) {
    if (head < 0)
      return emitError() << "KV head index must be >= 0, got " << head;
    if (!seen.insert(head).second)
      return emitError() << "KV head " << head << " is listed twice";
  }
  if (!placement.getHeads().empty())
    return emitError() << "a head placement cannot override heads again";
  return success();
}

//===----------------------------------------------------------------------===//
// PlacementAttr
//===----------------------------------------------------------------------===//

// <[sink = N, ][window = N, ]tiers = [...][, heads = [...]]>
PlacementAttr PlacementAttr::parseBody(AsmParser &parser, bool allowHeads) {
  SMLoc loc = parser.getCurrentLocation();
  int64_t sink = 0, window = 0;
  SmallVector<TierPolicyAttr> tiers;
  SmallVector<HeadPlacementAttr> heads;
  bool sawTiers = false;
  llvm::SmallDenseSet<StringRef> seen;
  auto parseEntry = [&]() -> ParseResult {
    SMLoc keyLoc = parser.getCurrentLocation();
    StringRef key;
    if (parser.parseKeyword(&key) || parser.parseEqual())
      return failure();
    if (!seen.insert(key).second)
      return parser.emitError(keyLoc, "duplicate placement entry '")
             << key << "'";
    if (key == "sink")
      return parser.parseInteger(sink);
    if (key == "window")
      return parser.parseInteger(window);
    if (key == "tiers") {
      sawTiers = true;
      return parseSquareList(parser, [&]() -> ParseResult {
        tiers.push_back(TierPolicyAttr::parseBody(parser));
        return success(static_cast<bool>(tiers.back()));
      });
    }
    if (key == "heads") {
      if (!allowHeads)
        return parser.emitError(keyLoc,
                                "a head placement cannot override heads");
      return parseSquareList(parser, [&]() -> ParseResult {
        heads.push_back(HeadPlacementAttr::parseBody(parser));
        return success(static_cast<bool>(heads.back()));
      });
    }
    return parser.emitError(keyLoc, "unknown placement entry '")
           << key << "', expected sink, window, tiers or heads";
  };
  if (parser.parseCommaSeparatedList(AsmParser::Delimiter::LessGreater,
                                     parseEntry))
    return {};
  if (!sawTiers) {
    parser.emitError(loc, "placement needs a 'tiers' list");
    return {};
  }
  return parser.getChecked<PlacementAttr>(loc, parser.getContext(), sink,
                                          window, tiers, heads);
}

void PlacementAttr::printBody(AsmPrinter &printer) const {
  printer << "<";
  if (getSink() != 0)
    printer << "sink = " << getSink() << ", ";
  if (getWindow() != 0)
    printer << "window = " << getWindow() << ", ";
  printer << "tiers = [";
  llvm::interleaveComma(getTiers(), printer,
                        [&](TierPolicyAttr tier) { tier.printBody(printer); });
  printer << "]";
  if (!getHeads().empty()) {
    printer << ", heads = [";
    llvm::interleaveComma(getHeads(), printer, [&](HeadPlacementAttr head) {
      head.printBody(printer);
    });
    printer << "]";
  }
  printer << ">";
}

Attribute PlacementAttr::parse(AsmParser &parser, Type) {
  return parseBody(parser, /*allowHeads=*/true);
}

void PlacementAttr::print(AsmPrinter &printer) const { printBody(printer); }

LogicalResult PlacementAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, int64_t sink, int64_t window,
    ArrayRef<TierPolicyAttr> tiers, ArrayRef<HeadPlacementAttr> heads) {
  if (sink < 0)
    return emitError() << "placement sink must be >= 0, got " << sink;
  if (window < 0)
    return emitError() << "placement window must be >= 0, got " << window;
  if (tiers.empty())
    return emitError() << "placement needs at least one tier";
  for (size_t i = 1; i < tiers.size(); ++i) {
    if (tiers[i].getTier() <= tiers[i - 1].getTier())
      return emitError() << "placement tiers must be listed fastest first, "
                            "each once: '"
                         << stringifyTier(tiers[i].getTier()) << "' after '"
                         << stringifyTier(tiers[i - 1].getTier()) << "'";
  }
  StringRef first = stringifyTier(tiers.front().getTier());
  if (tiers.size() == 1 && (sink != 0 || window != 0))
    return emitError() << "with the single tier '" << first
                       << "' every token lives there: sink and window must "
                          "be 0";
  if (tiers.size() > 1 && sink + window == 0)
    return emitError() << "the first tier '" << first
                       << "' holds only the hot set: sink + window must be > 0";
  for (auto [i, policy] : llvm::enumerate(tiers)) {
    StringRef name = stringifyTier(policy.getTier());
    bool middle = i > 0 && i + 1 < tiers.size();
    if (!middle && policy.getCapacity() > 0)
      return emitError() << "tier '" << name << "' takes no capacity: "
                         << (i == 0 ? "the first tier holds the hot set"
                                    : "the last tier holds every token the "
                                      "tiers before it have no room for");
    if (middle && policy.getCapacity() == 0)
      return emitError() << "tier '" << name
                         << "' needs a capacity: without one the tiers "
                            "after it hold nothing";
  }
  llvm::SmallDenseSet<int64_t> overridden;
  for (HeadPlacementAttr head : heads)
    for (int64_t index : head.getHeads())
      if (!overridden.insert(index).second)
        return emitError() << "KV head " << index
                           << " is overridden more than once";
  return success();
}

PlacementAttr PlacementAttr::getForHead(int64_t kvHead) const {
  for (HeadPlacementAttr head : getHeads())
    if (llvm::is_contained(head.getHeads(), kvHead))
      return head.getPlacement();
  return *this;
}

TierPolicyAttr PlacementAttr::getTierPolicy(Tier tier) const {
  for (TierPolicyAttr policy : getTiers())
    if (policy.getTier() == tier)
      return policy;
  return {};
}

SmallVector<int64_t> PlacementAttr::getResidentTokens(int64_t seqLen) const {
  SmallVector<int64_t> resident(getTiers().size(), 0);
  seqLen = std::max<int64_t>(seqLen, 0);
  if (resident.size() == 1) {
    resident[0] = seqLen;
    return resident;
  }
  resident[0] = std::min(seqLen, getSink() + getWindow());
  int64_t cold = seqLen - resident[0];
  for (size_t i = 1; i < resident.size(); ++i) {
    int64_t capacity = getTiers()[i].getCapacity();
    resident[i] = capacity > 0 ? std::min(cold, capacity) : cold;
    cold -= resident[i];
  }
  return resident;
}

int64_t PlacementAttr::getTierStart(size_t index) const {
  int64_t start = getSink();
  for (size_t i = 1; i < index; ++i)
    start += getTiers()[i].getCapacity();
  return start;
}

int64_t PlacementAttr::getMaxOverriddenHead() const {
  int64_t maxHead = -1;
  for (HeadPlacementAttr head : getHeads())
    for (int64_t index : head.getHeads())
      maxHead = std::max(maxHead, index);
  return maxHead;
}
