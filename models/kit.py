"""The model kit: what every network of the suite shares, written once.

A network is three pieces (STYLE.md, "Shared parts and the model kit"): its
``nn.Module``s in a nets file, a trainer ``train_<model>.py`` that says only
what differs (data, loss, schedule), and one line in ``benchmarks.registry.MODELS``.
Everything else is here:

* **Checkpoints.** A checkpoint is a plain dict loadable with
  ``torch.load(weights_only=True)``: ``format`` (``"restorebench.<name>/<version>"``),
  a JSON-able ``config``, the state dict and plain ``meta``.
  :func:`save_checkpoint` writes atomically; :func:`read_checkpoint` and
  :func:`load_network` check the format and version and turn every failure
  into one ``ValueError`` line naming the file.
* **The Method wrapper.** :class:`NetMethod`: a registry entry that declares
  ``name`` and ``tasks`` as the baselines do, loads its weights once per
  process on first use and drops them when pickled for a worker. Bound to a
  task (``for_task``, called by :func:`generators.task.bind`) it refuses a
  checkpoint trained on data of another formation version.
* **Formation version, one concept.** ``data_version`` in a checkpoint's
  ``meta`` (or at its top level in the Deep Set's older layout) and in a
  training state *is* the formation version of its training data: the
  ``FORMATION_VERSION`` of the task module that made it, recorded by a
  dataset as ``params["version"]`` and read as ``Task.formation_version``
  (:mod:`generators.task`). A task variant (``reflections-real``,
  ``fingerprints-sensor``) is made by its family's module and has the
  family's formation version, so a network trained on the family's data is
  checked against it.
* **Training.** :class:`TrainState` (model, optimizer, step, CPU seconds,
  best validation point, data version and an ``extra`` dict for what one
  model needs), resumed and saved atomically; :func:`migrate_state` reads the
  older layouts; :func:`run_budget`, the one loop (wall-clock and step
  budget, SIGTERM / Ctrl-C save and stop, previous handlers restored);
  :func:`append_ledger`; :func:`add_common_flags` and :func:`run_cli`, the
  command line every trainer shares; :func:`pin_threads`;
  :func:`load_arrays` (decoded, cached training arrays) and :func:`fit`, the
  resumable budgeted run of a trainer that needs nothing more.
* **Model cards.** :func:`write_card` generates a network's card (``--card
  PATH`` of a trainer on :func:`fit`) from what is already written: the nets
  module's docstring (architecture, references), the trainer's docstring
  (data, recipe, command), the exported checkpoint's metadata and the ledger.
  A new network writes no card by hand; the cards of the networks that
  predate it (hand-written, e.g. ``deepset_bookcovers.md``) are never
  overwritten.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from generators._runtime import UserError  # bad input to a trainer: one line on stderr, exit status 2

__all__ = [
    "CHECKPOINT_DIR", "UserError", "plain", "save_checkpoint", "read_checkpoint", "make_checkpoint",
    "build_network", "load_network", "warm_start", "NetMethod", "TrainState", "migrate_state", "run_budget",
    "append_ledger", "add_common_flags", "run_cli", "pin_threads", "dataset_version", "load_arrays", "start", "fit",
    "write_card", "CARD_MARK", "bf16_native", "use_bf16",
]

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"


@functools.lru_cache(maxsize=None)
def bf16_native() -> bool:
    """Does this CPU run bf16 convolutions with oneDNN's bf16 kernels (AVX-512 and up)?

    Where it does not (AVX2-only CPUs), bf16 autocast falls back to reference kernels: measured
    2026-12-07 on an AVX2-only AMD EPYC, one torch thread, the gated video U-Net took 87 s for 16 frames
    of 128x128 under bf16 autocast and 1.2 s in float32 (outputs apart by at most 0.0062, mean 3.7e-6).
    Inference that declares ``inference_dtype = "bfloat16"`` runs in float32 there. Asked once per
    process (the trainers ask every step, restore_video every clip).
    """
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def use_bf16(flag: bool | None) -> bool:
    """A trainer's ``--bf16`` / ``--no-bf16`` choice; not given (None): :func:`bf16_native`."""
    return bf16_native() if flag is None else bool(flag)


# ---------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------


