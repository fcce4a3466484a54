"""Semantic classes of the street scenes: the CARLA 0.9.16 tag table and the MICC-SRI reduction.

CARLA's semantic camera writes the tag of each pixel in the red channel of
its BGRA image (``carla.CityObjectLabel``); the colours below are CARLA's
CityScapes palette, for display only (never decode tags from them).

MICC-SRI (Berlincioni et al., ChaLearn LAP 2018) keeps dynamic classes
D = {Person, Car} and static classes S = {Road, Sidewalk, Building, Fence,
Pole, Vegetation, Unlabeled}; :data:`CARLA_TO_MICC` is the one table that
maps every CARLA tag onto them (road lines are road, walls are buildings,
guard rails are fences, traffic lights and signs are poles, terrain is
vegetation, riders and pedestrians are persons, every vehicle is a car, the
rest is unlabeled).
"""

from __future__ import annotations

import numpy as np

from generators.task import LabelClass

__all__ = ["CARLA_CLASSES", "MICC_CLASSES", "CARLA_TO_MICC", "DYNAMIC", "class_table", "to_micc", "decode_carla_bgra"]

CARLA_CLASSES: tuple[LabelClass, ...] = tuple(LabelClass(i, n, c) for i, n, c in (
    (0, "Unlabeled", (0, 0, 0)), (1, "Roads", (128, 64, 128)), (2, "SideWalks", (244, 35, 232)),
    (3, "Building", (70, 70, 70)), (4, "Wall", (102, 102, 156)), (5, "Fence", (190, 153, 153)),
    (6, "Pole", (153, 153, 153)), (7, "TrafficLight", (250, 170, 30)), (8, "TrafficSign", (220, 220, 0)),
    (9, "Vegetation", (107, 142, 35)), (10, "Terrain", (152, 251, 152)), (11, "Sky", (70, 130, 180)),
    (12, "Pedestrian", (220, 20, 60)), (13, "Rider", (255, 0, 0)), (14, "Car", (0, 0, 142)),
    (15, "Truck", (0, 0, 70)), (16, "Bus", (0, 60, 100)), (17, "Train", (0, 80, 100)),
    (18, "Motorcycle", (0, 0, 230)), (19, "Bicycle", (119, 11, 32)), (20, "Static", (110, 190, 160)),
    (21, "Dynamic", (170, 120, 50)), (22, "Other", (55, 90, 80)), (23, "Water", (45, 60, 150)),
    (24, "RoadLine", (157, 234, 50)), (25, "Ground", (81, 0, 81)), (26, "Bridge", (150, 100, 100)),
    (27, "RailTrack", (230, 150, 140)), (28, "GuardRail", (180, 165, 180)),
))
CARLA_DYNAMIC = (12, 13, 14, 15, 16, 17, 18, 19, 21)

MICC_CLASSES: tuple[LabelClass, ...] = tuple(LabelClass(i, n, c) for i, n, c in (
    (0, "Unlabeled", (0, 0, 0)), (1, "Road", (128, 64, 128)), (2, "Sidewalk", (244, 35, 232)),
    (3, "Building", (70, 70, 70)), (4, "Fence", (190, 153, 153)), (5, "Pole", (153, 153, 153)),
    (6, "Vegetation", (107, 142, 35)), (7, "Person", (220, 20, 60)), (8, "Car", (0, 0, 142)),
))
MICC_DYNAMIC = (7, 8)

_MAP = {0: 0, 1: 1, 24: 1, 2: 2, 3: 3, 4: 3, 5: 4, 28: 4, 6: 5, 7: 5, 8: 5, 9: 6, 10: 6,
        12: 7, 13: 7, 14: 8, 15: 8, 16: 8, 17: 8, 18: 8, 19: 8}
CARLA_TO_MICC = np.zeros(256, np.uint8)  # every other tag (sky, static, dynamic props, water ...) -> Unlabeled
for _k, _v in _MAP.items():
    CARLA_TO_MICC[_k] = _v
DYNAMIC = {"micc": MICC_DYNAMIC, "carla": CARLA_DYNAMIC}


def class_table(kind: str) -> tuple[LabelClass, ...]:
    """``"micc"`` or ``"carla"``."""
    if kind not in DYNAMIC:
        raise ValueError(f"unknown class set {kind!r}; choose from ['carla', 'micc']")
    return MICC_CLASSES if kind == "micc" else CARLA_CLASSES


def to_micc(tags: np.ndarray) -> np.ndarray:
    """CARLA tags (uint8) -> MICC-SRI class ids (uint8)."""
    tags = np.asarray(tags, np.uint8)
    if tags.ndim == 2 and tags.size:
        import cv2

        return cv2.LUT(np.ascontiguousarray(tags), CARLA_TO_MICC)  # the same table, several times faster
    return CARLA_TO_MICC[tags]


def decode_carla_bgra(raw: bytes | np.ndarray, height: int, width: int) -> np.ndarray:
    """Tags of a CARLA semantic image: the red channel of its BGRA ``raw_data``.

    Never convert the image with ``carla.ColorConverter.CityScapesPalette``
    first: that replaces the tags by display colours.
    """
    a = np.frombuffer(bytes(raw) if not isinstance(raw, np.ndarray) else raw.tobytes(), np.uint8)
    if a.size != height * width * 4:
        raise ValueError(f"semantic image has {a.size} bytes, expected {height}x{width}x4 = {height * width * 4}")
    tags = a.reshape(height, width, 4)[:, :, 2].copy()
    if tags.max() > 28:
        raise ValueError(f"tag {int(tags.max())} is not a CARLA 0.9.16 semantic tag (0..28): palette-converted image?")
    return tags
