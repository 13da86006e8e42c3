"""The data-quality page: the quality report's two pictures and an excerpt, a validation that
fails, the bad-input policy at work (inputs broken on purpose, which a {run} block cannot make)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import run_script


def _transcript(script: str, args: tuple[str, ...], printed: str) -> str:
    return f"$ python scripts/{script} {' '.join(args)}\n{printed}"


def _run(out: Path, name: str, script: str, *args: str, cwd: Path, expect: int = 0) -> None:
    printed = run_script(script, *args, cwd=cwd, expect=expect)
    (out / name).write_text(_transcript(script, args, printed))


def generate(out: Path, samples: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")

        # The quality report, its per-task table and its two pictures.
        run_script("rollout_stats.py", "--input", "rollouts.jsonl", "--report", "report.json",
                   "--plots", str(out), "--per-task", cwd=work)
        report = json.loads((work / "report.json").read_text())
        excerpt = {key: report[key] for key in ("records", "rollouts", "tasks", "pass_threshold", "pass_rate", "pass_at_k")}
        excerpt["per_task"] = {task: report["per_task"][task] for task in list(report["per_task"])[:1]}
        (out / "dq_report_excerpt.json").write_text(json.dumps(excerpt, indent=2) + "\n")

        # Validation: a clean file, then the same file with three rows broken.
        run_script("prepare_for_nemo_rl.py", "--input", "rollouts.jsonl", "--output", "nemo_rl_dpo.jsonl",
                   "--algorithm", "dpo", cwd=work)
        rows = [json.loads(line) for line in (work / "nemo_rl_dpo.jsonl").read_text().splitlines()]
        rows[1]["completions"][1]["rank"] = 0
        rows[3]["context"][-1]["content"] = ""
        rows[4]["completions"].pop()
        (work / "broken.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        _run(out, "dq_validate_broken.txt", "validate_training_data.py", "--input", "broken.jsonl", "--target",
             "nemo_rl", "--algorithm", "dpo", cwd=work, expect=1)

        # Bad input: a copy of the samples with three kinds of malformed line.
        lines = (work / "rollouts.jsonl").read_bytes().splitlines(keepends=True)
        damaged = lines[:10] + [b"<PLACEHOLDER ROW>\n"] + lines[10:20] + [b'{"responses_create_params": {"input": "hi"}, '
                                                                          b'"reward": "1.0"}\n'] + lines[20:] + [lines[0][:60]]
        (work / "damaged.jsonl").write_bytes(b"".join(damaged))
        _run(out, "dq_strict.txt", "filter_rollouts.py", "--input", "damaged.jsonl", "--output", "kept.jsonl",
             "--min-reward", "0.5", cwd=work, expect=1)
        _run(out, "dq_skip_invalid.txt", "filter_rollouts.py", "--input", "damaged.jsonl", "--output", "kept.jsonl",
             "--min-reward", "0.5", "--skip-invalid", cwd=work)
        (out / "dq_rejects.jsonl").write_text((work / "kept.rejects.jsonl").read_text())
        manifest = json.loads((work / "kept.manifest.json").read_text())
        manifest["seconds"] = "…"
        (out / "dq_manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
