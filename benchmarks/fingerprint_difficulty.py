"""How hard each fingerprint degradation is: ``python -m benchmarks.fingerprint_difficulty [--n 12]``.

For both presets of :mod:`generators.fingerprints` (``chalearn``, ``sensor``)
and every degradation of the preset, ``n`` prints are rendered with that
degradation alone (drawn at severity 0.5 and 1.0), with all of them together
at those severities, and with the preset's own mix (``task mix``: severity
uniform in [0, 1] and each degradation applied with its probability, as the
task draws it). Reported per row, as means over the prints:

* ``orient@s``: RMS error in degrees of the ridge orientation estimated from
  the degraded image (:func:`baselines.fingerprint.estimate_orientation`, the
  structure tensor of the project's Gabor enhancement, after its local
  normalisation) against the ground truth, over the fingerprint area; the
  ``clean`` row is the same estimate made from the clean target, so the
  difference is what the degradation costs;
* ``psnr@1``, ``ssim@1``: PSNR (dB) and SSIM of the identity (the degraded
  input as the answer) at severity 1, with the task's own metrics.

It lives in ``benchmarks/`` because it uses a baseline's estimator and
generators may not import baselines (``tests/test_layering.py``). The table
it printed is in the docstring of :mod:`generators.fingerprints`.
"""

from __future__ import annotations

import argparse
from typing import Sequence

import numpy as np

from baselines.fingerprint import _normalise, estimate_orientation
from generators.fingerprints import decode_fields, render_sample, sample_params, sensor
from generators.fingerprints.degrade import DEGRADATIONS
from generators.metrics import psnr, ssim

__all__ = ["orientation_rms_deg", "measure", "main"]

SEED = 4242
SEVERITIES = (0.5, 1.0)


def orientation_rms_deg(image: np.ndarray, orientation: np.ndarray, mask: np.ndarray) -> float:
    """RMS orientation error (degrees) of the structure-tensor estimate from ``image`` over ``mask``.

    Parameters
    ----------
    image : ndarray, (H, W) float32 in [0, 1]
    orientation : ndarray, (H, W) float in [0, pi)
        Ground truth, radians.
    mask : ndarray, (H, W) bool
    """
    theta, _ = estimate_orientation(_normalise(image.astype(np.float32), 6.0))
    d = 0.5 * np.angle(np.exp(2j * (theta[mask].astype(np.float64) - orientation[mask])))
    return float(np.degrees(np.sqrt(np.mean(d * d))))


def _steps(preset: str) -> dict:
    return {k: v[0] for k, v in (DEGRADATIONS if preset == "chalearn" else sensor.STEPS).items()}


def _scores(params: dict) -> tuple[float, float, float, float]:
    s = render_sample(params)
    img, clean = s.inputs["image"], s.target["clean"]
    theta = decode_fields(s.extras)["orientation"]
    mask = s.extras["mask"]
    return (orientation_rms_deg(img[..., 0], theta, mask), orientation_rms_deg(clean[..., 0], theta, mask),
            psnr(clean, img), ssim(clean, img))  # fmt: skip


def measure(preset: str, *, n: int = 12, seed: int = SEED) -> list[dict]:
    """Rows ``{"degradation", "orient@0.5", "orient@1", "psnr@1", "ssim@1"}`` of one preset (means over ``n`` prints)."""
    steps = _steps(preset)
    rows: dict[str, dict[str, list]] = {}

    def add(name: str, key: str, value: float) -> None:
        rows.setdefault(name, {}).setdefault(key, []).append(value)

    for i in range(n):
        base = sample_params(np.random.default_rng([seed, i]), preset=preset)
        o, o_clean, p, q = _scores(base)
        add("task mix", "orient@mix", o)
        add("task mix", "psnr@mix", p)
        add("task mix", "ssim@mix", q)
        add("clean", "orient@1", o_clean)
        for sev in SEVERITIES:
            all_on = dict(base, degradations={}, severity=sev)
            for k, (name, sample) in enumerate(steps.items()):
                one = sample(np.random.default_rng([seed, i, k, int(sev * 100)]), sev)
                all_on["degradations"][name] = one
                params = dict(base, severity=sev, degradations={m: (one if m == name else None) for m in steps})
                o, _, p, q = _scores(params)
                add(name, f"orient@{sev:g}", o)
                if sev == 1.0:
                    add(name, "psnr@1", p)
                    add(name, "ssim@1", q)
            o, _, p, q = _scores(all_on)
            add("all together", f"orient@{sev:g}", o)
            if sev == 1.0:
                add("all together", "psnr@1", p)
                add("all together", "ssim@1", q)
    return [{"degradation": name, **{k: float(np.mean(v)) for k, v in cols.items()}} for name, cols in rows.items()]


def _db(v: float) -> str:
    return ">100" if v > 100 else f"{v:.1f}"  # > 100 dB: the input equals the target (geometric steps warp both)


def _table(preset: str, rows: list[dict]) -> str:
    lines = [f"{preset}: orientation RMS error (deg) / identity PSNR (dB) / SSIM",
             "| degradation | orient@0.5 | orient@1 | psnr@1 | ssim@1 |", "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        if r["degradation"] == "task mix":
            cells = ["", f"{r['orient@mix']:.1f}", _db(r["psnr@mix"]), f"{r['ssim@mix']:.3f}"]
        else:
            cells = [f"{r[k]:.1f}" if k in r else "" for k in ("orient@0.5", "orient@1")]
            cells += [_db(r["psnr@1"]) if "psnr@1" in r else "", f"{r['ssim@1']:.3f}" if "ssim@1" in r else ""]
        lines.append(f"| {r['degradation']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fingerprint_difficulty", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=12, help="prints per row (default 12)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--preset", choices=("chalearn", "sensor", "both"), default="both")
    args = p.parse_args(argv)
    for preset in ("chalearn", "sensor") if args.preset == "both" else (args.preset,):
        print(_table(preset, measure(preset, n=args.n, seed=args.seed)), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
