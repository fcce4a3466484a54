"""Scoring one method on one test sample: the unit of work of the harness.

A *unit* is ``(sample index, method name)``. Its result depends on nothing
else (the sample is read from the cached split, the calls come from the
task's protocol, a pure function of the split seed and the sample index), so
units can run in any order on any number of worker processes and the rows are
identical.

The calls per sample are the task's (``Task.protocol``, see
:mod:`generators.task`): one call by default; bookcovers' view subsets
(Deep Residual Sets, section 5.1) give one call per (number of views, draw).
The harness knows nothing task-specific beyond that.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from generators._runtime import die_with_parent
from generators.metrics import reuse_reference_statistics, reuse_results
from generators.task import Method, Task, ViewSubsets, draw_subset, metric_value, not_applicable

DRAWS = ViewSubsets().draws
"""Random view subsets per sequence and per number of views (DRS, sec. 5.1)."""

RANGE_TOLERANCE = 1e-3
"""Float predictions may leave [0, 1] by this much (rounding) before they are
rejected; within it they are clipped. Beyond it the call is a failure that
names the range found (e.g. a method returning [0, 255])."""

GAIN_CORRECTED = "gain-corrected"
"""``variant`` of the score of a method with an unknown global output gain
after the least-squares gain against the target is applied."""

_MAX_MESSAGE = 400


def draw_views(n_total: int, *, seed: int, index: int, n: int, draw: int) -> np.ndarray:
    """The view indices of one draw; :func:`generators.task.draw_subset`."""
    return draw_subset(n_total, seed=seed, index=index, n=n, draw=draw)


def gain_correct(target: np.ndarray, prediction: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale ``prediction`` by the least-squares global gain against ``target``.

    ``a = <t, p> / <p, p>`` over all pixels and channels (1 when the
    prediction is all zero); ``a * p`` is clipped to [0, 1] so that metrics
    with ``data_range=1`` stay meaningful. Used ONLY for the score labelled
    ``variant == "gain-corrected"`` of methods with ``output_gain_unknown``.

    Returns
    -------
    (corrected float32 prediction, gain a)
    """
    t = target.astype(np.float64, copy=False).ravel()
    p = prediction.astype(np.float64, copy=False).ravel()
    pp = float(p @ p)
    gain = float(t @ p) / pp if pp > 0 else 1.0
    return np.clip(prediction.astype(np.float64) * gain, 0.0, 1.0).astype(np.float32), gain


def check_prediction(prediction: Any, target: np.ndarray) -> np.ndarray:
    """Validate a method's output against the target; return it as target dtype.

    Float outputs of another float dtype are cast to the target's dtype;
    everything else that breaks the Method contract raises ValueError.
    """
    if not isinstance(prediction, np.ndarray):
        raise ValueError(f"restore returned {type(prediction).__name__}, expected a numpy array")
    if prediction.shape != target.shape:
        raise ValueError(f"restore returned shape {prediction.shape}, expected {target.shape}")
    if np.issubdtype(target.dtype, np.floating):
        if not np.issubdtype(prediction.dtype, np.floating):
            raise ValueError(f"restore returned dtype {prediction.dtype}, expected {target.dtype}")
        if not np.isfinite(prediction).all():
            raise ValueError("restore returned NaN or Inf")
        lo, hi = float(prediction.min()), float(prediction.max())
        if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            raise ValueError(f"restore returned values in [{lo:.4g}, {hi:.4g}], expected [0, 1] "
                             "(images are float in [0, 1], not 8-bit)")
        return np.clip(prediction, 0, 1).astype(target.dtype, copy=False)
    if np.issubdtype(target.dtype, np.integer) and not np.issubdtype(prediction.dtype, np.integer):
        raise ValueError(f"restore returned dtype {prediction.dtype}, expected integer labels")
    return prediction


