"""Road users of the street scenes: vehicles, riders and pedestrians (roadseg formation version 2, snow 1).

Every road user is a few primitives (:mod:`generators.shared.streets.geometry`)
with a CARLA tag, sized after real ones:

* cars (tag 14): a body prism with sloped nose and tail and a cabin prism
  with raked windscreen and rear window over four wheels (horizontal
  cylinders), in five body types: sedan, hatchback, SUV, van, estate
  (length 3.8-5.3 m, width 1.7-2.05 m, roof 1.4-2.1 m);
* buses (16, 10-12.5 m x 2.5 m x 3.0-3.2 m) and trucks (15, a cab and a
  cargo box, 7-10.5 m, up to 3.8 m high) with large wheels;
* motorcycles (18) and bicycles (19) with disc wheels, frame and
  handlebar, each with a rider (13) seated, leaning forward, hands on the
  bar;
* pedestrians (12): legs, torso, arms and head, 1.55-1.95 m (adults) or
  1.0-1.45 m (children, 12 %), walking (legs and arms swung by a phase) or
  standing, alone or in groups of 2-5, on sidewalks, crossings and plazas.

Vehicles drive in the lanes of every road (in the direction of their
lane on two-way roads, 7.5 m apart at least) or are parked along the kerbs
(cars only, partly on the outer lane); the camera's own lane is free for
8 m. Counts are Poisson with means proportional to the scene's people and
vehicle densities and to the road length.
"""

from __future__ import annotations

import numpy as np

from generators.shared.streets.scene import Road, box, cylinder, ellipsoid, prism

__all__ = ["sample_road_users", "CAR_SHAPES", "vehicle", "person"]

PEDESTRIAN, RIDER, CAR, TRUCK, BUS, MOTORCYCLE, BICYCLE = 12, 13, 14, 15, 16, 18, 19

# (length, width, body height, cabin height, cabin length fraction, cabin centre offset fraction,
#  windscreen rake (m), rear-window rake (m), wheel radius)
CAR_SHAPES = {
    "sedan": ((4.4, 5.0), (1.75, 1.9), 0.62, 0.55, 0.5, -0.06, 0.75, 0.55, 0.32),
    "hatchback": ((3.8, 4.3), (1.7, 1.8), 0.66, 0.6, 0.62, -0.12, 0.65, 0.2, 0.3),
    "estate": ((4.5, 4.9), (1.75, 1.85), 0.64, 0.56, 0.72, -0.12, 0.7, 0.12, 0.32),
    "suv": ((4.4, 5.0), (1.85, 2.0), 0.85, 0.65, 0.66, -0.1, 0.55, 0.15, 0.38),
    "van": ((4.8, 5.3), (1.9, 2.05), 1.2, 0.75, 0.8, -0.08, 0.45, 0.02, 0.34),
}
VEHICLE_MIX = {"sedan": 0.27, "hatchback": 0.17, "estate": 0.08, "suv": 0.16, "van": 0.08, "bus": 0.05,
               "truck": 0.07, "motorcycle": 0.06, "bicycle": 0.06}


