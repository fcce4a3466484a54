"""Procedural street scenes for roadseg's embedded backend (sampled, then built).

Coordinates: metres, right-handed, ``y`` up, the ego lane running along
``-z`` (the camera looks down ``-z`` as OpenGL cameras do), ``x`` to the
right. A scene is a JSON-able dict of primitives, each with a CARLA tag
(:mod:`generators.roadseg.classes`) and ``dynamic`` (people and vehicles):

* ``box``: ``centre`` (x, y, z), ``size`` (x, y, z), ``yaw`` (radians about
  y) and optional ``pitch`` (about the box's own x axis, for swinging limbs);
* ``cylinder``: ``centre``, ``radius``, ``height`` (vertical axis);
* ``ellipsoid``: ``centre``, ``radii``.

Layout (all sampled): a main road of 2-4 lanes (3.2-3.6 m), dashed lane
lines and solid edge lines; kerbs with sidewalks (2-5 m wide, 0.15 m
high) on both sides; in half of the scenes a cross street 18-60 m ahead
(8-14 m wide) with a zebra crossing before it and traffic lights at its
corners; building blocks on both sides (frontage 8-30 m, depth 10-20 m,
height log-uniform 5-35 m, setback 0-4 m with lawn or fence in front, gaps
of lawn); street lights every 18-35 m (6-9 m tall, with an arm over the
road), traffic signs, trees (trunk and ellipsoid canopy) in sidewalk
planters; terrain beyond. Dynamic objects where they occur in traffic: cars
in the lanes (both directions on two-way roads) and parked at the kerbs,
with real dimensions and four body shapes (sedan, hatchback, SUV, van;
length 3.9-5.3 m, width 1.7-2.05 m), wheels; people (1.5-1.95 m; legs,
torso, arms, head; legs and arms swung by a walking phase) on sidewalks,
sometimes in groups of 2-4, and on the zebra crossing.

Camera: a dash cam 1.5-2.0 m above the road in the ego lane (laterally
within 0.4 m of its centre), looking along the lane with yaw N(0, 2) deg,
pitch N(-2, 1.5) deg and roll N(0, 1) deg; CARLA's default 90-degree
horizontal field of view.

A scene whose dynamic objects cover less than ``min_dynamic`` of the frame
(MICC-SRI required a minimum dynamic area) is re-drawn with more objects,
up to 6 attempts; the attempt count is recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["sample_scene", "build_geometry", "CAR_SHAPES"]

# (length, width, body height, cabin height, cabin length fraction, cabin offset fraction)
CAR_SHAPES = {
    "sedan": ((4.4, 5.0), (1.75, 1.9), 0.75, 0.62, 0.5, -0.05),
    "hatchback": ((3.9, 4.3), (1.7, 1.8), 0.8, 0.65, 0.6, -0.12),
    "suv": ((4.5, 5.0), (1.85, 2.0), 1.0, 0.75, 0.6, -0.08),
    "van": ((4.8, 5.3), (1.9, 2.05), 1.25, 0.85, 0.75, -0.1),
}


def _r(v: Any) -> Any:
    """Round floats to millimetres for compact, stable JSON."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_r(x) for x in v]
    return round(float(v), 3)


def _box(c, s, tag, yaw=0.0, pitch=0.0, dynamic=False) -> dict:
    d = {"kind": "box", "centre": _r(c), "size": _r(s), "tag": int(tag), "yaw": _r(yaw), "dynamic": dynamic}
    if pitch:
        d["pitch"] = _r(pitch)
    return d


def _cyl(c, radius, height, tag, dynamic=False) -> dict:
    return {"kind": "cylinder", "centre": _r(c), "radius": _r(radius), "height": _r(height), "tag": int(tag),
            "dynamic": dynamic}


def _ell(c, radii, tag, dynamic=False) -> dict:
    return {"kind": "ellipsoid", "centre": _r(c), "radii": _r(radii), "tag": int(tag), "dynamic": dynamic}


