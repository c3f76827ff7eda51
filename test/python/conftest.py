"""Shared fixtures: where the built tools and the test inputs are."""
import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("HGC_BUILD_DIR", ROOT / "build"))


@pytest.fixture(scope="session")
def hgc_opt():
    tool = BUILD / "bin" / "hgc-opt"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: build first (scripts/build.sh)")
    return tool


@pytest.fixture(scope="session")
def hgc_runner():
    tool = BUILD / "bin" / "hgc-runner"
    if not tool.exists():
        pytest.fail(f"{tool} is missing: build first (scripts/build.sh)")
    return tool


def mlir_inputs():
    """Every .mlir file the suite and the examples ship."""
    return sorted((ROOT / "test").rglob("*.mlir")) + sorted(
        (ROOT / "examples").glob("*.mlir"))
