"""bookcovers: recover a book cover from views with occluders and changing light.

A sequence is one cover (procedural, or drawn from ``--covers DIR``) seen
``N`` times by a fixed camera; each view has its own occluding objects
(spheres, cubes, sheets, cylinders, cones, tori; textured), 1-4 soft
coloured lights that cast shadows and highlights, and its own ambient level.
The task is to predict the cover as it is (its sRGB albedo texture),
pixel-aligned with the views.

The scene (geometry, camera, light transport, colour) and its two renderers
are shared with coverrefs and live in :mod:`generators.shared.coverscene`: the
model is specified in :mod:`generators.shared.coverscene.scene`,
:mod:`generators.shared.coverscene.render_fast` renders it on the CPU,
``generators.shared.coverscene.render_blender`` with Cycles. Its formation
version is ``FORMATION_VERSION`` (3; the changes are listed where the constant
is defined), recorded in ``params["version"]``.

Sample layout
-------------
* ``inputs["views"]``: (N, H, W, 3) float32 sRGB in [0, 1];
* ``target["clean"]``: (H, W, 3) float32 sRGB, the cover texture;
* ``extras["occlusion"]``: (N, H, W) bool, pixel sees (partly) an occluder;
* ``extras["shading"]``: (N, H, W, 3) float32, the cover's diffuse factor
  ``S`` (linear RGB) stored as ``clip(S / 2, 0, 1)``;
* ``extras["specular"]``: (N, H, W, 3) float32, the cover's specular
  radiance (linear RGB), ``clip(spec, 0, 1)``;
* ``params``: the scene dict (JSON), enough to re-render the sample with
  :func:`generators.shared.coverscene.render`.

With the fast renderer, unoccluded pixels satisfy ``view =
oetf(clip(eotf(clean) * 2 * shading + specular, 0, 1))`` up to rounding
(before 8-bit storage); Blender adds interreflections and Monte Carlo noise.

Command line (a resumable sharded dataset, see :mod:`generators.dataset`)::

    python -m generators.bookcovers --n 200000 --out DIR [--views 10] [--size 256 | WxH]
        [--renderer fast|blender] [--covers DIR] [--recycle K] [--seed S] [--workers N]
        [--engine local|ray] [--shard-size K]
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from generators.metrics import dssim, lmse, mse, psnr, psnr_gain_invariant, ssim, ssim_gain_invariant
from generators.shared.covers import CoverFolder
from generators.shared.coverscene import RENDERERS, render
from generators.shared.coverscene.scene import sample_scene, validate_size
from generators.task import Sample, Task, ViewSubsets

__all__ = ["NAME", "FORMATION_VERSION", "VIEWS_SINCE", "TASK", "make_task", "make_sample"]

NAME = "bookcovers"
# Version of the image-formation model (the docstring of generators.shared.coverscene.scene). Part of the
# task parameters, so cached test splits and existing datasets made under an
# older model are never mixed with new ones. 2: specular lobe widened by half
# the light's angular radius (was the full radius). 3: the fast renderer's
# occlusion mask also looks for occluder slivers on silhouette pixels with
# 4x4 stratified rays (views, targets, shading and specular are those of
# version 2, byte for byte).
FORMATION_VERSION = 3
# The oldest version whose views and targets equal this version's: weights
# trained on data of versions VIEWS_SINCE..FORMATION_VERSION fit the current task.
VIEWS_SINCE = 2


def make_sample(
    rng: np.random.Generator,
    *,
    views: int = 10,
    size: int | tuple[int, int] = 256,
    renderer: str = "fast",
    covers: str | CoverFolder | None = None,
    renderer_options: dict[str, Any] | None = None,
) -> Sample:
    """Make one bookcovers sequence.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    views : int
        Views per sequence.
    size : int or (int, int)
        Square side or ``(H, W)``, each 64..4096.
    renderer : {"fast", "blender"}
    covers : str or CoverFolder, optional
        Folder of cover images; ``None`` draws procedural covers.
    renderer_options : dict, optional
        Passed to the renderer (see :func:`generators.shared.coverscene.render`); must not change the
        picture's meaning (e.g. Blender's process recycling).

    Returns
    -------
    Sample
        See the module docstring for keys, shapes and ranges.
    """
    folder = _cover_folder(covers) if isinstance(covers, str) else covers
    scene = sample_scene(rng, views=views, size=validate_size(size), cover_source=folder)
    out = render(scene, renderer, covers_dir=folder.root if folder is not None else None, options=renderer_options)
    return Sample(
        inputs={"views": out["views"]},
        target={"clean": out["clean"]},
        extras={"occlusion": out["occlusion"], "shading": out["shading"], "specular": out["specular"]},
        params=scene,
    )


@functools.lru_cache(maxsize=8)
def _cover_folder(path: str) -> CoverFolder:
    return CoverFolder(path)


def make_task(
    views: int = 10,
    size: int | tuple[int, int] = 256,
    renderer: str = "fast",
    covers: str | None = None,
    renderer_options: dict[str, Any] | None = None,
) -> Task:
    """The bookcovers task with its generator parameters fixed.

    Cheap: nothing is rendered. ``covers`` is scanned once here (ValueError
    when it holds no usable image); the scan travels with ``make_sample``.
    ``renderer_options`` go to the renderer and are not part of ``params``
    (they must not change the output).
    """
    hw = validate_size(size)
    if int(views) < 1:
        raise ValueError(f"views must be >= 1, got {views}")
    if renderer not in RENDERERS:
        raise ValueError(f"unknown renderer {renderer!r}; choose from {list(RENDERERS)}")
    folder = None
    params: dict[str, Any] = {
        "version": FORMATION_VERSION, "views": int(views), "size": list(hw), "renderer": renderer, "covers": None
    }
    if covers is not None:
        folder = CoverFolder(covers)
        params["covers"] = folder.root
        params["covers_count"] = len(folder)
    return Task(
        name=NAME,
        make_sample=functools.partial(
            make_sample, views=int(views), size=hw, renderer=renderer, covers=folder, renderer_options=renderer_options
        ),
        # psnr_gi / ssim_gi: after the per-channel least-squares gain against the target (the light power
        # is unobservable), so the raw metrics' share of gain error can be read off for every method.
        metrics={"psnr": psnr, "ssim": ssim, "dssim": dssim, "lmse": lmse, "mse": mse,
                 "psnr_gi": psnr_gain_invariant, "ssim_gi": ssim_gain_invariant},
        input_kind="views",
        target_key="clean",
        test_size=50,
        quick_size=8,
        params=params,
        higher_is_better={"psnr": True, "ssim": True, "dssim": False, "lmse": False, "mse": False,
                          "psnr_gi": True, "ssim_gi": True},
        # Deep Residual Sets, sec. 5.1 scores random n-view subsets per sequence (10 draws per n there). The
        # estimand (a sequence's mean over random subsets) is the same for any number of draws; only its noise
        # changes. Measured on the 270-sequence split published 2026-12-07 (Deep Set - raw Weiss, PSNR):
        # between-sequence variance 5.5-10.9 dB^2 at n >= 4 against 1.4-3.4 dB^2 within a sequence, so at
        # n = 9 the sequences needed for a 0.3 dB half-width are 467 at 10 draws and 479 at 2. 2 draws on
        # more sequences give a narrower interval at ~40 % of the cost. make run scores the first draw.
        protocol=ViewSubsets(draws=2, quick_draws=1),
    )


TASK = make_task()
