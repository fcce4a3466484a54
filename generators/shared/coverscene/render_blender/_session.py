"""The bpy side: one Blender session per process, building a scene and rendering its views.

Everything here runs where bpy is imported: in the Blender child process
(:mod:`._process`) or, with ``in_process=True``, in the caller. The translation
of the scene dict into Blender objects and the render settings are those of the
package docstring.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import os
import shutil
import sys
import tempfile
from typing import Any

import numpy as np

from generators.shared.covers import load_cover, load_texture, texture_size
from generators.shared.coverscene.render_blender._exr import _read_exr
from generators.shared.coverscene.render_blender._meshes import _segments, _unit_mesh
from generators.shared.coverscene.render_fast import SHADING_SCALE
from generators.shared.colour import linear_to_srgb, srgb_to_linear
from generators.shared.coverscene.scene import validate_size

_GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "ONEAPI")
_AOV = "occluder"
_LAYER = "ViewLayer"
_F0_IOR_1_5 = 0.04  # normal-incidence reflectance of IOR 1.5
# Cycles' diffuse light passes are divided by the diffuse colour and are 0
# where it is 0, and Cycles drops closures whose weight is below 1e-5; a floor
# on the cover's linear albedo keeps the shading defined on black texels. It
# adds 2e-5 * S to the radiance: for S <= 1, < 1/15 of an 8-bit step.
_ALBEDO_FLOOR = 2e-5


def check_blender() -> str | None:
    """None when bpy can be imported here, else the reason (one line)."""
    try:
        import bpy  # noqa: F401
    except Exception as e:  # noqa: BLE001 - bpy fails as ImportError, OSError (missing libs) ...
        return f"bpy (Blender as a Python module) cannot be imported: {type(e).__name__}: {e}"
    return None


_SESSION: _BlenderSession | None = None


def _current_session() -> _BlenderSession:
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
