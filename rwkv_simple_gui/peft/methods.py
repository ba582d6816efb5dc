"""The fine-tuning methods, one row each (torch-free).

Everything that depends on the method (config choices, option visibility, validation, the loop, the
runner's resume, merge planning, the memory estimate, error texts) reads this table; nothing else
compares method names. A method's maths lives in its layer module under ``peft/``, which has
``inject(model, cfg)`` and, for adapters of linear layers, ``merge_weight(weight, get, cfg)`` and
``check(weight_shape, get_shape)``.

Adding a method: its layer module, its row here, its options in TrainConfig (+ their zh text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping


def _get(cfg, name, default=None):
    return cfg.get(name, default) if isinstance(cfg, Mapping) else getattr(cfg, name, default)


def or_list(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def divisors_near(n: int, around: int, count: int = 3) -> list[int]:
    """Divisors of ``n`` nearest ``around`` on a log scale (ranks are thought of as 32, 64, 128, ...)."""
    divs = [d for d in range(1, n + 1) if n % d == 0]
    return sorted(sorted(divs, key=lambda d: abs(math.log(d / max(around, 1))))[:count])


# --- checks against the model: (cfg, model_info) -> problems --------------------------------------

def _rank_within_width(cfg, info) -> list[str]:
    name = METHODS[_get(cfg, "finetune_mode")].rank_option
    r, width = _get(cfg, name), info.n_embd
    if r > width:
        return [f"{name}={r} is larger than n_embd={width}: use at most {width}"
                + (f" (try {or_list(divisors_near(width, width // 16))})" if name == "disha_r" else "")]
    return []


def _rank_divides_widths(cfg, info) -> list[str]:
    r = _get(cfg, "disha_r")
    for what, width in (("n_embd", info.n_embd), ("dim_ffn", info.dim_ffn)):
        if width % r:
            return [f"disha_r={r} must divide {what}={width} for bat (try "
                    f"{or_list(divisors_near(info.n_embd, r))})"]
    return []


def _layers_within_model(cfg, info) -> list[str]:
    if _get(cfg, "lisa_r") > info.n_layer:
        return [f"lisa_r={_get(cfg, 'lisa_r')} is more than the model's {info.n_layer} layers: use at most "
                f"{info.n_layer}"]
    return []


ADAPTER_OPTIONS = ("train_parts", "quant")


@dataclass(frozen=True)
class Method:
    name: str
    options: tuple[str, ...]           # TrainConfig options that apply to this method only
    layer: str | None                  # peft.<layer> has inject(); None: every base weight trains
    load_option: str | None = None     # option naming the checkpoint to continue from (None: the
                                       # checkpoint is a whole model, continued through model_path)
    key_suffixes: tuple[str, ...] = ()  # what its checkpoint holds per module; (): the whole model
    key_ndim: int | None = None        # tells apart methods with the same suffixes (bone 2-D, bat 3-D)
    legacy_suffixes: Mapping[str, str] = field(default_factory=dict)  # old key suffix -> today's
    rank_option: str | None = None
    fold_options: tuple[str, ...] = ()  # run options its merge needs (LoRA's scale)
    shape_options: tuple[str, ...] = ()  # other options that fix what it trains (LISA's layer draws)
    init_file: str | None = None       # written when a run starts; needed to resume and to merge
    init_option: str | None = None     # option naming the init file of the run a resume continues
    trains_base: bool = False          # updates base weights: no quantization, fp32 master weights
    redraws: bool = False              # its trained set changes during a run (DeepSpeed cannot follow)
    infctx: bool = True                # works with train_type infctx
    output: str = "model"              # what merging gives: "model", or "state" (a time_state file)
    tag: str = ""                      # in merged file names: <base>-<TAG>-<epoch>
    checks: tuple[Callable, ...] = ()  # (cfg, model_info) -> problems
    peft_type: str | None = None       # HF peft's name of the same maths, in an adapter_config.json
    recalls: bool = True               # learns answers word for word (state tuning learns a style or a role)

    @property
    def resume_fixed(self) -> tuple[str, ...]:
        """Options a resume of its run must keep: what shapes its trained tensors or their meaning."""
        return tuple(o for o in (self.rank_option, *self.fold_options, *self.shape_options) if o)

    @property
    def tunes_state(self) -> bool:
        """Trains only the initial state: it reaches the output through the blocks, which must do something."""
        return self.output == "state"

    @property
    def adapts_linears(self) -> bool:
        return self.output == "model" and bool(self.key_suffixes)

    def layer_module(self):
        """The module with this method's layer maths (imports torch)."""
        import importlib

        if self.layer is None:
            raise ValueError(f"{self.name} has no layer module: it trains the base weights themselves")
        return importlib.import_module(f"rwkv_simple_gui.peft.{self.layer}")


