"""Caption statistics of the captions generator: ``python -m benchmarks.caption_stats [--n 200] [--seed 0]
[--subtitles broadcast]``.

Makes clips ``0 .. n-1`` of ``seed`` with the command's defaults (125 frames, 128x128, PNG) and prints,
as min / median / max over the captions (lines: over the lines; share: over the clips):

* ``line height``: the font size (em, px) as % of the frame height, the quantity the formation
  model's line-height range constrains; ``ink height``: the rasterised ink box of ``"Hg"`` (cap top
  to descender bottom, FreeType via Pillow, no outline) as % of the frame height;
* ``chars/line``, ``lines/caption``, ``duration s`` (frames shown / fps, after clipping to the clip);
* ``caption share``: the share of a clip's frames with a caption on screen.

Only the caption parameters are sampled and the clip's, in :func:`generators.captions.make_sample`'s
order, so the numbers are those of the dataset's samples without rendering the clips.

``--motion-clips K`` also renders the first K clean clips (``--motion`` picks the motion model) and
measures their motion with OpenCV's DIS optical flow (preset medium) between consecutive frames of a
shot (frames across a cut skipped), per frame: ``flow median`` (px per frame, the median magnitude),
``flow p90`` (its 90th percentile) and ``flow spread`` (the 90th percentile of each pixel's distance to
the frame's median flow vector: 0 for a picture sliding as a whole, large with parallax, independently
moving objects and perspective); and, from the sampled parameters, the camera moves and the sensor
noise (standard deviation in 8-bit levels at mid-grey).
"""

from __future__ import annotations

import argparse

import numpy as np

__all__ = ["caption_stats", "main"]


def caption_stats(n: int = 200, seed: int = 0, subtitles: str | None = None) -> dict[str, np.ndarray]:
    """Per-caption (``line_height``, ``ink_height``, ``lines``, ``duration_s``), per-line (``chars``) and
    per-clip (``share``) arrays; heights in % of the frame height. ``subtitles`` None: the default preset."""
    from generators import captions
    from generators.task import sample_rng

    frames, size = 125, (128, 128)
    kw = {} if subtitles is None else {"subtitles": subtitles}
    out: dict[str, list] = {k: [] for k in ("line_height", "ink_height", "lines", "duration_s", "chars", "share")}
    for i in range(n):
        rng = sample_rng(seed, i)
        captions.sample_clip(rng, frames=frames, size=size)
        cap = captions.sample_captions(rng, frames=frames, size=size, **kw)
        shown = np.zeros(frames, bool)
        for seg in cap["segments"]:
            px = int(seg.get("size_px") or cap["style"]["size_px"])
            box = captions._font(cap["style"]["file"], px).getbbox("Hg")
            out["line_height"].append(100 * px / size[0])
            out["ink_height"].append(100 * (box[3] - box[1]) / size[0])
            lines = seg["text"].split("\n")
            out["lines"].append(len(lines))
            out["chars"].extend(len(ln) for ln in lines)
            out["duration_s"].append((seg["end"] - seg["start"] + 1) / captions.FPS)
            shown[seg["start"] : seg["end"] + 1] = True
        out["share"].append(shown.mean())
    return {k: np.asarray(v, float) for k, v in out.items()}


def motion_stats(n: int = 20, seed: int = 0, motion: str = "3d") -> dict[str, np.ndarray]:
    """Per-frame ``flow_median``, ``flow_p90``, ``flow_spread`` (px per frame) over the first ``n`` clean
    clips, per-shot ``moves`` (names) and per-clip ``noise_sd`` (8-bit levels at sRGB 128; 0: none)."""
    import cv2

    from generators import captions
    from generators.task import sample_rng

    frames, size = 125, (128, 128)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    out: dict[str, list] = {k: [] for k in ("flow_median", "flow_p90", "flow_spread", "moves", "noise_sd")}
    for i in range(n):
        p = captions.sample_clip(sample_rng(seed, i), frames=frames, size=size, motion=motion)
        clip = captions.render_clip(p)
        grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in clip]
        starts = {s["start"] for s in p["shots"]}
        for k in range(1, frames):
            if k in starts:
                continue
            flow = dis.calc(grey[k - 1], grey[k], None).reshape(-1, 2)
            mag = np.hypot(flow[:, 0], flow[:, 1])
            out["flow_median"].append(np.median(mag))
            out["flow_p90"].append(np.percentile(mag, 90))
            dev = flow - np.median(flow, axis=0)
            out["flow_spread"].append(np.percentile(np.hypot(dev[:, 0], dev[:, 1]), 90))
        out["moves"].extend(s.get("camera", {}).get("move", "2d layers") for s in p["shots"])
        noise = p.get("noise")
        out["noise_sd"].append(0.0 if not noise else float(captions._noise_tables(noise["shot"], noise["read"])[128]))
    return {k: (np.asarray(v) if k == "moves" else np.asarray(v, float)) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.caption_stats", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subtitles", default=None, help="caption preset (default: the generator's default)")
    p.add_argument("--motion-clips", type=int, default=0, help="render this many clean clips and measure motion")
    p.add_argument("--motion", default="3d", help="motion model for --motion-clips (default 3d)")
    args = p.parse_args(argv)
    st = caption_stats(args.n, args.seed, args.subtitles)
    print(f"{args.n} clips, seed {args.seed}, {len(st['lines'])} captions")
    names = {"line_height": "line height % H", "ink_height": "ink height % H", "chars": "chars/line",
             "lines": "lines/caption", "duration_s": "duration s", "share": "caption share"}
    for k, name in names.items():
        v = st[k]
        print(f"{name:16s} min {v.min():6.2f}  median {np.median(v):6.2f}  max {v.max():6.2f}  mean {v.mean():6.2f}")
    print(f"two-line captions: {int((st['lines'] == 2).sum())} of {len(st['lines'])}; "
          f"captions under 0.8 s: {int((st['duration_s'] < 0.8).sum())}")
    if args.motion_clips:
        mo = motion_stats(args.motion_clips, args.seed, args.motion)
        print(f"motion ({args.motion}), {args.motion_clips} clips, {len(mo['flow_median'])} frame pairs, "
              "px per frame: p10 / median / p90 over frames")
        for k in ("flow_median", "flow_p90", "flow_spread"):
            v = mo[k]
            print(f"{k:16s} {np.percentile(v, 10):6.2f} {np.median(v):6.2f} {np.percentile(v, 90):6.2f}")
        names, counts = np.unique(mo["moves"], return_counts=True)
        print("shots by camera move: " + ", ".join(f"{a} {b}" for a, b in zip(names, counts)))
        sd = mo["noise_sd"]
        print(f"sensor noise: {int((sd > 0).sum())} of {len(sd)} clips; sd at mid-grey (8-bit levels) "
              f"min {sd[sd > 0].min() if (sd > 0).any() else 0:.2f} median {np.median(sd[sd > 0]) if (sd > 0).any() else 0:.2f} "
              f"max {sd.max():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
