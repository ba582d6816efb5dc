"""The step budget of a run, from its data, before Start: optimizer steps, tokens seen, passes over each
document, whether that is enough to learn what the run is asked, and how long it will take on this machine.

The step counts are the trainer's own: ``prepare``'s ``steps`` (``train.step.estimate`` over ``train.data``'s
plan); this module only reads them. The time is measured: a few timed optimizer steps of the run's model, method
and device (``measure``), cached per model shape, method and device in ``.state/speed.json``, scaled to the run's
batches, evaluations and recall check (``predict_seconds``).

The "too short" rule is measured on the CPU demo base (bench/budget_rule.py, numbers in ``MIN_PASSES``): how many
passes over each document a method needed to give back 85% of the trained answers of bench/facts.py's
conversations about one invented island (similar questions, different facts, the hard case) at the demo's
learning rates, for 40, 120 and 300 facts. More facts need more passes: a tiny model must hold more. Fewer
passes than the rule gives for the run's number of facts is called too short.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rwkv_simple_gui import paths

from .data import held_out_count, split_documents
from .rundir import NOISY_BELOW

# method -> ({facts: passes over each document that gave back 85% of the trained answers}, the lr_init they were
# measured at), on the demo base; bench/budget_rule.py prints them (bench/RESULTS-issue20.md). 40 facts: 78% after 10
# passes, 85% after 12, 98% after 14; 120: 80% after 24, 98% after 30; 300: 38% after 35, 88% after 42, 96% after 49.
# A method missing here has no measured rule.
MIN_PASSES = {"lora": ({40: 12, 120: 30, 300: 42}, 5e-3)}
FACT_ANSWER_TOKENS = 48   # a dataset of facts: short answers (median tokens) ...
FACT_DISTINCT = 0.8       # ... most of them different
SPEED_FILE = "speed.json"
SPEED_MAX_PARAMS = 200e6  # the live check measures smaller models itself; larger ones on --dry-run
_SCAN = 400               # documents read to tell what the data looks like
_TIMED_STEPS = 3


@dataclass(frozen=True)
class DataShape:
    """What the data's conversations look like: the recall check's and the "facts" rule's inputs."""

    conversations: int     # documents (of those read) with a User question and an Assistant answer
    read: int              # documents read
    answer_tokens: float   # median tokens of an answer
    distinct: float        # share of different answers

    @property
    def facts(self) -> bool:
        """Short, mostly different answers to questions: a held-out one cannot be learned from the others."""
        return (self.conversations >= self.read / 2 > 0 and self.answer_tokens <= FACT_ANSWER_TOKENS
                and self.distinct >= FACT_DISTINCT)


_SHAPES: dict[tuple, DataShape] = {}


def data_shape(prefix: str, tokenizer_spec: str) -> DataShape:
    """The shape of the dataset at ``prefix`` (a sample of up to 400 documents, cached per file version)."""
    from rwkv_simple_gui.data.tokenizer import get_tokenizer

    from .data import open_dataset
    from .judge import doc_question

    idx = Path(f"{prefix}.idx")
    key = (str(prefix), idx.stat().st_mtime_ns, tokenizer_spec)
    if key not in _SHAPES:
        ds, tok = open_dataset(prefix), get_tokenizer(tokenizer_spec)
        docs = np.unique(np.linspace(0, len(ds) - 1, min(len(ds), _SCAN)).round().astype(int)) if len(ds) else []
        answers = [q.answer for q in (doc_question(ds, tok, int(d)) for d in docs) if q is not None]
        lengths = [len(tok.encode(a)) for a in answers]
        _SHAPES[key] = DataShape(len(answers), len(docs), float(np.median(lengths)) if lengths else 0.0,
                                 len(set(answers)) / len(answers) if answers else 0.0)
    return _SHAPES[key]


@dataclass(frozen=True)
class Budget:
    """A run's budget, all counted over this run (epoch_begin to epoch_count)."""

    steps: int            # optimizer steps
    epochs: int
    documents: int        # training documents (held-out ones excluded)
    samples: int          # samples trained (documents, or ctx_len slices for dataload get)
    passes: float         # times each training document (each token, for get) is seen
    tokens: int           # tokens seen
    shape: DataShape | None

    def to_dict(self) -> dict:
        return asdict(self)


