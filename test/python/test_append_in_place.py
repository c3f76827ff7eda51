"""Present KV written into the caller's growing buffer (Session
append_in_place): a past fed as `buf[:, :, :past]` of a buffer with room
gets the new tokens written after it, the present comes back as a view of
the same buffer, and feeding it back copies nothing. Checked step by step
against onnxruntime (1e-4; f16 graphs 2e-2) on the bundled model (ONNX
Attention with past/present) and on torch.onnx exports (Concat of past and
new keys), with the buffer's unused positions left alone."""
import pathlib
import sys

import numpy as np
import onnx
import onnxruntime
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "jit" / "python"))
sys.path.insert(0, str(ROOT / "examples" / "llama"))
import build_model  # noqa: E402
import hgc_jit  # noqa: E402
from test_exporter_models import (EXPORTS, feeds_for, model_path,  # noqa: E402
                                  next_step_feeds, tolerance)
from test_model_session import next_feeds  # noqa: E402

SENTINEL = 12345.0  # what the buffers hold past the positions in use


def in_buffers(feeds, room, is_past):
    """`feeds` with every past moved into a buffer `room` positions longer
    along the sequence (dim 2), filled with SENTINEL after the past."""
    feeds, buffers = dict(feeds), {}
    for name, value in feeds.items():
        if not is_past(name):
            continue
        shape = list(value.shape)
        shape[2] += room
        buffer = np.full(shape, SENTINEL, value.dtype)
        buffer[:, :, :value.shape[2]] = value
        buffers[name] = buffer
        feeds[name] = buffer[:, :, :value.shape[2]]
    return feeds, buffers


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    path = tmp_path_factory.mktemp("append") / "llama.onnx"
    onnx.save(build_model.build(seed=4), path)
    return path


@pytest.mark.parametrize("placement", [
    dict(policy="full"),
    dict(policy="hgca", sink=2, window=8, budget="1.0"),
    dict(policy="quest", sink=2, window=8, budget="1.0", block=8)])
def test_bundled_loop_writes_into_the_buffer(bundled, placement):
    """8 steps from a past of 29 in buffers with room for 10 more: each step
    = onnxruntime; every present is a view of its buffer (no copy); at the
    end the buffer holds onnxruntime's present and, after it, what it held."""
    session = hgc_jit.Session(bundled, cache_dir="", append_in_place=True,
                              **placement)
    reference = onnxruntime.InferenceSession(str(bundled))
    names = session.output_names
    start = build_model.decode_inputs(onnx.load(bundled), past=29, seed=6)
    feeds, buffers = in_buffers(start, 10, lambda n: n.startswith("past_"))
    want_feeds, compiled = start, []
    for step in range(8):
        got = session.run(None, feeds)
        want = reference.run(None, want_feeds)
        for name, a, b in zip(names, got, want):
            assert a.shape == b.shape, f"step {step} {name}"
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4,
                                       err_msg=f"step {step} {name}")
            if name.startswith("present_"):
                buffer = buffers[name.replace("present_", "past_")]
                assert np.shares_memory(a, buffer), f"step {step} {name}"
        if session.last_stats.compiled:
            compiled.append(step)
        feeds = next_feeds(feeds, names, got)
        want_feeds = next_feeds(want_feeds, names, want)
    assert compiled == [0, 1]
    for name, value in zip(names, want):
        if name.startswith("present_"):
            buffer = buffers[name.replace("present_", "past_")]
            np.testing.assert_allclose(buffer[:, :, :37], value, rtol=1e-4,
                                       atol=1e-4)
            assert (buffer[:, :, 37:] == SENTINEL).all(), name


@pytest.mark.parametrize("exporter,arch", EXPORTS)
def test_exporter_loop_writes_into_the_buffer(exporter, arch):
    """torch.onnx exports append with Concat(past, new): a 5-step greedy
    loop at batch 2 in buffers = onnxruntime step by step, presents are
    views of the buffers. Gemma-2's sliding-window layers (layer 0 here)
    return a Slice of that Concat (transformers' hybrid cache), which is no
    append: they read the buffers and return presents of their own."""
    path = model_path(exporter, arch)
    session = hgc_jit.Session(path, policy="hgca", sink=2, window=8,
                              budget="1.0", cache_dir="",
                              append_in_place=True)
    reference = onnxruntime.InferenceSession(str(path))
    names, tol = session.output_names, tolerance(path)
    start = feeds_for(path, 2, 20, seed=8)
    feeds, buffers = in_buffers(start, 6,
                                lambda n: n.startswith("past_key_values"))
    want_feeds = start
    for step in range(5):
        got = session.run(None, feeds)
        want = reference.run(None, want_feeds)
        for name, a, b in zip(names, got, want):
            assert a.shape == b.shape, f"step {step} {name}"
            np.testing.assert_allclose(a.astype(np.float64), b, rtol=tol,
                                       atol=tol, err_msg=f"step {step} {name}")
            if name.startswith("present"):
                past = name.replace("present", "past_key_values")
                appends = arch != "gemma2" or ".1." in name
                assert np.shares_memory(a, buffers[past]) == appends, name
        feeds = next_step_feeds(feeds, names, got)
        want_feeds = next_step_feeds(want_feeds, names, want)


