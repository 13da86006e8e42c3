"""The list of mapping sources on the custom-frameworks page, from the code."""

from __future__ import annotations

from pathlib import Path


def generate(out: Path, samples: Path) -> None:
    from reference_impl.formats.custom import SOURCE_HELP, SOURCES

    lines = [f"{name:23} {SOURCE_HELP[name]}" for name in SOURCES]
    lines += ["field:<name>           any top-level field of the record (expected_answer, ...)",
              "reward_component:<name> one of the record's reward_components"]
    (out / "custom_sources.txt").write_text("\n".join(lines) + "\n")
