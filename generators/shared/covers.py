"""Cover and occluder textures: procedural book covers, patterns, folders of images.

Everything here is a deterministic function of a small JSON-able description
(see :mod:`generators.shared.coverscene.scene`), so both renderers and a re-run from
``Sample.params`` materialise identical textures.

Procedural covers are drawn with Pillow: a background (flat, linear or radial
gradient, blurred noise, or a full-bleed photograph), layout bands and frames,
geometric shapes, photographic patches, and title / subtitle / author text in
the fonts that ship with matplotlib (DejaVu Sans/Serif/Mono and STIX in
several weights and slants, Computer Modern). Photographs are the sample
images that ship inside scikit-image (astronaut, coffee, chelsea, rocket ...;
no download). Words are drawn from a small embedded list or made up from
syllables, so titles are practically never repeated.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

__all__ = [
    "COVER_EXTENSIONS",
    "CoverFolder",
    "draw_procedural_cover",
    "load_cover",
    "load_texture",
    "texture_size",
]

_log = logging.getLogger(__name__)

COVER_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

_FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSansMono-Oblique.ttf",
    "DejaVuSerifDisplay.ttf", "DejaVuSansDisplay.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
    "cmr10.ttf", "cmb10.ttf", "cmss10.ttf", "cmtt10.ttf",
)  # fmt: skip

_COLOR_PHOTOS = (
    "astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
    "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg", "color.png",
)  # fmt: skip
_GREY_PHOTOS = (
    "camera.png", "moon.png", "brick.png", "grass.png", "gravel.png", "coins.png",
    "clock_motion.png", "cell.png", "page.png", "text.png",
)  # fmt: skip

_WORDS = """
the a of and in night house river stone garden winter summer shadow light last first
secret silent lost hidden broken golden silver red blue black white green iron glass
city island mountain sea ocean forest desert road journey letters memory memories dream
dreams song songs war peace love time child children daughter son mother father king queen
empire fire water earth wind storm star stars moon sun sky world history science art
tale tales story stories book chronicles guide introduction principles theory practice
modern ancient new old little great long short dark bright wild quiet hundred thousand
years days hours between beyond under over after before without against toward among
kitchen cooking bread wine coffee tea birds trees flowers machine machines engine code
numbers mathematics physics chemistry biology economics politics language languages
philosophy music painting stranger friend enemy heart mind body soul voice voices door
window bridge tower castle village street harbour winter's midnight morning evening
""".split()

_SYLLABLES = (
    "ka ri mo sa le na to vi ra el an ber dor fen gal hal is jor kel lin mar nor or pel "
    "quin ros sel tor ul van wen yor zel th ch st ar en on ia eo ou ae"
).split()


# ---------------------------------------------------------------- resources


@functools.lru_cache(maxsize=1)
def _font_dir() -> Path:
    # matplotlib's bundled fonts, found without importing matplotlib (slow, noisy).
    import importlib.util

    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is not installed; its fonts are needed for procedural covers")
    return Path(list(spec.submodule_search_locations)[0]) / "mpl-data" / "fonts" / "ttf"


@functools.lru_cache(maxsize=1)
def _available_fonts() -> tuple[str, ...]:
    fonts = tuple(f for f in _FONT_FILES if (_font_dir() / f).is_file())
    if not fonts:
        raise RuntimeError(f"no fonts found in {_font_dir()} (matplotlib installation broken?)")
    return fonts


@functools.lru_cache(maxsize=512)
def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(_font_dir() / name), max(6, int(px)))


@functools.lru_cache(maxsize=1)
def _photos() -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The scikit-image sample photographs (RGB uint8, greyscale uint8), loaded once per process."""
    import skimage.data

    root = Path(skimage.data.__file__).parent
    colour, grey = [], []
    for names, out, mode in ((_COLOR_PHOTOS, colour, "RGB"), (_GREY_PHOTOS, grey, "L")):
        for name in names:
            try:
                with Image.open(root / name) as im:
                    out.append(np.asarray(im.convert(mode)))
            except (OSError, ValueError):
                continue
    return tuple(colour), tuple(grey)


