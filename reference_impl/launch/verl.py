"""VeRL 0.9.1: the launch commands for prepared parquet files.

GRPO and PPO run ``python3 -m verl.trainer.main_ppo`` (Hydra config ``ppo_trainer``) with
overrides for the data files and the reward function; SFT runs ``torchrun -m
verl.trainer.sft_trainer`` (config ``sft_trainer_engine``) with our dataset class. Every
override names a key of VeRL's own config (``verl/trainer/config/_generated_ppo_trainer.yaml``,
``sft_trainer_engine.yaml``); the tests check them against the installed VeRL.
"""

from __future__ import annotations

import math
from pathlib import Path

from .common import reward_file

__all__ = ["rl_command", "sft_command", "mini_batch_size", "batch_problems", "main"]

LAUNCHED = ["grpo", "ppo", "sft"]
"""The algorithms this launcher writes commands for (``sft-tokens`` is loaded through its
``data.custom_cls``; see the token-exact page)."""

SFT_DATASET = Path(__file__).resolve().parents[1] / "formats" / "verl_sft_dataset.py"


def rl_command(train: str, val: str, model: str, algorithm: str = "grpo", *, gpus: int = 8, nodes: int = 1,
               rollout_n: int = 5, batch_size: int = 256, max_prompt_length: int = 2048,
               max_response_length: int = 2048) -> list[str]:
    """``main_ppo`` with our prompts and our verifier as the reward function.

    >>> command = rl_command("/d/train.parquet", "/d/val.parquet", "Qwen/Qwen2.5-0.5B-Instruct")
    >>> command[:4]
    ['python3', '-m', 'verl.trainer.main_ppo', 'algorithm.adv_estimator=grpo']
    >>> [c for c in command if c.startswith("reward.custom_reward_function.name")]
    ['reward.custom_reward_function.name=compute_score']
    """
    command = [
        "python3", "-m", "verl.trainer.main_ppo",
        f"algorithm.adv_estimator={'grpo' if algorithm == 'grpo' else 'gae'}",
        f"data.train_files={Path(train).resolve()}",
        f"data.val_files={Path(val).resolve()}",
        "data.prompt_key=prompt",
        f"data.train_batch_size={batch_size}",
        f"data.max_prompt_length={max_prompt_length}",
        f"data.max_response_length={max_response_length}",
        "data.filter_overlong_prompts=True",
        "data.truncation=error",
        f"actor_rollout_ref.model.path={model}",
        "actor_rollout_ref.actor.optim.lr=1e-6",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={mini_batch_size(batch_size, rollout_n if algorithm == 'grpo' else 1, gpus * nodes)}",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.rollout.gpu_memory_utilization=0.6",
        f"actor_rollout_ref.rollout.n={rollout_n if algorithm == 'grpo' else 1}",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=8",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=8",
        f"reward.custom_reward_function.path={reward_file()}",
        "reward.custom_reward_function.name=compute_score",
        "trainer.logger=[console]",
        f"trainer.n_gpus_per_node={gpus}",
        f"trainer.nnodes={nodes}",
        "trainer.total_epochs=1",
    ]
    if algorithm == "grpo":
        command += ["actor_rollout_ref.actor.use_kl_loss=True", "actor_rollout_ref.actor.kl_loss_coef=0.001",
                    "algorithm.use_kl_in_reward=False"]
    else:
        command += [f"critic.model.path={model}", "critic.ppo_micro_batch_size_per_gpu=4"]
    return command


