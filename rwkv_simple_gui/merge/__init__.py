"""Fold a training checkpoint into its base model (streaming, any size) and write it out."""

from .merger import DTYPES, FORMATS, QUANTS, MergeResult, merge
from .plan import CheckpointPlan, MergeError, checkpoint_method, default_output, inspect, plan_checkpoint

__all__ = ["CheckpointPlan", "DTYPES", "FORMATS", "MergeError", "MergeResult", "QUANTS", "checkpoint_method",
           "default_output", "inspect", "merge", "plan_checkpoint"]
