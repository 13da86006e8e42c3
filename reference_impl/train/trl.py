"""Train with TRL from a YAML config (data, model, training), checked before any model is loaded.

.. code-block:: yaml

    data:
      train_path: sft.jsonl          # written by prepare_for_trl.py
    model:
      name: Qwen/Qwen2.5-0.5B-Instruct   # a hub id or a local folder
    training:
      algorithm: sft                 # sft | dpo | kto | grpo
      output_dir: checkpoints/sft    # every other key is the TRL config class's own
      max_steps: 100
      learning_rate: 1.0e-5

Paths (``train_path``, ``output_dir``, a local ``model.name``) are relative to the config file's folder. The
``training`` keys are the fields of ``SFTConfig``, ``DPOConfig``, ``KTOConfig`` or
``GRPOConfig`` (TRL 1.16), named as TRL names them; GRPO also takes ``reward_funcs``, a list
of dotted paths to reward functions such as ``reference_impl.rewards.trl_math_reward``.
A wrong key, type or value is reported by name before anything heavy is loaded.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "ALGORITHMS", "load_config", "check_config", "check_data", "check_trl_arguments",
           "trainer_arguments", "train"]

ALGORITHMS = {"sft": ("SFTConfig", "SFTTrainer"), "dpo": ("DPOConfig", "DPOTrainer"),
              "kto": ("KTOConfig", "KTOTrainer"), "grpo": ("GRPOConfig", "GRPOTrainer")}
EXTRA_TRAINING_KEYS = {"algorithm", "reward_funcs"}


class ConfigError(ValueError):
    """A config that cannot work; the message names the key."""


def load_config(path: str | Path) -> dict:
    """Read the YAML config; a YAML error names the file."""
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: expected a mapping with data, model and training")
    return config


def _config_class(algorithm: str):
    import trl

    return getattr(trl, ALGORITHMS[algorithm][0])


def _type_problem(name: str, value: Any, default: Any) -> str | None:
    if default is None or value is None or isinstance(default, (list, dict)):
        return None
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return None
    if expected is bool and not isinstance(value, bool):
        return f"training.{name} must be true or false, not {value!r}"
    if expected in (int, float, str) and not isinstance(value, expected):
        return f"training.{name} must be {expected.__name__}, not {value!r}"
    return None


def check_config(config: dict, base: Path = Path(".")) -> list[str]:
    """Everything wrong with a config, each naming its key (empty when it is fine).

    Imports ``trl`` to read its config classes' fields; loads no model and no data.
    """
    problems = []
    unknown = set(config) - {"data", "model", "training"}
    if unknown:
        problems.append(f"unknown top-level keys {sorted(unknown)}: use data, model and training")
    data, model, training = (config.get(k) or {} for k in ("data", "model", "training"))
    if not data.get("train_path"):
        problems.append("data.train_path is missing")
    for key in ("train_path", "eval_path"):
        path = data.get(key)
        if path and not _beside(base, path).is_file():
            problems.append(f"data.{key}: {path} does not exist (looked for {_beside(base, path)}; paths are relative "
                            "to the config file's folder; write it with prepare_for_trl.py)")
    for key in set(data) - {"train_path", "eval_path"}:
        problems.append(f"data.{key}: unknown key (data takes train_path and eval_path)")
    name = model.get("name")
    if not isinstance(name, str) or not name:
        problems.append("model.name is missing: a Hugging Face id or a local folder")
    elif name.startswith((".", "/", "~")) and not _beside(base, name).exists():
        problems.append(f"model.name: no folder {name} (looked for {_beside(base, name)}; paths are relative to the "
                        "config file's folder)")
    for key in set(model) - {"name"}:
        problems.append(f"model.{key}: unknown key (model takes name)")
    algorithm = training.get("algorithm")
    if algorithm not in ALGORITHMS:
        problems.append(f"training.algorithm is {algorithm!r}: use one of {', '.join(ALGORITHMS)}")
        return problems
    fields = {f.name: f for f in dataclasses.fields(_config_class(algorithm))}
    for key, value in training.items():
        if key in EXTRA_TRAINING_KEYS:
            continue
        if key not in fields:
            close = [name for name in fields if key.replace("-", "_") == name or key in name][:3]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            problems.append(f"training.{key}: {ALGORITHMS[algorithm][0]} has no such field{hint}")
            continue
        field = fields[key]
        default = field.default if field.default is not dataclasses.MISSING else None
        problem = _type_problem(key, value, default)
        if problem:
            problems.append(problem)
    if algorithm == "grpo":
        funcs = training.get("reward_funcs")
        if not funcs:
            problems.append("training.reward_funcs: GRPO needs at least one, e.g. reference_impl.rewards.trl_math_reward")
        for path in funcs or []:
            try:
                _import(path)
            except (ImportError, AttributeError, ValueError):
                problems.append(f"training.reward_funcs: cannot import {path}")
        generations = training.get("num_generations", 8)
        if isinstance(generations, int) and generations < 2:
            problems.append("training.num_generations must be at least 2 (GRPO compares completions of a prompt)")
    if algorithm == "kto" and training.get("per_device_train_batch_size", 8) < 2:
        problems.append("training.per_device_train_batch_size must be at least 2 for KTO (its KL term needs a batch)")
    return problems


def check_data(config: dict, base: Path = Path(".")) -> list[str]:
    """Why the config's data cannot train (empty when it can): each file exists, has rows, and
    its rows have the columns the algorithm's trainer reads (the validator's checks); for GRPO
    with this project's rewards, some row has a ground truth for them to check.

    Reads the data; loads no model. Call it on a config {func}`check_config` passed.
    """
    from ..launch.common import check_prepared

    algorithm = config["training"]["algorithm"]
    problems = []
    for key in ("train_path", "eval_path"):
        if config["data"].get(key):
            problem, _ = check_prepared(str(_beside(base, config["data"][key])), "trl", algorithm)
            if problem:
                problems.append(f"data.{key}: {problem}")
    if not problems and algorithm == "grpo":
        problems += _ground_truth_problems(_beside(base, config["data"]["train_path"]),
                                           config["training"].get("reward_funcs") or [])
    return problems


def _ground_truth_problems(path: Path, reward_funcs: list[str]) -> list[str]:
    """GRPO with only this project's rewards: no row with a ground truth means every reward is ``None``."""
    from ..rewards import GROUND_TRUTH_FIELDS, find_ground_truth
    from ..validate import iter_rows

    if not reward_funcs or not all(str(f).startswith("reference_impl.rewards.") for f in reward_funcs):
        return []
    rows = with_truth = 0
    for _, row, _ in iter_rows(path):
        if isinstance(row, dict):
            rows += 1
            with_truth += find_ground_truth(row) is not None
    if with_truth:
        if with_truth < rows:
            print(f"warning: {path}: {rows - with_truth} of {rows} rows have no ground truth; the rewards return None "
                  "for them (TRL skips them)", file=sys.stderr)
        return []
    return [f"data.train_path: no row of {path} has a ground truth ({', '.join(GROUND_TRUTH_FIELDS)}): every reward "
            "would be None and GRPO would learn nothing. Prepare it again with --ground-truth-field naming the field "
            "your environment writes"]


