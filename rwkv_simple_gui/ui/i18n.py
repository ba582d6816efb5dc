"""Interface text in English and Chinese (Gradio 6 ``gr.I18n``).

Labels are translated in the browser from its language; ``--lang`` pins one language for everyone by
giving every locale the same table. Messages built at run time (reports, errors) are written in English,
the language of the CLI, and translated for display by ``ui/messages.py``.
"""

from __future__ import annotations

import gradio as gr

EN = {
    "app.title": "RWKV Simple GUI",
    "app.subtitle": "From a jsonl file to a fine-tuned RWKV model you can talk to. Files live in the project "
    "folders `data/`, `model/`, `output/`, `merge/`; typed relative paths are taken from the project folder.",
    "tab.data": "1 · Data",
    "tab.tokenize": "2 · Tokenize",
    "tab.params": "3 · Parameters",
    "tab.train": "4 · Train",
    "tab.merge": "5 · Merge",
    "tab.chat": "6 · Chat",
    "common.refresh": "🔄 Refresh",
    "common.file": "File (from data/, or type a path)",
    "common.file_info": "Files on the machine that runs the app. Relative paths are taken from the project folder.",
    "common.upload": "…or upload a file of at most {limit} (it is copied into data/)",
    "common.overwrite": "Overwrite existing files",
    "data.require_assistant": "I will train with the qa mask (every record needs an Assistant: turn)",
    "data.inspect": "Inspect and validate",
    "data.summary": "Summary",
    "data.problems": "Problems (every bad record, with its line)",
    "data.preview": "Preview",
    "data.page": "Page",
    "data.prev": "◀ Previous",
    "data.next": "Next ▶",
    "data.export": "Export normalised text jsonl",
    "data.export_path": "Export to (relative to the project folder)",
    "data.exported": "Exported file",
    "data.tokens": "Token view: which tokens of a record are learned",
    "data.token_line": "Record (its line, as the preview shows it)",
    "data.token_mask": "loss_mask",
    "data.token_mask0": "se mask: stop learning at (mask0)",
    "data.token_mask1": "se mask: start learning at (mask1)",
    "data.token_show": "Show tokens",
    "tok.copies": "Copies (N_EPOCH: shuffled copies of the data)",
    "tok.copies_info": "Keep 1 and set epoch_count in Parameters when data_shuffle is on (the seed's advice); "
    "use more copies only with data_shuffle off.",
    "tok.max_tokens": "Drop documents longer than (tokens, 0 = keep all)",
    "tok.eof": "Append the end-of-document token 0",
    "tok.seed": "Shuffle seed",
    "tok.tokenizer": "Tokenizer: world, or the path of an HF tokenizer.json",
    "tok.skip_bad": "Skip bad records (count them) instead of stopping",
    "tok.out": "Output prefix (empty = data/<input name>)",
    "tok.ctx_len": "ctx_len to check against",
    "tok.ctx_len_info": "Follows ctx_len on the Parameters tab; drag it to see what another value would cut "
    "(nothing is tokenized again).",
    "tok.run": "Tokenize",
    "tok.stats": "Result",
    "tok.hist": "Token length per document",
    "tok.factors": "MICRO_BSZ / EPOCH_STEPS factor table",
    "tok.report": "Report (as make_tokenize.sh prints it)",
}

