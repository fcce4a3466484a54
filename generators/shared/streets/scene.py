"""Procedural street scenes: roadseg's embedded backend, snow's driving backgrounds (roadseg formation version 3, snow 1).

Coordinates: metres, right-handed, ``y`` up; the camera starts looking
down ``-z`` (as OpenGL cameras do), ``x`` to its right. A scene is a
JSON-able dict: ``layout`` (the sampled street plan), ``camera``,
``static`` and ``dynamic`` primitive lists (kinds in
:mod:`generators.shared.streets.geometry`), each primitive with a CARLA tag
(:mod:`generators.shared.streets.classes`). Road users are sampled in
:mod:`generators.shared.streets.actors`.

Street plan (all sampled; ranges per town style in :data:`STYLES`)
------------------------------------------------------------------
* Town style: ``downtown`` (tall closed frontages, wide sidewalks, many
  people), ``residential`` (2-3 storey houses, gables, front gardens with
  hedges, fences and walls, street trees, grass verges), ``suburban``
  (arterial roads, wide verges, few low buildings far back, trees, guard
  rails); ``mixed`` draws one per scene (0.45, 0.43, 0.12).
* Main road: a centreline sampled every 2 m from 12 m behind the camera to
  170 m ahead; straight (15 %), one bend (45 %; radius 25-250 m, up to 100
  degrees) or an S-bend (40 %), starting 0-60 m ahead (in 35 % of scenes the
  camera is already in the bend); grade 0 (40 %) or up to +-8 % (changing once). 1-5
  lanes of 2.8-3.75 m, one-way or two-way, dashed lane lines and solid edge
  lines; kerbs 0.1-0.2 m high; sidewalks 1.5-6 m per side, grass verges
  0-3 m between kerb and sidewalk. Divided roads (roadseg formation 3): a
  two-way road of two or more lanes has a raised median 1.2-6 m wide with
  probability 0.3 downtown, 0.05 residential, 0.5 suburban (a boulevard or
  arterial), between its oncoming and its own lanes, with edge lines, kerb
  faces and a grass top (paved under 2 m), open at junctions, planted with
  trees or lit by double-armed lamps.
* A junction 8-60 m ahead in 75 % of scenes: a T (one side road), a
  crossing (one road each side, each at 45-135 degrees to the main road), a
  roundabout (ring radius 9-18 m, lanes 6-9 m wide, a planted island, two
  or three exits at varied angles) or a square (a paved plaza 25-60 m long
  and 12-30 m deep on one side, with trees and lamps). Side roads: 1-3
  lanes, sidewalks, zebra crossings and traffic lights at the mouths (some
  lights on an arm over the road).
* Along every road side: building lots (frontage, setback, depth 8-20 m,
  height log-uniform per style, flat roofs or gables), gaps of lawn, parks
  with several trees; front gardens with hedges, fences or walls; street
  trees in four crown shapes (round, cone, column, cluster); street lights
  (6-10 m, arm over the road), signs (rectangular, round, triangular).
  Behind them a second row 22-34 m back: taller blocks or (outside
  residential half the scenes, suburban always) large tree masses, and a row of them across
  the far end of the main road. Nothing is placed on another road's
  corridor or a plaza. Terrain covers the ground everywhere else.

Camera: a dash cam on the main road at the start of the scene, in a lane
of the camera's direction (laterally within 0.4 m of its centre), 1.3-1.7 m
high (cars, 60 %), 1.7-2.3 m (SUVs and vans, 30 %) or 2.5-3.2 m (buses and
trucks, 10 %), looking along the road with yaw N(0, 5) degrees, or turning
(35 %): 8-40 degrees either way (8-30 before roadseg formation 3); pitch N(-2.5, 2.5) degrees clipped to -8..5;
roll N(0, 0.7); horizontal field of view 60-90 degrees (90 is CARLA's default).

A scene whose dynamic objects cover less than ``min_dynamic`` of the frame
(MICC-SRI required a minimum dynamic area) is re-drawn with 1.5 times the
road users, up to 6 attempts; the attempt count is recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from generators.shared.streets.geometry import build_geometry

__all__ = ["sample_scene", "build_geometry", "STYLES", "TOWN_STYLES", "Road"]

# Per style: lanes (choices, probabilities), lane width, sidewalk, verge probability, building height (log-uniform),
# setback (probability, range), frontage, gap / park probability, gable probability, street-tree probability,
# density of people and of vehicles (multipliers of the scene density), parking probability, probability that a
# two-way road of two or more lanes is divided by a raised median.
STYLES: dict[str, dict[str, Any]] = {
    "downtown": dict(lanes=((2, 3, 4, 5), (0.3, 0.3, 0.3, 0.1)), lane_w=(3.0, 3.6), walk=(3.0, 6.0), verge=0.1,
                     height=(12.0, 70.0), setback=(0.2, (0.5, 3.0)), front=(10.0, 35.0), gap=0.05, park=0.05,
                     gable=0.05, trees=0.6, people=2.6, vehicles=2.4, parking=0.6, median=0.3),
    "residential": dict(lanes=((1, 2, 3), (0.25, 0.65, 0.1)), lane_w=(2.8, 3.3), walk=(1.5, 3.0), verge=0.6,
                        height=(8.0, 26.0), setback=(0.8, (2.0, 6.0)), front=(8.0, 20.0), gap=0.12, park=0.08,
                        gable=0.6, trees=0.7, people=1.3, vehicles=1.8, parking=0.8, median=0.05),
    "suburban": dict(lanes=((2, 3, 4), (0.4, 0.3, 0.3)), lane_w=(3.3, 3.75), walk=(1.5, 3.5), verge=0.9,
                     height=(6.0, 22.0), setback=(0.9, (3.0, 10.0)), front=(12.0, 40.0), gap=0.2, park=0.2,
                     gable=0.3, trees=0.9, people=0.6, vehicles=2.6, parking=0.3, median=0.5),
}
TOWN_STYLES = ("mixed", *STYLES)
_MIXED = (0.45, 0.43, 0.12)
STEP = 2.0  # metres between centreline points
TERRAIN, ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, GRASS = 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
ROADLINE, STATIC, GUARDRAIL = 24, 20, 28


def _r(v: Any) -> Any:
    """Round floats to millimetres for compact, stable JSON."""
    if isinstance(v, (list, tuple, np.ndarray)):
        return np.round(np.asarray(v, np.float64), 3).tolist()
    return round(float(v), 3)


def _rot(d: dict, yaw=0.0, pitch=0.0, roll=0.0) -> dict:
    for k, v in (("yaw", yaw), ("pitch", pitch), ("roll", roll)):
        if v:
            d[k] = _r(v)
    return d


def box(c, s, tag, yaw=0.0, pitch=0.0, roll=0.0, dynamic=False) -> dict:
    return _rot({"kind": "box", "centre": _r(c), "size": _r(s), "tag": int(tag), "dynamic": dynamic}, yaw, pitch, roll)


def cylinder(c, radius, height, tag, yaw=0.0, pitch=0.0, roll=0.0, dynamic=False) -> dict:
    return _rot({"kind": "cylinder", "centre": _r(c), "radius": _r(radius), "height": _r(height), "tag": int(tag),
                 "dynamic": dynamic}, yaw, pitch, roll)


def cone(c, radius, height, tag, dynamic=False) -> dict:
    return {"kind": "cone", "centre": _r(c), "radius": _r(radius), "height": _r(height), "tag": int(tag),
            "dynamic": dynamic}


def ellipsoid(c, radii, tag, yaw=0.0, dynamic=False) -> dict:
    return _rot({"kind": "ellipsoid", "centre": _r(c), "radii": _r(radii), "tag": int(tag), "dynamic": dynamic}, yaw)


def prism(c, profile, width, tag, yaw=0.0, pitch=0.0, roll=0.0, dynamic=False) -> dict:
    return _rot({"kind": "prism", "centre": _r(c), "profile": _r(profile), "width": _r(width), "tag": int(tag),
                 "dynamic": dynamic}, yaw, pitch, roll)


def strip(left, right, tag) -> dict:
    return {"kind": "strip", "left": _r(left), "right": _r(right), "tag": int(tag), "dynamic": False}


class Road:
    """A road while the scene is sampled: centreline points (N, 3), unit headings, cross-section."""

    def __init__(self, pts: np.ndarray, heading: np.ndarray, lanes: int, lane_w: float, walk, verge, kerb: float,
                 one_way: bool, median: float = 0.0):
        self.pts, self.heading = pts, heading  # heading: radians from -z towards +x
        self.lanes, self.lane_w, self.median = lanes, lane_w, median
        self.split = lanes // 2  # lanes left of the median (the oncoming ones on a two-way road)
        self.half = lanes * lane_w / 2 + median / 2
        self.walk, self.verge, self.kerb, self.one_way = list(walk), list(verge), kerb, one_way
        self.cut: list[tuple[float, float]] = []  # arc-length intervals without sidewalk, lines or lots
        zero = np.zeros_like(heading)
        self.fwd = np.column_stack([np.sin(heading), zero, -np.cos(heading)])
        self.right = np.column_stack([np.cos(heading), zero, np.sin(heading)])
        self.s = np.arange(len(pts)) * STEP

    def offset(self, d: float, dy: float = 0.0, idx=slice(None)) -> np.ndarray:
        """Points ``d`` metres to the right of the centreline (negative: left), ``dy`` up."""
        return self.pts[idx] + self.right[idx] * d + np.array([0.0, dy, 0.0])

    def lane_centre(self, k: int) -> float:
        """Offset of lane ``k``'s centre from the centreline (lanes numbered from the left edge)."""
        return -self.half + (k + 0.5) * self.lane_w + (self.median if k >= self.split else 0.0)

    def median_edges(self) -> tuple[float, float]:
        """Offsets of the median's left and right edges (equal when the road has none)."""
        a = -self.half + self.split * self.lane_w
        return a, a + self.median

    def reach(self, side: int) -> float:
        """Distance from the centreline to the outer edge of the sidewalk on ``side`` (0 left, 1 right)."""
        return self.half + self.verge[side] + self.walk[side]

    def at(self, s: float) -> int:
        return int(np.clip(round(s / STEP), 0, len(self.pts) - 1))

    def is_cut(self, s: float, margin: float = 0.0) -> bool:
        return any(a - margin <= s <= b + margin for a, b in self.cut)

    def describe(self) -> dict:
        return {"start": _r(self.pts[0]), "end": _r(self.pts[-1]), "length": _r(STEP * (len(self.pts) - 1)),
                "lanes": self.lanes, "lane_width": _r(self.lane_w), "one_way": self.one_way,
                "sidewalks": _r(self.walk), "verges": _r(self.verge), "kerb": _r(self.kerb), "median": _r(self.median)}