def photographs() -> tuple[np.ndarray, ...]:
    """The embedded colour photographs (scikit-image's sample photos), RGB uint8, read-only.

    Shared with other generators that need real image content without
    downloading anything (e.g. :mod:`generators.reflections`).
    """
    return _photos()[0]


# ---------------------------------------------------------------- helpers


def _rand_color(rng: np.random.Generator, *, dark: bool | None = None) -> tuple[int, int, int]:
    h = rng.random()
    s = rng.uniform(0.2, 0.95) if rng.random() < 0.8 else rng.uniform(0.0, 0.15)
    if dark is None:
        v = rng.uniform(0.15, 1.0)
    elif dark:
        v = rng.uniform(0.05, 0.35)
    else:
        v = rng.uniform(0.75, 1.0)
        s *= 0.6
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return tuple(int(round(c * 255)) for c in rgb)  # type: ignore[return-value]


def _luma(c) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


def _contrast_color(rng: np.random.Generator, bg) -> tuple[int, int, int]:
    """A colour that reads on ``bg``."""
    for _ in range(8):
        c = _rand_color(rng, dark=_luma(bg) > 128)
        if abs(_luma(c) - _luma(bg)) > 90:
            return c
    return (20, 20, 20) if _luma(bg) > 128 else (245, 245, 240)


def _word(rng: np.random.Generator) -> str:
    if rng.random() < 0.6:
        return str(_WORDS[int(rng.integers(len(_WORDS)))])
    n = int(rng.integers(2, 4))
    return "".join(str(_SYLLABLES[int(rng.integers(len(_SYLLABLES)))]) for _ in range(n))


def _title(rng: np.random.Generator) -> str:
    words = [_word(rng) for _ in range(int(rng.integers(1, 5)))]
    style = rng.random()
    if style < 0.45:
        return " ".join(w.capitalize() for w in words)
    if style < 0.75:
        return " ".join(words).upper()
    return " ".join(words).capitalize()


def _author(rng: np.random.Generator) -> str:
    def name() -> str:
        n = int(rng.integers(2, 4))
        return "".join(str(_SYLLABLES[int(rng.integers(len(_SYLLABLES)))]) for _ in range(n)).capitalize()

    parts = [name(), name()]
    if rng.random() < 0.3:
        parts.insert(1, name()[0] + ".")
    s = " ".join(parts)
    return s.upper() if rng.random() < 0.4 else s


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, max_w: float) -> list[str]:
    lines: list[str] = []
    cur = ""
    for w in text.split():
        trial = (cur + " " + w).strip()
        if cur and draw.textlength(trial, font=font) > max_w:
            lines.append(cur)
            cur = w
        else:
            cur = trial
    if cur:
        lines.append(cur)
    return lines


def _draw_text_block(
    img: Image.Image,
    rng: np.random.Generator,
    text: str,
    *,
    box: tuple[float, float, float, float],
    px: float,
    color,
    font_name: str,
    align: str,
    shadow: bool = False,
) -> None:
    """Wrap ``text`` into ``box`` (x0, y0, x1, y1), shrinking the font until it fits."""
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = box
    max_w, max_h = max(4.0, x1 - x0), max(4.0, y1 - y0)
    for _ in range(6):
        font = _font(font_name, int(px))
        lines = _wrap(draw, text, font, max_w)
        line_h = px * 1.15
        widest = max(draw.textlength(line, font=font) for line in lines)
        if widest <= max_w and line_h * len(lines) <= max_h:
            break
        px *= 0.78
    y = y0 + (max_h - line_h * len(lines)) * (0.5 if align == "center" else float(rng.uniform(0, 1)))
    off = max(1, int(px / 18))
    for line in lines:
        tw = draw.textlength(line, font=font)
        if align == "left":
            x = x0
        elif align == "right":
            x = x1 - tw
        else:
            x = x0 + (max_w - tw) / 2
        if shadow:
            draw.text((x + off, y + off), line, font=font, fill=(0, 0, 0))
        draw.text((x, y), line, font=font, fill=tuple(color))
        y += line_h