ZH = {
    "app.title": "RWKV 简易微调界面",
    "app.subtitle": "从 jsonl 数据到可以对话的微调 RWKV 模型。文件放在项目目录 `data/`、`model/`、`output/`、`merge/` 中；"
    "输入的相对路径都以项目目录为准。",
    "tab.data": "1 · 数据",
    "tab.tokenize": "2 · 分词",
    "tab.params": "3 · 参数",
    "tab.train": "4 · 训练",
    "tab.merge": "5 · 合并",
    "tab.chat": "6 · 对话",
    "common.refresh": "🔄 刷新",
    "common.file": "文件（data/ 中选择，或输入路径）",
    "common.file_info": "运行本程序的机器上的文件。相对路径以项目目录为准。",
    "common.upload": "…或上传文件（最大 {limit}，会复制到 data/）",
    "common.overwrite": "覆盖已有文件",
    "data.require_assistant": "我会使用 qa 掩码训练（每条数据都需要 Assistant: 回合）",
    "data.inspect": "检查并校验",
    "data.summary": "概况",
    "data.problems": "问题（每条坏数据及其行号）",
    "data.preview": "预览",
    "data.page": "页码",
    "data.prev": "◀ 上一页",
    "data.next": "下一页 ▶",
    "data.export": "导出规范化的 text jsonl",
    "data.export_path": "导出到（相对项目目录）",
    "data.exported": "导出的文件",
    "data.tokens": "Token 视图：一条数据中哪些 token 参与学习",
    "data.token_line": "数据（行号，与预览中一致）",
    "data.token_mask": "损失掩码 loss_mask",
    "data.token_mask0": "se 掩码：停止学习的文本（mask0）",
    "data.token_mask1": "se 掩码：开始学习的文本（mask1）",
    "data.token_show": "显示 token",
    "tok.copies": "复制份数（N_EPOCH：打乱后的数据副本数）",
    "tok.copies_info": "开启 data_shuffle 时保持 1，并在参数页设置 epoch_count（原脚本的建议）；关闭 data_shuffle 时才使用多份。",
    "tok.max_tokens": "丢弃超过此 token 数的数据（0 = 全部保留）",
    "tok.eof": "在每条数据末尾添加结束符 0",
    "tok.seed": "打乱随机种子",
    "tok.tokenizer": "分词器：world，或 HF tokenizer.json 的路径",
    "tok.skip_bad": "跳过坏数据（并计数），而不是停止",
    "tok.out": "输出前缀（留空 = data/<输入文件名>）",
    "tok.ctx_len": "用于检查的 ctx_len",
    "tok.ctx_len_info": "跟随参数页的 ctx_len；拖动可查看其他取值会截断多少（不会重新分词）。",
    "tok.run": "开始分词",
    "tok.stats": "结果",
    "tok.hist": "每条数据的 token 长度",
    "tok.factors": "MICRO_BSZ / EPOCH_STEPS 因数表",
    "tok.report": "报告（与 make_tokenize.sh 的输出一致）",
}

