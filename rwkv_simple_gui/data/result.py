"""What a tokenize run produced (:class:`TokenizeResult`): the CLI's ``--json``, the report and the Tokenize tab
read it; data/pipeline.py makes one for documents, data/preference.py its pair form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .formats import DatasetFormat
from .schemas import BadRecord

MAX_BAD_KEPT = 100  # bad records kept (with their line and reason) to show; all are counted


@dataclass
class TokenizeResult:
    """What a run produced. ``lengths`` are the token counts of every valid source document (EOF
    included when ``eof``), in file order, before the ``max_tokens`` filter: the UI's histogram."""

    prefix: Path
    tokens: int
    items: int
    documents: int
    dropped: int
    skipped_bad: int
    bad: list[BadRecord]
    max_length: int
    max_length_power_of_two: int
    data_line_count: int
    factors: list[dict]  # stats.factor_table rows: count, micro_bsz, epoch_steps
    lengths: np.ndarray
    format: DatasetFormat
    tokenizer: dict
    backend: str
    eof: bool
    copies: int
    seed: int
    max_tokens: int
    workers: int
    seconds: float
    unused: dict[str, int] = field(default_factory=dict)  # fields with data the text does not use -> records
    # the longest conversation (User turns) and the replies with a think block: what Chat fits itself to
    conversations: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "items": self.items,
            "dropped": self.dropped,
            "max_length": self.max_length,
            "max_length_power_of_two": self.max_length_power_of_two,
            "data_line_count": self.data_line_count,
            "factors": self.factors,
            "documents": self.documents,
            "skipped_bad": self.skipped_bad,
            "bad": [{"line": b.line, "reason": b.reason} for b in self.bad],
            "prefix": str(self.prefix),
            "format": {"container": self.format.container, "schema": self.format.schema},
            "tokenizer": self.tokenizer,
            "backend": self.backend,
            "eof": self.eof,
            "copies": self.copies,
            "seed": self.seed,
            "max_tokens": self.max_tokens,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "unused": self.unused,
            "conversations": self.conversations,
        }
