"""The training formats of NeMo RL, VeRL, OpenRLHF and TRL, behind one small interface.

Each framework has a module (``trl``, ``nemo_rl``, ``verl``, ``openrlhf``, ``custom``)
whose ``ALGORITHMS`` maps an algorithm name to an {class}`~reference_impl.formats.base.Algorithm`: a converter from
rollouts to rows, and the file suffixes the framework's loader reads.

>>> sorted(TARGETS)
['custom', 'nemo_rl', 'openrlhf', 'trl', 'verl']
>>> sorted(TARGETS["trl"])
['dpo', 'grpo', 'kto', 'sft', 'sft-tokens']
"""

from __future__ import annotations

from .base import (INVALID_ROW, Algorithm, ConvertOptions, Converter, FormatStep, RowSpec, per_record, per_task,
                   rows_from, trainable)
from . import custom, nemo_rl, openrlhf, tokens, trl, verl  # noqa: I001 (they import .base, never this package)

__all__ = ["Algorithm", "ConvertOptions", "RowSpec", "TARGETS", "get_algorithm", "UnknownFormat", "INVALID_ROW",
           "Converter", "FormatStep", "format_step", "rows_from", "trainable", "per_record", "per_task"]

TARGETS: dict[str, dict[str, Algorithm]] = {
    module.TARGET: module.ALGORITHMS for module in (trl, nemo_rl, verl, openrlhf, custom)
}
for _algorithm in tokens.ALGORITHMS:  # the token-exact format, sft-tokens, of trl, verl and nemo_rl
    TARGETS[_algorithm.target][_algorithm.name] = _algorithm


class UnknownFormat(ValueError):
    """An unknown target or algorithm; the message lists the known ones."""


def get_algorithm(target: str, algorithm: str) -> Algorithm:
    """Look up a format.

    >>> get_algorithm("verl", "grpo").suffixes
    ('.parquet', '.jsonl')
    >>> get_algorithm("verl", "kto")
    Traceback (most recent call last):
    ...
    reference_impl.formats.UnknownFormat: verl has no 'kto' format; it has: grpo, ppo, sft, sft-tokens
    """
    if target not in TARGETS:
        raise UnknownFormat(f"unknown target {target!r}; known: {', '.join(sorted(TARGETS))}")
    algorithms = TARGETS[target]
    if algorithm not in algorithms:
        raise UnknownFormat(f"{target} has no {algorithm!r} format; it has: {', '.join(sorted(algorithms))}")
    return algorithms[algorithm]


def format_step(target: str, algorithm: str, options: ConvertOptions):
    """The step that makes a registered format's rows, rebuilt from plain data (picklable,
    so that a worker process can rebuild it).

    >>> type(format_step("trl", "grpo", ConvertOptions())).__name__
    'PerTask'
    """
    return get_algorithm(target, algorithm).step(options)