def _gradient(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    c0 = np.array(_rand_color(rng), np.float32)
    c1 = np.array(_rand_color(rng), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.6:
        a = rng.uniform(0, 2 * math.pi)
        t = (xx / w - 0.5) * math.cos(a) + (yy / h - 0.5) * math.sin(a) + 0.5
    else:
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        t = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / (0.8 * max(h, w))
    t = np.clip(t, 0, 1)[..., None]
    return (c0 * (1 - t) + c1 * t).astype(np.uint8)


def _smooth_noise(h: int, w: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid upsampled with bicubic interpolation."""
    g = rng.random((cells + 3, cells + 3)).astype(np.float32)
    big = cv2.resize(g, (w + 2 * w // cells, h + 2 * h // cells), interpolation=cv2.INTER_CUBIC)
    big = big[h // cells : h // cells + h, w // cells : w // cells + w]
    lo, hi = float(big.min()), float(big.max())
    return (big - lo) / max(hi - lo, 1e-6)


def _photo_patch(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random crop of a sample photograph, resized to (h, w) RGB uint8, sometimes restyled."""
    colour, grey = _photos()
    use_grey = (rng.random() < 0.35 and grey) or not colour
    pool = grey if use_grey else colour
    src = pool[int(rng.integers(len(pool)))]
    sh, sw = src.shape[:2]
    aspect = w / h
    ch = int(sh * rng.uniform(0.35, 1.0))
    cw = int(min(sw, ch * aspect))
    ch = int(min(ch, cw / aspect))
    ch, cw = max(ch, 4), max(cw, 4)
    y = int(rng.integers(0, sh - ch + 1))
    x = int(rng.integers(0, sw - cw + 1))
    crop = src[y : y + ch, x : x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = cv2.resize(np.ascontiguousarray(crop), (w, h), interpolation=cv2.INTER_AREA)
    if crop.ndim == 2:
        # Duotone: map grey between a dark and a light colour.
        t = crop.astype(np.float32)[..., None] / 255.0
        d = np.array(_rand_color(rng, dark=True), np.float32)
        l = np.array(_rand_color(rng, dark=False), np.float32)
        crop = (d * (1 - t) + l * t).astype(np.uint8)
    elif rng.random() < 0.25:
        levels = int(rng.integers(3, 6))
        crop = (np.floor(crop.astype(np.float32) / 256 * levels) * (255 / (levels - 1))).astype(np.uint8)
    return crop


def _draw_shapes(img: Image.Image, rng: np.random.Generator, n: int) -> None:
    w, h = img.size
    draw = ImageDraw.Draw(img, "RGBA")
    for _ in range(n):
        col = _rand_color(rng) + (int(rng.integers(120, 256)),)
        kind = rng.integers(6)
        cx, cy = rng.uniform(-0.1, 1.1) * w, rng.uniform(-0.1, 1.1) * h
        r = rng.uniform(0.03, 0.45) * min(w, h)
        lw = max(1, int(rng.uniform(0.003, 0.03) * min(w, h)))
        if kind == 0:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col)
        elif kind == 1:
            draw.rectangle([cx - r, cy - r * rng.uniform(0.2, 1.5), cx + r, cy + r], fill=col)
        elif kind == 2:
            pts = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in rng.uniform(0, 2 * math.pi, 3)]
            draw.polygon(pts, fill=col)
        elif kind == 3:
            for k in range(int(rng.integers(2, 7))):
                rr = r * (1 - k * 0.15)
                if rr > 0:
                    draw.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], outline=col, width=lw)
        elif kind == 4:
            a = rng.uniform(0, math.pi)
            dx, dy = math.cos(a) * 2 * max(w, h), math.sin(a) * 2 * max(w, h)
            draw.line([cx - dx, cy - dy, cx + dx, cy + dy], fill=col, width=lw * 2)
        else:
            step = max(4.0, rng.uniform(0.03, 0.08) * min(w, h))
            dot = step * rng.uniform(0.15, 0.4)
            for yy in np.arange(cy - r, cy + r, step):
                for xx in np.arange(cx - r, cx + r, step):
                    draw.ellipse([xx - dot, yy - dot, xx + dot, yy + dot], fill=col)


