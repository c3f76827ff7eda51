"""hgc-opt on malformed input: a located error and exit 1, never a crash.

Every .mlir file the project ships is cut at many points and corrupted with
random bytes; each variant must parse or fail with `file:line:col: error:`.
A crash (signal, LLVM stack dump), a hang or a silent exit 0 on garbage fails.
"""
import random
import re
import subprocess

import pytest

from conftest import mlir_inputs

LOCATED_ERROR = re.compile(rb":\d+:\d+: error: ")
CRASH_MARKERS = (b"Stack dump", b"PLEASE submit a bug report", b"Assertion")


def run_hgc_opt(tool, path):
    result = subprocess.run([str(tool), str(path)], capture_output=True,
                            timeout=30)
    return result.returncode, result.stderr


def check_no_crash(tool, path, label):
    code, stderr = run_hgc_opt(tool, path)
    assert code in (0, 1), f"{label}: exit {code}\n{stderr.decode(errors='replace')}"
    assert not any(marker in stderr for marker in CRASH_MARKERS), (
        f"{label}: crashed\n{stderr.decode(errors='replace')}")
    if code == 1:
        assert LOCATED_ERROR.search(stderr), (
            f"{label}: error without a location\n"
            f"{stderr.decode(errors='replace')}")
    return code


def first_ir_byte(text):
    """Where the IR starts: past the leading comment lines (RUN and CHECK
    lines of a test), so cuts land in the IR, not all in comments."""
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith(b"//"):
            return offset
        offset += len(line)
    return 0


@pytest.mark.parametrize("source", mlir_inputs(), ids=lambda p: p.name)
def test_truncated_input(hgc_opt, tmp_path, source):
    text = source.read_bytes()
    rng = random.Random(source.name)
    start = max(1, first_ir_byte(text))
    cuts = sorted(set(rng.randrange(start, len(text)) for _ in range(24)))
    failures = 0
    for cut in cuts:
        variant = tmp_path / "truncated.mlir"
        variant.write_bytes(text[:cut])
        failures += check_no_crash(hgc_opt, variant, f"{source.name}[:{cut}]")
    # Most cuts land mid-construct; some must be rejected.
    assert failures > 0


@pytest.mark.parametrize("source", mlir_inputs(), ids=lambda p: p.name)
def test_corrupted_input(hgc_opt, tmp_path, source):
    text = bytearray(source.read_bytes())
    rng = random.Random("corrupt-" + source.name)
    for trial in range(16):
        variant = bytearray(text)
        for _ in range(rng.randint(1, 6)):
            position = rng.randrange(len(variant))
            variant[position] = rng.choice(b"<>[](){},=:%#!@\"x0123456789-. \x00\xff")
        path = tmp_path / "corrupted.mlir"
        path.write_bytes(bytes(variant))
        check_no_crash(hgc_opt, path, f"{source.name} trial {trial}")


# (content, expected exit): an empty buffer is an empty module, and MLIR's
# lexer reads NUL as the end of the buffer, so leading NULs are one too.
@pytest.mark.parametrize("content, expected", [
    (b"", 0),
    (b"\x00" * 64, 0),
    (bytes(range(1, 256)), 1),
    (b"#hgc.placement<" * 200, 1),
    (b"!hgc.kv_cache<" + b"8x" * 500, 1),
    (b"func.func @f() attributes {p = #hgc.placement<tiers = [" +
     b"device = dense, " * 300, 1),
], ids=["empty", "nul", "all-bytes", "nested-open", "long-dims",
        "long-tier-list"])
def test_nonsense_input(hgc_opt, tmp_path, content, expected):
    path = tmp_path / "nonsense.mlir"
    path.write_bytes(content)
    assert check_no_crash(hgc_opt, path, path.name) == expected


@pytest.mark.parametrize("source", mlir_inputs(), ids=lambda p: p.name)
@pytest.mark.parametrize("policy", ["full", "hgca"])
def test_pipelines_never_crash(hgc_opt, source, policy):
    """Every shipped input, valid or not, through both named pipelines:
    success or located errors, never a crash."""
    result = subprocess.run(
        [str(hgc_opt), str(source), "-split-input-file",
         f"-hgc-hybrid-pipeline=policy={policy} sink=2 window=4 budget=0.5",
         "-hgc-host-pipeline", "-o", "/dev/null"],
        capture_output=True, timeout=120)
    assert result.returncode in (0, 1), result.stderr.decode(errors="replace")
    assert not any(m in result.stderr for m in CRASH_MARKERS)
    if result.returncode == 1:
        assert LOCATED_ERROR.search(result.stderr)
