"""litellm, imported once and set up for production.

litellm fetches its price map from the internet at import unless told not to,
takes seconds to import, and logs loudly; every module gets it from here.
"""

from __future__ import annotations

import functools
import logging
import os
from types import ModuleType


@functools.cache
def configured_litellm() -> ModuleType:
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("LITELLM_LOG", "ERROR")

    import litellm

    litellm.drop_params = True  # a provider that lacks a parameter ignores it
    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.num_retries = 0  # retries are ours, bounded by our own deadlines
    # token_counter would fetch some models' tokenizers from Hugging Face at run
    # time; tiktoken's estimate is close enough for trimming a history
    litellm.disable_hf_tokenizer_download = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return litellm
