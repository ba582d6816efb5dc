"""RWKV-7 (x070) and RWKV-6 (x060) in PyTorch: modules, wkv ops, checkpoint load/detect/save, init."""

from .checkpoint import detect, layer_count, load_model, parse_dtype, read_state_dict, save_model, version_hint
from .init import init_model
from .ops import resolve_op
from .rwkv import RWKV, ModelFormatError, ModelInfo

__all__ = ["RWKV", "ModelFormatError", "ModelInfo", "detect", "init_model", "layer_count", "load_model",
           "parse_dtype", "read_state_dict", "resolve_op", "save_model", "version_hint"]
