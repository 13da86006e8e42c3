"""NeMo RL: write the training config for prepared data, check it, and build the launch command.

NeMo RL is not on PyPI (it runs from its repository or its container, where it lives in
``/opt/nemo-rl``), so this module does not import it. It writes a config that inherits
from NeMo RL's own example config (``defaults:``, resolved by
``nemo_rl/utils/config.py::load_config_with_inheritance``) and overrides what our data
needs, then checks the result against what NeMo RL's loaders require. Read from
``NVIDIA-NeMo/RL`` v0.7.0 (main ``7ea279a``):

* SFT: ``examples/configs/sft.yaml`` + ``examples/run_sft.py``; ``dataset_name: openai_format``
  (``oai_format_dataset.py``). The example ships a SQuAD chat template, so the config sets
  ``policy.tokenizer.chat_template: default`` (the tokenizer's own template).
* DPO: ``examples/configs/dpo.yaml`` + ``examples/run_dpo.py``; ``dataset_name: PreferenceDataset``.
* GRPO: ``examples/nemo_gym/grpo_workplace_assistant_nemotron_nano_v2_9b.yaml`` +
  ``examples/nemo_gym/run_grpo_nemo_gym.py``; ``dataset_name: NemoGymDataset``,
  ``env.should_use_nemo_gym: true``, a ``vllm_model_for_training.yaml`` in
  ``env.nemo_gym.config_paths``, and an async vLLM engine with its HTTP server exposed.

The example configs set ``data.train`` to a registry dataset (``squad``, ``HelpSteer3``);
merged naively, their ``dataset_name`` would win over ours. ``merge_with_override`` honours
``_override_: true`` on top-level sections only, so the config replaces the whole ``data``
section, with every key the example's had.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..rows import get_dotted

__all__ = [
    "Recipe",
    "RECIPES",
    "DEFAULT_NEMO_RL_DIR",
    "build_config",
    "merge_with_override",
    "check_config",
    "check_data",
    "batch_problems",
    "data_parallel_size",
    "agents_of",
    "agents_defined",
    "served_agents",
    "agent_problems",
    "launch_command",
    "why_not_runnable",
]

DEFAULT_NEMO_RL_DIR = "/opt/nemo-rl"
"""Where NeMo RL's container keeps the repository (``docker/Dockerfile``: ``WORKDIR /opt/nemo-rl``)."""

SQUAD_TEMPLATE_START = "{% for message in messages %}{%- if message['role'] == 'system'  %}{{'Context: '"


@dataclass(frozen=True)
class Recipe:
    """How NeMo RL trains one algorithm: its example config, its runner and its dataset class."""

    algorithm: str
    example_config: str
    runner: str
    dataset_name: str
    processor: str | None
    section: str  # the algorithm's own config section (sft, dpo, grpo)
    batch_key: str  # the rows one training step takes from the dataloader
    example_batch: int  # its value in the example config


RECIPES = {
    "sft": Recipe("sft", "examples/configs/sft.yaml", "examples/run_sft.py", "openai_format", "sft_processor", "sft",
                  "policy.train_global_batch_size", 32),
    "dpo": Recipe("dpo", "examples/configs/dpo.yaml", "examples/run_dpo.py", "PreferenceDataset", None, "dpo",
                  "policy.train_global_batch_size", 128),
    "grpo": Recipe(
        "grpo",
        "examples/nemo_gym/grpo_workplace_assistant_nemotron_nano_v2_9b.yaml",
        "examples/nemo_gym/run_grpo_nemo_gym.py",
        "NemoGymDataset",
        "nemo_gym_data_processor",
        "grpo",
        "grpo.num_prompts_per_step",
        64,
    ),
}


def _dataset(recipe: Recipe, data_path: str) -> dict:
    section = {"data_path": data_path, "dataset_name": recipe.dataset_name}
    if recipe.dataset_name == "openai_format":
        # heterogeneous tool-call arguments survive only in the preserving dataset
        section.update(chat_key="messages", tool_key="tools", use_preserving_dataset=True)
    return section


