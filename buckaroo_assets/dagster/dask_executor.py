"""``buckaroo_dask_executor``: dagster-dask's executor, able to run asset jobs and dynamic outputs.

Why it exists. ``dagster_dask.dask_executor`` (dagster-dask 0.29, with dagster 1.13)
cannot run a fragmented dataset, for two reasons:

- It passes the run record (``DagsterRun``) to ``Client.submit`` as an argument.
  Dask (distributed 2026.8) walks every tuple argument looking for
  futures, namedtuples included, and the run record can hold Dagster
  ``@record`` values, which refuse iteration: its ``RunOpConcurrency`` as soon
  as a step is in a pool (every bundle asset is, in ``buckaroo``), or a
  key-range partitions subset. Such a run fails before its first step.
- It submits the whole plan at once, level by level, as the plan stands before
  the run starts. Steps mapped over a dynamic output (one per fragment) and the
  step collecting them do not exist yet, so they are never run, and the run
  still ends in success with no bundle built.

What it changes. Steps go to Dask one at a time, as Dagster's own plan state
(``ActiveExecution``, which the multiprocess executor uses too) makes them
ready, so dynamic outputs resolve as in any other executor; each task's
arguments are bound in a ``functools.partial``, which Dask passes through
without walking it. Everything else is dagster-dask's: the config schema, the
``DaskExecutor`` built from it (cluster kind and keyword arguments,
``threads_per_worker`` forced to 1 on local clusters, no step retries), the
step runner on the worker (``query_on_dask_worker``) and the per-step Dask
resources (the ``dagster-dask/resource_requirements`` tag). As with
dagster-dask's executor, instance pools do not bound its steps: the cluster's
size and Dask resources do.

dagster-dask is an optional dependency (``pip install 'buckaroo-assets[dask]'``):
it is imported when ``buckaroo_dask_executor`` is first used, never when this
module or ``buckaroo_assets.dagster`` is imported.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster import _check as check
from dagster._core.errors import raise_execution_interrupts
from dagster._core.execution.plan.active import ActiveExecution

if TYPE_CHECKING:
    import distributed
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.execution.context.system import PlanOrchestrationContext
    from dagster._core.execution.plan.plan import ExecutionPlan
    from dagster._core.execution.plan.state import KnownExecutionState
    from dagster._core.execution.retries import RetryMode
    from dagster._core.instance.ref import InstanceRef
    from dagster_dask.executor import DaskExecutor

__all__ = ["BuckarooDaskExecutor", "buckaroo_dask_executor"]  # noqa: F822 (module __getattr__)

# The cluster classes of dagster-dask's ``cluster`` config kinds ("existing" is an address).
_CLUSTERS = {
    "local": "dask.distributed:LocalCluster",
    "ssh": "dask.distributed:SSHCluster",
    "yarn": "dask_yarn:YarnCluster",
    "kube": "dask_kubernetes:KubeCluster",
    "pbs": "dask_jobqueue:PBSCluster",
    "moab": "dask_jobqueue:MoabCluster",
    "sge": "dask_jobqueue:SGECluster",
    "lsf": "dask_jobqueue:LSFCluster",
    "slurm": "dask_jobqueue:SLURMCluster",
    "oar": "dask_jobqueue:OARCluster",
}


def _run_step(
    recon_job: ReconstructableJob,
    run: dg.DagsterRun,
    run_config: Mapping[str, object],
    step_key: str,
    instance_ref: InstanceRef,
    known_state: KnownExecutionState,
) -> list[str]:
    """On a Dask worker: one step through dagster-dask's runner; its events go back as serdes
    JSON, which Dask's size estimate reads without walking Dagster records."""
    from dagster_dask.executor import query_on_dask_worker

    events = query_on_dask_worker(
        None, recon_job, run, run_config, [step_key], instance_ref, known_state
    )
    return [dg.serialize_value(event) for event in events]


class BuckarooDaskExecutor(dg.Executor):
    """Runs each step as a Dask task once Dagster's plan state says it is ready."""

    def __init__(self, dask: DaskExecutor) -> None:
        self._dask = dask

    @property
    def retries(self) -> RetryMode:
        return self._dask.retries

    @contextmanager
    def _client(self, job_name: str) -> Iterator[distributed.Client]:
        """A client of the configured cluster; a cluster started here is closed after the run."""
        import distributed

        kind = self._dask.cluster_type
        if kind == "existing":
            with distributed.Client(self._dask.cluster_configuration["address"]) as client:
                yield client
            return
        module, name = _CLUSTERS[kind].split(":")
        cluster = getattr(importlib.import_module(module), name)(**self._dask.build_dict(job_name))
        with closing(cluster), distributed.Client(cluster) as client:
            yield client

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[dg.DagsterEvent]:
        import distributed
        from dagster_dask.executor import get_dask_resource_requirements

        check.invariant(
            plan_context.instance.is_persistent,
            "Dask execution requires a persistent DagsterInstance",
        )
        run = plan_context.dagster_run
        task = functools.partial(
            _run_step, plan_context.reconstructable_job, run, plan_context.run_config
        )
        instance_ref = plan_context.instance.get_ref()
        with (
            self._client(run.job_name) as client,
            ActiveExecution(execution_plan, retry_mode=self.retries) as active,
        ):
            running: dict[distributed.Future, str] = {}
            while not active.is_complete:
                for step in active.get_steps_to_execute():
                    future = client.submit(
                        functools.partial(task, step.key, instance_ref, active.get_known_state()),
                        key=f"{run.job_name}.{step.key}.{run.run_id}",
                        resources=get_dask_resource_requirements(step.tags),
                    )
                    running[future] = step.key
                yield from active.plan_events_iterator(plan_context)
                if not running:
                    continue
                with raise_execution_interrupts():
                    done, _ = distributed.wait(list(running), return_when="FIRST_COMPLETED")
                for future in done:
                    step_key = running.pop(future)
                    for serialized in future.result():
                        event = dg.deserialize_value(serialized, dg.DagsterEvent)
                        yield event
                        active.handle_event(event)
                    active.verify_complete(plan_context, step_key)


@functools.cache
def _definition() -> dg.ExecutorDefinition:
    """The executor definition, built on first use: dagster-dask is first imported here."""
    try:
        from dagster_dask import dask_executor
    except ImportError as error:
        raise ImportError(
            "buckaroo_dask_executor needs dagster-dask: pip install 'buckaroo-assets[dask]'"
        ) from error

    @dg.executor(
        name="buckaroo_dask",
        config_schema=dask_executor.config_schema,
        requirements=dg.multiple_process_executor_requirements(),
    )
    def buckaroo_dask_executor(init_context: dg.InitExecutorContext) -> BuckarooDaskExecutor:
        """dagster-dask's executor and config (``cluster: local: n_workers: ...``), which also
        runs asset jobs and steps mapped over dynamic outputs."""
        return BuckarooDaskExecutor(dask_executor.executor_creation_fn(init_context))

    return buckaroo_dask_executor


def __getattr__(name: str) -> Any:
    if name == "buckaroo_dask_executor":
        return _definition()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
