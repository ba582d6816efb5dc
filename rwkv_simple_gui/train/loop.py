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
from .data import EpochSampler, build_source, data_info, make_plan, open_dataset
from .distributed import AllReduceStepper, DeepSpeedStepper, Dist
from .loss import weighted_loss_sum
from .rundir import Log, RunDir
from .schedule import learning_rate
from .validate import LOADS

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


def resolve_paths(cfg: TrainConfig) -> TrainConfig:
    """Absolute paths for everything a user typed (relative to the project root / its folders)."""
    changes = {"model_path": str(paths.resolve(cfg.model_path, "model")) if cfg.model_path else "",
               "data_path": _resolve_prefix(cfg.data_path) if cfg.data_path else ""}
    for name in ("lora_load", "pissa_load", "pissa_init", "disha_load", "state_load"):
        if getattr(cfg, name):
            changes[name] = str(paths.resolve(getattr(cfg, name), "output"))
    if cfg.proj_dir:
        changes["proj_dir"] = str(paths.resolve(cfg.proj_dir, "output"))
    return cfg.replace(**changes)


def _resolve_prefix(prefix: str) -> str:
    direct = paths.resolve(prefix)
    if not Path(str(direct) + ".idx").exists() and len(Path(prefix).parts) == 1:
        in_data = paths.folder("data") / prefix
        if Path(str(in_data) + ".idx").exists():
            return str(in_data)
    return str(direct)


def estimate(cfg: TrainConfig, world: int | None = None) -> dict:
    """Steps the run will take, from the dataset's document count (no model needed)."""
    world = world or cfg.devices
    n_docs = 0 if cfg.dataload == "get" else data_info(cfg.data_path).n_docs
    plan = make_plan(cfg, n_docs, world)
    return {"documents": n_docs, "micro_steps_per_epoch": plan.micro_steps,
            "steps_per_epoch": plan.steps_per_epoch, "total_steps": plan.steps_per_epoch * cfg.epoch_count,
            "steps_this_run": plan.steps_per_epoch * (cfg.epoch_count - cfg.epoch_begin),
            "samples_per_step": cfg.micro_bsz * cfg.mini_bsz * world}


def _load_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype:
    # frozen base weights may live in the compute dtype on GPU; trained weights stay fp32 (master copy)
    if device.type == "cuda" and cfg.finetune_mode not in ("full", "lisa") and cfg.precision in AUTOCAST:
        return AUTOCAST[cfg.precision]
    return torch.float32


def build_model(cfg: TrainConfig, device: torch.device, run_dir: Path, dist: Dist, log: Log):
    from rwkv_simple_gui.model import load_model

    model = load_model(cfg.model_path, dtype=_load_dtype(cfg, device), device=str(device), op=cfg.op)
    model.grad_cp = bool(cfg.grad_cp)
    pissa_init = cfg.pissa_init
    if cfg.finetune_mode == "pissa" and not pissa_init:
        # one SVD (randomized), on rank 0; every other rank starts from the file it writes, so all
        # ranks hold the same residual weights and meet at the same barrier
        init_path = Path(run_dir) / peft.INIT_FILE
        if dist.is_main:
            log(f"PiSSA: SVD of every adapted layer (rank {cfg.pissa_r}, {cfg.svd_niter} iterations)")
            peft.apply_peft(model, cfg)
            with paths.atomic_output(init_path) as tmp:
                torch.save(peft.init_state_dict(model), tmp)
        dist.barrier()
        if not dist.is_main:
            peft.apply_peft(model, cfg.replace(pissa_init=str(init_path)))
    else:
        peft.apply_peft(model, cfg.replace(pissa_init=pissa_init))
        if cfg.finetune_mode == "pissa" and dist.is_main:
            target = Path(run_dir) / peft.INIT_FILE
            if not target.exists():
                with paths.atomic_output(target) as tmp:
                    torch.save(peft.init_state_dict(model), tmp)
    resume = getattr(cfg, LOADS[cfg.finetune_mode]) if cfg.finetune_mode in LOADS else ""
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
        state = _train(cfg, Path(run_dir), run, dist, log, progress, stop)
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