@dataclass
class UnitResult:
    """Everything one unit produced (plain Python data, cheap to pickle)."""

    rows: list[dict] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    not_applicable: list[dict] = field(default_factory=list)  # calls the method declares it cannot take
    # (sample, condition, draw, method label) -> prediction, for the report's examples
    examples: dict[tuple, np.ndarray] = field(default_factory=dict)
    seconds: float = 0.0  # wall seconds the unit took in its worker (methods and metrics)


def example_part(pred: np.ndarray) -> np.ndarray:
    """What the report shows of a prediction (:func:`benchmarks._examples.write_examples`): a clip or
    stack (T, H, W, C) is shown by its middle frame, so only that frame is kept, as a one-frame stack; a
    125-frame 128x128 caption clip is 24.6 MB of float32 that every example unit otherwise pickled to
    the parent and to the resume files."""
    pred = np.asarray(pred)
    if pred.ndim == 4:
        mid = pred.shape[0] // 2
        return np.ascontiguousarray(pred[mid : mid + 1])
    return pred


def _one_line(err: BaseException) -> str:
    msg = f"{type(err).__name__}: {err}".replace("\r", " ").replace("\n", " ").strip()
    return msg if len(msg) <= _MAX_MESSAGE else msg[: _MAX_MESSAGE - 3] + "..."


def _where(err: BaseException) -> str:
    """``file:line in function`` of the innermost frame, for the failures table."""
    tb = traceback.extract_tb(err.__traceback__)
    if not tb:
        return ""
    f = tb[-1]
    return f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}"


def score_unit(
    task: Task,
    method: Method,
    sample,
    index: int,
    *,
    example_keys: frozenset = frozenset(),
) -> UnitResult:
    """Restore and score ``sample`` (number ``index`` of the split) with ``method``.

    Parameters
    ----------
    task, method
        ``method`` must support ``task`` (:func:`generators.task.supports`).
    sample : generators.task.Sample
        As read back from the cached split.
    example_keys : frozenset of (index, condition, draw)
        Calls whose predictions are kept for the report's example grids.

    Returns
    -------
    UnitResult
        ``rows`` have keys task, method, base_method, variant, metric, value,
        sample, condition (None for single-image tasks), draw, views, runtime_s;
        the harness adds the provenance columns.
    """
    res = UnitResult()
    target = sample.target[task.target_key]
    gain_unknown = bool(getattr(method, "output_gain_unknown", False))

    with reuse_reference_statistics():  # the target's SSIM window sums once per unit, not once per call
        _score_calls(task, method, sample, index, target, gain_unknown, example_keys, res)
    return res


def _score_calls(task: Task, method: Method, sample, index: int, target, gain_unknown: bool,
                 example_keys: frozenset, res: UnitResult) -> None:
    """The calls of one unit, scored into ``res`` (:func:`score_unit`)."""
    for call in task.protocol.calls(sample, seed=task.test_seed, index=index):
        n, draw, inputs, views_label = call.condition, call.draw, dict(call.inputs), call.label
        base = {"task": task.name, "base_method": method.name, "sample": index, "condition": n, "draw": draw}
        reason = not_applicable(method, call)
        if reason is not None:  # declared by the method (Method protocol): not a failure
            res.not_applicable.append({**base, "reason": reason})
            continue
        t0 = time.perf_counter()
        try:
            prediction = method.restore(inputs)
            runtime = time.perf_counter() - t0
            prediction = check_prediction(prediction, target)
        except Exception as err:  # a failing method is a result, not a crash
            res.failures.append(
                {**base, "method": method.name, "views": views_label, "stage": "restore",
                 "error": _one_line(err), "where": _where(err)}
            )
            continue
        variants = [("", method.name, prediction)]
        if gain_unknown:
            corrected, _ = gain_correct(target, prediction)
            variants.append((GAIN_CORRECTED, f"{method.name} ({GAIN_CORRECTED})", corrected))
        for variant, label, pred in variants:
            with reuse_results():  # one SSIM for ssim and dssim, one gain for psnr_gi and ssim_gi (bit-identical)
                for metric_name, metric in task.metrics.items():
                    try:
                        value = metric_value(metric, target, pred, sample)
                    except Exception as err:
                        res.failures.append(
                            {**base, "method": label, "views": views_label, "stage": f"metric {metric_name}",
                             "error": _one_line(err), "where": _where(err)}
                        )
                        continue
                    res.rows.append(
                        {**base, "method": label, "variant": variant, "metric": metric_name, "value": value,
                         "views": views_label, "runtime_s": runtime}
                    )
            if (index, n, draw) in example_keys:
                res.examples[(index, n, draw, label)] = example_part(pred)


