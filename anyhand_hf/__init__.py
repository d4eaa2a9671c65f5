"""anyhand-hf: synthetic RGB-D hand data (AnyHand) and AnyHandNet-D in the Hugging Face ecosystem."""

__version__ = "0.1.0"

try:  # `AutoConfig`/`AutoModel` know "anyhand" once the package is imported (train extra)
    from anyhand_hf.modeling import register_auto_classes

    register_auto_classes()
except ImportError:  # transformers is not installed
    pass
