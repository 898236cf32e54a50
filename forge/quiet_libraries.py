"""Silencing the ML libraries' own output (loading bars, deprecation chatter) under forge's one-line results.

Its own module so that model loading and model import, which import each other's functions, both call it.
"""

from __future__ import annotations

import warnings


def quiet_transformers() -> None:
    """Loading bars and deprecation chatter would bury forge's own one-line output."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    warnings.filterwarnings("ignore", category=UserWarning, module="peft")
    # peft asks the deprecated name on every adapter load; it is transformers' to rename, not the user's
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
