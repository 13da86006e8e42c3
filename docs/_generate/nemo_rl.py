"""NeMo RL pages: a sample row of each format, the config train_nemo_rl.py writes, and what it printed."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from . import abbreviate, run_script

GYM_CONFIG = "resources_servers/math_with_judge/configs/math_with_judge.yaml"


def generate(out: Path, samples: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(samples, work / "rollouts.jsonl")
        for algorithm in ("sft", "dpo", "grpo"):
            data = f"{algorithm}_data.jsonl"
            printed = run_script("prepare_for_nemo_rl.py", "--input", "rollouts.jsonl", "--output", data,
                                 "--algorithm", algorithm, cwd=work)
            (out / f"nemo_rl_{algorithm}_prepare.txt").write_text(printed.replace(str(work) + "/", ""))
            rows = (work / data).read_text().splitlines()
            pick = next((r for r in rows if "tool_calls" in r or "function_call" in r), rows[0])
            (out / f"nemo_rl_{algorithm}_row.json").write_text(json.dumps(abbreviate(json.loads(pick), 160), indent=2) + "\n")
            args = ["--data_path", data, "--config", f"{algorithm}_config.yaml", "--algorithm", algorithm,
                    "--model", "Qwen/Qwen2.5-1.5B-Instruct"]
            if algorithm == "grpo":
                args += ["--gym_config", GYM_CONFIG]
            printed = run_script("train_nemo_rl.py", *args, cwd=work)
            (out / f"nemo_rl_{algorithm}_launch.txt").write_text(
                f"$ python scripts/train_nemo_rl.py {' '.join(args)}\n{printed}".replace(str(work) + "/", "")
            )
            config = (work / f"{algorithm}_config.yaml").read_text().replace(str(work) + "/", "")
            (out / f"nemo_rl_{algorithm}_config.yaml").write_text(config)