EN.update({
    "group.model": "Model", "group.data": "Data", "group.method": "Method", "group.schedule": "Schedule",
    "group.optimizer": "Optimizer", "group.hardware": "Hardware", "group.run": "Run",
    "params.apply": "Apply dataset suggestions", "params.presets": "Presets", "params.preset": "Preset name",
    "params.save": "💾 Save preset", "params.load": "📂 Load preset", "params.copy_from": "Copy parameters from run",
    "params.copy": "Copy", "params.export": "Command line / training.sh", "params.show": "Show",
    "params.seed_import": "Your training.sh (RWKV-PEFT-Simple)",
    "params.load_sh": "📥 Load training.sh (read as data, never run)",
    "params.cli": "CLI command", "params.download": "training.sh (Show also saves it as presets/training.sh)",
    "train.start": "▶ Start", "train.stop": "⏹ Stop", "train.resume": "⏯ Resume selected run",
    "train.run": "Run", "train.follow": "Follow the running job", "train.loss": "Loss",
    "train.axis_step": "step", "train.axis_loss": "loss", "train.axis_series": "series",
    "train.preference": "Reward margin and accuracy (dpo / orpo)",
    "train.log": "Log (live)", "train.full_log": "Full log", "train.runs": "Runs",
    "train.to_merge": "Send the selected run to Merge",
    "chat.model": "Model (merge/ or model/)", "chat.state": "State file (state tuning; optional)",
    "chat.strategy": "Strategy", "chat.load": "Load", "chat.unload": "Unload (free memory)",
    "chat.sampling": "Sampling", "chat.compare": "Compare with another model (e.g. the base model)",
    "chat.compare_model": "Second model", "chat.chat": "Chat", "chat.compare_chat": "Second model",
    "chat.placeholder": "Type a message; Enter sends, Shift+Enter for a new line", "chat.send": "Send",
    "chat.clear": "Clear",
    "merge.run": "Run (output/)", "merge.checkpoint": "Checkpoint (epoch)", "merge.base": "Base model",
    "merge.sh_epoch": "merge.sh epoch (its $1)", "merge.load_sh": "📥 Load merge.sh (read as data, never run)",
    "merge.dtype": "dtype of the .pth", "merge.alpha": "LoRA alpha (0 or empty = from the run)",
    "merge.alpha_info": "Only for checkpoints made elsewhere (RWKV-PEFT): the lora_alpha used in training.",
    "merge.out": "Output (empty = merge/<base>-<METHOD>-<epoch>.pth)", "merge.run_button": "Merge",
})
ZH.update({
    "group.model": "模型", "group.data": "数据", "group.method": "微调方式", "group.schedule": "轮数与批大小",
    "group.optimizer": "优化器", "group.hardware": "硬件", "group.run": "运行",
    "params.apply": "应用数据集建议值", "params.presets": "预设", "params.preset": "预设名称",
    "params.save": "💾 保存预设", "params.load": "📂 加载预设", "params.copy_from": "从已有训练复制参数",
    "params.copy": "复制", "params.export": "命令行 / training.sh", "params.show": "显示",
    "params.seed_import": "你的 training.sh（RWKV-PEFT-Simple）",
    "params.load_sh": "📥 导入 training.sh（只读取变量，绝不执行）",
    "params.cli": "命令行", "params.download": "training.sh（点“显示”时也会保存为 presets/training.sh）",
    "train.start": "▶ 开始", "train.stop": "⏹ 停止", "train.resume": "⏯ 继续所选训练",
    "train.run": "训练", "train.follow": "跟随正在运行的训练", "train.loss": "损失",
    "train.axis_step": "步", "train.axis_loss": "损失", "train.axis_series": "曲线",
    "train.preference": "奖励差值与准确率（dpo / orpo）",
    "train.log": "日志（实时）", "train.full_log": "完整日志", "train.runs": "训练记录",
    "train.to_merge": "把所选训练发送到合并页",
    "chat.model": "模型（merge/ 或 model/）", "chat.state": "状态文件（state tuning，可选）",
    "chat.strategy": "运行策略", "chat.load": "加载", "chat.unload": "卸载（释放内存）",
    "chat.sampling": "采样参数", "chat.compare": "与另一个模型对比（例如基座模型）",
    "chat.compare_model": "第二个模型", "chat.chat": "对话", "chat.compare_chat": "第二个模型",
    "chat.placeholder": "输入消息；回车发送，Shift+回车换行", "chat.send": "发送", "chat.clear": "清空",
    "merge.run": "训练（output/）", "merge.checkpoint": "检查点（轮数）", "merge.base": "基座模型",
    "merge.sh_epoch": "merge.sh 的轮数（它的 $1）", "merge.load_sh": "📥 导入 merge.sh（只读取变量，绝不执行）",
    "merge.dtype": ".pth 的精度", "merge.alpha": "LoRA alpha（0 或留空 = 取自训练配置）",
    "merge.alpha_info": "仅用于在别处（RWKV-PEFT）训练的检查点：训练时的 lora_alpha。",
    "merge.out": "输出（留空 = merge/<基座>-<方式>-<轮数>.pth）", "merge.run_button": "合并",
})