def _train(cfg: TrainConfig, run_dir: Path, run: RunDir | None, dist: Dist, log: Log, progress,
           stop: StopFlag) -> str:
    from rwkv_simple_gui.model import detect

    device = choose_device()
    dist.setup(device.type)
    if device.type == "cpu" and dist.enabled:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.world))
    if run is not None:
        run.update_status(state="starting", error=None, exit_code=None)
    cfg = resolve_paths(cfg)
    problems = cfg.validate(device=device.type)
    if problems:
        raise ConfigError(problems)
    model_info = detect(cfg.model_path)
    dinfo = data_info(cfg.data_path)
    problems = cfg.validate(model_info, dinfo, device=device.type)
    if problems:
        raise ConfigError(problems)

    seed = dist.broadcast_int(cfg.seed if cfg.seed >= 0 else random.SystemRandom().randrange(2**31))
    torch.manual_seed(seed)
    ds = open_dataset(cfg.data_path)
    plan = make_plan(cfg, len(ds), dist.world)
    steps_per_epoch = plan.steps_per_epoch
    total_steps = steps_per_epoch * cfg.epoch_count
    first_step = steps_per_epoch * cfg.epoch_begin
    resolved = {"seed": seed, "world_size": dist.world, "device": device.type, "steps_per_epoch": steps_per_epoch,
                "total_steps": total_steps, "micro_steps_per_epoch": plan.micro_steps}
    if run is not None:
        run.write_config({**cfg.to_dict(), "model_info": model_info.to_dict(),
                          "data_info": dinfo.__dict__, "resolved": resolved})
        run.keep_metrics_until(first_step)
        run.update_status(total_steps=total_steps, step=first_step, epoch=cfg.epoch_begin)
        log(f"model: {model_info.describe()}")
        log(f"data: {dinfo.n_docs} documents, {dinfo.num_tokens} tokens (longest {dinfo.max_doc_len}); "
            f"{steps_per_epoch} optimizer steps per epoch, {total_steps} in all; "
            f"{cfg.micro_bsz}x{cfg.mini_bsz}x{dist.world} samples per step")
        if cfg.dataload != "get" and dinfo.max_doc_len > cfg.ctx_len + 1:
            log(f"note: documents longer than ctx_len+1={cfg.ctx_len + 1} tokens are cut "
                f"(the longest has {dinfo.max_doc_len})")

    model = build_model(cfg, device, run_dir, dist, log)
    params = peft.trainable_parameters(model) if cfg.finetune_mode != "lisa" else dict(model.named_parameters())
    dist.sync_params(params.values())
    torch.manual_seed(seed + dist.rank)  # dropout differs per rank, adapters were initialised alike
    lisa = peft.LisaSelector(model, cfg.lisa_r, cfg.lisa_k, seed) if cfg.finetune_mode == "lisa" else None
    use_ds = dist.enabled and cfg.deepspeed_strategy != "none"
    # DeepSpeed's ZeRO optimizer wrapper drives torch's AdamW (fused is a CUDA-only kernel it may not wrap)
    optimizer = make_optimizer(cfg, params, fused=device.type == "cuda" and not use_ds)
    n_trainable = sum(p.numel() for p in params.values())
    log(f"{cfg.finetune_mode}: {n_trainable:,} trainable parameters"
        + (f" (lisa: {cfg.lisa_r} layers at a time)" if lisa else ""))

    source = build_source(cfg, ds, dinfo.tokenizer)
    sampler = EpochSampler(cfg, source, plan, dist.rank, seed)
    use_autocast = cfg.precision in AUTOCAST
    autocast = (lambda: torch.autocast(device.type, dtype=AUTOCAST[cfg.precision])) if use_autocast \
        else contextlib.nullcontext
    scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" and device.type == "cuda" else None
    if use_ds:
        stepper = DeepSpeedStepper(model, optimizer, cfg, dist.world)
        log(f"DeepSpeed {cfg.deepspeed_strategy} on {dist.world} processes")
        # ZeRO-3 counts micro steps (accumulate vs overwrite gradients) in the engine's forward
        net = stepper.engine
    else:
        stepper = AllReduceStepper(list(params.values()), optimizer, dist, scaler)
        net = model
    wandb = _wandb(cfg, run, log, resolved)

    stop.install((lambda: run.update_status(state="stopping")) if run is not None else None)
    model.train()
    if run is not None:
        run.update_status(state="running")
    t0, tokens_total, step = time.time(), 0, first_step
    final_state = "finished"
    for epoch in range(cfg.epoch_begin, cfg.epoch_count):
        epoch_loss, epoch_steps = 0.0, 0
        for s in range(steps_per_epoch):
            t_step = time.time()
            if lisa is not None and lisa.update(step):
                log(f"lisa: training layers {lisa.active}")
            lr = learning_rate(step, total_steps, cfg.lr_init, cfg.lr_final, cfg.lr_schedule, cfg.warmup_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr * group["lr_scale"]
            batches = [sampler.batch(epoch, m) for m in plan.step_slices(s)]
            weight = max(dist.sum(sum(b.weight for b in batches)), 1.0)
            loss_sum, tokens = 0.0, 0
            for i, b in enumerate(batches):
                ls, nt = forward_backward(net, b, cfg, device, 1.0 / weight, autocast, stepper.backward,
                                          last=i == len(batches) - 1)
                loss_sum, tokens = loss_sum + ls, tokens + nt
            stepper.step()
            step += 1
            loss = dist.sum(loss_sum) / weight
            tokens = int(dist.sum(tokens))
            tokens_total += tokens
            epoch_loss, epoch_steps = epoch_loss + loss, epoch_steps + 1
            now = time.time()
            elapsed = now - t0
            done = step - first_step
            metric = {"step": step, "total_steps": total_steps, "epoch": epoch, "loss": loss, "lr": lr,
                      "tokens": tokens_total, "tokens_per_s": tokens / max(now - t_step, 1e-9),
                      "elapsed_s": elapsed, "eta_s": elapsed / done * (total_steps - step),
                      "gpu_mem": (torch.cuda.max_memory_allocated(device) / 2**30) if device.type == "cuda" else None}
            if run is not None:
                run.append_metric(metric)
                run.update_status(step=step, epoch=epoch)
                if wandb:
                    wandb.log(metric, step=step)
            if progress:
                progress(metric)
            if not math.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss} at step {step}: lower lr_init, or use bf16/fp32 "
                                         f"instead of fp16")
            if dist.any(bool(stop)):
                final_state = "stopped"
                break
        last = epoch == cfg.epoch_count - 1
        if final_state == "stopped" or (epoch + 1) % cfg.epoch_save == 0 or last:
            with stepper.gathered() if use_ds else contextlib.nullcontext():
                _save(model, cfg, run, epoch, step, partial=final_state == "stopped" and s < steps_per_epoch - 1)
        if run is not None and epoch_steps:
            avg = epoch_loss / epoch_steps
            log(f"epoch {epoch} done: loss {avg:.6f} (ppl {math.exp(min(avg, 50)):.4f}), lr {lr:.3g}, "
                f"{tokens_total / max(time.time() - t0, 1e-9):.0f} tokens/s")
        if final_state == "stopped":
            log(f"stopped at step {step} of {total_steps}")
            break
    if run is not None:
        run.update_status(state=final_state, exit_code=0, error=None)
        log(f"{final_state}: {step} of {total_steps} steps in {time.time() - t0:.1f}s")
    if wandb:
        wandb.finish()
    return final_state


def _save(model, cfg: TrainConfig, run: RunDir | None, epoch: int, step: int, partial: bool) -> None:
    if run is None:
        return
    name = f"rwkv-{epoch}.pth"
    sd = peft.adapter_state_dict(model, cfg)
    if cfg.finetune_mode in ("full", "lisa") and cfg.precision in AUTOCAST:
        sd = {k: v.to(AUTOCAST[cfg.precision]) if v.is_floating_point() else v for k, v in sd.items()}
    with paths.atomic_output(run.path / name) as tmp:
        torch.save(sd, tmp)
    run.add_checkpoint({"file": name, "epoch": epoch, "step": step, "partial": partial})


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
