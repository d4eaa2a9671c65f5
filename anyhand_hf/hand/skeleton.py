"""The hand skeleton: MANO's 16 joints and the 21 OpenPose/FreiHAND keypoints.

MANO orders joints wrist, index (1-3), middle (4-6), pinky (7-9), ring (10-12), thumb (13-15),
each from base to tip. OpenPose orders keypoints wrist, then thumb, index, middle, ring, pinky,
each base to tip with the fingertip last. Fingertips are mesh vertices, not skeleton joints.
"""

from __future__ import annotations

MANO_JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")  # OpenPose order
# MANO joint ids of each finger, base to tip.
FINGER_JOINTS: dict[str, tuple[int, int, int]] = {
    "thumb": (13, 14, 15), "index": (1, 2, 3), "middle": (4, 5, 6),
    "ring": (10, 11, 12), "pinky": (7, 8, 9),
}
# Fingertip vertices of the official MANO mesh (778 vertices), thumb..pinky.
MANO_TIP_VERTEX_IDS: tuple[int, ...] = (744, 320, 443, 554, 671)

# Index into concat(16 MANO joints, 5 tips in FINGERS order) giving OpenPose order.
OPENPOSE_FROM_MANO: tuple[int, ...] = (0,) + tuple(
    j for i, finger in enumerate(FINGERS) for j in (*FINGER_JOINTS[finger], 16 + i)
)
OPENPOSE_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}{k}" for finger in FINGERS for k in range(1, 5)
)
# Bones of the 21-keypoint skeleton as (parent, child) pairs, for drawing.
OPENPOSE_BONES: tuple[tuple[int, int], ...] = tuple(
    (0 if k == 0 else 1 + 4 * f + k - 1, 1 + 4 * f + k) for f in range(5) for k in range(4)
)
