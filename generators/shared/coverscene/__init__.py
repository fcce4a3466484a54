"""The cover scene: one book cover on a table, occluders and lights, and its two renderers.

Several tasks picture the same scene: bookcovers (views of one cover) and
coverrefs (a query and reference photographs of it); a change to what a
scene dict renders to changes both tasks' samples, so it bumps both
formation versions. The scene model
(geometry, camera, light transport, colour) is specified in
:mod:`generators.shared.coverscene.scene`, which also samples it;
:mod:`generators.shared.coverscene.render_fast` renders it on the CPU,
``generators.shared.coverscene.render_blender`` with Cycles. :func:`render`
picks one and returns, for a scene of ``N`` views of ``H x W``:

* ``views``: (N, H, W, 3) float32 sRGB in [0, 1];
* ``occlusion``: (N, H, W) bool, pixel sees (partly) an occluder;
* ``shading``: (N, H, W, 3) float32, the cover's diffuse factor ``S``
  (linear RGB) stored as ``clip(S / 2, 0, 1)``;
* ``specular``: (N, H, W, 3) float32, the cover's specular radiance
  (linear RGB), ``clip(spec, 0, 1)``;
* ``clean``: (H, W, 3) float32 sRGB, the cover texture.

With the fast renderer, unoccluded pixels satisfy ``view =
oetf(clip(eotf(clean) * 2 * shading + specular, 0, 1))`` up to rounding;
Blender adds interreflections and Monte Carlo noise.

Renderer contract: a renderer module exposes ``render_scene(scene, *,
covers_dir=None, **options) -> dict`` with the keys ``views``,
``occlusion``, ``shading``, ``specular`` as above.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from generators.shared.covers import load_cover, load_texture, texture_size
from generators.shared.coverscene.scene import validate_size

__all__ = ["RENDERERS", "render", "import_blender"]

RENDERERS = ("fast", "blender")


def _load_textures(scene: dict[str, Any]) -> tuple[list[np.ndarray], list[list[int]]]:
    """Distinct occluder textures of a scene and, per view, each occluder's index."""
    ts = texture_size(scene["size"])
    index: dict[str, int] = {}
    textures: list[np.ndarray] = []
    tex_of: list[list[int]] = []
    for view in scene["views"]:
        row = []
        for occ in view["occluders"]:
            key = repr(sorted(occ["texture"].items()))
            if key not in index:
                index[key] = len(textures)
                textures.append(load_texture(occ["texture"], ts))
            row.append(index[key])
        tex_of.append(row)
    return textures, tex_of


def render(
    scene: dict[str, Any],
    renderer: str = "fast",
    *,
    covers_dir: str | None = None,
    cover: np.ndarray | None = None,
    options: dict[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Render a scene dict (see :mod:`generators.shared.coverscene.scene`).

    Parameters
    ----------
    scene : dict
        A scene from :func:`generators.shared.coverscene.scene.sample_scene`
        (or a bookcovers ``Sample.params``).
    renderer : {"fast", "blender"}
        ``"blender"`` needs ``bpy`` (Blender as a Python module).
    covers_dir : str, optional
        The covers folder, for scenes whose cover is a file.
    cover : ndarray, optional
        The already materialised clean cover (saves loading it twice).
    options : dict, optional
        Renderer keyword options (fast: ``shadow_samples``; blender: see
        ``render_blender.render_scene_blender``).

    Returns
    -------
    dict
        ``views``, ``occlusion``, ``shading``, ``specular`` (see the module
        docstring) and ``clean``.
    """
    h, w = validate_size(scene["size"])
    if cover is None:
        cover = load_cover(scene["cover"], (h, w), covers_dir)
    if renderer == "fast":
        from generators.shared.coverscene import render_fast

        textures, tex_of = _load_textures(scene)
        out = render_fast.render_views(scene, cover, textures, tex_of, **(options or {}))
    elif renderer == "blender":
        mod = import_blender()
        out = dict(mod.render_scene(scene, covers_dir=covers_dir, **(options or {})))
    else:
        raise ValueError(f"unknown renderer {renderer!r}; choose from {list(RENDERERS)}")
    out["clean"] = cover
    return out


def import_blender(*, full_check: bool = False):
    """The Blender renderer module, or one clear ValueError when bpy is missing.

    ``full_check`` imports bpy here (the CLI does it once, in the parent);
    otherwise only its presence is checked, because the Blender renderer runs
    bpy in a child process and a pool worker need not load it.
    """
    try:
        if full_check:
            import bpy  # noqa: F401
        elif importlib.util.find_spec("bpy") is None:
            raise ImportError("No module named 'bpy'")
    except Exception as e:  # noqa: BLE001 - bpy fails in many ways (ImportError, OSError on libs)
        raise ValueError(
            f"renderer 'blender' needs bpy (Blender as a Python module), which cannot be imported: {e}"
        ) from None
    from generators.shared.coverscene import render_blender

    return render_blender
