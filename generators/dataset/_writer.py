"""The writer: settings checks, resume (scan, verify, refuse mismatches), disk check and the job loop."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from generators.dataset._atomic import _dumps, _lock, _sha256_file, _write_json_atomic
from generators.dataset._codec import (
    DEFAULT_JPEG_QUALITY,
    DEFAULT_PNG_ENCODER,
    IMAGE_FORMATS,
    LEGACY_PNG_ENCODER,
    PNG_ENCODERS,
    _to_jsonable,
    check_encoders,
    encoders_record,
)
from generators.dataset._common import (
    _SHARD_RE,
    DISK_MARGIN,
    FORMAT,
    FORMAT_VERSION,
    KEY_DIGITS,
    MANIFEST,
    SHARD_DIGITS,
    UserError,
    _debug,
    _format_bytes,
    _one_line,
    _package_versions,
    _shard_name,
)
from generators.dataset._engines import _changed_members, _InProcess, _LocalPool, _probe_sample_bytes, _RayEngine, _ShardJob
from generators.dataset._tar import _TAR_BLOCK, _TAR_RECORD
from generators.task import FORMATION_KEY, Sample, formation_version


def compute_dataset_hash(manifest: Mapping[str, Any]) -> str:
    """The dataset's identity: sha256 over its settings and the ordered shard hashes."""
    d = {k: manifest[k] for k in ("format", "format_version", "generator", "params", "seed", "n", "shard_size")}
    d.update({k: manifest[k] for k in _STORAGE_KEYS if k in manifest})  # absent for PNG: older hashes stay valid
    d["shards"] = [s["sha256"] for s in manifest["shards"]]
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


# Manifest keys of the storage options. image_format and image_quality are absent for
# PNG, the default (and all there was before --image-format); encoders (issue 27) is
# absent on every dataset written before it, all with OpenCV's PNG encoder. Absent keys
# are not hashed, so those datasets keep their manifests and hashes.
_STORAGE_KEYS = ("image_format", "image_quality", "encoders")


def _tiled_format_version(image_format: str) -> int:
    """The format version that stored this image format's stacks tiled: 1 (PNG) or 2 (WebP, JPEG)."""
    return 1 if image_format == "png" else 2


def _storage_config(image_format: str, quality: int) -> dict:
    if image_format == "png":
        return {}
    return {"image_format": image_format, **({"image_quality": quality} if image_format == "jpeg" else {})}


def _describe_storage(manifest: Mapping) -> str:
    """``"png"``, ``"jxl (lossless)"``, ``"webp (lossless)"`` or ``"jpeg quality 95"``."""
    image_format = manifest.get("image_format", "png")
    if image_format == "jpeg":
        return f"jpeg quality {manifest.get('image_quality')}"
    return f"{image_format} (lossless)" if image_format in ("jxl", "webp") else image_format


