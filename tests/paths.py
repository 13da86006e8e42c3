"""Where the tests find the project's files and the real rollouts (``../shared`` beside the clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "rollouts.jsonl"
REAL_DATA = ROOT.parent / "shared" / "data" / "nemo_gym_rollouts"
CONFORMANCE_ENVS = Path(os.environ.get("CONFORMANCE_ENVS", ROOT / ".conformance"))  # as setup_envs.sh
REAL_FILES = sorted(REAL_DATA.glob("*.jsonl")) if REAL_DATA.is_dir() else []


def real_file_params():
    """One pytest param per real rollout file, or one skipped param when ../shared is absent."""
    if not REAL_FILES:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no real rollouts at {REAL_DATA}"))]
    return [pytest.param(path, id=path.stem) for path in REAL_FILES]


def real_records() -> list[tuple[str, dict]]:
    """Every parsed object of the real files, in order, with its environment (the file's stem);
    lines that are not JSON objects are left out."""
    import orjson

    records = []
    for path in REAL_FILES:
        for line in path.read_bytes().splitlines():
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append((path.stem, record))
    return records
