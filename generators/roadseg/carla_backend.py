"""roadseg's CARLA backend: paired semantic frames from a running CARLA 0.9.16 server.

For every sample (its generator seeds every random choice):

1. the world runs in synchronous mode with a fixed step (0.05 s); the
   Traffic Manager is synchronous and seeded; the town is loaded when it
   differs from the current one;
2. an ego vehicle is spawned at a seeded spawn point, with ``vehicles``
   Traffic-Manager vehicles and ``walkers`` pedestrians driven by
   ``controller.ai.walker`` (seeded with ``world.set_pedestrians_seed``);
   a semantic-segmentation camera (``fov`` 90, the requested size) is
   attached 1.6-1.9 m above the road at the bonnet, pitch -2 deg;
3. the simulation runs ``warmup`` ticks so traffic spreads out; then the
   ego is frozen (autopilot off, physics off) and one tick gives the
   *populated* frame;
4. every vehicle and walker except the ego is teleported 1 km below the map
   with physics off and the map's parked vehicles (environment objects of
   the vehicle classes) are disabled; the next tick gives the *static*
   frame;
5. the pair is kept only when the two frames are consecutive ticks and the
   camera transform of both is identical (to 1 mm / 0.01 deg); otherwise it
   is discarded and captured again (up to 3 times);
6. every actor is destroyed and the environment objects re-enabled.

The tag of each pixel is the red channel of the camera's BGRA raw data
(:func:`generators.shared.streets.classes.decode_carla_bgra`); the images are never
converted with the CityScapes palette before reading the tags. Town, frame
ids and transforms go into the sample's params. Determinism: the server's
synchronous mode and seeded Traffic Manager make runs repeatable on one
server build, but CARLA does not promise bit-identical physics across
machines; run with ``--workers 1`` (one client per server).

No server: :func:`connect` gives one line naming the host, the port and the
time waited.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from generators._runtime import UserError
from generators.shared.streets.classes import decode_carla_bgra

__all__ = ["CarlaConfig", "connect", "capture_sample", "check_pair", "FrameRecord", "CarlaUnavailable"]

FIXED_DELTA = 0.05
PARKED_LABELS = ("Car", "Truck", "Bus", "Motorcycle", "Bicycle")


class CarlaUnavailable(UserError):
    """The server cannot be reached: a user error, so the command prints one line and exits with status 2."""


@dataclass
class CarlaConfig:
    host: str = "localhost"
    port: int = 2000
    timeout: float = 10.0
    town: str | None = None
    vehicles: int = 40
    walkers: int = 60
    warmup: int = 60
    tm_port: int = 8000
    _client: Any = field(default=None, repr=False, compare=False)

    def describe(self) -> dict:
        return {"host": self.host, "port": self.port, "town": self.town, "vehicles": self.vehicles,
                "walkers": self.walkers, "warmup": self.warmup, "fixed_delta": FIXED_DELTA}

    def __getstate__(self):
        return {**self.__dict__, "_client": None}


def connect(config: CarlaConfig):
    """A ``carla.Client`` that answered; CarlaUnavailable (one line) otherwise."""
    import carla

    if config._client is not None:
        return config._client
    t0 = time.monotonic()
    try:
        client = carla.Client(config.host, int(config.port))
        client.set_timeout(float(config.timeout))
        client.get_server_version()
    except RuntimeError as e:
        raise CarlaUnavailable(f"no CARLA server at {config.host}:{config.port} (waited "
                               f"{time.monotonic() - t0:.1f} s: {str(e).splitlines()[0][:120]})") from None
    config._client = client
    return client


@dataclass(frozen=True)
class FrameRecord:
    """What the pairing check needs of one captured frame."""

    frame: int
    location: tuple[float, float, float]
    rotation: tuple[float, float, float]  # pitch, yaw, roll in degrees


def check_pair(populated: FrameRecord, static: FrameRecord, *, tol_m: float = 1e-3, tol_deg: float = 1e-2) -> str:
    """Why a (populated, static) pair is not usable, or "" when it is."""
    if static.frame != populated.frame + 1:
        return f"frames {populated.frame} and {static.frame} are not consecutive ticks"
    dl = max(abs(a - b) for a, b in zip(populated.location, static.location))
    dr = max(abs((a - b + 180) % 360 - 180) for a, b in zip(populated.rotation, static.rotation))
    if dl > tol_m or dr > tol_deg:
        return f"camera moved between the frames ({dl * 1000:.1f} mm, {dr:.3f} deg)"
    return ""


def _record(image, transform) -> FrameRecord:
    loc, rot = transform.location, transform.rotation
    return FrameRecord(int(image.frame), (loc.x, loc.y, loc.z), (rot.pitch, rot.yaw, rot.roll))


def _tick_and_get(world, q: "queue.Queue", timeout: float):
    frame = world.tick()
    while True:
        img = q.get(timeout=timeout)
        if img.frame >= frame:
            return img


def capture_sample(rng: np.random.Generator, config: CarlaConfig, size: tuple[int, int]) -> dict:
    """Spawn, simulate, capture one drift-free pair; see the module docstring."""
    import carla

    client = connect(config)
    h, w = size
    world = client.get_world()
    towns = sorted(m.split("/")[-1] for m in client.get_available_maps())
    town = config.town or towns[int(rng.integers(len(towns)))]
    if world.get_map().name.split("/")[-1] != town:
        world = client.load_world(town)
    settings = world.get_settings()
    settings.synchronous_mode, settings.fixed_delta_seconds = True, FIXED_DELTA
    world.apply_settings(settings)
    tm = client.get_trafficmanager(config.tm_port)
    tm.set_synchronous_mode(True)
    seed = int(rng.integers(2**31 - 1))
    tm.set_random_device_seed(seed)
    world.set_pedestrians_seed(seed)
    lib = world.get_blueprint_library()
    spawns = world.get_map().get_spawn_points()
    order = rng.permutation(len(spawns))
    actors, controllers = [], []
    try:
        ego_bp = lib.filter("vehicle.*")[int(rng.integers(len(lib.filter("vehicle.*"))))]
        ego = world.spawn_actor(ego_bp, spawns[order[0]])
        actors.append(ego)
        vehicle_bps = list(lib.filter("vehicle.*"))
        for k in order[1 : 1 + config.vehicles]:
            v = world.try_spawn_actor(vehicle_bps[int(rng.integers(len(vehicle_bps)))], spawns[k])
            if v is not None:
                v.set_autopilot(True, config.tm_port)
                actors.append(v)
        walker_bps = list(lib.filter("walker.pedestrian.*"))
        ctrl_bp = lib.find("controller.ai.walker")
        for _ in range(config.walkers):
            loc = world.get_random_location_from_navigation()
            if loc is None:
                continue
            wk = world.try_spawn_actor(walker_bps[int(rng.integers(len(walker_bps)))], carla.Transform(loc))
            if wk is None:
                continue
            actors.append(wk)
            c = world.spawn_actor(ctrl_bp, carla.Transform(), attach_to=wk)
            controllers.append(c)
        world.tick()
        for c in controllers:
            c.start()
            c.go_to_location(world.get_random_location_from_navigation())
        ego.set_autopilot(True, config.tm_port)
        cam_bp = lib.find("sensor.camera.semantic_segmentation")
        cam_bp.set_attribute("image_size_x", str(w))
        cam_bp.set_attribute("image_size_y", str(h))
        cam_bp.set_attribute("fov", "90")
        height = float(rng.uniform(1.6, 1.9))
        cam = world.spawn_actor(cam_bp, carla.Transform(carla.Location(x=1.5, z=height), carla.Rotation(pitch=-2.0)),
                                attach_to=ego)
        actors.append(cam)
        q: queue.Queue = queue.Queue()
        cam.listen(q.put)
        for _ in range(config.warmup):
            world.tick()
        ego.set_autopilot(False, config.tm_port)
        ego.set_simulate_physics(False)
        parked = []
        for label in PARKED_LABELS:  # 0.9.16 names the labels in the singular; older builds used plurals
            member = getattr(carla.CityObjectLabel, label, None) or getattr(carla.CityObjectLabel, label + "s", None)
            if member is not None:
                parked += [o.id for o in world.get_environment_objects(member)]
        reason = "no attempt"
        for attempt in range(3):
            img_pop = _tick_and_get(world, q, config.timeout)
            rec_pop = _record(img_pop, cam.get_transform())
            others = [a for a in actors if a.id not in (ego.id, cam.id)]
            saved = {a.id: a.get_transform() for a in others}
            for a in others:
                a.set_simulate_physics(False)
                t = a.get_transform()
                a.set_transform(carla.Transform(carla.Location(t.location.x, t.location.y, t.location.z - 1000.0),
                                                t.rotation))
            world.enable_environment_objects(set(parked), False)
            img_static = _tick_and_get(world, q, config.timeout)
            rec_static = _record(img_static, cam.get_transform())
            world.enable_environment_objects(set(parked), True)
            for a in others:
                a.set_transform(saved[a.id])
                a.set_simulate_physics(True)
            reason = check_pair(rec_pop, rec_static)
            if not reason:
                pop = decode_carla_bgra(img_pop.raw_data, h, w)
                stat = decode_carla_bgra(img_static.raw_data, h, w)
                return {
                    "populated": pop, "static": stat,
                    "depth": np.zeros((h, w), np.float32),  # a depth camera is not attached: zeros, documented
                    "rgb": np.zeros((h, w, 3), np.float32),
                    "params": {"carla": {"town": town, "seed": seed, "attempt": attempt,
                                         "frames": [rec_pop.frame, rec_static.frame],
                                         "camera": {"location": list(rec_pop.location),
                                                    "rotation": list(rec_pop.rotation)},
                                         **config.describe()}},
                }
            world.tick()
        raise RuntimeError(f"CARLA pair discarded 3 times: {reason}")
    finally:
        for c in controllers:
            try:
                c.stop()
            except RuntimeError:
                pass
        client.apply_batch([carla.command.DestroyActor(a) for a in [*controllers, *actors]])
        settings = world.get_settings()
        settings.synchronous_mode = False
        world.apply_settings(settings)
