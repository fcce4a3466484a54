"""Render bookcovers scenes with Blender Cycles (``bpy`` 5.0, Blender as a module).

The second renderer of :mod:`generators.bookcovers`: the same scene dict as
:mod:`generators.bookcovers.render_fast` (the model is specified in
:mod:`generators.bookcovers.scene`), rendered by a real path tracer, with the
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

Outputs (the renderer contract of :mod:`generators.bookcovers`, same keys,
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
process (``python -m generators.bookcovers.render_blender --serve``, spoken to
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
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from generators.bookcovers.covers import load_cover, load_texture, texture_size
from generators.bookcovers.render_fast import SHADING_SCALE, linear_to_srgb, srgb_to_linear
from generators.bookcovers.scene import SHAPES, validate_size

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
_GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "ONEAPI")
_AOV = "occluder"
_LAYER = "ViewLayer"
_F0_IOR_1_5 = 0.04  # normal-incidence reflectance of IOR 1.5
# Cycles' diffuse light passes are divided by the diffuse colour and are 0
# where it is 0, and Cycles drops closures whose weight is below 1e-5; a floor
# on the cover's linear albedo keeps the shading defined on black texels. It
# adds 2e-5 * S to the radiance: for S <= 1, < 1/15 of an 8-bit step.
_ALBEDO_FLOOR = 2e-5


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
    """Render every view of a bookcovers scene with Cycles.

    Parameters
    ----------
    scene : dict
        A scene from :func:`generators.bookcovers.scene.sample_scene` (or a
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
        [0, 1] (scaled as in :mod:`generators.bookcovers.render_fast`).

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
        return _session().render(scene, options, covers_dir)
    return _worker(options["recycle_every"]).render(scene, options, covers_dir)


def render_scene(
    scene: dict[str, Any], *, covers_dir: str | os.PathLike | None = None, **options
) -> dict[str, np.ndarray]:
    """The renderer contract of :mod:`generators.bookcovers`: :func:`render_scene_blender`."""
    return render_scene_blender(scene, covers_dir=covers_dir, **options)


def check_blender() -> str | None:
    """None when bpy can be imported here, else the reason (one line)."""
    try:
        import bpy  # noqa: F401
    except Exception as e:  # noqa: BLE001 - bpy fails as ImportError, OSError (missing libs) ...
        return f"bpy (Blender as a Python module) cannot be imported: {type(e).__name__}: {e}"
    return None


def close_blender() -> None:
    """Stop the Blender child process, if one runs (it is also stopped at exit)."""
    global _WORKER
    if _WORKER is not None:
        _WORKER.close()
        _WORKER = None


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
        raise ValueError(f"scene must be a dict (see generators.bookcovers.scene), got {type(scene).__name__}")
    missing = [k for k in ("size", "camera", "plane", "cover", "material", "views") if k not in scene]
    if missing:
        raise ValueError(f"scene lacks {missing} (see generators.bookcovers.scene)")
    validate_size(scene["size"])
    if not scene["views"]:
        raise ValueError("scene has no views")
    for v, view in enumerate(scene["views"]):
        for occ in view["occluders"]:
            if occ["shape"] not in SHAPES:
                raise ValueError(f"view {v}: unknown occluder shape {occ['shape']!r}; choose from {list(SHAPES)}")


# --------------------------------------------------------------------------- #
# the child process (parent side)
# --------------------------------------------------------------------------- #

_WORKER: _Worker | None = None


def _worker(recycle_every: int) -> _Worker:
    global _WORKER
    if _WORKER is not None and (_WORKER.pid_owner != os.getpid() or not _WORKER.alive()):
        _WORKER.discard()
        _WORKER = None
    if _WORKER is not None and _WORKER.sequences >= recycle_every:
        close_blender()
    if _WORKER is None:
        _WORKER = _Worker()
    return _WORKER


class _Worker:
    """A Blender child process; requests and replies are pickled over a socket pair."""

    def __init__(self) -> None:
        parent, child = socket.socketpair()
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        try:
            # stdout gets Blender's chatter ("Saved: ..."); stderr is shared for warnings.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "generators.bookcovers.render_blender", "--serve", str(child.fileno())],
                pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                env=env,
                cwd=root,
            )
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        self.pid_owner = os.getpid()
        self.sequences = 0
        status, payload = self._receive()
        if status != "ready":
            self.close()
            raise ValueError(payload)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _receive(self) -> tuple[str, Any]:
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            code = self.proc.wait()
            raise RuntimeError(f"the Blender child process died (exit code {code}); see its messages above") from None

    def render(self, scene: dict[str, Any], options: dict[str, Any], covers_dir: str | None) -> dict[str, np.ndarray]:
        try:
            self.conn.send(("render", scene, options, covers_dir))
            status, payload = self._receive()
        except BaseException:
            # Interrupted mid-request (Ctrl-C, a dead child): the reply stream is
            # out of step, so this child is stopped and the next call starts another.
            self.proc.kill()
            self.discard()
            raise
        self.sequences += 1
        if status == "ok":
            return payload
        kind, message = payload
        if kind == "ValueError":
            raise ValueError(message)
        raise RuntimeError(f"Blender child process failed: {message}")

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, BrokenPipeError):
            self.conn.send(("exit",))
        with contextlib.suppress(OSError):
            self.conn.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def discard(self) -> None:
        """Forget a worker inherited through fork or already dead, without talking to it."""
        with contextlib.suppress(OSError):
            self.conn.close()


