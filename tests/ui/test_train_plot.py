"""The Train tab's curves stay the same size however long a run gets: Gradio keeps each page's last plot value (and
sends it at every poll), so a curve of every step made the app's memory grow with a live run (bench/soak.py: +14k
Python objects a minute under 20 polling clients)."""

from __future__ import annotations

import json
import math

import gradio as gr
import pytest

from rwkv_simple_gui.train import rundir
from rwkv_simple_gui.ui import train_tab


def grow(run: rundir.RunDir, steps: range, spike: int | None = None) -> None:
    """Steps as the trainer writes them: a loss line per step, an evaluation every 100 steps, dpo's rewards."""
    lines = []
    for step in steps:
        loss = 10.0 if step == spike else 2.0 + math.sin(step / 50)
        lines.append({"step": step, "loss": loss, "lr": 1e-4, "tokens": step * 100, "tokens_per_s": 100.0,
                      "elapsed_s": step, "eta_s": 0, "reward_margin": step / 1000, "reward_acc": 0.5})
        if step % 100 == 0:
            lines.append({"step": step, "val_loss": 3.0 - step / 10**5, "val_reward_margin": 0.1,
                          "val_reward_acc": 0.6})
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        f.writelines(json.dumps(m) + "\n" for m in lines)


def plotted(frame, y: str) -> dict[str, list[tuple[float, float]]]:
    """What the page is sent (and Gradio keeps for it): the LinePlot's postprocessed rows, by series."""
    data = gr.LinePlot(x="step", y=y, color="series", render=False).postprocess(frame)
    step, value, series = (data.columns.index(c) for c in ("step", y, "series"))
    out: dict[str, list] = {}
    for row in data.data:
        out.setdefault(row[series], []).append((row[step], row[value]))
    return out


def test_a_long_run_is_plotted_in_bounded_points_spikes_ends_and_all(project):
    run = rundir.RunDir(project / "output" / "long")
    run.update_status(state="running", step=0, total_steps=40_000)
    grow(run, range(1, 20_001), spike=12_345)
    first = plotted(train_tab.poll("output/long", follow=False)[3], "loss")
    grow(run, range(20_001, 40_001))  # the run goes on: the poll keeps the same size
    later = plotted(train_tab.poll("output/long", follow=False)[3], "loss")
    for curves, last in ((first, 20_000), (later, 40_000)):
        for series in ("loss", "smoothed"):
            steps = [s for s, _ in curves[series]]
            assert len(steps) <= train_tab.PLOT_POINTS, series
            assert steps[0] == 1 and steps[-1] == last and steps == sorted(steps), series
        assert len(curves["validation"]) <= train_tab.PLOT_POINTS and curves["validation"][-1][0] == last
    assert (12_345, 10.0) in first["loss"] and (12_345, 10.0) in later["loss"]  # a one-step spike is never thinned away
    assert min(v for _, v in later["loss"]) == pytest.approx(min(2.0 + math.sin(s / 50) for s in range(1, 40_001)))

    preference = plotted(train_tab.poll_preference("output/long", follow=False)["value"], "value")
    assert set(preference) == {"reward_margin", "reward_acc", "val_reward_margin", "val_reward_acc"}
    for series, points in preference.items():
        assert len(points) <= train_tab.PLOT_POINTS and points[-1][0] == 40_000, series
    assert preference["reward_margin"][-1][1] == 40.0


def test_a_short_run_is_plotted_point_for_point(project):
    run = rundir.RunDir(project / "output" / "short")
    run.update_status(state="running", step=0, total_steps=300)
    grow(run, range(1, 301))
    curves = plotted(train_tab.poll("output/short", follow=False)[3], "loss")
    assert [s for s, _ in curves["loss"]] == list(range(1, 301))
    assert curves["loss"][41] == (42, pytest.approx(2.0 + math.sin(42 / 50)))
    assert [s for s, _ in curves["validation"]] == [100, 200, 300]