def mini_batch_size(batch_size: int, rollout_n: int, gpus: int) -> int:
    """A PPO mini batch near a quarter of the batch (four updates a step) that VeRL accepts:
    it divides the batch, and its responses (times ``rollout.n``) split evenly over the GPUs
    (``verl/workers/engine_workers.py`` asserts ``mini_batch_size % data_parallel_size == 0``).

    >>> mini_batch_size(256, 5, 8), mini_batch_size(24, 5, 8)
    (64, 8)
    """
    for size in range(max(1, batch_size // 4), batch_size + 1):
        if batch_size % size == 0 and (size * rollout_n) % gpus == 0:
            return size
    return batch_size


def batch_problems(path: str, rows: int, algorithm: str, batch_size: int, *, rollout_n: int = 5,
                   gpus: int = 8) -> list[str]:
    """What cannot work with ``rows`` rows and this batch, each with the ``--batch-size`` that fixes it.

    RL (``main_ppo``): the dataloader drops an incomplete batch and VeRL stops with "Train
    dataloader is empty!" (``verl/trainer/ppo/ray_trainer.py``); ``data.train_batch_size``
    times ``rollout.n`` must divide by the GPUs (``verl/utils/config.py``). SFT: the trainer
    drops an incomplete batch too and divides by the steps per epoch (``verl/trainer/sft_trainer.py``).

    >>> batch_problems("p.parquet", 12, "grpo", 256)[0][:61]
    'p.parquet has 12 rows, fewer than data.train_batch_size = 256'
    >>> batch_problems("p.parquet", 12, "grpo", 12, rollout_n=5, gpus=8)[0]
    'data.train_batch_size = 12 must be a multiple of 8 (VeRL checks that data.train_batch_size × rollout.n = 60 divides by the 8 GPUs): pass --batch-size 8'
    """
    from .common import batch_problems_for

    if algorithm == "sft":
        return batch_problems_for(path, rows, "data.train_batch_size", batch_size,
                                  "VeRL's SFT trainer drops an incomplete batch, so an epoch has no step")
    n = rollout_n if algorithm == "grpo" else 1
    return batch_problems_for(
        path, rows, "data.train_batch_size", batch_size,
        "VeRL drops an incomplete batch and stops with 'Train dataloader is empty!' (data.filter_overlong_prompts "
        "may drop more rows first)", multiple=gpus // math.gcd(gpus, n), unit="prompts",
        why_multiple=f"VeRL checks that data.train_batch_size × rollout.n = {batch_size * n} divides by the {gpus} GPUs")


def sft_command(train: str, val: str, model: str, *, gpus: int = 8, max_length: int = 8192,
                batch_size: int = 256) -> list[str]:
    """``torchrun -m verl.trainer.sft_trainer`` with our dataset class for the JSON-string columns.

    >>> [c for c in sft_command("/d/t.parquet", "/d/v.parquet", "m") if "custom_cls.name" in c]
    ['data.custom_cls.name=NemoGymMultiTurnSFTDataset']
    """
    return [
        "torchrun", "--standalone", "--nnodes=1", f"--nproc-per-node={gpus}", "-m", "verl.trainer.sft_trainer",
        f"data.train_files={Path(train).resolve()}",
        f"data.val_files={Path(val).resolve()}",
        "data.messages_key=messages",
        "data.tools_key=tools",
        f"data.max_length={max_length}",
        f"data.train_batch_size={batch_size}",
        f"data.custom_cls.path={SFT_DATASET}",
        "data.custom_cls.name=NemoGymMultiTurnSFTDataset",
        f"model.path={model}",
        "trainer.total_epochs=1",
        "trainer.logger=[console]",
    ]


def main(argv=None) -> int:
    """``train_verl.py``: check the prepared file and the batch, print the launch command, run it
    where VeRL and GPUs are. Writes no file. Exit status 1 for what the user can fix, 2 for an
    internal error (see {func}`reference_impl.launch.common.guarded`)."""
    from ..commands.common import quiet_broken_pipe

    quiet_broken_pipe()
    import argparse

    from ..commands.common import flag
    from .common import guarded

    parser = argparse.ArgumentParser(prog="train_verl.py", description=__doc__.splitlines()[0])
    parser.add_argument(*flag("data_path"), dest="data_path", required=True, help="parquet from prepare_for_verl.py")
    parser.add_argument(*flag("val_data_path"), dest="val_data_path", help="validation parquet (default: the training file)")
    parser.add_argument("--algorithm", choices=LAUNCHED, default="grpo")
    parser.add_argument("--model", default="Qwen/Qwen2.5-1.5B-Instruct")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--nodes", type=int, default=1)
    parser.add_argument(*flag("rollout_n"), dest="rollout_n", type=int, default=5, help="GRPO group size")
    parser.add_argument(*flag("batch_size"), dest="batch_size", type=int, default=256,
                        help="data.train_batch_size: prompts (RL) or rows (SFT) per step (default: 256)")
    parser.add_argument(*flag("dry_run"), dest="dry_run", action="store_true")
    args = parser.parse_args(argv)
    return guarded("train_verl.py", lambda: _run(args))


def _run(args) -> int:
    from .common import LaunchError, check_prepared, launch_or_explain

    problem, rows = check_prepared(args.data_path, "verl", args.algorithm)
    if problem:
        raise LaunchError(problem)
    gpus = args.gpus if args.algorithm == "sft" else args.gpus * args.nodes
    problems = batch_problems(args.data_path, rows, args.algorithm, args.batch_size, rollout_n=args.rollout_n,
                              gpus=gpus)
    if problems:
        raise LaunchError("\n".join(problems))
    val = args.val_data_path or args.data_path
    if args.algorithm == "sft":
        command = sft_command(args.data_path, val, args.model, gpus=args.gpus, batch_size=args.batch_size)
    else:
        command = rl_command(args.data_path, val, args.model, args.algorithm, gpus=args.gpus, nodes=args.nodes,
                             rollout_n=args.rollout_n, batch_size=args.batch_size)
    print(f"{args.data_path}: {rows} rows of valid VeRL {args.algorithm} data")
    return launch_or_explain(command, "verl", args.dry_run)
