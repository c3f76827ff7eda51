"""Shared fixtures: where the built tools and the test inputs are."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HGC_BUILD_DIR", ROOT / "build"))


def built_tool(name):
    tool = BUILD / "bin" / name
    if not tool.exists():
        pytest.fail(f"{tool} is missing: build first (scripts/build.sh)")
    return tool


@pytest.fixture(scope="session")
def hgc_opt():
    return built_tool("hgc-opt")


@pytest.fixture(scope="session")
def hgc_runner():
    return built_tool("hgc-runner")


def mlir_inputs():
    """Every .mlir file the suite and the examples ship."""
    return sorted((ROOT / "test").rglob("*.mlir")) + sorted(
        (ROOT / "examples").glob("*.mlir"))


@pytest.fixture(scope="session")
def hgc():
    return built_tool("hgc")


def compile_artifact(hgc, model, artifact, *options):
    """`hgc compile MODEL -o ARTIFACT OPTIONS` (an .hgcm folder); asserts it
    succeeded and returns the artifact's path."""
    import subprocess
    result = subprocess.run([hgc, "compile", model, "-o", artifact, *options],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return artifact
