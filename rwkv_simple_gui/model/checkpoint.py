"""Read, recognise and write RWKV checkpoints: flat ``{name: tensor}`` files (.pth or .safetensors).

The geometry (version, layers, width, heads, vocab, LoRA widths) always comes from the keys and
shapes (reference §1.5-1.6), never from the user.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Mapping

import torch

from .. import paths
from .rwkv import RWKV, ModelFormatError, ModelInfo

log = logging.getLogger(__name__)

SAFETENSORS_SUFFIXES = (".safetensors", ".st")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

# RWKV-LM saves value-residual weights in layer 0 too, where the maths never uses them
_UNUSED_LAYER0 = ("blocks.0.att.v0", "blocks.0.att.v1", "blocks.0.att.v2")
_BLOCK_KEY = re.compile(r"blocks\.(\d+)\.")
# names that only one version uses, also in adapter checkpoints (which lack r_k / time_maa_x)
_V6_HINTS = (".att.time_maa", ".att.time_decay", ".att.time_faaaa", ".att.gate.", ".ffn.receptance.", ".ffn.time_maa")
_V7_HINTS = (".att.x_r", ".att.w0", ".att.r_k", ".att.k_k", ".att.a0", ".att.g1", ".att.v0", ".ffn.x_k")


def version_hint(keys) -> str | None:
    """"x070" or "x060" when some key name belongs to one version only (works on adapter checkpoints)."""
    keys = list(keys)
    if any(h in k for k in keys for h in _V7_HINTS):
        return "x070"
    if any(h in k for k in keys for h in _V6_HINTS):
        return "x060"
    return None


def layer_count(keys) -> int:
    """1 + the largest ``blocks.<i>`` index among the keys (0 when there is none)."""
    layers = [int(m.group(1)) for k in keys if (m := _BLOCK_KEY.match(k))]
    return max(layers) + 1 if layers else 0


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """torch dtype for "fp32" / "fp16" / "bf16" (or a torch floating dtype)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}") from None


