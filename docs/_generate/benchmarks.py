"""The benchmarks page: its tables and plot, from the JSON that benchmarks/run.py wrote.

``docs/reference/benchmark_results.json`` is a list of runs, each one input file (its
``kind``: synthetic or real records, and its size) measured with some approaches at some
numbers of cores. Runs of the same input are read together.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "reference" / "benchmark_results.json"
# run.py's approach ids, as the page names them.
NAMES = {"floor": "parse only, 1 process", "floor_all_cores": "parse only, all cores", "prepare": "prepare.py",
         "plain_all_cores": "simplest Python, all cores",
         "filter": "filter_rollouts.py", "filter_load_all": "filter, load all first", "stats": "rollout_stats.py",
         "stats_load_all": "stats, load all first", "two_step": "filter, then prepare_for_trl",
         "sft_grpo": "prepare.py (SFT + GRPO)", "sft_grpo_load_all": "load all, then convert",
         "sft_grpo_datasets": "datasets"}
OURS = ("prepare", "filter", "stats", "two_step")
TARGET_SIZES_MB = (1000, 2000)
FLAT = 1.10  # "flat in input size": the 2 GB peak within 10 % of the 1 GB one


def inputs(entries: list[dict]) -> dict[tuple[str, int], dict]:
    """The runs of each input (kind, size in MB), merged: ``{"results": {(approach, cores): result}}``."""
    merged: dict[tuple[str, int], dict] = {}
    for entry in entries:
        key = (entry.get("kind", "synthetic"), entry["size_mb"])
        into = merged.setdefault(key, {"records": entry.get("records"), "results": {}, "runs": []})
        into["runs"].append(entry)
        for result in entry["results"]:
            into["results"][(result["approach"], result.get("cores", entry["machine"]["cores"]))] = result
    return dict(sorted(merged.items()))


def measured(results: dict, name: str, cores: int | None = None) -> dict | None:
    """The measured result of an approach, on ``cores`` cores or else the most it ran on."""
    found = [(c, r) for (n, c), r in results.items() if n == name and "seconds" in r and (cores is None or c == cores)]
    return max(found, key=lambda item: item[0])[1] if found else None


def target_values(results: dict) -> dict:
    """The targets' measures for one input (``None`` where an approach was not measured)."""
    def get(name):
        return measured(results, name)

    def ratio(a, b, key):
        return round(a[key] / b[key], 2) if a and b else None

    peaks = [get(name)["peak_rss_mb"] for name in OURS if get(name)]
    return {"prepare_vs_all_core_floor": ratio(get("prepare"), get("floor_all_cores"), "records_per_second"),
            "plain_vs_all_core_floor": ratio(get("plain_all_cores"), get("floor_all_cores"), "records_per_second"),
            "filter_speedup": ratio(get("filter_load_all"), get("filter"), "seconds"),
            "stats_speedup": ratio(get("stats_load_all"), get("stats"), "seconds"),
            "two_step_vs_floor": ratio(get("two_step"), get("floor"), "seconds"),
            "peak_mb": max(peaks) if peaks else None}


