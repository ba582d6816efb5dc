"""Training tokens/s of DPO and ORPO against SFT on the same model and the same pairs (CPU by default).

SFT trains on each pair's prompt + chosen reply; DPO and ORPO on prompt + chosen and prompt + rejected (every
real token of both sequences counts). DPO's first epoch also runs the reference (the adapter switched off,
no gradients); later epochs reuse its cached log-probabilities, so both epochs are printed.

    python bench/preference_speed.py                      # RWKV-7 6 x 256, 64 pairs, ctx 128, LoRA r 16
    python bench/preference_speed.py --layers 2 --embd 64 --pairs 16   # a quick smoke run

Prints one line per stage and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() != REPO / "bench"]

WORDS = ["zor", "vian", "quen", "brill", "tarn", "mos", "kel", "dra", "fen", "lu", "pash", "orm", "river", "stone",
         "north", "city", "old", "king", "market", "bridge", "the", "of", "and", "is", "a", "near"]


def pairs(n: int, reply_words: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)

    def text(k: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(k)).capitalize() + "."

    return [{"prompt": text(12) + " Tell me about it?", "chosen": text(reply_words), "rejected": text(reply_words)}
            for _ in range(n)]


def epoch_speed(metrics: list[dict], steps_per_epoch: int) -> list[float]:
    """tokens/s of each epoch: its tokens over the summed time of its steps."""
    out, previous = [], {"tokens": 0, "elapsed_s": metrics[0]["elapsed_s"] - metrics[0]["tokens"] /
                                                 metrics[0]["tokens_per_s"]}
    for end in range(steps_per_epoch - 1, len(metrics), steps_per_epoch):
        last = metrics[end]
        out.append((last["tokens"] - previous["tokens"]) / (last["elapsed_s"] - previous["elapsed_s"]))
        previous = last
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--embd", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--reply-words", type=int, default=40)
    ap.add_argument("--ctx", type=int, default=128)
    ap.add_argument("--micro-bsz", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args()

    import torch

    from rwkv_simple_gui.data import formats
    from rwkv_simple_gui.data.pipeline import tokenize_file
    from rwkv_simple_gui.model import init_model, save_model
    from rwkv_simple_gui.train import rundir
    from rwkv_simple_gui.train.config import TrainConfig
    from rwkv_simple_gui.train.loop import train

    work = Path(tempfile.mkdtemp(prefix="pref-bench-"))
    model = work / "model.pth"
    save_model(init_model("x070", args.layers, args.embd), model, torch.float32)
    src = work / "pairs.jsonl"
    src.write_text("".join(json.dumps(p) + "\n" for p in pairs(args.pairs, args.reply_words)), encoding="utf-8")
    tokenize_file(src, work / "pairs")
    formats.export_text_jsonl(src, work / "chosen.jsonl")  # prompt + chosen reply as a conversation
    tokenize_file(work / "chosen.jsonl", work / "chosen")
    steps = -(-args.pairs // args.micro_bsz)
    results = {}
    for stage in ("sft", "dpo", "orpo"):
        run = work / stage
        cfg = TrainConfig(model_path=str(model), data_path=str(work / ("chosen" if stage == "sft" else "pairs")),
                          stage=stage, finetune_mode="lora", lora_r=16, lora_alpha=32, ctx_len=args.ctx,
                          micro_bsz=args.micro_bsz, mini_bsz=1, epoch_count=args.epochs, precision="fp32",
                          grad_cp=0, lr_init=1e-4, lr_final=1e-4, warmup_steps=0, seed=1, sample_tokens=0,
                          loss_mask="qa", proj_dir=str(run))
        assert train(cfg, run) == "finished", (run / "train.log").read_text()
        speeds = epoch_speed(rundir.read_metrics(run), steps)
        results[stage] = [round(s, 1) for s in speeds]
        print(f"{stage:5s} tokens/s per epoch: " + ", ".join(f"{s:,.0f}" for s in speeds), flush=True)
    sft = results["sft"][-1]
    summary = {"model": f"x070 {args.layers}x{args.embd}", "pairs": args.pairs, "ctx_len": args.ctx,
               "micro_bsz": args.micro_bsz, "torch_threads": torch.get_num_threads(), "tokens_per_s": results,
               "dpo_vs_sft_first_epoch": round(results["dpo"][0] / results["sft"][0], 3),
               "dpo_vs_sft_last_epoch": round(results["dpo"][-1] / sft, 3),
               "orpo_vs_sft_last_epoch": round(results["orpo"][-1] / sft, 3)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
