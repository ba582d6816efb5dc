"""A browser reaches only the project folders: every path-taking endpoint of the Data, Tokenize, Parameters,
Train, Merge and Chat tabs, driven through gradio_client against a real ``python app.py``, with absolute
paths, ``../`` paths, ``~`` and symbolic links pointing out. Nothing may appear outside the project, each
call gets a refusal naming the allowed folders, and the same endpoints still work inside the project."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from gradio_client import Client, handle_file

from rwkv_simple_gui import paths
from rwkv_simple_gui.demo import DEMO_MODEL
from tests.conftest import SAMPLE, start_app, stop_app

FOLDERS = "data/, model/, output/, merge/, presets/"
SECRET = "SECRET-51c2 outside the project"


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` but outside ``skip``, with its size and modification time."""
    return {str(p): (p.lstat().st_size, p.lstat().st_mtime_ns) for p in root.rglob("*")
            if not p.is_relative_to(skip)}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("confine")
    project, outside, allowed, home = root / "project", root / "outside", root / "allowed", root / "home"
    for folder in (project / "data", outside, allowed, home):
        folder.mkdir(parents=True)
    shutil.copyfile(SAMPLE, project / "data" / "sample.jsonl")
    (outside / "run").mkdir()  # where a run folder typed as ../outside/run would go
    (outside / "run" / "train.log").write_text(f"{SECRET}\n", encoding="utf-8")  # a run's files, outside
    (outside / "run" / "status.json").write_text(json.dumps({"state": "failed", "error": SECRET}), encoding="utf-8")
    shutil.copyfile(SAMPLE, outside / "secret.jsonl")
    (outside / "tokenizer.json").write_text("{}", encoding="utf-8")
    shutil.copyfile(SAMPLE, allowed / "extra.jsonl")
    (project / "data" / "escape").symlink_to(outside, target_is_directory=True)
    shutil.copyfile(SAMPLE, outside / "secret.pth")  # what a model's name would point to
    for name in ("secret.jsonl", "secret.pth"):
        (project / "data" / name.replace("secret", "link")).symlink_to(outside / name)
    (project / "data" / "taken.jsonl").symlink_to(outside / "planted.jsonl")  # dangling: an upload's name
    uploads = root / "uploads"  # files on the browser's side
    uploads.mkdir()
    (uploads / "taken.jsonl").write_text('{"text": "User: hi\\n\\nAssistant: ho"}\n', encoding="utf-8")
    (uploads / "small.jsonl").write_text('{"text": "User: a\\n\\nAssistant: b"}\n', encoding="utf-8")
    (uploads / "big.jsonl").write_bytes(b'{"text": "User: x\\n\\nAssistant: y"}\n' * 3000)  # ~100 KB
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner = paths.owner_tag(int(dead.stdout))
    left = [project / "output" / "run" / f".rwkv-0.pth.{owner}-abcd1234.tmp",
            project / "data" / f".tokenize-{owner}-abcd1234"]  # what a kill -9 leaves
    left[0].parent.mkdir(parents=True)
    left[0].write_bytes(b"half a checkpoint")
    left[1].mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))  # "~/..." in a path must not reach the real home either
        mp.delenv("RWKV_SIMPLE_GUI_CACHE", raising=False)  # the app builds its C World encoder in .state/
        mp.setenv("GRADIO_TEMP_DIR", str(project / ".gradio-tmp"))  # where uploads wait (looked at below)
        proc, port, log = start_app(project, "--allow-path", str(allowed), "--max-upload", "64kb")
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        yield SimpleNamespace(root=root, project=project, outside=outside, allowed=allowed, uploads=uploads, port=port,
                              client=client, before=snapshot(root, project), left=left, log=log)
    finally:
        stop_app(proc)


def refused(call, *, verb: str) -> str:
    with pytest.raises(Exception) as err:
        call()
    message = str(err.value)
    assert "Refused:" in message and f"may {verb}: {FOLDERS}" in message, message
    return message


def escapes(app, name: str) -> list[str]:
    """Paths a browser might type to write ``name`` outside the project."""
    return [str(app.outside / name), f"../outside/{name}", f"data/../../outside/{name}", f"data/escape/{name}",
            f"~/{name}", str(app.allowed / name)]  # --allow-path folders are for reading only


