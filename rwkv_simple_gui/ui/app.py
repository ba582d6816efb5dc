"""Assembles the tabs into one Gradio app and says how to launch it."""

from __future__ import annotations

import gradio as gr
from starlette.middleware import Middleware

from .. import paths
from . import chat_tab, common, data_tab, merge_tab, params_tab, tokenize_tab, train_tab
from .i18n import make_i18n, t
from .login import LoginThrottle

CSS = """
footer {visibility: hidden}
"""


def build_app() -> gr.Blocks:
    settings = common.load_settings()
    with gr.Blocks(title="RWKV Simple GUI") as demo:
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
        train["to_merge"].click(lambda run: (gr.update(choices=merge_tab.run_choices(), value=run),
                                             gr.Tabs(selected="merge")),
                                train["run"], [merge["run"], tabs], api_visibility="private")
        merge["merged"].change(lambda m: gr.update(choices=chat_tab.model_choices(), value=m) if m else gr.update(),
                               merge["merged"], chat["model"], api_visibility="private")
        comps = [params["options"][n] for n in params["names"]]
        demo.load(lambda stored: params_tab.restore_from_browser(stored, params["names"]), params["browser"], comps,
                  api_visibility="private").then(**params["refresh"], api_visibility="private")
        demo.load(train_tab.poll, [train["run"], train["follow"]],
                  [train["run"], train["status"], train["progress"], train["loss"], train["log"], train["monitor"],
                   train["log_file"]], api_visibility="private")
    demo.queue(default_concurrency_limit=1)
    return demo


def launch_kwargs(*, lang: str | None, auth: tuple[str, str] | None, share: bool, host: str, port: int,
                  open_browser: bool) -> dict:
    """Everything ``launch`` needs; files are served only from the project's own folders, uploads are
    limited to ``common.MAX_UPLOAD`` bytes, and failed sign-ins are slowed down per client."""
    return dict(
        server_name=host, server_port=port, share=share, auth=auth, inbrowser=open_browser, show_error=True,
        i18n=make_i18n(lang), css=CSS,
        allowed_paths=[str(paths.folder(name)) for name in paths.FOLDERS],
        auth_message="RWKV Simple GUI: sign in with the user and password given to app.py --auth.",
        max_file_size=common.MAX_UPLOAD,
        app_kwargs={"middleware": [Middleware(LoginThrottle)]},
    )
