"""Render cover scenes with Blender Cycles (``bpy`` 5.0, Blender as a module).

The second renderer of :mod:`generators.shared.coverscene`: the same scene
dict as :mod:`generators.shared.coverscene.render_fast` (the model is specified
in :mod:`generators.shared.coverscene.scene`), rendered by a real path tracer, with the
true sphere lights, ambient occlusion of the world and interreflections that
the fast renderer leaves out.

Scene translation (one Blender scene per sequence, reset to factory settings
first; only lights and occluders change between views):

* camera: perspective, sensor fit "Vertical", ``angle = fov_y``, at
  ``(0, 0, distance)`` looking down ``-z``;
* cover: a ``plane_width x 1`` rectangle at ``z = 0`` with the cover texture
  (linearised with the sRGB EOTF, stored as a float image) at "Closest"
  interpolation, so texel ``(i, j)`` covers pixel ``(i, j)``; Principled BSDF
  with single-scattering GGX, ``Roughness``, ``IOR 1.5``,
  ``Specular IOR Level = 0.5 F0 / 0.04``;
* lights: sphere ("point") lights with ``shadow_soft_size = radius``,
  ``energy = power`` (watts; Cycles' convention, ``E = P cos / (4 pi r^2)``,
  checked numerically in ``tests/test_render_agreement.py``), soft falloff
  off (the physical sphere light), invisible to the camera;
* ambient: a uniform world, Background colour ``ambient``, strength 1;
* occluders: meshes of the unit shapes (finely tessellated, with the
  analytic normals as custom normals and the analytic UVs of the scene
  docstring, so the seams fall where the fast renderer puts them), scaled,
  rotated by the quaternion and placed; Lambert (Diffuse BSDF) with the
  linearised texture at "Closest", repeat, ``uv * uv_scale``.

Render settings: Cycles, fixed sample count (adaptive sampling off), a
deterministic seed per view (``seed + view``), no light tree (a handful of
lights; it only added noise and time) and no probabilistic termination of
weak light samples, 1-pixel box pixel filter (the
cover's texels line up with the pixels, so the cover stays exactly as sharp
as the fast renderer's), ``max_bounces`` light bounces, no denoiser unless
asked (OpenImageDenoise, CPU), "Standard" view transform, look "None",
exposure 0, gamma 1. The frame is written as an uncompressed multilayer
OpenEXR in a private temporary folder and read back here in full float
precision (:func:`_read_exr`); the display encoding is applied in numpy
exactly as the scene docstring says (``clip`` then the sRGB OETF, which is
what the Standard view transform does), so nothing is quantised twice.

Outputs (the renderer contract of :mod:`generators.shared.coverscene`, same keys,
shapes, dtypes and scaling as ``render_fast.render_views``):

* ``views``: Combined pass -> ``linear_to_srgb``;
* ``occlusion``: an AOV pass written 1 by every occluder material and 0 by
  the cover, averaged over the samples of the pixel's box filter, i.e. the
  fraction of the pixel the occluders cover; True where it is > 0 (the pixel
  sees an occluder at least partly). More samples find thinner slivers: at
  16 samples the masks match the fast renderer's (centre ray, plus 4x4
  stratified rays looking for slivers on silhouettes) with IoU >= 0.96 over
  64 test views (tests/test_render_agreement.py);
* ``shading``: the cover's diffuse factor ``S`` = Diffuse Direct + Diffuse
  Indirect (Cycles divides the diffuse colour out of those passes; the
  cover's linear albedo is floored at 2e-5 so that black texels keep a
  defined ``S``), stored as ``clip(S / 2, 0, 1)``;
* ``specular``: the cover's specular radiance = Glossy Colour x (Glossy
  Direct + Glossy Indirect), clipped to [0, 1].

Both are properties of the *cover*, also under an occluder: where
``occlusion`` is True they come from a second render of the bounding box of
the occluded pixels (Cycles border render) in which the occluders are
invisible to camera rays but still cast shadows and bounce light.

Process isolation and recycling: long bpy loops grow memory (the most common
complaint of BlenderProc users), so by default Blender runs in a private child
process (``python -m generators.shared.coverscene.render_blender --serve``, spoken to
over a socket pair) that renders ``recycle_every`` sequences and is then
replaced by a fresh one. Inside it every sequence starts from
``read_factory_settings(use_empty=True)`` and every view deletes the previous
view's objects, meshes, materials and images. The caller (a process-pool
worker of :mod:`generators.dataset`, a test, a notebook) never imports the
render state, and recycling needs no cooperation from the pool. With
``in_process=True`` bpy runs in the calling process instead (no recycling;
for debugging and profiling).

Device: ``device="auto"`` uses the first GPU backend Cycles finds (OptiX,
CUDA, HIP, oneAPI) and falls back to the CPU silently; ``"cpu"`` forces the
CPU; ``"gpu"`` raises when no GPU is usable. Results are deterministic for a
given device (on the CPU also for any thread count and in or out of the child
process, checked by the tests); CPU and GPU images differ by Monte Carlo
noise only.

Cost (2-core CPU, 256x256, 16 samples): ~2.3 CPU-seconds per view, of which
~0.55 s is the border render for the extras; see ``tests/test_bench_blender.py``.

Modules, one concern each: ``_process`` (the child process, parent and child
side), ``_session`` (bpy: scene translation, render settings, passes),
``_meshes`` (unit-shape meshes, pure numpy), ``_exr`` (the OpenEXR reader).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from generators.shared.coverscene.render_blender import _process, _session
from generators.shared.coverscene.render_blender._exr import _read_exr  # noqa: F401 - re-exported for tests and tools
from generators.shared.coverscene.render_blender._meshes import _segments, _unit_mesh  # noqa: F401
from generators.shared.coverscene.render_blender._process import _serve, _worker, _Worker, close_blender  # noqa: F401
from generators.shared.coverscene.render_blender._session import (  # noqa: F401
    _ALBEDO_FLOOR,
    _AOV,
    _LAYER,
    _BlenderSession,
    _current_session,
    check_blender,
)
from generators.shared.coverscene.scene import SHAPES, validate_size

__all__ = [
    "DEFAULT_SAMPLES",
    "DEFAULT_MAX_BOUNCES",
    "RECYCLE_EVERY",
    "render_scene_blender",
    "render_scene",
    "close_blender",
    "check_blender",
]

DEFAULT_SAMPLES = 16
DEFAULT_MAX_BOUNCES = 4
RECYCLE_EVERY = 25  # sequences per Blender child process
DEVICES = ("auto", "cpu", "gpu")


# --------------------------------------------------------------------------- #
# public API
# --------------------------------------------------------------------------- #


def render_scene_blender(
    scene: dict[str, Any],
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    max_bounces: int = DEFAULT_MAX_BOUNCES,
    denoise: bool = False,
    device: str = "auto",
    threads: int = 0,
    covers_dir: str | os.PathLike | None = None,
    in_process: bool = False,
    recycle_every: int = RECYCLE_EVERY,
) -> dict[str, np.ndarray]:
    """Render every view of a cover scene with Cycles.

    Parameters
    ----------
    scene : dict
        A scene from :func:`generators.shared.coverscene.scene.sample_scene` (or a
        sample's ``params``).
    samples : int
        Cycles samples per pixel (fixed; adaptive sampling is off).
    seed : int
        Sampling seed; view ``v`` renders with Cycles seed ``seed + v``.
    max_bounces : int
        Cycles' total bounce limit (0 = direct light only, the fast
        renderer's model).
    denoise : bool
        Run OpenImageDenoise on the Combined pass (off: unbiased noise).
    device : {"auto", "cpu", "gpu"}
        See the module docstring.
    threads : int
        CPU render threads; 0 = ``OMP_NUM_THREADS`` when set (the dataset
        writer sets it to 1 in each pool worker, so workers do not
        oversubscribe the cores), else all cores. Results do not depend on it.
    covers_dir : path, optional
        The covers folder, for scenes whose cover is a file.
    in_process : bool
        Run bpy in this process instead of the recycled child process.
    recycle_every : int
        Sequences a child process renders before it is replaced.

    Returns
    -------
    dict
        ``views`` (N, H, W, 3) float32 sRGB in [0, 1]; ``occlusion``
        (N, H, W) bool; ``shading`` and ``specular`` (N, H, W, 3) float32 in
        [0, 1] (scaled as in :mod:`generators.shared.coverscene.render_fast`).

    Raises
    ------
    ValueError
        Bad arguments or scene, bpy not importable, ``device="gpu"`` without
        a GPU.
    """
    options = _check_options(samples, seed, max_bounces, denoise, device, threads, recycle_every)
    _check_scene(scene)
    covers_dir = None if covers_dir is None else os.fspath(covers_dir)
    if in_process:
        return _current_session().render(scene, options, covers_dir)
    return _worker(options["recycle_every"]).render(scene, options, covers_dir)


def render_scene(
    scene: dict[str, Any], *, covers_dir: str | os.PathLike | None = None, **options
) -> dict[str, np.ndarray]:
    """The renderer contract of :mod:`generators.shared.coverscene`: :func:`render_scene_blender`."""
    return render_scene_blender(scene, covers_dir=covers_dir, **options)


def _check_options(samples, seed, max_bounces, denoise, device, threads, recycle_every) -> dict[str, Any]:
    def integer(name, value, minimum):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        return int(value)

    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose from {list(DEVICES)}")
    return {
        "samples": integer("samples", samples, 1),
        "seed": integer("seed", seed, 0),
        "max_bounces": integer("max_bounces", max_bounces, 0),
        "denoise": bool(denoise),
        "device": device,
        "threads": integer("threads", threads, 0),
        "recycle_every": integer("recycle_every", recycle_every, 1),
    }


def _check_scene(scene: Any) -> None:
    if not isinstance(scene, dict):
        raise ValueError(f"scene must be a dict (see generators.shared.coverscene.scene), got {type(scene).__name__}")
    missing = [k for k in ("size", "camera", "plane", "cover", "material", "views") if k not in scene]
    if missing:
        raise ValueError(f"scene lacks {missing} (see generators.shared.coverscene.scene)")
    validate_size(scene["size"])
    if not scene["views"]:
        raise ValueError("scene has no views")
    for v, view in enumerate(scene["views"]):
        for occ in view["occluders"]:
            if occ["shape"] not in SHAPES:
                raise ValueError(f"view {v}: unknown occluder shape {occ['shape']!r}; choose from {list(SHAPES)}")


def __getattr__(name: str):
    # The live child process and bpy session are rebound in their modules; read them there.
    if name == "_WORKER":
        return _process._WORKER
    if name == "_SESSION":
        return _session._SESSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