def budget(cfg, info, steps: dict | None) -> Budget | None:
    """The budget of a run with options ``cfg`` (paths resolved) on the dataset ``info`` (a DataInfo), from the
    trainer's step counts ``steps`` (``Prepared.steps``); None when they are not known."""
    if steps is None or info is None:
        return None
    epochs = steps["epochs"]
    samples = steps["samples_per_epoch"] * epochs
    if cfg.dataload == "get":
        tokens = samples * cfg.ctx_len
        passes = tokens / max(info.num_tokens, 1)
    else:
        lengths = _train_lengths(cfg, info)
        passes = samples / max(len(lengths), 1)
        tokens = int(round(float(lengths.mean()) * samples)) if len(lengths) else 0
    shape = data_shape(info.prefix, info.tokenizer) if cfg.dataload != "get" and cfg.stage == "sft" else None
    return Budget(steps["steps_this_run"], epochs, steps["documents"], samples, passes, tokens, shape)


def _train_lengths(cfg, info) -> np.ndarray:
    """Input tokens of each training document (cut at ctx_len), the held-out ones left out."""
    from .data import open_dataset

    sizes = np.minimum(np.asarray(open_dataset(info.prefix).sizes, dtype=np.int64), cfg.ctx_len + 1) - 1
    held = held_out_count(len(sizes), cfg.val_split)
    if held:  # which ones depends on the run's seed: the lengths of a typical split
        train, _ = split_documents(len(sizes), cfg.val_split, max(cfg.seed, 0))
        sizes = sizes[train]
    return np.maximum(sizes, 1)


@dataclass(frozen=True)
class Rule:
    """What a method's measured rule asks of a run on ``facts`` facts."""

    facts: int
    passes: float      # passes over each document for 85% of the trained answers
    lr_init: float     # the learning rate it was measured at
    measured: tuple    # the numbers of facts it was measured on

    @property
    def beyond(self) -> bool:
        """More facts than it was measured on: ``passes`` is extrapolated."""
        return self.facts > self.measured[-1]


def min_passes(method: str, facts: int) -> Rule | None:
    """The passes ``method`` needs for ``facts`` facts: the measured figure, log-log interpolated between the
    numbers of facts measured, extrapolated along the last stretch past them (flat below the first)."""
    if method not in MIN_PASSES:
        return None
    points, lr = MIN_PASSES[method]
    counts = sorted(points)
    if facts <= counts[0]:
        passes = float(points[counts[0]])
    else:
        low, high = next(((a, b) for a, b in zip(counts, counts[1:]) if facts <= b), (counts[-2], counts[-1]))
        slope = math.log(points[high] / points[low]) / math.log(high / low)
        passes = points[low] * (facts / low) ** slope
    return Rule(facts, passes, lr, tuple(counts))


def facts_rule(b: Budget, method: str) -> Rule | None:
    """``method``'s rule for the run ``b`` counts; None when its data is not facts or the method has no rule."""
    return min_passes(method, b.documents) if b.shape is not None and b.shape.facts else None


def fitted_epochs(cfg, info, passes: float, world: int = 1) -> int:
    """The epoch_count (epochs from epoch_begin) that makes ``passes`` passes over each training document of
    ``info``, at least one; a preset's ``fit`` uses it."""
    from .step import estimate

    steps = estimate(cfg.replace(epoch_count=1), info, world)
    per_epoch = steps["samples_per_epoch"] / max(steps["documents"], 1)
    return max(1, math.ceil(passes / max(per_epoch, 1e-9) - 1e-9))


def notes(b: Budget, cfg, info) -> tuple[list[str], list[str]]:
    """(facts, warnings) the check shows: the budget in words; too short a run, and what validation loss
    and early stopping will do on this data."""
    facts = [f"{b.steps:,} optimizer steps ({b.epochs} epochs), {b.samples:,} samples, {b.tokens:,} tokens seen: "
             f"each training document about {b.passes:.3g} times"]
    facts_data = b.shape is not None and b.shape.facts
    if facts_data:
        facts.append(f"the data looks like facts: short answers (median {b.shape.answer_tokens:.0f} tokens), "
                     f"{b.shape.distinct:.0%} of them different")
    warnings = _facts_rule(b, cfg, info) if facts_data else []
    warnings += _validation(b, cfg, facts_data)
    held = _held_out(cfg, info)
    if cfg.early_stop_patience and 0 < held < NOISY_BELOW:
        warnings.append(f"early stopping follows the validation loss of {held} held-out documents: fewer than "
                        f"{NOISY_BELOW}, it is noise; hold out more (val_split) or turn early stopping off")
    return facts, warnings


