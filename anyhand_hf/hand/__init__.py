"""The hand: a MANO-compatible layer, the open procedural hand, and pose/shape priors."""

from .io import HandFileError, check_hand_arrays, load_hand_arrays, mirror_hand_arrays
from .model import HandModel, HandOutput, open_hand_path
from .skeleton import MANO_JOINT_NAMES, MANO_PARENTS, OPENPOSE_BONES, OPENPOSE_FROM_MANO, OPENPOSE_NAMES

__all__ = [
    "HandFileError", "HandModel", "HandOutput", "MANO_JOINT_NAMES", "MANO_PARENTS", "OPENPOSE_BONES",
    "OPENPOSE_FROM_MANO", "OPENPOSE_NAMES", "check_hand_arrays", "load_hand_arrays", "mirror_hand_arrays",
    "open_hand_path",
]