def _data_section(recipe: Recipe, train: str, validation: str) -> dict:
    """The whole ``data`` section, as the example's, with our datasets (``_override_`` replaces it)."""
    data: dict = {"_override_": True}
    if recipe.algorithm == "grpo":
        data.update(max_input_seq_length=None, shuffle=True, num_workers=0, use_multiple_dataloader=False)
    else:
        data.update(max_input_seq_length="${policy.max_total_sequence_length}", shuffle=True, num_workers=1)
    if recipe.algorithm == "sft":
        data.update(add_bos=True, add_eos=True, add_generation_prompt=False)
    data["train"] = _dataset(recipe, train)
    data["validation"] = _dataset(recipe, validation)
    data["default"] = {"dataset_name": recipe.dataset_name, "prompt_file": None, "system_prompt_file": None}
    if recipe.processor:
        data["default"]["processor"] = recipe.processor
    if recipe.algorithm == "grpo":
        data["default"]["env_name"] = "nemo_gym"
    return data


def build_config(
    algorithm: str,
    data_path: str | Path,
    model: str,
    *,
    val_data_path: str | Path | None = None,
    nemo_rl_dir: str | Path = DEFAULT_NEMO_RL_DIR,
    output_dir: str = "results",
    gpus_per_node: int = 8,
    num_nodes: int = 1,
    max_seq_length: int = 4096,
    gym_config_paths: tuple[str, ...] = (),
    batch_size: int | None = None,
) -> dict:
    """The NeMo RL config for prepared data: inherit the example, override what the data needs.

    Args:
        algorithm: ``sft``, ``dpo`` or ``grpo``.
        data_path: the prepared JSONL (``prepare_for_nemo_rl.py``).
        model: a Hugging Face id or a local path.
        val_data_path: a validation file; the training file when not given.
        nemo_rl_dir: the NeMo RL checkout (``defaults:`` points into it).
        output_dir: where checkpoints and logs go.
        gpus_per_node: ``cluster.gpus_per_node``.
        num_nodes: ``cluster.num_nodes``.
        max_seq_length: ``policy.max_total_sequence_length``.
        gym_config_paths: GRPO: the NeMo Gym resources-server configs to start.
        batch_size: the rows a step takes (the recipe's ``batch_key``); the example's when not given.

    Returns:
        The config, a dict ready for YAML.

    >>> config = build_config("sft", "/data/train.jsonl", "Qwen/Qwen2.5-0.5B-Instruct")
    >>> config["defaults"], config["data"]["train"]["dataset_name"]
    ('/opt/nemo-rl/examples/configs/sft.yaml', 'openai_format')
    """
    recipe = RECIPES[algorithm]
    data_path = str(Path(data_path).resolve())
    val = str(Path(val_data_path).resolve()) if val_data_path else data_path
    config: dict = {
        "defaults": str(Path(nemo_rl_dir) / recipe.example_config),
        "policy": {
            "model_name": model,
            "tokenizer": {"name": model, "chat_template": "default"},
            "max_total_sequence_length": max_seq_length,
        },
        "data": _data_section(recipe, data_path, val),
        "checkpointing": {"checkpoint_dir": f"{output_dir}/{algorithm}"},
        "logger": {"log_dir": f"{output_dir}/logs", "wandb_enabled": False, "tensorboard_enabled": True},
        "cluster": {"gpus_per_node": gpus_per_node, "num_nodes": num_nodes},
    }
    if batch_size is not None:
        section, key = recipe.batch_key.split(".")
        config.setdefault(section, {})[key] = batch_size
    if algorithm == "grpo":
        config["env"] = {
            "should_use_nemo_gym": True,
            "should_mask_flagged_samples": True,
            "nemo_gym": {
                "config_paths": [
                    "responses_api_models/vllm_model/configs/vllm_model_for_training.yaml",
                    *gym_config_paths,
                ]
            },
        }
        config["policy"]["generation"] = {"vllm_cfg": {"async_engine": True, "expose_http_server": True}}
    return config


def merge_with_override(base: dict, override: dict) -> dict:
    """Merge two configs as NeMo RL does.

    ``nemo_rl/utils/config.py::merge_with_override``: a top-level section marked
    ``_override_: true`` replaces the base's section; everything else is merged deeply
    (``OmegaConf.merge``: the override wins, lists are replaced). A ``_override_`` below the
    top level is not honoured: it stays in the config as an ordinary key.

    >>> merge_with_override({"data": {"train": {"dataset_name": "squad"}, "shuffle": True}},
    ...                     {"data": {"_override_": True, "train": {"data_path": "x.jsonl"}}})
    {'data': {'train': {'data_path': 'x.jsonl'}}}
    >>> merge_with_override({"a": {"b": 1, "c": [1, 2]}}, {"a": {"c": [3]}})
    {'a': {'b': 1, 'c': [3]}}
    """
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and value.get("_override_"):
            merged[key] = {k: copy.deepcopy(v) for k, v in value.items() if k != "_override_"}
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _get(config: dict, dotted: str):
    """A config value at a dotted key, or ``None`` when it is not there."""
    return get_dotted(config, dotted)[1]