# ---------------------------------------------------------------- covers


def draw_procedural_cover(seed: int, size: tuple[int, int]) -> np.ndarray:
    """Draw a synthetic book cover.

    Parameters
    ----------
    seed : int
        Determines every random choice (layout, colours, fonts, text, photos).
    size : (int, int)
        ``(H, W)`` in pixels. Layout is relative, so the same seed gives the
        same design at any size.

    Returns
    -------
    ndarray
        ``(H, W, 3)`` uint8 sRGB.
    """
    h, w = int(size[0]), int(size[1])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xB00C]))
    fonts = _available_fonts()
    m = min(h, w)

    # Background.
    kind = rng.choice(["flat", "gradient", "noise", "photo", "photo", "gradient"])
    if kind == "flat":
        bg_col = _rand_color(rng)
        arr = np.empty((h, w, 3), np.uint8)
        arr[:] = bg_col
    elif kind == "gradient":
        arr = _gradient(h, w, rng)
    elif kind == "noise":
        t = _smooth_noise(h, w, rng, int(rng.integers(3, 12)))[..., None]
        c0 = np.array(_rand_color(rng), np.float32)
        c1 = np.array(_rand_color(rng), np.float32)
        arr = (c0 * (1 - t) + c1 * t).astype(np.uint8)
    else:
        arr = _photo_patch(rng, h, w)
    img = Image.fromarray(arr, "RGB")

    if rng.random() < 0.5:
        _draw_shapes(img, rng, int(rng.integers(1, 7)))

    draw = ImageDraw.Draw(img, "RGBA")
    # Layout band where the title sits (or the title sits straight on the background).
    layout = rng.choice(["band", "box", "free", "split", "frame"])
    ty0, ty1 = sorted(rng.uniform(0.05, 0.6, size=2))
    ty1 = max(ty1, ty0 + 0.18)
    tbox = [0.08 * w, ty0 * h, 0.92 * w, ty1 * h]
    if layout == "band":
        col = _rand_color(rng) + (int(rng.integers(180, 256)),)
        draw.rectangle([0, tbox[1] - 0.03 * h, w, tbox[3] + 0.03 * h], fill=col)
        text_bg = col
    elif layout == "box":
        col = _rand_color(rng) + (int(rng.integers(150, 256)),)
        draw.rectangle([tbox[0] - 0.03 * w, tbox[1] - 0.03 * h, tbox[2] + 0.03 * w, tbox[3] + 0.03 * h], fill=col)
        text_bg = col
    elif layout == "split":
        cut = rng.uniform(0.35, 0.65) * h
        col = _rand_color(rng)
        if rng.random() < 0.5:
            draw.rectangle([0, cut, w, h], fill=col)
            tbox = [0.08 * w, cut + 0.04 * h, 0.92 * w, cut + 0.3 * h]
        else:
            draw.rectangle([0, 0, w, cut], fill=col)
            tbox = [0.08 * w, 0.06 * h, 0.92 * w, cut - 0.04 * h]
        if rng.random() < 0.5:
            ph = int(rng.uniform(0.2, 0.35) * h)
            pw = int(rng.uniform(0.3, 0.7) * w)
            px0 = int(rng.uniform(0.05, 0.95) * (w - pw))
            py0 = int(cut - ph / 2) if rng.random() < 0.5 else int(rng.uniform(0, h - ph))
            py0 = int(np.clip(py0, 0, h - ph))
            img.paste(Image.fromarray(_photo_patch(rng, ph, pw)), (px0, py0))
        text_bg = col
    elif layout == "frame":
        col = _rand_color(rng)
        lw = max(1, int(rng.uniform(0.005, 0.025) * m))
        inset = rng.uniform(0.03, 0.08) * m
        draw.rectangle([inset, inset, w - inset, h - inset], outline=col, width=lw)
        if rng.random() < 0.5:
            inset2 = inset + 3 * lw
            draw.rectangle([inset2, inset2, w - inset2, h - inset2], outline=col, width=max(1, lw // 2))
        text_bg = tuple(int(v) for v in np.asarray(img)[int(tbox[1]) : int(tbox[3]) + 1].reshape(-1, 3).mean(0))
    else:
        text_bg = tuple(int(v) for v in np.asarray(img)[int(tbox[1]) : int(tbox[3]) + 1].reshape(-1, 3).mean(0))

    if layout not in ("split", "frame") and rng.random() < 0.35:
        # A photographic patch away from the title.
        ph = int(rng.uniform(0.15, 0.4) * h)
        pw = int(rng.uniform(0.2, 0.8) * w)
        px0 = int(rng.uniform(0, 1) * (w - pw))
        py0 = int(np.clip(ty1 * h + 0.05 * h, 0, h - ph)) if rng.random() < 0.7 else int(rng.uniform(0, 1) * (h - ph))
        patch = Image.fromarray(_photo_patch(rng, ph, pw))
        if rng.random() < 0.4:
            mask = Image.new("L", (pw, ph), 0)
            ImageDraw.Draw(mask).ellipse([0, 0, pw - 1, ph - 1], fill=255)
            img.paste(patch, (px0, py0), mask)
        else:
            img.paste(patch, (px0, py0))

    title_font = fonts[int(rng.integers(len(fonts)))]
    align = str(rng.choice(["center", "center", "left", "right"]))
    title_col = _contrast_color(rng, text_bg[:3])
    _draw_text_block(
        img, rng, _title(rng), box=tuple(tbox), px=rng.uniform(0.08, 0.2) * m, color=title_col,
        font_name=title_font, align=align, shadow=kind == "photo" and layout == "free",
    )  # fmt: skip
    if rng.random() < 0.5:
        sub_font = fonts[int(rng.integers(len(fonts)))]
        sy = tbox[3] + 0.01 * h
        _draw_text_block(
            img, rng, " ".join(_word(rng) for _ in range(int(rng.integers(2, 7)))),
            box=(tbox[0], sy, tbox[2], min(h, sy + 0.12 * h)), px=rng.uniform(0.035, 0.06) * m,
            color=title_col, font_name=sub_font, align=align,
        )  # fmt: skip
    # Author near the top or the bottom edge.
    at_top = ty0 > 0.3 and rng.random() < 0.5
    ay0 = 0.04 * h if at_top else rng.uniform(0.8, 0.9) * h
    abox = (0.08 * w, ay0, 0.92 * w, ay0 + 0.09 * h)
    patch_bg = np.asarray(img)[int(abox[1]) : int(abox[3]) + 1].reshape(-1, 3).mean(0)
    _draw_text_block(
        img, rng, _author(rng), box=abox, px=rng.uniform(0.04, 0.075) * m,
        color=_contrast_color(rng, patch_bg), font_name=fonts[int(rng.integers(len(fonts)))], align=align,
    )  # fmt: skip
    if rng.random() < 0.3:
        # Publisher mark: a small logo circle with a letter.
        r = 0.035 * m
        cx, cy = rng.uniform(0.1, 0.9) * w, 0.95 * h - r
        col = _rand_color(rng)
        d2 = ImageDraw.Draw(img)
        d2.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col)
        f = _font(fonts[int(rng.integers(len(fonts)))], int(1.3 * r))
        d2.text((cx, cy), chr(65 + int(rng.integers(26))), font=f, fill=_contrast_color(rng, col), anchor="mm")

    out = np.asarray(img).copy()
    if rng.random() < 0.5:
        # Paper grain / print texture: faint, fine noise.
        amp = rng.uniform(2.0, 8.0)
        grain = (rng.standard_normal((h, w, 1)) * amp).astype(np.float32)
        out = np.clip(out.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(radius=0.5 * m / 256)))
    return out


