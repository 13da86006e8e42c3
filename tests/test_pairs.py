"""Preference pairs keep where each task's best and worst line is, not the line, and read it
again when the pairs are made: the same pairs, and a run that stops if the input changed."""

import gzip
import pickle
from argparse import Namespace
from dataclasses import replace
from functools import partial

import pytest
from paths import SAMPLES

from reference_impl.cli import format_output
from reference_impl.commands.common import run_and_report
from reference_impl.formats import ConvertOptions
from reference_impl.pairs import LineAt, TaskExtremes, preference_pairs
from reference_impl.rollouts import Rollout, iter_rollouts
from reference_impl.tally import RunStopped, Tally

CHANGED = (b'"model":"sample-policy"', b'"model":"sample-Policy"')  # the same length, still valid JSON


def rollouts(path):
    return (item for item in iter_rollouts(path) if isinstance(item, Rollout))


def extremes_of(path):
    extremes, tally = TaskExtremes(), Tally()
    for rollout in rollouts(path):
        extremes.offer(rollout, tally)
    return extremes


def summary(pairs):
    return [(p.task, p.margin, p.chosen.line, p.chosen.record, p.rejected.line, p.rejected.record) for p in pairs]


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "rollouts.jsonl"
    path.write_bytes(SAMPLES.read_bytes())
    return path


def test_the_kept_extremes_hold_no_line_bytes_when_offsets_are_known(source, tmp_path):
    packed = tmp_path / "rollouts.jsonl.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    where, lines = extremes_of(source), extremes_of(packed)
    kept = [side for group in where.groups.values() for side in (group.best, group.worst)]
    assert kept and all(isinstance(side, LineAt) for side in kept)
    fragment = b'"output":[{'  # in every line
    assert fragment not in pickle.dumps(where.groups)  # what workers send back to be merged
    assert fragment in pickle.dumps(lines.groups)  # a compressed file cannot be read again at an offset: lines are kept
    assert len(pickle.dumps(where.groups)) * 10 < len(pickle.dumps(lines.groups))
    made, tally = list(where.pairs(Tally())), Tally()
    assert made and summary(made) == summary(lines.pairs(Tally()))
    assert summary(made) == summary(preference_pairs(list(rollouts(source)), tally))  # records kept: the same pairs


def test_an_input_changed_before_the_pairs_are_made_stops_the_run(source):
    pairs = preference_pairs(rollouts(source), Tally())
    first = next(pairs)  # the whole input is read before the first pair
    source.write_bytes(source.read_bytes().replace(*CHANGED))
    with pytest.raises(RunStopped, match=rf"^{source}:\d+: the input changed while it was read"):
        next(pairs)
    assert first.chosen.record["response"]["model"] == "sample-policy"


def test_an_input_cut_short_or_removed_stops_the_run(source):
    extremes = extremes_of(source)
    source.write_bytes(source.read_bytes()[:100])
    with pytest.raises(RunStopped, match=rf"^{source}:\d+: the input changed while it was read"):
        list(extremes.pairs(Tally()))
    source.unlink()
    with pytest.raises(RunStopped, match=rf"^{source}:\d+: cannot read the line again .*No such file"):
        list(extremes.pairs(Tally()))


def dpo_step_that_changes_its_input(path, make):
    step = make()
    finish = step.finish

    def changed_first():
        path.write_bytes(path.read_bytes().replace(*CHANGED))
        yield from finish()

    step.finish = changed_first
    return step


def test_prepare_says_the_input_changed_and_writes_nothing(source, tmp_path, capsys):
    dpo = format_output("trl", "dpo", tmp_path / "out" / "dpo.jsonl", ConvertOptions())
    dpo = replace(dpo, step=partial(dpo_step_that_changes_its_input, source, dpo.step))
    status = run_and_report([source], [dpo], Namespace(skip_invalid=False, progress=False))
    error = capsys.readouterr().err
    assert status == 1 and "Traceback" not in error and "internal error" not in error
    assert error.startswith(f"error: {source}:") and "the input changed while it was read" in error
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