def check_config(config: dict, algorithm: str) -> list[str]:
    """What NeMo RL would reject or misuse in a merged config (the example plus ours); empty when fine.

    Args:
        config: the config after inheritance (see {func}`merge_with_override`).
        algorithm: ``sft``, ``dpo`` or ``grpo``.

    Returns:
        Problems, each naming the key.

    >>> check_config({"policy": {"model_name": "m"}, "data": {"train": {"dataset_name": "squad"}}}, "sft")[:2]
    ['data.train.dataset_name is squad, expected openai_format', 'data.train.data_path is missing']
    """
    recipe = RECIPES[algorithm]
    problems = [f"{key}: _override_ is honoured only on top-level sections" for key in _nested_overrides(config)]
    if not _get(config, "policy.model_name"):
        problems.append("policy.model_name is missing")
    for split in ("train", "validation"):
        section = _get(config, f"data.{split}")
        if section is None:
            if split == "train":
                problems.append("data.train is missing")
            continue
        name = section.get("dataset_name") or _get(config, "data.default.dataset_name")
        if name != recipe.dataset_name:
            problems.append(f"data.{split}.dataset_name is {name}, expected {recipe.dataset_name}")
        path = section.get("data_path")
        if not path:
            problems.append(f"data.{split}.data_path is missing")
        elif not str(path).endswith(".jsonl"):
            problems.append(f"data.{split}.data_path {path} is not a .jsonl file")
    if algorithm == "sft":
        template = _get(config, "policy.tokenizer.chat_template")
        if isinstance(template, str) and template.startswith(SQUAD_TEMPLATE_START):
            problems.append("policy.tokenizer.chat_template is the example's SQuAD template; set it to default")
        if _get(config, "data.train.use_preserving_dataset") is not True:
            problems.append("data.train.use_preserving_dataset should be true (tool schemas differ per row)")
    if algorithm == "grpo":
        if _get(config, "env.should_use_nemo_gym") is not True:
            problems.append("env.should_use_nemo_gym must be true")
        paths = [str(p) for p in _get(config, "env.nemo_gym.config_paths") or []]
        if not any(p.endswith("_for_training.yaml") for p in paths):
            problems.append("env.nemo_gym.config_paths needs responses_api_models/vllm_model/configs/vllm_model_for_training.yaml")
        if not any(p.startswith("resources_servers/") for p in paths):
            problems.append("env.nemo_gym.config_paths names no resources server (pass --gym_config)")
        for key in ("async_engine", "expose_http_server"):
            if _get(config, f"policy.generation.vllm_cfg.{key}") is not True:
                problems.append(f"policy.generation.vllm_cfg.{key} must be true")
        if _get(config, "data.default.processor") != "nemo_gym_data_processor":
            problems.append("data.default.processor must be nemo_gym_data_processor")
    return problems


def _nested_overrides(config: dict, prefix: str = "", depth: int = 0):
    for key, value in config.items():
        if isinstance(value, dict):
            if depth > 0 and "_override_" in value:
                yield f"{prefix}{key}"
            yield from _nested_overrides(value, f"{prefix}{key}.", depth + 1)


WHY_NEMO_RL_CARES = {
    "sft": {"messages": "OpenAIFormatDataset trains on them and asserts that the last is the assistant's",
            "tools": "the chat template is given them as the tools"},
    "dpo": {"context": "PreferenceDataset reads it as the conversation so far",
            "completions": "PreferenceDataset prefers the lower rank of two; a tie raises NotImplementedError"},
    "grpo": {"responses_create_params": "NemoGymDataset sends it to the agent as the request",
             "agent_ref": "run_rollouts reads agent_ref.name to find the agent"},
}
"""Why NeMo RL needs each field the row checks name, by algorithm: the reason added to a problem."""