def export(app, src, dest, overwrite=False):
    return app.client.predict(src, dest, overwrite, api_name="/export_dataset")


def tokenize(app, src, out, overwrite=False, tokenizer="world"):
    return app.client.predict(src, 1, 0, True, 42, tokenizer, False, out, 1024, overwrite, api_name="/tokenize")


def upload(app, path: Path):
    """The Data tab's upload handler, called as the browser calls it (gradio_client refuses a private
    endpoint by itself, an attacker's client would not)."""
    fn = next(d["id"] for d in app.client.config["dependencies"]
              if any(t[1] == "upload" for t in d["targets"]))
    app.client.endpoints[fn].is_valid = True
    picked, _emptied_box = app.client.predict(handle_file(str(path)), fn_index=fn)
    return picked


def test_the_train_tab_polls_and_serves_nothing_of_a_folder_outside(app):
    """/poll_training is public (every page's timer calls it): a run folder outside, typed or through a link
    in data/, has nothing read, shown or served (its log once came back as a downloadable file)."""
    for run in (str(app.outside / "run"), "../outside/run", "data/escape/run"):
        shown = app.client.predict(run, False, api_name="/poll_training")
        assert SECRET not in json.dumps(shown, default=str), run
        assert "Refused" in shown[1] and shown[6] is None  # no log file to download


def test_writes_outside_the_project_are_refused(app):
    for dest in escapes(app, "evil.jsonl"):
        message = refused(lambda: export(app, "data/sample.jsonl", dest, overwrite=True), verb="write to")
        assert "leads to" in message or dest.startswith("/"), message  # ../ and links: the resolved target shown
    for prefix in escapes(app, "evil"):
        refused(lambda: tokenize(app, "data/sample.jsonl", prefix, overwrite=True), verb="write to")
    update = upload(app, app.uploads / "taken.jsonl")  # data/taken.jsonl is a link out: the upload goes beside it
    assert update["value"] == "data/taken-1.jsonl" and (app.project / "data" / "taken-1.jsonl").is_file()
    assert snapshot(app.root, app.project) == app.before
    assert not (app.outside / "planted.jsonl").exists() and not list(app.project.glob("**/.*.tmp"))


def test_reads_outside_the_project_and_allowed_folders_are_refused(app):
    sources = [str(app.outside / "secret.jsonl"), "../outside/secret.jsonl", "data/escape/secret.jsonl",
               "data/link.jsonl"]
    for src in sources:
        refused(lambda: app.client.predict(src, True, api_name="/inspect_dataset"), verb="read")
        refused(lambda: app.client.predict(src, 1, api_name="/preview_page"), verb="read")
        refused(lambda: export(app, src, "data/from-outside.jsonl"), verb="read")
        message = refused(lambda: tokenize(app, src, "data/from-outside"), verb="read")
        assert "--allow-path" in message and str(app.allowed) in message
        refused(lambda: app.client.predict(src.replace(".jsonl", ".pth"), "cpu fp32", "", api_name="/load_model"),
                verb="read")
    refused(lambda: tokenize(app, "data/sample.jsonl", "data/t", tokenizer=str(app.outside / "tokenizer.json")),
            verb="read")
    # an --allow-path folder is readable
    summary, _ = app.client.predict(str(app.allowed / "extra.jsonl"), True, api_name="/inspect_dataset")
    assert "Every record is valid" in summary
    assert not (app.project / "data" / "from-outside.jsonl").exists()


