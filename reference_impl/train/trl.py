"""Train with TRL from a YAML config of the seed's shape, checked before any model is loaded.

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
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "ALGORITHMS", "load_config", "check_config", "trainer_arguments", "train"]

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
    train_path = data.get("train_path")
    if not train_path:
        problems.append("data.train_path is missing")
    elif not _beside(base, train_path).is_file():
        problems.append(f"data.train_path: {train_path} does not exist (write it with prepare_for_trl.py)")
    for key in set(data) - {"train_path", "eval_path"}:
        problems.append(f"data.{key}: unknown key (data takes train_path and eval_path)")
    name = model.get("name")
    if not isinstance(name, str) or not name:
        problems.append("model.name is missing: a Hugging Face id or a local folder")
    elif name.startswith((".", "/", "~")) and not _beside(base, name).exists():
        problems.append(f"model.name: no folder {name} (relative to the config's folder)")
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

    On a GPU: bf16 where it is supported, gradient checkpointing, a per-device batch of 8,
    and for SFT, packing (TRL's padding-free ``bfd`` strategy) when flash attention is there
    to keep packed sequences apart. On a CPU: float32, small batches, for tiny models.

    >>> trainer_arguments({"algorithm": "sft", "max_steps": 3}, on_gpu=False, bf16_ok=False)["use_cpu"]
    True
    >>> gpu = trainer_arguments({"algorithm": "sft"}, on_gpu=True, bf16_ok=True, flash_attention=True)
    >>> gpu["bf16"], gpu["packing"], gpu["model_init_kwargs"]
    (True, True, {'attn_implementation': 'flash_attention_2', 'dtype': 'bfloat16'})
    >>> trainer_arguments({"algorithm": "sft", "packing": False}, on_gpu=True, bf16_ok=True, flash_attention=True)["packing"]
    False
    """
    defaults: dict[str, Any] = {"report_to": [], "save_strategy": "no", "logging_steps": 1}
    if on_gpu:
        defaults.update(bf16=bf16_ok, gradient_checkpointing=True, per_device_train_batch_size=8)
    else:
        defaults.update(use_cpu=True, bf16=False, gradient_checkpointing=False, per_device_train_batch_size=2)
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
    import torch
    import trl
    from datasets import load_dataset
    from transformers import AutoTokenizer

    training = config["training"]
    algorithm = training["algorithm"]
    on_gpu = torch.cuda.is_available()
    arguments = trainer_arguments(training, on_gpu, on_gpu and torch.cuda.is_bf16_supported(),
                                  flash_attention=importlib.util.find_spec("flash_attn") is not None)
    arguments["output_dir"] = str(_beside(base, arguments.get("output_dir", f"checkpoints/{algorithm}")))
    args = getattr(trl, ALGORITHMS[algorithm][0])(**arguments)
    data = load_dataset("json", data_files=str(_beside(base, config["data"]["train_path"])), split="train")
    model = resolve_model(config["model"]["name"], base)
    tokenizer = AutoTokenizer.from_pretrained(model)
    extra = {}
    if algorithm == "grpo":
        extra["reward_funcs"] = [_import(path) for path in training["reward_funcs"]]
    trainer = getattr(trl, ALGORITHMS[algorithm][1])(model=model, args=args, train_dataset=data,
                                                      processing_class=tokenizer, **extra)
    if len(trainer.train_dataset) < len(data):
        print(f"warning: TRL dropped {len(data) - len(trainer.train_dataset)} of {len(data)} rows "
              f"(longer than max_length={arguments.get('max_length')}?)")
    result = trainer.train()
    print(f"trained {result.global_step} steps, loss {result.training_loss:.4f}")
    trainer.save_model(args.output_dir)
    tokenizer.save_pretrained(args.output_dir)
    return Path(args.output_dir)


def main(argv=None) -> int:
    """``train_trl.py --config config.yaml``."""
    from ..cli import quiet_broken_pipe

    quiet_broken_pipe()
    import argparse

    from ..cli import fail

    parser = argparse.ArgumentParser(prog="train_trl.py", description="Train with TRL from a YAML config.")
    parser.add_argument("--config", required=True, help="YAML with data.train_path, model.name and training")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return fail(str(exc))
    base = Path(os.path.abspath(args.config)).parent
    problems = check_config(config, base)
    if problems:
        return fail(f"{args.config}:\n  " + "\n  ".join(problems))
    output = train(config, base)
    print(f"saved the model and tokenizer to {output}")
    return 0
