"""The training loop: model + method + data -> optimizer steps -> run directory.

``train(cfg, run_dir)`` runs in the trainer process (one per rank). It writes metrics and status after
every optimizer step, checkpoints at epoch ends, stops cleanly on SIGTERM/SIGINT after the current step,
and turns failures into a plain-words ``status.error`` (traceback in train.log).
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from rwkv_simple_gui import paths, peft

from .config import TrainConfig
from .data import EpochSampler, build_source, make_plan, open_dataset
from .distributed import AllReduceStepper, DeepSpeedStepper, Dist
from .loss import weighted_loss_sum
from .rundir import Log, RunDir, checkpoint_name
from .schedule import learning_rate

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
PART_LR_SCALE = {"att.w0": 2.0, "att.time_decay": 2.0}  # the decay base learns at 2x lr, as in RWKV-LM


class ConfigError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


class StopFlag:
    """Set by SIGTERM/SIGINT (or by a caller in the same process); checked between optimizer steps."""

    def __init__(self):
        self.event = threading.Event()

    def install(self, on_signal: Callable[[], None] | None = None) -> None:
        """Catch SIGTERM/SIGINT; ``on_signal`` runs at the first one (e.g. to show "stopping" at once)."""

        def handler(*_):
            if not self.event.is_set() and on_signal:
                on_signal()
            self.event.set()

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, handler)

    def __bool__(self) -> bool:
        return self.event.is_set()


def plain_error(exc: BaseException) -> str:
    """What went wrong, in words a user can act on."""
    text = str(exc)
    if isinstance(exc, ConfigError):
        return "Invalid settings: " + "; ".join(exc.problems)
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in text.lower():
        return ("Out of GPU memory: lower micro_bsz or ctx_len, set grad_cp 1, use infctx with a smaller chunk_ctx, "
                "or quant int8.")
    if isinstance(exc, MemoryError) or "DefaultCPUAllocator" in text:
        return "Out of memory (RAM): lower micro_bsz or ctx_len, or use a smaller model."
    if "size mismatch" in text:
        return f"The checkpoint does not fit the base model ({text.splitlines()[0]}): use the base model it was trained on."
    if "CUDA" in text and ("not available" in text or "no NVIDIA" in text or "Torch not compiled" in text):
        return f"This needs a CUDA GPU, but none is usable here: {text.splitlines()[0]}"
    if isinstance(exc, (ValueError, FileNotFoundError, RuntimeError, ImportError)):
        return text.splitlines()[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''} (see train.log for details)"


def choose_device() -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def make_optimizer(cfg: TrainConfig, named_params: dict, fused: bool) -> torch.optim.AdamW:
    """AdamW groups: weight decay only on matrices; the decay base (w0 / time_decay) at 2x lr."""
    groups: dict[tuple[float, float], list] = {}
    for name, p in named_params.items():
        scale = next((s for key, s in PART_LR_SCALE.items() if name.endswith(key)), 1.0)
        decay = cfg.weight_decay if p.dim() >= 2 else 0.0
        groups.setdefault((scale, decay), []).append(p)
    param_groups = [{"params": ps, "lr_scale": s, "weight_decay": d} for (s, d), ps in groups.items()]
    return torch.optim.AdamW(param_groups, lr=cfg.lr_init, betas=(cfg.beta1, cfg.beta2), eps=cfg.adam_eps,
                             fused=fused or None)


def estimate(cfg: TrainConfig, info, world: int | None = None) -> dict:
    """Steps the run will take, from the dataset's document count (``info``: a DataInfo; no model needed)."""
    world = world or cfg.devices
    n_docs = 0 if cfg.dataload == "get" else info.n_docs
    plan = make_plan(cfg, n_docs, world)
    return {"documents": n_docs, "micro_steps_per_epoch": plan.micro_steps,
            "steps_per_epoch": plan.steps_per_epoch, "total_steps": plan.steps_per_epoch * cfg.epoch_count,
            "steps_this_run": plan.steps_per_epoch * (cfg.epoch_count - cfg.epoch_begin),
            "samples_per_step": cfg.micro_bsz * cfg.mini_bsz * world}


