"""GGUF for llama.cpp / Ollama (architectures rwkv7 and rwkv6), written with the ``gguf`` package, the
writer llama.cpp ships, with the World vocabulary inside.

The layout is llama.cpp's (facts of its loader, ``src/models/rwkv7.cpp`` / ``rwkv6.cpp``): the token-shift
mixes of a layer stacked into one ``time_mix_lerp_fused`` tensor, the low-rank matrices transposed, vectors
flattened, layer 0 given placeholder value-residual tensors of the ICLR width (it loads but never uses
them). Tensor types follow llama.cpp's converter: vectors, norms, the token-shift and decay low-rank
tensors and ``time_mix_first`` stay F32, every other matrix takes the chosen type (q8_0 falls back to F16
for a matrix whose rows are not a multiple of its 32-value blocks).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import torch

from rwkv_simple_gui.model import ModelInfo

from .layout import Out

TYPES = ("fp32", "fp16", "bf16", "q8_0")
EOT = 261  # "\n\n": llama.cpp's converter makes it the end-of-turn token so a chat stops after an answer
_BLOCK = re.compile(r"^blocks\.(\d+)\.(.+)$")
_LERPS = {"x070": ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"),
          "x060": ("time_maa_w", "time_maa_k", "time_maa_v", "time_maa_r", "time_maa_g")}
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- set role = {'system': 'System', 'user': 'User', 'assistant': 'Assistant'}[message['role']] -%}"
    "{{- role + ': ' + message['content'] | trim | replace('\\n\\n', '\\n') + '\\n\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'Assistant:' -}}{%- endif -%}"
)


class GGUFExportError(ValueError):
    """The model cannot be written as GGUF; the message says why and what to do."""


def _gguf():
    try:
        import gguf
    except ImportError:
        raise GGUFExportError("GGUF export needs the gguf package (llama.cpp's writer): pip install gguf") from None
    return gguf


def _swap(x: torch.Tensor) -> torch.Tensor:
    """The last two dimensions swapped (its own inverse)."""
    return x.transpose(-2, -1)


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(-1)


_KEEP: Callable[[torch.Tensor], torch.Tensor] = lambda x: x  # noqa: E731

# our name inside a block -> (llama.cpp tensor, transform)
_V7 = {"ln1.weight": ("attn_norm.weight", _KEEP), "ln1.bias": ("attn_norm.bias", _KEEP),
       "ln2.weight": ("attn_norm_2.weight", _KEEP), "ln2.bias": ("attn_norm_2.bias", _KEEP),
       **{f"att.{p}0": (f"time_mix_{p}0.weight", _flat) for p in "wav"},
       **{f"att.{p}{i}": (f"time_mix_{p}{i}.weight", _swap) for p in "wavg" for i in "12"},
       "att.k_k": ("time_mix_k_k.weight", _flat), "att.k_a": ("time_mix_k_a.weight", _flat),
       "att.r_k": ("time_mix_r_k.weight", _flat),
       **{f"att.{p}.weight": (f"time_mix_{p}.weight", _KEEP) for p in ("receptance", "key", "value", "output")},
       "att.ln_x.weight": ("time_mix_ln.weight", _KEEP), "att.ln_x.bias": ("time_mix_ln.bias", _KEEP),
       "ffn.x_k": ("channel_mix_lerp_k.weight", _flat),
       "ffn.key.weight": ("channel_mix_key.weight", _KEEP), "ffn.value.weight": ("channel_mix_value.weight", _KEEP)}
_V6 = {"ln1.weight": ("attn_norm.weight", _KEEP), "ln1.bias": ("attn_norm.bias", _KEEP),
       "ln2.weight": ("attn_norm_2.weight", _KEEP), "ln2.bias": ("attn_norm_2.bias", _KEEP),
       "att.time_maa_x": ("time_mix_lerp_x.weight", _flat),
       "att.time_maa_w1": ("time_mix_w1.weight", _swap),
       "att.time_maa_w2": ("time_mix_w2.weight", _swap),
       "att.time_decay": ("time_mix_decay.weight", _flat),
       "att.time_decay_w1": ("time_mix_decay_w1.weight", _swap),
       "att.time_decay_w2": ("time_mix_decay_w2.weight", _swap),
       "att.time_faaaa": ("time_mix_first.weight", _KEEP),
       **{f"att.{p}.weight": (f"time_mix_{p}.weight", _KEEP)
          for p in ("receptance", "key", "value", "output", "gate")},
       "att.ln_x.weight": ("time_mix_ln.weight", _KEEP), "att.ln_x.bias": ("time_mix_ln.bias", _KEEP),
       "ffn.time_maa_k": ("channel_mix_lerp_k.weight", _flat), "ffn.time_maa_r": ("channel_mix_lerp_r.weight", _flat),
       **{f"ffn.{p}.weight": (f"channel_mix_{p}.weight", _KEEP) for p in ("key", "value", "receptance")}}
_TOP = {"emb.weight": "token_embd.weight", "blocks.0.ln0.weight": "token_embd_norm.weight",
        "blocks.0.ln0.bias": "token_embd_norm.bias", "ln_out.weight": "output_norm.weight",
        "ln_out.bias": "output_norm.bias", "head.weight": "output.weight"}
# kept in F32 whatever the chosen type (llama.cpp's converter does the same)
_F32 = re.compile(r"(_norm|time_mix_ln)\.weight$|\.bias$|time_mix_(first|w1|w2|decay_w1|decay_w2|lerp_fused)\.weight$")


def _out_shape(shape: tuple[int, ...], transform) -> tuple[int, ...]:
    return tuple(transform(torch.empty(shape, device="meta")).shape)


def layout(specs, info: ModelInfo) -> list[Out]:
    """The GGUF tensors (fp32 here; the writer casts each to its type) made from our tensors."""
    shapes = {name: tuple(shape) for name, shape, _ in specs}
    out: list[Out] = []
    for name, shape, _ in specs:
        if name in _TOP:
            out.append(Out(_TOP[name], shape, torch.float32, (name,), _KEEP))
        else:
            out += _block_layout(name, shape, info, shapes)
    return out


def _block_layout(name: str, shape, info: ModelInfo, shapes: dict) -> list[Out]:
    """The GGUF tensors block tensor ``name`` makes: none while a fused one waits for its other parts."""
    table, lerps = (_V7, _LERPS["x070"]) if info.version == "x070" else (_V6, _LERPS["x060"])
    m = _BLOCK.match(name)
    layer, rest = (int(m.group(1)), m.group(2)) if m else (None, name)
    prefix = f"blk.{layer}."
    if rest.endswith("time_state"):
        raise GGUFExportError("llama.cpp has no place for a merged time_state: export the model without "
                              "--merge-state and use the state file with a runtime that mounts states")
    if rest in {f"att.{p}" for p in lerps}:  # fused when the last of the layer's mixes comes: all are in
        return _fused_lerps(layer, lerps, info.n_embd) if rest == f"att.{lerps[-1]}" else []
    first_v7 = info.version == "x070" and layer == 0
    if first_v7 and rest in ("att.v0", "att.v1", "att.v2"):
        return []  # replaced below by placeholders of the ICLR width
    if layer is None or rest not in table:
        raise GGUFExportError(f"{name} has no place in llama.cpp's {info.version} layout")
    new, transform = table[rest]
    out = [Out(prefix + new, _out_shape(shape, transform), torch.float32, (name,), transform)]
    return out + _v_placeholders(name, shapes) if first_v7 and rest == "att.a2" else out


def _fused_lerps(layer: int, lerps, n_embd: int) -> list[Out]:
    sources = tuple(f"blocks.{layer}.att.{p}" for p in lerps)
    return [Out(f"blk.{layer}.time_mix_lerp_fused.weight", (len(lerps), 1, 1, n_embd), torch.float32, sources,
                lambda *xs: torch.stack([x.reshape(1, 1, -1) for x in xs]))]


def _v_placeholders(after: str, shapes: dict) -> list[Out]:
    """Layer 0's v0/v1/v2 (unused there) as zeros of the a0/a1/a2 shapes llama.cpp expects."""
    out = []
    for part in ("0", "1", "2"):
        a_shape = _out_shape(shapes[f"blocks.0.att.a{part}"], _flat if part == "0" else _swap)
        out.append(Out(f"blk.0.time_mix_v{part}.weight", a_shape, torch.float32, (), lambda s=a_shape: torch.zeros(s),
                       after=after))
    return out