def _cross_section(rng: np.random.Generator, st: dict, lanes: int | None = None) -> dict:
    n = int(rng.choice(st["lanes"][0], p=st["lanes"][1])) if lanes is None else lanes
    verge = [rng.uniform(0.8, 3.0) if rng.random() < st["verge"] else 0.0 for _ in range(2)]
    xs = dict(lanes=n, lane_w=rng.uniform(*st["lane_w"]), walk=[rng.uniform(*st["walk"]) for _ in range(2)],
              verge=verge, kerb=rng.uniform(0.1, 0.2), one_way=bool(n == 1 or rng.random() < 0.15))
    divided = not xs["one_way"] and n >= 2 and rng.random() < st["median"]
    xs["median"] = float(rng.uniform(1.2, 6.0)) if divided else 0.0
    return xs


def _main_centreline(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    s = np.arange(-12.0, 170.0 + STEP / 2, STEP)
    curv = np.zeros_like(s)
    kind = str(rng.choice(["straight", "bend", "s-bend"], p=[0.15, 0.45, 0.4]))
    bends = []
    if kind != "straight":
        start = -rng.uniform(0, 30) if rng.random() < 0.35 else rng.uniform(0, 60)
        sign = rng.choice([-1.0, 1.0])
        for _ in range(1 if kind == "bend" else 2):
            radius = float(np.exp(rng.uniform(np.log(25), np.log(250))))
            angle = np.deg2rad(rng.uniform(15, 100 if kind == "bend" else 60))
            length = radius * angle
            curv[(s >= start) & (s < start + length)] = sign / radius
            bends.append({"start": _r(start), "radius": _r(radius), "angle_deg": _r(np.rad2deg(angle)),
                          "turn": "right" if sign > 0 else "left"})
            start += length + rng.uniform(10, 40)
            sign = -sign
    heading = np.cumsum(curv) * STEP
    heading -= heading[np.searchsorted(s, 0.0)]  # the camera's road heading is 0 at s = 0
    grades = [0.0, 0.0]
    if rng.random() < 0.6:
        grades = [rng.uniform(-0.08, 0.08), rng.uniform(-0.08, 0.08)]
    s_grade = rng.uniform(20, 100)
    grade = np.where(s < s_grade, grades[0], grades[1])
    pts = np.zeros((len(s), 3))
    d = np.column_stack([np.sin(heading), grade, -np.cos(heading)]) * STEP
    pts[1:] = np.cumsum(d[:-1], axis=0)
    pts -= pts[np.searchsorted(s, 0.0)]
    return pts, heading, {"shape": kind, "bends": bends, "grades": _r(grades), "grade_change_at": _r(s_grade)}


class _Ground:
    """Ground height: that of the nearest main-road centreline point (roads, lots and terrain agree)."""

    def __init__(self, main: Road):
        self.p = main.pts

    def __call__(self, xz: np.ndarray) -> np.ndarray:
        xz = np.atleast_2d(np.asarray(xz, np.float64))
        d = ((xz[:, None, 0] - self.p[None, :, 0]) ** 2 + (xz[:, None, 1] - self.p[None, :, 2]) ** 2)
        return self.p[np.argmin(d, axis=1), 1]


def _straight_road(origin: np.ndarray, heading: float, length: float, ground: _Ground, xs: dict) -> Road:
    s = np.arange(0.0, length + STEP / 2, STEP)
    pts = origin[None, :] + np.outer(s, [np.sin(heading), 0.0, -np.cos(heading)])
    pts[:, 1] = ground(pts[:, [0, 2]])
    return Road(pts, np.full(len(s), heading), **xs)


class _Blocked:
    """Corridors where nothing may stand: roads with their sidewalks, rings, plazas."""

    def __init__(self):
        self.items: list[tuple[np.ndarray, float]] = []  # (points (N, 2) in xz, reach)

    def add(self, pts: np.ndarray, reach: float):
        """``pts``: (N, 3) world points; nothing may stand within ``reach`` metres of them."""
        self.items.append((np.atleast_2d(np.asarray(pts, np.float64))[:, [0, 2]], reach))

    def hits(self, xz: np.ndarray, margin: float) -> bool:
        xz = np.atleast_2d(xz)
        for pts, reach in self.items:
            d2 = ((xz[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
            if d2.min() < (reach + margin) ** 2:
                return True
        return False


def _footprint(c: np.ndarray, half_x: float, half_z: float, yaw: float) -> np.ndarray:
    """Corners, edge midpoints and centre of a yawed rectangle, in xz."""
    u = np.array([np.cos(yaw), np.sin(yaw)])  # local x in world xz
    v = np.array([np.sin(yaw), -np.cos(yaw)])  # local -z (forward)
    pts = [c + a * half_x * u + b * half_z * v for a in (-1, 0, 1) for b in (-1, 0, 1)]
    return np.array(pts)


# ------------------------------------------------------------------------------------------- furniture


def _tree(rng: np.random.Generator, base: np.ndarray, scale: float = 1.0) -> list[dict]:
    shape = str(rng.choice(["round", "cone", "column", "cluster"], p=[0.45, 0.2, 0.15, 0.2]))
    trunk = rng.uniform(1.8, 3.2) * scale
    r = rng.uniform(1.6, 3.6) * scale
    x, y, z = base
    out = [cylinder((x, y + trunk / 2, z), rng.uniform(0.1, 0.22) * scale, trunk + 0.2, VEGETATION)]
    if shape == "round":
        out.append(ellipsoid((x, y + trunk + r * 0.8, z), (r, r * rng.uniform(0.8, 1.3), r), VEGETATION,
                             yaw=rng.uniform(0, np.pi)))
    elif shape == "cone":
        out.append(cone((x, y + trunk * 0.5, z), r * 0.9, rng.uniform(2.5, 4.5) * r, VEGETATION))
    elif shape == "column":
        out.append(ellipsoid((x, y + trunk + 1.6 * r, z), (r * 0.6, r * 2.0, r * 0.6), VEGETATION))
    else:
        for _ in range(3):
            off = rng.normal(0, 0.6 * r, 3) * np.array([1, 0.4, 1])
            rr = r * rng.uniform(0.6, 0.9)
            out.append(ellipsoid((x + off[0], y + trunk + rr * 0.8 + off[1], z + off[2]), (rr, rr * 0.85, rr),
                                 VEGETATION))
    return out


def _street_light(pos: np.ndarray, toward: np.ndarray, h: float) -> list[dict]:
    arm = 1.6
    tip = pos + toward * arm
    yaw = np.arctan2(-toward[2], toward[0])  # the box's local x along the arm
    return [cylinder(pos + [0, h / 2, 0], 0.11, h, POLE),
            box((pos + tip) / 2 + [0, h - 0.1, 0], (arm + 0.1, 0.12, 0.15), POLE, yaw=yaw),
            box(tip + [0, h - 0.25, 0], (0.5, 0.15, 0.3), POLE, yaw=yaw)]


def _sign(rng: np.random.Generator, pos: np.ndarray, yaw: float) -> list[dict]:
    h = rng.uniform(2.0, 2.8)
    out = [cylinder(pos + [0, h / 2, 0], 0.04, h, POLE)]
    shape = rng.integers(3)
    top = pos + [0, h + 0.05, 0]
    if shape == 0:
        out.append(box(top, (rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9), 0.04), SIGN, yaw=yaw))
    elif shape == 1:
        out.append(cylinder(top, 0.35, 0.04, SIGN, yaw=yaw, pitch=np.pi / 2))
    else:
        out.append(prism(top, [(-0.35, -0.3), (0.35, -0.3), (0.0, 0.32)], 0.04, SIGN, yaw=yaw + np.pi / 2))
    return out


def _traffic_light(rng: np.random.Generator, pos: np.ndarray, across: np.ndarray, span: float) -> list[dict]:
    """A pole at ``pos``; in 40 % an arm reaching ``span`` metres along ``across`` with the lights on it."""
    h = rng.uniform(3.2, 4.0)
    yaw = np.arctan2(across[0], across[2])  # the box's local z along the arm
    out = [cylinder(pos + [0, h / 2, 0], 0.09, h, POLE)]
    if rng.random() < 0.4:
        hh = rng.uniform(5.0, 6.0)
        out[0] = cylinder(pos + [0, hh / 2, 0], 0.12, hh, POLE)
        mid = pos + across * span / 2
        out.append(box(mid + [0, hh - 0.15, 0], (0.15, 0.15, span), POLE, yaw=yaw))
        out.append(box(pos + across * span * 0.8 + [0, hh - 0.75, 0], (0.35, 0.95, 0.3), LIGHT, yaw=yaw))
    else:
        out.append(box(pos + [0, h + 0.45, 0], (0.35, 0.9, 0.3), LIGHT, yaw=yaw))
    return out


# ----------------------------------------------------------------------------------------- road surfaces


def _true_runs(keep: np.ndarray) -> list[slice]:
    """Index ranges of the runs of at least two consecutive True values of ``keep``."""
    out, i = [], 0
    while i < len(keep):
        if keep[i]:
            j = i
            while j + 1 < len(keep) and keep[j + 1]:
                j += 1
            if j > i:
                out.append(slice(i, j + 1))
            i = j + 1
        else:
            i += 1
    return out


def _runs(road: Road, margin: float = 0.0) -> list[slice]:
    """Index ranges of the centreline outside the road's cut intervals."""
    return _true_runs(np.array([not road.is_cut(s, margin) for s in road.s]))


def _surfaces(road: Road) -> list[dict]:
    """Road, lines, kerbs, verges and sidewalks of one road (side roads start at the main road's edge)."""
    out = [strip(road.offset(-road.half), road.offset(road.half), ROAD)]
    for run in _runs(road, margin=1.0):
        for d in (-road.half + 0.15, road.half - 0.15):  # solid edge lines
            out.append(strip(road.offset(d - 0.07, 0.02, run), road.offset(d + 0.07, 0.02, run), ROADLINE))
        for k in range(1, road.lanes):  # dashed separators: 3 m of every 9 m
            if road.median and k == road.split:
                continue  # the median separates these lanes
            d = road.lane_centre(k) - road.lane_w / 2
            idx = np.arange(run.start, run.stop)
            for j in idx[(road.s[idx] % 9.0) < 0.1]:
                if j + 2 <= run.stop - 1:
                    out.append(strip(road.offset(d - 0.06, 0.02, slice(j, j + 2)),
                                     road.offset(d + 0.06, 0.02, slice(j, j + 2)), ROADLINE))
    if road.median:  # a raised median: edge lines, kerb faces, a grass or paved top; open at junctions
        a, b = road.median_edges()
        top = GRASS if road.median >= 2.0 else SIDEWALK
        for run in _runs(road, margin=1.0):
            for d in (a - 0.2, b + 0.06):
                out.append(strip(road.offset(d, 0.02, run), road.offset(d + 0.14, 0.02, run), ROADLINE))
        for run in _runs(road):
            out.append(strip(road.offset(a, 0.0, run), road.offset(a, road.kerb, run), SIDEWALK))
            out.append(strip(road.offset(b, road.kerb, run), road.offset(b, 0.0, run), SIDEWALK))
            out.append(strip(road.offset(a, road.kerb, run), road.offset(b, road.kerb, run), top))
    for run in _runs(road):
        for side, sgn in ((0, -1.0), (1, 1.0)):
            k, v, w = road.kerb, road.verge[side], road.walk[side]
            a, b, c = road.half, road.half + v, road.half + v + w
            out.append(strip(road.offset(sgn * a, 0.0, run), road.offset(sgn * a, k, run), SIDEWALK))  # kerb face
            if v > 0:
                out.append(strip(road.offset(sgn * a, k, run), road.offset(sgn * b, k, run), GRASS))
            out.append(strip(road.offset(sgn * b, k, run), road.offset(sgn * c, k, run), SIDEWALK))
    return out


def _ring(centre: np.ndarray, r0: float, r1: float, y: float, tag: int, gaps: list[tuple[float, float]]) -> list[dict]:
    """Annulus r0..r1 around ``centre`` at height ``y``, without the angular ``gaps`` (radians)."""
    angles = np.linspace(0, 2 * np.pi, 73)
    keep = np.array([not any(abs(np.angle(np.exp(1j * (a - g)))) < half for g, half in gaps) for a in angles])
    out = []
    for run in _true_runs(keep):
        a = angles[run]
        ring = lambda r: np.column_stack([centre[0] + r * np.sin(a), np.full(len(a), y),  # noqa: E731
                                          centre[2] - r * np.cos(a)])
        out.append(strip(ring(r0), ring(r1), tag))
    return out


# ------------------------------------------------------------------------------------------------ layout


def _junction(rng: np.random.Generator, st: dict, main: Road, ground: _Ground, blocked: _Blocked,
              prims: list[dict]) -> tuple[dict | None, list[Road], list[dict]]:
    """A junction on the main road (or none): its description, its side roads, its crossings (for people)."""
    if rng.random() >= 0.75:
        return None, [], []
    kind = str(rng.choice(["T", "crossing", "roundabout", "square"], p=[0.3, 0.3, 0.2, 0.2]))
    sj = rng.uniform(8, 60) + 12.0  # arc length from the main road's start, 12 m behind the camera
    j = main.at(sj)
    p0, fwd, right = main.pts[j], main.fwd[j], main.right[j]
    h0 = main.heading[j]
    sides: list[Road] = []
    crossings: list[dict] = []
    info: dict[str, Any] = {"kind": kind, "ahead": _r(sj - 12.0)}
    if kind in ("T", "crossing"):
        which = [int(rng.integers(2))] if kind == "T" else [0, 1]
        angles = []
        for side in which:
            sgn = -1.0 if side == 0 else 1.0
            ang = np.deg2rad(rng.uniform(45, 135))
            heading = h0 + sgn * ang  # turning left (side 0) or right from the main road's direction
            xs = _cross_section(rng, st, lanes=int(rng.choice([1, 2, 3], p=[0.3, 0.55, 0.15])))
            road = _straight_road(p0.copy(), heading, 110.0, ground, xs)
            start = (main.reach(side) + 0.5) / max(np.sin(ang), 0.5)
            road.cut.append((0.0, start))
            # the main road's sidewalk opens for the side road's width, measured along the main road
            w = (road.reach(0) + road.reach(1)) / 2 / max(np.sin(ang), 0.5) + 1.0
            sa = sj + main.reach(side) / np.tan(ang)  # where the side road's centreline crosses the sidewalk
            main.cut.append((sa - w, sa + w))
            sides.append(road)
            angles.append(_r(np.rad2deg(sgn * ang)))
            crossings.append({"road": road, "s": start + 1.5})
        info["angles_deg"] = angles
        crossings.append({"road": main, "s": sj - max(r.reach(0) for r in sides) - 3.0})
        # traffic lights at the near corners of the main road
        for side, sgn in ((0, -1.0), (1, 1.0)):
            pos = main.offset(sgn * (main.half + 0.5), main.kerb, main.at(crossings[-1]["s"] - 2.0))
            prims += _traffic_light(rng, pos, -right * sgn, main.half)
    elif kind == "roundabout":
        r_out = rng.uniform(9, 18)
        width = min(rng.uniform(6, 9), r_out - 3)
        walk = rng.uniform(2, 4)
        centre = p0 + fwd * r_out
        centre[1] = ground(centre[[0, 2]])[0]
        s_c = sj + r_out
        main.cut.append((sj - 1.0, s_c + r_out + walk + 2.0))
        gaps = [(h0, np.arcsin(min(1.0, (main.reach(0) + 1) / r_out))),
                (h0 + np.pi, np.arcsin(min(1.0, (main.reach(0) + 1) / r_out)))]
        exits = []
        for _ in range(int(rng.integers(1, 3))):
            a = h0 + np.pi + rng.choice([-1, 1]) * np.deg2rad(rng.uniform(50, 130))
            if all(abs(np.angle(np.exp(1j * (a - g)))) > 0.8 for g, _ in gaps):
                xs = _cross_section(rng, st, lanes=int(rng.choice([1, 2], p=[0.4, 0.6])))
                o = centre + np.array([np.sin(a), 0.0, -np.cos(a)]) * (r_out - 1.0)
                road = _straight_road(o, a, 100.0, ground, xs)
                road.cut.append((0.0, walk + 1.5))
                sides.append(road)
                gaps.append((a, np.arcsin(min(1.0, (road.reach(0) + 1) / r_out))))
                exits.append(_r(np.rad2deg(a - h0)))
        y = centre[1]
        prims += _ring(centre, r_out - width, r_out + 0.5, y, ROAD, [])
        prims += _ring(centre, r_out + 0.5, r_out + 0.5 + walk, y + 0.15, SIDEWALK, gaps)
        island = r_out - width
        prims.append(cylinder(centre + [0, 0.05, 0], island, 0.5, GRASS))
        prims.append(cylinder(centre + [0, 0.0, 0], island + 0.05, 0.35, SIDEWALK))  # its kerb
        for _ in range(int(rng.integers(1, 4))):
            off = rng.normal(0, island * 0.3, 3) * [1, 0, 1]
            prims += _tree(rng, centre + off + [0, 0.3, 0], scale=rng.uniform(0.8, 1.3))
        blocked.add(centre[None], r_out + walk + 0.5)
        crossings.append({"road": main, "s": sj - 3.0})
        info.update(radius=_r(r_out), width=_r(width), exits_deg=exits)
    else:  # square: a plaza on one side
        side = int(rng.integers(2))
        sgn = -1.0 if side == 0 else 1.0
        length, depth = rng.uniform(25, 60), rng.uniform(12, 30)
        run = slice(main.at(sj), main.at(sj + length) + 1)
        a = main.reach(side)
        prims.append(strip(main.offset(sgn * a, main.kerb, run), main.offset(sgn * (a + depth), main.kerb, run),
                           SIDEWALK))
        mid = main.offset(sgn * (a + depth / 2), 0.0, run)
        blocked.add(mid, depth / 2 + 1.0)
        for _ in range(int(rng.integers(2, 8))):
            i = int(rng.integers(run.start, run.stop))
            pos = main.offset(sgn * (a + rng.uniform(2, depth - 2)), main.kerb, i)
            prims += _tree(rng, pos) if rng.random() < 0.6 else [cylinder(pos + [0, 2, 0], 0.1, 4.0, POLE)]
        if rng.random() < 0.5:  # a monument
            i = (run.start + run.stop) // 2
            pos = main.offset(sgn * (a + depth / 2), main.kerb, i)
            prims.append(box(pos + [0, 1.0, 0], (2.5, 2.0, 2.5), STATIC, yaw=-main.heading[i]))
        info.update(side="left" if side == 0 else "right", length=_r(length), depth=_r(depth))
    return info, sides, crossings


def _lots(rng: np.random.Generator, st: dict, road: Road, ground: _Ground, blocked: _Blocked, prims: list[dict]):
    """Buildings, gardens, parks, street trees and furniture along both sides of ``road``."""
    lights = rng.random() < 0.8
    light_side = int(rng.integers(3))  # 0 left, 1 right, 2 both
    light_step, light_h = rng.uniform(20, 40), rng.uniform(6, 10)
    trees = rng.random() < st["trees"]
    tree_step = rng.uniform(6, 14)
    fence_kind = [int(rng.choice([0, 1, 2, 3], p=[0.3, 0.3, 0.2, 0.2])) for _ in range(2)]  # none/hedge/fence/wall
    guard = st is STYLES["suburban"] and rng.random() < 0.3
    gable = rng.random() < st["gable"]
    total = road.s[-1]
    if road.median:  # on the median: trees on a wide one, else lamps with two arms, or nothing
        mid = sum(road.median_edges()) / 2
        kind = int(rng.choice(3, p=[0.45, 0.35, 0.2])) if road.median >= 2.5 else int(rng.choice([1, 2]))
        step = rng.uniform(7, 14) if kind == 0 else rng.uniform(22, 35)
        for run in _runs(road, margin=2.0):
            for sp in np.arange(road.s[run.start] + rng.uniform(1, step), road.s[run.stop - 1], step):
                i = road.at(sp)
                pos = road.offset(mid, road.kerb, i)
                if kind == 0:
                    prims += _tree(rng, pos, scale=rng.uniform(0.8, 1.2))
                elif kind == 1:
                    prims += _street_light(pos, -road.right[i], light_h)
                    prims += _street_light(pos, road.right[i], light_h)[1:]
    for side, sgn in ((0, -1.0), (1, 1.0)):
        edge = road.reach(side)
        s = rng.uniform(0, 6)
        while s < total - 4:
            front = rng.uniform(*st["front"])
            sm = s + front / 2
            i = road.at(sm)
            if road.is_cut(sm, margin=front / 2) or sm > total:
                s += 3.0
                continue
            heading = road.heading[i]
            normal = road.right[i] * sgn
            setback = rng.uniform(*st["setback"][1]) if rng.random() < st["setback"][0] else 0.0
            u = rng.random()
            if u < st["park"]:  # a park: lawn and trees
                depth = rng.uniform(15, 40)
                c = road.pts[i] + normal * (edge + depth / 2 + 0.5)
                fp = _footprint(c[[0, 2]], depth / 2, front / 2, heading)
                if not blocked.hits(fp, 0.5):
                    y = ground(c[[0, 2]])[0]
                    prims.append(box((c[0], y + 0.05, c[2]), (depth, 0.2, front), GRASS, yaw=-heading))
                    for _ in range(int(rng.integers(2, 7))):
                        off = normal * rng.uniform(-depth / 2 + 2, depth / 2 - 1) + road.fwd[i] * rng.uniform(
                            -front / 2, front / 2)
                        prims += _tree(rng, np.array([c[0] + off[0], y + 0.1, c[2] + off[2]]),
                                       scale=rng.uniform(0.9, 1.6))
                s += front
                continue
            if u < st["park"] + st["gap"]:  # a gap: lawn, maybe a tree
                c = road.pts[i] + normal * (edge + 6)
                if not blocked.hits(_footprint(c[[0, 2]], 5, front / 2, heading), 0.5):
                    y = ground(c[[0, 2]])[0]
                    prims.append(box((c[0], y + 0.03, c[2]), (10, 0.1, front), GRASS, yaw=-heading))
                    if rng.random() < 0.6:
                        prims += _tree(rng, np.array([c[0], y + 0.05, c[2]]))
                s += front
                continue
            depth = rng.uniform(8, 20)
            height = float(np.exp(rng.uniform(*np.log(st["height"]))))
            for attempt in range(2):
                c = road.pts[i] + normal * (edge + setback + depth / 2 + 1.0)
                fp = _footprint(c[[0, 2]], depth / 2, front / 2, heading)
                if not blocked.hits(fp, 0.3):
                    break
                front /= 2
                sm = s + front / 2
                i = road.at(sm)
                heading, normal = road.heading[i], road.right[i] * sgn
            else:
                s += 4.0
                continue
            y = ground(c[[0, 2]])[0]
            prims.append(box((c[0], y + height / 2 - 1.0, c[2]), (depth, height + 2.0, front - 0.2), BUILDING,
                             yaw=-heading))
            if gable and height < 16 and rng.random() < 0.7:
                roof = rng.uniform(2.0, 4.5)
                prims.append(prism((c[0], y + height + 0.99, c[2]),
                                   [(-depth / 2, 0.0), (depth / 2, 0.0), (0.0, roof)], front - 0.2, BUILDING,
                                   yaw=np.pi / 2 - heading))
            if setback > 1.0:  # front garden
                g = road.pts[i] + normal * (edge + setback / 2 + 0.5)
                yg = ground(g[[0, 2]])[0]
                prims.append(box((g[0], yg + 0.03, g[2]), (setback, 0.12, front), GRASS, yaw=-heading))
                fk = fence_kind[side]
                f = road.pts[i] + normal * (edge + 0.8)
                if fk == 1:
                    hh = rng.uniform(0.8, 1.8)
                    prims.append(box((f[0], yg + hh / 2, f[2]), (0.6, hh, front - 1.0), VEGETATION, yaw=-heading))
                elif fk in (2, 3):
                    hh = rng.uniform(0.9, 1.9) if fk == 2 else rng.uniform(0.6, 1.4)
                    prims.append(box((f[0], yg + hh / 2, f[2]), (0.06 if fk == 2 else 0.3, hh, front - 1.0),
                                     FENCE if fk == 2 else WALL, yaw=-heading))
                if setback > 3.0 and rng.random() < 0.5:
                    prims += _tree(rng, np.array([g[0], yg, g[2]]) + road.fwd[i] * rng.uniform(-front / 3, front / 3))
            s += front + (rng.uniform(1, 6) if rng.random() < st["gap"] else 0.0)
        # street furniture on the sidewalk
        for run in _runs(road, margin=2.0):
            s0, s1 = road.s[run.start], road.s[run.stop - 1]
            if lights and light_side in (side, 2):
                for sp in np.arange(s0 + rng.uniform(1, light_step), s1, light_step):
                    i = road.at(sp)
                    pos = road.offset(sgn * (road.half + road.verge[side] + 0.5), road.kerb, i)
                    prims += _street_light(pos, -road.right[i] * sgn, light_h)
            if trees:
                d = road.half + (road.verge[side] / 2 if road.verge[side] > 0 else min(1.2, road.walk[side] / 2))
                for sp in np.arange(s0 + rng.uniform(1, tree_step), s1, tree_step):
                    i = road.at(sp)
                    prims += _tree(rng, road.offset(sgn * d, road.kerb, i))
            if rng.random() < 0.6:
                sp = s0 + rng.uniform(2, 15)
                if sp < s1:
                    i = road.at(sp)
                    prims += _sign(rng, road.offset(sgn * (road.half + 0.4), road.kerb, i), -road.heading[i])
            if guard and road.verge[side] > 0:
                prims.append(strip(road.offset(sgn * (road.half + 0.4), 0.5, run),
                                   road.offset(sgn * (road.half + 0.4), 0.8, run), GUARDRAIL))


def _hinterland(rng: np.random.Generator, st: dict, road: Road, ground: _Ground, blocked: _Blocked,
                prims: list[dict], main: bool):
    """What stands behind the first row: a second row of taller blocks or of large tree masses along both
    sides, and (main road) a row across the far end, so the town does not stop after one lot."""
    forest = st is STYLES["suburban"] or (st is STYLES["residential"] and rng.random() < 0.5)
    lo, hi = np.log(st["height"][0]) + 0.3, np.log(st["height"][1]) + 0.4
    for side, sgn in ((0, -1.0), (1, 1.0)):
        s = rng.uniform(0, 10)
        while s < road.s[-1]:
            front = rng.uniform(15, 40)
            i = road.at(s + front / 2)
            depth = rng.uniform(12, 30)
            c = road.pts[i] + road.right[i] * sgn * (road.reach(side) + rng.uniform(22, 34) + depth / 2)
            if not blocked.hits(_footprint(c[[0, 2]], depth / 2, front / 2, road.heading[i]), 1.0):
                y = ground(c[[0, 2]])[0]
                if forest and rng.random() < 0.7:
                    r = rng.uniform(6, 12)
                    prims.append(ellipsoid((c[0], y + rng.uniform(5, 9), c[2]), (depth / 2, r, front / 2), VEGETATION,
                                           yaw=-road.heading[i]))
                else:
                    h = float(np.exp(rng.uniform(lo, hi)))
                    prims.append(box((c[0], y + h / 2 - 1.0, c[2]), (depth, h + 2.0, front), BUILDING,
                                     yaw=-road.heading[i]))
            s += front + rng.uniform(0, 4)
    if main:
        end, fwd, right = road.pts[-1], road.fwd[-1], road.right[-1]
        for d in np.arange(-60.0, 61.0, 24.0):
            c = end + fwd * rng.uniform(8, 20) + right * d
            y = ground(c[[0, 2]])[0]
            if forest:
                prims.append(ellipsoid((c[0], y + 6, c[2]), (14, rng.uniform(6, 10), 10), VEGETATION))
            else:
                h = float(np.exp(rng.uniform(lo, hi)))
                prims.append(box((c[0], y + h / 2 - 1.0, c[2]), (24, h + 2.0, 15), BUILDING, yaw=-road.heading[-1]))


def _terrain(main: Road, ground: _Ground) -> list[dict]:
    """Ground beyond everything: rows of a 10 m grid at the ground height, 0.06 m below the roads
    (0.3 m on slopes, where the grid's linear interpolation of the ground errs by up to ~0.15 m)."""
    lo, hi = main.pts[:, [0, 2]].min(0) - 170.0, main.pts[:, [0, 2]].max(0) + 170.0
    xs, zs = np.arange(lo[0], hi[0] + 10, 10.0), np.arange(lo[1], hi[1] + 10, 10.0)
    gx, gz = np.meshgrid(xs, zs)
    drop = 0.06 if np.ptp(main.pts[:, 1]) < 1e-6 else 0.3
    gy = ground(np.column_stack([gx.ravel(), gz.ravel()])).reshape(gx.shape) - drop
    grid = np.stack([gx, gy, gz], axis=-1)
    return [strip(grid[k], grid[k + 1], TERRAIN) for k in range(len(zs) - 1)]


def _static(rng: np.random.Generator, style: str) -> tuple[dict, list[dict], list[Road], list[dict]]:
    st = STYLES[style]
    pts, heading, shape = _main_centreline(rng)
    main = Road(pts, heading, **_cross_section(rng, st))
    ground = _Ground(main)
    blocked = _Blocked()
    prims: list[dict] = []
    prims += _terrain(main, ground)
    junction, sides, crossings = _junction(rng, st, main, ground, blocked, prims)
    roads = [main, *sides]
    for road in roads:
        blocked.add(road.pts, max(road.reach(0), road.reach(1)) + 0.3)
    for road in roads:
        prims += _surfaces(road)
    for c in crossings:  # zebra stripes
        road, i = c["road"], c["road"].at(c["s"])
        for d in np.arange(-road.half + 0.5, road.half - 0.4, 1.0):
            prims.append(strip(road.offset(d, 0.025, slice(i, i + 2)), road.offset(d + 0.5, 0.025, slice(i, i + 2)),
                               ROADLINE))
    for road in roads:
        _lots(rng, st, road, ground, blocked, prims)
    for k, road in enumerate(roads):
        _hinterland(rng, st, road, ground, blocked, prims, main=k == 0)
    layout = {"style": style, "main": {**main.describe(), **shape}, "junction": junction,
              "side_roads": [r.describe() for r in sides]}
    return layout, prims, roads, crossings


def sample_scene(rng: np.random.Generator, *, size: tuple[int, int], min_dynamic: float = 0.0, coverage=None,
                 town_style: str = "mixed", density: float = 1.0) -> dict[str, Any]:
    """Sample one scene (JSON-able). ``coverage(scene) -> fraction`` measures the dynamic area for the
    re-draw rule; without it no re-draw happens. ``density`` scales the number of road users."""
    from generators.shared.streets.actors import sample_road_users

    if town_style not in TOWN_STYLES:
        raise ValueError(f"unknown town style {town_style!r}; choose from {sorted(TOWN_STYLES)}")
    if not (np.isfinite(density) and density > 0):
        raise ValueError(f"density must be a positive number (1 = the default mix), got {density}")
    style = str(rng.choice(list(STYLES), p=_MIXED)) if town_style == "mixed" else town_style
    layout, static, roads, crossings = _static(rng, style)
    main = roads[0]
    forward = [k for k in range(main.lanes) if main.one_way or k >= main.split]
    ego_lane = int(rng.choice(forward))
    lateral = main.lane_centre(ego_lane) + rng.uniform(-0.4, 0.4)
    i0 = main.at(12.0)  # s = 0
    u = rng.random()
    height = rng.uniform(1.3, 1.7) if u < 0.6 else rng.uniform(1.7, 2.3) if u < 0.9 else rng.uniform(2.5, 3.2)
    turning = rng.random() < 0.35
    yaw = rng.choice([-1, 1]) * rng.uniform(8, 40) if turning else rng.normal(0, 5)
    pos = main.pts[i0] + main.right[i0] * lateral + [0, height, 0]
    cam = {
        "position": _r(pos), "yaw_deg": _r(-yaw), "pitch_deg": _r(np.clip(rng.normal(-2.5, 2.5), -8, 5)),
        "roll_deg": _r(rng.normal(0, 0.7)), "hfov_deg": _r(rng.uniform(60.0, 90.0)), "size": list(size),
        "turning": bool(turning),
    }
    scene = {"layout": layout, "ego_lane": ego_lane, "camera": cam, "static": static}
    st = STYLES[style]
    base = float(np.exp(rng.uniform(np.log(0.25), np.log(2.5)))) * density
    people = 0.0 if rng.random() < 0.15 else base * st["people"]
    vehicles = 0.0 if (rng.random() < 0.1 and people > 0) else base * st["vehicles"]
    user_seed = rng.integers(2**63)
    for attempt in range(1, 7):
        users_rng = np.random.default_rng([int(user_seed), attempt])
        scene["dynamic"] = sample_road_users(users_rng, roads, crossings, layout, ego_lane,
                                             people=people, vehicles=vehicles)
        scene["attempts"] = attempt
        scene["density"] = {"people": _r(people), "vehicles": _r(vehicles)}
        if coverage is None or coverage(scene) >= min_dynamic:
            break
        people, vehicles = people * 1.5 if people else people, vehicles * 1.5 if vehicles else vehicles
        if not people and not vehicles:
            break
    return scene