EN.update({
    "chat.force_state": "Use the state anyway",
    "chat.system": "System prompt (optional)",
    "chat.system_placeholder": "e.g. You are a helpful assistant. Keep it short.",
    "chat.think": "Think mode (RWKV-7 G1)",
    "chat.think_info": "short: <think>\\n</think> (fast); full: <think> (the model reasons first, shown folded)",
    "chat.think_off": "off", "chat.think_short": "short", "chat.think_full": "full",
    "chat.think_length": "Think length (full only)",
    "chat.think_length_none": "(none)",
    "chat.fit_history": "Fit the history to the model",
    "chat.fit_history_info": "Send only as many earlier questions as the model's training conversations had "
    "(none for one-question data), and only before a follow-up that names nothing of its own; the page keeps the "
    "whole conversation.",
    "chat.force_state_info": "A state file remembers the base it was tuned on; tick to mount it on another model.",
    "merge.format": "Format",
    "merge.format_info": ("pth: the rwkv package, RWKV-Runner · st: Ai00 / web-rwkv (fp16) · hf: Hugging Face "
                          "transformers (RWKV-7) · gguf: llama.cpp / Ollama · both: pth and st · all: every one"),
    "merge.gguf_type": "GGUF tensor type (empty = the dtype above)",
    "merge.check": "Self-check each export with its runtime",
    "merge.force": "Use a state file on another base anyway",
})
ZH.update({
    "chat.force_state": "仍然使用该状态",
    "chat.system": "系统提示（可选）",
    "chat.system_placeholder": "例如：你是一个乐于助人的助手，回答尽量简短。",
    "chat.think": "思考模式（RWKV-7 G1）",
    "chat.think_info": "short：<think>\\n</think>（快速）；full：<think>（模型先推理，推理过程折叠显示）",
    "chat.think_off": "关闭", "chat.think_short": "简短", "chat.think_full": "完整",
    "chat.think_length": "思考长度（仅完整模式）",
    "chat.think_length_none": "（不指定）",
    "chat.fit_history": "让历史适应模型",
    "chat.fit_history_info": "只发送与模型训练对话一样多的先前问题（单轮数据则不发送），且只在没有自己主语的追问前发送；"
    "页面上仍保留完整对话。",
    "chat.force_state_info": "状态文件记录了训练时的基座模型；勾选后可挂载到其他模型上。",
    "merge.format": "导出格式",
    "merge.format_info": ("pth：rwkv 包、RWKV-Runner · st：Ai00 / web-rwkv（fp16）· hf：Hugging Face transformers"
                          "（RWKV-7）· gguf：llama.cpp / Ollama · both：pth 与 st · all：全部"),
    "merge.gguf_type": "GGUF 张量类型（留空 = 与上方精度相同）",
    "merge.check": "用各格式自己的运行库自检导出结果",
    "merge.force": "状态文件属于其他基座时仍然使用",
})


# judging a run: evaluation options, sample answers, step checkpoints
EN.update({
    "group.evaluate": "Evaluation and checkpoints",
    "train.samples": "Sample answers at each evaluation (newest first; base = the model before training)",
    "merge.checkpoint_info": "Epoch and step checkpoints, oldest first; ★ = the lowest validation loss",
})
ZH.update({
    "group.evaluate": "评估与检查点",
    "train.samples": "每次评估的示例回答（最新在前；base = 训练前的模型）",
    "merge.checkpoint_info": "每轮与步数检查点，按时间先后排列；★ = 验证损失最低",
})


def _add_option_texts() -> None:
    """Labels and help of every training option: English from TrainConfig, Chinese from i18n_options."""
    from ..train.config import TrainConfig
    from .i18n_options import ZH_OPTIONS

    for f in TrainConfig.options():
        label, help_text = f.metadata["label"], f.metadata["help"]
        zh_label, zh_help = ZH_OPTIONS.get(f.name, (label, help_text))
        EN[f"opt.{f.name}.label"] = f"{label} · {f.name}"
        EN[f"opt.{f.name}.help"] = help_text
        ZH[f"opt.{f.name}.label"] = f"{zh_label} · {f.name}"
        ZH[f"opt.{f.name}.help"] = zh_help


_add_option_texts()

LANGUAGES = {"en": EN, "zh": ZH}


def make_i18n(lang: str | None = None) -> gr.I18n:
    """Translations for ``launch(i18n=...)``; ``lang`` pins one language for every browser."""
    if lang:
        table = LANGUAGES[lang]
        return gr.I18n(**{code: table for code in LANGUAGES})
    return gr.I18n(**LANGUAGES)


def t(key: str):
    """A label translated in the browser."""
    if key not in EN:
        raise KeyError(f"no interface text named {key!r}")
    return gr.I18n(**LANGUAGES)(key)


def t_filled(key: str, **values):
    """A label whose text has ``{placeholders}`` for values known at start (a flag): filled in every
    language under a key of its own, so the browser still translates it."""
    filled = key + "|" + ",".join(f"{k}={v}" for k, v in sorted(values.items()))
    for table in LANGUAGES.values():
        table[filled] = table[key].format(**values)
    return t(filled)