def _facts_rule(b: Budget, cfg, info) -> list[str]:
    """Facts data: too few passes for the method's measured rule at this many facts, or more facts than it was
    measured on."""
    rule = facts_rule(b, cfg.finetune_mode)
    if not rule:
        return []
    warnings = []
    if b.passes < rule.passes:
        need = fitted_epochs(cfg, info, rule.passes)
        warnings.append(f"too short to learn these answers: each document is seen {b.passes:.3g} times; on the "
                        f"demo base {cfg.finetune_mode} needed {rule.passes:.0f} passes (lr_init {rule.lr_init:g}) to "
                        f"give back 85% of the trained answers of {b.documents:,} facts about one subject: raise "
                        f"epoch_count to {need}")
    if rule.beyond:
        warnings.append(f"{b.documents:,} facts: the rule was measured on up to {rule.measured[-1]} facts (40: 12 "
                        f"passes, 120: 30, 300: 42), so {rule.passes:.0f} passes is a guess: judge the run by its "
                        f"recall check and raise epoch_count if it learned little")
    return warnings


def _validation(b: Budget, cfg, facts_data: bool) -> list[str]:
    """What validation loss and early stopping will say on this data."""
    validated = cfg.val_split > 0 or bool(cfg.val_data)
    if facts_data and validated:
        warnings = ["validation loss will rise while the model learns these answers (a held-out fact cannot be "
                    "learned from the others): judge the run by its recall check, not by val_loss"]
        if cfg.early_stop_patience:
            warnings.append("early stopping would end this run too soon (its validation loss rises while recall "
                            "rises): set early_stop_patience 0")
        return warnings
    if validated and not cfg.early_stop_patience and b.epochs > 1:
        return ["early stopping (early_stop_patience, e.g. 2) would end the run when val_loss stops "
                "improving, keeping the best checkpoint"]
    return []


def _held_out(cfg, info) -> int:
    if cfg.val_data:
        from .data import data_info

        return data_info(cfg.val_data).n_docs
    return held_out_count(info.n_docs, cfg.val_split)


# --- how long it will take ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Speed:
    """Measured costs of a model shape + method on a device: a training step's fixed part (optimizer), the
    forward + backward per input token of a batch, one generated token, and building the model."""

    step_s: float
    token_s: float
    generate_s: float
    setup_s: float
    measured_at: str = ""


def speed_key(cfg, model_info, device: str) -> str:
    """What a step's cost depends on besides the batch: the model's shape, the method and its size, the device."""
    from rwkv_simple_gui.peft.methods import method

    row = method(cfg.finetune_mode)
    rank = getattr(cfg, row.rank_option) if row.rank_option else ""
    shape = f"{model_info.version}-{model_info.n_layer}x{model_info.n_embd}-v{model_info.vocab_size}"
    threads = ""
    if device == "cpu":
        import torch

        threads = f"-t{torch.get_num_threads()}"
    return "|".join(map(str, (shape, cfg.finetune_mode, rank, "+".join(sorted(cfg.train_parts)), cfg.precision,
                              cfg.grad_cp, cfg.op, cfg.quant, device + threads)))


def _speed_file() -> Path:
    return paths.folder(paths.STATE_FOLDER) / SPEED_FILE


def cached_speed(key: str) -> Speed | None:
    try:
        found = json.loads(_speed_file().read_text(encoding="utf-8")).get(key)
        return Speed(**found) if isinstance(found, dict) else None
    except (OSError, ValueError, TypeError):
        return None