def check_data(path: str | Path, algorithm: str, limit: int | None = None) -> list[str]:
    """Check a prepared JSONL file against what NeMo RL's dataset class asserts; ``file:line: what (why)``.

    The rules are the format's own ({attr}`~reference_impl.formats.base.Algorithm.row_specs` of
    {mod}`reference_impl.formats.nemo_rl`, checked by {func}`~reference_impl.rows.row_problem`,
    as the writer and ``validate_training_data.py`` check them), among them:

    * SFT (``OpenAIFormatDataset.format_data``): ``messages`` ends with the assistant;
    * DPO (``PreferenceDataset``): ``context`` and exactly two completions of different rank;
    * GRPO (``_prepare_nemo_gym_rows``, ``run_rollouts``): ``responses_create_params`` is an
      object with ``input``, and ``agent_ref.name`` is set.
    """
    import orjson

    from ..formats import get_algorithm
    from ..rows import row_problem

    specs = get_algorithm("nemo_rl", algorithm).row_specs
    problems = []
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and number > limit:
                break
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                problems.append(f"{path}:{number}: not valid JSON")
                continue
            problem = row_problem(row, specs)
            if problem:
                problems.append(f"{path}:{number}: {problem}{_why(problem, algorithm)}")
    return problems


def _why(problem: str, algorithm: str) -> str:
    """Why NeMo RL cares about the field a problem names, in brackets (or nothing).

    >>> _why("missing agent_ref", "grpo")
    ' (run_rollouts reads agent_ref.name to find the agent)'
    """
    for name, why in WHY_NEMO_RL_CARES.get(algorithm, {}).items():
        if name in problem:
            return f" ({why})"
    return ""


def _int(config: dict, dotted: str) -> int | None:
    value = _get(config, dotted)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def data_parallel_size(config: dict, gpus: int) -> int | None:
    """The data-parallel size the policy trains with: the GPUs over its tensor, context (and,
    with Megatron, pipeline) parallel sizes; ``None`` when the config does not say.

    >>> data_parallel_size({"policy": {"dtensor_cfg": {"enabled": True, "tensor_parallel_size": 2,
    ...                                                "context_parallel_size": 1}}}, 8)
    4
    """
    if _get(config, "policy.dtensor_cfg.enabled") is True:
        keys = ("policy.dtensor_cfg.tensor_parallel_size", "policy.dtensor_cfg.context_parallel_size")
    elif _get(config, "policy.megatron_cfg.enabled") is True:
        keys = ("policy.megatron_cfg.tensor_model_parallel_size", "policy.megatron_cfg.pipeline_model_parallel_size",
                "policy.megatron_cfg.context_parallel_size")
    else:
        return None
    sizes = [_int(config, key) for key in keys]
    if any(size is None or size < 1 for size in sizes):
        return None
    model_parallel = 1
    for size in sizes:
        model_parallel *= size
    return gpus // model_parallel if gpus % model_parallel == 0 else None


def batch_problems(config: dict, algorithm: str, rows: int, gpus: int, *, path: str = "the data") -> list[str]:
    """What in the batch settings cannot work with ``rows`` rows, each with the fix.

    NeMo RL's training dataloader drops an incomplete batch (``drop_last=True`` in
    ``nemo_rl/algorithms/{sft,dpo,grpo}.py``), so fewer rows than a batch train nothing.
    DPO asserts that a training batch splits evenly over data-parallel ranks and micro
    batches (``dpo.py``: "Partial batches should only happen during validation"); GRPO
    that its rollouts per step split over data-parallel ranks (``grpo.py``).

    Args:
        config: the merged config (the example's values where ours sets none).
        algorithm: ``sft``, ``dpo`` or ``grpo``.
        rows: the training file's rows.
        gpus: ``cluster.gpus_per_node`` times ``cluster.num_nodes``.
        path: the training file, for the messages.

    >>> batch_problems({"policy": {"train_global_batch_size": 32}}, "sft", 12, 8, path="sft.jsonl")[0][:98]
    'sft.jsonl has 12 rows, fewer than policy.train_global_batch_size = 32: NeMo RL drops an incomplete'
    """
    from .common import batch_problems_for

    recipe = RECIPES[algorithm]
    batch = _int(config, recipe.batch_key) or recipe.example_batch
    dp = data_parallel_size(config, gpus)
    multiple, why = 1, ""
    if dp is not None and algorithm == "dpo":
        micro = _int(config, "policy.train_micro_batch_size") or 1
        multiple = dp * micro
        why = (f"data-parallel size {dp} times policy.train_micro_batch_size {micro}; "
               "DPO asserts no partial training batch")
    problems = batch_problems_for(path, rows, recipe.batch_key, batch,
                                  "NeMo RL drops an incomplete batch (drop_last=True), so no step would run",
                                  multiple=multiple, why_multiple=why,
                                  unit="prompts" if algorithm == "grpo" else "rows")
    if dp is not None and algorithm == "grpo":
        generations = _int(config, "grpo.num_generations_per_prompt") or 1
        if (batch * generations) % dp:
            problems.append(f"{recipe.batch_key} = {batch} times grpo.num_generations_per_prompt {generations} must be "
                            f"a multiple of the data-parallel size {dp} (grpo.py asserts it)")
    return problems


