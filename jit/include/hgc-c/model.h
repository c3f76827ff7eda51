/*===- hgc-c/model.h - whole ONNX models in a session, C API ------*- C -*-===*\
|*                                                                            *|
|* onnxruntime's shape: open a model once with placement options, then run   *|
|* it on feeds many times. Weights are mapped from the model's files, not    *|
|* copied into code; a program is compiled per input signature (shapes, and  *|
|* the values of the few integer inputs a shape depends on) and reused.      *|
|* Statuses and hgc_last_error() as in hgc-c/jit.h. One thread at a time    *|
|* may run a model; different models run concurrently.                       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef HGC_C_MODEL_H
#define HGC_C_MODEL_H

#include "hgc-c/jit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct hgc_model hgc_model;

typedef struct hgc_model_options {
  hgc_placement placement; /* the driver's names and defaults */
  /* Initializers of at least this many bytes are read from their file at
   * run time instead of compiled in; < 0: none. Default 65536. */
  int64_t param_min_bytes;
  /* Compiled programs are kept here for later processes; NULL: the
   * context's cache_dir, else $HGC_CACHE_DIR, else none. */
  const char *cache_dir;
  /* 1: a past the model appends to (Concat(past, new) or an attention's
   * past/present returned as an output), fed through hgc_model_run_strided
   * as a view of a buffer with room after it along the growing axis, gets
   * the new positions written into that buffer after it; the paired output
   * is then a view of the same buffer (hgc_model_output_strides), and the
   * past is never copied. Positions after the output's are left alone.
   * Default 0. */
  int32_t append_in_place;
} hgc_model_options;

/* A tensor by numpy's descriptor ("<f4", "<f2", "<u2" for bf16 bits, "<f8",
 * "<i8", "<i4", "|i1", "|b1"), C-order data and shape. */
typedef struct hgc_tensor {
  const char *dtype;
  int32_t rank;
  const int64_t *shape;
  const void *data;
} hgc_tensor;

typedef struct hgc_model_run_stats {
  int32_t compiled; /* 1: this run compiled a program for its signature */
  int32_t loaded;   /* 1: it linked one from the cache instead */
  double compile_seconds;
  double run_seconds; /* the compiled code; outputs are its own buffers */
  int64_t programs;   /* programs the model has compiled so far */
} hgc_model_run_stats;

HGC_API void hgc_model_options_init(hgc_model_options *options);
/* Reads the model's interface (nothing is compiled yet). The context's
 * target and threads apply. `path` may also be a compiled model
 * (`hgc compile -o X.hgcm`): its stored programs run, with the options it
 * was compiled with, and nothing is compiled. */
HGC_API hgc_status hgc_model_open(hgc_context *context, const char *path,
                                  const hgc_model_options *options,
                                  hgc_model **model);
HGC_API void hgc_model_release(hgc_model *model);

HGC_API size_t hgc_model_num_inputs(const hgc_model *model);
HGC_API size_t hgc_model_num_outputs(const hgc_model *model);
/* Names live as long as the model; NULL past the end. */
HGC_API const char *hgc_model_input_name(const hgc_model *model, size_t index);
HGC_API const char *hgc_model_output_name(const hgc_model *model, size_t index);

/* Runs on one tensor per input, in input order. `stats` may be NULL. */
HGC_API hgc_status hgc_model_run(hgc_model *model, const hgc_tensor *inputs,
                                 size_t num_inputs, hgc_model_run_stats *stats);
/* The same with each input's element strides: `strides[i]` holds rank
 * strides of input i in elements (positive), or is NULL for C order; `strides`
 * itself may be NULL. Inputs in other layouts than C order are copied, except
 * append buffers (hgc_model_options.append_in_place). */
HGC_API hgc_status hgc_model_run_strided(hgc_model *model,
                                         const hgc_tensor *inputs,
                                         const int64_t *const *strides,
                                         size_t num_inputs,
                                         hgc_model_run_stats *stats);
/* Output `index` of the last run; valid until the next run or release. */
HGC_API hgc_status hgc_model_get_output(const hgc_model *model, size_t index,
                                        hgc_tensor *output);

/* The element strides of output `index` of the last run (rank of them) into
 * `strides`: C order, except an output written into an append buffer, a
 * view of the input buffer it grew (its data is that buffer's). */
HGC_API hgc_status hgc_model_output_strides(const hgc_model *model,
                                            size_t index, int64_t *strides);

/* Output `index` of the last run, taken without a copy: `output` stays valid
 * until hgc_buffer_release(*buffer), whatever the model does next. */
typedef struct hgc_buffer hgc_buffer;
HGC_API hgc_status hgc_model_take_output(hgc_model *model, size_t index,
                                         hgc_tensor *output,
                                         hgc_buffer **buffer);
HGC_API void hgc_buffer_release(hgc_buffer *buffer);

#ifdef __cplusplus
}
#endif

#endif /* HGC_C_MODEL_H */
