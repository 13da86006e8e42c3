"""The benchmarks page: the table and the plot, from the JSON that benchmarks/run.py wrote."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "reference" / "benchmark_results.json"
# run.py's approach ids, as the page names them.
NAMES = {"ours": "ours", "ours_3_steps": "ours in 3 steps", "seed": "load all, then convert", "datasets": "datasets",
         "floor": "floor"}


def targets_table(entries: list[dict]) -> str:
    """The issue's targets, checked against each measured size."""
    lines = ["| input | ours / load all (>= 3) | ours / datasets (>= 5) | ours / floor (>= 0.5) | ours' peak memory (< 300 MB) |",
             "| --- | --- | --- | --- | --- |"]

    for entry in entries:
        target_size = entry["size_mb"] >= 1000  # the targets are set for 1 GB and 2 GB inputs

        def cell(value, ok):
            if value is None:
                return "not run"
            return f"{value} {('(met)' if ok(value) else '(**missed**)') if target_size else '(not a target size)'}"

        by = {r["approach"]: r for r in entry["results"] if "records_per_second" in r}
        ratio = lambda name: by[name].get("ours_vs_this") if name in by else None  # noqa: E731
        peak = by["ours"]["peak_rss_mb"] if "ours" in by else None
        lines.append(f"| {entry['size_mb']} MB | {cell(ratio('seed'), lambda v: v >= 3)} | "
                     f"{cell(ratio('datasets'), lambda v: v >= 5)} | {cell(ratio('floor'), lambda v: v >= 0.5)} | "
                     f"{cell(peak, lambda v: v < 300)} |")
    return "\n".join(lines) + "\n"


def machine_lines(entries: list[dict]) -> str:
    """When, where and with what each size was measured (recorded by benchmarks/run.py)."""
    lines = []
    for entry in entries:
        m = entry.get("machine")
        if not m:
            continue
        packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items())
        lines.append(f"- {entry['size_mb']:,} MB: measured {entry['measured']} with `{entry.get('command', 'run.py')}` on "
                     f"{m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}, Python {m['python']}, {packages}.")
    return "\n".join(lines) + "\n"


def results_tables(entries: list[dict]) -> str:
    """One table per input size, a row per approach."""
    sections = []
    for entry in entries:
        title = f"{entry['size_mb']:,} MB, {entry['records']:,} records" if entry.get("records") else f"{entry['size_mb']:,} MB"
        lines = [f"**{title}**", "", "| approach | records/s | MB/s | seconds | CPU seconds | peak memory (MB) | ours is … times faster |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in entry["results"]:
            name = NAMES.get(r["approach"], r["approach"])
            if "records_per_second" not in r:
                lines.append(f"| {name} | {r.get('failed') or r.get('skipped')} | | | | | |")
            else:
                lines.append(f"| {name} | {r['records_per_second']:,} | {r['mb_per_second']} | {r['seconds']} | "
                             f"{r.get('cpu_seconds', '')} | {r['peak_rss_mb']:,} | {r.get('ours_vs_this', '')} |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def generate(out: Path, samples: Path) -> None:
    entries = json.loads(RESULTS.read_text())
    (out / "benchmark_table.md").write_text(results_tables(entries))
    (out / "benchmark_machine.md").write_text(machine_lines(entries))
    (out / "benchmark_targets.md").write_text(targets_table(entries))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    approaches = ["ours", "ours_3_steps", "seed", "datasets", "floor"]
    colors = {"ours": "#76b900", "ours_3_steps": "#b5d86b", "seed": "#d97706", "datasets": "#3b6fb6", "floor": "#9aa5b1"}
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(10, 3.4), dpi=110)
    width = 0.8 / len(approaches)
    sizes = [f"{e['size_mb']} MB" for e in entries]
    for i, name in enumerate(approaches):
        rates, peaks = [], []
        for entry in entries:
            r = next((r for r in entry["results"] if r["approach"] == name and "records_per_second" in r), None)
            rates.append(r["records_per_second"] if r else 0)
            peaks.append(r["peak_rss_mb"] if r else 0)
        xs = [x + i * width for x in range(len(entries))]
        speed.bar(xs, rates, width, label=NAMES[name], color=colors[name])
        memory.bar(xs, peaks, width, label=name, color=colors[name])
    for ax, title in ((speed, "records per second"), (memory, "peak memory (MB)")):
        ax.set_xticks([x + width * (len(approaches) - 1) / 2 for x in range(len(entries))], sizes)
        ax.set_title(title)
        ax.spines[["top", "right"]].set_visible(False)
    memory.set_yscale("log")
    speed.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "benchmark_plot.png")
    plt.close(fig)
