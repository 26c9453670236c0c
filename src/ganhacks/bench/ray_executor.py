"""``ganhacks ablate --executor ray``: every run (or stack of runs) of an ablation as one Ray task.

The tasks are the same functions the local process pool runs (:func:`ganhacks.bench.ablate.run_one`
and :func:`~ganhacks.bench.ablate.run_stack`), so a run's folder, result row and resumability do not
depend on the executor. A task declares what it needs: ``train.threads`` CPUs (1 when unset) and,
for a run on a CUDA device, one GPU; Ray runs as many at once as the cluster has room for.

A worker that dies (killed, out of memory, its node lost) is Ray's to retry: the retried task finds
the run's newest checkpoint and continues from it, and a result is only ever written at a run's end,
so no run is counted twice. Ray is an optional extra: ``pip install 'ganhacks[ray]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ganhacks.errors import GanhacksError

RETRIES = 3  # attempts after the first for a task whose worker died; a run's own errors are its row's


def require() -> Any:
    """The ``ray`` module; one sentence when it is not installed."""
    try:
        import ray
    except ImportError:
        raise GanhacksError(
            "--executor ray needs Ray, which is not installed; run: pip install 'ganhacks[ray]' (or use --executor pool)."
        ) from None
    return ray


def _task(fn: Callable[..., Any], threads: int, *args: Any) -> Any:
    """One ablation task in a Ray worker, with the CPU threads it declared."""
    import torch

    torch.set_num_threads(threads)
    return fn(*args)


def run_on_ray(
    calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]],
    report: Callable[[Any], None],
    should_stop: Callable[[], bool],
    address: str | None = None,
    threads: int = 1,
    gpus: float = 0.0,
) -> tuple[int, list[str]]:
    """Run each ``(function, args)`` of ``calls`` as a Ray task and pass each result to ``report`` as
    it comes. With no ``address`` it joins the cluster that ``RAY_ADDRESS`` names or starts a local
    one (and shuts that down after); a Ray already initialised in this process is used as it is.
    When ``should_stop()`` turns true, the tasks not finished are cancelled: a run in flight keeps
    its newest periodic checkpoint (``checkpoint.every``), which the next call continues from.
    Returns (how many tasks were cancelled, the errors of the tasks Ray gave up on after ``RETRIES``
    retries: their runs have no result, so the next call continues them)."""
    ray = require()
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        except (ConnectionError, ValueError, RuntimeError) as e:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray"
            raise GanhacksError(
                f"Could not start or join {where} ({str(e).splitlines()[0][:200]}); check --ray-address."
            ) from None
    try:
        remote = ray.remote(_task).options(num_cpus=threads, num_gpus=gpus, max_retries=RETRIES, retry_exceptions=False)
        pending = [remote.remote(fn, threads, *args) for fn, args in calls]
        cancelled, lost = 0, []
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in ready:
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as e:  # its worker died every time: no result, so not done
                    lost.append(str(e).strip().splitlines()[0][:200])
                    continue
                report(result)
            if pending and should_stop():
                for ref in pending:
                    ray.cancel(ref)
                cancelled = len(pending)
                break
        return cancelled, lost
    finally:
        if started_here:
            ray.shutdown()
