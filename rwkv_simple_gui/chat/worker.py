"""Chat with a model through the ``rwkv`` pip package, run in its own process.

The package decides at import time whether it serves RWKV-7 (``RWKV_V7_ON=1``) or RWKV-4..6, so each
model gets a fresh process with the right flag; closing the worker gives all its memory back.
The parent checks everything it can read cheaply (file, version, state shapes) before starting one,
and turns anything the worker reports, or its death, into a :class:`ChatError`.
"""

from __future__ import annotations

import math
import multiprocessing
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from rwkv_simple_gui import paths
from rwkv_simple_gui.chat.prompt import SamplingParams, StopScanner, build_prompt
from rwkv_simple_gui.data.template import Turn, reply_prefix

VOCAB = "rwkv_vocab_v20230424"
CHUNK_LEN = 256  # prompt tokens per forward call, as PIPELINE.generate does
_STRATEGY = re.compile(r"^(cpu|cuda(?::\d+)?) (fp16|fp32|bf16)$")


class ChatError(RuntimeError):
    """The model, state or worker cannot serve the chat; the message says why and what to do."""


def available_strategies() -> list[str]:
    """The ``rwkv`` strategies this machine can run (RWKV-7 accepts one device and one dtype)."""
    import torch

    found = ["cpu fp32", "cpu bf16"]
    if torch.cuda.is_available():
        found += ["cuda fp16", "cuda bf16"]
    return found


@dataclass(frozen=True)
class ModelFacts:
    path: Path
    version: str      # "x070" or "x060"
    n_layer: int
    n_embd: int
    n_head: int
    head_size: int


def inspect_model(path: str | Path) -> ModelFacts:
    """Version and shape of an RWKV ``.pth`` from its index (no tensor is read)."""
    from rwkv_simple_gui.model import ModelFormatError, detect

    path = Path(path)
    if (path / "adapter_config.json").is_file():
        raise ChatError(f"{path} is a Hugging Face peft adapter folder: merge it into its base model in the Merge "
                        "tab, then chat with the merged .pth")
    if problem := paths.file_problem(path):
        raise ChatError(f"model file {path} {problem}")
    if path.suffix != ".pth":
        raise ChatError(f"{path}: the rwkv package loads .pth files only (an Ai00 .st is for Ai00/web-rwkv)")
    try:
        info = detect(path)
    except ModelFormatError as exc:
        raise ChatError(str(exc)) from None
    return ModelFacts(path, info.version, info.n_layer, info.n_embd, info.n_head, info.head_size)


def check_state(path: str | Path, facts: ModelFacts, *, force: bool = False) -> None:
    """A ``time_state`` file must have one ``[H, N, N]`` state per layer of the model, and (unless ``force``)
    belong to this model: the base fingerprint the file carries, else its run's base (config.json), must be
    the model's."""
    from rwkv_simple_gui.export import fingerprint
    from rwkv_simple_gui.model import ModelFormatError
    from rwkv_simple_gui.model.lazy import LazyStateDict

    path = Path(path)
    if problem := paths.file_problem(path):
        raise ChatError(f"state file {path} {problem}")
    try:
        sd = LazyStateDict(path)
    except ModelFormatError as exc:
        raise ChatError(f"state file {exc}") from None
    states = {k: v for k, v in sd.items() if k.endswith(".att.time_state")}
    if not states:
        raise ChatError(f"{path} holds no blocks.<i>.att.time_state: not a state-tuning file")
    expect = (facts.n_head, facts.head_size, facts.head_size)
    layers = {int(k.split(".")[1]) for k in states}
    if layers != set(range(facts.n_layer)):
        raise ChatError(f"state file {path} has states for {len(layers)} layers, the model has {facts.n_layer}: "
                        "pick the state trained on this base model")
    for key, ref in states.items():
        if tuple(ref.shape) != expect:
            raise ChatError(f"state file {path}: {key} is {list(ref.shape)}, this {facts.version} model needs "
                            f"{list(expect)}; pick the state trained on this base model")
    if force:
        return
    tuned_on = fingerprint.read(path) or _run_base_fingerprint(path, facts.path)
    if tuned_on is not None:
        problem = fingerprint.mismatch(tuned_on, fingerprint.of_file(facts.path), path, facts.path)
        if problem:
            raise ChatError(f"{problem}: load that base model, or tick “use the state anyway”")


