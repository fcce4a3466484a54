"""The cover scene of the *bookcovers* and *coverrefs* tasks: sample it, and what it means.

A *sequence* is one book cover lying flat, photographed ``N`` times by a fixed
camera; every view has its own occluding objects, lights and ambient level.
:func:`sample_scene` draws everything random into a plain, JSON-able dict;
the renderers (:mod:`generators.shared.coverscene.render_fast` and
``generators.shared.coverscene.render_blender``) turn that dict into pixels and use
no randomness of their own. This docstring is the specification both
renderers implement.

Coordinate system and units
---------------------------
Right-handed world frame, one unit = the height of the cover. ``+x`` points
to the right of the image, ``+y`` to its top, ``+z`` from the cover towards
the camera. The cover is the rectangle ``z = 0``,
``|x| <= plane_width / 2``, ``|y| <= 1 / 2`` with normal ``+z``; it is
one-sided and nothing lies behind it (rays that leave the rectangle see black;
none do from the camera).

Camera
------
Pinhole at ``(0, 0, distance)`` looking down ``-z`` with up vector ``+y``;
``fov_y_deg`` is the full vertical field of view and
``distance = 0.5 / tan(fov_y / 2)``, so the cover *exactly* fills the image
(``plane_width = W / H``). The ray of pixel ``(row i, column j)`` (row 0 at
the top) passes through the pixel centre, i.e. through the cover point
``x = ((j + 0.5) / W - 0.5) * W / H``, ``y = (0.5 - (i + 0.5) / H)``. Blender:
sensor fit "Vertical", angle ``fov_y``, resolution ``W x H``, no lens shift.
The camera is the same for all views of a sequence, so every view is
pixel-aligned with the target.

Cover texture and the clean target
----------------------------------
``scene["cover"]`` describes the cover image reproducibly (see
:func:`generators.shared.covers.load_cover`): ``{"kind": "procedural",
"seed": s}`` or ``{"kind": "file", "path": "relative/to/covers/dir.jpg",
"sha256": hex}``. It is materialised at exactly ``H x W`` pixels
(a file is centre-cropped to the image aspect ratio, then resized with area
averaging), quantised to 8 bits, and texel ``(i, j)`` covers pixel
``(i, j)``: no filtering is needed (Blender: "Closest" interpolation).
The texture is sRGB-encoded; the diffuse albedo is its linearisation with the
sRGB EOTF (IEC 61966-2-1). The *clean target* is the texture itself, i.e.
the cover as the camera sees it under white uniform light of radiance 1 with
no occluders and no specular reflection.

Cover material
--------------
Diffuse (Lambert) with albedo ``rho`` plus one dielectric specular lobe:
GGX (Trowbridge-Reitz) normal distribution with ``alpha = roughness**2``,
separable Smith-GGX masking-shadowing, Schlick Fresnel with normal-incidence
reflectance ``F0 = scene["material"]["specular_f0"]`` (Walter et al. 2007,
eqs. 33-34; Schlick 1994). This is the meaning of Blender's Principled BSDF
``Roughness`` with ``IOR = 1.5`` and ``Specular IOR Level =
0.5 * F0 / 0.04`` (F0 of IOR 1.5 is 0.04). The fast renderer neither
attenuates the diffuse layer by the specular albedo nor adds multiple
scattering (Principled does both; the difference is a few percent).

Lights
------
Each view has 1-4 spherical lights: ``position`` (centre, world units),
``radius``, linear-RGB ``color`` (Rec. 709 luminance 1) and ``power`` (watts
in Blender's sense). Unshadowed irradiance at distance ``r`` from the centre
at incidence angle ``theta`` is ``E = color * power * cos(theta) /
(4 pi r^2)`` (the Cycles convention for point/sphere lights). Lights are not
visible to the camera (Blender: camera ray visibility off). Soft shadows:
the light is replaced for visibility by ``S`` points on the disc of radius
``radius`` through the light centre, perpendicular to the line from the light
centre to the cover centre ``(0, 0, 0)``; sample ``k`` sits at polar radius
``radius * sqrt((k + 0.5) / S)`` and angle ``k * 2.39996323`` rad (a Vogel
spiral, deterministic and stratified). The visibility ``V`` of a light from a
point is the fraction of those samples whose segment to the point hits no
occluder; the irradiance is ``V * E`` with ``E`` evaluated at the centre.
Blender traces the true sphere light instead.

For the specular lobe a spherical light is approximated by widening the lobe:
``alpha'^2 = alpha^2 + (radius / (2 r))^2`` (half the light's angular
radius added in quadrature: the half-vector sweeps half the angle the light
subtends; fitted against Cycles, 0.5 beat 1.0 by 7-15 dB on the specular
term); the reflected radiance is
``V * E * D(h; alpha') * G * F / (4 cos(theta_l) cos(theta_v))``.

Ambient
-------
``view["ambient"]`` is the linear-RGB radiance of a uniform world
(Blender: World "Background" colour = ambient / max(ambient), strength
= max(ambient), or colour = ambient and strength 1). A diffuse surface facing
it reflects ``rho * ambient``; the cover also reflects ``F0 * ambient``
specularly (the directional albedo of the lobe, approximated by ``F0``). The
fast renderer ignores occlusion of the world by the occluders (no ambient
occlusion) and all interreflections; Cycles includes them.

Occluders
---------
Each view has >= 1 occluder between the camera and the cover, inside the view
frustum. An occluder is a unit shape in its local frame, scaled per axis,
rotated, then translated: ``world = position + R(rotation) @ (scale * p)``
with ``rotation`` a unit quaternion ``[w, x, y, z]`` (Blender's
``rotation_quaternion`` order). Unit shapes (Blender primitive defaults):

* ``sphere``: ``|p| <= 1``;
* ``cube`` and ``sheet``: ``[-1, 1]^3`` (a sheet is a box thin in local z);
* ``cylinder``: radius 1 around local z, ``|z| <= 1``, both ends capped;
* ``cone``: apex ``(0, 0, 1)``, base radius 1 at ``z = -1``, base capped;
* ``torus``: major radius 1 in the local xy plane, minor radius
  ``minor_radius`` (absolute, in unit-shape coordinates).

Occluder material: Lambert only (no specular), albedo from
``occluder["texture"]``, materialised as
``load_texture(desc, texture_size(scene["size"]))`` (both in
:mod:`generators.shared.covers`; a square 8-bit sRGB image, linearised,
sampled with "Closest" interpolation and repeat wrapping at
``(u, v) * uv_scale``; texel row ``floor((1 - v) * h)``, column
``floor(u * w)``, each clamped to the last texel). UVs from the unit-shape hit point ``p = (x, y, z)``
(Blender: "Object" texture coordinates when the mesh is the unit shape):

* ``sphere``: ``(atan2(y, x) / 2pi + 0.5, 0.5 + asin(z) / pi)``;
* ``cube``/``sheet``: the face is the axis of largest ``|p|``; ``(u, v)``
  are the other two coordinates in ``(x, y, z)`` order mapped from
  ``[-1, 1]`` to ``[0, 1]``;
* ``cylinder``/``cone``: caps (``|z| >= 1 - 1e-4``): ``((x + 1) / 2,
  (y + 1) / 2)``; side: ``(atan2(y, x) / 2pi + 0.5, (z + 1) / 2)``;
* ``torus``: ``(atan2(y, x) / 2pi + 0.5,
  atan2(z, sqrt(x^2 + y^2) - 1) / 2pi + 0.5)``.

Occluders are lit by the same lights with the same soft shadows (they shadow
the cover and each other) and by the ambient term.

Image formation and colour
--------------------------
Scene-linear radiance ``L`` (RGB) -> clip to ``[0, 1]`` -> sRGB OETF; this is
Blender's "Standard" view transform, look "None", exposure 0, gamma 1. The
fast renderer anti-aliases only occluder silhouettes (2x2 supersampling of
pixels with a 4-neighbour on another surface); Blender uses its
own pixel filter.

Schema
------
::

    {
      "version": 1,
      "size": [H, W],                       # pixels
      "camera": {"fov_y_deg": f, "distance": d},
      "plane": {"width": W / H, "height": 1.0},
      "cover": {"kind": "procedural", "seed": int}
             | {"kind": "file", "path": str, "sha256": str},
      "material": {"roughness": r, "specular_f0": f0},
      "views": [                            # N entries
        {"ambient": [r, g, b],
         "lights": [{"position": [x, y, z], "radius": R,
                     "color": [r, g, b], "power": P}, ...],
         "occluders": [{"shape": "sphere" | "cube" | "sheet" | "cylinder"
                                  | "cone" | "torus",
                        "position": [x, y, z], "rotation": [w, x, y, z],
                        "scale": [sx, sy, sz], "minor_radius": m,
                        "texture": {...}, "uv_scale": s}, ...]},
        ...
      ]
    }

Texture descriptions: ``{"kind": "cover", "seed": int}`` (a procedural
cover) or ``{"kind": "stripes" | "checker" | "noise" | "solid",
"colors": [[r, g, b], [r, g, b]], "frequency": f, "angle_deg": a,
"seed": int}`` with sRGB colours in [0, 1] and ``frequency`` in cycles per
texture width. All numbers are Python floats/ints, so the dict survives
``json.loads(json.dumps(scene))`` unchanged.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

__all__ = [
    "SCENE_VERSION",
    "SHAPES",
    "PATTERNS",
    "sample_scene",
    "camera_distance",
    "validate_size",
]

SCENE_VERSION = 1
SHAPES = ("sphere", "cube", "sheet", "cylinder", "cone", "torus")
PATTERNS = ("stripes", "checker", "noise", "solid")
MIN_SIZE, MAX_SIZE = 64, 4096
OCCLUDER_COVER_POOL = 512  # distinct procedural covers used as occluder textures

# Correlated colour temperature (K) -> linear Rec. 709 RGB, hand-tabulated
# anchors (normalised to luminance 1 later); interpolated in between.
_CCT_TABLE = np.array(
    [
        [2000, 1.00, 0.42, 0.08],
        [2700, 1.00, 0.57, 0.24],
        [3500, 1.00, 0.70, 0.44],
        [4500, 1.00, 0.84, 0.67],
        [5500, 1.00, 0.95, 0.88],
        [6500, 1.00, 1.00, 1.00],
        [8000, 0.84, 0.90, 1.00],
        [10000, 0.74, 0.82, 1.00],
    ]
)
_LUMA = np.array([0.2126, 0.7152, 0.0722])


class CoverSource(Protocol):
    """Anything that draws a cover description from a generator."""

    def sample(self, rng: np.random.Generator) -> dict[str, Any]: ...


def validate_size(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """Normalise ``size`` to ``(H, W)``; ValueError outside 64..4096."""
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(s) for s in size)
        except (TypeError, ValueError):
            raise ValueError(f"size must be an int or (height, width), got {size!r}") from None
    for s in (h, w):
        if not MIN_SIZE <= s <= MAX_SIZE:
            raise ValueError(f"image size must be between {MIN_SIZE} and {MAX_SIZE} pixels, got {h}x{w}")
    return h, w


def camera_distance(fov_y_deg: float) -> float:
    """Camera height above the cover so that the cover exactly fills the image."""
    return 0.5 / math.tan(math.radians(fov_y_deg) / 2.0)


def sample_scene(
    rng: np.random.Generator,
    *,
    views: int = 10,
    size: int | tuple[int, int] = (256, 256),
    cover_source: CoverSource | None = None,
) -> dict[str, Any]:
    """Draw one sequence: cover, material, and per view lights and occluders.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    views : int
        Number of views ``N >= 1``.
    size : int or (int, int)
        Image size, square side or ``(H, W)``, each in 64..4096.
    cover_source : object with ``sample(rng) -> dict``, optional
        Where covers come from (e.g. a
        :class:`generators.shared.covers.CoverFolder`); ``None`` draws
        a procedural cover.

    Returns
    -------
    dict
        The JSON-able scene described in the module docstring.
    """
    h, w = validate_size(size)
    if int(views) < 1:
        raise ValueError(f"views must be >= 1, got {views}")
    fov = float(rng.uniform(25.0, 55.0))
    d = camera_distance(fov)
    if cover_source is None:
        cover = {"kind": "procedural", "seed": int(rng.integers(2**31))}
    else:
        cover = cover_source.sample(rng)
    aspect = w / h
    scene: dict[str, Any] = {
        "version": SCENE_VERSION,
        "size": [h, w],
        "camera": {"fov_y_deg": fov, "distance": d},
        "plane": {"width": aspect, "height": 1.0},
        "cover": cover,
        "material": {
            # Log-uniform: most covers matte-ish, some glossy laminate.
            "roughness": float(np.exp(rng.uniform(np.log(0.12), np.log(0.7)))),
            "specular_f0": float(rng.uniform(0.02, 0.09)),
        },
        "views": [_sample_view(rng, fov, d, aspect) for _ in range(int(views))],
    }
    return scene


def _sample_view(rng: np.random.Generator, fov: float, d: float, aspect: float) -> dict[str, Any]:
    # Overall brightness of the cover (diffuse "shading" at the centre, unshadowed)
    # and the share of it that comes from the ambient world.
    level = float(np.exp(rng.uniform(np.log(0.45), np.log(1.5))))
    ambient_share = float(rng.uniform(0.04, 0.4))
    n_lights = int(rng.integers(1, 5))
    shares = rng.dirichlet(np.full(n_lights, 1.5))
    amb_color = _sample_color(rng, gel_prob=0.1, cct_range=(4500, 10000))
    ambient = [float(c) for c in amb_color * level * ambient_share]
    lights = [_sample_light(rng, level * (1 - ambient_share) * float(s), d, aspect) for s in shares]
    n_occ = int(rng.choice([1, 1, 2, 2, 3]))
    occluders = [_sample_occluder(rng, fov, d, aspect) for _ in range(n_occ)]
    return {"ambient": ambient, "lights": lights, "occluders": occluders}


def _sample_color(rng: np.random.Generator, *, gel_prob: float, cct_range=(2300, 9000)) -> np.ndarray:
    """Linear RGB of luminance 1: a blackbody-ish white, sometimes a coloured gel."""
    if rng.random() < gel_prob:
        hue = rng.random()
        sat = rng.uniform(0.25, 0.65)
        rgb = np.array([_hsv_channel(hue, sat, k) for k in (5, 3, 1)])
    else:
        t = float(np.exp(rng.uniform(np.log(cct_range[0]), np.log(cct_range[1]))))
        rgb = np.array([np.interp(t, _CCT_TABLE[:, 0], _CCT_TABLE[:, c]) for c in (1, 2, 3)])
    return rgb / float(rgb @ _LUMA)


def _hsv_channel(h: float, s: float, n: int) -> float:
    k = (n + h * 6.0) % 6.0
    return 1.0 - s * max(0.0, min(k, 4.0 - k, 1.0))


def _sample_light(rng: np.random.Generator, shading: float, d: float, aspect: float) -> dict[str, Any]:
    """A spherical light whose unshadowed diffuse shading at the cover centre is ``shading``."""
    if rng.random() < 0.35:
        # A "glare" light: its mirror point on the cover lies inside the image,
        # so a glossy cover shows a highlight. Mirror point m of light L seen
        # from camera (0,0,d): m = L_xy * d / (L_z + d).
        lz = float(rng.uniform(0.6, 2.5)) * d
        m = np.array([rng.uniform(-0.45, 0.45) * aspect, rng.uniform(-0.45, 0.45)])
        lxy = m * (lz + d) / d
        pos = np.array([lxy[0], lxy[1], lz])
    else:
        elev = math.radians(float(rng.uniform(18.0, 85.0)))
        azim = float(rng.uniform(0.0, 2.0 * math.pi))
        dist = float(rng.uniform(1.0, 4.0)) * max(1.0, d)
        pos = dist * np.array([math.cos(elev) * math.cos(azim), math.cos(elev) * math.sin(azim), math.sin(elev)])
    r = float(np.linalg.norm(pos))
    cos_c = pos[2] / r
    # Diffuse shading at the centre = E / pi with E = P cos / (4 pi r^2).
    power = shading * math.pi * 4.0 * math.pi * r * r / cos_c
    radius = float(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))) * r
    color = _sample_color(rng, gel_prob=0.15)
    return {
        "position": [float(p) for p in pos],
        "radius": radius,
        "color": [float(c) for c in color],
        "power": float(power),
    }


def _random_quaternion(rng: np.random.Generator) -> list[float]:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    if q[0] < 0:
        q = -q
    return [float(v) for v in q]


def _shape_extent(shape: str, scale: np.ndarray, minor: float) -> float:
    """Radius of a sphere around the local origin that bounds the shape."""
    if shape == "torus":
        return float(np.linalg.norm(scale * np.array([1 + minor, 1 + minor, minor])))
    return float(np.linalg.norm(scale))  # the box [-1, 1]^3 bounds every other shape


def _sample_occluder(rng: np.random.Generator, fov: float, d: float, aspect: float) -> dict[str, Any]:
    shape = str(rng.choice(SHAPES))
    minor = float(rng.uniform(0.2, 0.5)) if shape == "torus" else 0.0
    if shape == "sheet":
        base = np.array([rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.4), rng.uniform(0.01, 0.04)])
    elif shape in ("sphere", "cube"):
        base = rng.uniform(0.7, 1.0, size=3)
    else:
        base = rng.uniform(0.6, 1.0, size=3)
    base /= np.linalg.norm(base)
    # Depth between cover and camera, then a projected (on-screen) size as a
    # fraction of the image height; the world size follows from both.
    z = float(rng.uniform(0.12, 0.72)) * d
    tan_half = math.tan(math.radians(fov) / 2.0)
    screen_radius = float(rng.uniform(0.06, 0.24))  # in image heights
    bound = screen_radius * 2.0 * (d - z) * tan_half
    # Keep the bounding sphere clear of the cover and of the camera.
    bound = min(bound, 0.9 * z, 0.8 * (d - z))
    scale = base * bound / _shape_extent(shape, base, minor)
    # On-screen centre: inside the image with some slack at the borders.
    u = float(rng.uniform(-0.5, 0.5)) * aspect
    v = float(rng.uniform(-0.5, 0.5))
    world_per_unit = (d - z) / d  # cover-plane coordinates -> plane at depth z
    pos = [u * world_per_unit, v * world_per_unit, z]
    if rng.random() < 0.55:
        # Occluder covers come from a pool of seeds so that their textures can be
        # cached (drawing a cover costs milliseconds); the cover under them never does.
        tex: dict[str, Any] = {"kind": "cover", "seed": int(rng.integers(OCCLUDER_COVER_POOL))}
        uv_scale = 1.0
    else:
        pattern = str(rng.choice(PATTERNS))
        c1 = rng.uniform(0.0, 1.0, size=3)
        c2 = rng.uniform(0.0, 1.0, size=3)
        tex = {
            "kind": pattern,
            "colors": [[float(c) for c in c1], [float(c) for c in c2]],
            "frequency": float(rng.uniform(2.0, 12.0)),
            "angle_deg": float(rng.uniform(0.0, 180.0)),
            "seed": int(rng.integers(2**31)),
        }
        uv_scale = float(rng.choice([1.0, 1.0, 2.0]))
    return {
        "shape": shape,
        "position": [float(p) for p in pos],
        "rotation": _random_quaternion(rng),
        "scale": [float(s) for s in scale],
        "minor_radius": minor,
        "texture": tex,
        "uv_scale": uv_scale,
    }