def check_trl_arguments(config: dict, base: Path = Path(".")) -> list[str]:
    """What TRL's own config class rejects in the arguments {func}`train` would pass (its
    ``__post_init__`` checks, such as GRPO's batch against ``num_generations``), and for GRPO,
    a batch that needs more prompts than the file has; loads no model.

    TRL's GRPO sampler takes ``generation_batch_size / num_generations`` distinct prompts a
    generation and drops an incomplete batch (``RepeatSampler`` in ``trl/trainer/utils.py``):
    with fewer prompts than that, no step runs.
    """
    from ..validate import iter_rows

    training = config["training"]
    name = ALGORITHMS[training["algorithm"]][0]
    try:
        args = _config_class(training["algorithm"])(**_machine_arguments(training, base))
    except (ValueError, TypeError) as exc:
        return [f"training: TRL's {name} rejects these settings: {exc}"]
    if training["algorithm"] != "grpo":
        return []
    path = _beside(base, config["data"]["train_path"])
    prompts = sum(1 for _, row, _ in iter_rows(path) if row is not None)
    needed = args.generation_batch_size // args.num_generations
    if prompts >= needed:
        return []
    return [f"training: a GRPO generation takes generation_batch_size {args.generation_batch_size} / num_generations "
            f"{args.num_generations} = {needed} prompts, and {path} has {prompts}: TRL drops an incomplete batch, so "
            f"no step would run. Lower per_device_train_batch_size (or steps_per_generation) or raise num_generations"]


