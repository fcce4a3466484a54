"""The Task contract: read this file first.

Every dataset in RestoreBench is a :class:`Task`. A task knows how to make one
:class:`Sample` from a random generator, and how to score a restoration of it.
Generators call ``task.make_sample`` at scale (see :mod:`generators.dataset`);
the benchmark harness calls the same function on a fixed test split and scores
every :class:`Method` that supports the task with ``task.metrics``.

Array conventions (checked at the boundaries with :func:`check_image`):

* images are numpy ``float32`` arrays, channels last (HWC), values in [0, 1];
  greyscale images keep a channel axis of size 1;
* stacks of views are ``(N, H, W, C)``;
* masks are ``bool`` arrays ``(H, W)``, True where a pixel is missing /
  occluded;
* label maps are ``uint8`` arrays ``(H, W)`` of class ids, with the class
  table (:class:`LabelClass`: id, name, colour) in ``Task.classes``;
* video is ``(T, H, W, C)`` like a stack of views, frame rate in ``params``;
* flows are ``(H, W, 2)`` in pixels, ``(dx, dy)``, from the frame to the
  reference.

Evaluation protocol: ``Task.protocol`` says which ``restore`` calls the
harness makes for one test sample (:class:`Call`: a condition such as the
number of views, a draw, the inputs). Most tasks make one call per sample
(:data:`SINGLE_CALL`); bookcovers scores random view subsets of every size
(:class:`ViewSubsets`). A protocol may declare a cheaper one for the quick
run with ``for_quick_run()`` (:func:`quick_protocol` is the one reader).
A metric normally sees ``(reference, prediction)``; one decorated with
:func:`uses_sample` also gets the sample, so it can read masks or class
tables from ``extras``/``params``.

Formation version: every task module states its formation model (how a
sample is made, with units) in its docstring and numbers it with the
module constant ``FORMATION_VERSION``, bumped whenever the same parameters
would make different samples. The task records it in its parameters as
``params["version"]`` (the key every existing dataset manifest uses), so a
dataset, a cached test split or a training state knows which formation made
it; :func:`formation_version` is the one reader (of a task's parameters or a
dataset manifest's), and the dataset writer refuses to extend a dataset of
another formation version.

Randomness: sample ``i`` of a dataset with seed ``s`` is made from
``sample_rng(s, i)`` and from nothing else, so it is identical for one worker,
sixteen workers or a Ray cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Sample",
    "Task",
    "Call",
    "EvalProtocol",
    "is_oracle",
    "SingleCall",
    "SINGLE_CALL",
    "ViewSubsets",
    "quick_protocol",
    "LabelClass",
    "draw_subset",
    "uses_sample",
    "metric_value",
    "Method",
    "not_applicable",
    "bind",
    "sample_rng",
    "check_image",
    "check_views",
    "check_mask",
    "lookup",
    "formation_version",
    "FORMATION_KEY",
]

# The key of the formation version in a task's (and a dataset manifest's) params.
FORMATION_KEY = "version"


@dataclass(frozen=True)
class Sample:
    """One paired example.

    Attributes
    ----------
    inputs : dict of str to ndarray
        What a method sees, e.g. ``{"views": (N, H, W, 3)}`` or
        ``{"image": (H, W, C), "mask": (H, W)}``.
    target : dict of str to ndarray
        The ground truth; the key ``Task.target_key`` is what methods predict.
    extras : dict of str to ndarray
        Side information for analysis and auxiliary training (masks, shading,
        orientation fields ...). May be empty.
    params : dict
        Every sampled parameter, JSON-serialisable, enough to re-create the
        sample.
    """

    inputs: dict[str, np.ndarray]
    target: dict[str, np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One ``restore`` call of a task's evaluation protocol.

    Attributes
    ----------
    condition : int, str or None
        The protocol's axis value (e.g. the number of views), None for
        single-call protocols; the ``condition`` column of results.
    draw : int
        Which random draw at this condition (0 for single calls).
    inputs : mapping
        What the method receives.
    label : str
        Human-readable detail of the call (e.g. the view indices ``"0,3,7"``).
    """

    condition: int | str | None
    draw: int
    inputs: Mapping[str, np.ndarray]
    label: str = ""