def _frame(heading: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Forward and right unit vectors of a road heading, and the yaw that points a prism's +z forward."""
    fwd = np.array([np.sin(heading), 0.0, -np.cos(heading)])
    right = np.array([np.cos(heading), 0.0, np.sin(heading)])
    return fwd, right, np.pi - heading


def _wheels(base, fwd, right, yaw, axles, half_track, r, width, tag) -> list[dict]:
    out = []
    for a in axles:
        for b in (-half_track, half_track):
            out.append(cylinder(base + fwd * a + right * b + [0, r, 0], r, width, tag, yaw=yaw, roll=np.pi / 2,
                                dynamic=True))
    return out


def vehicle(rng: np.random.Generator, kind: str, base: np.ndarray, heading: float) -> list[dict]:
    """One vehicle standing on ``base`` (the road surface under its centre), facing ``heading``."""
    fwd, right, yaw = _frame(heading)
    if kind in CAR_SHAPES:
        (l0, l1), (w0, w1), bh, ch, cf, co, rake, rear, wr = CAR_SHAPES[kind]
        L, W = rng.uniform(l0, l1), rng.uniform(w0, w1)
        cl = 0.28
        body = [(-L / 2, cl), (L / 2, cl), (L / 2, cl + 0.55 * bh), (L / 2 - 0.35, cl + bh), (-L / 2 + 0.2, cl + bh),
                (-L / 2, cl + 0.7 * bh)]
        z0, z1 = co * L - cf * L / 2, co * L + cf * L / 2
        y0 = cl + bh
        cabin = [(z0, y0), (z1, y0), (z1 - rake, y0 + ch), (z0 + rear, y0 + ch)]
        return [prism(base, body, W, CAR, yaw=yaw, dynamic=True),
                prism(base, cabin, W * 0.86, CAR, yaw=yaw, dynamic=True),
                *_wheels(base, fwd, right, yaw, (0.33 * L, -0.33 * L), W / 2 - 0.14, wr, 0.22, CAR)]
    if kind == "bus":
        L, W, H = rng.uniform(10, 12.5), 2.5, rng.uniform(3.0, 3.2)
        body = [(-L / 2, 0.35), (L / 2, 0.35), (L / 2, H - 0.3), (L / 2 - 0.3, H), (-L / 2 + 0.1, H), (-L / 2, H - 0.2)]
        return [prism(base, body, W, BUS, yaw=yaw, dynamic=True),
                *_wheels(base, fwd, right, yaw, (0.3 * L, -0.25 * L), W / 2 - 0.2, 0.5, 0.3, BUS)]
    if kind == "truck":
        cab, cargo, W = rng.uniform(2.0, 2.5), rng.uniform(5.0, 8.0), 2.45
        L = cab + cargo + 0.3
        hc, hb = rng.uniform(2.6, 3.0), rng.uniform(3.0, 3.8)
        zc = L / 2 - cab / 2
        cab_profile = [(-cab / 2, 0.4), (cab / 2, 0.4), (cab / 2, hc - 0.5), (cab / 2 - 0.4, hc), (-cab / 2, hc)]
        return [prism(base + fwd * zc, cab_profile, W, TRUCK, yaw=yaw, dynamic=True),
                box(base - fwd * (L / 2 - cargo / 2) + [0, (0.9 + hb) / 2, 0], (W + 0.05, hb - 0.9, cargo), TRUCK,
                    yaw=yaw, dynamic=True),
                *_wheels(base, fwd, right, yaw, (zc, -L / 2 + 1.2, -L / 2 + 2.6), W / 2 - 0.2, 0.5, 0.3, TRUCK)]
    # two-wheelers: wheels, frame, handlebar and a rider
    moto = kind == "motorcycle"
    tag = MOTORCYCLE if moto else BICYCLE
    r, wheelbase = (0.31, 1.45) if moto else (0.34, 1.05)
    out = _wheels(base, fwd, right, yaw, (wheelbase / 2, -wheelbase / 2), 0.0, r, 0.12 if moto else 0.04, tag)
    out = out[::2]  # one wheel per axle
    seat = base + [0, 0.8 if moto else 0.95, 0] - fwd * (0.15 if moto else 0.25)
    if moto:
        out.append(prism(base, [(-0.6, 0.35), (0.55, 0.35), (0.65, 0.75), (0.1, 0.95), (-0.6, 0.8)], 0.4, tag,
                         yaw=yaw, dynamic=True))
    else:
        mid = base + [0, r, 0]
        for a, b in ((seat - [0, 0.05, 0], mid), (mid, base + fwd * (wheelbase / 2 - 0.05) + [0, 0.9, 0]),
                     (seat - [0, 0.05, 0], base + fwd * (wheelbase / 2 - 0.1) + [0, 0.85, 0])):
            out.append(_bar(a, b, 0.04, tag))
    bar = base + fwd * (wheelbase / 2 - (0.15 if moto else 0.1)) + [0, 1.0 if moto else 1.0, 0]
    out.append(box(bar, (0.6 if moto else 0.5, 0.04, 0.04), tag, yaw=yaw, dynamic=True))
    out += _rider(rng, seat, bar, fwd, right, base[1] + (0.35 if moto else 0.25))
    return out


def _bar(a: np.ndarray, b: np.ndarray, thick: float, tag: int) -> dict:
    """A thin box from point ``a`` to point ``b`` (any direction)."""
    d = np.asarray(b, float) - np.asarray(a, float)
    length = float(np.linalg.norm(d))
    u = d / max(length, 1e-9)
    yaw = np.arctan2(u[0], u[2])  # R_y(yaw) R_x(pitch) maps local z onto u
    pitch = -np.arcsin(np.clip(u[1], -1, 1))
    return box((np.asarray(a) + np.asarray(b)) / 2, (thick, thick, length), tag, yaw=yaw, pitch=pitch, dynamic=True)


def _rider(rng, seat, bar, fwd, right, foot_y) -> list[dict]:
    h = rng.uniform(1.6, 1.9)
    torso, head = 0.3 * h, 0.065 * h
    lean = np.deg2rad(rng.uniform(15, 40))
    shoulder = seat + [0, torso * np.cos(lean), 0] + fwd * torso * np.sin(lean)
    out = [_bar(seat, shoulder, 0.34 * h / 1.75, RIDER),
           ellipsoid(shoulder + [0, head * 1.3, 0] + fwd * 0.06, (head, head * 1.15, head), RIDER, dynamic=True)]
    for s in (-1, 1):  # thighs forward to the knees, shins down to the pedals / pegs
        knee = seat + right * s * 0.12 + fwd * 0.4 + [0, 0.08, 0]
        foot = seat + right * s * 0.14 + fwd * (0.35 + 0.1 * s)
        foot[1] = foot_y
        out += [_bar(seat + right * s * 0.1, knee, 0.13, RIDER), _bar(knee, foot, 0.11, RIDER),
                _bar(shoulder + right * s * 0.18, bar + right * s * 0.22, 0.08, RIDER)]
    return out


def person(rng: np.random.Generator, base: np.ndarray, yaw: float, walking: bool = True) -> list[dict]:
    """A pedestrian standing on ``base``; ``yaw`` turns its local +z (its front) as R_y does."""
    child = rng.random() < 0.12
    h = rng.uniform(1.0, 1.45) if child else rng.uniform(1.55, 1.95)
    k = h / 1.75
    fwd = np.array([np.sin(yaw), 0.0, np.cos(yaw)])
    side = np.array([np.cos(yaw), 0.0, -np.sin(yaw)])
    swing = np.deg2rad(rng.uniform(10, 32)) * np.sin(rng.uniform(0, 2 * np.pi)) if walking else 0.0
    leg, torso, head = 0.47 * h, 0.3 * h, 0.065 * h
    girth = rng.uniform(0.9, 1.2)
    hip = base + [0, leg, 0]
    parts = []
    for s, sw in ((-1, swing), (1, -swing)):
        top = hip + side * s * 0.09 * k
        foot = top + [0, -leg * np.cos(sw), 0] + fwd * leg * np.sin(sw) + side * s * (0.0 if walking else 0.05)
        parts.append(_bar(top, foot, 0.13 * k * girth, PEDESTRIAN))
    parts.append(box(hip + [0, torso / 2, 0], (0.36 * k * girth, torso, 0.22 * k * girth), PEDESTRIAN, yaw=yaw,
                     dynamic=True))
    neck = hip + [0, torso, 0]
    phone = rng.random() < 0.15
    for s, sw in ((-1, -swing), (1, swing)):
        sh = neck - [0, 0.03, 0] + side * s * 0.22 * k * girth
        arm = 0.36 * h
        if phone and s == 1:  # forearm raised to the face
            elbow = sh + [0, -arm * 0.45, 0] + fwd * 0.05
            parts += [_bar(sh, elbow, 0.08 * k, PEDESTRIAN),
                      _bar(elbow, neck + [0, 0.12 * k, 0] + fwd * 0.12 + side * 0.08, 0.07 * k, PEDESTRIAN)]
        else:
            hand = sh + [0, -arm * np.cos(sw), 0] + fwd * arm * np.sin(sw) + side * s * 0.03
            parts.append(_bar(sh, hand, 0.08 * k, PEDESTRIAN))
    parts.append(ellipsoid(neck + [0, head * 1.2, 0], (head * 1.05, head * 1.2, head * 1.05), PEDESTRIAN,
                           dynamic=True))
    if rng.random() < 0.2:  # a backpack or a bag
        parts.append(box(hip + [0, torso * 0.6, 0] - fwd * 0.17 * k, (0.3 * k, 0.4 * k, 0.15 * k), PEDESTRIAN,
                         yaw=yaw, dynamic=True))
    return parts


def _free(taken: list[tuple[float, float]], s: float, half: float) -> bool:
    return all(abs(s - t) >= half + h for t, h in taken)


def sample_road_users(rng: np.random.Generator, roads: list[Road], crossings: list[dict], layout: dict,
                      ego_lane: int, *, people: float, vehicles: float) -> list[dict]:
    """Every road user of a scene (primitives with ``dynamic`` True). ``people`` and ``vehicles`` are
    density multipliers (0: none)."""
    from generators.shared.streets.scene import STYLES

    st = STYLES[layout["style"]]
    kinds, probs = list(VEHICLE_MIX), np.array(list(VEHICLE_MIX.values()))
    probs = probs / probs.sum()
    prims: list[dict] = []
    cam_s = 12.0  # the camera stands 12 m along the main road
    for k, road in enumerate(roads):
        main = k == 0
        total = road.s[-1]
        s_lo = cam_s + 4.0 if main else 8.0
        s_hi = min(total - 4, cam_s + 110.0 if main else 90.0)
        parked = [rng.random() < st["parking"] and road.lanes >= 2 for _ in range(2)]
        for side, sgn in ((0, -1.0), (1, 1.0)):  # parked cars at the kerb
            if not (parked[side] and vehicles > 0):
                continue
            for s in np.arange(s_lo + rng.uniform(0, 8), s_hi, rng.uniform(5.2, 7.5)):
                if rng.random() < min(0.9, 0.45 * vehicles) and not road.is_cut(s, 3.0):
                    i = road.at(s)
                    base = road.offset(sgn * (road.half - 1.0), 0.0, i)
                    heading = road.heading[i] + rng.normal(0, 0.03) + (np.pi if rng.random() < 0.2 else 0.0)
                    kind = str(rng.choice(["sedan", "hatchback", "estate", "suv", "van"]))
                    prims += vehicle(rng, kind, base, heading)
        for lane in range(road.lanes):
            if (lane == 0 and parked[0]) or (lane == road.lanes - 1 and parked[1]):
                if road.lanes > 2 or rng.random() < 0.7:
                    continue
            oncoming = not road.one_way and lane < road.split
            n = rng.poisson(vehicles * (s_hi - s_lo) / 45.0)
            taken: list[tuple[float, float]] = []
            if main and lane == ego_lane:
                taken.append((cam_s, 8.0))
            for s in np.sort(rng.uniform(s_lo, s_hi, size=n)):
                kind = str(rng.choice(kinds, p=probs))
                half = {"bus": 6.5, "truck": 5.5}.get(kind, 3.0)
                if not _free(taken, s, half + 1.0):
                    continue
                taken.append((s, half))
                i = road.at(s)
                d = road.lane_centre(lane) + rng.normal(0, 0.2)
                if kind == "bicycle":  # at the edge of the road
                    d = (road.half - 0.8) * (-1 if oncoming else 1)
                heading = road.heading[i] + (np.pi if oncoming else 0.0) + rng.normal(0, 0.03)
                prims += vehicle(rng, kind, road.offset(d, 0.0, i), heading)
        # pedestrians on the sidewalks
        for side, sgn in ((0, -1.0), (1, 1.0)):
            n_groups = rng.poisson(people * (s_hi - s_lo + 20) / 14.0)
            for _ in range(n_groups):
                s = rng.uniform(max(0.0, s_lo - 10.0), s_hi)
                if road.is_cut(s, 1.0):
                    continue
                i = road.at(s)
                w = road.walk[side]
                d = road.half + road.verge[side] + rng.uniform(0.4, max(0.5, w - 0.4))
                group = 1 if rng.random() < 0.6 else int(rng.integers(2, 6))
                along = rng.random() < 0.75
                yaw = (np.pi - road.heading[i] + (np.pi if rng.random() < 0.5 else 0.0)) if along else \
                    rng.uniform(-np.pi, np.pi)
                walking = rng.random() < 0.75
                for g in range(group):
                    off = road.fwd[i] * rng.normal(0, 0.8) + road.right[i] * rng.normal(0, 0.4) if g else 0.0
                    base = road.offset(sgn * d, road.kerb, i) + off
                    prims += person(rng, base, yaw + rng.normal(0, 0.3) * (g > 0), walking)
    for c in crossings:  # people on the zebra crossings
        road = c["road"]
        i = road.at(c["s"])
        for _ in range(rng.poisson(1.2 * people)):
            base = road.offset(rng.uniform(-road.half, road.half), 0.0, i) + road.fwd[i] * rng.uniform(-1.2, 1.2)
            yaw = np.pi / 2 - road.heading[i] + (np.pi if rng.random() < 0.5 else 0.0)
            prims += person(rng, base, yaw, True)
    if layout["junction"] and layout["junction"]["kind"] == "square":  # people on the plaza
        main, j = roads[0], layout["junction"]
        sgn = -1.0 if j["side"] == "left" else 1.0
        for _ in range(rng.poisson(3.0 * people)):
            s = cam_s + j["ahead"] + rng.uniform(0, j["length"])
            i = main.at(s)
            base = main.offset(sgn * (main.reach(0 if sgn < 0 else 1) + rng.uniform(1, j["depth"] - 1)), main.kerb, i)
            prims += person(rng, base, rng.uniform(-np.pi, np.pi), rng.random() < 0.6)
    return prims