def _load_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype:
    # frozen base weights may live in the compute dtype on GPU; trained weights stay fp32 (master copy)
    if device.type == "cuda" and not peft.method(cfg.finetune_mode).trains_base and cfg.precision in AUTOCAST:
        return AUTOCAST[cfg.precision]
    return torch.float32


def _apply_with_init(model, cfg: TrainConfig, run_dir: Path, dist: Dist, log: Log) -> None:
    """Inject the method. A method with an init file (PiSSA's SVD) computes it once, on rank 0, and every
    other rank starts from the file it writes, so all hold the same frozen weights."""
    row = peft.method(cfg.finetune_mode)
    if not row.init_file:
        peft.apply_peft(model, cfg)
        return
    init_path, given = Path(run_dir) / row.init_file, getattr(cfg, row.init_option)

    def save_init():
        with paths.atomic_output(init_path) as tmp:
            torch.save(row.layer_module().init_state_dict(model), tmp)

    if given:
        peft.apply_peft(model, cfg)
        if dist.is_main and not init_path.exists():  # the run folder keeps what its merge needs
            save_init()
        return
    if dist.is_main:
        log(f"{row.name}: computing the starting point of every adapted layer")
        peft.apply_peft(model, cfg)
        save_init()
    dist.barrier()
    if not dist.is_main:
        peft.apply_peft(model, cfg.replace(**{row.init_option: str(init_path)}))


def build_model(cfg: TrainConfig, device: torch.device, run_dir: Path, dist: Dist, log: Log):
    from rwkv_simple_gui.model import load_model

    model = load_model(cfg.model_path, dtype=_load_dtype(cfg, device), device=str(device), op=cfg.op)
    model.grad_cp = bool(cfg.grad_cp)
    _apply_with_init(model, cfg, run_dir, dist, log)
    load_option = peft.method(cfg.finetune_mode).load_option
    resume = getattr(cfg, load_option) if load_option else ""
    if resume:
        keys = peft.load_checkpoint(model, resume)
        log(f"resumed from {paths.display(resume)} ({len(keys)} tensors)")
    for p in peft.trainable_parameters(model).values():
        # contiguous: DeepSpeed views each parameter as flat bytes, and PiSSA's factors come out transposed
        p.data = p.data.float().contiguous()
    if cfg.quant != "none":
        from rwkv_simple_gui.peft.quant import quantize_model

        log(f"quantized {quantize_model(model, cfg.quant)} frozen linears to {cfg.quant}")
    return model


def forward_backward(model, batch, cfg: TrainConfig, device, scale: float, autocast, backward,
                     last: bool = True) -> tuple[float, int]:
    """Loss sum of one micro batch and its real token count; ``backward(loss * scale, is_last_pass)`` is called
    once per pass (``last``: this micro batch ends the optimizer step)."""
    x, y, w = batch.x.to(device), batch.y.to(device), batch.w.to(device)
    real = (w > 0).any(0).nonzero()
    if len(real) == 0:  # nothing learned here; a zero loss keeps every rank's collective calls in step
        real = torch.zeros(1, dtype=torch.long)
    # causal model: positions after the last weighted target change nothing, so they are not computed
    T = min(x.shape[1], math.ceil((int(real[-1]) + 1) / 16) * 16)
    x, y, w = x[:, :T], y[:, :T], w[:, :T]
    chunk = cfg.chunk_ctx if cfg.train_type == "infctx" else T
    state, total = None, 0.0
    for start in range(0, T, chunk):
        with autocast():
            logits, state = model(x[:, start:start + chunk], state)
            loss = weighted_loss_sum(logits, y[:, start:start + chunk], w[:, start:start + chunk])
        # each chunk is back-propagated at once and the state is cut (truncated BPTT), so memory holds
        # one chunk's graph however long the sequence is
        backward(loss * scale, last and start + chunk >= T)
        total += float(loss.detach())
        state = [tuple(t.detach() for t in layer) for layer in state]
    return total, batch.tokens


