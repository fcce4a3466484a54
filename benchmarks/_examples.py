"""Example images for the report (like Deep Residual Sets, Figures 6-7).

The harness keeps the predictions of a few chosen calls and writes, per
example, the inputs, every method's output and the target as PNG files plus an
``examples.json`` index holding each output's per-image metrics (copied from
the rows, so the numbers under a picture are the ones in ``rows.csv``). The
leaderboard only lays these files out.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
from PIL import Image

from generators.task import Task, ViewSubsets

from ._scoring import GAIN_CORRECTED, draw_views

_SINGLE_EXAMPLES = 3  # first samples shown for single-image tasks
_VIEW_COUNTS = (1, 4)  # plus N-1: the range of Figures 3-5, in three stops


def choose_example_keys(task: Task, split_dir: Path, size: int) -> frozenset:
    """``(sample, condition, draw)`` of the calls whose outputs are shown.

    Tasks with a view-subset protocol: sample 0 with 1, 4 and N-1 views and
    sample 1 with N-1 views, draw 0; other protocols: the first call of each
    of the first three samples.
    """
    if not isinstance(task.protocol, ViewSubsets):
        # The first call of each of the first samples, with the condition the protocol gives it (a
        # size class, a reference condition ...; None for single calls): keying on None alone kept no
        # output of tasks whose calls carry a condition.
        keys = set()
        for i in range(min(_SINGLE_EXAMPLES, size)):
            call = next(iter(task.protocol.calls(_load(split_dir, i), seed=task.test_seed, index=i)), None)
            if call is not None:
                keys.add((i, call.condition, call.draw))
        return frozenset(keys)
    n_total = _load(split_dir, 0).inputs[task.protocol.key].shape[0]
    top = n_total - 1
    keys = {(0, n, 0) for n in (*_VIEW_COUNTS, top) if 1 <= n <= top}
    if size > 1 and top >= 1:
        keys.add((1, top, 0))
    return frozenset(keys)


_OPEN: dict[str, object] = {}


def _load(split_dir: Path, index: int):
    from generators.dataset import SampleDataset

    key = str(split_dir)
    if key not in _OPEN:
        _OPEN.clear()  # one split at a time: the harness goes task by task
        _OPEN[key] = SampleDataset(key)
    return _OPEN[key][index]


def slug(name: str) -> str:
    """A file-name-safe, collision-free form of a method name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:40] or "method"
    return f"{safe}-{hashlib.sha1(name.encode()).hexdigest()[:6]}"


