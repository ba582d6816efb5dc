"""Fold a training checkpoint into its base model (streaming, any size) and write it out."""

from .errors import MergeError
from .merger import DTYPES, FORMATS, GGUF_TYPES, QUANTS, MergeResult, merge
from .plan import (
                   CheckpointPlan,
                   checkpoint_method,
                   default_output,
                   inspect,
                   method_note,
                   open_checkpoint,
                   plan_checkpoint,
)

__all__ = ["CheckpointPlan", "DTYPES", "FORMATS", "GGUF_TYPES", "MergeError", "MergeResult", "QUANTS",
           "checkpoint_method", "default_output", "inspect", "merge", "method_note", "open_checkpoint",
           "plan_checkpoint"]
