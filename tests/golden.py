"""The outputs of every script on the samples, every real file and all real files mixed, as checksums.

``tests/fixtures/golden.json`` holds them; ``test_golden.py`` checks that the scripts still write
exactly these bytes (JSON Lines) or rows (parquet, read back: the file's bytes carry pyarrow's
version), the same rejected lines and the same counts. Rerun after a deliberate change, and
review the diff:

    .venv/bin/python tests/golden.py
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tempfile
from pathlib import Path

from paths import REAL_FILES, SAMPLES

from reference_impl.cli import filter_main, prepare_main, prepare_many_main, stats_main
from reference_impl.formats import TARGETS

HERE = Path(__file__).parent
GOLDEN = HERE / "fixtures" / "golden.json"
FORMATS = [(t, a) for t in sorted(TARGETS) if t != "custom" for a in sorted(TARGETS[t])]
FILTERS = {"reward": ["--min-reward", "0.5"], "groups": ["--top-k", "1", "--dedupe"],
           "uniform": ["--drop-uniform-groups"]}


def mixed(folder: Path) -> Path:
    """All real files joined, as ``cat`` joins them once a missing final newline is added."""
    path = folder / "mixed.jsonl"
    path.write_bytes(b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in REAL_FILES))
    return path


def digest(path: Path) -> str:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        data = "\n".join(json.dumps(row, sort_keys=True, default=str) for row in rows).encode()
    else:
        data = path.read_bytes()
    return hashlib.sha256(data).hexdigest()[:20]


def written(output: Path, source: Path) -> dict:
    """What a run left: the output's checksum, its rejects (line and reason) and its counts."""
    if not output.exists():
        return {"output": None}
    result = {"output": digest(output)}
    manifest = output.with_name(f"{output.stem}.manifest.json")
    if manifest.exists():
        result["counts"] = json.loads(manifest.read_text())["counts"]
    rejects = output.with_name(f"{output.stem}.rejects.jsonl")
    if rejects.exists():
        result["rejects"] = [[r["line"], r["reason"]] for r in map(json.loads, rejects.read_text().splitlines())]
    return result


def run(main, argv) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(argv)


def outcomes(source: Path, folder: Path) -> dict:
    """Every script's outcome on one input, with --skip-invalid."""
    found = {}
    for target, algorithm in FORMATS:
        output = folder / f"{target}_{algorithm}{TARGETS[target][algorithm].suffixes[0]}"
        status = run(lambda argv: prepare_main(target, argv),
                     ["--input", str(source), "--output", str(output), "--algorithm", algorithm, "--skip-invalid"])
        found[f"prepare {target}:{algorithm}"] = {"status": status, **written(output, source)}
    output = folder / "custom.jsonl"
    status = run(lambda argv: prepare_main("custom", argv), ["--input", str(source), "--output", str(output),
                                                             "--mapping", str(SAMPLES.with_name("mapping.yaml")),
                                                             "--skip-invalid"])
    found["prepare custom"] = {"status": status, **written(output, source)}
    for name, options in FILTERS.items():
        output = folder / f"filter_{name}.jsonl"
        status = run(filter_main, ["--input", str(source), "--output", str(output), *options, "--skip-invalid"])
        found[f"filter {name}"] = {"status": status, **written(output, source)}
    many = {"sft": "trl:sft", "grpo": "verl:grpo", "kto": "trl:kto"}
    status = run(prepare_many_main, ["--input", str(source), "--skip-invalid", "--min-reward", "0",
                                     *[f"--to={spec}={folder / f'many_{name}'}{'.parquet' if name == 'grpo' else '.jsonl'}"
                                       for name, spec in many.items()]])
    found["prepare.py"] = {"status": status, **{name: written(folder / f"many_{name}{'.parquet' if name == 'grpo' else '.jsonl'}", source)
                                                for name in many}}
    report = folder / "stats.json"
    status = run(stats_main, ["--input", str(source), "--report", str(report), "--skip-invalid", "--no-progress"])
    found["stats"] = {"status": status, "report": json.loads(report.read_text()) if report.exists() else None}
    return found


def current() -> dict:
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sources = [SAMPLES, *REAL_FILES] + ([mixed(folder)] if REAL_FILES else [])
        for source in sources:
            work = folder / source.stem
            work.mkdir()
            table[source.stem] = outcomes(source, work)
    return table


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps(current(), indent=1, sort_keys=True) + "\n")
