"""Shared test fixtures: where the real rollouts are, and the shipped samples."""

from __future__ import annotations

import subprocess

import pytest

from paths import CONFORMANCE_ENVS, ROOT  # noqa: E402


@pytest.fixture(scope="session")
def envs():
    if not ((CONFORMANCE_ENVS / "verl" / ".ready").exists() and (CONFORMANCE_ENVS / "openrlhf" / ".ready").exists()):
        done = subprocess.run(["bash", str(ROOT / "tests" / "conformance" / "setup_envs.sh")], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"could not build the conformance environments:\n{done.stderr[-3000:]}")
    return CONFORMANCE_ENVS