@atexit.register
def _close_at_exit() -> None:
    if _WORKER is not None and _WORKER.pid_owner == os.getpid():
        close_blender()


def _serve(fd: int) -> int:
    """The child's loop: render requests until "exit" or end of file."""
    # The parent decides when this process ends; Ctrl-C reaches it through the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(socket.socket(fileno=fd).detach())
    try:
        session = _session()
    except ValueError as e:
        conn.send(("error", str(e)))
        return 1
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return 0  # the parent is gone
        if request[0] == "exit":
            return 0
        _, scene, options, covers_dir = request
        try:
            reply = ("ok", session.render(scene, options, covers_dir))
        except ValueError as e:
            reply = ("error", ("ValueError", str(e)))
        except Exception as e:  # noqa: BLE001 - reported to the parent, which raises
            reply = ("error", (type(e).__name__, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        conn.send(reply)


# --------------------------------------------------------------------------- #
# the bpy side
# --------------------------------------------------------------------------- #

_SESSION: _BlenderSession | None = None


def _session() -> _BlenderSession:
    global _SESSION
    if _SESSION is None:
        _SESSION = _BlenderSession()
    return _SESSION


class _BlenderSession:
    """bpy state of one process: a private temporary folder and the device choice."""

    def __init__(self) -> None:
        reason = check_blender()
        if reason is not None:
            raise ValueError(f"renderer 'blender' needs bpy: {reason}")
        import bpy

        self.bpy = bpy
        self.tmp = tempfile.mkdtemp(prefix="restorebench-blender-")
        atexit.register(shutil.rmtree, self.tmp, True)
        self.gpu_backend: str | None | bool = False  # False: not probed yet

    # ---- settings ----------------------------------------------------------

    def _probe_gpu(self) -> str | None:
        """The first GPU backend with a device, or None (probed once per process)."""
        if self.gpu_backend is False:
            self.gpu_backend = None
            prefs = self.bpy.context.preferences.addons["cycles"].preferences
            for backend in _GPU_BACKENDS:
                try:
                    with _quiet(1, 2):  # Cycles logs "CUEW initialization failed" without CUDA
                        prefs.compute_device_type = backend
                        prefs.refresh_devices()
                except (TypeError, ValueError, RuntimeError):
                    continue
                if any(d.type == backend for d in prefs.devices):
                    self.gpu_backend = backend
                    break
        return self.gpu_backend

    def _use_device(self, device: str) -> str:
        scene = self.bpy.context.scene
        backend = None if device == "cpu" else self._probe_gpu()
        if backend is None:
            if device == "gpu":
                raise ValueError("device='gpu' but Cycles finds no usable GPU (OptiX, CUDA, HIP, oneAPI)")
            scene.cycles.device = "CPU"
            return "CPU"
        # Factory settings reset the preferences, so the choice is re-applied per sequence.
        prefs = self.bpy.context.preferences.addons["cycles"].preferences
        with _quiet(1, 2):
            prefs.compute_device_type = backend
            prefs.refresh_devices()
        for d in prefs.devices:
            d.use = d.type == backend
        scene.cycles.device = "GPU"
        return backend

    def _reset(self, h: int, w: int, options: dict[str, Any]) -> None:
        bpy = self.bpy
        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        scene.render.engine = "CYCLES"
        self._use_device(options["device"])
        cy = scene.cycles
        cy.samples = options["samples"]
        cy.use_adaptive_sampling = False
        cy.use_animated_seed = False
        # With at most 4 lights and the world, the light tree costs time and
        # adds noise (measured: -25 % CPU time, +0..2.7 dB PSNR against the
        # fast renderer at 16 samples).
        cy.use_light_tree = False
        # No probabilistic termination of weak light samples: on dark texels
        # it made the shading pass noisy.
        cy.light_sampling_threshold = 0.0
        cy.use_denoising = options["denoise"]
        cy.denoiser = "OPENIMAGEDENOISE"
        cy.max_bounces = options["max_bounces"]
        for name in ("diffuse_bounces", "glossy_bounces"):
            setattr(cy, name, options["max_bounces"])
        cy.transmission_bounces = 0
        cy.volume_bounces = 0
        cy.transparent_max_bounces = 0
        cy.pixel_filter_type = "BOX"
        cy.filter_width = 1.0
        render = scene.render
        render.resolution_x, render.resolution_y = w, h
        render.resolution_percentage = 100
        render.pixel_aspect_x = render.pixel_aspect_y = 1.0
        render.use_border = False
        render.use_crop_to_border = False
        threads = options["threads"] or _env_threads()
        render.threads_mode = "FIXED" if threads else "AUTO"
        if threads:
            render.threads = threads
        render.use_persistent_data = False
        view = scene.view_settings
        view.view_transform = "Standard"
        view.look = "None"
        view.exposure = 0.0
        view.gamma = 1.0
        scene.display_settings.display_device = "sRGB"
        settings = render.image_settings
        settings.media_type = "MULTI_LAYER_IMAGE"
        settings.exr_codec = "NONE"
        settings.color_depth = "32"
        layer = scene.view_layers[0]
        layer.name = _LAYER
        for name in ("diffuse_direct", "diffuse_indirect", "diffuse_color",
                     "glossy_direct", "glossy_indirect", "glossy_color"):  # fmt: skip
            setattr(layer, f"use_pass_{name}", True)
        aov = layer.aovs.add()
        aov.name = _AOV
        aov.type = "VALUE"

    # ---- scene building ----------------------------------------------------

    def _image(self, name: str, srgb: np.ndarray, floor: float = 0.0):
        """A float (linear) image datablock from an sRGB (H, W, 3) array, row 0 on top."""
        h, w = srgb.shape[:2]
        img = self.bpy.data.images.new(name, w, h, alpha=True, float_buffer=True)
        img.colorspace_settings.name = "Linear Rec.709"
        rgba = np.ones((h, w, 4), np.float32)
        rgba[..., :3] = np.maximum(srgb_to_linear(srgb), floor)
        img.pixels.foreach_set(rgba[::-1].ravel())  # Blender stores the bottom row first
        return img

    def _texture_node(self, tree, img, extension: str):
        tex = tree.nodes.new("ShaderNodeTexImage")
        tex.image = img
        tex.interpolation = "Closest"
        tex.extension = extension
        return tex

    def _build_static(self, scene: dict[str, Any], cover: np.ndarray) -> None:
        bpy = self.bpy
        bscene = bpy.context.scene
        h, w = scene["size"]
        cam = bpy.data.cameras.new("camera")
        cam.type = "PERSP"
        cam.sensor_fit = "VERTICAL"
        cam.angle = math.radians(float(scene["camera"]["fov_y_deg"]))
        cam.shift_x = cam.shift_y = 0.0
        cam.clip_start = 1e-3
        cam.clip_end = 1e3
        cam_obj = bpy.data.objects.new("camera", cam)
        cam_obj.location = (0.0, 0.0, float(scene["camera"]["distance"]))
        cam_obj.rotation_euler = (0.0, 0.0, 0.0)  # looks down -z with +y up
        bscene.collection.objects.link(cam_obj)
        bscene.camera = cam_obj

        world = bpy.data.worlds.new("world")
        bscene.world = world

        half_w, half_h = 0.5 * float(scene["plane"]["width"]), 0.5 * float(scene["plane"]["height"])
        mesh = bpy.data.meshes.new("cover")
        corners = [(-half_w, -half_h, 0.0), (half_w, -half_h, 0.0), (half_w, half_h, 0.0), (-half_w, half_h, 0.0)]
        mesh.from_pydata(corners, [], [(0, 1, 2, 3)])
        uv = mesh.uv_layers.new(name="UVMap")
        uv.data.foreach_set("uv", np.array([0, 0, 1, 0, 1, 1, 0, 1], np.float32))
        obj = bpy.data.objects.new("cover", mesh)
        bscene.collection.objects.link(obj)

        mat = bpy.data.materials.new("cover")
        tree = mat.node_tree
        tree.nodes.clear()
        bsdf = tree.nodes.new("ShaderNodeBsdfPrincipled")
        bsdf.distribution = "GGX"
        bsdf.inputs["Roughness"].default_value = float(scene["material"]["roughness"])
        bsdf.inputs["IOR"].default_value = 1.5
        bsdf.inputs["Specular IOR Level"].default_value = 0.5 * float(scene["material"]["specular_f0"]) / _F0_IOR_1_5
        tex = self._texture_node(tree, self._image("cover", cover, _ALBEDO_FLOOR), "EXTEND")
        tree.links.new(tex.outputs["Color"], bsdf.inputs["Base Color"])
        out = tree.nodes.new("ShaderNodeOutputMaterial")
        out.target = "CYCLES"
        tree.links.new(bsdf.outputs[0], out.inputs["Surface"])
        aov = tree.nodes.new("ShaderNodeOutputAOV")
        aov.aov_name = _AOV
        aov.inputs["Value"].default_value = 0.0
        mesh.materials.append(mat)

    def _clear_view(self) -> None:
        """Delete the previous view's lights and occluders with all their data."""
        bpy = self.bpy
        for obj in list(bpy.data.objects):
            if obj.get("per_view"):
                data = obj.data
                bpy.data.objects.remove(obj, do_unlink=True)
                if isinstance(data, bpy.types.Mesh):
                    mats = list(data.materials)
                    bpy.data.meshes.remove(data)
                    for mat in mats:
                        if mat is not None:
                            bpy.data.materials.remove(mat)
                elif data is not None:
                    bpy.data.lights.remove(data)
        for img in list(bpy.data.images):
            if img.get("per_view") and img.users == 0:
                bpy.data.images.remove(img)

    def _build_view(self, view: dict[str, Any], textures: dict[str, Any], segments: int) -> list:
        bpy = self.bpy
        bscene = bpy.context.scene
        bg = bscene.world.node_tree.nodes["Background"]
        bg.inputs["Color"].default_value = (*(float(c) for c in view["ambient"]), 1.0)
        bg.inputs["Strength"].default_value = 1.0
        for k, light in enumerate(view["lights"]):
            data = bpy.data.lights.new(f"light{k}", "POINT")
            data.energy = float(light["power"])
            data.color = tuple(float(c) for c in light["color"])
            data.shadow_soft_size = float(light["radius"])
            data.use_soft_falloff = False
            obj = bpy.data.objects.new(f"light{k}", data)
            obj.location = tuple(float(p) for p in light["position"])
            obj.visible_camera = False
            obj["per_view"] = True
            bscene.collection.objects.link(obj)
        occluders = []
        for k, occ in enumerate(view["occluders"]):
            verts, normals, uvs, faces = _unit_mesh(occ["shape"], float(occ.get("minor_radius", 0.0)), segments)
            mesh = bpy.data.meshes.new(f"occluder{k}")
            mesh.from_pydata(verts.tolist(), [], faces)
            loops = np.fromiter((i for f in faces for i in f), np.int64)
            layer = mesh.uv_layers.new(name="UVMap")
            layer.data.foreach_set("uv", (uvs[loops] * float(occ.get("uv_scale", 1.0))).astype(np.float32).ravel())
            mesh.polygons.foreach_set("use_smooth", np.ones(len(faces), bool))
            mesh.normals_split_custom_set_from_vertices(normals.tolist())
            key = repr(sorted(occ["texture"].items()))
            mat = bpy.data.materials.new(f"occluder{k}")
            tree = mat.node_tree
            tree.nodes.clear()
            bsdf = tree.nodes.new("ShaderNodeBsdfDiffuse")
            bsdf.inputs["Roughness"].default_value = 0.0
            tex = self._texture_node(tree, textures[key], "REPEAT")
            tree.links.new(tex.outputs["Color"], bsdf.inputs["Color"])
            out = tree.nodes.new("ShaderNodeOutputMaterial")
            out.target = "CYCLES"
            tree.links.new(bsdf.outputs[0], out.inputs["Surface"])
            aov = tree.nodes.new("ShaderNodeOutputAOV")
            aov.aov_name = _AOV
            aov.inputs["Value"].default_value = 1.0
            mesh.materials.append(mat)
            obj = bpy.data.objects.new(f"occluder{k}", mesh)
            obj.location = tuple(float(p) for p in occ["position"])
            obj.rotation_mode = "QUATERNION"
            obj.rotation_quaternion = tuple(float(q) for q in occ["rotation"])
            obj.scale = tuple(float(s) for s in occ["scale"])
            obj["per_view"] = True
            bscene.collection.objects.link(obj)
            occluders.append(obj)
        return occluders

    # ---- rendering -----------------------------------------------------------

    def _render(self, name: str) -> dict[str, np.ndarray]:
        bscene = self.bpy.context.scene
        path = os.path.join(self.tmp, f"{name}.exr")
        bscene.render.filepath = path
        with _quiet(1):  # Blender prints "Saved: ..." for every frame
            self.bpy.ops.render.render(write_still=True)
        try:
            return _read_exr(path)
        finally:
            os.unlink(path)

    def render(self, scene: dict[str, Any], options: dict[str, Any], covers_dir: str | None) -> dict[str, np.ndarray]:
        h, w = validate_size(scene["size"])
        cover = load_cover(scene["cover"], (h, w), covers_dir)
        n = len(scene["views"])
        out = {
            "views": np.empty((n, h, w, 3), np.float32),
            "occlusion": np.empty((n, h, w), np.bool_),
            "shading": np.empty((n, h, w, 3), np.float32),
            "specular": np.empty((n, h, w, 3), np.float32),
        }
        self._reset(h, w, options)
        self._build_static(scene, cover)
        ts = texture_size((h, w))
        segments = _segments(h, w)
        bscene = self.bpy.context.scene
        for v, view in enumerate(scene["views"]):
            self._clear_view()
            textures = {}
            for occ in view["occluders"]:
                key = repr(sorted(occ["texture"].items()))
                if key not in textures:
                    srgb = load_texture(occ["texture"], ts).astype(np.float32) / 255.0
                    textures[key] = self._image(f"texture{len(textures)}", srgb)
                    textures[key]["per_view"] = True
            occluders = self._build_view(view, textures, segments)
            bscene.cycles.seed = (options["seed"] + v) % 2**31
            passes = self._render(f"view{v}")
            coverage = passes[_pass(_AOV, "X")]
            occluded = coverage > 0.0
            out["views"][v] = linear_to_srgb(_rgb(passes, "Combined"))
            out["occlusion"][v] = occluded
            shading, specular = _cover_terms(passes)
            if occluded.any():
                # The cover's terms under the occluders: render again with the
                # occluders hidden from camera rays, over their bounding box only.
                rows, cols = np.nonzero(occluded)
                r = bscene.render
                r.use_border = True
                r.border_min_x, r.border_max_x = cols.min() / w, (cols.max() + 1) / w
                r.border_min_y, r.border_max_y = 1.0 - (rows.max() + 1) / h, 1.0 - rows.min() / h
                for obj in occluders:
                    obj.visible_camera = False
                bscene.cycles.use_denoising = False  # only the light passes are used
                hidden = self._render(f"view{v}-cover")
                bscene.cycles.use_denoising = options["denoise"]
                r.use_border = False
                hid_shading, hid_specular = _cover_terms(hidden)
                shading[occluded] = hid_shading[occluded]
                specular[occluded] = hid_specular[occluded]
            out["shading"][v] = np.clip(shading / SHADING_SCALE, 0.0, 1.0)
            out["specular"][v] = np.clip(specular, 0.0, 1.0)
        self._clear_view()
        return out


@contextlib.contextmanager
def _quiet(*fds: int):
    """Send what C code writes to the file descriptors ``fds`` to /dev/null meanwhile."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(fd) for fd in fds]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in fds:
            os.dup2(devnull, fd)
        yield
    finally:
        for fd, copy in zip(fds, saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def _env_threads() -> int:
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "0")))
    except ValueError:
        return 0


def _pass(name: str, channel: str) -> str:
    return f"{_LAYER}.{name}.{channel}"


def _rgb(passes: dict[str, np.ndarray], name: str) -> np.ndarray:
    return np.stack([passes[_pass(name, c)] for c in "RGB"], axis=-1)


def _cover_terms(passes: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse factor S and specular radiance from Cycles' light passes."""
    shading = _rgb(passes, "Diffuse Direct") + _rgb(passes, "Diffuse Indirect")
    specular = _rgb(passes, "Glossy Color") * (_rgb(passes, "Glossy Direct") + _rgb(passes, "Glossy Indirect"))
    return shading, specular


# --------------------------------------------------------------------------- #
# unit-shape meshes (pure numpy)
# --------------------------------------------------------------------------- #


def _segments(h: int, w: int) -> int:
    """Segments around curved shapes: the chord error stays below ~0.05 pixel."""
    return int(np.clip(math.ceil(max(h, w) / 256 * 96), 64, 512))


def _grid(fn, nu: int, nv: int):
    """Vertices, normals, uvs and quads of a (u, v) grid surface ``fn(s, t)``, s, t in [0, 1]."""
    s, t = np.meshgrid(np.linspace(0.0, 1.0, nu + 1), np.linspace(0.0, 1.0, nv + 1), indexing="ij")
    p, n = fn(s, t)
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    quads = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], -1).reshape(-1, 4)
    return p.reshape(-1, 3), n.reshape(-1, 3), np.stack([s, t], -1).reshape(-1, 2), quads


