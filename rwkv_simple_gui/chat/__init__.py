"""Chat with a (merged) model through the ``rwkv`` pip package, in a worker process."""

from rwkv_simple_gui.chat.prompt import STOP_STRINGS, SamplingParams, build_prompt
from rwkv_simple_gui.chat.worker import ChatError, ChatWorker, available_strategies, inspect_model

__all__ = ["STOP_STRINGS", "ChatError", "ChatWorker", "SamplingParams", "available_strategies", "build_prompt",
           "inspect_model"]
