"""Where a matrix's worker groups run: local worker processes (joblib's loky), a dask.distributed
cluster, or a ray cluster. Each yields a group's payloads as soon as the group finishes; a new
backend is one branch here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nvbench.errors import NvbenchError, UnavailableError, UnknownNameError
from nvbench.schedule import Attempt, MatrixOptions, run_attempts

BACKENDS = ("local", "dask", "ray")


def connect_dask(address: str | None, timeout: float = 10.0) -> Any:
    """A client of a running dask.distributed scheduler; an unreachable one is one clear error."""
    try:
        from distributed import Client
    except ImportError:
        raise UnavailableError("--backend dask needs dask.distributed: pip install 'nvbench[dask]'") from None
    if not address:
        raise NvbenchError("--backend dask needs --scheduler tcp://HOST:PORT (the address of a running "
                           "dask scheduler, e.g. from `dask scheduler`)")
    try:
        return Client(address, timeout=f"{timeout}s", set_as_default=False)
    except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address
        raise NvbenchError(f"cannot reach the dask scheduler at {address}: {exc}") from None


def _dask_slots(client: Any) -> dict[str, int]:
    slots: dict[str, int] = {}
    for addr, info in client.scheduler_info(n_workers=-1).get("workers", {}).items():
        host = addr.rsplit(":", 1)[0].split("//")[-1]
        slots[host] = slots.get(host, 0) + int(info.get("nthreads", 1))
    return slots


def run_groups(groups: list[list[Attempt]], root: str, opts: MatrixOptions,
               plugins: dict[str, dict[str, str]]) -> Iterator[list[dict[str, Any]]]:
    """Yield each group's payloads (run_attempts in a worker) as soon as it finishes, on the
    chosen backend. `plugins`: the parent's registry entries, registered again in each worker."""
    import joblib

    call = joblib.delayed(run_attempts)
    if opts.backend == "local":
        par = joblib.Parallel(n_jobs=opts.jobs, backend="loky", return_as="generator_unordered")
        yield from par(call(g, root, opts, plugins, opts.jobs) for g in groups)
    elif opts.backend == "dask":
        client = connect_dask(opts.scheduler, opts.connect_timeout)
        try:
            slots = _dask_slots(client)
            with client.as_current(), joblib.parallel_config(backend="dask"):
                par = joblib.Parallel(n_jobs=-1, return_as="generator_unordered")
                yield from par(call(g, root, opts, plugins, slots) for g in groups)
        finally:
            client.close()
    elif opts.backend == "ray":
        try:
            import ray
        except ImportError:
            raise UnavailableError("--backend ray needs ray: pip install 'nvbench[ray]'") from None
        try:
            ray.init(address=opts.address, ignore_reinit_error=True, logging_level="ERROR",
                     include_dashboard=False)
        except Exception as exc:
            raise NvbenchError(f"cannot reach the ray cluster at {opts.address}: {exc}") from None
        # ray's joblib backend cannot stream results (no return_as generator), so groups go to
        # ray tasks directly and come back as each finishes. A task reserves one CPU, hence one
        # torch thread (slots=None).
        remote = ray.remote(num_cpus=1)(run_attempts)
        waiting = [remote.remote(g, root, opts, plugins, None) for g in groups]
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            yield ray.get(ready[0])
    else:
        raise UnknownNameError("backend", opts.backend, BACKENDS)

