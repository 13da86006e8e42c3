"""The engine's byte ranges as Ray tasks, for inputs that sit on a cluster's storage.

``prepare.py --engine ray`` runs the workers of {mod}`reference_impl.pipeline` on a Ray
cluster (``--ray-address``) or on a local one, through Ray Data: one task per line-aligned
byte range, read with our reader (so ``file:line`` survives; never ``read_json``, whose
Arrow schema inference fails on mixed real records), each giving back its rows already
serialised to JSON Lines (never ``write_json``, which merges row shapes) and its counts.
The driver joins them in file order and writes each output as the local engine does: to a
temporary file renamed into place, with its manifest. The outputs are the local engine's,
byte for byte. Every node must see the input file at the same path and have this package.

Ray is optional (``pip install -e '.[ray]'``); it is imported only here, and only when used.
"""

from __future__ import annotations

import pickle

__all__ = ["ray_map_ranges", "ray_workers"]


def _connect(address: str | None) -> None:
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 configure_logging=False)
    import logging

    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # our report says what was done
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False


def ray_workers(address: str | None) -> int:
    """How many byte ranges to cut the input into: the cluster's processors."""
    import ray

    _connect(address)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _run_range(item: dict) -> dict:
    """In a Ray task: one byte range's worker; its error, if any, is sent back as a result."""
    work, job = pickle.loads(item["job"])
    try:
        return {"number": job.number, "result": pickle.dumps(work(job)), "error": b""}
    except Exception as exc:  # raised again by the driver, in range order
        return {"number": job.number, "result": b"", "error": pickle.dumps(exc)}


def ray_map_ranges(address: str | None, work, jobs: list) -> list:
    """Run ``work(job)`` for each range's job as a Ray task; the results in range order (the
    first range's error is raised, as one pass would meet it first)."""
    import ray.data

    _connect(address)
    items = [{"job": pickle.dumps((work, job))} for job in jobs]
    done = ray.data.from_items(items, override_num_blocks=len(items)).map(_run_range).take_all()
    results = []
    for item in sorted(done, key=lambda item: item["number"]):
        if item["error"]:
            raise pickle.loads(item["error"])
        results.append(pickle.loads(item["result"]))
    return results
