"""The embedded default: a tiny generated base model, the bundled sample and the demo-cpu preset, so a
newcomer can click through on a CPU and see the model learn the sample; and the recall check that shows it.

The base is RWKV-LM's fresh init with every block matrix perturbed (``init_model(perturb=...)``): a plain
fresh init leaves att.output and ffn.value at zero, so its blocks do nothing and PiSSA or state tuning
have nothing to work with. The preset is LoRA that also trains the embedding and the head (train_parts
emb, head): a random base knows no words, and LoRA on the blocks alone cannot teach them in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import paths

DEMO_SHAPE = dict(version="x070", n_layer=2, n_embd=128, vocab_size=65536, head_size=64)
DEMO_PERTURB = 0.02
DEMO_MODEL = "model/rwkv7-demo-2x128.pth"
DEMO_GLOB = "rwkv7-demo-*.pth"  # every demo base this app has generated (older ones had other shapes)
DEMO_PRESET = "demo-cpu"
PRESET_FILE = Path(__file__).resolve().parent / "presets" / f"{DEMO_PRESET}.json"
SAMPLE = "data/sample.jsonl"
BUNDLED_SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample.jsonl"
# The preset is LoRA's; what another method changes to learn the sample too. Methods that move every
# entry of a weight matrix (bone/bat train a full-size delta) are wrecked by LoRA's 5e-3 (1/24 recalled
# with bone, 1/24 with full): they get 2e-3 and 10 epochs (full: 23/24).
_WHOLE = {"lr_init": 0.002, "lr_final": 0.0005, "epoch_count": 10, "epoch_save": 10}
METHOD_OPTIONS = {
    "pissa": {"pissa_r": 16, "svd_niter": 4},
    "bone": _WHOLE,
    "bat": _WHOLE,
    "state_tuning": {"lr_init": 1.0, "lr_final": 0.01},
    "lisa": {**_WHOLE, "lisa_r": 1, "lisa_k": 12},
    "full": _WHOLE,
}
RECALL_TARGET = 0.8
GREEDY = {"temperature": 0.0, "presence_penalty": 0.0, "frequency_penalty": 0.0}
UNTRAINED_NOTE = ("This is the untrained demo base model: random weights, so its answers are gibberish. "
                  "Fine-tune it first (the Train tab, or python -m rwkv_simple_gui demo), then chat with the "
                  "merged model in merge/.")


def make_demo_model(dest: str | Path, progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the demo base model to ``dest`` (bf16, 34 MB; about a second on a CPU)."""
    import torch

    from .model import init_model, save_model

    dest = Path(dest)
    model = init_model(**DEMO_SHAPE, seed=0, perturb=DEMO_PERTURB, progress=progress)
    save_model(model, dest, dtype=torch.bfloat16)
    return dest


def ensure_demo_model() -> Path | None:
    """Create the demo model when model/ holds no model at all; returns its path (None if not needed)."""
    model_dir = paths.folder("model")
    if any(p.suffix in (".pth", ".safetensors") for p in model_dir.rglob("*")):
        return None
    return make_demo_model(paths.resolve(DEMO_MODEL))


def is_demo_base(path: str | Path) -> bool:
    """Whether ``path`` is a demo base model this app generated (never trained: merged models live in merge/)."""
    path = paths.resolve(path, base="model")
    return path.parent == paths.resolve("model") and path.match(DEMO_GLOB)


def preset(data_path: str | Path | None = None) -> dict:
    """The options the demo-cpu preset sets (the rest are TrainConfig's defaults); with ``data_path``, its
    epoch_count fitted to that dataset as the preset's ``fit`` says."""
    from .train.presets import fit_epochs, read_preset

    options, fit = read_preset(PRESET_FILE)
    if data_path is None or not fit:
        return options
    return fit_epochs({**options, "data_path": str(data_path)}, fit)[0]


def sample_path() -> Path:
    """The project's data/sample.jsonl, or the one bundled with the app when the project has none."""
    own = paths.resolve(SAMPLE)
    return own if own.is_file() else BUNDLED_SAMPLE


@dataclass(frozen=True)
class Question:
    """The last question of a sample record, the turns before it (chat history) and its trained answer."""

    line: int
    history: list[dict]
    question: str
    answer: str


def sample_questions(path: str | Path) -> list[Question]:
    """One question per record that has an Assistant turn after a User turn."""
    from .data.formats import Record, read_records

    questions = []
    for rec in read_records(path):
        if not isinstance(rec, Record):
            continue
        turns = rec.turns
        last = max((i for i, (role, _) in enumerate(turns) if role == "Assistant" and i > 0
                    and turns[i - 1][0] == "User"), default=None)
        if last is None:
            continue
        history = [{"role": role.lower(), "content": text} for role, text in turns[:last - 1] if role]
        questions.append(Question(rec.line, history, turns[last - 1][1], turns[last][1]))
    return questions
