"""How coverrefs scores a prediction: composited into the hole, then measured in two regions.

Every metric first *composites* the prediction into the hole: the scored
image is the prediction inside ``inputs["mask"]`` and the occluded query
everywhere else, so no method gains or loses anything outside the hole
(whatever it returns there is ignored, not trusted). It is then compared with
the target in

* the hole (``*_hole``): the pixels that were occluded;
* the whole object (``*_object``): ``inputs["amodal"]``, the cover's pixels.

Metrics (definitions in :mod:`generators.metrics`): PSNR, SSIM and MSE in both
regions; the Euclidean, Manhattan and chord distances in the hole.
"""

from __future__ import annotations

import numpy as np

from generators.metrics import (chord_distance, compute_once, euclidean_distance, manhattan_distance, mse_masked, psnr_masked,
                                ssim_masked)
from generators.task import uses_sample

__all__ = ["composite", "METRICS", "HIGHER_IS_BETTER"]


@compute_once
def composite(prediction: np.ndarray, inputs) -> np.ndarray:
    """``prediction`` inside the hole, the occluded query elsewhere (float32).

    One array per (prediction, inputs) inside :func:`generators.metrics.reuse_results`, so the metrics of
    both regions share it and the SSIM map computed for one region serves the other."""
    return np.where(inputs["mask"][..., None], prediction, inputs["image"]).astype(np.float32)


def _scored(name: str, metric, region: str):
    def score(reference: np.ndarray, prediction: np.ndarray, *, sample) -> float:
        mask = sample.inputs["mask"] if region == "hole" else sample.inputs["amodal"]
        return metric(reference, composite(prediction, sample.inputs), mask=mask)

    score.__name__ = name  # the module attribute it is bound to, so pickle finds it
    score.__qualname__ = score.__name__
    return uses_sample(score)


# Module-level names so the task pickles (process pools, Ray).
psnr_hole = _scored("psnr_hole", psnr_masked, "hole")
ssim_hole = _scored("ssim_hole", ssim_masked, "hole")
mse_hole = _scored("mse_hole", mse_masked, "hole")
psnr_object = _scored("psnr_object", psnr_masked, "object")
ssim_object = _scored("ssim_object", ssim_masked, "object")
mse_object = _scored("mse_object", mse_masked, "object")
euclidean_hole = _scored("euclidean_hole", euclidean_distance, "hole")
manhattan_hole = _scored("manhattan_hole", manhattan_distance, "hole")
chord_hole = _scored("chord_hole", chord_distance, "hole")

METRICS = {"psnr_hole": psnr_hole, "ssim_hole": ssim_hole, "mse_hole": mse_hole, "psnr_object": psnr_object,
           "ssim_object": ssim_object, "mse_object": mse_object, "euclidean_hole": euclidean_hole,
           "manhattan_hole": manhattan_hole, "chord_hole": chord_hole}
HIGHER_IS_BETTER = {"psnr_hole": True, "ssim_hole": True, "mse_hole": False, "psnr_object": True,
                    "ssim_object": True, "mse_object": False, "euclidean_hole": False, "manhattan_hole": False,
                    "chord_hole": False}
