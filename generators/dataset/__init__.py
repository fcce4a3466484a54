"""Write and read RestoreBench datasets: WebDataset-layout tar shards + manifest.

Every generator writes its samples through :func:`write_dataset` and every
consumer (training, the benchmark harness) reads them back through
:func:`read_dataset` or :class:`SampleDataset`.

On-disk layout of a dataset directory::

    DIR/manifest.json              what was made, how, and the dataset's identity
    DIR/shard-000000.tar           samples 0 .. shard_size-1
    DIR/shard-000000.tar.json      the shard's record (sha256, index range, bytes)
    DIR/shard-000001.tar ...

Each shard is a plain (USTAR) tar in WebDataset layout: the members of sample
``i`` are named ``{key}.{field}.{ext}`` with ``key = f"{i:012d}"``, e.g.
``000000000123.inputs.views.pngs``, ``000000000123.target.clean.png``,
``000000000123.extras.mask.png``, ``000000000123.params.json`` and
``000000000123.meta.json`` (dtype, shape and encoding of every array, so the
reader restores them exactly). Encoding of an array field:

* float32, 3-D ``(H, W, C)`` or 4-D ``(N, H, W, C)`` with C in {1, 3}, all
  values in [0, 1]: 8-bit PNG of ``round(x * 255)`` (a stack: see below);
  read back as float32 ``k / 255``.
  Any other float array (other ndim, values outside [0, 1], NaN) is stored
  losslessly as ``.npy``;
* bool with 2 to 4 dimensions (masks, stacks of masks): PNG of 0/255, read
  back as bool;
* uint8 with the same layouts as float32 images, or 2-D: PNG, read back
  unchanged;
* everything else: ``.npy`` (``allow_pickle=False``).

A stack of images (4-D ``(N, H, W, C)``, or a 3-D ``(N, H, W)`` stack of
masks: views, video frames, per-frame masks) is stored frame by frame: one
member per field, holding the N encoded images one after the other (extension
``pngs``, ``jxls``, ``webps`` or ``jpgs``), with the N + 1 byte offsets of the frames
in the field's meta (``"frame_offsets"``; frame ``t`` is bytes
``[offsets[t], offsets[t + 1])``, a complete image file). :func:`read_frame`
and ``SampleDataset.read_frame`` read and decode one frame only.

PNGs are written by imagecodecs at zlib level 1, run-length strategy, with the
fixed UP filter (RGB stored as RGB): 1.8-2.4x faster than OpenCV's level-1 RLE
PNG that wrote every dataset before issue 27, 4-5x on masks and label maps,
for 7-13% more bytes on renders (``python -m benchmarks.codec_speed``). Both are
standard PNG files that every decoder restores to the same pixels.

Image format (``--image-format``, ``write_dataset(image_format=...)``): the
float32 [0, 1] images above may instead be stored as lossless 8-bit JPEG XL
(``.jxl``, encoding ``jxl8``, imagecodecs/libjxl at effort 1, one thread;
faster to write than PNG, larger, slower to read), as lossless 8-bit WebP
(``.webp``, encoding ``webp8``, Pillow at its fastest effort; a gray image is
stored as RGB) or as JPEG (``.jpg``, encoding ``jpeg8``, OpenCV/libjpeg-turbo
at ``--quality``, default 95, 4:4:4 chroma; lossy). The lossless ones decode to
the same values as PNG. An image (a frame, for a stack) taller or wider than
the format allows (WebP 16383, JPEG 65500 pixels) stays PNG. Masks, uint8
arrays (label maps) and ``.npy`` arrays are lossless whatever the choice. The
reader finds each image's file format from its first bytes (PNG, JPEG, WebP,
JPEG XL), so it is never told which; ``encoding`` in the meta only says how the
8-bit values map back to the stored dtype. The manifest records
``"image_format"`` (and ``"image_quality"`` for JPEG), absent for PNG, and
``"encoders"``: library and options of every encoder the dataset uses, e.g.
``{"png": {"library": "imagecodecs", "level": 1, "strategy": "rle", "filter":
"up"}}``. A manifest without ``"encoders"`` was written before issue 27, with
OpenCV's PNG (zlib level 1, run-length strategy; WebP and JPEG as now); such a
dataset is finished and extended with OpenCV's encoder, byte for byte as the
older code wrote it, and keeps recording no encoders. A recorded PNG encoder
this code cannot write is refused with one line.

Format versions (``format_version`` in the manifest; a reader refuses a
version it does not know, naming it): 1, PNG/npy with stacks tiled
vertically into one ``(N*H, W, C)`` image; 2, the same with WebP or JPEG;
3 (written now, whatever the image format), stacks frame by frame. This
reader reads all three. A dataset begun as version 1 or 2 is finished and
extended in its own version, byte for byte as the older code wrote it.

Determinism: sample ``i`` is made from ``generators.task.sample_rng(seed, i)``
only, members are written in sorted order with fixed tar headers (mtime 0,
uid/gid 0, empty owner names, mode 0644, no pax records), so every shard is
byte-identical for any worker count and for the Ray engine. Generators run
with one torch/OpenCV/OpenMP thread per worker so that the thread count cannot
change floating-point results either.

Crash safety and resume: a shard is written under a hidden temporary name,
fsync'ed and renamed into place; its ``.tar.json`` record is written the same
way afterwards and marks the shard complete. Re-running the same command
verifies complete shards (sha256 against the record), deletes temporary and
unverifiable files and makes only what is missing. ``n`` may grow between
runs (the dataset is extended; the old, shorter last shard is remade) but
never shrink; any other change (generator, params, seed, shard size, image
format or quality, encoders, versions of the libraries recorded on both sides
while work remains) is refused with
:class:`UserError`. A change of the task's formation version (``params["version"]``,
see :func:`generators.task.formation_version`) is refused first, with a message
naming both versions: new-formation samples must never extend an old dataset.
Before it makes anything for a dataset that already holds shards, the writer
makes the first stored sample again and compares its members byte for byte
(:func:`sample_differences` does the same for any sample of a finished
dataset): a generator edited without a new formation version since the
dataset was begun is refused with one line naming the members that differ,
instead of mixing two generators' samples (one sample's cost).

``manifest.json`` exists from the first moment with ``"complete": false`` and
no shard list; when every shard is done it is atomically replaced by the final
manifest (``"complete": true``, the shard list and ``dataset_hash``). It holds
no timestamps or host names: two runs of the same command write identical
manifests.

Errors for users are :class:`UserError` (a ``ValueError``) with a one-line
message; a failing ``make_sample`` names the sample index. ``run_cli`` turns
them into one ``error:`` line on stderr; ``RESTOREBENCH_DEBUG=1`` re-raises with
the traceback instead.

``dataset_hash`` is the sha256 hex digest of the UTF-8 JSON text
``json.dumps(d, sort_keys=True, separators=(",", ":"))`` with ``d = {"format":
..., "format_version": ..., "generator": ..., "params": ..., "seed": ...,
"n": ..., "shard_size": ..., "shards": [sha256 of each shard, in order]}``
plus ``image_format``, ``image_quality`` and ``encoders`` when the manifest
has them (see :func:`compute_dataset_hash`). The hash therefore changes with
the encoder: the same command gives another hash (and other shard bytes, the
same decoded arrays) since the imagecodecs PNG encoder replaced OpenCV's.
Library versions are recorded but not hashed: the shard bytes already capture
any effect they have.
"""