def agents_of(path: str | Path) -> Counter:
    """How many rows of a prepared GRPO file name each agent (``agent_ref.name``), the
    agent NeMo RL sends each row to (``nemo_rl/environments/nemo_gym.py::run_rollouts``)."""
    from ..validate import iter_rows

    counts: Counter = Counter()
    for _, row, _ in iter_rows(path):
        agent = row.get("agent_ref") if isinstance(row, dict) else None
        if isinstance(agent, dict) and isinstance(agent.get("name"), str):
            counts[agent["name"]] += 1
    return counts


def gym_roots(nemo_rl_dir: str | Path, gym_dir: str | Path | None = None) -> list[Path]:
    """Where a Gym config path is looked for, in order: ``--gym_dir``, the NeMo Gym inside the
    NeMo RL checkout (``3rdparty/Gym-workspace/Gym``), the working folder (NeMo Gym resolves
    ``config_paths`` against its install root and the working folder: ``global_config.py``)."""
    roots = [Path(gym_dir)] if gym_dir else []
    return roots + [Path(nemo_rl_dir) / "3rdparty" / "Gym-workspace" / "Gym", Path.cwd()]


def _gym_file(config_path: str, roots: list[Path]) -> Path | None:
    path = Path(config_path)
    if path.is_absolute():
        return path if path.is_file() else None
    return next((root / path for root in roots if (root / path).is_file()), None)


def agents_defined(config: dict) -> set[str]:
    """The agents a NeMo Gym config defines: its top-level entries with ``responses_api_agents``.

    >>> sorted(agents_defined({"math": {"resources_servers": {}}, "math_agent": {"responses_api_agents": {}}}))
    ['math_agent']
    """
    return {name for name, value in config.items() if isinstance(value, dict) and "responses_api_agents" in value}


def served_agents(config_paths: list[str], roots: list[Path]) -> tuple[set[str], list[str]]:
    """The agents the Gym configs define (following their own ``config_paths``), and the paths not found.

    Raises:
        reference_impl.launch.common.LaunchError: a config that is not valid YAML.
    """
    import yaml

    served: set[str] = set()
    missing: list[str] = []
    queue, seen = list(config_paths), set()
    while queue:
        entry = str(queue.pop(0))
        if entry in seen:
            continue
        seen.add(entry)
        found = _gym_file(entry, roots)
        if found is None:
            missing.append(entry)
            continue
        try:
            loaded = yaml.safe_load(found.read_text())
        except yaml.YAMLError as exc:
            from .common import LaunchError

            raise LaunchError(f"{found}: the Gym config is not valid YAML ({exc})") from None
        if isinstance(loaded, dict):
            served |= agents_defined(loaded)
            queue += [str(p) for p in loaded.get("config_paths") or []]
    return served, missing


def config_defining(agent: str, roots: list[Path]) -> str | None:
    """The resources-server config (relative to its Gym root) that defines ``agent``, if a Gym checkout is here."""
    import yaml

    for root in roots:
        for path in sorted(root.glob("resources_servers/*/configs/*.yaml")):
            text = path.read_text(errors="replace")
            if f"{agent}:" not in text:
                continue
            try:
                loaded = yaml.safe_load(text)
            except yaml.YAMLError:
                continue
            if isinstance(loaded, dict) and agent in agents_defined(loaded):
                return str(path.relative_to(root))
    return None