@runtime_checkable
class EvalProtocol(Protocol):
    """Which calls the harness makes for one sample; ``axis`` names the
    condition on the leaderboard (``"views"``, ``"frames"``) or is None.
    ``condition_labels`` names the conditions when they are categories
    (snow's size classes, coverrefs' reference conditions), so the report
    shows them by name and plots them as points, not as a count axis; None
    when the condition is a count of ``axis``."""

    axis: str | None
    condition_labels: Mapping[int, str] | None

    def calls(self, sample: Sample, *, seed: int, index: int) -> Iterator[Call]: ...


@dataclass(frozen=True)
class SingleCall:
    """One call per sample with all of its inputs."""

    axis: str | None = None
    condition_labels = None

    def calls(self, sample: Sample, *, seed: int, index: int) -> Iterator[Call]:
        yield Call(None, 0, sample.inputs, "")


SINGLE_CALL = SingleCall()


def draw_subset(n_total: int, *, seed: int, index: int, n: int, draw: int) -> np.ndarray:
    """Indices of the ``n`` items used in draw ``draw`` of sample ``index``.

    The generator is ``default_rng(SeedSequence([seed, index, n, draw]))``: a
    pure function of the split seed, the sample, ``n`` and the draw.

    Returns
    -------
    ndarray of int, shape (n,), sorted, distinct, in ``[0, n_total)``.
    """
    if not 1 <= n <= n_total:
        raise ValueError(f"n must lie in [1, {n_total}], got {n}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(index), int(n), int(draw)]))
    return np.sort(rng.choice(n_total, size=n, replace=False))


@dataclass(frozen=True)
class ViewSubsets:
    """Deep Residual Sets, section 5.1: for every ``n`` in ``1 .. N-1`` (N the
    views in the sample), ``draws`` random subsets of ``n`` views, each a call
    (condition ``n``, label the sorted view indices). Only ``inputs[key]`` is
    subset; other inputs pass unchanged.

    ``quick_draws`` (None: ``draws``) is the number of draws of a quick run
    (``benchmarks.run --quick``, :meth:`for_quick_run`): draws ``0 ..
    quick_draws - 1`` of every ``n``, the same subsets as the full protocol's
    first draws (:func:`draw_subset` depends on the draw number, not on how
    many are made)."""

    draws: int = 10
    key: str = "views"
    axis: str | None = "views"
    quick_draws: int | None = None
    condition_labels = None  # the condition is a count of views

    def __post_init__(self) -> None:
        if self.draws < 1:
            raise ValueError(f"draws must be >= 1, got {self.draws}")
        if self.quick_draws is not None and not 1 <= self.quick_draws <= self.draws:
            raise ValueError(f"quick_draws must lie in [1, draws={self.draws}], got {self.quick_draws}")

    def for_quick_run(self) -> "ViewSubsets":
        """The protocol of a quick run: the first ``quick_draws`` draws of every ``n`` (self when None)."""
        if self.quick_draws is None:
            return self
        return replace(self, draws=self.quick_draws, quick_draws=None)

    def calls(self, sample: Sample, *, seed: int, index: int) -> Iterator[Call]:
        views = sample.inputs[self.key]
        n_total = views.shape[0]
        for n in range(1, n_total):
            for draw in range(self.draws):
                idx = draw_subset(n_total, seed=seed, index=index, n=n, draw=draw)
                inputs = {**sample.inputs, self.key: np.ascontiguousarray(views[idx])}
                yield Call(n, draw, inputs, ",".join(str(int(i)) for i in idx))


def quick_protocol(protocol: EvalProtocol) -> EvalProtocol:
    """The calls of a quick run: ``protocol.for_quick_run()`` when the protocol declares one, else ``protocol``."""
    for_quick_run = getattr(protocol, "for_quick_run", None)
    return protocol if for_quick_run is None else for_quick_run()


@dataclass(frozen=True)
class LabelClass:
    """One row of a task's class table: id in label maps, name, display colour (RGB)."""

    id: int
    name: str
    color: tuple[int, int, int]


def uses_sample(metric: Callable) -> Callable:
    """Mark ``metric(reference, prediction, *, sample)`` as needing the sample
    (for masks, class tables ...); the harness then passes ``sample=``."""
    metric.uses_sample = True
    return metric


def metric_value(metric: Callable, reference: np.ndarray, prediction: np.ndarray, sample: Sample) -> float:
    """Call ``metric`` the way it declares (with the sample or without)."""
    if getattr(metric, "uses_sample", False):
        return float(metric(reference, prediction, sample=sample))
    return float(metric(reference, prediction))


@dataclass(frozen=True)
class Task:
    """A restoration task.

    Attributes
    ----------
    name : str
        Registry name, e.g. ``"bookcovers"``.
    make_sample : callable
        ``make_sample(rng) -> Sample``. Must be picklable (a module-level
        function or a ``functools.partial`` of one) so that process pools and
        Ray can run it.
    metrics : mapping of str to callable
        ``metric(reference, prediction) -> float``, each with its conventions
        fixed (see :mod:`generators.metrics`); metrics marked with
        :func:`uses_sample` are called with ``sample=`` too.
    input_kind : str
        What ``Sample.inputs`` holds; methods may declare support for a kind
        instead of a task name. One of ``"views"`` (multi-image),
        ``"image"`` (single degraded image), ``"image+mask"`` (inpainting),
        ``"labels+mask"`` (label-map inpainting), ``"frames"`` (a
        sequence with a reference frame).
    target_key : str
        Key of ``Sample.target`` that a method's prediction is scored against.
    test_size : int
        Number of samples in the fixed test split.
    test_seed : int
        Seed of the fixed test split (disjoint from training seeds by
        convention: training data uses seeds below 1000).
    quick_size : int
        Test-split size used by ``benchmarks.run --quick``.
    params : dict
        The generator parameters behind ``make_sample`` (resolution, number of
        views ...), JSON-able; part of the dataset hash. Holds the formation
        version under ``"version"`` (:func:`formation_version`).
    higher_is_better : mapping of str to bool
        Direction of each metric, for ranking.
    protocol : EvalProtocol
        The ``restore`` calls made per test sample (default: one call).
    classes : tuple of LabelClass
        Class table of label-map tasks (empty otherwise).
    family : str
        The task this one is a variant of (same inputs, target and
        metrics, other data), e.g. ``"fingerprints"`` for
        ``"fingerprints-sensor"``; methods declared for the family run on
        the variant too. Empty (the default) means the task's own name.
    comparisons : tuple of (side, side)
        The task's primary comparisons: the orderings its field claims,
        reported (paired, with 95% intervals) next to best learned vs best
        classical, which every task gets. Each pair is ``(method,
        reference)``, reported as method minus reference at every condition;
        a side is a method name, or a tuple of names meaning the best of
        those methods (mean of the task's first metric) at that condition.
        Declared where methods are named (:mod:`benchmarks.registry`), not by
        the generator.
    """

    name: str
    make_sample: Callable[[np.random.Generator], Sample]
    metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], float]]
    input_kind: str
    target_key: str = "clean"
    test_size: int = 100
    test_seed: int = 1_000_003
    quick_size: int = 10
    params: Mapping[str, Any] = field(default_factory=dict)
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)
    protocol: EvalProtocol = SINGLE_CALL
    classes: tuple[LabelClass, ...] = ()
    family: str = ""
    comparisons: tuple[tuple[str | tuple[str, ...], str | tuple[str, ...]], ...] = ()

    @property
    def formation_version(self) -> int:
        """The task's formation version (its module's ``FORMATION_VERSION``), read from ``params``."""
        return formation_version(self.params)


