"""Assembles the tabs into one Gradio app and says how to launch it."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from .. import paths
from ..data.token_view import TOKEN_CSS
from . import chat_tab, common, data_tab, merge_tab, messages, params_tab, tokenize_tab, train_tab
from .i18n import make_i18n, t
from .limits import FORM_ROOM, UploadLimit
from .login import LoginThrottle

UPLOADS_WAITING = 4  # uploads of the largest size that may wait in Gradio's folder at once
UPLOAD_EXPIRY_S = 3600  # an upload no handler stored is deleted after this long (checked every 10 minutes)
# Page sessions Gradio keeps in memory (~0.6 MiB each: a copy of every component's config and last value), the least
# recently used dropped first. Gradio's 10000 let every page load or refresh grow the app by that much for days; an
# open page polls every few seconds, so only closed ones are dropped.
SESSIONS_KEPT = 100

STATIC = Path(__file__).parent / "static"
CSS = STATIC / "page.css"
FOLLOW_TAIL_JS = STATIC / "follow_tail.js"  # log boxes with elem_classes="follow-tail" stay at their end


def build_app() -> gr.Blocks:
    settings = common.load_settings()
    # run folders' files (the Train tab's full log) are served from disk, not copied into Gradio's folder at
    # every poll: a live log made a new copy per line written (the route still refuses links out of output/)
    gr.set_static_paths([str(paths.folder("output"))])
    with gr.Blocks(title="RWKV Simple GUI", delete_cache=(600, UPLOAD_EXPIRY_S)) as demo:
        gr.Markdown(f"# {t('app.title')}")
        gr.Markdown(t("app.subtitle"))
        with gr.Tabs() as tabs:
            with gr.Tab(t("tab.data"), id="data"):
                data = data_tab.build(settings)
            with gr.Tab(t("tab.tokenize"), id="tokenize"):
                tok = tokenize_tab.build(settings)
            with gr.Tab(t("tab.params"), id="params"):
                params = params_tab.build(settings)
            with gr.Tab(t("tab.train"), id="train"):
                train = train_tab.build(params)
            with gr.Tab(t("tab.merge"), id="merge"):
                merge = merge_tab.build()
            with gr.Tab(t("tab.chat"), id="chat"):
                chat = chat_tab.build()
        # The dataset picked on the Data tab is the one to tokenize; the binidx written is the one to train.
        data["file"].change(lambda f: f, data["file"], tok["file"], api_visibility="private")
        tok["prefix"].change(lambda p: gr.update(value=p) if p else gr.update(), tok["prefix"],
                             params["options"]["data_path"], api_visibility="private")
        # A run goes from Train to Merge, and the merged model from Merge to Chat.
        # (chained: the .change of a component whose tab was never shown does not fire)
        train["to_merge"].click(lambda run: (gr.update(choices=merge_tab.run_choices(), value=run),
                                             gr.Tabs(selected="merge")),
                                train["run"], [merge["run"], tabs], api_visibility="private") \
            .then(merge_tab.pick_run, merge["run"], [merge["checkpoint"], merge["base"]], api_visibility="private") \
            .then(merge_tab.describe, merge["checkpoint"], merge["plan"], api_visibility="private")
        merge["merged"].change(lambda m: gr.update(choices=chat_tab.model_choices(), value=m) if m else gr.update(),
                               merge["merged"], chat["model"], api_visibility="private")
        # Choices and defaults are read when a page loads, not when the app started: a refresh keeps (and
        # finds) the dataset, model and run made since.
        demo.load(lambda: [common.dataset_dropdown()] * 2, None, [data["file"], tok["file"]],
                  api_visibility="private")
        comps = [params["options"][n] for n in params["names"]]
        # The ctx_len Tokenize checks against is the one the form trains with (a preset's, a typed one).
        ctx_len = params["options"]["ctx_len"]
        demo.load(lambda stored: params_tab.page_load(stored, params["names"]), params["browser"], comps,
                  api_visibility="private").then(**params["refresh"], api_visibility="private") \
            .then(tokenize_tab.follow_ctx_len, ctx_len, tok["ctx_len"], api_visibility="private")
        ctx_len.change(tokenize_tab.follow_ctx_len, ctx_len, tok["ctx_len"], api_visibility="private",
                       show_progress="hidden")
        demo.load(**train["on_load"], api_visibility="private")
        demo.load(lambda: (gr.update(choices=merge_tab.run_choices()), gr.update(choices=chat_tab.model_choices())),
                  None, [merge["run"], chat["model"]], api_visibility="private")
        chat["model"].change(lambda m: f"Press **Load** to chat with `{m}`." if m else "", chat["model"],
                             chat["status"], api_visibility="private", show_progress="hidden")
        messages.localize_app(demo)
    demo.queue(default_concurrency_limit=1)
    return demo


def launch_kwargs(*, lang: str | None, auth: tuple[str, str] | None, share: bool, host: str, port: int,
                  open_browser: bool) -> dict:
    """Everything ``launch`` needs; files are served only from the project's own folders, uploads are
    limited to ``common.MAX_UPLOAD`` bytes per request and ``UPLOADS_WAITING`` times that waiting in
    Gradio's folder, failed sign-ins are slowed down per client, and ``SESSIONS_KEPT`` page sessions are kept."""
    messages.PINNED = lang  # run-time messages follow the pinned language too
    return dict(
        server_name=host, server_port=port, share=share, auth=auth, inbrowser=open_browser, show_error=True,
        state_session_capacity=SESSIONS_KEPT,
        quiet=True, i18n=make_i18n(lang), css=TOKEN_CSS, css_paths=CSS, js=FOLLOW_TAIL_JS.read_text(encoding="utf-8"),
        # quiet: app.py prints start lines that name our flags
        allowed_paths=[str(paths.folder(name)) for name in paths.FOLDERS],
        auth_message="RWKV Simple GUI: sign in with the user and password given to app.py --auth.",
        max_file_size=common.MAX_UPLOAD,
        app_kwargs={"middleware": [
            Middleware(LoginThrottle),
            Middleware(UploadLimit, max_request=common.MAX_UPLOAD + FORM_ROOM,
                       max_total=UPLOADS_WAITING * common.MAX_UPLOAD),
        ]},
    )