def agent_problems(agents: Counter, config_paths: list[str], roots: list[Path], path: str = "the data") -> tuple[list[str], str]:
    """Whether the Gym configs serve every agent the rows name: the problems, and a note for the report.

    When a config file cannot be found here (no NeMo Gym checkout), nothing is checked and
    the note says so.
    """
    listing = ", ".join(f"{name} ({count})" for name, count in sorted(agents.items()))
    served, missing = served_agents(config_paths, roots)
    if missing:
        return [], (f"{path}: rows for {len(agents)} agents: {listing}; not checked against the Gym configs "
                    f"({', '.join(missing)} not found here; pass --gym-dir, a NeMo Gym checkout, to check)")
    unserved = sorted(set(agents) - served)
    if not unserved:
        return [], f"{path}: rows for {len(agents)} agents, each served by the Gym configs: {listing}"
    fixes = []
    for agent in unserved:
        defining = config_defining(agent, roots)
        fixes.append(f"{agent} ({agents[agent]} rows): " + (f"--gym-config {defining}" if defining else
                     "no config here defines it; pass --gym-config with the one that does"))
    return [f"{path} names agents that no Gym config given serves (NeMo RL sends each row to the agent its "
            "agent_ref names):\n  " + "\n  ".join(fixes)], listing


def launch_command(config_path: str | Path, algorithm: str) -> list[str]:
    """The command that trains, run from the NeMo RL checkout.

    >>> launch_command("/work/nemo_rl_config.yaml", "sft")
    ['uv', 'run', 'python', 'examples/run_sft.py', '--config', '/work/nemo_rl_config.yaml']
    """
    return ["uv", "run", "python", RECIPES[algorithm].runner, "--config", str(Path(config_path).resolve())]


def why_not_runnable(nemo_rl_dir: str | Path) -> str | None:
    """Why the launch command cannot run on this machine, or ``None`` when it can."""
    runner_dir = Path(nemo_rl_dir)
    if not (runner_dir / "examples" / "run_sft.py").exists():
        return f"no NeMo RL checkout at {runner_dir} (pass --nemo-rl-dir or set NEMO_RL_DIR)"
    if shutil.which("uv") is None:
        return "uv is not installed (NeMo RL runs its examples with uv run)"
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU on this machine (NeMo RL trains on GPUs with Ray)"
    return None


def default_nemo_rl_dir() -> str:
    """``$NEMO_RL_DIR``, else the container's ``/opt/nemo-rl``."""
    return os.environ.get("NEMO_RL_DIR", DEFAULT_NEMO_RL_DIR)


def parse_args(argv=None):
    import argparse

    from ..commands.common import flag

    parser = argparse.ArgumentParser(
        prog="train_nemo_rl.py",
        description="Write the NeMo RL config for prepared data, check it, and launch NeMo RL "
        "(or print the exact command and why it did not run).",
    )
    parser.add_argument(*flag("data_path"), dest="data_path", required=True,
                        help="the JSONL written by prepare_for_nemo_rl.py")
    parser.add_argument("--config", required=True, help="the NeMo RL config YAML to write")
    parser.add_argument("--algorithm", choices=sorted(RECIPES), default="sft")
    parser.add_argument("--model", default="Qwen/Qwen2.5-1.5B-Instruct", help="a Hugging Face id or a local path")
    parser.add_argument(*flag("val_data_path"), dest="val_data_path", help="validation JSONL (default: the training file)")
    parser.add_argument(*flag("nemo_rl_dir"), dest="nemo_rl_dir", default=default_nemo_rl_dir(),
                        help="the NeMo RL checkout (default: $NEMO_RL_DIR or /opt/nemo-rl, the container's)")
    parser.add_argument(*flag("output_dir"), dest="output_dir", default="results")
    parser.add_argument(*flag("gpus_per_node"), dest="gpus_per_node", type=int, default=8)
    parser.add_argument(*flag("num_nodes"), dest="num_nodes", type=int, default=1)
    parser.add_argument(*flag("max_seq_length"), dest="max_seq_length", type=int, default=4096)
    parser.add_argument(*flag("gym_config"), dest="gym_config", action="append", default=[],
                        help="GRPO: a NeMo Gym resources-server config, e.g. "
                             "resources_servers/math_with_judge/configs/math_with_judge.yaml (repeatable)")
    parser.add_argument(*flag("gym_dir"), dest="gym_dir",
                        help="GRPO: a NeMo Gym checkout, to check that its configs serve every agent the rows name "
                             "(default: the one inside --nemo-rl-dir, then the working folder)")
    parser.add_argument(*flag("batch_size"), dest="batch_size", type=int,
                        help="rows per training step: policy.train_global_batch_size (SFT, DPO) or "
                             "grpo.num_prompts_per_step (GRPO); default: the example config's")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --config even if it was edited after this script wrote it")
    parser.add_argument(*flag("dry_run"), dest="dry_run", action="store_true", help="write and check, never launch")
    return parser.parse_args(argv)


