"""Measured statistics of the snow generator: ``python -m generators.snow.stats [--n 200] [--size 256]``.

For each size class, over ``n`` samples (seed 0, content backgrounds) it
prints a Markdown table of: flakes sampled and visible (in front of the
scene) per image; the apparent flake diameter ``f D / z`` (px) of the
visible flakes (median and 90th percentile) and their defocus blur circle
(median, px); the fraction of pixels with ``z > 0.1``; the mean ``z``; and
the mean veil transmission ``T``. The numbers in the module docstring of
:mod:`generators.snow` come from this command.
"""

from __future__ import annotations

import argparse

import numpy as np

from generators.dataset import add_size_argument
from generators.snow import SIZE_CLASSES, render_snow, sample_snow
from generators.task import sample_rng


def measure(size_class: str, *, n: int, size: int, seed: int = 0) -> dict[str, float]:
    """Statistics of ``n`` samples of one size class (see the module docstring)."""
    sampled, visible, diam, coc, frac, zmean, tmean = [], [], [], [], [], [], []
    for i in range(n):
        p, flakes = sample_snow(sample_rng(seed, i), size=(size, size), size_class=size_class)
        out = render_snow(p, flakes)
        sampled.append(len(flakes["z"]))
        visible.append(out["visible"])
        d_ref = out["depth"]
        ui = np.clip(np.rint(flakes["u"]).astype(int), 0, size - 1)
        vi = np.clip(np.rint(flakes["v"]).astype(int), 0, size - 1)
        front = flakes["z"] < d_ref[vi, ui]
        z = flakes["z"][front]
        diam.append(p["focal_px"] * flakes["diameter"][front] / z)
        coc.append(p["focal_px"] * p["aperture_m"] * np.abs(1 / z - 1 / p["focus_m"]))
        frac.append(float((out["z"][0] > 0.1).mean()))
        zmean.append(float(out["z"][0].mean()))
        tmean.append(float(out["t"].mean()))
    diam, coc = np.concatenate(diam), np.concatenate(coc)
    return {"sampled": float(np.mean(sampled)), "visible": float(np.mean(visible)),
            "diam_p50": float(np.median(diam)), "diam_p90": float(np.percentile(diam, 90)),
            "coc_p50": float(np.median(coc)), "z_gt_0.1": float(np.mean(frac)), "mean_z": float(np.mean(zmean)),
            "mean_t": float(np.mean(tmean))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m generators.snow.stats", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    add_size_argument(p, default="256", sides="64..1024", square=True)
    args = p.parse_args(argv)
    print(f"| class ({args.n} images, {args.size}x{args.size}) | flakes sampled | visible | diameter px p50 / p90 "
          "| defocus px p50 | pixels z > 0.1 | mean z | mean T |")
    print("|---|---|---|---|---|---|---|---|")
    for c in SIZE_CLASSES:
        s = measure(c, n=args.n, size=args.size)
        print(f"| {c} | {s['sampled']:.0f} | {s['visible']:.0f} | {s['diam_p50']:.2f} / {s['diam_p90']:.2f} "
              f"| {s['coc_p50']:.2f} | {100 * s['z_gt_0.1']:.1f} % | {s['mean_z']:.3f} | {s['mean_t']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
