"""Dataset rows: encoding and decoding of images, depth and masks."""

from .codecs import decode_depth_png, decode_mask_png, encode_depth_png, encode_image, encode_mask_png

__all__ = ["decode_depth_png", "decode_mask_png", "encode_depth_png", "encode_image", "encode_mask_png"]