def _disc(z: float, nseg: int, normal_z: float):
    """A cap at height z: a centre vertex and a ring, uv ((x + 1) / 2, (y + 1) / 2)."""
    a = np.linspace(-math.pi, math.pi, nseg + 1)[:-1]
    p = np.concatenate([[[0.0, 0.0, z]], np.stack([np.cos(a), np.sin(a), np.full_like(a, z)], -1)])
    n = np.tile([0.0, 0.0, normal_z], (len(p), 1))
    uv = (p[:, :2] + 1.0) / 2.0
    k = np.arange(nseg)
    tris = np.stack([np.zeros(nseg, int), 1 + k, 1 + (k + 1) % nseg], -1)
    return p, n, uv, tris


def _box():
    """The cube [-1, 1]^3, four vertices per face, uv from the two other axes."""
    ps, ns, uvs, faces = [], [], [], []
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for sign in (-1.0, 1.0):
            corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float)
            p = np.zeros((4, 3))
            p[:, axis] = sign
            p[:, others[0]], p[:, others[1]] = corners[:, 0], corners[:, 1]
            n = np.zeros((4, 3))
            n[:, axis] = sign
            ps.append(p)
            ns.append(n)
            uvs.append((corners + 1.0) / 2.0)
            faces.append(np.arange(4)[None])
    verts, normals, uvs, faces = _merge(list(zip(ps, ns, uvs, faces)))
    return verts, normals, uvs, np.concatenate(faces)


