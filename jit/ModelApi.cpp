//===- ModelApi.cpp - hgc-c/model.h over ModelSession ---------------------===//
//
// A model owns an MLIRContext whose diagnostics become the failing call's
// hgc_last_error(), the session that compiles and runs it, and the outputs
// of its last run.
//
//===----------------------------------------------------------------------===//

#include "hgc-c/model.h"

#include "jit/Jit.h"

#include "exec/HostExecution.h"
#include "tools/support/ModelSession.h"

#include "mlir/IR/Diagnostics.h"

#include <omp.h>

#include <cstring>

using namespace hgc::jit;
namespace mhgc = mlir::hgc;

struct hgc_model {
  std::shared_ptr<ContextState> context;
  std::unique_ptr<mlir::MLIRContext> mlir;
  std::unique_ptr<mlir::ScopedDiagnosticHandler> handler;
  std::string diagnostics; // errors of the call in progress
  std::unique_ptr<mhgc::ModelSession> session;
  std::vector<mhgc::ResultBuffer> outputs;
};

namespace {
/// A failed session call as a status (HGC_IO for unreadable weights, else
/// `status`): its message, else the diagnostics the context reported.
hgc_status reportSession(hgc_model &model, llvm::Error error,
                         hgc_status status) {
  std::string message;
  llvm::handleAllErrors(std::move(error), [&](const llvm::ErrorInfoBase &info) {
    if (info.convertToErrorCode() == std::make_error_code(std::errc::io_error))
      status = HGC_IO;
    message = info.message();
  });
  if (message.empty())
    message = model.diagnostics.empty() ? "failed" : model.diagnostics;
  return report({status, message});
}

hgc_status invalid(const std::string &message) {
  return report({HGC_INVALID_ARGUMENT, message});
}

/// `result` as the C API's tensor (valid while `result` lives).
void describeOutput(const mhgc::ResultBuffer &result, hgc_tensor &output) {
  output.dtype = result.getDescr().data();
  output.rank = int32_t(result.getShape().size());
  output.shape = result.getShape().data();
  output.data = result.getData();
}

/// Output `index` of the last run, or null (reported) when there is none
/// or it was taken.
const mhgc::ResultBuffer *lastOutput(const hgc_model &model, size_t index) {
  if (index < model.outputs.size() && model.outputs[index].getData())
    return &model.outputs[index];
  report({HGC_OUT_OF_RANGE,
          "output " + std::to_string(index) + " of " +
              std::to_string(model.session->getOutputNames().size()) +
              " is not there (run the model first; a taken output is gone)"});
  return nullptr;
}
} // namespace

void hgc_model_options_init(hgc_model_options *options) {
  if (!options)
    return;
  hgc_attention_config config;
  hgc_attention_config_init(&config);
  options->placement = config.placement;
  options->param_min_bytes = mhgc::onnx::ImportOptions{}.parameterMinBytes;
  options->cache_dir = nullptr;
  options->append_in_place = 0;
}

hgc_status hgc_model_open(hgc_context *context, const char *path,
                          const hgc_model_options *options, hgc_model **model) {
  if (!context || !path || !options || !model)
    return invalid("context, path, options or model is null");
  if (!options->placement.policy || !options->placement.budget)
    return invalid("placement.policy and placement.budget must be set "
                   "(hgc_model_options_init)");
  auto made = std::make_unique<hgc_model>();
  made->context = context->state;
  mlir::DialectRegistry registry;
  mhgc::registerCompilerDialects(registry);
  made->mlir = std::make_unique<mlir::MLIRContext>(
      registry, mlir::MLIRContext::Threading::DISABLED);
  made->mlir->loadAllAvailableDialects();
  hgc_model *raw = made.get();
  made->handler = std::make_unique<mlir::ScopedDiagnosticHandler>(
      made->mlir.get(), [raw](mlir::Diagnostic &diagnostic) {
        if (diagnostic.getSeverity() == mlir::DiagnosticSeverity::Error)
          raw->diagnostics +=
              (raw->diagnostics.empty() ? "" : "; ") + diagnostic.str();
        return mlir::success();
      });
  mhgc::ModelOptions modelOptions;
  const hgc_placement &p = options->placement;
  modelOptions.placement = toPlacementOptions(p);
  if (context->state->target == "cuda")
    modelOptions.lowering.target = "nvptx";
  modelOptions.parameterMinBytes = options->param_min_bytes;
  const char *cacheDir = options->cache_dir;
  if (!cacheDir && !context->state->cacheDirectory.empty())
    cacheDir = context->state->cacheDirectory.c_str();
  if (cacheDir)
    modelOptions.cacheDirectory = cacheDir;
  modelOptions.appendInPlace = options->append_in_place != 0;
  auto session = mhgc::ModelSession::open(*made->mlir, path, modelOptions);
  if (!session)
    return reportSession(*made, session.takeError(), HGC_INVALID_ARGUMENT);
  made->session = std::move(*session);
  *model = made.release();
  return report(Failure::ok());
}

void hgc_model_release(hgc_model *model) { delete model; }

size_t hgc_model_num_inputs(const hgc_model *model) {
  return model ? model->session->getInputs().size() : 0;
}

size_t hgc_model_num_outputs(const hgc_model *model) {
  return model ? model->session->getOutputNames().size() : 0;
}