def _run_base_fingerprint(state_path: Path, model_path: Path):
    """The fingerprint of the base a training run's state checkpoint names in its config.json, if it exists."""
    from rwkv_simple_gui.export import fingerprint
    from rwkv_simple_gui.train.rundir import read_options

    try:
        named = read_options(state_path.parent).get("model_path")
    except ValueError:
        return None
    base = paths.resolve(named, base="model") if named else None
    if base is None or not base.is_file() or base.resolve() == model_path.resolve():
        return None
    return fingerprint.of_file(base)


def preflight(model_path: str | Path, strategy: str, state_path: str | Path | None = None, *,
              force_state: bool = False) -> tuple[ModelFacts, Path | None]:
    """Everything a ChatWorker checks before it starts a process (cheap: shapes and a few small tensors);
    the Chat tab runs it before it unloads the model in use, so a refused file costs nothing."""
    offered = available_strategies()
    if not _STRATEGY.match(strategy):
        raise ChatError(f"strategy {strategy!r} is not valid: use one of {', '.join(offered)}")
    if strategy.startswith("cuda") and "cuda fp16" not in offered:
        raise ChatError(f"strategy {strategy!r} needs a CUDA GPU; this machine offers {', '.join(offered)}")
    facts = inspect_model(paths.resolve(model_path, base="merge"))
    state = paths.resolve(state_path, base="output") if state_path else None
    if state:
        check_state(state, facts, force=force_state)
    return facts, state


class ChatWorker:
    """One model (and optionally a mounted state) served by the ``rwkv`` package in a child process."""

    def __init__(self, model_path: str | Path, strategy: str = "cpu fp32", state_path: str | Path | None = None,
                 *, force_state: bool = False, load_timeout: float = 900):
        self.facts, self.state_path = preflight(model_path, strategy, state_path, force_state=force_state)
        self.strategy = strategy
        self._lock = threading.Lock()
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve, name="rwkv-chat",
            args=(child, str(self.facts.path), self.facts.version, strategy,
                  str(self.state_path) if self.state_path else None),
            daemon=True)
        self._process.start()
        child.close()
        kind, payload = self._receive(load_timeout)
        if kind != "ready":
            self.close()
            raise ChatError(payload)

    @property
    def version(self) -> str:
        return self.facts.version

    def _died(self) -> ChatError:
        self._process.join(1)
        return ChatError(f"the chat worker stopped (exit code {self._process.exitcode}) while serving "
                         f"{self.facts.path.name}; out of memory? Start it again")

    def _send(self, message: tuple) -> None:
        try:
            self._conn.send(message)
        except OSError:
            raise self._died() from None

    def _receive(self, timeout: float | None = None):
        waited = 0.0
        try:
            while not self._conn.poll(0.1):
                waited += 0.1
                if not self._process.is_alive():
                    raise self._died()
                if timeout is not None and waited > timeout:
                    raise ChatError(f"the chat worker did not answer in {timeout:.0f} s")
            return self._conn.recv()
        except (EOFError, OSError):
            raise self._died() from None

    def generate(self, history: Iterable[Mapping | Turn], prompt: str, params: SamplingParams | Mapping | None = None,
                 *, system: str = "", think: str = "off", think_length: str = "") -> Iterator[str]:
        """Stream the reply to ``prompt`` after ``history`` (chat messages or Turns) as text deltas, up to the next
        role header. The reply begins with what the think mode put after ``Assistant:`` (``<think`` ...), so the
        deltas joined are the whole reply (``template.parse_reply`` splits it)."""
        params = SamplingParams.from_mapping(params)
        text = build_prompt(history, prompt, system=system, think=think, think_length=think_length)
        started = reply_prefix(think).lstrip()
        if started:
            yield started
        with self._lock:
            self._send(("generate", text, params))
            finished = False
            try:
                while True:
                    kind, payload = self._receive()
                    if kind == "delta":
                        yield payload
                    elif kind == "done":
                        finished = True
                        return
                    else:
                        finished = True
                        raise ChatError(payload)
            finally:
                if not finished and self._process.is_alive():
                    self._send(("stop",))
                    while self._receive()[0] == "delta":
                        pass

    def reply(self, history: Iterable[Mapping | Turn], prompt: str, params: SamplingParams | Mapping | None = None,
              **prompt_options) -> str:
        return "".join(self.generate(history, prompt, params, **prompt_options))

    def logits(self, text: str):
        """Next-token logits (fp32 numpy array) after ``text``, from the mounted state or zeros."""
        with self._lock:
            self._send(("logits", text))
            kind, payload = self._receive()
        if kind != "logits":
            raise ChatError(payload)
        return payload

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send(("close",))
            except (BrokenPipeError, OSError):
                pass
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()

    def __enter__(self) -> "ChatWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ------------------------------------------------------------------------------------------------