def _merge(parts):
    """Concatenate ``(verts, normals, uvs, faces)`` parts; faces (F, k) index their own part."""
    verts, normals, uvs, faces, offset = [], [], [], [], 0
    for p, n, uv, f in parts:
        verts.append(p)
        normals.append(n)
        uvs.append(uv)
        faces.append(np.asarray(f) + offset)
        offset += len(p)
    return np.concatenate(verts), np.concatenate(normals), np.concatenate(uvs), faces


def _orient(verts: np.ndarray, normals: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Wind every face (F, 3|4) so that its geometric normal points along the analytic normals.

    Quads that touch a pole or the cone's apex are degenerate (two corners at
    the same place); they stay quads: Cycles' triangulation gives them one
    zero-area triangle, which no ray ever hits.
    """
    p = verts[faces]
    if faces.shape[1] == 4:
        geo = np.cross(p[:, 2] - p[:, 0], p[:, 3] - p[:, 1])
    else:
        geo = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    flip = np.einsum("fk,fk->f", geo, normals[faces].sum(1)) < 0
    faces = faces.copy()
    faces[flip] = faces[flip, ::-1]
    return faces


def _unit_mesh(shape: str, minor_radius: float, segments: int):
    """Vertices (V, 3), unit normals (V, 3), uvs (V, 2) and faces of a unit shape.

    The shapes, normals and (u, v) are those of the scene docstring; seam
    vertices are duplicated so the uvs never wrap inside a face.
    """
    nu, nv = segments, max(8, segments // 2)
    two_pi = 2.0 * math.pi
    if shape in ("cube", "sheet"):
        parts = [_box()]
    elif shape == "sphere":
        def sphere(s, t):
            phi, lat = -math.pi + two_pi * s, -math.pi / 2 + math.pi * t
            p = np.stack([np.cos(lat) * np.cos(phi), np.cos(lat) * np.sin(phi), np.sin(lat)], -1)
            return p, p

        parts = [_grid(sphere, nu, nv)]
    elif shape == "cylinder":
        def side(s, t):
            phi = -math.pi + two_pi * s
            n = np.stack([np.cos(phi), np.sin(phi), np.zeros_like(phi)], -1)
            return n + np.stack([0 * s, 0 * s, -1.0 + 2.0 * t], -1), n

        parts = [_grid(side, nu, 2), _disc(1.0, nu, 1.0), _disc(-1.0, nu, -1.0)]
    elif shape == "cone":
        def side(s, t):
            phi, z = -math.pi + two_pi * s, -1.0 + 2.0 * t
            rho = (1.0 - z) / 2.0
            p = np.stack([rho * np.cos(phi), rho * np.sin(phi), z], -1)
            n = np.stack([np.cos(phi), np.sin(phi), np.full_like(phi, 0.5)], -1)
            return p, n / np.linalg.norm(n, axis=-1, keepdims=True)

        parts = [_grid(side, nu, max(2, nv // 4)), _disc(-1.0, nu, -1.0)]
    elif shape == "torus":
        m = minor_radius

        def torus(s, t):
            phi, psi = -math.pi + two_pi * s, -math.pi + two_pi * t
            n = np.stack([np.cos(psi) * np.cos(phi), np.cos(psi) * np.sin(phi), np.sin(psi)], -1)
            ring = np.stack([np.cos(phi), np.sin(phi), 0 * phi], -1)
            return ring + m * n, n

        parts = [_grid(torus, nu, nv)]
    else:
        raise ValueError(f"unknown occluder shape {shape!r}; choose from {list(SHAPES)}")
    verts, normals, uvs, faces = _merge(parts)
    normals = normals / np.linalg.norm(normals, axis=-1, keepdims=True)
    return verts, normals, uvs, [face.tolist() for f in faces for face in _orient(verts, normals, f)]


# --------------------------------------------------------------------------- #
# OpenEXR reader (uncompressed scanline files, as written above)
# --------------------------------------------------------------------------- #

_EXR_MAGIC = 20000630
_EXR_MULTIPART = 0x1000
_EXR_DTYPES = {1: np.dtype("<f2"), 2: np.dtype("<f4")}


def _read_exr(path: str) -> dict[str, np.ndarray]:
    """Channels of an uncompressed (single- or multi-part) scanline OpenEXR file.

    Returns ``{channel name: (H, W) float32}`` over the display window, row 0
    on top; pixels outside a part's data window (border renders) are 0.
    Only what Blender writes with ``exr_codec = "NONE"`` is supported:
    HALF/FLOAT channels without subsampling.
    """
    with open(path, "rb") as f:
        buf = f.read()
    magic, version = struct.unpack_from("<ii", buf, 0)
    if magic != _EXR_MAGIC:
        raise RuntimeError(f"{path} is not an OpenEXR file")
    multipart = bool(version & _EXR_MULTIPART)
    pos = 8

    def cstring(p: int) -> tuple[str, int]:
        end = buf.index(b"\0", p)
        return buf[p:end].decode(), end + 1

    headers = []
    while True:
        attrs = {}
        while True:
            name, pos = cstring(pos)
            if not name:
                break
            _, pos = cstring(pos)
            (size,) = struct.unpack_from("<i", buf, pos)
            attrs[name] = buf[pos + 4 : pos + 4 + size]
            pos += 4 + size
        if not attrs:
            break
        headers.append(attrs)
        if not multipart:
            break
    out: dict[str, np.ndarray] = {}
    for attrs in headers:
        if attrs["compression"][0] != 0:
            raise RuntimeError(f"{path}: compressed OpenEXR is not supported (write it with exr_codec NONE)")
        channels, raw, p = [], attrs["channels"], 0
        while raw[p] != 0:
            end = raw.index(b"\0", p)
            (ptype,) = struct.unpack_from("<i", raw, end + 1)
            channels.append((raw[p:end].decode(), _EXR_DTYPES[ptype]))
            p = end + 1 + 16
        x0, y0, x1, y1 = struct.unpack("<4i", attrs["dataWindow"])
        dx0, dy0, dx1, dy1 = struct.unpack("<4i", attrs["displayWindow"])
        width, rows = x1 - x0 + 1, y1 - y0 + 1
        offsets = np.frombuffer(buf, "<u8", rows, pos)
        pos += 8 * rows
        planes = {name: np.zeros((dy1 - dy0 + 1, dx1 - dx0 + 1), np.float32) for name, _ in channels}
        for offset in offsets.tolist():
            o = offset + (4 if multipart else 0)  # multi-part chunks start with the part number
            (y,) = struct.unpack_from("<i", buf, o)
            o += 8  # y, data size
            for name, dtype in channels:
                planes[name][y - dy0, x0 - dx0 : x1 - dx0 + 1] = np.frombuffer(buf, dtype, width, o)
                o += width * dtype.itemsize
        out.update(planes)
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        sys.exit(_serve(int(sys.argv[2])))
    print("usage: python -m generators.bookcovers.render_blender --serve FD (started by render_scene_blender)",
          file=sys.stderr)  # fmt: skip
    sys.exit(2)
