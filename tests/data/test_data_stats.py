"""Length statistics and the factor table, against values worked out by hand."""

from __future__ import annotations

import numpy as np

from rwkv_simple_gui.data import stats


def test_align_tokens_and_next_pow2():
    assert [stats.align_tokens(n) for n in (0, 1, 15, 16, 17, 100)] == [0, 16, 16, 16, 32, 112]
    assert [stats.next_pow2(n) for n in (-3, 0, 1, 2, 3, 16, 17, 1000)] == [1, 1, 1, 2, 4, 16, 32, 1024]


def test_factor_table_around_16():
    rows = {r["count"]: (r["micro_bsz"], r["epoch_steps"]) for r in stats.factor_table(16)}
    assert sorted(rows) == list(range(6, 27))
    assert rows[16] == ([2, 4, 8], [8, 4, 2])  # 4 = sqrt(16) is listed once
    assert rows[12] == ([2, 3, 4, 6], [6, 4, 3, 2])
    assert rows[13] == ([13], [1])  # a prime: only itself, one step
    assert rows[9] == ([3], [3])
    assert rows[24] == ([2, 3, 4, 6, 8, 12], [12, 8, 6, 4, 3, 2])
    assert rows[26] == ([2, 13], [13, 2])


def test_factor_table_small_counts_and_the_cut_at_20():
    assert [r["count"] for r in stats.factor_table(3)] == list(range(1, 14))  # counts below 1 are left out
    assert stats.factor_table(3)[0]["micro_bsz"] == [1]
    # 720720 = 2^4 * 3^2 * 5 * 7 * 11 * 13: its smallest divisors above 1 skip 17, 19 and 23
    row = next(r for r in stats.factor_table(720720) if r["count"] == 720720)
    assert row["micro_bsz"] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 21, 22, 24]
    assert row["epoch_steps"][-1] == 30030


def test_factor_table_printout_matches_the_seed_layout():
    rows = [r for r in stats.factor_table(16) if r["count"] in (13, 16)]
    assert stats.format_factor_table(rows) == (
        "\n13\nMICRO_BSZ   = [13]\nEPOCH_STEPS = [1]\n" "\n16\nMICRO_BSZ   = [2, 4, 8]\nEPOCH_STEPS = [8, 4, 2]\n"
    )


def test_percentiles_and_count_over():
    lengths = np.array([10, 20, 30, 40, 50, 60, 70, 80, 90, 1000])
    assert stats.percentiles(lengths) == {"p50": 50, "p90": 90, "p99": 1000, "max": 1000, "mean": 145}
    assert stats.percentiles(np.array([7])) == {"p50": 7, "p90": 7, "p99": 7, "max": 7, "mean": 7}
    assert stats.percentiles(np.array([], dtype=np.int64))["max"] == 0
    assert stats.count_over(lengths, 80) == 2
    assert stats.count_over(lengths, 1000) == 0


def test_micro_bsz_hint():
    hint = stats.micro_bsz_hint(96)
    assert "4–8" in hint and "8 (EPOCH_STEPS=12)" in hint and "MICRO_BSZ=1" in hint
    prime = stats.micro_bsz_hint(97)
    assert "no divisor" in prime and "96 items → MICRO_BSZ 2, 3, 4, 6, 8" in prime
    assert "32–64" in stats.micro_bsz_hint(20000)
    assert "能整除 96" in stats.micro_bsz_hint(96, "zh")