def targets_table(groups: dict) -> str:
    """The issue's targets, checked against each measured input."""
    lines = ["| input | prepare.py / all-core parse (≥ 0.5) | the simplest Python / all-core parse (no target) | "
             "filter: load all / ours (≥ 3) | "
             "stats: load all / ours (≥ 3) | two-step / 1-process parse (≤ 2) | peak memory of ours (< 300 MB) | "
             "peak memory, 2 GB / 1 GB (flat: ≤ 1.1) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (kind, size), group in groups.items():
        values = target_values(group["results"])
        target_size = size in TARGET_SIZES_MB

        def cell(value, ok, unit=""):
            if value is None:
                return "not measured"
            verdict = ("met" if ok(value) else "**missed**") if target_size else "not a target size"
            return f"{value:,}{unit} ({verdict})"

        growth = "–"
        smaller = groups.get((kind, size // 2))
        if smaller is not None:
            ratios = {}
            for name in OURS:
                now, before = measured(group["results"], name), measured(smaller["results"], name)
                if now and before:
                    ratios[name] = round(now["peak_rss_mb"] / before["peak_rss_mb"], 2)
            grown = [f"{NAMES[name]} {ratio}" for name, ratio in ratios.items() if ratio > FLAT]
            growth = (f"{max(ratios.values())} (met)" if not grown else
                      f"**missed**: {', '.join(grown)}; the others ≤ {FLAT}") if ratios else "not measured"
        plain = values["plain_vs_all_core_floor"]
        lines.append(f"| {kind}, {size:,} MB | {cell(values['prepare_vs_all_core_floor'], lambda v: v >= 0.5, 'x')} | "
                     f"{'not measured' if plain is None else f'{plain:,}x'} | "
                     f"{cell(values['filter_speedup'], lambda v: v >= 3, 'x')} | "
                     f"{cell(values['stats_speedup'], lambda v: v >= 3, 'x')} | "
                     f"{cell(values['two_step_vs_floor'], lambda v: v <= 2, 'x')} | "
                     f"{cell(values['peak_mb'], lambda v: v < 300, ' MB')} | {growth} |")
    return "\n".join(lines) + "\n"


def results_tables(groups: dict) -> str:
    """One table per input, a row per approach, on all the cores each ran on."""
    sections = []
    for (kind, size), group in groups.items():
        records = f", {group['records']:,} records" if group.get("records") else ""
        lines = [f"**{kind}, {size:,} MB{records}**", "",
                 "| approach | cores | records/s | MB/s | seconds | CPU seconds | peak memory (MB) |",
                 "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        ordered = sorted(group["results"].items(), key=lambda item: (-item[0][1], list(NAMES).index(item[0][0])))
        for (name, cores), r in ordered:
            if "seconds" not in r:
                lines.append(f"| {NAMES.get(name, name)} | {cores} | {r.get('failed') or r.get('skipped')} | | | | |")
            else:
                lines.append(f"| {NAMES.get(name, name)} | {cores} | {r['records_per_second']:,} | {r['mb_per_second']} | "
                             f"{r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_mb']:,} |")
        sections.append("\n".join(lines))
    return "\n\n".join(sections) + "\n"


def amdahl(speedup: float, cores: int = 2) -> float:
    """The serial share of the work that a speed-up on ``cores`` cores implies (Amdahl's law).

    >>> amdahl(2.0), amdahl(1.0), round(amdahl(1.6), 3)
    (0.0, 1.0, 0.25)
    """
    serial = (cores / speedup - 1) / (cores - 1)
    return round(min(1.0, max(0.0, serial)), 3)


def projected(serial: float, cores: int) -> float:
    """The speed-up Amdahl's law gives on ``cores`` cores for this serial share.

    >>> projected(0.25, 16)
    3.37
    """
    return round(1 / (serial + (1 - serial) / cores), 2)


def scaling_table(groups: dict) -> str:
    """From 1 core to all: measured, then on paper for more cores."""
    lines = ["| input | approach | 1 core (s) | 2 cores (s) | speed-up | serial share | on paper: 4 cores | 8 cores | 16 cores |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (kind, size), group in groups.items():
        for name in ("floor_all_cores", "plain_all_cores") + OURS:
            one, two = measured(group["results"], name, 1), measured(group["results"], name, 2)
            if not (one and two):
                continue
            speedup = round(one["seconds"] / two["seconds"], 2)
            serial = amdahl(speedup)
            lines.append(f"| {kind}, {size:,} MB | {NAMES[name]} | {one['seconds']} | {two['seconds']} | {speedup}x | "
                         f"{serial:.0%} | " + " | ".join(f"{projected(serial, n)}x" for n in (4, 8, 16)) + " |")
    return "\n".join(lines) + "\n"


def machine_lines(entries: list[dict]) -> str:
    """When, where and with what each run was measured (recorded by benchmarks/run.py)."""
    lines = []
    for entry in entries:
        m = entry["machine"]
        packages = ", ".join(f"{name} {version}" for name, version in m["packages"].items())
        lines.append(f"- {entry.get('kind', 'synthetic')}, {entry['size_mb']:,} MB: measured {entry['measured']} with "
                     f"`{entry['command']}` on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['os']}, "
                     f"Python {m['python']}, {packages}.")
    return "\n".join(lines) + "\n"


def plot(groups: dict, path: Path) -> None:
    """MB/s of each approach on each input (all cores), and the peak memory of ours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["floor", "floor_all_cores", "prepare", "plain_all_cores", "filter", "filter_load_all", "stats",
             "stats_load_all", "two_step"]
    colors = {"floor": "#9aa5b1", "floor_all_cores": "#5f6b78", "prepare": "#76b900", "plain_all_cores": "#7aa6d8",
              "filter": "#4e8f00",
              "filter_load_all": "#d97706", "stats": "#2f6f00", "stats_load_all": "#b45309", "two_step": "#b5d86b"}
    labels = [f"{kind}\n{size / 1000:g} GB" for kind, size in groups]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(11, 3.8), dpi=110, gridspec_kw={"width_ratios": [3, 1.4]})
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [(measured(g["results"], name) or {}).get("mb_per_second", 0) for g in groups.values()]
        speed.bar([x + i * width for x in range(len(groups))], values, width, label=NAMES[name], color=colors[name])
    speed.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(groups))], labels)
    speed.set_title("MB per second (all cores)")
    speed.legend(frameon=False, fontsize=7, ncol=2)
    ours = ["prepare", "filter", "stats", "two_step"]
    width = 0.8 / len(ours)
    for i, name in enumerate(ours):
        values = [(measured(g["results"], name) or {}).get("peak_rss_mb", 0) for g in groups.values()]
        memory.bar([x + i * width for x in range(len(groups))], values, width, color=colors[name])
    memory.axhline(300, color="#c0392b", linewidth=1, linestyle="--")
    memory.text(len(groups) - 0.6, 300, "300 MB", color="#c0392b", fontsize=7, va="bottom", ha="right")
    memory.set_xticks([x + width * (len(ours) - 1) / 2 for x in range(len(groups))], labels)
    memory.set_title("peak memory of the scripts (MB)\ncolors as on the left", fontsize=10)
    for ax in (speed, memory):
        ax.spines[["top", "right"]].set_visible(False)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def generate(out: Path, samples: Path) -> None:
    entries = json.loads(RESULTS.read_text())
    groups = inputs(entries)
    (out / "benchmark_table.md").write_text(results_tables(groups))
    (out / "benchmark_machine.md").write_text(machine_lines(entries))
    (out / "benchmark_targets.md").write_text(targets_table(groups))
    (out / "benchmark_scaling.md").write_text(scaling_table(groups))
    plot(groups, out / "benchmark_plot.png")
