"""anyhand-hf: synthetic RGB-D hand data (AnyHand) and AnyHandNet-D in the Hugging Face ecosystem."""

__version__ = "0.1.0"
