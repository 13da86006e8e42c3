"""Every override and flag our launch commands use is one that the pinned VeRL and OpenRLHF declare."""

import re

import pytest
import yaml
from paths import ROOT

from reference_impl.launch import openrlhf as openrlhf_launch
from reference_impl.launch import verl as verl_launch

pytestmark = pytest.mark.slow
SITE = ROOT / ".conformance" / "verl" / "lib" / "python3.11" / "site-packages" / "verl" / "trainer" / "config"
OPENRLHF_CLI = ROOT / ".conformance" / "openrlhf" / "openrlhf" / "cli"


def has_key(config: dict, dotted: str) -> bool:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def overrides(command: list[str]) -> list[str]:
    return [part.split("=", 1)[0] for part in command if "=" in part and not part.startswith("--")]


def test_verl_rl_overrides_exist_in_ppo_trainer_config(envs):
    config = yaml.safe_load((SITE / "_generated_ppo_trainer.yaml").read_text())
    for algorithm in ("grpo", "ppo"):
        keys = overrides(verl_launch.rl_command("/t.parquet", "/v.parquet", "m", algorithm))
        missing = [key for key in keys if not has_key(config, key)]
        assert not missing, f"{algorithm}: VeRL 0.9.1's ppo_trainer has no {missing}"


def test_verl_sft_overrides_exist_in_sft_trainer_config(envs):
    config = yaml.safe_load((SITE / "sft_trainer_engine.yaml").read_text())
    config["model"] = yaml.safe_load((SITE / "model" / "hf_model.yaml").read_text())
    keys = overrides(verl_launch.sft_command("/t.parquet", "/v.parquet", "m"))
    assert [key for key in keys if not has_key(config, key)] == []
    assert verl_launch.SFT_DATASET.exists()


def declared_flags(module: str) -> set[str]:
    source = (OPENRLHF_CLI / f"{module}.py").read_text()
    return set(re.findall(r'add_argument\(\s*"(--[\w.]+)"', source))


@pytest.mark.parametrize("algorithm", sorted(openrlhf_launch.CLI))
def test_openrlhf_flags_are_declared_by_its_cli(envs, algorithm):
    declared = declared_flags(openrlhf_launch.CLI[algorithm])
    used = [part for part in openrlhf_launch.command_for(algorithm, "/d.jsonl", "m") if part.startswith("--data.")
            or (part.startswith("--") and "." in part)]
    assert [flag for flag in used if flag not in declared] == []
    assert "--pretrain" not in declared, "flat flags are gone since 0.10.2"


def test_the_reward_files_load_by_path():
    import importlib.util

    for name in ("compute_score", "reward_func"):
        spec = importlib.util.spec_from_file_location("rewards_by_path", ROOT / "reference_impl" / "rewards.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert callable(getattr(module, name))
    assert module.compute_score("x", "so \\boxed{391}", "391") == 1.0
    out = module.reward_func(["<p>\\boxed{4}", "<p>\\boxed{5}"], ["<p>", "<p>"], ["4", "4"])
    assert out["rewards"].tolist() == [1.0, 0.0]
