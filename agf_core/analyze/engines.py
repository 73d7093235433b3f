"""Where the workers run: "local" (this process, one worker, needs nothing more) or "ray" (Ray actors that
each keep the models loaded; a local Ray, or an existing cluster by `address`). Both hand each input's Result
to `on_result` as soon as it is there.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import replace
from pathlib import Path
from typing import Callable

from .worker import AnalyzeOptions, Analyzer, Result

log = logging.getLogger(__name__)
ENGINES = ("local", "ray")
ROOT = Path(__file__).resolve().parents[2]     # the folder holding agf_core, for a local Ray's workers


def file_bar(total: float, desc: str):
    from tqdm import tqdm
    return tqdm(total=round(total, 1), desc=desc[:30], unit="s", leave=False, position=1,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s media [{elapsed}<{remaining}]")


def ray_bar(total: float, desc: str):
    """A per-file bar drawn by the driver for an actor (Ray's tqdm)."""
    from ray.experimental.tqdm_ray import tqdm
    return tqdm(total=round(total, 1), desc=desc[:30], unit="s")


def run_local(paths: list[Path], out: Path, options: AnalyzeOptions, on_result: Callable[[Result], None],
              bars: bool = True) -> None:
    worker = Analyzer(options)       # the models, once
    for p in paths:
        on_result(worker.analyze(str(p), str(out), file_bar if bars else None))


class QuietAnalyzer(Analyzer):
    """A Ray actor's worker: its native libraries' noise is dropped before it reaches the driver's terminal."""

    def __init__(self, options: AnalyzeOptions):
        from agf_core.predict import filter_stderr
        filter_stderr()
        super().__init__(options)


def check_address(address: str) -> None:
    """Refuse an address that is malformed or where nothing answers, in one line, before Ray waits on it."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"Ray address {address!r} is not accepted; accepted: HOST:PORT of a cluster's head "
                         "(port 6379 by default), ray://HOST:10001, or auto")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise ValueError(f"Ray address {address} does not answer ({e.strerror or e}); start the cluster "
                         "(`ray start --head` on its head node) or leave out --address for a local Ray") from None


def start_ray(workers: int, threads: int, address: str | None):
    """Connect to the cluster at `address`, or start a small local Ray: no dashboard, no usage statistics."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"     # no telemetry, also for the processes Ray starts
    if address:
        check_address(address)
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'agf-live[batch]'") from None
    if address:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=True)
    else:
        # Ray runs workers at nice 15 by default: on a shared machine they then starved (a matmul 16x slower,
        # models loading in 150 s instead of 10); here the workers are the job, at this process's priority
        os.environ.setdefault("RAY_worker_niceness", "0")
        # the local workers import agf_core from this checkout even when it is not pip-installed
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        ray.init(num_cpus=workers * threads, include_dashboard=False, logging_level=logging.WARNING,
                 object_store_memory=200 * 2 ** 20, log_to_driver=True)
    return ray


def run_ray(paths: list[Path], out: Path, options: AnalyzeOptions, on_result: Callable[[Result], None],
            workers: int = 2, address: str | None = None, bars: bool = True) -> None:
    """Each of `workers` actors takes the next input when it is free; an actor that dies (out of memory, a
    node lost) fails only its input and is replaced."""
    threads = options.threads or 1
    ray = start_ray(workers, threads, address)
    try:
        actor = ray.remote(num_cpus=threads)(QuietAnalyzer)
        options = replace(options, threads=threads)
        target = str(out.resolve())    # on a real cluster: a folder every node sees (a shared file system)
        todo, running = list(reversed(paths)), {}
        idle = [actor.remote(options) for _ in range(min(workers, len(paths)))]
        while todo or running:
            while idle and todo:
                a, p = idle.pop(), todo.pop()
                running[a.analyze.remote(str(p.resolve()), target, ray_bar if bars else None)] = (a, p)
            [ref], _ = ray.wait(list(running), num_returns=1)
            a, p = running.pop(ref)
            try:
                on_result(ray.get(ref))
                idle.append(a)
            except ray.exceptions.RayError as e:
                on_result(Result(str(p), "failed", error=f"{p}: the Ray worker failed ({type(e).__name__})"))
                idle.append(actor.remote(options))
    finally:
        ray.shutdown()
