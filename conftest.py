"""Root pytest configuration: the doc-block counts at the end of every run."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "tests"))

# Imports VeRL, which lives in its own environment (tests/conformance/); tested there.
# The conformance checkers run inside those environments, as scripts.
collect_ignore = [
    "reference_impl/formats/verl_sft_dataset.py",
    "tests/conformance/check_verl.py",
    "tests/conformance/check_openrlhf.py",
    "tests/conformance/check_verl_tokens.py",
    "tests/conformance/check_nemo_rl_tokens.py",
]


def pytest_terminal_summary(terminalreporter):
    from test_doc_blocks import COUNTS

    if not COUNTS:
        from test_doc_blocks import all_blocks

        COUNTS.update(b.kind for b in all_blocks())
    terminalreporter.write_sep("-", "documentation code blocks")
    terminalreporter.write_line(
        f"executed by the doc tests: {COUNTS['python']} python + {COUNTS['bash']} bash + {COUNTS['run']} run "
        f"(output shown as the build printed it), "
        f"included from code: {COUNTS['included']}, generated output (marked): {COUNTS['output']}, "
        f"marked not-run: {COUNTS['not-run']}, unvouched: {COUNTS['unvouched']}"
    )