def load_example(nemo_rl_dir: str | Path, algorithm: str) -> dict | None:
    """NeMo RL's example config for the algorithm, when the checkout is here."""
    path = Path(nemo_rl_dir) / RECIPES[algorithm].example_config
    if not path.exists():
        return None
    import yaml

    return yaml.safe_load(path.read_text())


PROG = "train_nemo_rl.py"


def main(argv=None) -> int:
    """``train_nemo_rl.py``: check the data, write and check the config, then launch or explain.

    Exit status 1 with ``error: ...`` for what the user can fix, 2 with ``internal error: ...``
    for anything unexpected (see {func}`reference_impl.launch.common.guarded`).
    """
    from ..commands.common import quiet_broken_pipe
    from .common import guarded

    quiet_broken_pipe()
    args = parse_args(argv)
    return guarded(PROG, lambda: _run(args))


def _rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def _run(args) -> int:
    import subprocess

    import yaml

    from ..io import AtomicWriter, same_file
    from .common import LaunchError, empty_data_fix, shell_line, stamped, why_keep

    data = Path(args.data_path)
    if not data.is_file():
        raise LaunchError(f"{data}: no such file (write it with prepare_for_nemo_rl.py)")
    rows = _rows(data)
    if rows == 0:
        raise LaunchError(f"{data} has no rows, nothing to train on: {empty_data_fix('nemo_rl', args.algorithm)}")
    problems = check_data(data, args.algorithm)
    if args.val_data_path:
        problems += check_data(args.val_data_path, args.algorithm)
    if problems:
        raise LaunchError(f"the data is not NeMo RL {args.algorithm} data:\n" + "\n".join(problems[:20]))
    if same_file(args.config, data):
        raise LaunchError(f"refusing to write the config over the data file {data}")
    command = launch_command(args.config, args.algorithm)
    kept = None if args.overwrite else why_keep(args.config, PROG)
    if kept:
        raise LaunchError(
            f"{args.config} exists and {kept}: not overwriting it.\n"
            f"  To launch it as it is, from {args.nemo_rl_dir}: {shell_line(command)}\n"
            f"  To replace it with the config for these arguments: add --overwrite (or name another --config)")
    config = build_config(
        args.algorithm, data, args.model, val_data_path=args.val_data_path, nemo_rl_dir=args.nemo_rl_dir,
        output_dir=args.output_dir, gpus_per_node=args.gpus_per_node, num_nodes=args.num_nodes,
        max_seq_length=args.max_seq_length, gym_config_paths=tuple(args.gym_config), batch_size=args.batch_size,
    )
    example = load_example(args.nemo_rl_dir, args.algorithm)
    merged = merge_with_override(example or {}, {k: v for k, v in config.items() if k != "defaults"})
    problems = check_config(merged, args.algorithm)
    problems += batch_problems(merged, args.algorithm, rows, args.gpus_per_node * args.num_nodes, path=str(data))
    note = None
    if args.algorithm == "grpo":
        paths = [str(p) for p in _get(merged, "env.nemo_gym.config_paths") or []]
        agent_issues, note = agent_problems(agents_of(data), paths, gym_roots(args.nemo_rl_dir, args.gym_dir),
                                            str(data))
        problems += agent_issues
    if problems:
        raise LaunchError(f"the config would not work with NeMo RL {args.algorithm}:\n" + "\n".join(problems))
    with AtomicWriter(args.config) as writer:
        writer.handle.write(stamped(yaml.safe_dump(config, sort_keys=False), PROG).encode())
    checked = "NeMo RL's own example config" if example else f"the rules read from {RECIPES[args.algorithm].example_config}"
    print(f"{data}: {rows} rows of valid NeMo RL {args.algorithm} data")
    if note:
        print(note)
    print(f"wrote {args.config} (inherits {config['defaults']}; checked against {checked})")
    print(f"launch, from {args.nemo_rl_dir}:")
    print("  " + shell_line(command))
    reason = "--dry_run was given" if args.dry_run else why_not_runnable(args.nemo_rl_dir)
    if reason:
        print(f"not launched: {reason}")
        return 0
    return subprocess.call(command, cwd=args.nemo_rl_dir)