def test_inside_the_project_everything_works_and_nothing_is_replaced_silently(app):
    data = app.project / "data"
    message, downloaded = export(app, "data/sample.jsonl", "data/out/sample.text.jsonl")
    assert "24 records to `data/out/sample.text.jsonl`" in message
    assert Path(downloaded).read_bytes() == (data / "out" / "sample.text.jsonl").read_bytes()
    stamp = (data / "out" / "sample.text.jsonl").stat().st_mtime_ns
    with pytest.raises(Exception, match="already exists.*Overwrite"):
        export(app, "data/sample.jsonl", "data/out/sample.text.jsonl")
    assert (data / "out" / "sample.text.jsonl").stat().st_mtime_ns == stamp
    assert "24 records" in export(app, "data/sample.jsonl", "data/out/sample.text.jsonl", overwrite=True)[0]
    assert "24 records" in export(app, str(app.allowed / "extra.jsonl"), "")[0]  # default: data/<name>.text.jsonl
    assert (data / "extra.text.jsonl").is_file()

    *_, prefix = tokenize(app, "data/sample.jsonl", "tok")  # a bare name goes into data/
    assert prefix == "data/tok" and (data / "tok.bin").is_file() and (data / "tok.meta.json").is_file()
    stamp = (data / "tok.bin").stat().st_mtime_ns
    with pytest.raises(Exception, match="tok.bin already exists"):
        tokenize(app, "data/sample.jsonl", "data/tok")
    assert (data / "tok.bin").stat().st_mtime_ns == stamp
    assert tokenize(app, "data/sample.jsonl", "data/tok", overwrite=True)[-1] == "data/tok"

    assert upload(app, app.uploads / "small.jsonl")["value"] == "data/small.jsonl"
    assert snapshot(app.root, app.project) == app.before


def test_uploads_over_the_limit_are_refused(app):
    with open(app.uploads / "big.jsonl", "rb") as big:  # about 100 KB, the limit is 64 KB
        response = httpx.post(f"http://127.0.0.1:{app.port}/gradio_api/upload", files={"files": big})
    assert response.status_code == 413, response.text
    small = httpx.post(f"http://127.0.0.1:{app.port}/gradio_api/upload",
                       files={"files": ("s.jsonl", b'{"text": "a"}\n')})
    assert small.status_code == 200
    assert "64 KB" in httpx.get(f"http://127.0.0.1:{app.port}/config").text  # the Data tab says the limit


def _multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "soakboundary7f3a"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
             f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_one_request_carries_at_most_max_upload_in_all_its_files(app):
    """Gradio checks each file (64 KB here) but took up to 1,000 of them in one request."""
    url = f"http://127.0.0.1:{app.port}/gradio_api/upload"
    files = [(f"part{i}.jsonl", bytes([65 + i]) * 60_000) for i in range(3)]  # each under the limit
    body, kind = _multipart(files)
    sized = httpx.post(url, content=body, headers={"content-type": kind})
    assert sized.status_code == 413 and "64 KB for all its files together" in sized.text

    def chunks():  # the same body without a length: counted while it comes
        for start in range(0, len(body), 8192):
            yield body[start:start + 8192]

    streamed = httpx.post(url, content=chunks(), headers={"content-type": kind})
    assert streamed.status_code == 413 and "64 KB for all its files together" in streamed.text
    assert not list((app.project / ".gradio-tmp").rglob("part*.jsonl"))


def test_uploads_waiting_in_gradios_folder_are_capped_and_a_stored_one_is_removed(app):
    temp = app.project / ".gradio-tmp"
    stored = upload(app, app.uploads / "small.jsonl")["value"]  # the Data tab stores it in data/ ...
    assert (app.project / stored).is_file() and not list(temp.rglob("small*.jsonl"))  # ... and drops Gradio's copy
    url = f"http://127.0.0.1:{app.port}/gradio_api/upload"
    answers = [httpx.post(url, files={"files": (f"w{i}.jsonl", bytes([97 + i]) * 60_000)}) for i in range(6)]
    # 4 x 64 KB may wait: four uploads of 60 KB, then a fifth would pass it
    assert [a.status_code for a in answers] == [200] * 4 + [507] * 2, [a.text for a in answers]
    assert "The app holds 256 KB of uploads that are not stored yet" in answers[4].text
    for answer in answers[:4]:
        for path in answer.json():
            Path(path).unlink()
    assert httpx.post(url, files={"files": ("again.jsonl", b"x" * 60_000)}).status_code == 200  # room again


