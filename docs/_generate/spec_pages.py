"""Format specification and rollout collection: a sample record, one row of every format, the warts table."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import run_script, sample_json

SCRIPTS = {"trl": "prepare_for_trl.py", "nemo_rl": "prepare_for_nemo_rl.py",
           "verl": "prepare_for_verl.py", "openrlhf": "prepare_for_openrlhf.py"}

# Small lines in the shapes of the real files' quirks (see ../shared/data README in the project's tests).
WARTS = [
    ("a placeholder line (jailbreak_detection)", b"<PLACEHOLDER ROW>"),
    ("steps that are lists, each the conversation so far, with task_idx (aviary)",
     json.dumps({"responses_create_params": {"input": []}, "task_idx": 2, "reward": 1.0, "response": {"output": [
         [{"type": "message", "role": "user", "content": "Julie reads 12 pages..."},
          {"type": "function_call", "call_id": "c1", "name": "submit_answer", "arguments": "{\"answer\": \"42\"}"}],
         [{"type": "message", "role": "user", "content": "Julie reads 12 pages..."},
          {"type": "function_call", "call_id": "c1", "name": "submit_answer", "arguments": "{\"answer\": \"42\"}"},
          {"type": "function_call_output", "call_id": "c1", "output": "True"}]]}}).encode()),
    ("a row no model call made: no responses_create_params (a judge's, bbq)",
     json.dumps({"policy_response": "B", "answer_judgment": "correct"}).encode()),
    ("two records on one line (files joined by cat, one without a final newline)",
     b'{"responses_create_params": {"input": "q"}}{"responses_create_params": {"input": "r"}}'),
    ("no response, no reward (genrm_compare)", json.dumps({"responses_create_params": {"input": "Compare A and B."}}).encode()),
    ("a masked sample (wordle)", json.dumps({"responses_create_params": {"input": "Guess."}, "response": {"output": [
        {"type": "message", "role": "assistant", "content": "crane"}]}, "reward": 0.0, "mask_sample": True}).encode()),
    ("a failure record (failures sidecar)", json.dumps({"responses_create_params": {"input": "q"},
                                                        "_ng_failure_class": "agent_run_error"}).encode()),
    ("input as a bare string (hermes_math)", json.dumps({"responses_create_params": {"input": "2+2?"}, "response": {"output": [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "4"}]}]}, "reward": 1.0}).encode()),
    ("a top-level output instead of response.output", json.dumps({"responses_create_params": {"input": "2+2?"}, "output": [
        {"type": "message", "role": "assistant", "content": "4"}], "reward": 1.0}).encode()),
    ("a reward that is a string", json.dumps({"responses_create_params": {"input": "q"}, "reward": "1.0"}).encode()),
    ("a truncated last line", b'{"responses_create_params": {"input": "q"'),
]


def warts_table(work: Path) -> str:
    from reference_impl.rollouts import RolloutError, iter_rollouts, skip_reason

    lines = ["| line | reader | why |", "| --- | --- | --- |"]
    for name, raw in WARTS:
        path = work / "wart.jsonl"
        path.write_bytes(raw + (b"" if raw.endswith(b'"') else b"\n"))
        [item] = list(iter_rollouts(path))
        if isinstance(item, RolloutError):
            verdict, why = "rejected", item.reason
        else:
            reason = skip_reason(item.record)
            verdict, why = ("skipped", reason) if reason else ("used", "a trainable record")
        lines.append(f"| {name} | {verdict} | {why} |")
    return "\n".join(lines) + "\n"


def generate(out: Path, samples: Path) -> None:
    from reference_impl.formats import TARGETS

    first = json.loads(samples.read_text().splitlines()[0])
    (out / "sample_record.json").write_text(sample_json(first, 90))
    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        run_script("filter_rollouts.py", "--input", "rollouts.jsonl", "--output", "unique.jsonl", "--dedupe", cwd=work)
        for target, script in SCRIPTS.items():
            for name, algorithm in TARGETS[target].items():
                output = work / f"{target}_{name}{algorithm.suffixes[0]}"
                run_script(script, "--input", "unique.jsonl", "--output", output.name, "--algorithm", name, cwd=work)
                if output.suffix == ".parquet":
                    import pyarrow.parquet as pq

                    row = pq.read_table(output).slice(0, 1).to_pylist()[0]
                else:
                    row = json.loads(output.read_text().splitlines()[0])
                sections.append(f"**{target} {name}**: {algorithm.summary}; read by {algorithm.source}.\n\n"
                                f"```json\n{sample_json(row, 70, indent=1).rstrip()}\n```")
        (out / "warts_table.md").write_text(warts_table(work))
    (out / "all_formats.md").write_text("\n\n".join(sections) + "\n")
