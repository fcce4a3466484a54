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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.caption_stats", description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subtitles", default=None, help="caption preset (default: the generator's default)")
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
