"""The catalogue of bad inputs, one entry per case, shared by the tests of
each entry point (test_bad_inputs_cli.py, test_bad_inputs_c_api.py,
test_bad_inputs_python.py) and the table in docs/bad-inputs.md, which
`python test/python/bad_inputs.py` writes and test_bad_inputs_docs.py keeps
equal to this file.

A case names its entry point, what is wrong, and the fragment its one-line
error must contain; `make(tmp_path)` builds the input and returns what to
run: for the CLI the arguments after `hgc`, for the C API and Python a
callable that must raise.
"""
import pathlib
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "bad-inputs.md"

CASES = []


def case(entry, what, expect):
    def register(make):
        CASES.append({"id": make.__name__, "entry": entry, "what": what,
                      "expect": expect, "make": make})
        return make
    return register


# --- Shared inputs ------------------------------------------------------------

F = TensorProto.FLOAT


def save(path, nodes, inputs, outputs, initializers=(), opset=23):
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.save(model, path)
    return path


def attention(tmp, name="m.onnx", kv_type=F, q_type=F, k_shape=(1, 2, 5, 8)):
    return save(tmp / name,
                [helper.make_node("Attention", ["Q", "K", "V"], ["Y"],
                                  name="attn")],
                [helper.make_tensor_value_info("Q", q_type, [1, 2, 1, 8]),
                 helper.make_tensor_value_info("K", kv_type, list(k_shape)),
                 helper.make_tensor_value_info("V", kv_type, list(k_shape))],
                [helper.make_tensor_value_info("Y", F, None)])


def arrays(tmp, **values):
    """--input NAME=FILE.npy for each array (float32 random by default)."""
    args = []
    for name, value in values.items():
        path = tmp / f"{name}.npy"
        if isinstance(value, bytes):
            path.write_bytes(value)
        else:
            np.save(path, value)
        args += ["--input", f"{name}={path}"]
    return args


def randn(*shape, dtype=np.float32):
    return np.random.default_rng(1).standard_normal(shape).astype(dtype)


def run_model(tmp, *extra, **values):
    model = attention(tmp)
    feeds = {"Q": randn(1, 2, 1, 8), "K": randn(1, 2, 5, 8),
             "V": randn(1, 2, 5, 8)}
    feeds.update(values)
    return ["run", model, *arrays(tmp, **feeds), "--output-dir", tmp / "out",
            *extra]