def _recorded_png_encoder(out: Path, manifest: Mapping) -> str:
    """The key of :data:`PNG_ENCODERS` that wrote an existing dataset; refuse one this code cannot write."""
    encoders = manifest.get("encoders")
    if encoders is None:
        return LEGACY_PNG_ENCODER
    png = encoders.get("png") if isinstance(encoders, Mapping) else None
    for name, options in PNG_ENCODERS.items():
        if png == options:
            return name
    raise UserError(
        f"{out} was written with a PNG encoder this RestoreBench cannot reproduce ({json.dumps(png)}); "
        "use a new --out directory or the RestoreBench that started it"
    )


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UserError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise UserError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _describe_diff(old: Mapping, new: Mapping, prefix: str = "") -> list[str]:
    diffs = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k, "<unset>"), new.get(k, "<unset>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs += _describe_diff(a, b, f"{prefix}{k}.")
        elif a != b:
            diffs.append(f"{prefix}{k}: {json.dumps(a)} -> {json.dumps(b)}")
    return diffs


def _check_existing(out: Path, config: dict, manifest: dict | None) -> bool:
    """Refuse incompatible existing content; True when the existing manifest can stay as is."""
    if manifest is None:
        leftovers = [p.name for p in out.iterdir() if p.name != ".restorebench.lock"]
        if leftovers:
            raise UserError(
                f"{out} is not empty ({', '.join(sorted(leftovers)[:3])}{', ...' if len(leftovers) > 3 else ''}) "
                f"and holds no {MANIFEST}; use an empty or new --out directory"
            )
        return False
    if manifest.get("format") != FORMAT:
        raise UserError(f"{out / MANIFEST} is not a RestoreBench dataset manifest; use another --out directory")
    _check_formation(out, config, manifest)
    keys = ("generator", "params", "seed", "shard_size")
    old = {k: manifest.get(k) for k in keys} | {"image_format": _describe_storage(manifest)}
    new = {k: config[k] for k in keys} | {"image_format": _describe_storage(config)}
    diffs = (
        _describe_diff(old, new)
        or _describe_diff({"format_version": manifest.get("format_version")},
                          {"format_version": config["format_version"]})  # fmt: skip
        or _describe_diff({"encoders": manifest.get("encoders", {})}, {"encoders": config.get("encoders", {})})
    )
    if diffs:
        raise UserError(
            f"{out} already holds a dataset made with different settings ({'; '.join(diffs)}); "
            "use a new --out directory or the original settings"
        )
    if config["n"] < manifest["n"]:
        raise UserError(
            f"{out} already holds n={manifest['n']} samples; --n {config['n']} would shrink it "
            "(n may only grow); use a new --out directory"
        )
    return config["n"] == manifest["n"] and bool(manifest.get("complete"))


def _check_formation(out: Path, config: dict, manifest: dict) -> None:
    """Refuse to extend a dataset of the same generator made under another formation version."""
    if manifest.get("generator") != config["generator"] or not isinstance(manifest.get("params"), Mapping):
        return  # another generator, or no params at all: the settings check names the difference
    old, new = formation_version(manifest["params"]), formation_version(config["params"])
    if old != new:
        recorded = f"version {old}" if FORMATION_KEY in manifest["params"] else "version 0 (none recorded)"
        raise UserError(
            f"{out} holds {config['generator']} samples of formation {recorded}; this generator makes formation "
            f"version {new}, and the two must not mix in one dataset; use a new --out directory"
        )


def _check_versions(out: Path, config: dict, manifest: dict) -> None:
    """Refuse to add shards made with other library versions than the existing ones.

    Only packages recorded on both sides are compared: a package added to
    ``generators._runtime.PACKAGES`` after the dataset was started (or one installed or
    removed since) says nothing about a change of the code that made the shards.
    """
    old, new = manifest.get("versions", {}), config["versions"]
    both = set(old) & set(new)
    diffs = _describe_diff({k: old[k] for k in both}, {k: new[k] for k in both})
    if diffs:
        raise UserError(
            f"{out} was started with other library versions ({'; '.join(diffs)}); adding shards would mix "
            "data made by different code; use a new --out directory or the original environment"
        )


def _check_same_code(out: Path, make_sample: Callable, record: Mapping, *, seed: int, **options) -> None:
    """Refuse to extend a dataset whose first stored sample this ``make_sample`` no longer makes byte for
    byte (a generator changed without a new formation version since the dataset was begun): the
    finished dataset would mix two generators' samples. Costs one sample."""
    first = int(record["first"])
    job = _ShardJob(str(out), 0, first, 1, seed, _debug(), **options)
    changed = _changed_members(make_sample, job, first, out / record["file"])
    if changed:
        raise UserError(
            f"{out}: sample {first} on disk is not what this code makes ({', '.join(changed[:3])}"
            f"{' ...' if len(changed) > 3 else ''} differ): the generator changed since the dataset was begun; "
            "finish it with the code that began it, or use a new --out directory"
        )


def _scan_shards(out: Path, n: int, shard_size: int) -> dict[int, dict]:
    """Verified complete shards by index; deletes temporaries and anything unverifiable."""
    num_shards = -(-n // shard_size)
    for p in out.iterdir():
        if p.name.startswith(".") and p.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                p.unlink()
    done = {}
    for s in range(num_shards):
        path = out / _shard_name(s)
        rec_path = path.with_name(path.name + ".json")
        first, count = s * shard_size, min(shard_size, n - s * shard_size)
        ok = False
        if path.exists() and rec_path.exists():
            try:
                rec = json.loads(rec_path.read_text())
                ok = (
                    rec.get("first") == first
                    and rec.get("count") == count
                    and rec.get("file") == path.name
                    and rec.get("bytes") == path.stat().st_size
                    and rec.get("sha256") == _sha256_file(path)
                )
            except (OSError, ValueError):
                ok = False
        if ok:
            done[s] = rec
        else:
            for p in (rec_path, path):  # the record goes first: it is what marks a shard complete
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
    for p in out.iterdir():  # shards beyond the end cannot exist unless n shrank, which is refused
        m = _SHARD_RE.match(p.name)
        if m and int(m.group(1)) >= num_shards:
            raise UserError(f"{p} lies beyond the {num_shards} shards of this dataset; use a new --out directory")
    return done


def _free_bytes(out: Path) -> int:
    return shutil.disk_usage(out).free


@dataclass(frozen=True)
class _SizeEstimate:
    per_sample: float  # bytes in a shard, tar headers and padding included
    basis: str  # what it was measured on, for the messages


def _estimate_from_probe(job: _ShardJob, make_sample: Callable, shard_size: int) -> _SizeEstimate:
    """Make and encode the job's first samples in this process (written nowhere) and size them."""
    sizes = _probe_sample_bytes(job, make_sample)
    # a shard ends with two zero blocks and is padded to a 10 KiB record: half a record on average
    overhead = (2 * _TAR_BLOCK + _TAR_RECORD / 2) / shard_size
    which = f"sample {job.first}" if len(sizes) == 1 else f"samples {job.first}-{job.first + len(sizes) - 1}"
    return _SizeEstimate(sum(sizes) / len(sizes) + overhead, f"from {which} as {job.image_format}")


def _estimate_from_shard(done: dict[int, dict]) -> _SizeEstimate:
    rec = done.get(0) or done[min(done)]
    return _SizeEstimate(rec["bytes"] / rec["count"], f"from {rec['file']}")


def _check_disk(out: Path, estimate: _SizeEstimate, *, n: int, remaining: int, announce: Callable | None = None,
                image_format: str = "png") -> None:  # fmt: skip
    """Refuse when ``remaining`` samples of the estimated size, +10%, do not fit; ``announce`` the estimate."""
    total = estimate.per_sample * n
    need = estimate.per_sample * remaining * DISK_MARGIN
    free = _free_bytes(out)
    per_sample = f"{_format_bytes(estimate.per_sample)}/sample {estimate.basis}"
    what = f"estimated total {_format_bytes(total)} for {n} samples ({per_sample})"
    if announce is not None:
        still = f", {_format_bytes(estimate.per_sample * remaining)} still to write" if remaining < n else ""
        announce(f"{what}{still}; {_format_bytes(free)} free in {out}")
    if free < need:
        smaller = {"png": "--image-format webp or jpeg, ", "jxl": "--image-format webp or jpeg, ",
                   "webp": "--image-format jpeg, "}.get(image_format, "")  # fmt: skip
        raise UserError(
            f"not enough free disk space in {out}: {what}, {_format_bytes(need)} to write with a 10% margin, "
            f"{_format_bytes(free)} free; free space, lower --n, use {smaller}--extras none or pass --ignore-disk-space"
        )


def write_dataset(
    make_sample: Callable[[np.random.Generator], Sample],
    *,
    n: int,
    out: str | os.PathLike,
    seed: int = 0,
    shard_size: int = 100,
    workers: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    generator: str,
    params: Mapping[str, Any] | None = None,
    image_format: str = "png",
    quality: int | None = None,
    check_disk: bool = True,
    progress: bool = True,
) -> dict:
    """Make ``n`` samples and write them as tar shards plus ``manifest.json``.

    Sample ``i`` is ``make_sample(generators.task.sample_rng(seed, i))``.
    Re-running the same call resumes (or just verifies a finished dataset);
    see the module docstring for the layout and the guarantees.

    Parameters
    ----------
    make_sample : callable
        ``rng -> Sample``. Must be picklable (module-level function or a
        ``functools.partial`` of one) when more than one worker is used.
    n : int
        Number of samples, >= 1. May grow on a later run into the same
        directory (the dataset is extended), never shrink.
    out : path
        Output directory; created if needed. Must be empty or hold a
        dataset made with the same settings.
    seed : int
        Dataset seed, >= 0.
    shard_size : int
        Samples per shard, >= 1. One shard is the unit of work of a worker.
    workers : int or None
        Parallel workers (shards in flight); None means ``os.cpu_count()``,
        or the cluster's CPU count with ``ray_address``; 1 runs in-process.
    engine : {"local", "ray"}
        ``"local"``: a spawn-context process pool. ``"ray"``: one Ray task
        per shard, on a local Ray started with ``num_cpus=workers`` (and shut
        down afterwards) or on the cluster at ``ray_address``, whose nodes
        have this checkout at the same path and ``out`` on shared storage
        (README, "Many machines").
    ray_address : str or None
        Address of a running Ray cluster (``engine="ray"`` only).
    generator : str
        Generator name recorded in the manifest.
    params : mapping or None
        JSON-able generator parameters; recorded and part of the dataset hash.
    image_format : {"png", "jxl", "webp", "jpeg"}
        How float32 [0, 1] images (views, targets, shading ...) are stored:
        8-bit PNG (default), lossless 8-bit JPEG XL (same values, faster to
        write, larger, slower to read), lossless 8-bit WebP (same values,
        smaller) or JPEG at ``quality`` (lossy). Masks, uint8 arrays (label
        maps) and other arrays stay lossless whatever the choice. Recorded in
        the manifest and part of the dataset hash (PNG is recorded by
        omission, as before the option existed), as are the encoders and
        their options (``"encoders"``). A dataset begun by an older
        RestoreBench is finished and extended with the PNG encoder it
        was written with (OpenCV when the manifest records none).
    quality : int or None
        JPEG quality 1..100 (``image_format="jpeg"`` only; None: 95).
    check_disk : bool
        Before starting, estimate the dataset's size with the chosen options
        (from a first sample made and encoded in this process, or from the
        first existing shard when resuming) and refuse when what is left to
        write, plus 10%, exceeds the free disk space; checked again on the
        first shard written. False skips both (and the extra sample). A full
        disk while writing is always a :class:`UserError` naming the shard;
        its temporary file is removed.
    progress : bool
        Show a tqdm bar (samples/s, ETA) on stderr when it is a terminal,
        and the size estimate (one line on stderr) before starting.

    Returns
    -------
    dict
        The final manifest (also in ``out/manifest.json``).

    Raises
    ------
    UserError
        On invalid arguments, incompatible existing content, too little
        disk space, a full disk, or a failing ``make_sample`` (the message
        names the sample index).
    """
    return _write_dataset(**locals())[0]


def _write_dataset(
    make_sample,
    *,
    n,
    out,
    seed=0,
    shard_size=100,
    workers=None,
    engine="local",
    ray_address=None,
    generator,
    params=None,
    image_format="png",
    quality=None,
    check_disk=True,
    progress=True,
) -> tuple[dict, dict]:
    n = _check_int(n, "n", 1)
    shard_size = _check_int(shard_size, "shard_size", 1)
    seed = _check_int(seed, "seed", 0)
    workers = None if workers is None else _check_int(workers, "workers", 1)
    if engine not in ("local", "ray"):
        raise UserError(f"engine must be 'local' or 'ray', got {engine!r}")
    if ray_address is not None and engine != "ray":
        raise UserError("ray_address needs engine='ray'")
    if not isinstance(generator, str) or not generator:
        raise UserError(f"generator must be a non-empty name, got {generator!r}")
    if n >= 10**KEY_DIGITS:
        raise UserError(f"n must be below 10**{KEY_DIGITS}, got {n}")
    num_shards = -(-n // shard_size)
    if num_shards > 10**SHARD_DIGITS:
        raise UserError(f"{num_shards} shards is too many (max {10**SHARD_DIGITS}); raise shard_size")
    if not callable(make_sample):
        raise UserError(f"make_sample must be callable, got {type(make_sample).__name__}")
    if image_format not in IMAGE_FORMATS:
        raise UserError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")
    if quality is not None and image_format != "jpeg":
        raise UserError(f"quality applies to image_format 'jpeg' only; {image_format!r} is lossless")
    quality = DEFAULT_JPEG_QUALITY if quality is None else _check_int(quality, "quality", 1)
    if quality > 100:
        raise UserError(f"quality must be <= 100, got {quality}")
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": generator,
        "params": _to_jsonable(dict(params or {}), "params"),
        "seed": seed,
        "n": n,
        "shard_size": shard_size,
        "key_digits": KEY_DIGITS,
        "versions": _package_versions(),
        **_storage_config(image_format, quality),
        "encoders": encoders_record(image_format, quality, DEFAULT_PNG_ENCODER),
    }
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with _lock(out):
        manifest_path = out / MANIFEST
        existing = None
        if manifest_path.exists():
            try:
                existing = json.loads(manifest_path.read_text())
            except ValueError:
                raise UserError(f"{manifest_path} is not valid JSON; use a new --out directory") from None
        if existing is not None and existing.get("format_version") == _tiled_format_version(image_format):
            # Begun by an older RestoreBench: finished and extended in its own format (stacks
            # tiled), so that its shards stay byte-identical to what that version writes.
            config["format_version"] = existing["format_version"]
        png_encoder = DEFAULT_PNG_ENCODER
        if existing is not None and existing.get("format") == FORMAT:
            # Finished and extended with the PNG encoder that wrote it (an older dataset records
            # none and keeps recording none, so that its manifest and hash stay as they were).
            png_encoder = _recorded_png_encoder(out, existing)
            if "encoders" in existing:
                config["encoders"] = encoders_record(image_format, quality, png_encoder)
            else:
                del config["encoders"]
        check_encoders(image_format, png_encoder)
        keep_manifest = _check_existing(out, config, existing)
        done = _scan_shards(out, n, shard_size)
        todo = [s for s in range(num_shards) if s not in done]
        if existing is not None and todo:
            _check_versions(out, config, existing)
            if done:
                _check_same_code(out, make_sample, done[min(done)], seed=seed, image_format=image_format,
                                 quality=quality, per_frame=config["format_version"] >= 3, png_encoder=png_encoder)
        elif existing is not None:  # nothing to make: keep recording what made the shards
            config["versions"] = existing.get("versions", config["versions"])
        if not keep_manifest:
            _write_json_atomic(manifest_path, {**config, "complete": False})
        reused = sum(r["count"] for r in done.values())
        made = _run_jobs(
            make_sample, out, todo, done, n=n, seed=seed, shard_size=shard_size, workers=workers,
            engine=engine, ray_address=ray_address, generator=generator, check_disk=check_disk,
            progress=progress, reused=reused, image_format=image_format, quality=quality,
            per_frame=config["format_version"] >= 3, png_encoder=png_encoder,
        )  # fmt: skip
        manifest = {**config, "complete": True, "shards": [done[s] for s in range(num_shards)]}
        manifest["dataset_hash"] = compute_dataset_hash(manifest)
        text = _dumps(manifest)
        if not manifest_path.exists() or manifest_path.read_text() != text:
            _write_json_atomic(manifest_path, manifest)
    stats = {"made": made, "reused": reused, "seconds": time.perf_counter() - t0}
    return manifest, stats


def _run_jobs(make_sample, out, todo, done, *, n, seed, shard_size, workers, engine, ray_address,
              generator, check_disk, progress, reused, image_format, quality, per_frame, png_encoder) -> int:  # fmt: skip
    """Write the shards in ``todo`` (shard 0 first), filling ``done``; return the samples made."""
    if not todo:
        return 0
    debug = _debug()
    jobs = [
        _ShardJob(str(out), s, s * shard_size, min(shard_size, n - s * shard_size), seed, debug, image_format, quality,
                  per_frame, png_encoder)
        for s in todo
    ]
    remaining = n - reused
    if workers is None and not (engine == "ray" and ray_address is not None):  # a cluster: its CPUs, below
        workers = os.cpu_count() or 1
    if workers is not None:
        workers = min(workers, len(jobs))
    if engine == "ray" or workers > 1:
        try:
            pickle.dumps(make_sample)
        except Exception as e:
            if engine != "ray":  # Ray pickles by value with cloudpickle and may still manage
                raise UserError(
                    f"make_sample must be picklable for workers > 1 (a module-level function or "
                    f"functools.partial of one): {_one_line(e)}"
                ) from None

    from tqdm.auto import tqdm

    lock = threading.Lock()
    bar = None  # made after the size estimate is printed; nothing reports before jobs are submitted

    def report(k: int) -> None:
        with lock:
            bar.update(k)

    runner = None
    made = 0
    ok = False
    try:
        if engine == "local" and workers > 1:
            runner = _LocalPool(make_sample, report, workers)
            if check_disk and not done:
                # Spawning the workers (each imports the generator) overlaps the size probe below,
                # which makes and encodes up to 2 s of samples here; nothing is written before it.
                runner.start_workers()
        if check_disk:
            estimate = _estimate_from_shard(done) if done else _estimate_from_probe(jobs[0], make_sample, shard_size)
            announce = functools.partial(print, f"{generator}:", file=sys.stderr, flush=True) if progress else None
            _check_disk(out, estimate, n=n, remaining=remaining, announce=announce, image_format=image_format)
        bar = tqdm(
            total=n, initial=reused, unit="sample", desc=generator, disable=None if progress else True,
            smoothing=0.05, dynamic_ncols=True, file=sys.stderr,
        )  # fmt: skip
        if engine == "ray":
            runner = _RayEngine(make_sample, workers, ray_address)
            if workers is None:  # on a cluster: as many shards in flight as it has CPUs
                workers = max(1, min(runner.cpus, len(jobs)))
        elif workers == 1:
            runner = _InProcess(make_sample, report)
        pending = list(jobs)
        in_flight = 0
        disk_checked = not check_disk or bool(done)
        while pending or in_flight:
            # Until the first shard is measured only one wave is in flight, so a
            # short disk is refused early; afterwards the window keeps workers busy.
            while pending and in_flight < workers:
                runner.submit(pending.pop(0))
                in_flight += 1
            record = runner.wait_one()
            in_flight -= 1
            s = int(_SHARD_RE.match(record["file"]).group(1))
            done[s] = record
            made += record["count"]
            if not runner.reports_samples:
                report(record["count"])
            if not disk_checked:  # the first shard measures better than one sample
                _check_disk(out, _estimate_from_shard(done), n=n, remaining=n - reused - made,
                            image_format=image_format)  # fmt: skip
                disk_checked = True
        ok = True
    finally:
        try:
            if runner is not None:
                runner.close(abort=not ok)
        finally:
            if bar is not None:
                bar.close()
            if not ok:
                for p in out.glob(".shard-*.tmp"):  # what killed workers left behind
                    with contextlib.suppress(OSError):
                        p.unlink()
    return made
