"""Image retrieval for reference-guided filling: SIFT bag of words, re-ranked by k-NN matching.

Pipeline (Sivic and Zisserman 2003, "Video Google"; Philbin et al. 2007 for
the spatial re-ranking):

1. *Features.* OpenCV SIFT (Lowe 2004) on the 8-bit grey image (at most
   ``N_FEATURES`` keypoints), descriptors turned into RootSIFT (L1-normalised,
   element-wise square root; Arandjelovic and Zisserman 2012). The query's
   keypoints are restricted to its visible object (``modal`` mask, eroded by
   ``_ERODE`` px so descriptors centred on the occluder's edge are dropped).
2. *Bag of words.* Each descriptor is assigned to its nearest visual word of a
   vocabulary of ``VOCAB_SIZE`` words (k-means, ``cv2.kmeans``, seeded) built
   from a *training* split of the coverrefs generator (seed 0, disjoint from
   the test split's seed), never from a test gallery; tf-idf weights with the
   idf of that training split; L2-normalised histograms; cosine similarity.
   The vocabulary ships as ``baselines/data/coverrefs_vocab.npz``; rebuild it
   with ``python -m baselines.retrieval --build-vocab`` (deterministic).
3. *k-NN re-ranking.* The ``RERANK`` best items by BoW are re-scored by
   matching: for every query descriptor its 2 nearest gallery descriptors
   (brute force, L2), Lowe's ratio test at ``RATIO``, then a RANSAC homography
   (``cv2.findHomography``, 4 px reprojection threshold, fixed seed); the new
   score is ``1 + inliers`` (so re-ranked items stay above the rest, whose
   score is the BoW cosine in [0, 1]).

:func:`rank_gallery` returns the scores and, for re-ranked items, the
estimated query -> gallery homographies and inlier counts, which the
stitching baseline (:mod:`baselines.stitching`) reuses.
"""

from __future__ import annotations

import argparse
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["N_FEATURES", "VOCAB_SIZE", "RERANK", "RATIO", "Features", "sift_features", "Vocabulary",
           "load_vocabulary", "build_vocabulary", "Ranking", "rank_gallery", "match_homography", "main"]

N_FEATURES = 600
VOCAB_SIZE = 256
RERANK = 5
RATIO = 0.8
MIN_MATCHES = 8
RANSAC_PX = 4.0
_ERODE = 2
VOCAB_PATH = Path(__file__).resolve().parent / "data" / "coverrefs_vocab.npz"


@dataclass(frozen=True)
class Features:
    """Keypoint positions (N, 2) float32 (x, y) and RootSIFT descriptors (N, 128) float32."""

    xy: np.ndarray
    desc: np.ndarray


@functools.lru_cache(maxsize=1)
def _sift():
    return cv2.SIFT_create(nfeatures=N_FEATURES)


def sift_features(image: np.ndarray, mask: np.ndarray | None = None) -> Features:
    """SIFT keypoints and RootSIFT descriptors of an (H, W, 3) float32 [0, 1] image, inside ``mask``."""
    grey = cv2.cvtColor(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    m8 = None if mask is None else mask.astype(np.uint8) * 255
    kps, desc = _sift().detectAndCompute(grey, m8)
    if desc is None or not kps:
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))
    desc = desc.astype(np.float32)
    desc /= np.maximum(desc.sum(axis=1, keepdims=True), 1e-12)
    return Features(np.array([k.pt for k in kps], np.float32), np.sqrt(desc).astype(np.float32))


def query_features(image: np.ndarray, modal: np.ndarray) -> Features:
    """The query's features on its visible object (``modal`` eroded by ``_ERODE`` px)."""
    k = np.ones((2 * _ERODE + 1, 2 * _ERODE + 1), np.uint8)
    return sift_features(image, cv2.erode(modal.astype(np.uint8), k).astype(bool))


@dataclass(frozen=True)
class Vocabulary:
    """Visual words (V, 128) float32 and their idf weights (V,) float32."""

    words: np.ndarray
    idf: np.ndarray

    def histogram(self, f: Features) -> np.ndarray:
        """L2-normalised tf-idf histogram (V,) of ``f`` (zeros without descriptors)."""
        hist = np.zeros(len(self.words), np.float64)
        if len(f.desc):
            d2 = (f.desc**2).sum(1)[:, None] - 2 * f.desc @ self.words.T + (self.words**2).sum(1)[None]
            np.add.at(hist, np.argmin(d2, axis=1), 1.0)
        hist *= self.idf
        n = np.linalg.norm(hist)
        return hist / n if n > 0 else hist


@functools.lru_cache(maxsize=2)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """The shipped vocabulary (or the one at ``path``); ValueError naming the file when unreadable."""
    p = Path(path) if path else VOCAB_PATH
    try:
        with np.load(p) as z:
            return Vocabulary(z["words"].astype(np.float32), z["idf"].astype(np.float32))
    except (OSError, KeyError, ValueError) as e:
        raise ValueError(f"{p}: not a readable vocabulary ({type(e).__name__}); "
                         "rebuild it with python -m baselines.retrieval --build-vocab") from None