def plain(meta: Mapping) -> dict:
    """``meta`` as plain JSON types, so ``torch.load(weights_only=True)`` accepts it
    (a ``torch.__version__`` object, numpy scalars or paths would make the file unloadable)."""
    return json.loads(json.dumps(dict(meta), default=str))


def save_checkpoint(ckpt: Mapping, path: str | os.PathLike) -> None:
    """Write ``ckpt`` to a temporary file beside ``path``, fsync it, rename it into place."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(dict(ckpt), fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # directories cannot be fsync'ed on some filesystems
        pass


def _first_line(e: BaseException, limit: int = 200) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0][:limit]}" if lines else type(e).__name__


def _torch_load(path: Path) -> Any:
    """The raw object of a checkpoint file; one ValueError naming it when missing or unreadable."""
    import torch

    if not path.is_file():
        raise ValueError(f"{path}: checkpoint file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, garbage bytes, a pickle that weights_only refuses ...
        raise ValueError(f"{path}: not a readable torch checkpoint (corrupt or truncated?): {_first_line(e, 160)}") from None


def read_checkpoint(path: str | os.PathLike, *, fmt: str, what: str, version: int | None = None,
                    keys: tuple[str, ...] = ("config", "model")) -> dict:
    """The raw dict of a checkpoint of format ``fmt`` (and ``version``, for formats that keep it apart).

    Raises
    ------
    ValueError
        One line naming ``path``: missing, unreadable/truncated, another
        format or version, or without one of ``keys``.
    """
    path = Path(path)
    ckpt = _torch_load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != fmt:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{path}: not a {what} checkpoint (format {got!r}, expected {fmt!r})")
    if version is not None and ckpt.get("version") != version:
        raise ValueError(f"{path}: checkpoint version {ckpt.get('version')!r}, this code reads {version}")
    for key in keys:
        if key not in ckpt:
            raise ValueError(f"{path}: checkpoint has no {key!r} entry")
    return ckpt


def make_checkpoint(model, config: Mapping, *, fmt: str, **meta) -> dict:
    """The shipped-weights dict: ``format``, JSON-able ``config``, ``model`` (state dict on the CPU), plain ``meta``."""
    return {"format": fmt, "config": plain(config),
            "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, "meta": plain(meta)}


def _mismatch(model, state) -> str:
    """A one-line description of how ``state`` differs from ``model.state_dict()`` ('' if it fits)."""
    import torch

    if not isinstance(state, Mapping):
        return f"the weights entry is a {type(state).__name__}, not a state dict"
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(getattr(state[k], 'shape', ()))} vs {tuple(own[k].shape)}" for k in sorted(set(own) & set(state))
              if not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape]
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    return "; ".join(parts)


def build_network(path: str | os.PathLike, ckpt: Mapping, build: Callable, *, weights: str = "model"):
    """``build(ckpt["config"])`` with the weights ``ckpt[weights]`` loaded, in eval mode.

    A ValueError from ``build`` (the builder's own words) or a KeyError/TypeError
    (a config it cannot read), and weights that do not fit, become one
    ValueError naming ``path``.
    """
    try:
        model = build(ckpt["config"])
    except ValueError as e:
        raise ValueError(f"{path}: {str(e).strip().splitlines()[0] if str(e).strip() else 'bad config'}") from None
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path}: bad model config {ckpt['config']!r}: {_first_line(e)}") from None
    problem = _mismatch(model, ckpt[weights])
    if problem:
        raise ValueError(f"{path}: weights do not match the configured network: {problem}")
    try:
        model.load_state_dict(ckpt[weights])
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: weights do not match the configured network: {_first_line(e)}") from None
    return model.eval()


def load_network(path: str | os.PathLike, *, fmt: str, what: str, build: Callable, version: int | None = None,
                 weights: str = "model"):
    """``(network in eval mode, raw checkpoint)``: :func:`read_checkpoint` then :func:`build_network`."""
    ckpt = read_checkpoint(path, fmt=fmt, what=what, version=version, keys=("config", weights))
    return build_network(path, ckpt, build, weights=weights), ckpt


def warm_start(model, path: str | os.PathLike, *, new_modules: tuple[str, ...] = ()) -> dict:
    """Load the weights of a checkpoint or training state at ``path`` into ``model`` (``--init``).

    Any file whose weights fit ``model`` will do (another input version or
    data version included); returns its raw (migrated) dict. Parameters
    whose names start with one of ``new_modules`` (e.g. ``"gate."``, a
    module the recipe added) may be absent from the file: they keep the
    model's own initialisation. Problems are one :class:`UserError` line.
    """
    try:
        raw = migrate_state(_torch_load(Path(path)), path)
        weights = raw.get("model", raw.get("state_dict")) if isinstance(raw, dict) else None
        if weights is not None and new_modules:
            own = model.state_dict()
            weights = {**{k: v for k, v in own.items() if k.startswith(tuple(new_modules)) and k not in weights},
                       **weights}
        problem = "no weights in it" if weights is None else _mismatch(model, weights)
        if problem:
            raise ValueError(problem)
        model.load_state_dict(weights)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"--init {path}: cannot load its weights ({e})") from None
    return raw


# ---------------------------------------------------------------------------
# The Method wrapper
# ---------------------------------------------------------------------------


class NetMethod:
    """A shipped network as a :class:`generators.task.Method`.

    Subclasses declare ``name``, ``tasks`` (and, like the baselines,
    optionally ``min_views``), implement :meth:`load` (path -> ``(network,
    raw checkpoint dict)``, what :func:`load_network` returns; may refuse
    weights that do not fit with a ValueError) and ``restore``. The network
    is loaded from ``checkpoint`` (a file name under ``models/checkpoints/``
    or a path) on first use of :attr:`model`, once per process: pickling (to
    send the method to a worker) drops it and every attribute named in
    ``_per_process``.

    Formation version: :meth:`for_task` returns a copy bound to the task's
    formation version (``Task.formation_version``); on loading (or at once,
    if already loaded) a checkpoint whose recorded data version
    (:meth:`trained_on`) is not the same formation (:meth:`same_formation`)
    is a ValueError of one line naming both versions. Unbound, nothing is
    checked unless the subclass sets ``formation_version`` itself.
    """

    name: str = ""
    tasks: tuple[str, ...] = ()
    learned = True
    checkpoint_name: str = ""
    formation_version: int | None = None  # of the data the method is applied to (for_task sets it)
    inference_dtype: str = "float32"  # "bfloat16": restore runs under bf16 autocast where bf16_native() (CPU-dependent last bits)
    _per_process: tuple[str, ...] = ("_model",)

    def __init__(self, name: str | None = None, checkpoint: str | os.PathLike | None = None):
        if name is not None:
            self.name = name
        self.checkpoint = CHECKPOINT_DIR / (self.checkpoint_name if checkpoint is None else checkpoint)
        self._model = None
        self._trained_on = None  # the loaded checkpoint's trained_on()

    def load(self, path: Path) -> tuple[Any, Mapping]:
        raise NotImplementedError

    def trained_on(self, ckpt: Mapping):
        """The formation version of the training data recorded in ``ckpt``: ``meta["data_version"]`` (the
        kit's layout) or a top-level ``data_version``; None when not recorded (then nothing is checked)."""
        meta = ckpt.get("meta")
        if isinstance(meta, Mapping) and "data_version" in meta:
            return meta["data_version"]
        return ckpt.get("data_version")

    def same_formation(self, trained, current: int) -> bool:
        """Whether weights trained on formation version ``trained`` may score data of version ``current``."""
        return trained == current

    def for_task(self, task) -> "NetMethod":
        """This method bound to ``task``'s formation version (:func:`generators.task.bind` calls it).

        A copy, so that the registry's instance stays unbound and each task
        gets its own; a network already loaded is shared and checked now.
        """
        bound = object.__new__(type(self))  # not copy.copy: that pickles, dropping the loaded network
        bound.__dict__.update(self.__dict__)
        bound.formation_version = task.formation_version
        if bound._model is not None:
            bound._check_formation(bound._trained_on)
        return bound

    def _check_formation(self, trained) -> None:
        if trained is None or self.formation_version is None or self.same_formation(trained, self.formation_version):
            return
        raise ValueError(f"{self.checkpoint}: {self.name} was trained on formation version {trained} data, the task "
                         f"is formation version {self.formation_version}; retrain it on the task's data")

    @property
    def model(self):
        """The network, loaded from :attr:`checkpoint` on first access."""
        if self._model is None:
            model, ckpt = self.load(self.checkpoint)
            trained = self.trained_on(ckpt)
            self._check_formation(trained)
            self._model, self._trained_on = model, trained
        return self._model

    def __getstate__(self) -> dict:
        return {**self.__dict__, **{k: None for k in self._per_process}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, checkpoint={str(self.checkpoint)!r})"


# ---------------------------------------------------------------------------
# Training state
# ---------------------------------------------------------------------------


def migrate_state(raw: Any, path: str | os.PathLike) -> Any:
    """A training state of an older layout in the current one (other dicts are returned as they are).

    * Deep Set (the former ``models.train``, format ``restorebench.deepset/1`` with an
      ``optimizer``): ``scheduler``, ``history``, wall time, torch and numpy
      generator states and ``train_config`` move to ``extra``;
      ``best_val_psnr`` becomes ``best["psnr"]``.
    * Fingerprint networks (no format; ``optim``, ``arch``, ``elapsed``):
      config ``{"arch", "net"}``, ``optim`` -> ``optimizer``, EMA weights,
      history, generator state and wall time to ``extra``; the data they were
      trained on (``data``, preset/version strings) is the data version, or
      None (not recorded) in the oldest states.
    * The first kit layout (``restorebench.<name>-train/1`` without
      ``extra``): an empty ``extra``.
    """
    if not isinstance(raw, dict):
        return raw
    if raw.get("format") == "restorebench.deepset/1" and "optimizer" in raw:
        best = float(raw.get("best_val_psnr", float("-inf")))
        return {"format": "restorebench.deepset-train/1", "config": raw["config"], "model": raw["model"],
                "optimizer": raw["optimizer"], "step": int(raw["step"]), "cpu_s": float(raw.get("cpu_time_s", 0.0)),
                "best": {} if best == float("-inf") else {"psnr": best},
                "data_version": int(raw.get("data_version", 1)),
                "extra": {"scheduler": raw["scheduler"], "history": raw.get("history", "[]"),
                          "wall_time_s": float(raw.get("wall_time_s", 0.0)), "torch_rng": raw["torch_rng"],
                          "numpy_rng": raw["numpy_rng"], "train_config": raw.get("train_config", "{}")}}
    if "format" not in raw and {"optim", "arch", "elapsed"} <= set(raw):
        return {"format": "restorebench.fingerprint-train/1", "config": {"arch": raw["arch"], "net": raw["config"]},
                "model": raw["model"], "optimizer": raw["optim"], "step": int(raw["step"]), "cpu_s": 0.0,
                "best": dict(raw.get("best") or {}), "data_version": raw.get("data"),
                "extra": {"ema": raw.get("ema"), "history": list(raw.get("history", [])), "rng": raw["rng"],
                          "elapsed": float(raw["elapsed"])}}
    if str(raw.get("format", "")).endswith("-train/1") and "extra" not in raw:
        return {**raw, "extra": {}}
    return raw


class TrainState:
    """The resumable state of one training run (see the module docstring).

    Parameters
    ----------
    path : path
        The state file (``--state``).
    fmt, what : str
        Its format (``restorebench.<name>-train/1``) and a description for errors.
    config : dict
        What must match to resume (architecture, widths, role ...).
    data_version
        The training data's formation-model version (or another JSON-able
        description of it); ``same_data(saved, current)`` decides whether a
        state may continue on the data (default: equal; a saved None, not
        recorded, always may).
    """

    def __init__(self, path: str | os.PathLike, *, fmt: str, what: str, config: dict, data_version,
                 same_data: Callable[[Any, Any], bool] | None = None):
        self.path, self.fmt, self.what = Path(path), fmt, what
        self.config, self.data_version = config, data_version
        self.same_data = same_data or (lambda a, b: a == b)
        self.step, self.cpu_s, self.best, self.extra = 0, 0.0, {}, {}
        self.collect: Callable[[], dict] | None = None  # refreshes ``extra`` before every save
        self.resumed, self.step0, self.stopped_by = False, 0, None  # set by resume() and run_budget()
        self.key, self.higher_is_better = "", True  # the validation score that picks the best (start())

    def resume(self, model, optimizer, *, required: bool = False) -> bool:
        """Load the saved state into ``model`` and ``optimizer``; False when there is none
        (a :class:`UserError` when ``required``, i.e. ``--resume`` was given)."""
        if not self.path.is_file():
            if required:
                raise UserError(f"--resume: no checkpoint at {self.path}")
            return False
        try:
            st = migrate_state(_torch_load(self.path), self.path)
            if not isinstance(st, dict) or st.get("format") != self.fmt:
                got = st.get("format") if isinstance(st, dict) else type(st).__name__
                raise ValueError(f"{self.path}: not a {self.what} checkpoint (format {got!r}, expected {self.fmt!r})")
        except ValueError as e:
            raise UserError(str(e)) from None
        if st["config"] != self.config:
            raise UserError(f"{self.path}: saved config {st['config']} differs from {self.config}; use another --state")
        saved = st.get("data_version")
        if saved is not None and not self.same_data(saved, self.data_version):
            raise UserError(f"{self.path}: trained on data version {saved}, the data is version {self.data_version}; "
                            "start a new state (--init to warm-start)")
        model.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        self.step, self.cpu_s, self.best = int(st["step"]), float(st["cpu_s"]), dict(st["best"])
        self.extra = dict(st.get("extra", {}))
        self.resumed, self.step0 = True, self.step
        return True

    def save(self, model, optimizer) -> None:
        if self.collect is not None:
            self.extra.update(self.collect())
        save_checkpoint({"format": self.fmt, "config": self.config, "model": model.state_dict(),
                         "optimizer": optimizer.state_dict(), "step": self.step, "cpu_s": self.cpu_s,
                         "best": self.best, "data_version": self.data_version, "extra": self.extra}, self.path)


# ---------------------------------------------------------------------------
# The loop and the ledger
# ---------------------------------------------------------------------------


def _better(value: float, best: Mapping, key: str, higher_is_better: bool) -> bool:
    if key not in best:
        return True
    return value > best[key] if higher_is_better else value < best[key]


def run_budget(*, state: TrainState, model, optimizer, step_fn: Callable[[int], float], minutes: float | None,
               evaluate: Callable[[], dict] | None, key: str, val_every: int | Callable[[int], bool] | None,
               save_every: int, export: Callable[[dict], None] | None = None, max_steps: int | None = None,
               higher_is_better: bool = True, validate_at_end: bool = False, log: Callable[[str], None] = print) -> dict:
    """Train until ``minutes`` of wall time (None: no limit) or ``max_steps`` steps, SIGTERM or Ctrl-C.

    ``step_fn(step) -> loss`` does one optimizer step (``step`` counts from 0
    over all runs). When ``val_every`` says so (every that many steps, or a
    callable of the step count) ``evaluate() -> dict`` scores the validation
    set; when ``dict[key]`` beats ``state.best`` (higher or lower is better)
    ``state.best`` becomes it and ``export(scores)`` writes the shipped
    weights. The state is saved every ``save_every`` steps, after each
    validation and at the end, with the CPU seconds spent. SIGTERM and SIGINT
    stop the loop after the current step; the previous handlers are restored
    on return. Returns the last validation scores.
    """
    import signal
    import threading

    stop: dict[str, int | None] = {"signal": None}
    old = {}
    if threading.current_thread() is threading.main_thread():
        old = {s: signal.signal(s, lambda signum, _frame: stop.__setitem__("signal", signum))
               for s in (signal.SIGTERM, signal.SIGINT)}
    due = val_every if callable(val_every) else (lambda step: bool(val_every) and step % val_every == 0)
    t_end = None if minutes is None else time.monotonic() + 60 * minutes
    cpu0, last = time.process_time(), {}

    def validate(loss: float | None) -> None:
        nonlocal last
        last = evaluate()
        model.train()
        if _better(last[key], state.best, key, higher_is_better):
            state.best = {**last, "step": state.step}
            if export is not None:
                export(last)
        log(f"step {state.step}" + ("" if loss is None else f" loss {loss:.4f}") + " val "
            + " ".join(f"{k} {v:.4f}" for k, v in last.items()) + f" (best {key} {state.best[key]:.4f})")

    def save() -> None:
        nonlocal cpu0
        state.cpu_s += time.process_time() - cpu0
        cpu0 = time.process_time()
        state.save(model, optimizer)

    model.train()
    try:
        while ((t_end is None or time.monotonic() < t_end) and (max_steps is None or state.step < max_steps)
               and stop["signal"] is None):
            loss = step_fn(state.step)
            state.step += 1
            validated = evaluate is not None and due(state.step)
            if validated:
                validate(loss)
            if validated or state.step % save_every == 0:
                save()
        if validate_at_end and evaluate is not None:
            validate(None)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        save()
    state.stopped_by = stop["signal"]
    return last


def append_ledger(path: str | os.PathLike | None, header: list[str], row: list) -> None:
    """Append ``[today, *row]`` to the CSV at ``path`` (header ``["date", *header]`` when new); nothing when no path."""
    if not path:
        return
    path = Path(path)
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["date", *header])
        w.writerow([_dt.date.today().isoformat(), *row])


# ---------------------------------------------------------------------------
# Command line, threads, data
# ---------------------------------------------------------------------------


def add_common_flags(p, *, minutes: float | None = 30.0, batch: int = 8, crop: int = 64, lr: float = 1e-3,
                     threads: int = 1, val_every: int | None = 250, save_every: int = 250, data_nargs: str | None = None,
                     val_required: bool = True, state_default: str | None = None,
                     state_aliases: tuple[str, ...] = (), minutes_aliases: tuple[str, ...] = (),
                     skip: tuple[str, ...] = ()):
    """Add the flags every trainer shares to the argparse parser ``p`` (defaults per trainer); returns ``p``.

    ``--data``, ``--val-data``, ``--state`` (resumed when it exists, by
    every trainer), ``--resume`` (kept for older commands: resuming needs no
    flag; with it a missing ``--state`` is an error instead of a new run),
    ``--export`` (best validation weights), ``--ledger``, ``--minutes``
    (wall-clock budget), ``--batch``, ``--crop``, ``--lr``, ``--threads``,
    ``--seed``, ``--val-every`` and ``--save-every`` (steps), ``--init``
    (warm start, :func:`warm_start`; :func:`start` applies it); the names in
    ``skip`` are left to the trainer. ``state_aliases`` / ``minutes_aliases``
    keep older spellings (``--out``, ``--time-limit``) working.
    """
    flags = [
        (("--data",), dict(required=True, nargs=data_nargs, help="training dataset directory"
                                                                     + ("/directories" if data_nargs else ""))),
        (("--val-data",), dict(required=val_required, default=None, nargs=data_nargs,
                               help="held-out dataset directory (another generator seed)")),
        (("--state", *state_aliases), dict(required=state_default is None and not state_aliases, default=state_default,
                                           dest="state", help="training-state file (resumed when it exists)")),
        (("--resume",), dict(action="store_true", help="kept for older commands: an existing --state is always "
                                                        "resumed; with --resume a missing one is an error")),
        (("--export",), dict(default=None, help="where the best validation weights go (weights only)")),
        (("--ledger",), dict(default=None, help="append one CSV row per run (steps, CPU-hours, validation)")),
        (("--minutes", *minutes_aliases), dict(type=float, default=minutes, dest="minutes",
                                               help="wall-clock budget of this run in minutes")),
        (("--batch",), dict(type=int, default=batch, help="examples per batch")),
        (("--crop",), dict(type=int, default=crop, help="random crop side in pixels")),
        (("--lr",), dict(type=float, default=lr, help="Adam learning rate")),
        (("--threads",), dict(type=int, default=threads, help="torch CPU threads")),
        (("--seed",), dict(type=int, default=0)),
        (("--val-every",), dict(type=int, default=val_every, help="steps between validations")),
        (("--save-every",), dict(type=int, default=save_every, help="steps between saves of the state")),
        (("--init",), dict(default=None, help="warm start a new run (no --state yet) from the weights of this "
                                              "checkpoint or state (another formation or input version allowed)")),
        (("--card",), dict(default=None, help="write the model card here after the run (generated from the nets "
                                              "module's and the trainer's docstrings, the exported checkpoint and the "
                                              "ledger; a hand-written card is never overwritten)")),
    ]
    for names, kw in flags:
        if names[0].lstrip("-") not in skip:
            p.add_argument(*names, **kw)
    return p


def run_cli(parser, train: Callable, argv: list[str] | None = None, *, check: Callable | None = None) -> int:
    """Parse ``argv``, run ``train(args)``; a :class:`UserError` is one ``error: ...`` line on stderr and exit 2.

    ``check(parser, args)`` may refuse flag combinations with ``parser.error``.
    """
    args = parser.parse_args(argv)
    if check is not None:
        check(parser, args)
    try:
        return train(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def pin_threads(n: int) -> None:
    """Run torch's CPU kernels on ``n`` (>= 1) threads."""
    import torch

    torch.set_num_threads(max(1, int(n)))


def dataset_version(path: str | os.PathLike) -> int:
    """The formation-model version in a dataset's manifest (its task parameters); 0 when it has none.

    Raises :class:`UserError` naming the manifest when it cannot be read.
    """
    from generators.dataset import read_formation_version

    return read_formation_version(path)


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


# ---------------------------------------------------------------------------
# A trainer's run, for the trainers that need nothing more
# ---------------------------------------------------------------------------


def start(args, *, model, optimizer, fmt: str, what: str, config: dict, data_version, key: str,
          higher_is_better: bool = True, new_modules: tuple[str, ...] = ()):
    """Seed, then resume ``--state`` when it exists, else warm-start from ``--init`` if given: ``(state, rng)``.

    ``new_modules``: parameter-name prefixes an ``--init`` file may lack (:func:`warm_start`).

    With ``--resume`` a missing ``--state`` is a :class:`UserError`.

    ``rng`` is ``default_rng(seed)`` for a new run and ``default_rng([seed,
    step])`` for a resumed one (a resumed run draws other batches than the
    first run did).
    """
    import numpy as np

    state = TrainState(args.state, fmt=fmt, what=what, config=config, data_version=data_version)
    rng = np.random.default_rng(args.seed)
    if state.resume(model, optimizer, required=bool(getattr(args, "resume", False))):
        rng = np.random.default_rng([args.seed, state.step])
        best = f", best val {key} {state.best[key]:.4f}" if key in state.best else ""
        print(f"resumed {state.path} at step {state.step} ({state.cpu_s / 3600:.2f} CPU-h{best})")
    elif getattr(args, "init", None) is not None:
        warm_start(model, args.init, new_modules=new_modules)
        print(f"initialised from {args.init}")
    state.key, state.higher_is_better = key, higher_is_better
    return state, rng


def fit(args, state: TrainState, *, model, optimizer, config: dict, step_fn, evaluate, make_checkpoint,
        ledger_lead: Mapping[str, Any] | None = None, ledger_val: tuple[tuple[str, str, int], ...] = (),
        best_digits: int = 3) -> dict:
    """Run :func:`run_budget` with the common flags, export the best weights, append the ledger row.

    The export holds ``make_checkpoint(model, config, **meta)`` with the step,
    the validation scores, the torch version, the data version and the run
    settings. The ledger row is ``ledger_lead`` (e.g. the architecture),
    steps, cumulative CPU-hours, data version, the last validation
    (``ledger_val``: column, score, digits), the best ``key`` and its step.
    """
    import torch

    key = state.key
    export = None
    if args.export:
        def export(last: dict) -> None:
            save_checkpoint(make_checkpoint(model, config, step=state.step, val=last, torch=torch.__version__,
                                            data_version=state.data_version, data=str(args.data), lr=args.lr,
                                            batch=args.batch, crop=args.crop), args.export)

    last = run_budget(state=state, model=model, optimizer=optimizer, minutes=args.minutes, step_fn=step_fn,
                      evaluate=evaluate, key=key, val_every=args.val_every, save_every=args.save_every,
                      export=export, higher_is_better=state.higher_is_better)
    lead = dict(ledger_lead or {})
    best = state.best.get(key, float("nan"))
    append_ledger(args.ledger, [*lead, "steps", "cpu_hours", "data_version", *(c for c, _, _ in ledger_val),
                                f"best_{key}", "best_step"],
                  [*lead.values(), state.step, round(state.cpu_s / 3600, 3), state.data_version,
                   *(round(last.get(m, float("nan")), d) for _, m, d in ledger_val), round(best, best_digits),
                   state.best.get("step", "")])
    print(f"stopped at step {state.step} ({state.step - state.step0} this run), {state.cpu_s / 3600:.2f} CPU-h "
          f"in total; best val {key} {best:.4f}")
    if getattr(args, "card", None):
        import inspect

        write_card(args.card, nets=inspect.getmodule(type(model)), trainer=inspect.getmodule(step_fn),
                   checkpoint=args.export, ledger=args.ledger)
        print(f"wrote the model card {args.card}")
    return last


CARD_MARK = "<!-- generated by models.kit.write_card"


def write_card(path: str | os.PathLike, *, nets, trainer, checkpoint: str | os.PathLike | None,
               ledger: str | os.PathLike | None) -> str:
    """Write the model card of a network to ``path`` (Markdown) and return its text.

    The card is made of what is already written, so nothing is said twice:
    the docstring of ``nets`` (the module of the network: architecture,
    references, what was changed from the paper), the docstring of
    ``trainer`` (data command and formation version, recipe, resume
    command), the metadata of the exported ``checkpoint`` (format, size,
    parameters, step, validation scores, data version, run settings) and
    every row of the ``ledger`` CSV (date, steps, CPU-hours, data version,
    validation: the budget). A file at ``path`` that does not start with
    :data:`CARD_MARK` is a hand-written card: :class:`UserError`, nothing
    written.
    """
    from generators.dataset._atomic import write_bytes_atomic

    path = Path(path)
    if path.is_file() and not path.read_text(errors="replace").startswith(CARD_MARK):
        raise UserError(f"{path} is a hand-written model card; pass another --card path (it is never overwritten)")
    nets_name, trainer_name = _module_name(nets), _module_name(trainer)
    lines = [f"{CARD_MARK} from {nets_name}, {trainer_name}, the checkpoint and the ledger: edit those, "
             "not this file -->", ""]
    title = Path(checkpoint).stem if checkpoint else nets_name
    lines += [f"# {title}: model card", "", f"## Network (`{nets_name}`)", "", _doc(nets), "",
              f"## Training (`{trainer_name}`)", "", _doc(trainer), ""]
    if checkpoint and Path(checkpoint).is_file():
        try:
            ckpt = _torch_load(Path(checkpoint))  # any network's format: the card reads only its metadata
        except ValueError as e:
            raise UserError(str(e)) from None
        if not isinstance(ckpt, dict):
            raise UserError(f"{checkpoint}: not a checkpoint dict (a {type(ckpt).__name__})")
        weights = ckpt.get("model", ckpt.get("state_dict", {}))
        n_params = sum(int(v.numel()) for v in weights.values()) if isinstance(weights, Mapping) else 0
        meta = {k: v for k, v in ckpt.items() if k not in ("model", "state_dict", "config", "format")}
        lines += ["## The shipped checkpoint", "",
                  f"* file `{Path(checkpoint).name}`, format `{ckpt.get('format', '?')}`, "
                  f"{Path(checkpoint).stat().st_size / 2**20:.2f} MiB, {n_params:,} parameters; loads with "
                  "`torch.load(weights_only=True)`",
                  f"* config `{json.dumps(plain(ckpt.get('config', {})), sort_keys=True)}`"]
        lines += [f"* {k}: `{json.dumps(plain({k: v})[k], sort_keys=True)}`" for k, v in sorted(meta.items())]
        lines.append("")
    if ledger and Path(ledger).is_file():
        with open(ledger, newline="") as fh:
            rows = list(csv.reader(fh))
        if rows:
            lines += [f"## Ledger (`{Path(ledger).name}`: one row per training run)", "",
                      "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
            lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
            lines.append("")
    text = "\n".join(lines)
    write_bytes_atomic(path, text.encode())
    return text


def _module_name(module) -> str:
    name = getattr(module, "__name__", "?")
    if name == "__main__":  # python -m models.train_x: the spec knows the real name
        spec = getattr(module, "__spec__", None)
        name = spec.name if spec is not None else Path(getattr(module, "__file__", "?")).stem
    return name


def _doc(module) -> str:
    import inspect

    doc = inspect.getdoc(module)
    if not doc:
        raise UserError(f"{_module_name(module)} has no docstring; the model card is made from it")
    return doc