from __future__ import annotations

# One concern per module; each imports only modules listed above it. Private
# names used by tests are re-exported here; patch them where they are used
# (e.g. generators.dataset._writer._package_versions).
#   _common   constants, UserError, small helpers
#   _atomic   atomic JSON files, fsync, checksums, the writer's lock
#   _codec    one sample <-> tar members (pure)
#   _tar      deterministic tar members; member index on the read side
#   _engines  writing one shard; in-process, process-pool and Ray engines
#   _writer   write_dataset: settings checks, resume, disk check, job loop
#   _reader   read_manifest, read_dataset, read_frame, SampleDataset
#   _cli      add_dataset_arguments, run_cli
from generators.dataset._atomic import _sha256_file
from generators.dataset._cli import (
    add_dataset_arguments,
    add_size_argument,
    parse_size,
    parse_square_size,
    run_cli,
    select_extras,
    task_cli,
)
from generators.dataset._codec import IMAGE_FORMATS, _decode_array, _encode_array, _encode_sample
from generators.dataset._common import (
    DEBUG_ENV,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    UserError,
    _package_versions,
)
from generators.dataset._reader import (
    _SampleDataset,
    read_dataset,
    read_formation_version,
    read_frame,
    read_manifest,
    sample_differences,
    sample_digest,
)
from generators.dataset._writer import compute_dataset_hash, write_dataset

__all__ = [
    "UserError",
    "write_dataset",
    "read_dataset",
    "read_frame",
    "read_manifest",
    "read_formation_version",
    "sample_differences",
    "sample_digest",
    "compute_dataset_hash",
    "SampleDataset",
    "add_dataset_arguments",
    "run_cli",
    "parse_size",
    "add_size_argument",
    "parse_square_size",
    "task_cli",
]



def __getattr__(name: str):
    # SampleDataset subclasses torch's Dataset, but importing torch costs ~1.5 s
    # in every spawned writer process that never reads; build the class on
    # first use instead (cached, so pickling finds the same object).
    if name == "SampleDataset":
        try:
            from torch.utils.data import Dataset
        except ImportError:  # pragma: no cover - torch is a project dependency
            Dataset = object
        namespace = {"__module__": __name__, "__doc__": _SampleDataset.__doc__}
        cls = type("SampleDataset", (_SampleDataset, Dataset), namespace)
        globals()["SampleDataset"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