def formation_version(params: Mapping[str, Any]) -> int:
    """The formation version recorded in task parameters or a dataset manifest's ``params``.

    Parameters
    ----------
    params : mapping
        ``Task.params``, or the ``"params"`` of a dataset manifest (the
        task's parameters when the dataset was written).

    Returns
    -------
    int
        ``params["version"]``; 0 when none is recorded (a dataset written
        before its task recorded one).
    """
    return int(params.get(FORMATION_KEY, 0))


@runtime_checkable
class Method(Protocol):
    """A restoration method: a baseline or a learned model.

    ``tasks`` lists task names (a task's family name covers its variants,
    see ``Task.family``) and/or input kinds (see ``Task.input_kind``) the
    method applies to. ``restore`` takes ``Sample.inputs`` and returns the
    prediction of ``Sample.target[task.target_key]`` with the same shape,
    dtype float32 (int32 for label maps) and range.

    Applicability: a method that cannot take some calls of a task's protocol
    says so with an optional attribute instead of raising, so that the
    harness reports those calls as *not applicable* and a failure always means
    something went wrong (:func:`not_applicable` is the one reader):

    ``min_views`` : int, default 1
        The fewest ``inputs["views"]`` that ``restore`` accepts (RPCA: 2).

    Oracles: a method that reads ground truth no real method has (the true
    best reference of coverrefs' ``oracle-stitch``) declares ``oracle =
    True``; it is scored and shown as an upper bound but never chosen as the
    best classical method of a primary comparison (:func:`is_oracle` is the
    one reader).

    Variants: a method whose weights depend on the task variant it runs on
    (the fingerprint networks keep one checkpoint per preset) declares
    ``for_task(task) -> Method``, returning the instance for that task under
    the same name; :func:`bind` is the one caller.
    """

    name: str
    tasks: tuple[str, ...]

    def restore(self, inputs: Mapping[str, np.ndarray]) -> np.ndarray: ...