def _machine_arguments(training: dict, base: Path) -> dict:
    """{func}`trainer_arguments` for this machine, with ``output_dir`` resolved beside the config."""
    import torch

    on_gpu = torch.cuda.is_available()
    arguments = trainer_arguments(training, on_gpu, on_gpu and torch.cuda.is_bf16_supported(),
                                  flash_attention=importlib.util.find_spec("flash_attn") is not None)
    arguments["output_dir"] = str(_beside(base, arguments.get("output_dir", f"checkpoints/{training['algorithm']}")))
    return arguments


def _beside(base: Path, relative: str) -> Path:
    """``relative`` from the config's folder, ``..`` taken lexically (the folder may be reached through a link)."""
    return Path(os.path.normpath(base / os.path.expanduser(relative)))


def resolve_model(name: str, base: Path) -> str:
    """A local folder (relative to the config's folder) when there is one, else the hub id as given.

    >>> resolve_model("Qwen/Qwen2.5-0.5B-Instruct", Path("/nowhere"))
    'Qwen/Qwen2.5-0.5B-Instruct'
    """
    local = _beside(base, name)
    return str(local) if local.exists() else name


def _import(dotted: str):
    module, _, name = dotted.rpartition(".")
    if not module:
        raise ValueError(dotted)
    return getattr(importlib.import_module(module), name)


def trainer_arguments(training: dict, on_gpu: bool, bf16_ok: bool, flash_attention: bool = False) -> dict:
    """The TRL config arguments: the file's, over defaults that suit the machine.

    On a GPU: bf16 where it is supported, activation checkpointing, a per-device batch of 8,
    and for SFT, packing (TRL's padding-free ``bfd`` strategy) when flash attention is there
    to keep packed sequences apart. On a CPU: float32, small batches, for tiny models.

    >>> trainer_arguments({"algorithm": "sft", "max_steps": 3}, on_gpu=False, bf16_ok=False)["use_cpu"]
    True
    >>> gpu = trainer_arguments({"algorithm": "sft"}, on_gpu=True, bf16_ok=True, flash_attention=True)
    >>> gpu["bf16"], gpu["packing"], gpu["model_init_kwargs"]
    (True, True, {'attn_implementation': 'flash_attention_2', 'dtype': 'bfloat16'})
    >>> trainer_arguments({"algorithm": "sft", "packing": False}, on_gpu=True, bf16_ok=True, flash_attention=True)["packing"]
    False

    The defaults use the names transformers 5.23 keeps (``activation_checkpointing``, not the
    deprecated ``gradient_checkpointing``), so that they raise no deprecation warning.
    """
    defaults: dict[str, Any] = {"report_to": [], "save_strategy": "no", "logging_steps": 1}
    if on_gpu:
        defaults.update(bf16=bf16_ok, activation_checkpointing=True, per_device_train_batch_size=8)
    else:
        defaults.update(use_cpu=True, bf16=False, activation_checkpointing=False, per_device_train_batch_size=2)
    if "gradient_checkpointing" in training:  # the deprecated name, given by the user: theirs decides
        del defaults["activation_checkpointing"]
    if training.get("algorithm") == "sft":
        defaults.update(assistant_only_loss=True, max_length=4096)
        if on_gpu and flash_attention:
            defaults.update(packing=True, model_init_kwargs={"attn_implementation": "flash_attention_2",
                                                             "dtype": "bfloat16" if bf16_ok else "float16"})
    if training.get("algorithm") in ("dpo", "kto"):
        defaults.update(max_length=4096)
    if training.get("algorithm") == "grpo":
        defaults.update(num_generations=2 if not on_gpu else 8, max_completion_length=64 if not on_gpu else 512)
    arguments = {**defaults, **{k: v for k, v in training.items() if k not in EXTRA_TRAINING_KEYS}}
    return arguments