class _Sink:
    """A GGUF file written tensor by tensor: metadata and the tensor index first, then each tensor."""

    def __init__(self, path: Path, specs, info: ModelInfo, type_name: str, name: str):
        gguf = self.gguf = _gguf()
        arch = "rwkv7" if info.version == "x070" else "rwkv6"
        q = gguf.GGMLQuantizationType
        chosen = {"fp32": q.F32, "fp16": q.F16, "bf16": q.BF16, "q8_0": q.Q8_0}[type_name]
        self.writer = gguf.GGUFWriter(path, arch)
        _metadata(self.writer, gguf, info, type_name, name)
        self.types = {}
        for tensor_name, shape, _ in specs:
            qtype = q.F32 if len(shape) <= 1 or _F32.search(tensor_name) else chosen
            if qtype == q.Q8_0 and shape[-1] % gguf.GGML_QUANT_SIZES[q.Q8_0][0]:
                qtype = q.F16
            block, type_size = gguf.GGML_QUANT_SIZES[qtype]
            nbytes = (int(torch.Size(shape).numel()) // block) * type_size
            self.writer.add_tensor_info(tensor_name, shape, _np_f32(), nbytes, raw_dtype=qtype)
            self.types[tensor_name] = qtype
        self.writer.write_header_to_file()
        self.writer.write_kv_data_to_file()
        self.writer.write_ti_data_to_file()

    def write(self, name: str, tensor: torch.Tensor) -> None:
        q = self.gguf.GGMLQuantizationType
        qtype = self.types[name]
        if qtype == q.BF16:
            data = tensor.to(torch.bfloat16).view(torch.int16).numpy()
        elif qtype == q.F16:
            data = tensor.to(torch.float16).numpy()
        else:
            data = tensor.to(torch.float32).numpy()
            if qtype == q.Q8_0:
                data = self.gguf.quants.quantize(data, qtype)
        self.writer.write_tensor_data(data)

    def finish(self) -> None:
        self.writer.flush()
        self.close()

    def close(self) -> None:
        self.writer.close()


def _np_f32():
    import numpy as np

    return np.float32


def _metadata(writer, gguf, info: ModelInfo, type_name: str, name: str) -> None:
    ftype = gguf.LlamaFileType
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_context_length(1048576)  # RWKV has no context limit
    writer.add_embedding_length(info.n_embd)
    writer.add_block_count(info.n_layer)
    writer.add_feed_forward_length(info.dim_ffn)
    writer.add_layer_norm_eps(1e-5)
    writer.add_wkv_head_size(info.head_size)
    writer.add_head_count(0)  # required by llama.cpp, unused by RWKV
    if info.version == "x070":
        writer.add_decay_lora_rank(info.lora["w"])
        writer.add_iclr_lora_rank(info.lora["a"])
        writer.add_value_residual_mix_lora_rank(info.lora["v"])
        writer.add_gate_lora_rank(info.lora["g"])
    else:
        writer.add_time_mix_extra_dim(info.lora["maa"])
        writer.add_time_decay_extra_dim(info.lora["decay"])
        writer.add_rescale_every_n_layers(0)
    writer.add_file_type({"fp32": ftype.ALL_F32, "fp16": ftype.MOSTLY_F16, "bf16": ftype.MOSTLY_BF16,
                          "q8_0": ftype.MOSTLY_Q8_0}[type_name])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _vocabulary(writer, gguf, info.vocab_size)


def _vocabulary(writer, gguf, vocab_size: int) -> None:
    """The World vocabulary as llama.cpp's ``rwkv`` tokenizer reads it: each token's bytes as Python
    escapes them, id 0 a control token, the rows past the vocabulary padding."""
    from rwkv_simple_gui.data.tokenizer import _world_vocab_bytes

    vocab = _world_vocab_bytes()
    count = len(vocab.lines)
    if vocab_size <= count:
        raise GGUFExportError(f"the model's vocabulary has {vocab_size} rows, but the World vocabulary that GGUF "
                              f"carries has {count + 1} ids: GGUF export is for World-vocabulary models")
    tokens = [b"<s>"] + [repr(vocab[i])[2:-1].encode("utf-8") for i in range(1, count + 1)]
    types = [gguf.TokenType.CONTROL] + [gguf.TokenType.NORMAL] * count
    tokens += [f"[PAD{i}]".encode() for i in range(len(tokens), vocab_size)]
    types += [gguf.TokenType.UNUSED] * (vocab_size - len(types))
    writer.add_tokenizer_model("rwkv")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    writer.add_eot_token_id(EOT)
    writer.add_chat_template(CHAT_TEMPLATE)


def open_sink(path: Path, specs, info: ModelInfo, type_name: str, name: str) -> _Sink:
    if type_name not in TYPES:
        raise GGUFExportError(f"GGUF type must be one of {', '.join(TYPES)}, not {type_name!r}")
    return _Sink(path, specs, info, type_name, name)