def npy_bytes(header, data=b""):
    """A .npy file with this header dict text (version 1.0)."""
    text = header.encode("latin1")
    pad = 64 - (10 + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + data


def program(tmp, text, name="p.mlir"):
    path = tmp / name
    path.write_text(text)
    return ["run", path, "--output-dir", tmp / "out"]


ADD = """func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = stablehlo.add %x, %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
"""

# --- hgc: flags and values ----------------------------------------------------


@case("hgc flags", "an unknown subcommand", "Unknown subcommand 'frobnicate'")
def unknown_subcommand(tmp):
    return ["frobnicate"]


@case("hgc flags", "`run` without --output-dir",
      "--output-dir option: must be specified")
def run_without_output_dir(tmp):
    return ["run", attention(tmp)]


@case("hgc flags", "an unknown placement policy",
      "unknown placement policy 'nope'")
def unknown_policy(tmp):
    return ["plan", attention(tmp), "--policy", "nope"]


@case("hgc flags", "a negative budget (policy full, which reads none)",
      "budget must be a token count or a fraction in (0, 1], got '-1'")
def negative_budget(tmp):
    return ["plan", attention(tmp), "--budget", "-1"]


@case("hgc flags", "a budget that is not a number",
      "budget 'abc' is neither a token count (256) nor a fraction (0.05)")
def word_budget(tmp):
    return ["plan", attention(tmp), "--policy", "hgca", "--budget", "abc"]


@case("hgc flags", "a negative window", "placement window must be >= 0, got -5")
def negative_window(tmp):
    return ["plan", attention(tmp), "--window", "-5"]


@case("hgc flags", "a sink that is not an integer",
      "'x' value invalid for long argument")
def word_sink(tmp):
    return ["plan", attention(tmp), "--sink", "x"]


@case("hgc flags", "a block that is not a power of two",
      "block must be a positive power of two, got 3")
def block_not_power_of_two(tmp):
    return ["plan", attention(tmp), "--policy", "quest", "--block", "3"]


@case("hgc flags", "zero query channels", "channels must be positive, got 0")
def zero_channels(tmp):
    return ["plan", attention(tmp), "--policy", "sparf", "--channels", "0"]


@case("hgc flags", "tau above 1", "tau must be in (0, 1], got 2")
def tau_above_one(tmp):
    return ["plan", attention(tmp), "--policy", "hca", "--tau", "2"]


@case("hgc flags", "a product quantizer with 7 centroids",
      "codebook 'pq3x7': subspaces must be positive and centroids a power "
      "of two")
def bad_codebook(tmp):
    return ["plan", attention(tmp), "--policy", "hca", "--codebook", "pq3x7"]


@case("hgc flags", "a negative host capacity",
      "host-capacity must be >= 0, got -1")
def negative_host_capacity(tmp):
    return ["plan", attention(tmp), "--host-capacity", "-1"]


@case("hgc flags", "a far capacity without a host capacity",
      "far-capacity needs a host-capacity")
def far_without_host(tmp):
    return ["plan", attention(tmp), "--far-capacity", "10"]


@case("hgc flags", "an unknown tail", "tail 'bogus' is not auto, none or summary")
def unknown_tail(tmp):
    return ["plan", attention(tmp), "--tail", "bogus"]


@case("hgc flags", "an unknown target", "unknown target 'gpu9'")
def unknown_target(tmp):
    return ["plan", attention(tmp), "--target", "gpu9"]


@case("hgc flags", "an unknown GPU chip", "unknown chip 'sm_10'")
def unknown_chip(tmp):
    return ["plan", attention(tmp), "--chip", "sm_10"]


@case("hgc flags", "a malformed --shape", "--shape Q=1x?: expected e.g. 1x8x128")
def malformed_shape(tmp):
    return ["plan", attention(tmp), "--shape", "Q=1x?"]


@case("hgc flags", "an --input without a file", "is not NAME=FILE.npy")
def input_without_file(tmp):
    return ["run", attention(tmp), "--input", "Q", "--output-dir", tmp / "o"]


@case("hgc flags", "an output directory that is a file", "Not a directory")
def output_dir_is_a_file(tmp):
    (tmp / "file").write_text("x")
    args = run_model(tmp)
    return args[:-1] + [tmp / "file"]


@case("hgc flags", "an object file in a directory that does not exist",
      "/nonexistent/dir/x.o: No such file or directory")
def object_in_missing_directory(tmp):
    return ["compile", attention(tmp), "--emit", "obj", "-o",
            "/nonexistent/dir/x.o"]


@case("hgc plan", "an unknown hardware profile",
      "unknown hardware profile 'nope'")
def unknown_hardware(tmp):
    return ["plan", "--hardware", "nope"]


@case("hgc plan", "a hardware profile that is not JSON", "bad.json: not JSON")
def hardware_not_json(tmp):
    (tmp / "bad.json").write_text('{"name": 3')
    return ["plan", "--hardware", tmp / "bad.json"]


@case("hgc plan", "a model config with zero layers",
      "'layers' must be a whole number >= 1")
def zero_layers(tmp):
    return ["plan", "--hardware", "h100-pcie5", "--model-config", "layers=0"]


@case("hgc plan", "a negative context", "--context must be > 0, got -1")
def negative_context(tmp):
    return ["plan", "--hardware", "h100-pcie5", "--context", "-1"]


@case("hgc plan", "a batch of zero", "--batch must be > 0, got 0")
def zero_batch(tmp):
    return ["plan", "--hardware", "h100-pcie5", "--batch", "0"]

# --- hgc: ONNX models ---------------------------------------------------------


@case("hgc: ONNX model", "a file that does not exist",
      "none.onnx: no such file")
def missing_model(tmp):
    return ["plan", tmp / "none.onnx"]


@case("hgc: ONNX model", "bytes that are not a protobuf",
      "garbage.onnx: not a valid ONNX model")
def garbage_model(tmp):
    (tmp / "garbage.onnx").write_bytes(bytes(range(256)) * 4)
    return ["plan", tmp / "garbage.onnx"]


@case("hgc: ONNX model", "a model cut short",
      "cut.onnx: not a valid ONNX model")
def truncated_model(tmp):
    data = attention(tmp).read_bytes()
    (tmp / "cut.onnx").write_bytes(data[:len(data) * 2 // 3])
    return ["plan", tmp / "cut.onnx"]


@case("hgc: ONNX model", "Attention over int32 keys",
      "node 'attn' (Attention): Q, K and V must be floating point of one type")
def int_keys(tmp):
    return ["plan", attention(tmp, kv_type=TensorProto.INT32)]


@case("hgc: ONNX model", "a graph whose nodes form a cycle (B feeds the node "
      "that makes it)", "node 'first' (Add): input 'B' is not defined")
def cyclic_graph(tmp):
    return ["plan", save(
        tmp / "cycle.onnx",
        [helper.make_node("Add", ["X", "B"], ["A"], name="first"),
         helper.make_node("Relu", ["A"], ["B"], name="second")],
        [helper.make_tensor_value_info("X", F, [4])],
        [helper.make_tensor_value_info("B", F, [4])])]


@case("hgc: ONNX model", "an input of 2^40 x 2^40 elements",
      "graph input 'X' has shape 1099511627776x1099511627776: too many "
      "elements")
def huge_dims(tmp):
    return ["plan", save(
        tmp / "huge.onnx", [helper.make_node("Relu", ["X"], ["Y"], name="r")],
        [helper.make_tensor_value_info("X", F, [1 << 40, 1 << 40])],
        [helper.make_tensor_value_info("Y", F, None)])]


@case("hgc: ONNX model", "weights in an external file that is missing",
      "initializer tensor 'W': external data")
def missing_external_data(tmp):
    weight = helper.make_tensor("W", F, [64, 64],
                                np.ones(64 * 64, np.float32).tobytes(),
                                raw=True)
    path = save(tmp / "external.onnx",
                [helper.make_node("MatMul", ["X", "W"], ["Y"], name="mm")],
                [helper.make_tensor_value_info("X", F, [1, 64])],
                [helper.make_tensor_value_info("Y", F, None)], [weight])
    model = onnx.load(path)
    onnx.save_model(model, path, save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=0)
    (tmp / "weights.bin").unlink()
    return ["plan", path]


@case("hgc: ONNX model", "an initializer shorter than its shape",
      "initializer tensor 'W' holds 25 values, its dims need 4096")
def short_initializer(tmp):
    weight = helper.make_tensor("W", F, [64, 64], b"\x00" * 16384, raw=True)
    weight.raw_data = b"\x00" * 100  # what a broken exporter writes
    return ["plan", save(
        tmp / "short.onnx",
        [helper.make_node("MatMul", ["X", "W"], ["Y"], name="mm")],
        [helper.make_tensor_value_info("X", F, [1, 64])],
        [helper.make_tensor_value_info("Y", F, None)], [weight])]


@case("hgc: ONNX model", "an op hgc does not support",
      "node 'f' (Frobnicate): unsupported ONNX op 'Frobnicate' in domain "
      "'ai.onnx'")
def unsupported_op(tmp):
    return ["plan", save(
        tmp / "op.onnx", [helper.make_node("Frobnicate", ["X"], ["Y"],
                                           name="f")],
        [helper.make_tensor_value_info("X", F, [4])],
        [helper.make_tensor_value_info("Y", F, None)])]


@case("hgc: ONNX model", "a node reading a value nothing defines",
      "node 'add' (Add): input 'ghost' is not defined")
def undefined_value(tmp):
    return ["plan", save(
        tmp / "ghost.onnx", [helper.make_node("Add", ["X", "ghost"], ["Y"],
                                              name="add")],
        [helper.make_tensor_value_info("X", F, [4])],
        [helper.make_tensor_value_info("Y", F, None)])]


@case("hgc: ONNX model", "a graph output nothing produces",
      "graph output 'Z' is never computed")
def unproduced_output(tmp):
    return ["plan", save(
        tmp / "out.onnx", [helper.make_node("Relu", ["X"], ["Y"], name="r")],
        [helper.make_tensor_value_info("X", F, [4])],
        [helper.make_tensor_value_info("Z", F, [4])])]


@case("hgc: ONNX model", "a --shape unlike the declared dims",
      "declared ?x4, given 3x5")
def shape_unlike_declared(tmp):
    return ["plan", save(
        tmp / "sym.onnx", [helper.make_node("Relu", ["X"], ["Y"], name="r")],
        [helper.make_tensor_value_info("X", F, ["n", 4])],
        [helper.make_tensor_value_info("Y", F, None)]), "--shape", "X=3x5"]


# --- hgc: StableHLO programs --------------------------------------------------


@case("hgc: StableHLO program", "text that is not MLIR",
      "p.mlir:1:1: custom op 'this' is unknown")
def not_mlir(tmp):
    return program(tmp, "this is not a program\n")


@case("hgc: StableHLO program", "a program cut mid-op",
      "p.mlir:2:5: expected operation name in quotes")
def cut_program(tmp):
    return program(tmp, ADD[:60])


@case("hgc: StableHLO program", "an unknown stablehlo op",
      "custom op 'stablehlo.frobnicate' is unknown")
def unknown_stablehlo_op(tmp):
    return program(tmp, ADD.replace("stablehlo.add", "stablehlo.frobnicate"))


@case("hgc: StableHLO program", "operands of different types",
      "use of value '%x' expects different type than prior uses")
def mismatched_types(tmp):
    return program(tmp, ADD.replace("stablehlo.add %x, %x : tensor<4xf32>",
                                    "stablehlo.add %x, %x : (tensor<4xf32>, "
                                    "tensor<4xf16>) -> tensor<4xf32>"))


@case("hgc: StableHLO program", "no @main to run", "no function @main")
def no_main(tmp):
    return program(tmp, ADD.replace("@main", "@other"))


@case("hgc: StableHLO program", "a custom_call target hgc cannot run",
      "target 'mystery' is not supported")
def custom_call(tmp):
    return program(tmp, ADD.replace(
        "stablehlo.add %x, %x : tensor<4xf32>",
        "stablehlo.custom_call @mystery(%x) : (tensor<4xf32>) -> "
        "tensor<4xf32>"))


@case("hgc: StableHLO program", "an input for an argument @main lacks",
      "@main has no argument 'q'")
def unknown_argument(tmp):
    args = program(tmp, ADD)
    return args + arrays(tmp, arg0=randn(4), q=randn(4))


# --- hgc: .npy inputs ---------------------------------------------------------


@case("hgc: .npy input", "a missing input", "missing --input V=FILE.npy")
def missing_input(tmp):
    args = run_model(tmp)
    at = next(i for i, a in enumerate(args) if str(a).startswith("V="))
    return args[:at - 1] + args[at + 1:]


@case("hgc: .npy input", "an input the model does not have", "no input 'W'")
def extra_input(tmp):
    return run_model(tmp, W=randn(1, 2, 5, 8))


@case("hgc: .npy input", "the wrong magic",
      "V.npy: not a readable .npy file: missing the \\x93NUMPY magic")
def wrong_magic(tmp):
    return run_model(tmp, V=b"\x93NUMPX\x01\x00garbage")


@case("hgc: .npy input", "data shorter than its header says",
      "expected 320 data bytes, found 100")
def short_data(tmp):
    return run_model(tmp, V=npy_bytes(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 5, 8), }",
        b"\x00" * 100))


@case("hgc: .npy input", "float64 where float32 is expected",
      "input 'V' expects float 1x2x5x8 (<f4)")
def wrong_dtype(tmp):
    return run_model(tmp, V=randn(1, 2, 5, 8, dtype=np.float64))


@case("hgc: .npy input", "the wrong shape", "got 1x2x6x8")
def wrong_shape(tmp):
    return run_model(tmp, V=randn(1, 2, 6, 8))


@case("hgc: .npy input", "Fortran order",
      "V.npy: not a readable .npy file: only C-order arrays are supported")
def fortran_order(tmp):
    return run_model(tmp, V=npy_bytes(
        "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2, 5, 8), }",
        b"\x00" * 320))


@case("hgc: .npy input", "a dtype hgc does not read (complex64)", "<c8")
def complex_dtype(tmp):
    return run_model(tmp, V=randn(1, 2, 5, 8).astype(np.complex64))


@case("hgc: .npy input", "a header that is not a dict",
      "V.npy: not a readable .npy file: no 'descr'")
def broken_header(tmp):
    return run_model(tmp, V=npy_bytes("[1, 2, 3]"))


# --- libhgc's C API (raw calls through ctypes) --------------------------------

def jit():
    sys.path.insert(0, str(ROOT / "jit" / "python"))
    import hgc_jit
    return hgc_jit


def c_call(function, *args):
    """Calls a C function; raises hgc_jit.Error on a non-zero status."""
    hgc_jit = jit()
    hgc_jit._check(getattr(hgc_jit._lib, function)(*args))


def c_config(**fields):
    """An hgc_attention_config from hgc_attention_config_init, then fields."""
    hgc_jit = jit()
    config = hgc_jit._defaults()
    config.q_heads, config.kv_heads, config.head_dim = 4, 2, 16
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def c_context():
    hgc_jit = jit()
    return hgc_jit.Context(target="host")


def c_compile(config):
    import ctypes
    context = c_context()
    handle = ctypes.c_void_p()
    return lambda: c_call("hgc_compile", context._handle, ctypes.byref(config),
                          ctypes.byref(handle))


@case("C API", "hgc_compile with a null configuration",
      "context, config or kernel is null")
def compile_null_config(tmp):
    import ctypes
    context = c_context()
    handle = ctypes.c_void_p()
    return lambda: c_call("hgc_compile", context._handle, None,
                          ctypes.byref(handle))


@case("C API", "hgc_compile with a null context",
      "context, config or kernel is null")
def compile_null_context(tmp):
    import ctypes
    config = c_config()
    handle = ctypes.c_void_p()
    return lambda: c_call("hgc_compile", None, ctypes.byref(config),
                          ctypes.byref(handle))


@case("C API", "kv_heads that do not divide q_heads",
      "q_heads (4) must be a multiple of kv_heads (3)")
def kv_heads_not_dividing(tmp):
    return c_compile(c_config(kv_heads=3))


@case("C API", "a head_dim of zero", "and head_dim (0) must be positive")
def zero_head_dim(tmp):
    return c_compile(c_config(head_dim=0))


@case("C API", "a null placement policy",
      "placement.policy and placement.budget must be set")
def null_policy(tmp):
    config = c_config()
    config.placement.policy = None
    return c_compile(config)


@case("C API", "an unknown placement policy", "unknown placement policy 'x'")
def c_unknown_policy(tmp):
    config = c_config()
    config.placement.policy = b"x"
    return c_compile(config)


@case("C API", "overrides counted but null",
      "num_overrides is 2 but overrides is null")
def null_overrides(tmp):
    return c_compile(c_config(num_overrides=2))


@case("C API", "an override past the last KV head",
      "override 0: KV heads [1, 3) are not within [0, 2)")
def override_out_of_range(tmp):
    hgc_jit = jit()
    config = c_config()
    config.placement.policy = b"hgca"
    overrides = (hgc_jit._HeadOverride * 1)()
    overrides[0].first_kv_head, overrides[0].kv_heads = 1, 2
    overrides[0].policy, overrides[0].budget = b"full", b"1.0"
    config.overrides, config.num_overrides = overrides, 1
    return c_compile(config)


@case("C API", "a paged-KV block size that is not a power of two",
      "kv_block_size must be 0 (a runtime cache) or a power of two, got 12")
def paged_block_size(tmp):
    return c_compile(c_config(kv_block_size=12))


@case("C API", "a cache of 12-token pages",
      "page_tokens must be a positive power of two, got 12")
def cache_page_tokens(tmp):
    import ctypes
    hgc_jit = jit()
    context = c_context()
    config = c_config()
    options = hgc_jit._CacheOptions()
    hgc_jit._lib.hgc_kv_cache_options_init(ctypes.byref(options))
    options.layers, options.page_tokens = 1, 12
    handle = ctypes.c_void_p()
    return lambda: c_call("hgc_kv_cache_create", context._handle,
                          ctypes.byref(config), ctypes.byref(options),
                          ctypes.byref(handle))


def small_cache():
    hgc_jit = jit()
    context = c_context()
    config = hgc_jit.AttentionConfig(q_heads=4, kv_heads=2, head_dim=16,
                                     kv_dtype="f32", policy="full")
    cache = context.create_cache(config, layers=1, page_tokens=16)
    kernel = context.compile(config)
    return hgc_jit, context, config, cache, kernel


@case("C API", "an append to a sequence never added", "unknown sequence 7")
def append_unknown_sequence(tmp):
    import ctypes
    _, _, _, cache, _ = small_cache()
    data = np.zeros(2 * 16, np.float32)
    return lambda: c_call("hgc_kv_append", cache._handle, 7, 0, 1,
                          data.ctypes.data, data.ctypes.data)


@case("C API", "a read past the cached tokens", "tokens [0, 9) of 4")
def read_out_of_range(tmp):
    _, _, _, cache, _ = small_cache()
    cache.add_sequence(1)
    cache.append(1, 0, randn(2, 4, 16), randn(2, 4, 16))
    return lambda: cache.read(1, 0, 0, 9)


@case("C API", "hgc_decode with a null sequence list",
      "kernel, cache, seqs, queries or outputs is null")
def decode_null_seqs(tmp):
    _, _, _, cache, kernel = small_cache()
    queries = np.zeros((1, 4, 16), np.float32)
    return lambda: c_call("hgc_decode", kernel._handle, cache._handle, 0, 1,
                          None, queries.ctypes.data, queries.ctypes.data, None)


@case("C API", "a decode of a released sequence", "unknown sequence 3")
def decode_released(tmp):
    _, _, _, cache, kernel = small_cache()
    cache.add_sequence(3)
    cache.append(3, 0, randn(2, 4, 16), randn(2, 4, 16))
    cache.release_sequence(3)
    return lambda: cache.decode(kernel, 0, [3], randn(1, 4, 16))


@case("C API", "a sequence released twice", "unknown sequence 3")
def release_twice(tmp):
    _, _, _, cache, _ = small_cache()
    cache.add_sequence(3)
    cache.release_sequence(3)
    return lambda: cache.release_sequence(3)


@case("C API", "a scheduler whose window range is empty",
      "need 0 <= min_window <= max_window")
def scheduler_empty_range(tmp):
    hgc_jit = jit()
    return lambda: hgc_jit.Scheduler(context=10000, window=512,
                                     min_window=4096, max_window=1024)


@case("C API", "one sequence released by two threads at once",
      "unknown sequence 5")
def concurrent_release(tmp):
    import threading
    _, _, _, cache, _ = small_cache()

    def race():
        cache.add_sequence(5)
        errors = []

        def release():
            try:
                cache.release_sequence(5)
            except Exception as error:  # the loser's; raised below
                errors.append(error)
        threads = [threading.Thread(target=release) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(errors) == 1, errors  # exactly one release wins
        raise errors[0]
    return race


@case("runtime C API", "a head stream whose groups do not divide the heads",
      "group_heads (3) must divide the 4 streamed KV heads")
def head_stream_groups(tmp):
    hgc_jit = jit()
    return lambda: hgc_jit.HeadStream(1, 4, 16, group_heads=3)


@case("runtime C API", "a fault rate above 1", "fault rate must be in [0, 1]")
def fault_rate(tmp):
    hgc_jit = jit()
    import ctypes
    function = hgc_jit._lib.hgc_rt_fault_inject_rate
    function.argtypes = [ctypes.c_int, ctypes.c_double, ctypes.c_uint64]
    return lambda: hgc_jit._check_runtime(function(4, 1.5, 0))


# --- The Python wrapper (hgc_jit) ---------------------------------------------


@case("Python", "an unknown KV dtype",
      "kv_dtype 'f8' is not one of ['bf16', 'f16', 'f32']")
def python_dtype(tmp):
    hgc_jit = jit()
    return lambda: hgc_jit.AttentionConfig(q_heads=4, kv_heads=2, head_dim=16,
                                           kv_dtype="f8")


@case("Python", "an unknown target", "target 'tpu' is not auto")
def python_target(tmp):
    hgc_jit = jit()
    return lambda: hgc_jit.Context(target="tpu")


@case("Python", "keys of the wrong shape for the cache",
      "keys (3, 4, 16) do not fit [kv_heads=2, tokens, head_dim=16]")
def python_append_shape(tmp):
    _, _, _, cache, _ = small_cache()
    cache.add_sequence(1)
    return lambda: cache.append(1, 0, randn(3, 4, 16), randn(3, 4, 16))


@case("Python", "queries of the wrong shape",
      "queries (1, 3, 16) do not fit [batch=1, q_heads=4, head_dim=16]")
def python_query_shape(tmp):
    _, _, _, cache, kernel = small_cache()
    cache.add_sequence(1)
    cache.append(1, 0, randn(2, 4, 16), randn(2, 4, 16))
    return lambda: cache.decode(kernel, 0, [1], randn(1, 3, 16))


@case("Python", "a head stream query of the wrong width",
      "query must be [q_heads, 16]")
def python_head_stream_query(tmp):
    hgc_jit = jit()
    stream = hgc_jit.HeadStream(1, 2, 16, group_heads=1)
    stream.add_sequence(0)
    return lambda: stream.attend(0, 0, np.zeros((4, 8), np.float32))


# --- The table ----------------------------------------------------------------


def render():
    lines = ["# Bad inputs", "",
             "Every bad input below gets a one-line error naming what is wrong "
             "and a non-zero status (exit 1 from `hgc`, a status and "
             "`hgc_last_error()` from the C APIs, an exception from Python), "
             "never a crash. The table is generated from "
             "`test/python/bad_inputs.py` (`python test/python/bad_inputs.py`"
             "), the cases the tests of each entry point run "
             "(`test_bad_inputs_cli.py`, `test_bad_inputs_api.py`, `test_bad_inputs_python.py`); "
             "`test_bad_inputs_docs.py` keeps it equal to them. The runtime's "
             "own C API has its error paths in `runtime/test/ErrorsTest.cpp`, "
             "faults in `runtime/test/FaultTest.cpp` ([runtime.md](runtime.md)"
             "), and `hgc-opt` on cut and corrupted IR in "
             "`test_malformed_input.py`.", "",
             f"{len(CASES)} cases.", "",
             "| entry point | bad input | the error contains |",
             "| --- | --- | --- |"]
    for c in CASES:
        expect = c["expect"].replace("|", "\\|")
        lines.append(f"| {c['entry']} | {c['what']} | `{expect}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC} ({len(CASES)} cases)")
