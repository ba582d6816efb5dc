"""A Hugging Face model folder for RWKV-7, in the layout of flash-linear-attention and the ``rwkv7-hf``
package: ``config.json`` (``model_type`` rwkv7), ``model.safetensors``, the World vocabulary with its
tokenizer config, and a chat template for the ``User:`` / ``Assistant:`` format.

The key names are theirs (a fact of that layout): ``blocks.i.att.receptance`` is
``model.layers.i.attn.r_proj``, the low-rank pairs ``w1``/``w2`` become ``w_lora.lora.0`` / ``.lora.2``
(transposed, the ``w0`` vector as ``lora.2``'s bias), layer 0's unused value-residual tensors are left out.

RWKV-6 has no Hugging Face loader that runs without a GPU (transformers knows RWKV-4 only; fla's RWKV-6
needs triton), so an x060 model is refused here rather than written unchecked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from rwkv_simple_gui.model import ModelInfo

from .layout import Out, same

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
VOCAB = "rwkv_vocab_v20230424.txt"

_BLOCK = re.compile(r"^blocks\.(\d+)\.(ln0|ln1|ln2|att|ffn)\.(.+)$")
_NORMS = {"ln0": "pre_norm", "ln1": "attn_norm", "ln2": "ffn_norm"}
_PROJ = {"receptance": "r_proj", "key": "k_proj", "value": "v_proj", "output": "o_proj", "ln_x": "g_norm"}
_TOP = {"emb.weight": "model.embeddings.weight", "ln_out.weight": "model.norm.weight",
        "ln_out.bias": "model.norm.bias", "head.weight": "lm_head.weight"}
_LOW_RANK = re.compile(r"^([wavg])([012])$")
_VECTORS = ("k_k", "k_a")  # [1, 1, C] in our files, [C] in theirs (ffn.x_k too)

# our prompt format (chat.prompt.build_prompt): a blank line ends a turn, so the template folds blank
# lines inside a message into one newline
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- set role = {'system': 'System', 'user': 'User', 'assistant': 'Assistant'}[message['role']] -%}"
    "{{- role + ': ' + message['content'] | trim | replace('\\r\\n', '\\n') | replace('\\n\\n', '\\n') + '\\n\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}"
)


class HFExportError(ValueError):
    """The model cannot be written as a Hugging Face folder; the message says why."""


def check_version(info: ModelInfo) -> None:
    if info.version != "x070":
        raise HFExportError(
            f"the Hugging Face format is written for RWKV-7 only: this is an {info.version} model, and no "
            "Hugging Face loader of RWKV-6 runs without a GPU to check it (transformers has RWKV-4 only, "
            "flash-linear-attention's RWKV-6 needs triton); export pth, st or gguf instead")


def hf_name(name: str) -> tuple[str | None, bool]:
    """The folder's name of our tensor ``name`` (None: left out) and whether it is stored transposed."""
    if name in _TOP:
        return _TOP[name], False
    m = _BLOCK.match(name)
    if m is None:
        raise HFExportError(f"{name} has no place in the Hugging Face RWKV-7 layout")
    layer, part, rest = m.groups()
    prefix = f"model.layers.{layer}"
    if part in _NORMS:
        return f"{prefix}.{_NORMS[part]}.{rest}", False
    if part == "ffn":
        return f"{prefix}.ffn.{rest}", False
    head, _, tail = rest.partition(".")
    if head == "time_state":
        raise HFExportError("a time_state has no place in the Hugging Face layout: mount the state file instead")
    low = _LOW_RANK.match(head)
    if low:
        which, index = low.groups()
        if layer == "0" and which == "v":
            return None, False  # layer 0 has no value residual
        return f"{prefix}.attn.{which}_lora.lora." + {"0": "2.bias", "1": "0.weight", "2": "2.weight"}[index], \
            index != "0"
    if head in _PROJ:
        return f"{prefix}.attn.{_PROJ[head]}.{tail}", False
    return f"{prefix}.attn.{rest}", False


def _shape(name: str, new: str, shape: tuple[int, ...], transposed: bool) -> tuple[int, ...]:
    if transposed:
        return (shape[1], shape[0])
    if new.endswith(("lora.2.bias", ".ffn.x_k")) or name.rsplit(".", 1)[-1] in _VECTORS:
        return (shape[-1],)
    return shape


def layout(specs, dtype: torch.dtype) -> list[Out]:
    out = []
    for name, shape, _ in specs:
        new, transposed = hf_name(name)
        if new is None:
            continue
        build = (lambda t, d=dtype: t.t().to(d)) if transposed else same(dtype)
        out.append(Out(new, _shape(name, new, tuple(shape), transposed), dtype, (name,), build))
    return out


def config(info: ModelInfo, dtype: torch.dtype) -> dict:
    """config.json: the fields rwkv7-hf and flash-linear-attention read."""
    dtype_name = str(dtype).removeprefix("torch.")
    return {
        "architectures": ["RWKV7ForCausalLM"],
        "model_type": "rwkv7",
        "vocab_size": info.vocab_size,
        "hidden_size": info.n_embd,
        "num_hidden_layers": info.n_layer,
        "num_heads": info.n_head,
        "head_dim": info.head_size,
        "attention_hidden_size": info.n_embd,
        "value_dim": [info.n_embd] * info.n_layer,
        "intermediate_size": info.dim_ffn,
        "hidden_ratio": info.dim_ffn / info.n_embd,
        "decay_low_rank_dim": info.lora["w"],
        "a_low_rank_dim": info.lora["a"],
        "v_low_rank_dim": info.lora["v"],
        "gate_low_rank_dim": info.lora["g"],
        "hidden_act": "sqrelu",
        "norm_first": True,
        "norm_bias": True,
        "norm_eps": 1e-5,
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 0,
        "pad_token_id": 0,
        "use_cache": True,
        "torch_dtype": dtype_name,
        "dtype": dtype_name,
    }


def _world_vocab_text() -> str:
    from rwkv_simple_gui.data.tokenizer import WORLD_NAME, _world_vocab_path

    path = _world_vocab_path()
    if path is None:
        raise HFExportError(f"{WORLD_NAME}.txt not found; install the rwkv package (pip install rwkv)")
    with open(path, encoding="utf-8") as f:  # the pip copy has CRLF line ends; the canonical file has LF
        return "\n".join(f.read().splitlines()) + "\n"


def write_side_files(folder: Path, info: ModelInfo, dtype: torch.dtype) -> None:
    """Everything of the folder besides the weights."""
    def dump(name: str, value: dict) -> None:
        (folder / name).write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    dump(CONFIG, config(info, dtype))
    dump("generation_config.json", {"bos_token_id": 1, "eos_token_id": 0, "pad_token_id": 0})
    (folder / VOCAB).write_text(_world_vocab_text(), encoding="utf-8")
    dump("tokenizer_config.json", {"tokenizer_class": "RWKV7Tokenizer", "model_vocab_size": info.vocab_size,
                                   "pad_token": "<|padding|>", "eos_token": "<|endoftext|>", "errors": "replace",
                                   "chat_template": CHAT_TEMPLATE})
    dump("special_tokens_map.json", {"pad_token": "<|padding|>", "eos_token": "<|endoftext|>"})
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
