"""roadseg: fill the label map of a driving scene where people and cars were.

Semantic-layout inpainting after MICC-SRI (Berlincioni et al., "Road layout
understanding by generative adversarial inpainting", ChaLearn LAP 2018): the
same view is labelled twice, with and without dynamic objects; a method sees
the populated map with the dynamic pixels unknown and predicts the static
map there. Pairs are pixel-perfect by construction (MICC-SRI had to correct
replay drift).

Backends
--------
* ``embedded`` (default, runs anywhere): procedural 3-D streets
  (:mod:`generators.roadseg.scene`) rendered offscreen with pyrender
  (:mod:`generators.roadseg.render_embedded`): the static and the populated
  label maps from one camera in one scene, depth, and a shaded RGB image.
* ``carla``: a running CARLA 0.9.16 server through the real ``carla``
  client (:mod:`generators.roadseg.carla_backend`).

Classes: ``--classes micc`` (default) reduces CARLA's 29 tags to MICC-SRI's
nine classes (:mod:`generators.roadseg.classes`); ``--classes carla`` keeps
every tag. Dynamic classes D: Person and Car (micc); Pedestrian, Rider,
Car, Truck, Bus, Train, Motorcycle, Bicycle, Dynamic (carla).

Sample layout
-------------
* ``inputs["labels"]``: (H, W) uint8 class ids of the populated scene, with
  every dynamic pixel set to 255 (unknown);
* ``inputs["mask"]``: (H, W) bool, True where a dynamic object was;
* ``inputs["rgb"]``: (H, W, 3) float32, the shaded populated scene (an
  optional cue; the label baselines ignore it);
* ``target["labels"]``: (H, W) uint8 class ids of the static scene;
* ``extras["populated"]``: (H, W) uint8 class ids with the dynamic objects;
* ``extras["depth"]``: (H, W) float16 metres along the optical axis of the
  populated scene, 0 for sky (float16: 0.05 % relative precision);
* ``params``: backend, class set, the scene (every primitive, the camera)
  or, for CARLA, town, frame ids and transforms.

Outside the mask the two maps agree exactly (the embedded backend renders
the static map from the same scene; CARLA pairs whose camera moved are
discarded).

Scoring (MICC-SRI): per-pixel accuracy inside the mask, per image, then
averaged over images (``acc_in``); mean IoU over the static classes inside
the mask (``miou_in``; classes absent from both target and prediction there
are left out); accuracy over the whole image (``acc``).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from generators.roadseg.classes import DYNAMIC, class_table, to_micc
from generators.task import Sample, Task, uses_sample

__all__ = ["NAME", "MODEL_VERSION", "TASK", "make_task", "make_sample", "UNKNOWN", "METRICS"]

NAME = "roadseg"
MODEL_VERSION = 2  # 2: curved, branching streets, road users with silhouettes (issue 24)
UNKNOWN = 255
MIN_DYNAMIC = 0.01  # re-draw scenes whose dynamic objects cover less of the frame (measured at full size)


def _convert(tags: np.ndarray, classes: str) -> np.ndarray:
    return to_micc(tags) if classes == "micc" else tags.astype(np.uint8)


def make_sample(rng: np.random.Generator, *, size: tuple[int, int] = (600, 800), classes: str = "micc",
                backend: str = "embedded", carla: Any = None, town_style: str = "mixed",
                density: float = 1.0) -> Sample:
    """One pair (see the module docstring)."""
    if backend == "carla":
        from generators.roadseg.carla_backend import capture_sample

        raw = capture_sample(rng, carla, size)
    else:
        from generators.roadseg.render_embedded import dynamic_coverage, render_scene
        from generators.roadseg.scene import sample_scene

        scene = sample_scene(rng, size=size, min_dynamic=MIN_DYNAMIC, coverage=dynamic_coverage,
                             town_style=town_style, density=density)
        out = render_scene(scene)
        raw = {"static": out["static"], "populated": out["populated"], "depth": out["depth"], "rgb": out["rgb"],
               "params": {"scene": scene}}
    static = _convert(raw["static"], classes)
    populated = _convert(raw["populated"], classes)
    mask = np.isin(populated, DYNAMIC[classes])
    labels = np.where(mask, UNKNOWN, populated).astype(np.uint8)
    return Sample(
        inputs={"labels": labels, "mask": mask, "rgb": raw["rgb"]},
        target={"labels": static},
        extras={"populated": populated, "depth": raw["depth"].astype(np.float16)},
        params={"version": MODEL_VERSION, "backend": backend, "classes": classes, "size": list(size),
                "dynamic_fraction": float(mask.mean()), **raw["params"]},
    )


# ---------------------------------------------------------------- metrics


def _mask_of(sample: Sample) -> np.ndarray:
    return np.asarray(sample.inputs["mask"], bool)


@uses_sample
def accuracy_in_mask(reference: np.ndarray, prediction: np.ndarray, *, sample: Sample) -> float:
    """Fraction of the removed objects' pixels given the right static class (MICC-SRI's figure)."""
    m = _mask_of(sample)
    if not m.any():
        return float("nan")
    return float(np.mean(reference[m] == prediction[m]))


def _static_ids(sample: Sample) -> list[int]:
    kind = sample.params.get("classes", "micc")
    return [c.id for c in class_table(kind) if c.id not in DYNAMIC[kind]]


@uses_sample
def miou_in_mask(reference: np.ndarray, prediction: np.ndarray, *, sample: Sample) -> float:
    """Mean IoU over the static classes inside the mask; classes absent from both
    target and prediction there are left out (their IoU is undefined)."""
    m = _mask_of(sample)
    ref, pred = reference[m], prediction[m]
    ious = []
    for c in _static_ids(sample):
        r, p = ref == c, pred == c
        union = np.count_nonzero(r | p)
        if union:
            ious.append(np.count_nonzero(r & p) / union)
    return float(np.mean(ious)) if ious else float("nan")


def accuracy(reference: np.ndarray, prediction: np.ndarray) -> float:
    """Fraction of all pixels with the right class."""
    return float(np.mean(np.asarray(reference) == np.asarray(prediction)))


METRICS = {"acc_in": accuracy_in_mask, "miou_in": miou_in_mask, "acc": accuracy}


def make_task(*, size: tuple[int, int] | str = (600, 800), classes: str = "micc", backend: str = "embedded",
              carla: Any = None, town_style: str = "mixed", density: float = 1.0) -> Task:
    """The roadseg task; ``size`` is (H, W) or ``"WxH"`` as on the command line (CARLA's order).

    ``town_style`` (embedded backend): ``mixed`` or one of
    :data:`generators.roadseg.scene.STYLES`; ``density`` multiplies the
    number of road users (> 0; 1 = the default mix)."""
    if isinstance(size, str):
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError:
            raise ValueError(f"size must look like 800x600 (width x height), got {size!r}") from None
        size = (h, w)
    h, w = (int(v) for v in size)
    if not (64 <= h <= 2160 and 64 <= w <= 3840):
        raise ValueError(f"size {w}x{h} out of range (64..3840 x 64..2160)")
    table = class_table(classes)
    if backend not in ("embedded", "carla"):
        raise ValueError(f"unknown backend {backend!r}; choose from ['carla', 'embedded']")
    from generators.roadseg.scene import TOWN_STYLES

    if town_style not in TOWN_STYLES:
        raise ValueError(f"unknown town style {town_style!r}; choose from {sorted(TOWN_STYLES)}")
    try:
        density = float(density)
    except (TypeError, ValueError):
        raise ValueError(f"density must be a positive number, got {density!r}") from None
    if not (np.isfinite(density) and 0 < density <= 20):
        raise ValueError(f"density must be a positive number up to 20 (1 = the default mix), got {density:g}")
    params: dict[str, Any] = {"version": MODEL_VERSION, "size": [h, w], "classes": classes, "backend": backend}
    if backend == "embedded":
        params.update(town_style=town_style, density=density)
    if backend == "carla":
        params["carla"] = carla.describe() if carla is not None else None
    return Task(
        name=NAME,
        make_sample=functools.partial(make_sample, size=(h, w), classes=classes, backend=backend, carla=carla,
                                      town_style=town_style, density=density),
        metrics=METRICS,
        input_kind="labels+mask",
        target_key="labels",
        test_size=40,
        quick_size=6,
        params=params,
        higher_is_better={"acc_in": True, "miou_in": True, "acc": True},
        classes=table,
    )


TASK = make_task()
