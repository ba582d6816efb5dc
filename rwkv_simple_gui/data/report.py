"""The tokenize report: what make_tokenize.py prints, for the CLI and the Tokenize tab alike."""

from __future__ import annotations

from .. import paths

PREVIEW_TOKENS = 100


def _preview(result) -> list[str]:
    """The seed's check: the first and the last item decoded back to text (a pair: its three parts)."""
    from .binidx import read_binidx
    from .preference import pair_layout
    from .tokenizer import get_tokenizer

    data = read_binidx(result.prefix)
    tok = get_tokenizer(result.tokenizer["spec"])
    layout = pair_layout(data)
    if layout is not None:
        return _pair_preview(data, layout, tok, result.prefix.name)
    lines = []
    for i in sorted({0, len(data) - 1}):
        item = data[i]
        lines.append("-" * 70 + f"[{result.prefix.name} idx {i} sz {item.size}]")
        ids = item[:-1] if result.eof else item
        if ids.size > 2 * PREVIEW_TOKENS:
            lines += [tok.decode(ids[:PREVIEW_TOKENS]), "· " * 30, tok.decode(ids[-PREVIEW_TOKENS:])]
        else:
            lines.append(tok.decode(ids))
    return lines


def _pair_preview(data, layout, tok, name: str) -> list[str]:
    prompt, chosen = int(layout[0][0]), int(layout[1][0])
    item = data[0]
    parts = {"prompt": item[:prompt], "chosen": item[prompt:prompt + chosen], "rejected": item[prompt + chosen:]}
    lines = ["-" * 70 + f"[{name} pair 0 sz {item.size}]"]
    for part, ids in parts.items():
        ids = ids[ids != 0]  # the EOF after each reply
        text = tok.decode(ids[:PREVIEW_TOKENS]) + (" …" if ids.size > PREVIEW_TOKENS else "")
        lines.append(f"[{part}] {text}")
    return lines


def _pair_lines(result) -> list[str]:
    lines = [f"### preference pairs = {result.pairs} (one item per pair: prompt + chosen + rejected)"]
    for part, p in result.length_percentiles().items():
        lines.append(f"### {part} tokens: p50 {p['p50']}, p90 {p['p90']}, p99 {p['p99']}, max {p['max']}")
    return lines


def format_report(result, prefix=None, *, lang: str = "en") -> str:
    """make_tokenize.py's printout for a :class:`~.pipeline.TokenizeResult`, plus dropped/skipped and a hint.

    ``prefix`` is the output prefix as shown (default: the result's, relative to the project).
    """
    from .stats import format_factor_table, micro_bsz_hint

    name = paths.display(prefix if prefix is not None else result.prefix)
    lines = _preview(result) + [
        "-" * 80,
        f"### Final {name}.bin/idx has {result.tokens} tokens, {result.items} items. Dtype <class 'numpy.uint16'>",
        f"### append_eof = {result.eof}",
        f"### max_length = {result.max_length}",
        f"### max_length_power_of_two = {result.max_length_power_of_two}",
        f"### data_line_count = {result.data_line_count}",
    ]
    if hasattr(result, "length_percentiles"):
        lines += _pair_lines(result)
    if result.max_tokens:
        lines.append(f"### dropped = {result.dropped} documents longer than {result.max_tokens} tokens (EOF included)")
    if result.unused:
        from .formats import unused_summary

        lines.append(f"### unused = fields not in the training text: {unused_summary(result.unused)}")
    if result.skipped_bad:
        lines.append(f"### skipped_bad = {result.skipped_bad} bad records")
        lines += [f"###   {result.format.unit} {b.line}: {b.reason}" for b in result.bad[:10]]
    lines.append("### The first ten factors of the five numbers nearby (±10):")
    lines.append(format_factor_table(result.factors))
    lines.append("### hint:\n" + micro_bsz_hint(result.data_line_count, lang))
    lines.append(
        f"### {result.documents} documents, {result.copies} copies, tokenizer {result.tokenizer['name']} "
        f"[{result.backend}], {result.workers} worker(s), {result.seconds:.2f} s"
    )
    return "\n".join(lines)