def test_no_room_is_a_one_line_error(bundled):
    """A prompt of 3 tokens onto a buffer with room for 2: the run stops
    with an error naming the input, before anything is written after the
    buffer's end."""
    session = hgc_jit.Session(bundled, policy="full", cache_dir="",
                              append_in_place=True)
    feeds = build_model.decode_inputs(onnx.load(bundled), past=16, seed=2)
    feeds["input_ids"] = np.array([[1, 2, 3]], np.int64)
    feeds["position_ids"] = np.array([[16, 17, 18]], np.int64)
    feeds, buffers = in_buffers(feeds, 2, lambda n: n.startswith("past_"))
    with pytest.raises(hgc_jit.Error) as error:
        session.run(None, feeds)
    message = str(error.value)
    assert "no room" in message and "past_key_0" in message, message
    assert "\n" not in message.strip()


def test_views_without_the_option_are_read_not_written(bundled):
    """Without append_in_place a view of a larger buffer is only read (copied
    to C order): outputs are arrays of their own and the buffer keeps its
    sentinel; a non-contiguous input of any other kind is read right too."""
    session = hgc_jit.Session(bundled, policy="full", cache_dir="")
    reference = onnxruntime.InferenceSession(str(bundled))
    start = build_model.decode_inputs(onnx.load(bundled), past=12, seed=9)
    feeds, buffers = in_buffers(start, 4, lambda n: n.startswith("past_"))
    # A transposed copy viewed back: same values, strides reversed.
    feeds["past_key_1"] = np.ascontiguousarray(
        start["past_key_1"].transpose(3, 2, 1, 0)).transpose(3, 2, 1, 0)
    assert not feeds["past_key_1"].flags.c_contiguous
    got = session.run(None, feeds)
    want = reference.run(None, start)
    for name, a, b in zip(session.output_names, got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=name)
        assert not any(np.shares_memory(a, x) for x in buffers.values())
    for buffer in buffers.values():
        assert (buffer[:, :, 12:] == SENTINEL).all()


def test_append_program_is_cached(bundled, tmp_path):
    """An append program compiled by one session is linked by the next
    (from the cache directory) and writes into the buffer the same way."""
    start = build_model.decode_inputs(onnx.load(bundled), past=21, seed=3)
    outputs = []
    for attempt in range(2):
        session = hgc_jit.Session(bundled, policy="full",
                                  cache_dir=str(tmp_path),
                                  append_in_place=True)
        feeds, buffers = in_buffers(start, 3,
                                    lambda n: n.startswith("past_"))
        got = session.run(None, feeds)
        assert session.last_stats.loaded == (attempt == 1)
        assert np.shares_memory(got[1], buffers["past_key_0"])
        outputs.append([np.array(a) for a in got])
    for a, b in zip(*outputs):
        np.testing.assert_array_equal(a, b)


def test_c_api_rejects_bad_strides(bundled):
    """hgc_model_run_strided: a stride that is not positive is an
    invalid-argument error naming the input, and nothing runs."""
    import ctypes
    session = hgc_jit.Session(bundled, policy="full", cache_dir="")
    feeds = build_model.decode_inputs(onnx.load(bundled), past=4, seed=1)
    arrays = [np.ascontiguousarray(feeds[n]) for n in session.input_names]
    tensors = (hgc_jit._Tensor * len(arrays))()
    strides = (ctypes.POINTER(ctypes.c_int64) * len(arrays))()
    keep = []
    for i, array in enumerate(arrays):
        shape = (ctypes.c_int64 * array.ndim)(*array.shape)
        dtype = array.dtype.str.encode()
        keep += [shape, dtype]
        tensors[i] = hgc_jit._Tensor(dtype, array.ndim, shape,
                                     array.ctypes.data_as(ctypes.c_void_p))
    bad = (ctypes.c_int64 * arrays[2].ndim)(-1, 1, 1, 1)
    strides[2] = bad
    status = hgc_jit._lib.hgc_model_run_strided(
        session._handle, tensors, strides, len(arrays), None)
    assert status != 0
    message = hgc_jit._lib.hgc_last_error().decode()
    assert "input 2" in message and "strides" in message, message
