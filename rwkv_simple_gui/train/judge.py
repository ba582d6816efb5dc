"""Judging a run while it trains: the held-out documents whose loss is measured, and the prompts it answers.

Evaluations run between optimizer steps, in eval mode, without gradients and without drawing random numbers,
so a run that evaluates follows the same trajectory as one that does not (and an exact resume stays exact).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .data import Batch, Documents, MaskBuilder
from .preference import Pairs

STOP = "\n\nUser:"  # where a chat model begins the next turn: an answer ends there
PROMPT_FIELDS = ("prompt", "text")
DATA_PROMPTS = 3
_SCAN_DOCS, _SCAN_TOKENS = 200, 4096  # how much of the data the default prompts are looked for in
_USER_TURN = re.compile(r"(?:^|\n\n)User: ?(.*?)\n\nAssistant:", re.S)


class ValidationSet:
    """The held-out documents, cut and masked as the training documents are, split among the ranks.

    Every rank runs the same number of batches (a rank with fewer runs an empty one), because the forward of
    a ZeRO-3 model gathers parameters from all ranks."""

    def __init__(self, cfg, ds, docs, tokenizer_spec: str, rank: int, world: int):
        masks = MaskBuilder(cfg.loss_mask, tokenizer_spec, cfg.mask0, cfg.mask1)
        self.source = Pairs(ds, cfg.ctx_len, docs) if cfg.stage != "sft" else \
            Documents(ds, cfg.ctx_len, masks, pad_to_ctx=False, docs=docs)
        n, size = len(self.source), cfg.micro_bsz
        batches = [list(range(i, min(i + size, n))) for i in range(0, n, size)]
        self.mine, self.rounds = batches[rank::world], math.ceil(len(batches) / world)

    def __len__(self) -> int:
        return len(self.source)

    def batches(self):
        for i in range(self.rounds):
            if i < len(self.mine):
                yield self.source.batch(self.mine[i])
            else:
                empty = torch.zeros(1, 16, dtype=torch.long)
                yield Batch(empty, empty, torch.zeros(1, 16), 0)


def read_prompts(path) -> list[str]:
    """The prompts of a file: jsonl (a ``prompt`` or ``text`` field per line) or one prompt per line.
    ValueError names the file, the line and the fix."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"sample_prompts {path}: not UTF-8 text; save it as UTF-8") from None
    except OSError as e:
        raise ValueError(f"sample_prompts {path}: cannot be read ({e.strerror})") from None
    first = next((line for line in lines if line.strip()), "")
    as_json = path.suffix in (".jsonl", ".json") or first.lstrip().startswith("{")
    prompts = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if not as_json:
            prompts.append(line.strip())
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"sample_prompts {path} line {n}: not valid JSON ({e.msg}); write one JSON object per "
                             f'line with a "prompt" or "text" field, or one plain prompt per line in a .txt file') \
                from None
        value = next((obj[k] for k in PROMPT_FIELDS if isinstance(obj, dict) and isinstance(obj.get(k), str)), None)
        if not value or not value.strip():
            raise ValueError(f'sample_prompts {path} line {n}: no "prompt" or "text" field with text; write e.g. '
                             f'{{"prompt": "What is RWKV?"}}')
        prompts.append(value)
    if not prompts:
        raise ValueError(f"sample_prompts {path}: holds no prompt; write one per line")
    return prompts


def data_prompts(ds, tokenizer, limit: int = DATA_PROMPTS) -> list[str]:
    """The first ``limit`` distinct User turns of the data, each as ``User: ...\\n\\nAssistant:``."""
    found: list[str] = []
    for i in range(min(len(ds), _SCAN_DOCS)):
        text = tokenizer.decode(np.asarray(ds[i][:_SCAN_TOKENS]).tolist())
        for question in _USER_TURN.findall(text):
            prompt = f"User: {question.strip()}\n\nAssistant:"
            if question.strip() and prompt not in found:
                found.append(prompt)
            if len(found) == limit:
                return found
    return found


def as_chat(prompt: str, chat: bool) -> str:
    """A plain question asked the way the data's conversations are laid out (when the data is a chat)."""
    if chat and "Assistant:" not in prompt:
        return f"User: {prompt.strip()}\n\nAssistant:"
    return prompt


def decodable_ids(tokenizer) -> int:
    """How many ids, from 0, the tokenizer turns into text: the World vocabulary lists 65529 tokens after the
    end-of-text id 0, although its models have 65536 output rows."""
    from rwkv_simple_gui.data import tokenizer as tok

    if isinstance(tokenizer, tok.WorldTokenizer):
        return len(tok._world_vocab_bytes().lines) + 1
    return tokenizer.vocab_size


def greedy_answer(forward: Callable, tokenizer, prompt: str, max_tokens: int, device) -> str:
    """The model's greedy continuation of ``prompt``, token by token with its recurrent state, up to
    ``max_tokens`` tokens, the end-of-text id 0 or the start of a next ``User:`` turn.

    ``forward(ids[1, T], state) -> (logits[1, T, V], state)``."""
    ids = tokenizer.encode(prompt)
    if not ids:
        return ""
    logits, state = forward(torch.tensor([ids], device=device), None)
    limit = min(logits.shape[-1], decodable_ids(tokenizer))
    out: list[int] = []
    for _ in range(max_tokens):
        token = int(logits[0, -1, :limit].float().argmax())
        if token == 0:
            break
        out.append(token)
        if STOP in tokenizer.decode(out[-8:]):  # (a stop string spans a few tokens)
            break
        logits, state = forward(torch.tensor([[token]], device=device), state)
    text = tokenizer.decode(out)
    return text.split(STOP)[0]
