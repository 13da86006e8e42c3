"""filter_rollouts.py, rollout_stats.py and validate_training_data.py on every real rollout file.

No traceback anywhere; counts reconcile with the file's lines; the malformed lines of
jailbreak_detection (placeholder rows) are each named as file:line: reason in strict mode, and
nothing is written; a run that keeps nothing says so and writes nothing.
"""

import json
import re
import subprocess
import sys

import pytest
from paths import REAL_DATA, REAL_FILES, ROOT, real_file_params

from reference_impl.cli import prepare_main
from reference_impl.formats import TARGETS
from reference_impl.validate import validate_file

KNOWN_BAD = {
    "jailbreak_detection": {n: "not valid JSON (unexpected character, expected a JSON value: column 1)" for n in range(1, 6)},
}
FILTERS = ("--min_reward", "0.5", "--top-k", "2", "--dedupe", "--drop-uniform-groups", "--max-turns", "40")
FORMATS = [(t, a) for t in ("trl", "nemo_rl", "verl", "openrlhf") for a in TARGETS[t]]


def script(name, *args, cwd):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / name), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def lines_of(path):
    return sum(1 for line in path.read_bytes().split(b"\n") if line.strip())


def named_errors(stderr):
    """``{line: reason}`` from the ``error: file:line: reason`` lines a strict run prints."""
    found = {}
    for match in re.finditer(r"^error: (.+?):(\d+): (.+)$", stderr, re.M):
        found[int(match[2])] = match[3]
    return found


def test_the_known_bad_files_are_there():
    if not REAL_FILES:
        pytest.skip(f"no real rollouts at {REAL_DATA}")
    assert set(KNOWN_BAD) <= {p.stem for p in REAL_FILES}


@pytest.mark.parametrize("path", real_file_params())
def test_filter(tmp_path, path):
    strict = script("filter_rollouts.py", "--input", path, "--output", "strict.jsonl", *FILTERS, cwd=tmp_path)
    relaxed = script("filter_rollouts.py", "--input", path, "--output", "kept.jsonl", *FILTERS, "--skip-invalid",
                     cwd=tmp_path)
    if relaxed.returncode == 1:  # nothing kept: said, and nothing written
        assert "error: nothing to write to kept.jsonl" in relaxed.stderr, relaxed.stderr
        assert not list(tmp_path.glob("kept*")) and strict.returncode == 1 and not list(tmp_path.glob("strict*"))
        return
    assert relaxed.returncode == 0, relaxed.stderr
    counts = json.loads((tmp_path / "kept.manifest.json").read_text())["counts"]
    assert counts["reconciles"] and counts["read"] == lines_of(path)
    source_lines = set(path.read_bytes().splitlines(keepends=True))
    assert all(line in source_lines for line in (tmp_path / "kept.jsonl").read_bytes().splitlines(keepends=True))
    rejects = (tmp_path / "kept.rejects.jsonl")
    rejected = {r["line"]: r["reason"] for r in map(json.loads, rejects.read_text().splitlines())} if rejects.exists() else {}
    assert sum(counts["rejected"].values()) == len(rejected)
    assert rejected == KNOWN_BAD.get(path.stem, {})
    if rejected:
        assert strict.returncode == 1 and named_errors(strict.stderr) == rejected
        assert f"{len(rejected)} malformed lines of {lines_of(path)} read; nothing was written" in strict.stderr
        assert not (tmp_path / "strict.jsonl").exists()
    else:
        assert strict.returncode == 0 and (tmp_path / "strict.jsonl").read_bytes() == (tmp_path / "kept.jsonl").read_bytes()


@pytest.mark.parametrize("path", real_file_params())
def test_stats(tmp_path, path):
    strict = script("rollout_stats.py", "--input", path, "--report", "strict.json", cwd=tmp_path)
    relaxed = script("rollout_stats.py", "--input", path, "--report", "r.json", "--plots", "plots", "--skip-invalid",
                     cwd=tmp_path)
    if relaxed.returncode == 1:  # no record could be scored: said, nothing written
        assert "error: nothing to report" in relaxed.stderr and not (tmp_path / "r.json").exists()
        assert path.stem in ("jailbreak_detection", "genrm_compare")
        return
    assert relaxed.returncode == 0, relaxed.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    counts = report["counts"]
    assert counts["reconciles"] and counts["read"] == lines_of(path)
    assert report["rollouts"] == counts["used"] == sum(t["rollouts"] for t in report["per_task"].values())
    assert (tmp_path / "plots" / "reward_histogram.png").exists() and (tmp_path / "plots" / "pass_rate.png").exists()
    bad = KNOWN_BAD.get(path.stem, {})
    assert sum(counts["rejected"].values()) == len(bad)
    if bad:
        assert strict.returncode == 1 and named_errors(strict.stderr) == bad and not (tmp_path / "strict.json").exists()
    else:
        assert strict.returncode == 0


@pytest.mark.parametrize("path", real_file_params())
def test_validate_what_the_writers_make_of_it(tmp_path, path, capsys):
    """Every format prepared from the file has rows and no problem, or was not written at all (no row to write)."""
    for target, algorithm in FORMATS:
        output = tmp_path / f"{target}_{algorithm}{TARGETS[target][algorithm].suffixes[0]}"
        status = prepare_main(target, ["--input", str(path), "--output", str(output), "--algorithm", algorithm,
                                       "--skip-invalid"])
        if status == 1:
            assert "error: nothing to write" in capsys.readouterr().err and not output.exists()
            continue
        report = validate_file(output, target, algorithm)
        assert report.rows > 0 and report.problems == [], (target, algorithm, report.problems[:3])
        done = script("validate_training_data.py", "--input", output, "--target", target, "--algorithm", algorithm,
                      cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    capsys.readouterr()


@pytest.mark.parametrize("stem", sorted(KNOWN_BAD))
def test_validating_a_rollout_file_as_training_data_names_its_lines(tmp_path, stem):
    """Handing the validator a rollout file by mistake: every line is named, nothing raises."""
    if not REAL_FILES:
        pytest.skip(f"no real rollouts at {REAL_DATA}")
    path = REAL_DATA / f"{stem}.jsonl"
    done = script("validate_training_data.py", "--input", path, "--target", "trl", "--algorithm", "sft", cwd=tmp_path)
    assert done.returncode == 1
    assert {int(m) for m in re.findall(rf"^{re.escape(str(path))}:(\d+): ", done.stderr, re.M)} == set(range(1, 6))