def train(cfg: TrainConfig, run_dir, *, progress: Callable[[dict], None] | None = None,
          stop: StopFlag | None = None) -> str:
    """Run the whole training; returns the final state (finished, stopped or failed)."""
    dist = Dist()
    run = RunDir(run_dir) if dist.is_main else None
    log = Log(Path(run_dir) / "train.log", enabled=dist.is_main)
    stop = stop or StopFlag()
    try:
        trainer = Trainer(cfg, Path(run_dir), run, dist, log, progress, stop)
        trainer.setup()
        state = trainer.run()
    except BaseException as exc:  # noqa: BLE001 - every failure must reach status.json
        if run is not None:
            log("".join(traceback.format_exception(exc)).rstrip())
            log(f"FAILED: {plain_error(exc)}")
            run.update_status(state="failed", exit_code=1, error=plain_error(exc))
        if isinstance(exc, KeyboardInterrupt):
            raise
        state = "failed"
    finally:
        log.close()
        dist.close()
    return state


class Trainer:
    """One run in this process (one rank): :meth:`setup`, then :meth:`run` = for epoch -> for step.

    Only rank 0 has a RunDir (``folder``) and writes the run folder."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, run: RunDir | None, dist: Dist, log: Log,
                 progress: Callable[[dict], None] | None, stop: StopFlag):
        self.cfg, self.run_dir, self.folder, self.dist, self.log = cfg, run_dir, run, dist, log
        self.progress, self.stop = progress, stop

    # --- set up ---------------------------------------------------------------------------------------
    def setup(self) -> None:
        from .prepare import prepare

        dist = self.dist
        self.device = choose_device()
        dist.setup(self.device.type)
        if self.device.type == "cpu" and dist.enabled:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.world))
        self.status(state="starting", error=None, exit_code=None)
        prepared = prepare(self.cfg, self.device.type)
        if not prepared.ok:
            raise ConfigError(prepared.problems)
        cfg = self.cfg = prepared.config
        self.seed = dist.broadcast_int(cfg.seed if cfg.seed >= 0 else random.SystemRandom().randrange(2**31))
        torch.manual_seed(self.seed)
        ds = open_dataset(cfg.data_path)
        self.plan = make_plan(cfg, len(ds), dist.world)
        self.total_steps = self.plan.steps_per_epoch * cfg.epoch_count
        self.first_step = self.plan.steps_per_epoch * cfg.epoch_begin
        self._record_run(prepared)
        self._build(prepared, ds)

    def _record_run(self, prepared) -> None:
        cfg, plan, dinfo = self.cfg, self.plan, prepared.data_info
        self.resolved = {"seed": self.seed, "world_size": self.dist.world, "device": self.device.type,
                         "steps_per_epoch": plan.steps_per_epoch, "total_steps": self.total_steps,
                         "micro_steps_per_epoch": plan.micro_steps}
        if self.folder is None:
            return
        self.folder.write_config({**cfg.to_dict(), "model_info": prepared.model_info.to_dict(),
                               "data_info": dinfo.__dict__, "resolved": self.resolved})
        self.folder.keep_metrics_until(self.first_step)
        self.status(total_steps=self.total_steps, step=self.first_step, epoch=cfg.epoch_begin)
        self.log(f"model: {prepared.model_info.describe()}")
        self.log(f"data: {dinfo.n_docs} documents, {dinfo.num_tokens} tokens (longest {dinfo.max_doc_len}); "
                 f"{plan.steps_per_epoch} optimizer steps per epoch, {self.total_steps} in all; "
                 f"{cfg.micro_bsz}x{cfg.mini_bsz}x{self.dist.world} samples per step")
        if cfg.dataload != "get" and dinfo.max_doc_len > cfg.ctx_len + 1:
            self.log(f"note: documents longer than ctx_len+1={cfg.ctx_len + 1} tokens are cut "
                     f"(the longest has {dinfo.max_doc_len})")
        for warning in prepared.warnings:
            self.log(f"note: {warning}")

    def _build(self, prepared, ds) -> None:
        cfg, dist, device = self.cfg, self.dist, self.device
        self.model = build_model(cfg, device, self.run_dir, dist, self.log)
        params = peft.trainable_parameters(self.model)
        dist.sync_params(params.values())
        torch.manual_seed(self.seed + dist.rank)  # dropout differs per rank, adapters were initialised alike
        row = peft.method(cfg.finetune_mode)
        self.lisa = peft.LisaSelector(self.model, cfg.lisa_r, cfg.lisa_k, self.seed) if row.redraws else None
        use_ds = dist.enabled and cfg.deepspeed_strategy != "none"
        # DeepSpeed's ZeRO optimizer wrapper drives torch's AdamW (fused is a CUDA-only kernel it may not wrap)
        self.optimizer = make_optimizer(cfg, params, fused=device.type == "cuda" and not use_ds)
        self.log(f"{cfg.finetune_mode}: {sum(p.numel() for p in params.values()):,} trainable parameters"
                 + (f" (lisa: {cfg.lisa_r} layers at a time)" if self.lisa else ""))
        source = build_source(cfg, ds, prepared.data_info.tokenizer)
        self.sampler = EpochSampler(cfg, source, self.plan, dist.rank, self.seed)
        self.autocast = (lambda: torch.autocast(device.type, dtype=AUTOCAST[cfg.precision])) \
            if cfg.precision in AUTOCAST else contextlib.nullcontext
        scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" and device.type == "cuda" else None
        if use_ds:
            self.stepper = DeepSpeedStepper(self.model, self.optimizer, cfg, dist.world)
            self.log(f"DeepSpeed {cfg.deepspeed_strategy} on {dist.world} processes")
            self.net = self.stepper.engine  # ZeRO-3 counts micro steps (accumulate vs overwrite) in its forward
        else:
            self.stepper = AllReduceStepper(list(params.values()), self.optimizer, dist, scaler)
            self.net = self.model
        self.gathered = self.stepper.gathered if use_ds else contextlib.nullcontext
        self.wandb = _wandb(cfg, self.folder, self.log, self.resolved)

    def status(self, **fields) -> None:
        if self.folder is not None:
            self.folder.update_status(**fields)

    # --- run ------------------------------------------------------------------------------------------
    def run(self) -> str:
        cfg = self.cfg
        self.stop.install(lambda: self.status(state="stopping"))
        self.model.train()
        self.status(state="running")
        self.t0, self.tokens_total, self.step = time.time(), 0, self.first_step
        state = "finished"
        for epoch in range(cfg.epoch_begin, cfg.epoch_count):
            if self.run_epoch(epoch) == "stopped":
                state = "stopped"
                self.log(f"stopped at step {self.step} of {self.total_steps}")
                break
        self.status(state=state, exit_code=0, error=None)
        self.log(f"{state}: {self.step} of {self.total_steps} steps in {time.time() - self.t0:.1f}s")
        if self.wandb:
            self.wandb.finish()
        return state

    def run_epoch(self, epoch: int) -> str:
        """The epoch's optimizer steps, then its checkpoint; "stopped" when asked to stop on the way."""
        cfg, steps = self.cfg, self.plan.steps_per_epoch
        losses, state = [], "done"
        for s in range(steps):
            losses.append(self.optimizer_step(epoch, s))
            if self.dist.any(bool(self.stop)):
                state = "stopped"
                break
        if state == "stopped" or (epoch + 1) % cfg.epoch_save == 0 or epoch == cfg.epoch_count - 1:
            with self.gathered():
                self.save(epoch, partial=state == "stopped" and len(losses) < steps)
        if losses:
            avg = sum(losses) / len(losses)
            self.log(f"epoch {epoch} done: loss {avg:.6f} (ppl {math.exp(min(avg, 50)):.4f}), lr {self.lr:.3g}, "
                     f"{self.tokens_total / max(time.time() - self.t0, 1e-9):.0f} tokens/s")
        return state

    def optimizer_step(self, epoch: int, s: int) -> float:
        """Step ``s`` of ``epoch``: its micro batches forward and backward, one optimizer step; the loss."""
        cfg, dist = self.cfg, self.dist
        t_step = time.time()
        if self.lisa is not None and self.lisa.update(self.step):
            self.log(f"lisa: training layers {self.lisa.active}")
        self.lr = learning_rate(self.step, self.total_steps, cfg.lr_init, cfg.lr_final, cfg.lr_schedule,
                                cfg.warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr * group["lr_scale"]
        batches = [self.sampler.batch(epoch, m) for m in self.plan.step_slices(s)]
        weight = max(dist.sum(sum(b.weight for b in batches)), 1.0)
        loss_sum, tokens = 0.0, 0
        for i, b in enumerate(batches):
            ls, nt = forward_backward(self.net, b, cfg, self.device, 1.0 / weight, self.autocast,
                                      self.stepper.backward, last=i == len(batches) - 1)
            loss_sum, tokens = loss_sum + ls, tokens + nt
        self.stepper.step()
        self.step += 1
        loss, tokens = dist.sum(loss_sum) / weight, int(dist.sum(tokens))
        self.tokens_total += tokens
        self.record(epoch, loss, tokens, time.time() - t_step)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at step {self.step}: lower lr_init, or use bf16/fp32 "
                                     f"instead of fp16")
        return loss

    def record(self, epoch: int, loss: float, tokens: int, step_s: float) -> None:
        elapsed, done = time.time() - self.t0, self.step - self.first_step
        metric = {"step": self.step, "total_steps": self.total_steps, "epoch": epoch, "loss": loss, "lr": self.lr,
                  "tokens": self.tokens_total, "tokens_per_s": tokens / max(step_s, 1e-9), "elapsed_s": elapsed,
                  "eta_s": elapsed / done * (self.total_steps - self.step),
                  "gpu_mem": (torch.cuda.max_memory_allocated(self.device) / 2**30)
                  if self.device.type == "cuda" else None}
        if self.folder is not None:
            self.folder.append_metric(metric)
            self.folder.update_status(step=self.step, epoch=epoch)
            if self.wandb:
                self.wandb.log(metric, step=self.step)
        if self.progress:
            self.progress(metric)

    def save(self, epoch: int, partial: bool) -> None:
        if self.folder is None:
            return
        cfg = self.cfg
        name = checkpoint_name(epoch)
        sd = peft.adapter_state_dict(self.model, cfg)
        if peft.method(cfg.finetune_mode).trains_base and cfg.precision in AUTOCAST:
            sd = {k: v.to(AUTOCAST[cfg.precision]) if v.is_floating_point() else v for k, v in sd.items()}
        with paths.atomic_output(self.folder.path / name) as tmp:
            torch.save(sd, tmp)
        self.folder.add_checkpoint({"file": name, "epoch": epoch, "step": self.step, "partial": partial})


def _wandb(cfg: TrainConfig, run: RunDir | None, log: Log, resolved: dict):
    if not cfg.wandb or run is None:
        return None
    try:
        import wandb
    except ImportError:
        log("wandb is set but the wandb package is not installed: logging only to the run folder")
        return None
    wandb.init(project=cfg.wandb, name=run.path.name, dir=str(run.path), config={**cfg.to_dict(), **resolved})
    return wandb
