"""Every code block on the site is run, included from tested code, or marked with a reason."""

from collections import Counter
from pathlib import Path

from doc_blocks import Block, pages, scan_page

DOCS = Path(__file__).resolve().parents[1] / "docs"
COUNTS: Counter = Counter()


def all_blocks() -> list[Block]:
    return [block for page in pages(DOCS) for block in scan_page(page)]


def test_every_block_is_vouched_for():
    blocks = all_blocks()
    COUNTS.update(block.kind for block in blocks)
    unvouched = [f"{b.page.relative_to(DOCS)}:{b.line}: ```{b.info} ({b.reason})" for b in blocks if b.kind == "unvouched"]
    assert not unvouched, "code blocks nobody vouches for:\n" + "\n".join(unvouched)
    assert COUNTS["python"] + COUNTS["bash"] + COUNTS["run"] > 0, "no executed blocks found: is the scanner looking at the pages?"


def test_not_run_blocks_say_why():
    for block in all_blocks():
        if block.kind == "not-run":
            assert len(block.reason) > 10, f"{block.page}:{block.line}: give a real reason for not running it"


def test_scanner_classifies(tmp_path):
    page = tmp_path / "p.md"
    page.write_text(
        "```python\nx = 1\n```\n\n% not-run: needs 8 GPUs\n```bash\ntorchrun x\n```\n\n"
        "```{literalinclude} ../reference_impl/io.py\n:pyobject: sha256_of\n```\n\n"
        "% output: what the script printed\n```text\nread 3\n```\n\n```{run}\npython scripts/a.py\n```\n\n"
        "```yaml\na: 1\n```\n"
        "::::{grid} 2\n:::{card} x\n```json\n{}\n```\n:::\n::::\n"
    )
    kinds = [b.kind for b in scan_page(page)]
    assert kinds == ["python", "not-run", "included", "output", "run", "unvouched", "unvouched"]
