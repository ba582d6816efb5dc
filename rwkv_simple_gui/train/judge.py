"""Judging a run while it trains: the held-out documents whose loss is measured, and the prompts it answers.

Evaluations run between optimizer steps, in eval mode, without gradients and without drawing random numbers,
so a run that evaluates follows the same trajectory as one that does not (and an exact resume stays exact).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from rwkv_simple_gui.data import template
from rwkv_simple_gui.peft.methods import method

from .data import Batch, Documents, MaskBuilder
from .preference import Pairs

PROMPT_FIELDS = ("prompt", "text")
SAMPLE_TRAINED, SAMPLE_HELD = 3, 2  # questions of the data the samples panel asks: trained ones, held-out ones
_SCAN_DOCS, _SCAN_TOKENS = 200, 4096  # how much of the data the default prompts are looked for in


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
    prompts = [_json_prompt(path, n, line) if as_json else line.strip()
               for n, line in enumerate(lines, 1) if line.strip()]
    if not prompts:
        raise ValueError(f"sample_prompts {path}: holds no prompt; write one per line")
    return prompts


def _json_prompt(path: Path, n: int, line: str) -> str:
    """The prompt of line ``n`` of a jsonl prompts file: its "prompt" or else its "text" field."""
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
    return value


@dataclass(frozen=True)
class Question:
    """The last question of a training conversation: the turns before it (System included) as chat messages,
    the question, its trained answer, the document it comes from and whether that one was held out."""

    doc: int
    history: tuple
    question: str
    answer: str
    held_out: bool = False

    @property
    def asked(self) -> tuple:
        """Every User turn of the conversation, in order, the last one being :attr:`question`."""
        return tuple(m["content"] for m in self.history if m["role"] == "user") + (self.question,)


def chat_prompt(history, question: str) -> str:
    """The text Chat sends to ask ``question`` after ``history`` (chat messages): the one template's rendering,
    so the samples and the recall check ask exactly as the Chat tab does."""
    return template.chat_prompt(history, question)


def conversation(text: str) -> list[tuple[str, str]]:
    """(role, text) of each turn of a rendered conversation; text before the first role header is left out."""
    return [(span.role, text[span.body:span.end].strip()) for span in template.role_spans(text) if span.role]


def doc_question(ds, tokenizer, doc: int, held_out: bool = False) -> Question | None:
    """The question of document ``doc``: its last User turn followed by an Assistant turn (None when it has
    none, e.g. plain text)."""
    turns = conversation(tokenizer.decode(np.asarray(ds[doc][:_SCAN_TOKENS]).tolist()))
    last = max((i for i in range(1, len(turns)) if turns[i][0] == template.ASSISTANT and
                turns[i - 1][0] == template.USER and turns[i][1]), default=None)
    if last is None:
        return None
    history = tuple({"role": role.lower(), "content": text} for role, text in turns[:last - 1])
    return Question(int(doc), history, turns[last - 1][1], turns[last][1], held_out)


def pick_questions(ds, tokenizer, train_docs, held_docs, trained: int, held: int) -> list[Question]:
    """Up to ``trained`` questions of training documents, spread over the dataset, then up to ``held`` of the
    held-out ones (distinct questions only)."""
    found: list[Question] = []
    for docs, limit, held_out in ((train_docs, trained, False), (held_docs, held, True)):
        docs = np.asarray(docs)
        scan = docs[np.linspace(0, len(docs) - 1, min(len(docs), limit * 4, _SCAN_DOCS)).round().astype(int)] \
            if len(docs) else docs
        mine = []
        for doc in dict.fromkeys(int(d) for d in scan):
            q = doc_question(ds, tokenizer, doc, held_out)
            if q is not None and all(q.asked != other.asked for other in found + mine):
                mine.append(q)
            if len(mine) == limit:
                break
        found += mine
    return found


def sample_prompt(question: Question) -> str:
    """A sample question asked as Chat asks it, the conversation's earlier turns (System too) before it."""
    return chat_prompt(list(question.history), question.question)


