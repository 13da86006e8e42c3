"""OpenRLHF 0.11.2: the launch commands for prepared files, with the dotted flags of 0.10.2 and later.

SFT and DPO/RM run under ``deepspeed --module openrlhf.cli.train_{sft,dpo,rm}``; PPO and GRPO
under ``python3 -m openrlhf.cli.train_ppo_ray`` on a Ray cluster, with our verifier file as
``--reward.remote_url``. Every flag is one that the pinned CLI's argparse declares
(``openrlhf/cli/train_*.py``); the tests check them against the installed OpenRLHF.
"""

from __future__ import annotations

from pathlib import Path

from .common import reward_file

__all__ = ["command_for", "main"]

CLI = {"sft": "train_sft", "dpo": "train_dpo", "rm": "train_rm", "ppo": "train_ppo_ray", "grpo": "train_ppo_ray"}


def command_for(algorithm: str, data: str, model: str, *, gpus: int = 8, output_dir: str = "./checkpoint",
                max_len: int = 8192, samples_per_prompt: int = 8) -> list[str]:
    """The OpenRLHF command for one algorithm and one prepared file.

    >>> command_for("sft", "/d/sft.jsonl", "m")[:3]
    ['deepspeed', '--module', 'openrlhf.cli.train_sft']
    >>> "--data.multiturn" in command_for("sft", "/d/sft.jsonl", "m")
    True
    """
    data = str(Path(data).resolve())
    common = ["--data.max_len", str(max_len), "--data.apply_chat_template", "--ckpt.output_dir", f"{output_dir}/{algorithm}",
              "--ds.zero_stage", "2", "--ds.param_dtype", "bf16", "--train.max_epochs", "1"]
    if algorithm == "sft":
        return ["deepspeed", "--module", "openrlhf.cli.train_sft", "--data.dataset", data, "--data.input_key", "messages",
                "--data.multiturn", "--model.model_name_or_path", model, "--train.batch_size", "128",
                "--train.micro_batch_size", "2", "--adam.lr", "5e-6", *common]
    if algorithm in ("dpo", "rm"):
        extra = ["--model.beta", "0.1"] if algorithm == "dpo" else []
        return ["deepspeed", "--module", f"openrlhf.cli.{CLI[algorithm]}", "--data.dataset", data,
                "--data.prompt_key", "prompt", "--data.chosen_key", "chosen", "--data.rejected_key", "rejected",
                "--model.model_name_or_path", model, "--train.batch_size", "128", "--train.micro_batch_size", "1",
                *extra, *common]
    estimator = "group_norm" if algorithm == "grpo" else "gae"
    command = ["python3", "-m", "openrlhf.cli.train_ppo_ray", "--data.prompt_dataset", data, "--data.input_key", "prompt",
               "--data.label_key", "label", "--actor.model_name_or_path", model, "--reward.remote_url", reward_file(),
               "--algo.advantage.estimator", estimator, "--actor.num_gpus_per_node", str(gpus),
               "--ref.num_gpus_per_node", str(gpus), "--vllm.num_engines", str(max(1, gpus // 2)),
               "--train.colocate_all", "--train.batch_size", "128", "--train.micro_batch_size", "4",
               "--rollout.batch_size", "128", "--rollout.micro_batch_size", "8", *common]
    if algorithm == "grpo":
        command += ["--rollout.n_samples_per_prompt", str(samples_per_prompt), "--algo.kl.use_loss"]
    else:
        command += ["--critic.model_name_or_path", model]
    return command


def main(argv=None) -> int:
    """``train_openrlhf.py``: check the prepared file, print the launch command, run it where OpenRLHF and GPUs are."""
    from ..cli import quiet_broken_pipe

    quiet_broken_pipe()
    import argparse

    from ..cli import fail, flag
    from .common import check_prepared, launch_or_explain

    parser = argparse.ArgumentParser(prog="train_openrlhf.py", description=__doc__.splitlines()[0])
    parser.add_argument(*flag("data_path"), dest="data_path", required=True, help="a file from prepare_for_openrlhf.py")
    parser.add_argument("--algorithm", choices=sorted(CLI), default="sft")
    parser.add_argument("--model", default="Qwen/Qwen2.5-1.5B-Instruct")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument(*flag("dry_run"), dest="dry_run", action="store_true")
    args = parser.parse_args(argv)
    problem, rows = check_prepared(args.data_path, "openrlhf", args.algorithm)
    if problem:
        return fail(problem)
    print(f"{args.data_path}: {rows} rows of valid OpenRLHF {args.algorithm} data")
    return launch_or_explain(command_for(args.algorithm, args.data_path, args.model, gpus=args.gpus),
                             "openrlhf", args.dry_run)