def to_uint8(x: np.ndarray, classes: tuple = ()) -> np.ndarray:
    """An array as a displayable 8-bit image (HxW or HxWx3).

    Float images in [0, 1] are clipped and rounded; bool masks become black and
    white; label maps (2-D integers, uint8 included, when the task has a class
    table) take the colours of ``classes`` (:class:`generators.task.LabelClass`;
    ids missing from the table are magenta, 255 "unknown" white), or a fixed pseudo-random palette
    when there is no table.
    """
    x = np.asarray(x)
    if x.dtype == np.bool_:
        return np.where(x, 255, 0).astype(np.uint8)
    if np.issubdtype(x.dtype, np.integer):
        labels = np.clip(x.astype(np.int64), 0, None)
        top = max(int(labels.max(initial=0)), max((c.id for c in classes), default=0)) + 1
        if classes:
            palette = np.tile(np.array([255, 0, 255]), (max(top, 256), 1))
            palette[255] = 255  # "unknown" (e.g. roadseg's removed objects): white
            for c in classes:
                palette[c.id] = c.color
        else:
            palette = np.random.default_rng(7).integers(40, 256, size=(top, 3))
            palette[0] = 0
        return palette[labels].astype(np.uint8)
    img = np.round(np.clip(np.nan_to_num(x.astype(np.float64)), 0, 1) * 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    return img


def _save(path: Path, x: np.ndarray, classes: tuple = ()) -> None:
    """Write ``x`` as PNG; a clip (T, H, W, C) target or prediction shows its middle frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if x.ndim == 4:
        x = x[x.shape[0] // 2]
    # compress_level 1: 2.4x faster than 6 (1.6 vs 3.7 ms per report image), 8 % larger (31 vs 29 KiB)
    Image.fromarray(to_uint8(x, classes)).save(path, optimize=False, compress_level=1)


def _is_image(x: np.ndarray) -> bool:
    return x.ndim == 2 or (x.ndim == 3 and x.shape[2] in (1, 3))


def write_examples(
    root: Path,
    task: Task,
    split_dir: Path,
    keys: frozenset,
    predictions: Mapping[tuple, np.ndarray],
    rows: list[dict],
    failures: list[dict],
    method_names: Iterable[str],
    gain_unknown: set,
) -> list[dict]:
    """Write the example PNGs of ``task`` under ``root/<task>/``; return index entries.

    Parameters
    ----------
    predictions : mapping
        ``(sample, condition, draw, method label) -> prediction`` for ``keys``.
    rows, failures : list of dict
        This task's rows and failures (for per-image metrics and errors).
    """
    scores: dict[tuple, dict] = {}
    for r in rows:
        k = (r["sample"], r["condition"], r["draw"])
        if k in keys:
            scores.setdefault(k + (r["method"],), {})[r["metric"]] = r["value"]
    errors = {(f["sample"], f["condition"], f["draw"], f["base_method"]): f["error"] for f in failures}
    entries = []
    for index, n, draw in sorted(keys, key=lambda k: (k[0], -1 if k[1] is None else k[1], k[2])):
        sample = _load(split_dir, index)
        sub = f"{task.name}/s{index:03d}" + ("" if n is None else f"_n{n:02d}") + f"_d{draw}"
        inputs = []
        views_label = ""
        for key, arr in sample.inputs.items():
            if isinstance(task.protocol, ViewSubsets) and key == task.protocol.key and n is not None:
                idx = draw_views(arr.shape[0], seed=task.test_seed, index=index, n=n, draw=draw)
                views_label = ",".join(str(int(i)) for i in idx)
                for i in idx:
                    rel = f"{sub}/input_{key}_{int(i):02d}.png"
                    _save(root / rel, arr[i])
                    inputs.append({"label": f"view {int(i)}", "file": rel})
            elif arr.ndim == 4 and arr.shape[3] in (1, 3):  # a stack of frames: all of a short one, else 3
                n_items = arr.shape[0]
                for i in (range(n_items) if n_items <= 8 else sorted({0, n_items // 2, n_items - 1})):
                    rel = f"{sub}/input_{slug(key)}_{i:02d}.png"
                    _save(root / rel, arr[i])
                    inputs.append({"label": f"{key} {i}", "file": rel})
            elif _is_image(arr):
                rel = f"{sub}/input_{slug(key)}.png"
                _save(root / rel, arr, task.classes)
                inputs.append({"label": key, "file": rel})
        target_rel = f"{sub}/target.png"
        _save(root / target_rel, sample.target[task.target_key], task.classes)
        outputs = []
        for name in method_names:
            labels = [(name, "")]
            if (task.name, name) in gain_unknown:
                labels.append((f"{name} ({GAIN_CORRECTED})", GAIN_CORRECTED))
            for label, variant in labels:
                pred = predictions.get((index, n, draw, label))
                rec = {"method": label, "base_method": name, "variant": variant, "file": None,
                       "metrics": scores.get((index, n, draw, label), {}), "error": None}
                if pred is None:
                    rec["error"] = errors.get((index, n, draw, name), "no output (skipped)")
                else:
                    rec["file"] = f"{sub}/output_{slug(label)}.png"
                    _save(root / rec["file"], pred, task.classes)
                outputs.append(rec)
        entries.append({
            "task": task.name, "sample": index, "condition": n, "draw": draw, "views": views_label,
            "inputs": inputs, "target": {"label": f"target ({task.target_key})", "file": target_rel},
            "outputs": outputs,
        })
    return entries