def train(config: dict, base: Path = Path(".")) -> Path:
    """Run the TRL trainer the config names and save the model and tokenizer in ``output_dir``."""
    import trl
    from datasets import load_dataset
    from transformers import AutoTokenizer

    training = config["training"]
    algorithm = training["algorithm"]
    arguments = _machine_arguments(training, base)
    args = getattr(trl, ALGORITHMS[algorithm][0])(**arguments)
    data = load_dataset("json", data_files=str(_beside(base, config["data"]["train_path"])), split="train")
    if config["data"].get("eval_path"):
        extra_data = {"eval_dataset": load_dataset("json", data_files=str(_beside(base, config["data"]["eval_path"])),
                                                   split="train")}
    else:
        extra_data = {}
    model = resolve_model(config["model"]["name"], base)
    tokenizer = AutoTokenizer.from_pretrained(model)
    extra = {}
    if algorithm == "grpo":
        extra["reward_funcs"] = [_import(path) for path in training["reward_funcs"]]
    trainer = getattr(trl, ALGORITHMS[algorithm][1])(model=model, args=args, train_dataset=data,
                                                      processing_class=tokenizer, **extra_data, **extra)
    if len(trainer.train_dataset) < len(data):
        print(f"warning: TRL dropped {len(data) - len(trainer.train_dataset)} of {len(data)} rows "
              f"(longer than max_length={arguments.get('max_length')}?)")
    result = trainer.train()
    print(f"trained {result.global_step} steps, loss {result.training_loss:.4f}")
    trainer.save_model(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    return Path(args.output_dir)


TRAIN_MODULES = ("torch", "trl", "transformers", "datasets", "accelerate")


def main(argv=None) -> int:
    """``train_trl.py --config config.yaml``: check the config and the data, then train.

    Exit status 1 with ``error: ...`` for what the user can fix (the config, the data, a
    missing package, with its install command), 2 with ``internal error: ...`` for anything
    unexpected (see {func}`reference_impl.launch.common.guarded`).
    """
    from ..commands.common import quiet_broken_pipe

    quiet_broken_pipe()
    import argparse

    from ..launch.common import guarded

    parser = argparse.ArgumentParser(prog="train_trl.py", description="Train with TRL from a YAML config.")
    parser.add_argument("--config", required=True,
                        help="YAML with data.train_path, model.name and training (paths relative to its folder)")
    args = parser.parse_args(argv)
    return guarded("train_trl.py", lambda: _run(args.config))


def _run(config_path: str) -> int:
    from ..launch.common import TRAIN_EXTRA, LaunchError, missing_modules

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise LaunchError(str(exc)) from None
    missing = missing_modules(TRAIN_MODULES)
    if missing:
        raise LaunchError(f"train_trl.py needs {', '.join(missing)}, not installed here: {TRAIN_EXTRA}")
    base = Path(os.path.abspath(config_path)).parent
    for check in (check_config, check_data, check_trl_arguments):
        problems = check(config, base)
        if problems:
            raise LaunchError(f"{config_path}:\n  " + "\n  ".join(problems))
    output = train(config, base)
    print(f"saved the model and tokenizer to {output}")
    return 0
