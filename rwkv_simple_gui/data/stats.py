"""Length statistics of a tokenized dataset and the MICRO_BSZ / EPOCH_STEPS factor table.

The factor table is the one the seed's ``make_tokenize.py`` prints: upstream pad/only data modes index
documents ``0 .. EPOCH_STEPS*MICRO_BSZ-1``, so a MICRO_BSZ that divides the item count exactly trains
on every item each epoch. The table covers the counts near the real one (±10) because adding or
removing a few lines is the seed's advice for a count with better divisors.
"""

from __future__ import annotations

import math

import numpy as np

FACTOR_SPAN = 10  # counts n-10 .. n+10, as make_tokenize.py since 2024-10
MAX_FACTORS = 20  # make_tokenize.py keeps the 20 smallest divisors


TOKEN_ALIGN = 16  # the chunked and fla WKV ops (and RWKV-7's CUDA kernels) work on multiples of 16 tokens


def align_tokens(n: int) -> int:
    """``n`` rounded up to a multiple of TOKEN_ALIGN (CTX_LEN must be one)."""
    return -(-int(n) // TOKEN_ALIGN) * TOKEN_ALIGN


def next_pow2(n: int) -> int:
    """The smallest power of two >= ``n`` (1 for n < 1), for FLA / infctx chunked training."""
    n = int(n)
    return 1 if n < 1 else 1 << (n - 1).bit_length()


def divisors(k: int) -> list[int]:
    """make_tokenize.py's list for ``k``: every divisor except 1 and k, ascending, at most 20; ``[k]`` if none."""
    small = [d for d in range(2, math.isqrt(k) + 1) if k % d == 0]
    found = sorted(set(small + [k // d for d in small]))
    return found[:MAX_FACTORS] if found else [k]


def factor_table(n: int, span: int = FACTOR_SPAN) -> list[dict]:
    """One row per count ``k`` in ``n-span .. n+span`` with ``k >= 1`` (the seed's loop, minus counts < 1):
    ``{"count": k, "micro_bsz": divisors(k), "epoch_steps": [k // b, ...]}``, the ``--json`` layout."""
    rows = []
    for k in range(max(1, n - span), n + span + 1):
        bsz = divisors(k)
        rows.append({"count": k, "micro_bsz": bsz, "epoch_steps": [k // b for b in bsz]})
    return rows


def format_factor_table(rows: list[dict]) -> str:
    """The table in make_tokenize.py's layout: a blank line, the count, then the two labelled lists."""
    width = len("EPOCH_STEPS")
    return "".join(
        f"\n{r['count']}\n{'MICRO_BSZ'.ljust(width)} = {r['micro_bsz']}\n"
        f"{'EPOCH_STEPS'.ljust(width)} = {r['epoch_steps']}\n"
        for r in rows
    )


def percentiles(lengths: np.ndarray) -> dict[str, int]:
    """p50 / p90 / p99 / max / mean of document lengths in tokens (nearest-rank, so values are real lengths)."""
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        return {"p50": 0, "p90": 0, "p99": 0, "max": 0, "mean": 0}
    ordered = np.sort(lengths)

    def rank(p: float) -> int:  # nearest-rank: the smallest length with at least p% of documents at or below it
        return int(ordered[max(0, math.ceil(p / 100 * ordered.size) - 1)])

    return {
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": int(ordered[-1]),
        "mean": round(float(ordered.mean())),
    }


def count_over(lengths: np.ndarray, ctx_len: int) -> int:
    """Documents longer than ``ctx_len`` tokens (the EOF token counts, as in the seed's --max-tokens filter)."""
    return int(np.count_nonzero(np.asarray(lengths) > ctx_len))


def _batch_range(count: int) -> tuple[int, int]:
    """training.sh's advice for MICRO_BSZ x MINI_BSZ by dataset size."""
    if count < 1000:
        return 4, 8
    if count < 5000:
        return 8, 16
    if count <= 10000:
        return 16, 32
    return 32, 64


_HINT = {
    "en": {
        "range": "{count} items: a total batch (MICRO_BSZ × MINI_BSZ) of {lo}–{hi} suits a dataset of this size.",
        "divisors": "MICRO_BSZ that divide {count} exactly (every item is trained each epoch): {pairs}.",
        "prime": "{count} has no divisor other than 1 and itself, so only MICRO_BSZ=1 covers every item.",
        "no_small": "{count} has no divisor up to {hi}, so only MICRO_BSZ=1 covers every item with a usual batch.",
        "nearby": "Removing or adding a few lines helps: {alternatives}.",
        "vram": "Take the largest MICRO_BSZ your GPU memory allows; if even 2 does not fit, use MICRO_BSZ=1, "
        "EPOCH_STEPS={count} and raise MINI_BSZ instead.",
        "pair": "{bsz} (EPOCH_STEPS={steps})",
        "alt": "{k} items → MICRO_BSZ {bsz}",
    },
    "zh": {
        "range": "{count} 条数据：这个规模适合的总批大小（MICRO_BSZ × MINI_BSZ）为 {lo}–{hi}。",
        "divisors": "能整除 {count} 的 MICRO_BSZ（每轮训练到每一条数据）：{pairs}。",
        "prime": "{count} 除了 1 和它本身没有其他因数，只有 MICRO_BSZ=1 能覆盖每一条数据。",
        "no_small": "{count} 没有不超过 {hi} 的因数，常用批大小下只有 MICRO_BSZ=1 能覆盖每一条数据。",
        "nearby": "可以删掉或补上几行数据：{alternatives}。",
        "vram": "在显存允许的范围内选最大的 MICRO_BSZ；如果连 2 都放不下，就用 MICRO_BSZ=1、EPOCH_STEPS={count}，"
        "改为调大 MINI_BSZ。",
        "pair": "{bsz}（EPOCH_STEPS={steps}）",
        "alt": "{k} 条 → MICRO_BSZ {bsz}",
    },
}


def micro_bsz_hint(count: int, lang: str = "en") -> str:
    """Plain-language advice on MICRO_BSZ / MINI_BSZ / EPOCH_STEPS for ``count`` items ("en" or "zh")."""
    text = _HINT["zh" if lang.startswith("zh") else "en"]
    lo, hi = _batch_range(count)
    lines = [text["range"].format(count=count, lo=lo, hi=hi)]
    useful = [b for b in divisors(count) if b < count and b <= hi] if count > 1 else []
    if useful:
        pairs = ", ".join(text["pair"].format(bsz=b, steps=count // b) for b in useful)
        lines.append(text["divisors"].format(count=count, pairs=pairs))
    else:
        is_prime = divisors(count) == [count]
        lines.append(text["prime" if is_prime else "no_small"].format(count=count, hi=hi))
        alternatives = _nearby_counts(count, hi, text)
        if alternatives:
            lines.append(text["nearby"].format(alternatives="; ".join(alternatives[:4])))
    lines.append(text["vram"].format(count=count))
    return "\n".join(lines)


def _nearby_counts(count: int, hi: int, text: dict) -> list[str]:
    """Item counts a few lines away that some MICRO_BSZ up to ``hi`` divides, nearest first."""
    alternatives = []
    for row in sorted(factor_table(count, span=5), key=lambda r: abs(r["count"] - count)):
        bsz = [b for b in row["micro_bsz"] if b < row["count"] and b <= hi]
        if row["count"] != count and bsz:
            alternatives.append(text["alt"].format(k=row["count"], bsz=", ".join(map(str, bsz[:6]))))
    return alternatives