# The child process (imports rwkv only here, after setting its flags)
# ------------------------------------------------------------------------------------------------

def _serve(conn, model_path: str, version: str, strategy: str, state_path: str | None) -> None:
    import contextlib
    import io
    import os

    os.environ["RWKV_V7_ON"] = "1" if version == "x070" else "0"
    os.environ["RWKV_CUDA_ON"] = "0"
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints its loading log
            from rwkv.model import RWKV
            from rwkv.utils import PIPELINE

            # the RWKV-7 loader appends ".pth" itself
            model = RWKV(model=model_path[: -len(".pth")] if version == "x070" else model_path, strategy=strategy)
        pipeline = PIPELINE(model, VOCAB)
        from rwkv_simple_gui.export.runtimes import mounted_state

        state = mounted_state(model, version, state_path) if state_path else None
    except Exception as exc:  # anything the package raises is reported, not left to hang the parent
        conn.send(("error", f"the rwkv package could not load {model_path} with {strategy!r}: "
                            f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        kind = request[0]
        if kind == "close":
            return
        try:
            if kind == "generate":
                _generate(conn, model, pipeline, state, request[1], request[2])
                conn.send(("done", None))
            elif kind == "logits":
                logits, _ = _prefill(model, pipeline.encode(request[1]), state)
                conn.send(("logits", logits.float().cpu().numpy()))
        except Exception as exc:
            conn.send(("error", f"generation failed: {type(exc).__name__}: {exc}"))


def _prefill(model, tokens: list[int], state):
    # the package writes new entries into the list it is given (and, with CUDA kernels, into the tensors)
    state = [s.clone() for s in state] if state is not None else None
    logits = None
    for start in range(0, len(tokens), CHUNK_LEN):
        logits, state = model.forward(tokens[start:start + CHUNK_LEN], state)
    return logits, state


def undecodable_mask(tokenizer, n_logits: int):
    """True for each output id the tokenizer has no text for: a model's head is usually wider than its
    vocabulary (65,536 outputs, World ids 1..65,529), and 0 is kept as the end of the text."""
    import torch

    mask = torch.ones(n_logits, dtype=torch.bool)
    known = [i for i in tokenizer.idx2token if i < n_logits]
    mask[known] = False
    mask[0] = False
    return mask


def token_bytes(tokenizer, token: int) -> bytes:
    """The bytes of one token; an id outside the vocabulary has none (never raises)."""
    return tokenizer.idx2token.get(token, b"")


def _generate(conn, model, pipeline, base_state, text: str, params: SamplingParams) -> None:
    """PIPELINE.generate's sampling (presence/frequency penalties with decay, whitespace and digits not
    penalised), streamed, stopping at any role header of the template, at token 0, at max_tokens or when asked.
    Only ids the tokenizer can decode are ever sampled."""
    import codecs

    import numpy as np
    import torch

    if params.seed is not None:
        np.random.seed(params.seed)
        torch.manual_seed(params.seed)
    logits, state = _prefill(model, pipeline.encode(text), base_state)
    banned = undecodable_mask(pipeline.tokenizer, logits.shape[-1]).to(logits.device)
    occurrence: dict[int, float] = {}
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    scanner = StopScanner()
    for _ in range(params.max_tokens):
        if conn.poll() and conn.recv()[0] == "stop":
            return
        logits = logits.float().masked_fill(banned, -math.inf)
        for token, count in occurrence.items():
            logits[token] -= params.presence_penalty + count * params.frequency_penalty
        token = pipeline.sample_logits(logits, params.temperature, params.top_p, params.top_k)
        if token == 0:
            break
        for seen in occurrence:
            occurrence[seen] *= params.penalty_decay
        raw = token_bytes(pipeline.tokenizer, token)
        weight = 0.0 if raw.decode("utf-8", "replace") in " \t0123456789" else 1.0
        occurrence[token] = occurrence.get(token, 0.0) + weight
        # a character may span several tokens: the decoder keeps an unfinished one for the next token
        # and shows bytes that can never form one as U+FFFD (PIPELINE.generate would stall on them)
        piece = utf8.decode(raw)
        if piece:
            delta = scanner.feed(piece)
            if delta:
                conn.send(("delta", delta))
            if scanner.stopped:
                return
        logits, state = model.forward([token], state)
    delta = scanner.finish()
    if delta:
        conn.send(("delta", delta))