# ---------------------------------------------------------------------------------------------
# reading


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint; .pth files are memory-mapped, so nothing is read until used."""
    path = paths.resolve(path, base="model")
    problem = paths.file_problem(path)
    if problem:
        raise FileNotFoundError(f"{path} {problem}")
    if path.suffix.lower() in SAFETENSORS_SUFFIXES:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        try:
            return load_file(path)
        except SafetensorError as e:
            raise ModelFormatError(f"{path}: not a readable safetensors file ({e})") from e
    from .lazy import damaged_message, refused_message

    is_zip = zipfile.is_zipfile(path)
    if not is_zip and not _starts_like_a_pickle(path):  # a truncated zip is neither, and is called damaged
        raise ModelFormatError(damaged_message(path))
    try:
        obj = torch.load(path, map_location="cpu", mmap=is_zip, weights_only=True)
    except pickle.UnpicklingError as e:
        raise ModelFormatError(refused_message(path, e)) from None
    except Exception as e:  # not a torch file at all
        raise ModelFormatError(f"{path}: not a PyTorch checkpoint ({type(e).__name__}: {e})") from e
    return _flatten(obj, path)


def _starts_like_a_pickle(path: Path) -> bool:
    """Legacy (pre-zip) torch files start with a pickle protocol header."""
    with open(path, "rb") as f:
        return f.read(1) == b"\x80"


_SAFETENSORS_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                       "U8": torch.uint8, "BOOL": torch.bool}


def _read_shapes(path: str | os.PathLike) -> Mapping[str, torch.Tensor]:
    """Tensors that carry shape and dtype only: meta tensors from a safetensors header, or the
    memory-mapped tensors of a .pth (whose data is not read)."""
    path = paths.resolve(path, base="model")
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES or not path.is_file():
        return read_state_dict(path)
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, "pt") as f:
            return {k: torch.empty(f.get_slice(k).get_shape(), device="meta",
                                   dtype=_SAFETENSORS_DTYPES.get(f.get_slice(k).get_dtype(), torch.uint8))
                    for k in f.keys()}
    except SafetensorError as e:
        raise ModelFormatError(f"{path}: not a readable safetensors file ({e})") from e


def _flatten(obj, path: Path) -> dict[str, torch.Tensor]:
    """Accept the flat dict RWKV tools write, and unwrap the common training-checkpoint nestings."""
    if not isinstance(obj, Mapping):
        raise ModelFormatError(f"{path}: holds a {type(obj).__name__}, not a dict of tensors")
    if not any(isinstance(v, torch.Tensor) for v in obj.values()):
        for wrapper in ("state_dict", "model", "module"):
            if isinstance(obj.get(wrapper), Mapping):
                log.info("%s: using the weights nested under %r", path, wrapper)
                return _flatten(obj[wrapper], path)
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    for prefix in ("module.", "_forward_module."):
        if sd and all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def _looks_like(keys: list[str]) -> str:
    """A short description of what a non-RWKV key set seems to be."""
    if not keys:
        return "the file holds no tensors"
    sample = ", ".join(keys[:3])
    if any(k.startswith(("model.layers.", "model.embed_tokens", "transformer.h.", "gpt_neox.")) for k in keys):
        return f"keys look like a Hugging Face transformers checkpoint: {sample}..."
    if any(k.endswith((".lora_A", ".lora_B", ".disha", ".bone")) for k in keys):
        return (f"it is a training checkpoint (adapter weights such as {sample}...): merge it into its base "
                "model first, or load the base model")
    if all(k.endswith("att.time_state") for k in keys):
        return (f"it is a state file ({len(keys)} time_state tensors): pick the base model it was trained on "
                "and mount this file as its state")
    return f"found {len(keys)} keys such as {sample}"


def _shape(sd: Mapping[str, torch.Tensor], key: str, source: str, ndim: int | None = None) -> tuple[int, ...]:
    if key not in sd:
        raise ModelFormatError(f"{source}: missing key {key}; the file looks incomplete or is another RWKV variant")
    shape = tuple(sd[key].shape)
    if ndim is not None and len(shape) != ndim:
        raise ModelFormatError(f"{source}: {key} has shape {list(shape)}, expected {ndim} dimensions")
    return shape


def detect(state_dict_or_path: Mapping[str, torch.Tensor] | str | os.PathLike) -> ModelInfo:
    """The geometry of an RWKV-7/RWKV-6 checkpoint, read from its keys and shapes only."""
    if isinstance(state_dict_or_path, Mapping):
        sd, source = state_dict_or_path, "state dict"
    else:
        source = str(paths.resolve(state_dict_or_path, base="model"))
        sd = _read_shapes(state_dict_or_path)
    keys = list(sd)
    if "emb.weight" not in sd:
        raise ModelFormatError(f"{source}: not an RWKV model: no emb.weight; {_looks_like(keys)}")
    n_layer = layer_count(keys)
    if not n_layer:
        raise ModelFormatError(f"{source}: has emb.weight but no blocks.N.* keys; {_looks_like(keys)}")
    vocab_size, n_embd = _shape(sd, "emb.weight", source, 2)

    if "blocks.0.att.r_k" in sd:
        version = "x070"
        n_head, head_size = _shape(sd, "blocks.0.att.r_k", source, 2)
        v_key = "blocks.1.att.v1" if n_layer > 1 else "blocks.0.att.v1"
        lora = {"w": _shape(sd, "blocks.0.att.w1", source, 2)[1],
                "a": _shape(sd, "blocks.0.att.a1", source, 2)[1],
                "v": _shape(sd, v_key, source, 2)[1] if v_key in sd else 32,
                "g": _shape(sd, "blocks.0.att.g1", source, 2)[1]}
    elif "blocks.0.att.time_maa_x" in sd:
        version = "x060"
        n_head, head_size = _shape(sd, "blocks.0.att.time_faaaa", source, 2)
        lora = {"maa": _shape(sd, "blocks.0.att.time_maa_w2", source, 3)[1],
                "decay": _shape(sd, "blocks.0.att.time_decay_w1", source, 2)[1]}
    elif "blocks.0.att.time_decay" in sd:
        raise ModelFormatError(f"{source}: an RWKV-4/5 model (time_decay without time_maa_x or r_k); "
                               "only RWKV-7 (x070) and RWKV-6 (x060) are supported")
    else:
        raise ModelFormatError(f"{source}: has emb.weight but neither blocks.0.att.r_k (RWKV-7) nor "
                               f"blocks.0.att.time_maa_x (RWKV-6); {_looks_like(keys)}")
    if n_head * head_size != n_embd:
        raise ModelFormatError(f"{source}: {n_head} heads of {head_size} do not make n_embd {n_embd}")
    dim_ffn = _shape(sd, "blocks.0.ffn.key.weight", source, 2)[0]
    return ModelInfo(version=version, n_layer=n_layer, n_embd=n_embd, head_size=head_size,
                     vocab_size=vocab_size, dim_ffn=dim_ffn, lora=lora,
                     dtype=DTYPE_NAMES.get(sd["emb.weight"].dtype, str(sd["emb.weight"].dtype)),
                     n_params=sum(t.numel() for t in sd.values()),
                     time_state=any(k.endswith("att.time_state") for k in keys))


# ---------------------------------------------------------------------------------------------
# load / save


def load_model(path: str | os.PathLike, *, dtype: str | torch.dtype = torch.float32, device="cpu",
               op: str = "auto") -> RWKV:
    """An RWKV module holding the checkpoint's weights in ``dtype`` on ``device``.

    ``blocks.*.att.time_state`` keys become ``att.time_state`` parameters (the default initial
    state). Missing or unexpected keys raise ModelFormatError naming them.
    """
    source = paths.resolve(path, base="model")
    sd = read_state_dict(source)
    info = detect(sd)
    dtype = parse_dtype(dtype)
    with torch.device("meta"):
        model = RWKV(info, op)
        for i, block in enumerate(model.blocks):
            if f"blocks.{i}.att.time_state" in sd:
                block.att.time_state = torch.nn.Parameter(torch.empty(info.n_head, info.head_size, info.head_size))
    expected = model.state_dict()
    _check_keys(source, sd, expected, info)
    weights = {k: sd[k].to(device=device, dtype=dtype, copy=True) for k in expected}
    del sd  # drop the memory map
    model.load_state_dict(weights, strict=True, assign=True)
    log.info("loaded %s: %s", paths.display(source), info.describe())
    return model


def _check_keys(source: Path, sd: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
                info: ModelInfo) -> None:
    """ModelFormatError naming the keys the checkpoint lacks or has beyond the model's, or a shape that differs."""
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected and k not in _UNUSED_LAYER0]
    if missing or unexpected:
        parts = [f"{what} {len(keys)} keys ({', '.join(keys[:5])}{'...' if len(keys) > 5 else ''})"
                 for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        raise ModelFormatError(f"{source}: {'; '.join(parts)} for {info.describe()}")
    for k, ref in expected.items():
        if tuple(sd[k].shape) != tuple(ref.shape):
            raise ModelFormatError(f"{source}: {k} has shape {list(sd[k].shape)}, expected {list(ref.shape)} "
                                   f"for {info.describe()}")


def save_model(module_or_state_dict: torch.nn.Module | Mapping[str, torch.Tensor], path: str | os.PathLike,
               dtype: str | torch.dtype | None = None) -> Path:
    """Write a flat ``{name: tensor}`` file (.pth zip, or safetensors for .safetensors/.st), atomically.

    ``dtype`` casts floating tensors (None keeps each tensor's dtype). The file loads in the rwkv
    package, RWKV-Runner and :func:`load_model`.
    """
    dest = paths.resolve(path, base="model")
    sd = (module_or_state_dict.state_dict() if isinstance(module_or_state_dict, torch.nn.Module)
          else module_or_state_dict)
    target = None if dtype is None else parse_dtype(dtype)
    out = {}
    for k, t in sd.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"cannot save {k}: a {type(t).__name__}, not a tensor")
        t = t.detach().to("cpu")
        if target is not None and t.is_floating_point():
            t = t.to(target)
        # a view would drag its whole storage into the file
        if not t.is_contiguous() or t.untyped_storage().nbytes() != t.numel() * t.element_size():
            t = t.clone(memory_format=torch.contiguous_format)
        out[k] = t
    with paths.atomic_output(dest) as tmp:
        if dest.suffix.lower() in SAFETENSORS_SUFFIXES:
            from safetensors.torch import save_file
            save_file(out, str(tmp), metadata={"format": "pt"})
        else:
            torch.save(out, tmp)
    return dest