_LORA_KEYS = (".lora_A", ".lora_B")

METHODS: dict[str, Method] = {m.name: m for m in (
    Method("lora", ("lora_r", "lora_alpha", "lora_dropout", "lora_load", *ADAPTER_OPTIONS), "lora",
           load_option="lora_load", key_suffixes=_LORA_KEYS, rank_option="lora_r",
           fold_options=("lora_alpha",), tag="LORA", checks=(_rank_within_width,), peft_type="LORA"),
    Method("pissa", ("pissa_r", "svd_niter", "pissa_load", "pissa_init", *ADAPTER_OPTIONS), "pissa",
           load_option="pissa_load", key_suffixes=_LORA_KEYS, rank_option="pissa_r",
           init_file="init_pissa.pth", init_option="pissa_init", tag="PISSA", checks=(_rank_within_width,)),
    Method("bone", ("disha_r", "disha_load", *ADAPTER_OPTIONS), "bone", load_option="disha_load",
           key_suffixes=(".disha",), key_ndim=2, legacy_suffixes={".bone": ".disha"}, rank_option="disha_r",
           tag="BONE", checks=(_rank_within_width,), peft_type="MISS"),
    Method("bat", ("disha_r", "disha_load", *ADAPTER_OPTIONS), "bat", load_option="disha_load",
           key_suffixes=(".disha",), key_ndim=3, rank_option="disha_r", tag="BAT",
           checks=(_rank_within_width, _rank_divides_widths)),
    Method("state_tuning", ("state_load", "quant"), "state", load_option="state_load",
           key_suffixes=(".time_state",), infctx=False, output="state", tag="STATE", recalls=False),
    Method("lisa", ("lisa_r", "lisa_k"), "lisa", shape_options=("lisa_r", "lisa_k"), trains_base=True,
           redraws=True, tag="LISA", checks=(_layers_within_model,)),
    Method("full", (), None, trains_base=True, tag="FULL"),
)}

METHOD_NAMES = tuple(METHODS)
# options that belong to some methods only (all others apply to every method)
METHOD_OPTIONS = frozenset(o for m in METHODS.values() for o in m.options)
# options a resume must keep, of every method (train.config.RESUME_FIXED)
RESUME_FIXED = tuple(dict.fromkeys(o for m in METHODS.values() for o in m.resume_fixed))


def method(name: str) -> Method:
    """The row of ``name``, or a ValueError that lists the methods."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"finetune_mode={name!r} is not a method: use {or_list(METHOD_NAMES)}") from None


def applies(option: str, method_name: str) -> bool:
    """Whether ``option`` matters for ``method_name`` (an unknown method has no method options)."""
    row = METHODS.get(method_name)
    return option not in METHOD_OPTIONS or (row is not None and option in row.options)


def detect_method(key_ndims: Mapping[str, int], *, has_init: bool = False) -> Method:
    """The method whose checkpoint has these keys (``{key: ndim}``); a whole model reads as full.

    LoRA and PiSSA keys are alike: PiSSA is the one whose run left its init file (``has_init``)."""
    # a method with an init file wins while its file is there
    for row in sorted(METHODS.values(), key=lambda r: r.init_file is None):
        if not row.key_suffixes or (row.init_file and not has_init):
            continue
        suffixes = (*row.key_suffixes, *row.legacy_suffixes)
        ndims = {n for k, n in key_ndims.items() if k.endswith(suffixes)}
        if ndims and (row.key_ndim is None or ndims == {row.key_ndim}):
            return row
    return METHODS["full"]