def _car(rng: np.random.Generator, x: float, z: float, yaw: float) -> list[dict]:
    shape = str(rng.choice(list(CAR_SHAPES)))
    (l0, l1), (w0, w1), bh, ch, cl, co = CAR_SHAPES[shape]
    length, width = rng.uniform(l0, l1), rng.uniform(w0, w1)
    clear = 0.28
    fwd = np.array([np.sin(yaw), 0, np.cos(yaw)])  # the car's length axis
    out = [_box((x, clear + bh / 2, z), (width, bh, length), 14, yaw, dynamic=True),
           _box(np.array([x, clear + bh + ch / 2, z]) + fwd * co * length, (width * 0.9, ch, length * cl), 14, yaw,
                dynamic=True)]
    side = np.array([np.cos(yaw), 0, -np.sin(yaw)])
    for a in (-0.36, 0.36):
        for b in (-0.5, 0.5):
            c = np.array([x, 0.33, z]) + fwd * a * length + side * b * (width - 0.1)
            out.append(_cyl(c, 0.33, 0.22, 14, dynamic=True))
    return out


def _person(rng: np.random.Generator, x: float, z: float) -> list[dict]:
    h = rng.uniform(1.5, 1.95)
    yaw = rng.uniform(-np.pi, np.pi)
    swing = np.deg2rad(rng.uniform(0, 28)) * np.sin(rng.uniform(0, 2 * np.pi))
    fwd = np.array([np.sin(yaw), 0, np.cos(yaw)])
    side = np.array([np.cos(yaw), 0, -np.sin(yaw)])
    leg, torso, head = 0.47 * h, 0.3 * h, 0.065 * h
    base = np.array([x, 0.15, z])  # people stand on the sidewalk surface (crossings: 0.15 m low, fine)
    parts = []
    for s, sw in ((-1, swing), (1, -swing)):
        hip = base + np.array([0, leg, 0]) + side * s * 0.09 * h / 1.75
        centre = hip - np.array([0, leg / 2 * np.cos(sw), 0]) + fwd * (leg / 2 * np.sin(sw))
        parts.append(_box(centre, (0.12 * h / 1.75, leg, 0.14 * h / 1.75), 12, yaw, pitch=sw, dynamic=True))
    tc = base + np.array([0, leg + torso / 2, 0])
    parts.append(_box(tc, (0.36 * h / 1.75, torso, 0.22 * h / 1.75), 12, yaw, dynamic=True))
    for s, sw in ((-1, -swing), (1, swing)):
        sh = tc + np.array([0, torso / 2 - 0.03, 0]) + side * s * 0.22 * h / 1.75
        arm = 0.36 * h
        centre = sh - np.array([0, arm / 2 * np.cos(sw), 0]) + fwd * (arm / 2 * np.sin(sw))
        parts.append(_box(centre, (0.08 * h / 1.75, arm, 0.09 * h / 1.75), 12, yaw, pitch=sw, dynamic=True))
    parts.append(_ell(tc + np.array([0, torso / 2 + head * 1.2, 0]), (head, head * 1.15, head), 12, dynamic=True))
    return parts