def match_homography(q: Features, g: Features, *, seed: int = 0) -> tuple[np.ndarray | None, int]:
    """Query -> gallery homography from ratio-tested 2-NN matches and RANSAC; ``(H or None, inliers)``."""
    if len(q.desc) < MIN_MATCHES or len(g.desc) < 2:
        return None, 0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(q.desc, g.desc, k=2)
    good = [a for a, b in (p for p in pairs if len(p) == 2) if a.distance < RATIO * b.distance]
    if len(good) < MIN_MATCHES:
        return None, 0
    src = q.xy[[m.queryIdx for m in good]]
    dst = g.xy[[m.trainIdx for m in good]]
    cv2.setRNGSeed(seed)
    h, inl = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_PX, maxIters=2000, confidence=0.995)
    if h is None or inl is None or not np.isfinite(h).all():
        return None, 0
    return h / h[2, 2], int(inl.sum())


@dataclass(frozen=True)
class Ranking:
    """``scores`` (K,) (higher = more similar); ``homographies`` (K, 3, 3) query -> gallery, NaN where
    not estimated; ``inliers`` (K,) int (0 where not re-ranked)."""

    scores: np.ndarray
    homographies: np.ndarray
    inliers: np.ndarray

    def order(self) -> np.ndarray:
        return np.argsort(-self.scores, kind="stable")


def rank_gallery(image: np.ndarray, modal: np.ndarray, gallery: np.ndarray, *, vocab: Vocabulary | None = None,
                 rerank: int = RERANK) -> Ranking:
    """Rank the (K, H, W, 3) gallery against the query's visible object (see the module docstring)."""
    vocab = vocab or load_vocabulary()
    q = query_features(image, modal)
    feats = [sift_features(g) for g in gallery]
    hq = vocab.histogram(q)
    scores = np.array([float(hq @ vocab.histogram(f)) for f in feats])
    homs = np.full((len(gallery), 3, 3), np.nan)
    inliers = np.zeros(len(gallery), np.int64)
    for g in np.argsort(-scores, kind="stable")[: int(rerank)]:
        h, n = match_homography(q, feats[g])
        inliers[g] = n
        if h is not None:
            homs[g] = h
        scores[g] = 1.0 + n
    return Ranking(scores, homs, inliers)


# ---------------------------------------------------------------- building the vocabulary


def build_vocabulary(*, n: int = 120, seed: int = 0, size: int = 256, words: int = VOCAB_SIZE,
                     max_desc: int = 60000) -> Vocabulary:
    """k-means words and idf from ``n`` training queries (and their galleries) of coverrefs, seed ``seed``.

    Deterministic: samples ``0..n-1`` of the seed, descriptors subsampled to
    ``max_desc`` with a fixed generator, ``cv2.kmeans`` with a fixed RNG seed
    and k-means++ centres.
    """
    from generators.coverrefs import make_task
    from generators.task import sample_rng

    task = make_task(size=size)
    docs: list[np.ndarray] = []
    for i in range(n):
        s = task.make_sample(sample_rng(seed, i))
        docs.append(query_features(s.inputs["image"], s.inputs["modal"]).desc)
        docs.extend(sift_features(g).desc for g in s.inputs["gallery"])
    allv = np.concatenate([d for d in docs if len(d)])
    pick = np.random.default_rng(seed).permutation(len(allv))[:max_desc]
    cv2.setRNGSeed(seed)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-4)
    _, _, centres = cv2.kmeans(np.ascontiguousarray(allv[pick]), words, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    vocab = Vocabulary(centres.astype(np.float32), np.ones(words, np.float32))
    df = np.zeros(words)
    for d in docs:
        if len(d):
            d2 = (d**2).sum(1)[:, None] - 2 * d @ vocab.words.T + (vocab.words**2).sum(1)[None]
            df[np.unique(np.argmin(d2, axis=1))] += 1
    idf = np.log(len(docs) / (1.0 + df)).clip(min=0.0).astype(np.float32)
    return Vocabulary(vocab.words, idf)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m baselines.retrieval",
                                description="Build the coverrefs SIFT vocabulary from a training split.")
    p.add_argument("--build-vocab", action="store_true", required=True)
    p.add_argument("--out", default=str(VOCAB_PATH))
    p.add_argument("--n", type=int, default=120, help="training queries (default 120)")
    p.add_argument("--seed", type=int, default=0, help="training seed (< 1000 by convention)")
    args = p.parse_args(argv)
    if not 1 <= args.n <= 100000 or args.seed >= 1000 or args.seed < 0:
        print("error: --n must lie in 1..100000 and --seed in 0..999 (a training seed)", file=sys.stderr)
        return 2
    vocab = build_vocabulary(n=args.n, seed=args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez(tmp, words=vocab.words, idf=vocab.idf, n=np.array(args.n), seed=np.array(args.seed))
    tmp.replace(out)
    print(f"wrote {out}: {len(vocab.words)} words from {args.n} training queries (seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
