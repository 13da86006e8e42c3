"""Shared test fixtures: where the real rollouts are, and the shipped samples."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "rollouts.jsonl"
REAL_DATA = ROOT.parent / "shared" / "data" / "nemo_gym_rollouts"
CONFORMANCE_ENVS = ROOT / ".conformance"
REAL_FILES = sorted(REAL_DATA.glob("*.jsonl")) if REAL_DATA.is_dir() else []


def real_file_params():
    """One pytest param per real rollout file, or one skipped param when ../shared is absent."""
    if not REAL_FILES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no real rollouts at {REAL_DATA}"))]
    return [pytest.param(path, id=path.stem) for path in REAL_FILES]


@pytest.fixture(scope="session")
def envs():
    if not ((CONFORMANCE_ENVS / "verl" / ".ready").exists() and (CONFORMANCE_ENVS / "openrlhf" / ".ready").exists()):
        done = subprocess.run(["bash", str(ROOT / "tests" / "conformance" / "setup_envs.sh")], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"could not build the conformance environments:\n{done.stderr[-3000:]}")
    return CONFORMANCE_ENVS