def test_chat_checks_paths_and_the_state_before_letting_the_model_go(app):
    model = next(paths.display(p).replace(str(app.project) + "/", "") for p in (app.project / "model").glob("*.pth"))
    status, _think = app.client.predict(model, "cpu fp32", "", api_name="/load_model")
    assert "loaded" in status
    refused(lambda: app.client.predict(model, "cpu fp32", str(app.outside / "secret.pth"), api_name="/load_model"),
            verb="read")
    with pytest.raises(Exception, match="is a folder, not a file"):
        app.client.predict("data", "cpu fp32", "", api_name="/load_model")
    with pytest.raises(Exception, match="not a torch|not a state|state file"):
        app.client.predict(model, "cpu fp32", "data/sample.jsonl", api_name="/load_model")
    params = [0.0, 0.3, 0, 0.0, 0.0, 0.996, 4]
    # Send carries the picked model too (it loads it when none is); the one loaded is used as it is
    history, _status = app.client.predict(model, "cpu fp32", "", False, "Hello", [], *params, "", "off", "", True,
                                          api_name="/chat")
    assert history[-1]["role"] == "assistant", "the model loaded first is still there"
    app.client.predict(api_name="/unload_model")


def test_the_app_removed_the_leftovers_of_killed_runs_at_start(app):
    assert not any(p.exists() for p in app.left)
    log = app.log.read_text()
    assert "removed output/run/.rwkv-0.pth." in log and "removed data/.tokenize-" in log


def _form(app, **changes) -> list:
    from rwkv_simple_gui.train.config import TrainConfig
    from rwkv_simple_gui.ui import control

    values = {**control.config_to_form(TrainConfig()), "model_path": DEMO_MODEL,
              "data_path": "data/tok", "finetune_mode": "lora", "lora_r": 4, "ctx_len": 128, "epoch_count": 1,
              **changes}
    return [values[n] for n in control.option_names()]


def test_training_and_merging_stay_in_the_project(app):
    """Start, Resume and Merge: a run folder, a model, a dataset, a checkpoint or a merged file outside the
    project is refused before anything is written; nothing outside changes."""
    (app.project / "output" / "escape").symlink_to(app.outside / "run", target_is_directory=True)
    tokenize(app, "data/sample.jsonl", "data/tok", overwrite=True)
    for proj_dir in (str(app.outside / "run"), "../outside/run", "output/../../outside/run", "output/escape"):
        refused(lambda: app.client.predict(*_form(app, proj_dir=proj_dir), api_name="/start_training"),
                verb="write to")
    for option, value in (("model_path", "data/link.pth"), ("model_path", str(app.outside / "secret.pth")),
                          ("data_path", "data/escape/secret"), ("lora_load", "../outside/secret.pth")):
        message = refused(lambda: app.client.predict(*_form(app, **{option: value}), api_name="/start_training"),
                          verb="read")
        assert message.startswith("Fix these") and f"{option}: Refused" in message, message
    for run in ("output/escape", "../outside/run"):
        refused(lambda: app.client.predict(run, api_name="/resume_training"), verb="write to")
    model, ckpt = DEMO_MODEL, _lora_checkpoint(app.project)
    refused(lambda: app.client.predict("data/link.pth", ckpt, "", "pth", "bf16", None, True, api_name="/merge"),
            verb="read")
    for out in (str(app.outside / "merged.pth"), "../outside/merged", "output/escape/merged.pth"):
        refused(lambda: app.client.predict(model, ckpt, out, "pth", "bf16", None, True, api_name="/merge"),
                verb="write to")
    assert snapshot(app.root, app.project) == app.before
    message, merged = app.client.predict(model, ckpt, "mine", "pth", "bf16", None, False, api_name="/merge")
    assert merged == "merge/mine.pth" and "lora merged" in message
    stamp = (app.project / merged).stat().st_mtime_ns
    with pytest.raises(Exception, match="already exists: tick Overwrite"):
        app.client.predict(model, ckpt, "mine", "pth", "bf16", None, False, api_name="/merge")
    assert (app.project / merged).stat().st_mtime_ns == stamp


def _lora_checkpoint(project: Path) -> str:
    """A LoRA checkpoint of the demo model, as a run folder holds it."""
    import json

    import torch

    from rwkv_simple_gui import peft
    from rwkv_simple_gui.model import load_model

    cfg = {"finetune_mode": "lora", "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0}
    model = load_model(project / DEMO_MODEL)
    peft.apply_peft(model, cfg)
    run = project / "output" / "lora-run"
    run.mkdir(parents=True)
    torch.save(peft.adapter_state_dict(model, cfg), run / "rwkv-0.pth")
    (run / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    return "output/lora-run/rwkv-0.pth"