def _static(rng: np.random.Generator) -> tuple[dict, list[dict]]:
    lanes = int(rng.choice([2, 3, 4], p=[0.45, 0.3, 0.25]))
    lane_w = rng.uniform(3.2, 3.6)
    road_w = lanes * lane_w
    half = road_w / 2
    walk = [rng.uniform(2.0, 5.0), rng.uniform(2.0, 5.0)]  # left, right
    far = 160.0
    cross = None
    if rng.random() < 0.5:
        cross = {"z": -rng.uniform(18, 60), "width": rng.uniform(8, 14)}
    prims = [_box((0, -0.05, -far / 2 + 5), (road_w, 0.1, far + 10), 1)]
    prims.append(_box((0, -0.08, -far / 2 + 5), (400, 0.02, far + 260), 10))  # terrain under everything
    # Lane lines (road lines): solid edges, dashed separators.
    for x in (-half + 0.15, half - 0.15):
        prims.append(_box((x, 0.003, -far / 2 + 5), (0.15, 0.006, far + 10), 24))
    for k in range(1, lanes):
        x = -half + k * lane_w
        for z0 in np.arange(2.0, -far, -9.0):
            prims.append(_box((x, 0.003, z0 - 1.5), (0.12, 0.006, 3.0), 24))
    zc0 = zc1 = None
    if cross is not None:
        zc0, zc1 = cross["z"] + cross["width"] / 2, cross["z"] - cross["width"] / 2
        prims.append(_box((0, -0.049, cross["z"]), (400, 0.1, cross["width"]), 1))
        for x0 in np.arange(-half + 0.4, half - 0.4, 1.0):  # zebra stripes before the junction
            prims.append(_box((x0 + 0.25, 0.004, zc0 + 2.5), (0.5, 0.008, 3.0), 24))
    for side, sgn in ((0, -1), (1, 1)):
        w = walk[side]
        xin, xout = sgn * half, sgn * (half + w)
        xm = (xin + xout) / 2
        segments = [(5.0, -far)] if cross is None else [(5.0, zc0), (zc1, -far)]
        for za, zb in segments:
            prims.append(_box((xm, 0.075, (za + zb) / 2), (w, 0.15, za - zb), 2))
            # buildings along this segment
            z = za
            while z > zb + 4:
                front = rng.uniform(8, 30)
                if rng.random() < 0.15:  # a lawn gap
                    prims.append(_box((sgn * (half + w + 8), 0.02, z - front / 2), (16, 0.04, front), 10))
                    if rng.random() < 0.6:
                        prims.append(_cyl((sgn * (half + w + 6), 1.5, z - front / 2), 0.2, 3.0, 9))
                        prims.append(_ell((sgn * (half + w + 6), 4.5, z - front / 2), [rng.uniform(1.8, 3.2)] * 3, 9))
                    z -= front
                    continue
                front = min(front, z - zb)
                setback = rng.uniform(0, 4) if rng.random() < 0.5 else 0.0
                depth = rng.uniform(10, 20)
                height = float(np.exp(rng.uniform(np.log(5), np.log(35))))
                x0 = sgn * (half + w + setback + depth / 2)
                prims.append(_box((x0, height / 2, z - front / 2), (depth, height, front - 0.3), 3))
                if setback > 0.5:
                    prims.append(_box((sgn * (half + w + setback / 2), 0.02, z - front / 2), (setback, 0.04, front), 10))
                    if rng.random() < 0.5:
                        fh = rng.uniform(1.0, 1.8)
                        prims.append(_box((sgn * (half + w + 0.1), 0.15 + fh / 2, z - front / 2), (0.05, fh, front), 5))
                z -= front
            # street furniture on the sidewalk edge
            step = rng.uniform(18, 35)
            for zp in np.arange(za - rng.uniform(2, step), zb, -step):
                xp = sgn * (half + 0.5)
                hgt = rng.uniform(6, 9)
                prims.append(_cyl((xp, hgt / 2, zp), 0.12, hgt, 6))
                prims.append(_box((xp - sgn * 1.0, hgt - 0.1, zp), (2.0, 0.12, 0.15), 6))
            if rng.random() < 0.6:
                zt = za - rng.uniform(3, 12)
                if zt > zb:
                    prims.append(_cyl((sgn * (half + 0.4), 1.25, zt), 0.05, 2.5, 6))
                    prims.append(_box((sgn * (half + 0.4), 2.4, zt), (0.6, 0.6, 0.05), 8))
            if rng.random() < 0.5:
                for zt in np.arange(za - rng.uniform(3, 8), zb, -rng.uniform(8, 15)):
                    xt = sgn * (half + min(1.2, w / 2))
                    prims.append(_cyl((xt, 1.5, zt), 0.15, 3.0, 9))
                    r = rng.uniform(1.3, 2.5)
                    prims.append(_ell((xt, 3.0 + r, zt), (r, r * rng.uniform(0.9, 1.3), r), 9))
        if cross is not None:  # traffic lights at the near corners
            prims.append(_cyl((sgn * (half + 0.4), 1.8, zc0 - 0.3), 0.08, 3.6, 6))
            prims.append(_box((sgn * (half + 0.4), 3.9, zc0 - 0.3), (0.35, 0.9, 0.3), 7))
    layout = {"lanes": lanes, "lane_width": _r(lane_w), "road_width": _r(road_w), "sidewalks": _r(walk),
              "cross_street": None if cross is None else {k: _r(v) for k, v in cross.items()}}
    return layout, prims