def _store(key: str, speed: Speed) -> None:
    from .rundir import write_json

    try:
        known = json.loads(_speed_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    write_json(_speed_file(), {**(known if isinstance(known, dict) else {}), key: asdict(speed)})


def measure(prepared, device: str | None = None) -> Speed:
    """Time a few optimizer steps of the prepared run's model and method on ``device`` (default: the trainer's),
    at the data's typical batch, and a few generated tokens; cached under :func:`speed_key`."""
    import tempfile

    import torch

    from rwkv_simple_gui import peft

    from .data import Batch
    from .distributed import Dist
    from .rundir import Log
    from .step import AUTOCAST, build_model, choose_device, forward_backward, make_optimizer

    cfg = prepared.config
    dev = torch.device(device) if device else choose_device()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(cfg, dev, Path(tmp), Dist(), Log(Path(tmp) / "log", enabled=False))
    setup_s = time.perf_counter() - t0
    params = peft.trainable_parameters(model)
    optimizer = make_optimizer(cfg, params, fused=dev.type == "cuda")
    autocast = (lambda: torch.autocast(dev.type, dtype=AUTOCAST[cfg.precision])) if cfg.precision in AUTOCAST \
        else _no_autocast
    T = typical_length(cfg, prepared.data_info)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(1, min(model.emb.num_embeddings, 65000), (cfg.micro_bsz, T + 1), generator=gen)
    batch = Batch(x[:, :-1], x[:, 1:], torch.ones(cfg.micro_bsz, T), cfg.micro_bsz * T)
    fb = opt = 0.0
    for i in range(_TIMED_STEPS + 1):  # the first step warms up (allocations, kernels)
        t0 = time.perf_counter()
        forward_backward(model, batch, cfg, dev, 1.0 / (cfg.micro_bsz * T), autocast,
                         lambda loss, last: loss.backward())
        _sync(dev)
        t1 = time.perf_counter()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        _sync(dev)
        if i:
            fb, opt = fb + t1 - t0, opt + time.perf_counter() - t1
    model.eval()
    with torch.no_grad(), autocast():
        _, state = model(x[:1, :8], None)
        t0 = time.perf_counter()
        for token in x[0, 8:24].tolist():
            _, state = model(torch.tensor([[token]], device=dev), state)
        _sync(dev)
        generate_s = (time.perf_counter() - t0) / 16
    speed = Speed(opt / _TIMED_STEPS, fb / _TIMED_STEPS / (cfg.micro_bsz * T), generate_s, setup_s,
                  time.strftime("%Y-%m-%d %H:%M"))
    _store(speed_key(cfg, prepared.model_info, dev.type), speed)
    return speed


def _no_autocast():
    import contextlib

    return contextlib.nullcontext()


def _sync(dev) -> None:
    if dev.type == "cuda":
        import torch

        torch.cuda.synchronize(dev)


def batch_lengths(cfg, info) -> np.ndarray:
    """The input length the trainer computes for each micro batch of one shuffled epoch: its longest document,
    cut to the 16-token steps of the kernels and to ctx_len (ctx_len itself for get)."""
    from rwkv_simple_gui.data.stats import align_tokens

    if cfg.dataload == "get":
        return np.array([cfg.ctx_len])
    lengths = _train_lengths(cfg, info)
    order = np.random.default_rng(0).permutation(len(lengths))
    rows = np.resize(lengths[order], math.ceil(len(lengths) / cfg.micro_bsz) * cfg.micro_bsz)
    return np.minimum([align_tokens(int(m)) for m in rows.reshape(-1, cfg.micro_bsz).max(1)], cfg.ctx_len)


def typical_length(cfg, info) -> int:
    return int(np.median(batch_lengths(cfg, info)))


def predict_seconds(b: Budget, speed: Speed, prepared) -> dict:
    """The run's time on the measured machine: model setup, training steps, evaluations and the recall check."""
    from .judge import RECALL_HELD, RECALL_TRAINED, SAMPLE_HELD, SAMPLE_TRAINED

    cfg, info, steps = prepared.config, prepared.data_info, prepared.steps
    rows = steps["micro_steps_per_epoch"] * cfg.micro_bsz * b.epochs  # per process
    train = b.steps * speed.step_s + rows * float(batch_lengths(cfg, info).mean()) * speed.token_s
    held = _held_out(cfg, info)
    evaluations = 0
    if held or cfg.sample_tokens:
        evaluations = (b.steps // cfg.val_every if cfg.val_every else b.epochs) + (cfg.epoch_begin == 0)
    answer = (b.shape.answer_tokens if b.shape else 32) + 8
    per_eval = held * typical_length(cfg, info) * speed.token_s / 3  # a forward is about a third of fwd + bwd
    per_eval += (SAMPLE_TRAINED + SAMPLE_HELD) * cfg.sample_tokens * speed.generate_s if cfg.sample_tokens else 0
    recall = 0.0
    if b.shape is not None and b.shape.conversations:
        asked = min(RECALL_TRAINED, b.documents) + min(RECALL_HELD, held)
        recall = asked * answer * speed.generate_s
    parts = {"setup_s": speed.setup_s, "train_s": train, "evaluate_s": evaluations * per_eval, "recall_s": recall}
    return {**parts, "total_s": sum(parts.values())}


def time_estimate(prepared, b: Budget, max_params: float | None = None) -> tuple[dict | None, str]:
    """(the predicted seconds, how they were found) for the run on this machine's trainer device: from the cache,
    else measured now (only a model of at most ``max_params`` parameters when given), else None with what to
    do."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    info = prepared.model_info
    speed = cached_speed(speed_key(prepared.config, info, device))
    how = "measured earlier"
    if speed is None and (max_params is None or info.n_params <= max_params):
        speed, how = measure(prepared, device), "measured now"
    if speed is None:
        return None, ("not measured yet for this model, method and device: python -m rwkv_simple_gui train "
                      "--dry-run with these options measures it")
    return predict_seconds(b, speed, prepared), f"{how} ({speed.measured_at}, {device})"
