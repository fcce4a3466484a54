"""Classical baselines, registered by name.

``BASELINES`` maps a method name to an object following
:class:`generators.task.Method` (``name``, ``tasks``, ``restore(inputs)``).
Built by explicit construction, no scanning: add a method by importing it
here. Multi-image methods take ``{"views": (N, H, W, C)}``; inpainting
methods ``{"image": (H, W, C), "mask": (H, W)}``; the ``-labels`` variants
``{"labels": (H, W) int32, "mask": (H, W)}``; reflection methods
``{"frames": (N, H, W, 3)}`` with the reference frame at ``N // 2``;
decaptioning methods ``{"video": (T, H, W, 3)}``; snow methods ``{"image": (H, W, 3)}``
(``snow``) or ``{"frames": (N, H, W, 3)}`` (``snow-frames``); reference-guided fills
the coverrefs inputs (query, masks, ``"gallery": (K, H, W, 3)``).
"""

from baselines.decaption import DECAPTION_BASELINES
from baselines.inpaint import LabelInpainting, NavierStokesInpainting, NearestInpainting, TeleaInpainting
from baselines.multiview import MeanFusion, MedianFusion
from baselines.patchmatch import PATCH_SIZE, SEED, PatchMatchInpainting
from baselines.reflection import REFLECTION_BASELINES
from baselines.roadlayout import VanishingLineFill
from baselines.rpca import RobustPCA
from baselines.snow import SNOW_BASELINES
from baselines.stitching import OracleStitchFill, StitchFill
from baselines.weiss import WeissReflectance

__all__ = ["BASELINES"]

BASELINES = {
    m.name: m
    for m in (
        MeanFusion(),
        MedianFusion(),
        WeissReflectance(),
        RobustPCA(),
        NavierStokesInpainting(),
        TeleaInpainting(),
        PatchMatchInpainting(),
        NearestInpainting(),
        LabelInpainting("navier-stokes-labels", "navier-stokes"),
        LabelInpainting("telea-labels", "telea"),
        LabelInpainting("patchmatch-labels", "patchmatch", (("patch_size", PATCH_SIZE),), seed=SEED),
        LabelInpainting("nearest-labels", "nearest"),
        *REFLECTION_BASELINES,
        *DECAPTION_BASELINES,
        VanishingLineFill(),
        *SNOW_BASELINES,
        StitchFill(),
        OracleStitchFill(),
    )
}
