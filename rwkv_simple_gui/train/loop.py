"""The training loop: model + method + data -> optimizer steps -> run directory.

``train(cfg, run_dir)`` runs in the trainer process (one per rank). It writes metrics and status after
every optimizer step, evaluates (validation loss, sample answers) at step 0, every ``val_every`` steps or
epoch end, and at the last step, checkpoints at epoch ends and every ``save_every_steps`` steps, each
checkpoint with a resume point that continues the run exactly, stops cleanly on SIGTERM/SIGINT after the
current step, and turns failures into a plain-words ``status.error`` (traceback in train.log).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import random
import shutil
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from rwkv_simple_gui import paths, peft

from . import judge, preference, resume
from .config import TrainConfig
from .data import EpochSampler, build_source, make_plan, open_dataset, split_documents
from .distributed import AllReduceStepper, DeepSpeedStepper, Dist, launched_rank, strategy
from .judge import ValidationSet, as_chat, greedy_answer, pick_questions, read_prompts, sample_prompt
from .optim import reuse_freed_memory
from .rundir import (
    Log,
    RunDir,
    checkpoint_entries,
    checkpoint_name,
    claim,
    read_point,
    step_checkpoint_name,
    write_json,
)
from .schedule import learning_rate
from .step import (
    AUTOCAST,
    ConfigError,
    UserError,
    build_model,
    choose_device,
    forward_backward,
    make_optimizer,
    no_backward,
)


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
        return (f"The checkpoint does not fit the base model ({text.splitlines()[0]}): use the base model it was "
                f"trained on.")
    if "CUDA" in text and ("not available" in text or "no NVIDIA" in text or "Torch not compiled" in text):
        return f"This needs a CUDA GPU, but none is usable here: {text.splitlines()[0]}"
    if isinstance(exc, (ValueError, FileNotFoundError, RuntimeError, ImportError)):
        return text.splitlines()[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''} (see train.log for details)"


def _load_point_file(path: Path) -> dict:
    """A file of a resume point; ValueError in plain words when it is missing or damaged."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{paths.display(path)} is missing: the resume point is incomplete; resume the run folder "
                         "(train --resume RUN_DIR) to continue from its last checkpoint's weights") from None
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as exc:
        raise UserError(f"{paths.display(path)} is damaged ({str(exc).splitlines()[0]}): resume the run folder "
                         "(train --resume RUN_DIR) to continue from its last checkpoint's weights") from None


def train(cfg: TrainConfig, run_dir, *, progress: Callable[[dict], None] | None = None,
          stop: StopFlag | None = None) -> str:
    """Run the whole training; returns the final state (finished, stopped or failed).

    The process holds the run folder throughout (a torchrun rank's launcher holds it for its ranks): a folder
    another trainer holds or that holds another run is refused (:class:`rundir.RunRefused`) before anything is
    written into it."""
    dist = Dist()
    if launched_rank():
        lock = None
    else:
        from .prepare import resolve_paths

        lock = claim(run_dir, resolve_paths(cfg))
    try:
        return _train(cfg, Path(run_dir), dist, progress, StopFlag() if stop is None else stop)
    finally:
        if lock is not None:
            lock.release()


