"""The Method contract for every registered method on every registered task it supports.

Each pair runs on one sample of a tiny instance of the task (same generator,
small size), through the harness's own prediction check, so a method that
returns the wrong shape, dtype or range, NaN, or raises fails here before it
fails in a benchmark run.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks._scoring import check_prediction
from benchmarks.registry import METHODS, TASKS
from generators.task import metric_value, sample_rng, supports
from benchmarks.registry import TINY_TASKS as TINY  # the same tiny instances as the golden samples
PAIRS = sorted((t, m) for t in TASKS for m, meth in METHODS.items() if supports(meth, TASKS[t]))
_SAMPLES: dict = {}


def _tiny(task_name: str):
    if task_name not in _SAMPLES:
        task = TINY[task_name]()
        _SAMPLES[task_name] = (task, task.make_sample(sample_rng(123, 0)))
    return _SAMPLES[task_name]


def test_every_registered_task_has_a_tiny_instance():
    assert set(TASKS) <= set(TINY), f"add a tiny instance for {sorted(set(TASKS) - set(TINY))}"


def test_every_registered_method_supports_some_task():
    orphans = [m for m, meth in METHODS.items() if not any(supports(meth, t) for t in TASKS.values())]
    assert not orphans, f"registered methods that no registered task runs: {orphans}"


@pytest.mark.parametrize("task_name, method_name", PAIRS, ids=[f"{t}-{m}" for t, m in PAIRS])
def test_method_contract_on_tiny_task(task_name, method_name):
    task, sample = _tiny(task_name)
    method = METHODS[method_name]
    target = sample.target[task.target_key]
    calls = list(task.protocol.calls(sample, seed=task.test_seed, index=0))
    call = calls[-1]  # the largest condition (e.g. the most views)
    before = {k: np.copy(v) for k, v in call.inputs.items()}
    out = check_prediction(method.restore(dict(call.inputs)), target)
    assert out.shape == target.shape and out.dtype == target.dtype
    if np.issubdtype(out.dtype, np.floating):
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    for k, v in call.inputs.items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"{method_name} modified its input {k!r}")
    for name, metric in task.metrics.items():
        value = metric_value(metric, target, out, sample)
        assert np.isfinite(value) or np.isnan(value), f"{name} = {value}"


def test_registered_tasks_and_methods_pickle_for_worker_processes():
    """The harness sends tasks (metrics included) and methods to spawned workers."""
    import pickle

    for name, task in TASKS.items():
        pickle.dumps(task)
    for name, method in METHODS.items():
        pickle.dumps(method)
