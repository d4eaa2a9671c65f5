"""Dataset rows: the v1 schema, and encoding and decoding of images, depth and masks."""

from .codecs import decode_depth_png, decode_mask_png, encode_depth_png, encode_image, encode_mask_png
from .realsets import load_freihand, load_ho3d
from .schema import COLUMNS, FEATURES, decode_row, encode_row

__all__ = ["COLUMNS", "FEATURES", "decode_depth_png", "decode_mask_png", "decode_row", "encode_depth_png",
           "encode_image", "encode_mask_png", "encode_row", "load_freihand", "load_ho3d"]
