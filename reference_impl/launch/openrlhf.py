"""OpenRLHF 0.11.2: the launch commands for prepared files, with the dotted flags of 0.10.2 and later.

SFT and DPO/RM run under ``deepspeed --module openrlhf.cli.train_{sft,dpo,rm}``; PPO and GRPO
under ``python3 -m openrlhf.cli.train_ppo_ray`` on a Ray cluster, with our verifier file as
``--reward.remote_url``. Every flag is one that the pinned CLI's argparse declares
(``openrlhf/cli/train_*.py``); the tests check them against the installed OpenRLHF.
"""

from __future__ import annotations

from pathlib import Path

from .common import reward_file

__all__ = ["command_for", "micro_batch", "batch_problems", "main"]

CLI = {"sft": "train_sft", "dpo": "train_dpo", "rm": "train_rm", "ppo": "train_ppo_ray", "grpo": "train_ppo_ray"}
MICRO_BATCH = {"sft": 2, "dpo": 1, "rm": 1, "ppo": 4, "grpo": 4}
"""The preferred ``--train.micro_batch_size`` per GPU (smaller where the batch needs it: {func}`micro_batch`)."""
ROLLOUT_MICRO_BATCH = 8


def micro_batch(preferred: int, batch_size: int, gpus: int) -> int:
    """The largest micro batch up to ``preferred`` that splits the batch evenly over the GPUs
    (DeepSpeed's batch is micro batch × gradient accumulation × GPUs:
    ``accumulated_gradient`` in ``openrlhf/utils/deepspeed/deepspeed.py``).

    >>> micro_batch(2, 128, 8), micro_batch(4, 8, 8), micro_batch(2, 12, 8)
    (2, 1, 2)
    """
    return next((m for m in range(preferred, 0, -1) if batch_size % (m * gpus) == 0), preferred)