def load_cover(desc: dict[str, Any], size: tuple[int, int], covers_dir: str | os.PathLike | None = None) -> np.ndarray:
    """Materialise a cover description at ``size`` = (H, W).

    Returns
    -------
    ndarray
        ``(H, W, 3)`` float32 sRGB in [0, 1], 8-bit quantised (``k / 255``).

    Raises
    ------
    ValueError
        Unknown kind; file missing, unreadable or changed (sha256 mismatch).
    """
    h, w = int(size[0]), int(size[1])
    kind = desc.get("kind")
    if kind == "procedural":
        arr = draw_procedural_cover(int(desc["seed"]), (h, w))
    elif kind == "file":
        if covers_dir is None:
            raise ValueError("this scene uses a cover file; pass covers_dir (the --covers folder)")
        path = Path(covers_dir) / desc["path"]
        digest, src = _read_image(str(path))
        if desc.get("sha256") not in (None, digest):
            raise ValueError(f"cover file {path} changed since the scene was sampled (sha256 mismatch)")
        if src is None:
            raise ValueError(f"cannot decode cover image {path}")
        arr = _fit(src, h, w)
    else:
        raise ValueError(f"unknown cover kind {kind!r}; choose from ['file', 'procedural']")
    return arr.astype(np.float32) / 255.0


