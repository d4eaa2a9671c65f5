"""AnyHand Space entry point: `python spaces/app.py` (or `anyhand space`) serves it on 127.0.0.1.

The model comes from $ANYHAND_MODEL (a Hub id or a local folder saved with save_pretrained);
MoGe-2 depth estimation from $ANYHAND_MOGE_WEIGHTS. The app itself lives in anyhand_hf.space.
"""

import os
from pathlib import Path

from anyhand_hf.space import SpaceModels, build_demo, launch

demo = build_demo(SpaceModels.load(), examples_dir=Path(__file__).parent / "examples")

if __name__ == "__main__":
    # Hugging Face Spaces set GRADIO_SERVER_NAME=0.0.0.0; locally the app stays on the loopback.
    launch(demo, host=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