const char *hgc_model_input_name(const hgc_model *model, size_t index) {
  if (!model || index >= model->session->getInputs().size())
    return nullptr;
  return model->session->getInputs()[index].name.c_str();
}

const char *hgc_model_output_name(const hgc_model *model, size_t index) {
  if (!model || index >= model->session->getOutputNames().size())
    return nullptr;
  return model->session->getOutputNames()[index].c_str();
}

hgc_status hgc_model_run(hgc_model *model, const hgc_tensor *inputs,
                         size_t num_inputs, hgc_model_run_stats *stats) {
  return hgc_model_run_strided(model, inputs, nullptr, num_inputs, stats);
}

hgc_status hgc_model_run_strided(hgc_model *model, const hgc_tensor *inputs,
                                 const int64_t *const *strides,
                                 size_t num_inputs,
                                 hgc_model_run_stats *stats) {
  if (!model || (num_inputs && !inputs))
    return invalid("model or inputs is null");
  std::vector<mhgc::ModelFeed> feeds;
  for (size_t i = 0; i < num_inputs; ++i) {
    const hgc_tensor &t = inputs[i];
    if (!t.dtype || t.rank < 0 || (t.rank && !t.shape))
      return invalid("input " + std::to_string(i) +
                     ": dtype or shape is null, or rank < 0");
    int64_t count = 1;
    for (int32_t d = 0; d < t.rank; ++d) {
      if (t.shape[d] < 0)
        return invalid("input " + std::to_string(i) + ": negative dimension");
      count *= t.shape[d];
    }
    if (count && !t.data)
      return invalid("input " + std::to_string(i) + ": data is null");
    llvm::ArrayRef<int64_t> elementStrides;
    if (strides && strides[i]) {
      elementStrides = llvm::ArrayRef<int64_t>(strides[i], size_t(t.rank));
      if (llvm::any_of(elementStrides, [](int64_t s) { return s <= 0; }))
        return invalid("input " + std::to_string(i) +
                       ": strides must be positive");
    }
    feeds.push_back({t.dtype,
                     {t.data, llvm::ArrayRef<int64_t>(t.shape, size_t(t.rank))},
                     elementStrides});
  }
  if (feeds.size() != model->session->getInputs().size())
    return report({HGC_SHAPE_MISMATCH,
                   "expected " +
                       std::to_string(model->session->getInputs().size()) +
                       " inputs, got " + std::to_string(feeds.size())});
  for (size_t i = 0; i < feeds.size(); ++i)
    if (llvm::Error error = model->session->checkFeed(i, feeds[i]))
      return report({HGC_SHAPE_MISMATCH, llvm::toString(std::move(error))});
  if (model->context->threads > 0)
    omp_set_num_threads(model->context->threads);
  model->diagnostics.clear();
  mhgc::ModelRunStats runStats;
  if (llvm::Error error = model->session->run(feeds, model->outputs, &runStats))
    return reportSession(*model, std::move(error), HGC_COMPILE);
  if (stats) {
    stats->compiled = runStats.compiled;
    stats->loaded = runStats.loaded;
    stats->compile_seconds = runStats.compileSeconds;
    stats->run_seconds = runStats.runSeconds;
    stats->programs = runStats.programs;
  }
  return report(Failure::ok());
}

hgc_status hgc_model_get_output(const hgc_model *model, size_t index,
                                hgc_tensor *output) {
  if (!model || !output)
    return invalid("model or output is null");
  const mhgc::ResultBuffer *last = lastOutput(*model, index);
  if (!last)
    return HGC_OUT_OF_RANGE;
  const mhgc::ResultBuffer &result = *last;
  describeOutput(result, *output);
  return report(Failure::ok());
}

hgc_status hgc_model_output_strides(const hgc_model *model, size_t index,
                                    int64_t *strides) {
  if (!model || !strides)
    return invalid("model or strides is null");
  const mhgc::ResultBuffer *last = lastOutput(*model, index);
  if (!last)
    return HGC_OUT_OF_RANGE;
  const mhgc::ResultBuffer &result = *last;
  llvm::ArrayRef<int64_t> shape = result.getShape();
  if (!result.getStrides().empty()) {
    llvm::copy(result.getStrides(), strides);
  } else {
    int64_t stride = 1;
    for (size_t d = shape.size(); d-- > 0;) {
      strides[d] = stride;
      stride *= shape[d];
    }
  }
  return report(Failure::ok());
}

/// An output taken from its model: the buffer the compiled code returned.
struct hgc_buffer {
  mhgc::ResultBuffer result;
};

hgc_status hgc_model_take_output(hgc_model *model, size_t index,
                                 hgc_tensor *output, hgc_buffer **buffer) {
  if (!model || !output || !buffer)
    return invalid("model, output or buffer is null");
  if (!lastOutput(*model, index))
    return HGC_OUT_OF_RANGE;
  *buffer = new hgc_buffer{std::move(model->outputs[index])};
  model->outputs[index] = mhgc::ResultBuffer("", {}, nullptr, nullptr, 0);
  const mhgc::ResultBuffer &result = (*buffer)->result;
  describeOutput(result, *output);
  return report(Failure::ok());
}

void hgc_buffer_release(hgc_buffer *buffer) { delete buffer; }