def not_applicable(method: Method, call: Call) -> str | None:
    """Why ``method`` does not apply to ``call``, or None when it does.

    Reads the optional declarations of :class:`Method` (``min_views``);
    a method that declares nothing applies to every call of a task it
    supports.
    """
    min_views = int(getattr(method, "min_views", 1) or 1)
    views = call.inputs.get("views")
    if views is not None and len(views) < min_views:
        return f"needs at least {min_views} views, got {len(views)}"
    return None


def is_oracle(method: Method) -> bool:
    """True when ``method`` declares ``oracle = True`` (see :class:`Method`)."""
    return bool(getattr(method, "oracle", False))


def bind(method: Method, task: Task) -> Method:
    """``method`` as it runs on ``task``: ``method.for_task(task)`` when it declares one, else ``method``."""
    for_task = getattr(method, "for_task", None)
    return method if for_task is None else for_task(task)


def supports(method: Method, task: Task) -> bool:
    """True when ``method`` declares ``task`` by name, by family or by input kind."""
    return task.name in method.tasks or task.input_kind in method.tasks or bool(task.family and task.family in method.tasks)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for sample ``index`` of a dataset with seed ``seed``.

    A pure function of ``(seed, index)``: independent of worker count, order
    and engine. Both must be non-negative integers.
    """
    if seed is None or index is None:
        raise ValueError("seed and index must be integers, not None")
    if int(seed) < 0 or int(index) < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def lookup(registry: Mapping[str, Any], name: str, what: str = "name") -> Any:
    """``registry[name]`` with a KeyError that lists the valid names."""
    try:
        return registry[name]
    except KeyError:
        raise KeyError(f"unknown {what} {name!r}; choose from {sorted(registry)}") from None


def check_image(x: np.ndarray, *, name: str = "image") -> np.ndarray:
    """Validate an HWC float32 image in [0, 1]; return it unchanged.

    Raises
    ------
    ValueError
        On wrong type, ndim, channel count, dtype, NaN/Inf or range.
    """
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if x.ndim != 3 or x.shape[2] not in (1, 3):
        raise ValueError(f"{name}: expected shape (H, W, 1|3), got {x.shape}")
    _check_float01(x, name)
    return x


def check_views(x: np.ndarray, *, name: str = "views", min_views: int = 1) -> np.ndarray:
    """Validate an (N, H, W, C) float32 stack in [0, 1] with N >= ``min_views``."""
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise ValueError(f"{name}: expected shape (N, H, W, 1|3), got {x.shape}")
    if x.shape[0] < min_views:
        raise ValueError(f"{name}: needs at least {min_views} views, got {x.shape[0]}")
    _check_float01(x, name)
    return x


def check_mask(mask: np.ndarray, shape: tuple[int, ...], *, name: str = "mask") -> np.ndarray:
    """Validate a bool (H, W) mask matching the first two entries of ``shape``."""
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise ValueError(f"{name}: expected a bool numpy array, got {getattr(mask, 'dtype', type(mask))}")
    if mask.shape != tuple(shape[:2]):
        raise ValueError(f"{name}: shape {mask.shape} does not match image {tuple(shape[:2])}")
    return mask


def _check_float01(x: np.ndarray, name: str) -> None:
    if x.dtype != np.float32:
        raise ValueError(f"{name}: expected dtype float32, got {x.dtype}")
    if x.size == 0:
        raise ValueError(f"{name}: empty array {x.shape}")
    lo, hi = float(x.min()), float(x.max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: contains NaN or Inf")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{name}: values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