def _train(cfg: TrainConfig, run_dir: Path, dist: Dist, progress, stop: StopFlag) -> str:
    run = RunDir(run_dir) if dist.is_main else None
    log = Log(run_dir / "train.log", enabled=dist.is_main)
    try:
        trainer = Trainer(cfg, run_dir, run, dist, log, progress, stop)
        trainer.setup()
        state = trainer.run()
    except BaseException as exc:  # noqa: BLE001 - every failure must reach status.json
        if run is not None:
            if not isinstance(exc, UserError):  # a bug's traceback helps a report; a user's mistake needs none
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
    """One run in this process (one rank): :meth:`setup`, then :meth:`run` = for epoch -> for step, with
    evaluations and checkpoints after the steps they are due at.

    Only rank 0 has a RunDir (``folder``) and writes the run folder (the other ranks of a DeepSpeed run on
    the same machine also write their own shards of a resume point)."""

    def __init__(self, cfg: TrainConfig, run_dir: Path, run: RunDir | None, dist: Dist, log: Log,
                 progress: Callable[[dict], None] | None, stop: StopFlag):
        self.cfg, self.run_dir, self.folder, self.dist, self.log = cfg, run_dir, run, dist, log
        self.progress, self.stop = progress, stop
        self.tokens_total, self.elapsed_before = 0, 0.0
        self.best: dict | None = None        # the evaluation with the lowest val_loss so far
        self.last_eval: dict | None = None   # the newest evaluation row
        self.since_best = 0                  # evaluations in a row without an improvement (early stopping)
        self.best_unsaved = False            # the best evaluation's weights are in no checkpoint yet
        self.early_stop: dict | None = None  # why and where early stopping ended the run

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
        self.point = read_point(cfg.resume_from) if cfg.resume_from else None
        seed = self.point["seed"] if self.point else cfg.seed
        self.seed = dist.broadcast_int(seed if seed >= 0 else random.SystemRandom().randrange(2**31))
        torch.manual_seed(self.seed)
        ds = open_dataset(cfg.data_path)
        self.train_docs, self.val_docs = split_documents(len(ds), cfg.val_split, self.seed)
        self._find_questions(ds, prepared.data_info.tokenizer)
        self.plan = make_plan(cfg, len(self.train_docs), dist.world)
        self.total_steps = self.plan.total_steps
        if self.point:
            self.first_step, self.start = self.point["step"], (self.point["next_epoch"], self.point["next_step"])
        else:
            self.first_step, self.start = self.plan.first_step, (cfg.epoch_begin, 0)
        # resume points are folders every rank writes into: on several machines only machine 0 has the folder
        self.writes_points = not cfg.several_machines
        self._record_run(prepared)
        self._build(prepared, ds)
        if self.point:
            self._restore()

    def _record_run(self, prepared) -> None:
        cfg, plan, dinfo = self.cfg, self.plan, prepared.data_info
        self.strategy = strategy(cfg, self.dist.world)
        self.resolved = {"seed": self.seed, "world_size": self.dist.world, "device": self.device.type,
                         "steps_per_epoch": plan.steps_per_epoch, "total_steps": self.total_steps,
                         "micro_steps_per_epoch": plan.micro_steps, "until_stopped": plan.until_stopped,
                         "strategy": self.strategy.description}
        if len(self.val_docs):
            self.resolved["val_docs"] = self.val_docs.tolist()
        if cfg.val_data or len(self.val_docs):
            self.resolved["val_records"] = self.held_count
        if self.held_questions:
            self.resolved["val_questions"] = [q.question for q in self.held_questions]
        self.data_facts = {"n_docs": dinfo.n_docs, "num_tokens": dinfo.num_tokens}  # a resume checks them
        if self.folder is None:
            return
        resume.clear_staging(self.run_dir)
        self.folder.write_config({**cfg.to_dict(), "model_info": prepared.model_info.to_dict(),
                                  "data_info": dinfo.__dict__, "resolved": self.resolved})
        self.folder.keep_metrics_until(self.first_step)
        self.status(total_steps=self.total_steps, until_stopped=plan.until_stopped, step=self.first_step,
                    epoch=self.start[0],
                    best=self.point.get("best") if self.point else None)
        self.log(f"model: {prepared.model_info.describe()}")
        self.log(f"data: {dinfo.n_docs} documents, {dinfo.num_tokens} tokens (longest {dinfo.max_doc_len}); "
                 f"{plan.micro_steps} micro-batches = {plan.steps_per_epoch} optimizer steps per epoch; epochs "
                 f"{plan.epoch_begin}-{plan.last_epoch}" + (" then on until stopped" if plan.until_stopped else "")
                 + f", steps {self.first_step + 1}-{self.total_steps}; "
                 f"{cfg.micro_bsz}x{cfg.mini_bsz}x{self.dist.world} samples per step")
        self.log(f"strategy: {self.strategy.description}")
        if cfg.dataload != "get" and dinfo.max_doc_len > cfg.ctx_len + 1:
            self.log(f"note: documents longer than ctx_len+1={cfg.ctx_len + 1} tokens are cut "
                     f"(the longest has {dinfo.max_doc_len})")
        if not self.writes_points:
            self.log("note: resume points are written on one machine only; with several machines a resume "
                     "continues from the last checkpoint's weights")
        for warning in prepared.warnings:
            self.log(f"note: {warning}")

    def _build(self, prepared, ds) -> None:
        cfg, dist, device = self.cfg, self.dist, self.device
        self.model = build_model(cfg, device, self.run_dir, dist, self.log)
        self.params = peft.trainable_parameters(self.model)  # what the optimizer holds (and a resume point)
        dist.sync_params(self.params.values())
        torch.manual_seed(self.seed + dist.rank)  # dropout differs per rank, adapters were initialised alike
        row = peft.method(cfg.finetune_mode)
        self.lisa = peft.LisaSelector(self.model, cfg.lisa_r, cfg.lisa_k, self.seed) if row.redraws else None
        self._build_optimizer()
        self.log(f"{cfg.finetune_mode}: {sum(p.numel() for p in self.params.values()):,} trainable parameters"
                 + (f" (lisa: {cfg.lisa_r} layers at a time)" if self.lisa else ""))
        self.objective = preference.objective(cfg, self.model)  # dpo / orpo; None for sft
        self.forward_backward = self.objective.forward_backward if self.objective else forward_backward
        source = preference.Pairs(ds, cfg.ctx_len, self.train_docs) if self.objective else \
            build_source(cfg, ds, prepared.data_info.tokenizer, docs=self.train_docs)
        self.sampler = EpochSampler(cfg, source, self.plan, dist.rank, self.seed)
        self._build_stepper()
        self._build_judge(prepared, ds)
        self.wandb = _wandb(cfg, self.folder, self.log, self.resolved)
        self.tensorboard = _tensorboard(cfg, self.folder, self.log, self.first_step)

    def _build_optimizer(self) -> None:
        cfg, device = self.cfg, self.device
        self.use_ds = self.strategy.deepspeed
        if self.use_ds and not self.dist.enabled:
            self.dist.one_process_group(device.type)
        # DeepSpeed's ZeRO optimizer wrapper drives torch's AdamW over its own flat partitions: neither fused nor
        # row-wise. Row-wise finds the used rows with a host sync: on the CPU only, where it saves the most.
        self.optimizer = make_optimizer(cfg, self.params, fused=not self.use_ds,
                                        rowwise=device.type == "cpu" and not self.use_ds)
        if any(p is self.model.emb.weight for p in self.optimizer.row_params):
            self.model.emb.sparse = True  # its gradient: the looked-up rows, not a zeroed 65,536-row table per step
        if device.type == "cpu":
            reuse_freed_memory()

    def _build_stepper(self) -> None:
        """The precision's autocast, and what applies the gradients: DeepSpeed's engine or an all-reduce."""
        cfg, device = self.cfg, self.device
        self.autocast = (lambda: torch.autocast(device.type, dtype=AUTOCAST[cfg.precision])) \
            if cfg.precision in AUTOCAST else contextlib.nullcontext
        scaler = torch.amp.GradScaler("cuda") if cfg.precision == "fp16" and device.type == "cuda" else None
        if self.use_ds:
            self.stepper = DeepSpeedStepper(self.model, self.optimizer, cfg, self.dist.world)
            self.net = self.stepper.engine  # ZeRO-3 counts micro steps (accumulate vs overwrite) in its forward
        else:
            self.stepper = AllReduceStepper(list(self.params.values()), self.optimizer, self.dist, scaler)
            self.net = self.model
        self.gathered = self.stepper.gathered if self.use_ds else contextlib.nullcontext
        # a ZeRO-3 forward gathers parameters from every rank: then every rank generates the samples too
        self.partitioned = self.use_ds and self.stepper.engine.zero_optimization_partition_weights()

    def _find_questions(self, ds, spec: str) -> None:
        """The data's questions the run asks: the training ones and the held-out ones (val_split's documents,
        or val_data's), for the samples and for the recall check at the end."""
        from rwkv_simple_gui.data.tokenizer import get_tokenizer

        cfg, self.tokenizer = self.cfg, get_tokenizer(spec)
        held_ds, held_docs = (open_dataset(cfg.val_data), None) if cfg.val_data else (ds, self.val_docs)
        if held_docs is None:
            held_docs = range(len(held_ds))
        self.held_count = len(held_docs)
        self.trained_questions = pick_questions(ds, self.tokenizer, self.train_docs, [], judge.RECALL_TRAINED, 0)
        self.held_questions = pick_questions(held_ds, self.tokenizer, [], held_docs, 0, judge.RECALL_HELD)

    def _build_judge(self, prepared, ds) -> None:
        """The held-out documents (val_data, or the val_split of the data) and the sample prompts: a few trained
        and held-out questions of the data, asked as Chat asks them, or the sample_prompts file's."""
        cfg = self.cfg
        self.validation = None
        if cfg.val_data or len(self.val_docs):
            self._build_validation(ds, prepared.data_info.tokenizer)
        if self.held_questions:
            self.log("held out, never trained: " + " | ".join(q.question for q in self.held_questions[:5])
                     + (" | ..." if len(self.held_questions) > 5 else ""))
        self.prompts: list[tuple[str, bool]] = []  # (prompt, held out)
        if cfg.sample_tokens:
            prompts = self._sample_prompts()
            vocab = self.model.emb.num_embeddings
            self.prompts = [(p, held) for p, held in prompts if max(self.tokenizer.encode(p), default=0) < vocab]
            if len(self.prompts) < len(prompts):
                self.log(f"note: {len(prompts) - len(self.prompts)} sample prompts hold tokens beyond the model's "
                         f"vocabulary of {vocab}: they are not asked")
            if self.prompts:
                self.log(f"samples: {len(self.prompts)} prompts answered at each evaluation (samples.jsonl)")

    def _build_validation(self, ds, spec: str) -> None:
        cfg, dist = self.cfg, self.dist
        source, docs = (open_dataset(cfg.val_data), None) if cfg.val_data else (ds, self.val_docs)
        self.validation = ValidationSet(cfg, source, docs, spec, dist.rank, dist.world)
        self.log(f"validation: {len(self.validation)} held-out documents ("
                 + (f"val_data {paths.display(cfg.val_data)})" if cfg.val_data else f"val_split {cfg.val_split} of "
                    f"the data, never trained on)"))

    def _sample_prompts(self) -> list[tuple[str, bool]]:
        """(prompt, held out) of each sample: the sample_prompts file's, else a few questions of the data."""
        if self.cfg.sample_prompts:
            chat = bool(self.trained_questions or self.held_questions)
            return [(as_chat(p, chat), False) for p in read_prompts(self.cfg.sample_prompts)]
        asked = self.trained_questions[:judge.SAMPLE_TRAINED] + self.held_questions[:judge.SAMPLE_HELD]
        return [(sample_prompt(q), q.held_out) for q in asked]

    def _restore(self) -> None:
        """Continue from the resume point: trained weights, optimizer, scaler, LISA's draw, random states."""
        point, info = Path(self.cfg.resume_from), self.point
        if self.use_ds:
            loaded, _ = self.stepper.engine.load_checkpoint(
                str(point / "deepspeed"), tag="engine", load_module_strict=False, load_optimizer_states=True,
                load_lr_scheduler_states=False)
            if loaded is None:
                raise RuntimeError(f"{paths.display(point)}: DeepSpeed found no checkpoint to load in it")
        else:
            state = _load_point_file(point / "trainer.pt")
            missing = sorted(set(self.params) - set(state["params"]))
            if missing:
                raise ValueError(f"{paths.display(point)} lacks trained parameters of this run ({missing[0]}, ...)")
            with torch.no_grad():
                for name, p in self.params.items():
                    p.copy_(state["params"][name])
            self.optimizer.load_state_dict(state["optimizer"])
            if self.stepper.scaler is not None and state.get("scaler"):
                self.stepper.scaler.load_state_dict(state["scaler"])
            if self.lisa is not None:
                self.lisa.load_state_dict(state["lisa"])
        resume.set_rng_state(_load_point_file(point / f"rng-{self.dist.rank}.pt"), self.device)
        self.tokens_total, self.elapsed_before = info["tokens"], info["elapsed_s"]
        self.best, self.since_best = info.get("best"), info.get("since_best", 0)
        changes = resume.inexact_changes(info["options"], self.cfg.to_dict())
        if changes:
            self.log(f"resumed from {resume.describe_point(point)} with changed options ({'; '.join(changes)}): "
                     f"weights, optimizer, data position and random state as saved, the steps after it differ from "
                     f"the run's own")
        else:
            self.log(f"resumed exactly from {resume.describe_point(point)}: weights, optimizer, data position and "
                     f"random state as saved")

    def status(self, **fields) -> None:
        if self.folder is not None:
            self.folder.update_status(**fields)

    # --- run ------------------------------------------------------------------------------------------
    def run(self) -> str:
        cfg = self.cfg
        self.stop.install(lambda: self.status(state="stopping"))
        self.model.train()
        self.status(state="running")
        self.t_run = time.time()
        self.t0, self.step = self.t_run - self.elapsed_before, self.first_step
        if self.first_step == 0:
            self.evaluate(cfg.epoch_begin)  # the base model, so every later answer can be shown beside it
        state = "finished"
        first_epoch, first_step = self.start
        for epoch in self.plan.epochs():
            if epoch < first_epoch:
                continue
            ended = self.run_epoch(epoch, first_step if epoch == first_epoch else 0)
            if ended == "stopped":
                state = "stopped"
                self.log(f"stopped at step {self.step} of {self.total_steps}")
                break
            if ended == "early":
                kept = self.best["checkpoint"] or "the base model (no checkpoint)"
                self.log(f"early stopping at step {self.step} of {self.total_steps}: val_loss has not improved by "
                         f"more than {cfg.early_stop_min_delta:g} for {cfg.early_stop_patience} evaluations; the best, "
                         f"{self.best['val_loss']:.4f} at step {self.best['step']}, is {kept}")
                break
        self.status(best=self.best, early_stop=self.early_stop)
        if state == "finished":
            self.recall_check()
        self.status(state=state, exit_code=0, error=None)
        self.log(f"{state}: {self.step} of {self.total_steps} steps in {time.time() - self.t_run:.1f}s"
                 + (f"; best val_loss {self.best['val_loss']:.4f} at step {self.best['step']}" if self.best else ""))
        if self.wandb:
            self.wandb.finish()
        if self.tensorboard:
            self.tensorboard.close()
        return state

    def run_epoch(self, epoch: int, first: int = 0) -> str:
        """The epoch's optimizer steps from step ``first`` of it, each followed by what is due after it (an
        evaluation, a checkpoint); "stopped" when asked to stop on the way."""
        losses, stopping = [], False
        for s in range(first, self.plan.steps_per_epoch):
            losses.append(self.optimizer_step(epoch, s))
            stopping = self.dist.any(bool(self.stop))
            self.after_step(epoch, s, stopping)
            if stopping or self.early_stop:
                break
        if losses:
            avg = sum(losses) / len(losses)
            self.log(f"epoch {epoch} {'stopped' if stopping else 'done'}: loss {avg:.6f} (ppl "
                     f"{math.exp(min(avg, 50)):.4f}), lr {self.lr:.3g}, "
                     f"{self.tokens_total / max(time.time() - self.t_run, 1e-9):.0f} tokens/s")
        return "stopped" if stopping else "early" if self.early_stop else "done"

    def after_step(self, epoch: int, s: int, stopping: bool) -> None:
        """Evaluate when due; save the epoch's checkpoint at its end (or at a stop), else a step checkpoint
        when due."""
        cfg = self.cfg
        epoch_end = s == self.plan.steps_per_epoch - 1
        if self.evaluation_due(epoch_end):
            self.evaluate(epoch)
        last = stopping or self.early_stop is not None
        if last or (epoch_end and self.plan.saves(epoch, cfg.epoch_save)):
            self.save(checkpoint_name(epoch), epoch, s, partial=not epoch_end)
        elif (cfg.save_every_steps and self.step % cfg.save_every_steps == 0) or self.best_unsaved:
            self.save(step_checkpoint_name(self.step), epoch, s, partial=True)

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
            ls, nt = self.forward_backward(self.net, b, cfg, self.device, 1.0 / weight, self.autocast,
                                           self.stepper.backward, last=i == len(batches) - 1)
            loss_sum, tokens = loss_sum + ls, tokens + nt
        self.stepper.step()
        self.step += 1
        loss, tokens = float(dist.sum(loss_sum)) / weight, int(dist.sum(tokens))  # the step's one device sync
        self.tokens_total += tokens
        self.record(epoch, loss, tokens, time.time() - t_step)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at step {self.step}: lower lr_init, or use bf16/fp32 "
                                     f"instead of fp16")
        return loss

    def record(self, epoch: int, loss: float, tokens: int, step_s: float) -> None:
        now, done = time.time(), self.step - self.first_step
        metric = {"step": self.step, "total_steps": self.total_steps, "epoch": epoch, "loss": loss, "lr": self.lr,
                  "tokens": self.tokens_total, "tokens_per_s": tokens / max(step_s, 1e-9), "elapsed_s": now - self.t0,
                  "eta_s": (now - self.t_run) / done * (self.total_steps - self.step)
                  if self.step <= self.total_steps else None,
                  "gpu_mem": (torch.cuda.max_memory_allocated(self.device) / 2**30)
                  if self.device.type == "cuda" else None}
        if self.objective:
            metric.update(self.objective.metrics(self.dist))
        if self.folder is not None:
            self.folder.append_metric(metric)
            self.folder.update_status(step=self.step, epoch=epoch, loss=loss)
            if self.wandb:
                self.wandb.log(metric, step=self.step)
            if self.tensorboard:
                for key in ("loss", "lr", "tokens_per_s"):
                    self.tensorboard.add_scalar(f"train/{key}", metric[key], self.step)
        if self.progress:
            self.progress(metric)

    # --- did it learn? ---------------------------------------------------------------------------------
    def recall_check(self) -> None:
        """Ask the data's questions (trained and held-out) greedy, as Chat asks them, with the weights Merge of the
        run folder takes (the best checkpoint when early stopping kept one); rows in recall.jsonl, the counts in
        metrics.jsonl and status.json, the verdict in the log."""
        questions = self.trained_questions + self.held_questions
        if self.cfg.stage != "sft" or not questions or not (self.dist.is_main or self.partitioned):
            return
        checkpoint = self._recommended_weights()
        self.log(f"did it learn? asking {len(self.trained_questions)} trained and {len(self.held_questions)} held-out "
                 f"questions of the data (greedy, as Chat asks) with {checkpoint}")
        t0 = time.time()
        self.model.eval()
        try:
            with torch.no_grad(), self._generation() as forward:
                rows = judge.recall_rows(forward, self.tokenizer, questions, self.device)
        finally:
            self.model.train()
        if self.folder is None:
            return
        summary = {"step": self.step, "checkpoint": checkpoint, **judge.recall_summary(rows),
                   "recall_s": time.time() - t0}
        words = judge.verdict(summary, self.cfg)
        self.folder.write_recall(rows)
        self.folder.append_metric(summary)
        self.status(recall={**summary, "verdict": words})
        for line in words:
            self.log(line)

    def _recommended_weights(self) -> str:
        """Load the best checkpoint when early stopping kept one (what Merge of the run folder takes); the name of
        the checkpoint whose weights the model now holds."""
        best = (self.best or {}).get("checkpoint") if self.cfg.early_stop_patience else None
        last = self.folder.last_checkpoint() if self.folder is not None else None
        if best and best != last and not self.use_ds:
            peft.load_checkpoint(self.model, self.run_dir / best)
            return best
        return last or f"the weights of step {self.step}"

    # --- evaluate -------------------------------------------------------------------------------------
    def evaluation_due(self, epoch_end: bool) -> bool:
        if self.validation is None and not self.prompts:
            return False
        if self.step == self.total_steps:
            return True
        return self.step % self.cfg.val_every == 0 if self.cfg.val_every else epoch_end

    def evaluate(self, epoch: int) -> None:
        """The validation loss and the sample answers of the model as it is after step ``self.step``."""
        if self.validation is None and not self.prompts:
            return
        t0 = time.time()
        self.model.eval()
        try:
            with torch.no_grad():
                val = self.validation_loss() if self.validation is not None else None
                t1 = time.time()
                samples = self.sample_answers(epoch)
        finally:
            self.model.train()
        if val is not None:
            self.judge_loss(val[0], epoch)
        if self.folder is None:
            return
        text = f"evaluation at step {self.step}:"
        if val is not None:
            loss, tokens = val
            row = self.last_eval = {"step": self.step, "epoch": epoch, "val_loss": loss,
                                    "val_ppl": math.exp(min(loss, 50)), "val_tokens": tokens, "eval_s": t1 - t0,
                                    "sample_s": time.time() - t1,
                                    **(self.objective.metrics(self.dist, "val_") if self.objective else {})}
            self.folder.append_metric(row)
            text += f" val_loss {loss:.4f} (ppl {row['val_ppl']:.3f}) in {t1 - t0:.2f}s;"
            self._log_elsewhere({"val/loss": loss, "val/ppl": row["val_ppl"]})
        if samples:
            self.folder.append_samples(samples)
            text += f" {len(samples)} sample answers in {time.time() - t1:.2f}s"
            if self.tensorboard:
                for i, row in enumerate(samples):
                    self.tensorboard.add_text(f"samples/{i}", f"**{row['prompt']}**\n\n{row['output']}", self.step)
        self.log(text.rstrip(";"))

    def judge_loss(self, loss: float, epoch: int) -> None:
        """Keep the best evaluation (lower by more than early_stop_min_delta); with early stopping on, mark its
        weights to be saved, and end the run after early_stop_patience evaluations without one. Every rank
        decides alike (the loss is summed over all of them)."""
        cfg = self.cfg
        if self.best is None or loss < self.best["val_loss"] - cfg.early_stop_min_delta:
            self.best = {"step": self.step, "epoch": epoch, "val_loss": loss, "val_ppl": math.exp(min(loss, 50)),
                         "checkpoint": None}
            self.since_best, self.best_unsaved = 0, bool(cfg.early_stop_patience) and self.step > 0
            self.status(best=self.best)
            return
        self.since_best += 1
        if cfg.early_stop_patience and self.since_best >= cfg.early_stop_patience:
            self.early_stop = {"step": self.step, "epoch": epoch, "patience": cfg.early_stop_patience,
                               "min_delta": cfg.early_stop_min_delta, "best_step": self.best["step"]}

    def validation_loss(self) -> tuple[float, int] | None:
        """Token-weighted loss over the held-out documents (all ranks together), masked as in training."""
        loss_sum = weight = tokens = 0.0
        for batch in self.validation.batches():
            ls, nt = self.forward_backward(self.net, batch, self.cfg, self.device, 1.0, self.autocast, no_backward)
            loss_sum, weight, tokens = loss_sum + ls, weight + batch.weight, tokens + nt
        loss_sum, weight, tokens = (self.dist.sum(v) for v in (loss_sum, weight, tokens))
        return (float(loss_sum) / weight, int(tokens)) if weight > 0 else None

    @contextlib.contextmanager
    def _generation(self):
        """``forward(ids, state)`` for greedy generation: one token at a time runs the sequential op, the
        cheapest for it."""
        model, op = self.model, self.model.op

        def forward(x, state):
            model.op = "torch" if x.shape[1] == 1 else op
            with self.autocast():
                return self.net(x, state)

        try:
            yield forward
        finally:
            model.op = op

    def sample_answers(self, epoch: int) -> list[dict]:
        if not self.prompts or not (self.dist.is_main or self.partitioned):
            return []
        with self._generation() as forward:
            return [{"step": self.step, "epoch": epoch, "prompt": prompt, "held_out": held,
                     "output": greedy_answer(forward, self.tokenizer, prompt, self.cfg.sample_tokens, self.device)}
                    for prompt, held in self.prompts]

    def _log_elsewhere(self, values: dict) -> None:
        if self.wandb:
            self.wandb.log(values, step=self.step)
        if self.tensorboard:
            for key, value in values.items():
                self.tensorboard.add_scalar(key, value, self.step)

    # --- save -----------------------------------------------------------------------------------------
    def save(self, name: str, epoch: int, s: int, partial: bool) -> None:
        """Checkpoint ``name`` (what Merge reads), then the resume point of this step; every rank enters (the
        parameters of a ZeRO-3 run are gathered from all of them)."""
        cfg = self.cfg
        with self.gathered():
            if self.folder is not None:
                sd = peft.adapter_state_dict(self.model, cfg)
                if peft.method(cfg.finetune_mode).trains_base and cfg.precision in AUTOCAST:
                    sd = {k: v.to(AUTOCAST[cfg.precision]) if v.is_floating_point() else v for k, v in sd.items()}
                with paths.atomic_output(self.folder.path / name) as tmp:
                    torch.save(sd, tmp)
        if self.writes_points:
            self.save_resume_point(epoch, s, name)
        if self.folder is None:
            return
        entry = {"file": name, "epoch": epoch, "step": self.step, "partial": partial}
        if self.last_eval and self.last_eval["step"] == self.step:
            entry["val_loss"] = self.last_eval["val_loss"]
        if self.best and self.best["step"] == self.step:
            self.best["checkpoint"], self.best_unsaved = name, False
            self.status(best=self.best)
        self.folder.add_checkpoint(entry)
        self.prune_step_checkpoints()

    def save_resume_point(self, epoch: int, s: int, checkpoint: str) -> None:
        """resume/step-<N>: written under a temporary name by every rank, renamed into place by rank 0."""
        dist, staging = self.dist, resume.staging_dir(self.run_dir, self.step)
        if dist.is_main:
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
        dist.barrier()
        if self.use_ds:
            self.stepper.engine.save_checkpoint(str(staging / "deepspeed"), tag="engine", client_state={},
                                                save_latest=False, exclude_frozen_parameters=True)
        elif dist.is_main:
            torch.save(self._trainer_state(), staging / "trainer.pt")
        torch.save(resume.rng_state(self.device), staging / f"rng-{dist.rank}.pt")
        dist.barrier()
        if not dist.is_main:
            return
        last_of_epoch = s + 1 == self.plan.steps_per_epoch
        write_json(staging / "point.json", {
            "step": self.step, "epoch": epoch, "next_epoch": epoch + 1 if last_of_epoch else epoch,
            "next_step": 0 if last_of_epoch else s + 1, "steps_per_epoch": self.plan.steps_per_epoch,
            "world": dist.world, "seed": self.seed, "tokens": self.tokens_total, "elapsed_s": time.time() - self.t0,
            "best": self.best, "since_best": self.since_best, "checkpoint": checkpoint, "options": self.cfg.to_dict(),
            "data": self.data_facts,
            "written_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        resume.publish(self.run_dir, self.step)

    def _trainer_state(self) -> dict:
        scaler = self.stepper.scaler
        return {"params": {n: p.detach().float().cpu().clone() for n, p in self.params.items()},
                "optimizer": self.optimizer.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                "lisa": self.lisa.state_dict() if self.lisa is not None else None}

    def prune_step_checkpoints(self) -> None:
        """keep_last: delete the step checkpoints older than the newest K, except the best one."""
        keep = self.cfg.keep_last
        if not keep:
            return
        steps = [e for e in checkpoint_entries(self.run_dir) if e["file"].startswith("rwkv-step-")]
        best = self.best.get("checkpoint") if self.best else None
        doomed = [e for e in steps[:-keep] if e["file"] != best]
        for entry in doomed:
            entry["path"].unlink(missing_ok=True)
        if doomed:
            self.folder.drop_checkpoints({e["file"] for e in doomed})


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


def _tensorboard(cfg: TrainConfig, run: RunDir | None, log: Log, first_step: int):
    """A SummaryWriter into <run>/tensorboard (events past ``first_step`` of an earlier attempt are dropped)."""
    if not cfg.tensorboard or run is None:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log("tensorboard is 1 but the tensorboard package is not installed (pip install tensorboard): logging "
            "only to the run folder")
        return None
    return SummaryWriter(str(run.path / "tensorboard"), purge_step=first_step + 1 if first_step else None,
                         flush_secs=10)