def _dynamic(rng: np.random.Generator, layout: dict, ego_lane: int, density: float) -> list[dict]:
    lanes, lw, half = layout["lanes"], layout["lane_width"], layout["road_width"] / 2
    prims = []
    two_way = lanes >= 2 and rng.random() < 0.7
    for lane in range(lanes):
        xc = -half + (lane + 0.5) * lw
        oncoming = two_way and lane < lanes // 2
        n = rng.poisson(1.6 * density)
        zs = np.sort(rng.uniform(-90, -6 if lane != ego_lane else -8, size=n))[::-1]
        last = None
        for z in zs:
            if last is not None and last - z < 7.5:
                continue
            yaw = (np.pi if oncoming else 0.0) + rng.normal(0, 0.03)
            prims += _car(rng, xc + rng.normal(0, 0.25), z, yaw)
            last = z
    for sgn in (-1, 1):  # parked cars at the kerb, inside the outer lanes' edge
        if rng.random() < 0.5 * density:
            for z in np.arange(-rng.uniform(4, 15), -70, -rng.uniform(5.5, 9)):
                if rng.random() < 0.7:
                    prims += _car(rng, sgn * (half - 1.05), z, rng.normal(0, 0.02))
    walk = layout["sidewalks"]
    for sgn, w in ((-1, walk[0]), (1, walk[1])):
        for _ in range(rng.poisson(4 * density)):
            z = -rng.uniform(2, 60)
            x = sgn * (half + rng.uniform(0.4, max(0.5, w - 0.3)))
            group = 1 if rng.random() < 0.7 else int(rng.integers(2, 5))
            for _ in range(group):
                prims += _person(rng, x + rng.normal(0, 0.4), z + rng.normal(0, 0.7))
    cross = layout["cross_street"]
    if cross is not None:
        zc0 = cross["z"] + cross["width"] / 2 + 2.5
        for _ in range(rng.poisson(1.5 * density)):
            prims += _person(rng, rng.uniform(-half, half), zc0 + rng.uniform(-1.2, 1.2))
    return prims


def sample_scene(rng: np.random.Generator, *, size: tuple[int, int], min_dynamic: float = 0.0,
                 coverage=None) -> dict[str, Any]:
    """Sample one scene (JSON-able). ``coverage(scene) -> fraction`` measures the
    dynamic area for the re-draw rule; without it no re-draw happens."""
    layout, static = _static(rng)
    lanes, lw, half = layout["lanes"], layout["lane_width"], layout["road_width"] / 2
    ego_lane = int(rng.integers(lanes // 2, lanes)) if lanes > 1 else 0
    cam = {
        "position": _r([-half + (ego_lane + 0.5) * lw + rng.uniform(-0.4, 0.4), rng.uniform(1.5, 2.0), 0.0]),
        "yaw_deg": _r(rng.normal(0, 2)), "pitch_deg": _r(rng.normal(-2, 1.5)), "roll_deg": _r(rng.normal(0, 1)),
        "hfov_deg": 90.0, "size": list(size),
    }
    scene = {"layout": layout, "ego_lane": ego_lane, "camera": cam, "static": static}
    density = 1.0
    for attempt in range(1, 7):
        scene["dynamic"] = _dynamic(rng, layout, ego_lane, density)
        scene["attempts"] = attempt
        if coverage is None or coverage(scene) >= min_dynamic:
            break
        density *= 1.5
    return scene


def _templates() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Unit primitives as (vertices, triangles): a box of side 1, a 12-sided
    cylinder of radius 1 and height 1 along y, an icosphere of radius 1."""
    import trimesh

    box = trimesh.creation.box(extents=(1, 1, 1))
    cyl = trimesh.creation.cylinder(radius=1.0, height=1.0, sections=12)
    cyl.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # trimesh's run along z
    ico = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    return {k: (np.asarray(m.vertices, np.float64), np.asarray(m.faces, np.uint32))
            for k, m in (("box", box), ("cylinder", cyl), ("ellipsoid", ico))}


_TEMPLATES: dict | None = None


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def build_geometry(prims: list[dict]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Triangle soup per tag: ``{tag: (vertices (V, 3) float32, triangles (F, 3) uint32)}``.

    Each primitive is a unit template scaled, rotated (pitch about x, then
    yaw about y) and moved; plain numpy, no per-primitive mesh objects.
    """
    global _TEMPLATES
    if _TEMPLATES is None:
        _TEMPLATES = _templates()
    parts: dict[int, list] = {}
    for p in prims:
        v, f = _TEMPLATES[p["kind"]]
        if p["kind"] == "box":
            m = _rot_y(p["yaw"]) @ _rot_x(p.get("pitch", 0.0)) @ np.diag(p["size"])
        elif p["kind"] == "cylinder":
            m = np.diag([p["radius"], p["height"], p["radius"]])
        else:
            m = np.diag(p["radii"])
        parts.setdefault(p["tag"], []).append((v @ m.T + np.asarray(p["centre"]), f))
    out = {}
    for tag, items in parts.items():
        offsets = np.cumsum([0] + [len(v) for v, _ in items[:-1]])
        verts = np.concatenate([v for v, _ in items]).astype(np.float32)
        faces = np.concatenate([f + np.uint32(o) for (_, f), o in zip(items, offsets)])
        out[tag] = (verts, faces)
    return out