@functools.lru_cache(maxsize=4)
def _read_image(path: str) -> tuple[str, np.ndarray | None]:
    """(sha256 of the file, decoded RGB uint8 or None). Cached: a drawn cover
    is read once by :meth:`CoverFolder.sample` and again by :func:`load_cover`."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read cover file {path}: {e.strerror or e}") from None
    img = _decode(data) if data else None
    if img is not None:
        img.setflags(write=False)
    return hashlib.sha256(data).hexdigest(), img


def _decode(data: bytes) -> np.ndarray | None:
    """Decode image bytes to RGB uint8, or None."""
    import io

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.seek(0)
            return np.asarray(im.convert("RGB"))
    except Exception:  # noqa: BLE001 - any decoder failure means "unusable file"
        return None


def _fit(src: np.ndarray, h: int, w: int) -> np.ndarray:
    """Centre-crop to the aspect ratio w/h, then resize (area averaging when shrinking)."""
    sh, sw = src.shape[:2]
    if sw * h > sh * w:  # too wide
        cw = max(1, round(sh * w / h))
        x0 = (sw - cw) // 2
        src = src[:, x0 : x0 + cw]
    else:
        ch = max(1, round(sw * h / w))
        y0 = (sh - ch) // 2
        src = src[y0 : y0 + ch]
    interp = cv2.INTER_AREA if src.shape[0] >= h else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(src), (w, h), interpolation=interp)


class CoverFolder:
    """A folder of cover images to draw from (``--covers DIR``).

    The folder is scanned once (recursively, sorted, so draws are
    deterministic); files whose header cannot be read are skipped and
    counted. A file that passes the scan but fails to decode when drawn is
    replaced by the next file in sorted order.

    Raises
    ------
    ValueError
        The folder does not exist or holds no usable image.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = str(Path(root).resolve())
        if not Path(self.root).is_dir():
            raise ValueError(f"covers folder {root} does not exist or is not a folder")
        files, skipped = [], 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.lower().endswith(COVER_EXTENSIONS):
                    continue
                p = Path(dirpath) / name
                try:
                    with Image.open(p) as im:
                        ok = im.size[0] >= 8 and im.size[1] >= 8
                except Exception:  # noqa: BLE001 - unreadable header
                    ok = False
                if ok:
                    files.append(str(p.relative_to(self.root)))
                else:
                    skipped += 1
        files.sort()
        if skipped:
            _log.warning("covers folder %s: skipped %d unreadable file(s)", self.root, skipped)
        if not files:
            raise ValueError(f"covers folder {root} holds no readable image ({', '.join(COVER_EXTENSIONS)})")
        self.files = tuple(files)
        self.skipped = skipped

    def __len__(self) -> int:
        return len(self.files)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw a cover description ``{"kind": "file", "path", "sha256"}``."""
        start = int(rng.integers(len(self.files)))
        for k in range(len(self.files)):
            rel = self.files[(start + k) % len(self.files)]
            try:
                digest, img = _read_image(str(Path(self.root) / rel))
            except ValueError:
                img = None
            if img is not None:
                return {"kind": "file", "path": rel, "sha256": digest}
            _log.warning("covers folder %s: skipping undecodable file %s", self.root, rel)
        raise ValueError(f"covers folder {self.root} holds no decodable image")


# ---------------------------------------------------------------- occluder textures


def texture_size(size: tuple[int, int]) -> int:
    """Side of the square occluder textures for images of ``size`` = (H, W).

    ``clip(max(H, W) // 2, 128, 1024)``: an occluder never covers much more
    than half the image, so this keeps texels close to pixel size.
    """
    return int(min(1024, max(128, max(int(size[0]), int(size[1])) // 2)))


def load_texture(desc: dict[str, Any], size: int) -> np.ndarray:
    """Materialise an occluder texture description as a square image.

    Parameters
    ----------
    desc : dict
        ``{"kind": "cover", "seed"}`` or a pattern ``{"kind": "stripes" |
        "checker" | "noise" | "solid", "colors", "frequency", "angle_deg",
        "seed"}`` (see :mod:`generators.shared.coverscene.scene`).
    size : int
        Side in pixels (see :func:`texture_size`).

    Returns
    -------
    ndarray
        ``(size, size, 3)`` uint8 sRGB. Treat as read-only (cached).
    """
    key = (desc["kind"], int(desc.get("seed", 0)), int(size))
    if desc["kind"] == "cover":
        return _cover_texture(key[1], key[2])
    colors = tuple(tuple(float(c) for c in col) for col in desc["colors"])
    return _pattern(desc["kind"], colors, float(desc["frequency"]), float(desc["angle_deg"]), key[1], key[2])


def _cover_texture(seed: int, size: int) -> np.ndarray:
    # Occluder cover seeds come from a pool of 512 (scene.OCCLUDER_COVER_POOL):
    # cache them all at ordinary texture sizes (512 x 128^2 x 3 bytes = 25 MB).
    if size <= 256:
        return _cover_texture_cached(seed, size)
    return _cover_texture_big(seed, size)


def _draw_readonly(seed: int, size: int) -> np.ndarray:
    out = draw_procedural_cover(seed, (size, size))
    out.setflags(write=False)
    return out


_cover_texture_cached = functools.lru_cache(maxsize=512)(_draw_readonly)
_cover_texture_big = functools.lru_cache(maxsize=8)(_draw_readonly)


def _pattern(kind: str, colors, freq: float, angle_deg: float, seed: int, size: int) -> np.ndarray:
    c0 = np.array(colors[0], np.float32) * 255
    c1 = np.array(colors[1], np.float32) * 255
    if kind == "solid":
        out = np.empty((size, size, 3), np.uint8)
        out[:] = np.clip(c0 + 0.5, 0, 255).astype(np.uint8)
        return out
    if kind == "noise":
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7E7]))
        t = _smooth_noise(size, size, rng, max(2, int(freq)))
    else:
        a = math.radians(angle_deg)
        coord = np.arange(size, dtype=np.float32) / size
        u = coord[None, :] * math.cos(a) + coord[:, None] * math.sin(a)
        if kind == "stripes":
            t = np.floor(u * (2 * freq)) % 2
        elif kind == "checker":
            v = coord[:, None] * math.cos(a) - coord[None, :] * math.sin(a)
            t = (np.floor(u * freq) + np.floor(v * freq)) % 2
        else:
            raise ValueError(f"unknown texture kind {kind!r}")
    lut = np.clip(c0[None] * (1 - np.linspace(0, 1, 256, dtype=np.float32)[:, None])
                  + c1[None] * np.linspace(0, 1, 256, dtype=np.float32)[:, None] + 0.5, 0, 255).astype(np.uint8)
    return lut[np.clip(t * 255 + 0.5, 0, 255).astype(np.uint8)]