def command_for(algorithm: str, data: str, model: str, *, gpus: int = 8, output_dir: str = "./checkpoint",
                max_len: int = 8192, samples_per_prompt: int = 8, batch_size: int = 128) -> list[str]:
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
                "--data.multiturn", "--model.model_name_or_path", model, "--train.batch_size", str(batch_size),
                "--train.micro_batch_size", str(micro_batch(MICRO_BATCH["sft"], batch_size, gpus)), "--adam.lr", "5e-6",
                *common]
    if algorithm in ("dpo", "rm"):
        extra = ["--model.beta", "0.1"] if algorithm == "dpo" else []
        return ["deepspeed", "--module", f"openrlhf.cli.{CLI[algorithm]}", "--data.dataset", data,
                "--data.prompt_key", "prompt", "--data.chosen_key", "chosen", "--data.rejected_key", "rejected",
                "--model.model_name_or_path", model, "--train.batch_size", str(batch_size),
                "--train.micro_batch_size", str(micro_batch(MICRO_BATCH[algorithm], batch_size, gpus)), *extra, *common]
    estimator = "group_norm" if algorithm == "grpo" else "gae"
    command = ["python3", "-m", "openrlhf.cli.train_ppo_ray", "--data.prompt_dataset", data, "--data.input_key", "prompt",
               "--data.label_key", "label", "--actor.model_name_or_path", model, "--reward.remote_url", reward_file(),
               "--algo.advantage.estimator", estimator, "--actor.num_gpus_per_node", str(gpus),
               "--ref.num_gpus_per_node", str(gpus), "--vllm.num_engines", str(max(1, gpus // 2)),
               "--train.colocate_all", "--train.batch_size", str(batch_size), "--train.micro_batch_size",
               str(micro_batch(MICRO_BATCH[algorithm], batch_size, gpus)), "--rollout.batch_size", str(batch_size),
               "--rollout.micro_batch_size", str(_rollout_micro(algorithm, batch_size, gpus, samples_per_prompt)),
               *common]
    if algorithm == "grpo":
        command += ["--rollout.n_samples_per_prompt", str(samples_per_prompt), "--algo.kl.use_loss"]
    else:
        command += ["--critic.model_name_or_path", model]
    return command


def _rollout_micro(algorithm: str, batch_size: int, gpus: int, samples_per_prompt: int) -> int:
    """``--rollout.micro_batch_size``: 8, or fewer so that every actor GPU gets a sample batch
    (``train_ppo_ray.py`` asserts ``n_samples × rollout.batch_size // rollout.micro_batch_size >= GPUs``)."""
    samples = batch_size * (samples_per_prompt if algorithm == "grpo" else 1)
    return max(1, min(ROLLOUT_MICRO_BATCH, samples // gpus))


def batch_problems(path: str, rows: int, algorithm: str, batch_size: int, *, gpus: int = 8) -> list[str]:
    """What cannot work with ``rows`` rows and this batch, each with the ``--batch-size`` that fixes it.

    SFT, DPO and RM: OpenRLHF plans ``len(dataset) // train.batch_size`` optimizer steps an
    epoch (``openrlhf/cli/train_{sft,dpo,rm}.py``), none with fewer rows. PPO and GRPO: a step
    takes ``rollout.batch_size`` prompts. Either way the batch splits evenly over the GPUs
    (DeepSpeed's gradient accumulation, see {func}`micro_batch`).

    >>> batch_problems("pairs.jsonl", 10, "dpo", 128)[0][:61]
    'pairs.jsonl has 10 rows, fewer than --train.batch_size = 128:'
    """
    from .common import batch_problems_for

    rl = algorithm in ("ppo", "grpo")
    return batch_problems_for(
        path, rows, "--rollout.batch_size" if rl else "--train.batch_size", batch_size,
        "a step takes that many prompts, so none would complete" if rl else
        "OpenRLHF plans len(dataset) // train.batch_size steps an epoch, so none would run",
        multiple=gpus, why_multiple=f"an equal share for each of the {gpus} GPUs", unit="prompts" if rl else "rows")


def main(argv=None) -> int:
    """``train_openrlhf.py``: check the prepared file and the batch, print the launch command, run it
    where OpenRLHF and GPUs are. Writes no file. Exit status 1 for what the user can fix, 2 for
    an internal error (see {func}`reference_impl.launch.common.guarded`)."""
    from ..commands.common import quiet_broken_pipe

    quiet_broken_pipe()
    import argparse

    from ..commands.common import flag
    from .common import guarded

    parser = argparse.ArgumentParser(prog="train_openrlhf.py", description=__doc__.splitlines()[0])
    parser.add_argument(*flag("data_path"), dest="data_path", required=True, help="a file from prepare_for_openrlhf.py")
    parser.add_argument("--algorithm", choices=sorted(CLI), default="sft")
    parser.add_argument("--model", default="Qwen/Qwen2.5-1.5B-Instruct")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument(*flag("batch_size"), dest="batch_size", type=int, default=128,
                        help="--train.batch_size (SFT, DPO, RM) or --rollout.batch_size and --train.batch_size "
                             "(PPO, GRPO) (default: 128)")
    parser.add_argument(*flag("dry_run"), dest="dry_run", action="store_true")
    args = parser.parse_args(argv)
    return guarded("train_openrlhf.py", lambda: _run(args))


def _run(args) -> int:
    from .common import LaunchError, check_prepared, launch_or_explain

    problem, rows = check_prepared(args.data_path, "openrlhf", args.algorithm)
    if problem:
        raise LaunchError(problem)
    problems = batch_problems(args.data_path, rows, args.algorithm, args.batch_size, gpus=args.gpus)
    if problems:
        raise LaunchError("\n".join(problems))
    print(f"{args.data_path}: {rows} rows of valid OpenRLHF {args.algorithm} data")
    return launch_or_explain(command_for(args.algorithm, args.data_path, args.model, gpus=args.gpus,
                                         batch_size=args.batch_size), "openrlhf", args.dry_run)
