"""Every script's outputs are the recorded ones, byte for byte (tests/golden.py says how they are recorded)."""

import json

import pytest
from golden import GOLDEN, current
from paths import REAL_FILES


@pytest.fixture(scope="module")
def now():
    return current()


def test_outputs_are_the_recorded_ones(now):
    golden = json.loads(GOLDEN.read_text())
    if not REAL_FILES:  # without ../shared, the samples alone
        golden = {"rollouts": golden["rollouts"]}
    assert set(now) == set(golden)
    for source in golden:
        for script, expected in golden[source].items():
            assert now[source][script] == expected, (source, script)
