"""``prepare.py --engine ray``: the engine's byte ranges as Ray tasks on a local Ray, writing
exactly what one pass writes (the ``[ray]`` extra; skipped without Ray)."""

import json
import subprocess
import sys

import pytest
from paths import ROOT, SAMPLES
from test_prepare_many import big_input, every_output, outputs, same_files

from reference_impl.pipeline import InternalError, InvalidInput, NothingToWrite, Output, run_many

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def test_ray_writes_what_one_pass_writes(local_ray, tmp_path):
    source = big_input(tmp_path, bad_lines=(1700, 40))
    alone = run_many([source], every_output(tmp_path / "one"), skip_invalid=True, workers=1)
    on_ray = run_many([source], every_output(tmp_path / "ray"), skip_invalid=True, ray_address=None)
    same_files(alone, on_ray)
    assert on_ray[0].rejects.read_bytes() == alone[0].rejects.read_bytes()
    assert json.loads(on_ray[0].manifest.read_text())["run"]["engine"] == "ray"
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".")]  # nothing left behind


def test_ray_is_strict_too(local_ray, tmp_path):
    source = big_input(tmp_path, bad_lines=(1700, 40))
    with pytest.raises(InvalidInput) as caught:
        run_many([source], outputs(tmp_path / "out"), ray_address=None)
    assert caught.value.error.line == 40
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_ray_refuses_an_output_without_rows_and_writes_nothing(local_ray, tmp_path):
    from functools import partial

    from reference_impl.filters import FilterOptions, RawLineWriter, filter_step

    source = big_input(tmp_path, copies=4, bad_lines=(40,))
    nothing = Output(tmp_path / "out" / "none.jsonl", partial(filter_step, FilterOptions(min_reward=2.0)), RawLineWriter)
    with pytest.raises(NothingToWrite) as refused:
        run_many([source], outputs(tmp_path / "out") + [nothing], skip_invalid=True, ray_address=None)
    assert [path.name for path, _ in refused.value.empty] == ["none.jsonl"]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_ray_reads_one_uncompressed_file(local_ray, tmp_path):
    with pytest.raises(ValueError, match="one uncompressed file"):
        run_many([SAMPLES, SAMPLES], outputs(tmp_path), ray_address=None)


def test_prepare_engine_ray(tmp_path):
    """The command line, on a local Ray it starts itself; the files are those of the local engine."""
    source = big_input(tmp_path, copies=4)
    for engine in ("local", "ray"):
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "prepare.py"), "--input", str(source),
                               "--to", f"trl:sft={engine}/sft.jsonl", "--to", f"verl:grpo={engine}/grpo.jsonl",
                               "--to", f"trl:dpo={engine}/dpo.jsonl", "--engine", engine, "--no-progress"],
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    for name in ("sft.jsonl", "grpo.jsonl", "dpo.jsonl"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