@dataclass
class TaskContext:
    """What a worker needs to score units of one task."""

    task: Task
    methods: Mapping[str, Method]
    split_dir: str
    example_keys: frozenset = frozenset()


class _Worker:
    """Per-process state: every task's context and an open split."""

    contexts: dict[str, TaskContext] = {}
    _open: tuple[str, Any] | None = None  # (split_dir, SampleDataset)
    _samples: dict[tuple[str, int], Any] = {}

    @classmethod
    def sample(cls, split_dir: str, index: int):
        key = (split_dir, index)
        if key not in cls._samples:
            if cls._open is None or cls._open[0] != split_dir:
                from generators.dataset import SampleDataset

                cls._open, cls._samples = (split_dir, SampleDataset(split_dir)), {}
            if len(cls._samples) >= 4:  # units arrive sample-major: a few suffice
                cls._samples.pop(next(iter(cls._samples)))
            cls._samples[key] = cls._open[1][index]
        return cls._samples[key]


def init_worker(contexts: Mapping[str, TaskContext], marker_dir: str | None = None) -> None:
    """Process-pool initializer (also called in-process for ``--workers 1``).

    ``marker_dir``: where a pool worker notes the unit it is scoring (file
    ``<pid>``, removed when the unit is done), so that the harness can name
    the unit whose method killed the process (segfault, ``os._exit``).
    """
    pin_threads()
    _Worker.contexts, _Worker._open, _Worker._samples = dict(contexts), None, {}
    _Worker.marker = None if marker_dir is None else os.path.join(marker_dir, str(os.getpid()))


def init_pool_worker(contexts: Mapping[str, TaskContext], marker_dir: str | None = None) -> None:
    """Process-pool initializer: :func:`init_worker`, and die with the harness (a harness stopped by
    SIGTERM or SIGKILL leaves no workers scoring on as orphans)."""
    die_with_parent()
    init_worker(contexts, marker_dir)


def run_unit(unit: tuple[str, int, str]) -> UnitResult:
    """Score one ``(task name, sample index, method name)`` unit in this process."""
    task_name, index, name = unit
    pin_threads()
    ctx = _Worker.contexts[task_name]
    marker = getattr(_Worker, "marker", None)
    if marker is not None:
        with open(marker, "w") as fh:
            fh.write(json.dumps([task_name, index, name]))
    t0 = time.perf_counter()
    result = score_unit(
        ctx.task, ctx.methods[name], _Worker.sample(ctx.split_dir, index), index, example_keys=ctx.example_keys
    )
    result.seconds = time.perf_counter() - t0
    if marker is not None:
        os.unlink(marker)
    return result


def run_units(units: list[tuple[str, int, str]]) -> list[UnitResult]:
    """:func:`run_unit` for each of ``units``, in order, in this process (the units of one sample)."""
    return [run_unit(u) for u in units]


def crashed_unit_result(unit: tuple[str, int, str], detail: str) -> UnitResult:
    """The record of a unit whose method killed its worker process: one failure."""
    task_name, index, name = unit
    return UnitResult(failures=[{"task": task_name, "base_method": name, "method": name, "sample": index,
                                 "condition": None, "draw": 0, "views": "", "stage": "restore",
                                 "error": f"worker process died while scoring ({detail})", "where": ""}])


def pin_threads() -> None:
    """One intra-op thread for torch, if loaded: results must not depend on
    the thread count, and parallelism comes from the process pool."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)
