"""What the CPU trainers share: user errors, the resumable training state and the ledger.

A training state is a checkpoint file (format ``<name>-train/1``) holding the
model, the optimizer, the step, the cumulative CPU seconds, the best
validation point and the training-data version; it is written atomically
(:func:`models._checkpoint.save_checkpoint`). A run resumes only a state of
the same configuration and data version. The ledger is a CSV appended after
every run (date, steps, CPU-hours, data version, validation metrics), so the
learning curve across runs stays visible in the repository.
"""

from __future__ import annotations

import csv
import datetime as _dt
from pathlib import Path

from generators._runtime import UserError  # bad input to a trainer: one line on stderr, exit status 2
from models._checkpoint import read_checkpoint, save_checkpoint

__all__ = ["UserError", "TrainState", "append_ledger", "dataset_version", "run_budget", "load_arrays", "best_exporter"]


def dataset_version(path: str | Path) -> int:
    """The formation-model version in a dataset's manifest (its task parameters); 0 when it has none.

    Raises :class:`UserError` naming the manifest when it cannot be read.
    """
    from generators.dataset import read_formation_version

    return read_formation_version(path)


class TrainState:
    """Resume and save the state of one trainer (see the module docstring)."""

    def __init__(self, path: str | Path, *, fmt: str, what: str, config: dict, data_version: int):
        self.path, self.fmt, self.what = Path(path), fmt, what
        self.config, self.data_version = config, int(data_version)
        self.step, self.cpu_s, self.best = 0, 0.0, {}

    def resume(self, model, optimizer) -> bool:
        """Load the saved state into ``model`` and ``optimizer``; False when there is none."""
        if not self.path.is_file():
            return False
        try:
            st = read_checkpoint(self.path, expected_format=self.fmt, what=self.what)
        except ValueError as e:
            raise UserError(str(e)) from None
        if st["config"] != self.config:
            raise UserError(f"{self.path}: saved config {st['config']} differs from {self.config}; use another --state")
        if int(st["data_version"]) != self.data_version:
            raise UserError(f"{self.path}: trained on data version {st['data_version']}, "
                            f"the data is version {self.data_version}")
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        self.step, self.cpu_s, self.best = int(st["step"]), float(st["cpu_s"]), dict(st["best"])
        return True

    def save(self, model, optimizer) -> None:
        save_checkpoint({"format": self.fmt, "config": self.config, "model": model.state_dict(),
                         "optimizer": optimizer.state_dict(), "step": self.step, "cpu_s": self.cpu_s,
                         "best": self.best, "data_version": self.data_version}, self.path)


def append_ledger(path: str | Path | None, header: list[str], row: list) -> None:
    """Append ``[today, *row]`` to the CSV at ``path`` (header ``["date", *header]`` when new)."""
    if not path:
        return
    path = Path(path)
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["date", *header])
        w.writerow([_dt.date.today().isoformat(), *row])


def run_budget(*, state: TrainState, model, optimizer, minutes: float, step_fn, evaluate, key: str,
               val_every: int, save_every: int, export=None) -> dict:
    """Train until ``minutes`` of wall time have passed, SIGTERM or Ctrl-C.

    ``step_fn(step) -> loss`` does one optimizer step (``step`` counts from 0
    over all runs); every ``val_every`` steps ``evaluate() -> dict`` scores the
    validation set and, when ``dict[key]`` beats ``state.best``, ``export(last)``
    writes the shipped weights; the state is saved every ``save_every`` steps
    and at the end, with the CPU seconds spent. Returns the last validation.
    """
    import signal
    import time

    stop = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("flag", True))
    t_end = time.monotonic() + 60 * minutes
    cpu0, last = time.process_time(), {}
    model.train()
    try:
        while time.monotonic() < t_end and not stop["flag"]:
            loss = step_fn(state.step)
            state.step += 1
            if state.step % val_every == 0:
                last = evaluate()
                model.train()
                if last[key] > state.best.get(key, float("-inf")):
                    state.best = {**last, "step": state.step}
                    if export is not None:
                        export(last)
                print(f"step {state.step} loss {loss:.4f} val " + " ".join(f"{k} {v:.4f}" for k, v in last.items())
                      + f" (best {key} {state.best[key]:.4f})", flush=True)
            if state.step % save_every == 0:
                state.cpu_s += time.process_time() - cpu0
                cpu0 = time.process_time()
                state.save(model, optimizer)
    except KeyboardInterrupt:
        pass
    state.cpu_s += time.process_time() - cpu0
    state.save(model, optimizer)
    return last


def load_arrays(path, *, generator: str, cache_dir, decode, tag: str = "") -> dict:
    """Training arrays of the dataset at ``path`` (written by ``generator``), decoded once.

    ``decode(samples, manifest) -> dict of arrays`` turns the dataset's samples
    (an iterator of :class:`generators.task.Sample`) into in-memory arrays
    (uint8 images: the shards are 8-bit, so nothing is lost); the result is
    cached as ``<cache_dir>/<generator>-<dataset hash>[-tag].npz`` (written
    atomically) so a resumed run starts in seconds. ``data_version`` (the
    formation-model version of the dataset's parameters) is added.
    """
    import numpy as np

    from generators.dataset import read_dataset, read_manifest

    path = Path(path)
    try:
        manifest = read_manifest(path)
    except Exception as e:  # noqa: BLE001 - any unreadable dataset is a user error
        raise UserError(f"{path}: not a readable dataset ({e})") from None
    if manifest.get("generator") != generator:
        raise UserError(f"{path}: written by {manifest.get('generator')!r}, not the {generator} generator")
    name = f"{generator}-{(manifest.get('dataset_hash') or 'incomplete')[:16]}{'-' + tag if tag else ''}.npz"
    cache = Path(cache_dir) / name
    if cache.is_file():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    out = decode((s for _, s in read_dataset(path)), manifest)
    out["data_version"] = np.array(int(manifest["params"]["version"]))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, **out)
    tmp.replace(cache)
    return out


def best_exporter(path, *, model, config, make_checkpoint, state: TrainState, **meta):
    """The ``export`` callback of :func:`run_budget`: write the shipped weights to ``path``
    (nothing when ``path`` is empty) with the step, the validation scores, the torch
    version and ``meta`` (data, run settings) in the checkpoint's meta."""
    if not path:
        return None
    import torch

    from models._checkpoint import save_checkpoint

    def export(last: dict) -> None:
        save_checkpoint(make_checkpoint(model, config, step=state.step, val=last, torch=torch.__version__, **meta), path)

    return export