def as_chat(prompt: str, chat: bool) -> str:
    """A plain question of a sample_prompts file asked as Chat asks it when the data is a chat (a prompt already
    in the template's layout is kept)."""
    if not chat or template.first_stop("\n\n" + prompt) >= 0:
        return prompt
    return chat_prompt([], prompt)


def decodable_ids(tokenizer) -> int:
    """How many ids, from 0, the tokenizer turns into text: the World vocabulary lists 65529 tokens after the
    end-of-text id 0, although its models have 65536 output rows."""
    from rwkv_simple_gui.data import tokenizer as tok

    if isinstance(tokenizer, tok.WorldTokenizer):
        return len(tok._world_vocab_bytes().lines) + 1
    return tokenizer.vocab_size


def greedy_answer(forward: Callable, tokenizer, prompt: str, max_tokens: int, device) -> str:
    """The model's greedy continuation of ``prompt``, token by token with its recurrent state, up to
    ``max_tokens`` tokens, the end-of-text id 0 or the role header of a next turn (Chat's stop strings).

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
        if template.first_stop(tokenizer.decode(out[-8:])) >= 0:  # (a stop string spans a few tokens)
            break
        logits, state = forward(torch.tensor([[token]], device=device), state)
    return template.cut_at_stop(tokenizer.decode(out)).strip()


# --- did it learn? ---------------------------------------------------------------------------------------

RECALL_TRAINED, RECALL_HELD = 100, 20  # questions asked at the end of a run: trained ones, held-out ones
LEARNED, PARTLY = 0.8, 0.3  # shares of trained answers recalled: learned, learned part, learned (almost) nothing
_ANSWER_MARGIN = 8  # tokens beyond the trained answer's length a reply may run to


_BATCH = 32  # replies generated together


def greedy_answers(forward: Callable, tokenizer, prompts: list[str], max_tokens: list[int], device) -> list[str]:
    """:func:`greedy_answer` of many prompts: each prompt is read on its own, then the replies are generated
    together, one batched forward per token (a row leaves the batch when its reply ends)."""
    replies: list[str] = []
    for start in range(0, len(prompts), _BATCH):
        replies += _greedy_batch(forward, tokenizer, prompts[start:start + _BATCH],
                                 max_tokens[start:start + _BATCH], device)
    return replies


def _greedy_batch(forward, tokenizer, prompts, max_tokens, device) -> list[str]:
    logits, state = _read_each(forward, tokenizer, prompts, device)
    limit = min(logits.shape[-1], decodable_ids(tokenizer))
    out: list[list[int]] = [[] for _ in prompts]
    alive = list(range(len(prompts)))  # the prompt of each row of the batch
    while alive:
        tokens = logits[:, :limit].float().argmax(-1).tolist()
        going = _extend_replies(tokenizer, out, alive, tokens, max_tokens)
        if not going:
            break
        keep = torch.tensor(going, device=logits.device)
        state = [tuple(t[keep] for t in layer) for layer in state]
        alive = [alive[row] for row in going]
        logits, state = forward(torch.tensor([[tokens[row]] for row in going], device=device), state)
        logits = logits[:, -1]
    return [template.cut_at_stop(tokenizer.decode(o)).strip() for o in out]


def _read_each(forward, tokenizer, prompts, device) -> tuple[torch.Tensor, list]:
    """Each prompt read on its own (their lengths differ): the last logits of each and their states, stacked
    into one batch, a row per prompt."""
    firsts, states = [], []
    for prompt in prompts:
        logits, state = forward(torch.tensor([tokenizer.encode(prompt) or [0]], device=device), None)
        firsts.append(logits[:, -1])
        states.append(state)
    state = [tuple(torch.cat([s[layer][k] for s in states]) for k in range(len(states[0][layer])))
             for layer in range(len(states[0]))]
    return torch.cat(firsts), state


def _extend_replies(tokenizer, out: list[list[int]], alive: list[int], tokens: list[int],
                    max_tokens: list[int]) -> list[int]:
    """Append each row's token to its prompt's reply; the rows whose reply goes on (not ended by the end-of-text
    id, its token limit or a stop string)."""
    going = []
    for row, i in enumerate(alive):
        if tokens[row] == 0 or len(out[i]) >= max_tokens[i]:
            continue
        out[i].append(tokens[row])
        if template.first_stop(tokenizer.decode(out[i][-8:])) < 0:  # (a stop string spans a few tokens)
            going.append(row)
    return going


def recalled(answer: str, reply: str) -> bool:
    """Whether ``reply`` gives back the trained ``answer`` word for word (what follows it, and spacing, aside):
    a prefix would not do, answers about one subject often start alike ("The mayor of ... is ...")."""
    return " ".join(reply.split()).startswith(" ".join(answer.split()))


def recall_rows(forward: Callable, tokenizer, questions: list[Question], device) -> list[dict]:
    """Ask each question as in Chat, greedy: every User turn of its conversation in order, with the model's own
    earlier replies as the history (the System turn kept); one row per question: doc, held_out, turns,
    question, answer, reply, recalled."""
    histories = [[m for m in q.history if m["role"] == "system"] for q in questions]
    limits = [_reply_limit(tokenizer, q) for q in questions]
    replies = [""] * len(questions)
    for turn in range(max((len(q.asked) for q in questions), default=0)):
        rows = [i for i, q in enumerate(questions) if turn < len(q.asked)]
        asked = [questions[i].asked[turn] for i in rows]
        got = greedy_answers(forward, tokenizer, [chat_prompt(histories[i], a) for i, a in zip(rows, asked)],
                             [limits[i] for i in rows], device)
        for i, a, reply in zip(rows, asked, got):
            histories[i] += [{"role": "user", "content": a}, {"role": "assistant", "content": reply}]
            replies[i] = reply
    return [{"doc": q.doc, "held_out": q.held_out, "turns": len(q.asked), "question": q.question, "answer": q.answer,
             "reply": reply, "recalled": recalled(q.answer, reply)} for q, reply in zip(questions, replies)]


def _reply_limit(tokenizer, question: Question) -> int:
    """How many tokens a reply to ``question`` may run to: its longest Assistant turn and a margin."""
    replies = [*question.history, {"role": "assistant", "content": question.answer}]
    return max(len(tokenizer.encode(m["content"])) for m in replies if m["role"] == "assistant") + _ANSWER_MARGIN


def recall_summary(rows: list[dict]) -> dict:
    """Counts of a recall check: trained and held-out questions asked and recalled, and the trained share."""
    trained = [r for r in rows if not r["held_out"]]
    held = [r for r in rows if r["held_out"]]
    hits = sum(r["recalled"] for r in trained)
    return {"recall": hits / len(trained) if trained else None, "recall_hits": hits, "recall_asked": len(trained),
            "held_out_hits": sum(r["recalled"] for r in held), "held_out_asked": len(held)}


def verdict(summary: dict, cfg) -> list[str]:
    """Did it learn, in words, with the likely fix when it did not."""
    asked, hits = summary["recall_asked"], summary["recall_hits"]
    if not asked:
        return ["No recall check: the data has no User/Assistant conversations to ask."]
    share = hits / asked
    out = [f"Did it learn? {hits} of {asked} trained answers come back word for word ({share:.0%}), asked greedy "
           f"as Chat asks."]
    if not method(cfg.finetune_mode).recalls:
        out.append("State tuning learns a style or a role, not answers: judge it in Chat.")
    elif share < PARTLY:
        out.append(f"It learned (almost) nothing. Likely fix: more steps (epoch_count {cfg.epoch_count} -> "
                   f"{cfg.epoch_count * 2}) or a higher learning rate (lr_init {cfg.lr_init:g} -> "
                   f"{cfg.lr_init * 2:g}); the Parameters check says how many passes this method needs.")
    elif share < LEARNED:
        out.append(f"It learned part of the data. Likely fix: more passes over it (epoch_count {cfg.epoch_count} -> "
                   f"{round(cfg.epoch_count * 1.5)}).")
    else:
        out.append("It learned the trained answers.")
    if summary["held_out_asked"]:
        out.append(f"Held out, never trained: {summary['held_out_hits']} of {summary['held_out_asked']} come back "
                   f"(a held-out fact cannot be learned from the others).")
    return out
