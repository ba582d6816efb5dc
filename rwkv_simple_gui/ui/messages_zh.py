"""The Chinese of run-time messages: English template -> Chinese (ui/messages.py says how they match).

A template is one line of a message as the code writes it, with ``{placeholders}`` for what varies
(by habit the f-string's own expression, as `tests/ui/test_i18n.py` finds it); the Chinese uses the same
placeholders (two placeholders side by side stay side by side: where one ends is a guess). Grouped by
the file that writes the English.
"""

ZH: dict[str, str] = {
    # words that messages fill in (translated inside other messages too)
    "dataset file": "数据文件", "model": "模型", "state file": "状态文件", "model file": "模型文件",
    "checkpoint": "检查点", "tokenizer.json": "tokenizer.json",
    "running": "运行中", "starting": "启动中", "stopping": "停止中", "finished": "已完成", "failed": "失败",
    "stopped": "已停止", "died": "进程已消失", "unknown": "未知",
    "documents": "数据条数", "tokens per document": "每条数据的 token 数",

    # ui/common.py and ui/messages.py
    "Unexpected {type(err).__name__}: {err} (the app's console shows where it happened)":
        "意外的 {type(err).__name__}：{err}（程序的控制台显示了出错位置）",
    "Pick a {what} first.": "请先选择{what}。",
    "{paths.display(path)} {problem}. Pick a {what} in {base}/ or type the path of one.":
        "{paths.display(path)} {problem}。请在 {base}/ 中选择{what}，或输入其路径。",
    "does not exist": "不存在", "is a folder": "是一个文件夹",
    "{err}: tick *Overwrite* to replace it, or choose another name.":
        "{err}：勾选 *覆盖已有文件* 以替换它，或换一个名字。",

    # paths.py: what the app may read and write
    "Refused: {shown}{leads} is outside the folders this app may {verb}: {names} in {PROJECT_ROOT}{extra}. {hint}":
        "已拒绝：{shown}{leads} 不在本程序可{verb}的目录（{PROJECT_ROOT}{extra} 中的 {names}）内。{hint}",
    "(it leads to {path})": "（它指向 {path}）", "read": "读取", "write to": "写入",
    "Copy the file into one of them, or start the app with --allow-path FOLDER.":
        "请把文件复制到其中一个目录，或用 --allow-path 目录 启动本程序。",
    "Choose a path inside one of them.": "请选择其中某个目录内的路径。",
    "--allow-path {given}: {path} is not a folder": "--allow-path {given}：{path} 不是文件夹",
    "{display(path)} already exists": "{display(path)} 已存在",
    "is a folder, not a file": "是文件夹，不是文件", "is not a regular file": "不是普通文件",

    # ui/data_tab.py
    "**File:** `{paths.display(path)}`": "**文件：** `{paths.display(path)}`",
    "**Format detected:** {report.format}": "**识别的格式：** {report.format}",
    "**Records:** {report.records} · **characters:** {report.chars} · **turns:** {report.turns}":
        "**数据条数：** {report.records} · **字符数：** {report.chars} · **对话轮数：** {report.turns}",
    "{report.bad_count} bad record(s){shown}": "{report.bad_count} 条坏数据{shown}",
    "{part} in the conversations: {report.parts[part]}": "对话中的{part}：{report.parts[part]}",
    "system prompts": "系统提示", "reasoning blocks": "思考块（<think>）", "tool calls": "工具调用",
    "tool results": "工具结果",
    "**Not in the training text:** these fields hold data that the chat template does not use (counted here, "
    "never trained on):": "**不在训练文本中：** 这些字段有数据，但对话模板不使用它们（只在此计数，不参与训练）：",
    "`{name}` in {count} records": "`{name}`：{count} 条数据",
    "**Line {v.line}:** {v.learned} of {len(v.tokens)} tokens learned under loss_mask {v.loss_mask}, "
    "{len(v.tokens) - v.learned} not learned (green: learned, grey: not learned; each box is one token)":
        "**第 {v.line} 行：** 在 loss_mask {v.loss_mask} 下，{len(v.tokens)} 个 token 中 {v.learned} 个参与学习，"
        "{len(v.tokens) - v.learned} 个不学习（绿色：学习；灰色：不学习；每个方框是一个 token）",
    "{path}, {unit} {line}: no record on this {unit2}. Pick the number of a record, as the preview shows it":
        "{path}，第 {line} {unit}：这{unit2}没有数据。请填写预览中显示的数据行号",
    "line": "行", "record": "条", "row": "行",
    "The token view shows chat records; a preference pair is split into prompt, chosen and rejected when "
    "tokenized (the Tokenize tab's report shows them).":
        "Token 视图只显示对话数据；偏好数据对在分词时分为 prompt、chosen 和 rejected（见分词页的报告）。",
    "(first {len(bad_rows)} listed)": "（列出前 {len(bad_rows)} 条）",
    "Fix them in the file, or tick *Skip bad records* when tokenizing to drop and count them.":
        "请在文件中修正它们，或在分词时勾选 *跳过坏数据*，把它们丢弃并计数。",
    "No records: the file holds no usable data.": "没有数据：文件中没有可用的数据。",
    "Every record is valid.": "每条数据都有效。",
    "Wrote {count} records to `{paths.display(dest)}`.": "已将 {count} 条数据写入 `{paths.display(dest)}`。",
    "The export would overwrite the source {src}; choose another name.": "导出会覆盖源文件 {src}；请换一个名字。",
    "{paths.display(dest)} is a folder; give the export a file name, e.g. data/NAME.text.jsonl.":
        "{paths.display(dest)} 是一个文件夹；请给导出文件起个文件名，例如 data/NAME.text.jsonl。",

    # ui/tokenize_tab.py
    "`{paths.display(prefix)}.bin` / `.idx`": "`{paths.display(prefix)}.bin` / `.idx`",
    "**{result.tokens}** tokens · **{result.items}** items · dropped (too long) {result.dropped} · skipped (bad) "
    "{result.skipped_bad}":
        "**{result.tokens}** 个 token · **{result.items}** 条 · 丢弃（过长）{result.dropped} · 跳过（坏数据）"
        "{result.skipped_bad}",
    "max_length **{result.max_length}** · max_length_power_of_two **{result.max_length_power_of_two}** · "
    "data_line_count **{result.data_line_count}**":
        "max_length **{result.max_length}** · max_length_power_of_two **{result.max_length_power_of_two}** · "
        "data_line_count **{result.data_line_count}**",
    "max_length is the longest document kept (end token included) rounded up to a multiple of {stats.TOKEN_ALIGN}: "
    "the smallest ctx_len that holds every document whole.":
        "max_length 是保留下来的最长一条数据（含结束符）向上取整到 {stats.TOKEN_ALIGN} 的倍数：能完整容纳每条数据的最小 ctx_len。",
    "**{over}** of {len(lengths)} documents ({share}) are longer than ctx_len {ctx_len} and would be cut in "
    "training.":
        "{len(lengths)} 条数据中有 **{over}** 条（{share}）长于 ctx_len {ctx_len}，训练时会被截断。",
    "ctx_len {ctx_len} → (every document is shorter)": "ctx_len {ctx_len} →（每条数据都更短）",

    # ui/control.py and train/estimate.py: the Parameters check
    "**{info.version}** · {info.n_layer} layers · width {info.n_embd} · {info.n_head} heads of {info.head_size} "
    "· vocab {info.vocab_size} · {info.n_params / 1000000.0} M parameters · file {info.dtype}":
        "**{info.version}** · {info.n_layer} 层 · 宽度 {info.n_embd} · {info.n_head} 个头，每头 {info.head_size} "
        "· 词表 {info.vocab_size} · {info.n_params / 1000000.0} M 参数 · 文件精度 {info.dtype}",
    "{paths.display(info.prefix)}: {info.n_docs} documents, {info.num_tokens} tokens, longest {info.max_doc_len} "
    "tokens":
        "{paths.display(info.prefix)}：{info.n_docs} 条数据，{info.num_tokens} 个 token，最长 {info.max_doc_len} 个 token",
    "Pick a tokenized dataset (run the Tokenize tab first).": "请选择已分词的数据集（先在分词页运行分词）。",
    "Fix before training": "训练前请修正",
    "Ready to train": "可以开始训练",
    "**Estimated GPU memory: {self.total / GB} GB**": "**预计显存：{self.total / GB} GB**",
    "| part | size |": "| 部分 | 大小 |",
    "| {name} | {size} GB |": "| {name} | {size} GB |",
    "base weights": "基座权重", "trained parameters + AdamW state": "训练参数 + AdamW 状态", "activations": "激活值",
    "logits and loss": "logits 与损失", "CUDA runtime": "CUDA 运行时",
    "This machine has no CUDA GPU: the figure is what the run needs on a GPU. On this CPU it trains in RAM, "
    "slowly; fine for the demo model.":
        "本机没有 CUDA GPU：这是在 GPU 上训练所需的显存。在本机 CPU 上会使用内存训练，速度较慢；演示模型可以这样训练。",

    # ui/params_tab.py
    "Suggested for this dataset: ctx_len **{s['ctx_len']}**, micro_bsz **{s['micro_bsz']}**, epoch_steps "
    "**{s['epoch_steps']}**.":
        "此数据集的建议值：ctx_len **{s['ctx_len']}**，micro_bsz **{s['micro_bsz']}**，epoch_steps "
        "**{s['epoch_steps']}**。",
    "Can't save: {err}.": "无法保存：{err}。",
    "Can't save:": "无法保存：",
    "No preset named {name}; pick one of {', '.join(presets.list_presets())}.":
        "没有名为 {name} 的预设；请从这些中选择：{', '.join(presets.list_presets())}。",
    "Pick a run.": "请选择一次训练。",
    "expected a JSON object of option: value": "应为 参数: 值 形式的 JSON 对象",
    "Can't load {paths.display(path)}: {err}": "无法加载 {paths.display(path)}：{err}",

    # ui/train_tab.py
    "`{run}` — {state}": "`{run}` — {state}",
    "**Why:** {reason}": "**原因：** {reason}", "**Try:** {advice}": "**建议：** {advice}",
    "see the log below.": "请查看下方日志。",
    "No run yet: set the parameters, then press Start.": "还没有训练：设置好参数后按“开始”。",
    "Fix these on the Parameters tab first:": "请先在参数页修正以下问题：",
    "Pick the run to resume in the list of runs.": "请在训练记录中选择要继续的训练。",
    "No training job is running.": "没有正在运行的训练。",
    "Stopping {paths.display(job.run_dir)}: it finishes the current step, saves a checkpoint and exits (forced "
    "after 30 s).":
        "正在停止 {paths.display(job.run_dir)}：完成当前步、保存检查点后退出（30 秒后强制结束）。",
    "CPU {s['cpu_percent']}% · RAM {s['ram_used_gb']}/{s['ram_total_gb']} GB":
        "CPU {s['cpu_percent']}% · 内存 {s['ram_used_gb']}/{s['ram_total_gb']} GB",
    "CPU {cpu}% · RAM {ram} GB · no NVIDIA GPU": "CPU {cpu}% · 内存 {ram} GB · 没有 NVIDIA GPU",
    "· GPU{i} {g['name']}: {g['mem_used_gb']}/{g['mem_total_gb']} GB, {g['util_percent']}%":
        "· GPU{i} {g['name']}：{g['mem_used_gb']}/{g['mem_total_gb']} GB，{g['util_percent']}%",
    "· no NVIDIA GPU": "· 没有 NVIDIA GPU",
    "GPU mem {last['gpu_mem']} GB": "显存 {last['gpu_mem']} GB",
    "final loss": "最终损失",
    "The trainer was killed (SIGKILL), most often by the system running out of RAM: lower micro_bsz or ctx_len, "
    "or close other programs.":
        "训练进程被强制结束（SIGKILL），最常见的原因是系统内存不足：请调小 micro_bsz 或 ctx_len，或关闭其他程序。",

    # ui/merge_tab.py
    "Method detected: **{row.name}**{rest}": "识别的微调方式：**{row.name}**{rest}",
    "· {name} {value} (from the run's config.json){rest}": "· {name} {value}（取自训练的 config.json）{rest}",
    "· {name} {options[name]} (from the run's config.json)": "· {name} {options[name]}（取自训练的 config.json）",
    "Method detected: **{row.name}**": "识别的微调方式：**{row.name}**",
    "· a state file is written (mount it in Chat); RWKV-7 ignores states merged into a model":
        "· 将写出状态文件（在对话页挂载）；RWKV-7 会忽略合并进模型的状态",
    "Pick the base model and the checkpoint to merge.": "请选择要合并的基座模型和检查点。",
    "{result.method} merged ({result.version}) in {result.seconds} s":
        "{result.method} 已合并（{result.version}），用时 {result.seconds} 秒",
    "{result.keys_changed} tensors changed · peak memory {result.peak_rss_mb} MB{notes}":
        "{result.keys_changed} 个张量已改变 · 峰值内存 {result.peak_rss_mb} MB{notes}",
    "(an HF peft {ckpt.config.get('peft_type')} adapter folder)": "（HF peft {ckpt.config.get('peft_type')} 适配器目录）",
    "(an HF peft {kind} adapter folder){rest}": "（HF peft {kind} 适配器目录）{rest}",
    "· a whole model (e.g. RWKV-PEFT's --merge 1 output): it is exported as it is":
        "· 完整模型（例如 RWKV-PEFT --merge 1 的输出）：按原样导出",
    "· a whole model (e.g. RWKV-PEFT's --merge 1 output): it is exported as it is{rest}":
        "· 完整模型（例如 RWKV-PEFT --merge 1 的输出）：按原样导出{rest}",
    "**Self-check** (logits on a few tokens):": "**自检**（几个 token 上的 logits）：",
    "**Self-check failed** (logits on a few tokens):": "**自检未通过**（几个 token 上的 logits）：",

    # merge/merger.py: what a merge from the Merge tab may be refused for
    "{paths.display(target)} already exists: tick Overwrite to replace it, or choose another output name":
        "{paths.display(target)} 已存在：勾选 *覆盖已有文件* 以替换它，或换一个输出名",
    "{self.ckpt.path} does not fit {self.base.path}: {detail}. Pick {pick}.":
        "{self.ckpt.path} 与 {self.base.path} 不匹配：{detail}。请选择{pick}。",
    "the base the run trained on ({hint})": "训练时使用的基座（{hint}）",
    "the base model the checkpoint was trained on": "训练该检查点时使用的基座模型",
    "base model {base_path} {problem}: pick the base model's .pth file": "基座模型 {base_path} {problem}：请选择基座模型的 .pth 文件",
    "checkpoint {ckpt_path} {problem}": "检查点 {ckpt_path} {problem}",
    "{problem}: pick that base model, or pass --force to use the state anyway":
        "{problem}：请选择那个基座模型，或勾选 *状态文件属于其他基座时仍然使用*",

    # export/check.py and export/runtimes.py: the self-check lines under a merge
    "{self.path.name}: {self.runtime} gives logits within {self.max_diff} of {self.reference}; allowed: "
    "{self.tolerance}, {share} of the largest logit ({self.scale}), what {ALLOWANCE[self.dtype]} may cost":
        "{self.path.name}：{self.runtime} 给出的 logits 与{self.reference}相差不超过 {self.max_diff}；允许 "
        "{self.tolerance}，即最大 logit（{self.scale}）的 {share}，这是{ALLOWANCE[self.dtype]}可能带来的误差",
    "two programs' own fp32 arithmetic": "两个程序各自的 fp32 运算", "storing the weights in fp16": "以 fp16 保存权重",
    "storing the weights in bf16": "以 bf16 保存权重", "q8_0 quantization": "q8_0 量化",
    "base + adapter (unmerged, fp32)": "基座 + 适配器（未合并，fp32）", "base + adapter run by HF peft": "由 HF peft 运行的基座 + 适配器",
    "our reader": "本项目的读取器", "the rwkv package {version_name}": "rwkv 包 {version_name}",
    "{got}, so our own reader of the format read it back": "{got}，因此由本项目对该格式的读取器读回",
    "no program that runs .st files is installed here (Ai00 and RWKV-Runner load it)":
        "本机没有安装能运行 .st 文件的程序（Ai00 和 RWKV-Runner 可以加载它）",
    "web-rwkv-py 0.2.3 runs RWKV-4 to 6 only (it misreads an RWKV-7 file as RWKV-6)":
        "web-rwkv-py 0.2.3 只能运行 RWKV-4 到 6（会把 RWKV-7 文件误读为 RWKV-6）",
    "llama-cpp-python is not installed (pip install llama-cpp-python builds it, a few minutes)":
        "未安装 llama-cpp-python（pip install llama-cpp-python 会编译它，需要几分钟）",
    "rwkv7-hf is not installed (pip install rwkv7-hf)": "未安装 rwkv7-hf（pip install rwkv7-hf）",
    "This file does not compute what the trained model computes: do not use it; report this line with the merge "
    "command.": "这个文件算出的结果与训练得到的模型不一致：请不要使用它，并把这一行连同合并命令一起报告。",

    # ui/chat_tab.py and app.py
    "Press **Load** to chat with `{m}`.": "按 **加载** 后即可与 `{m}` 对话。",
    "`{model}`{mounted} loaded ({worker.version}, {worker.strategy}).":
        "`{model}`{mounted} 已加载（{worker.version}，{worker.strategy}）。",
    "with state `{state}`": "，挂载状态 `{state}`",
    "Nothing loaded.": "没有已加载的模型。",
    "Unloaded; its memory is free.": "已卸载，内存已释放。",
    "Pick a model to chat with (a merged .pth in merge/ or a base model in model/).":
        "请选择要对话的模型（merge/ 中合并后的 .pth，或 model/ 中的基座模型）。",
    "Load a model first.": "请先加载模型。",
    "⏳ Loading `{model}`…": "⏳ 正在加载 `{model}`…",
    "Trained with reasoning ({fit.think_replies} replies in think mode): ask in think mode full.":
        "训练数据带推理（{fit.think_replies} 条回复为思考模式）：请用完整思考模式提问。",
    # chat/session.py: how Chat fits the history to the model
    "No training note for this model: the whole conversation is sent.": "此模型没有训练说明：发送整段对话。",
    "Trained on one-question conversations: each question is sent on its own (the earlier ones stay on the "
    "page). Untick *Fit the history to the model* to send the whole conversation.":
        "训练数据是单轮对话：每个问题单独发送（之前的对话仍留在页面上）。取消勾选 *让历史适应模型* 可发送整段对话。",
    "Trained on conversations of up to {self.trained_turns} questions: a follow-up that names nothing of its own "
    "(\"How many rooms does it have?\") is sent with the {self.window} question(s) before it; a question that names "
    "its subject (\"Who founded Leyfen?\") is sent on its own. Untick *Fit the history to the model* to send the "
    "whole conversation.":
        "训练数据的对话最多 {self.trained_turns} 个问题：没有自己主语的追问（如“它有几间客房？”）会连同它之前的 "
        "{self.window} 个问题一起发送；点明了主语的问题（如“Leyfen 是谁建立的？”）单独发送。"
        "取消勾选 *让历史适应模型* 可发送整段对话。",
    "This is the untrained demo base model: random weights, so its answers are gibberish. Fine-tune it first (the "
    "Train tab, or python -m rwkv_simple_gui demo), then chat with the merged model in merge/.":
        "这是未经训练的演示基座模型：权重是随机的，回答会是乱码。请先微调（训练页，或 python -m rwkv_simple_gui demo），"
        "再与 merge/ 中合并后的模型对话。",

    # train/validate.py and train/prepare.py: the problems the check lists
    "{f.name}={bad[0]} is not allowed: use {or_list(choices)}": "{f.name}={bad[0]} 不允许：请使用 {or_list(choices)}",
    "{f.name}={value} is too small: the minimum is {meta['min']}": "{f.name}={value} 太小：最小值为 {meta['min']}",
    "{f.name}={value} is too large: the maximum is {meta['max']}": "{f.name}={value} 太大：最大值为 {meta['max']}",
    "hostfile and num_nodes > 1 are both set: with a hostfile start the run once, on the first machine listed "
    "(DeepSpeed starts the others); set num_nodes 1":
        "同时设置了 hostfile 和 num_nodes > 1：使用 hostfile 时只需在列出的第一台机器上启动一次（DeepSpeed 会启动其他机器）；"
        "请把 num_nodes 设为 1",
    "master_addr={cfg.master_addr} cannot be reached from the other machines of the hostfile: set it to the "
    "address of {hosts[0][0]}, the first machine listed":
        "hostfile 中的其他机器无法访问 master_addr={cfg.master_addr}：请设为列出的第一台机器 {hosts[0][0]} 的地址",
    "hostfile needs the deepspeed package (its launcher starts the machines): pip install deepspeed, or clear "
    "hostfile":
        "hostfile 需要 deepspeed 包（由它的启动器启动各台机器）：pip install deepspeed，或清空 hostfile",
    "hostfile needs pdsh, which DeepSpeed uses to start every machine over ssh: install it (apt install pdsh), or "
    "clear hostfile and start each machine with num_nodes/node_rank":
        "hostfile 需要 pdsh（DeepSpeed 用它通过 ssh 启动每台机器）：请安装（apt install pdsh），或清空 hostfile，"
        "用 num_nodes/node_rank 分别启动每台机器",
    "node_rank={cfg.node_rank} must be below num_nodes={cfg.num_nodes}: number the machines 0 .. "
    "{cfg.num_nodes - 1} (0 on the main machine)":
        "node_rank={cfg.node_rank} 必须小于 num_nodes={cfg.num_nodes}：机器编号为 0 .. {cfg.num_nodes - 1}"
        "（主机为 0）",
    "master_addr is empty: type the address of machine 0 (the same on every machine)":
        "master_addr 为空：请输入 0 号机器的地址（每台机器上都相同）",
    "{name}: {value} is a folder; pick the {what} file in it": "{name}：{value} 是文件夹；请选择其中的{what}",
    "{name}: {what} {value} not found": "{name}：找不到{what} {value}",
    "model_path is empty: choose the base model .pth (a file in model/)": "model_path 为空：请选择基座模型 .pth（model/ 中的文件）",
    "data_path is empty: choose a tokenized dataset (the binidx prefix, e.g. data/sample)":
        "data_path 为空：请选择已分词的数据集（binidx 前缀，例如 data/sample）",
    "data_path: {cfg.data_path}{missing[0]} not found; give the prefix of a .bin/.idx pair written by the "
    "tokenize step":
        "data_path：找不到 {cfg.data_path}{missing[0]}；请给出分词步骤写出的 .bin/.idx 文件的前缀",
    "train_type infctx needs dataload pad (now {cfg.dataload})": "train_type infctx 需要 dataload pad（现在是 {cfg.dataload}）",
    "train_type infctx does not work with {cfg.finetune_mode}: set train_type none":
        "train_type infctx 不能与 {cfg.finetune_mode} 一起使用：请把 train_type 设为 none",
    "chunk_ctx={cfg.chunk_ctx} is larger than ctx_len={cfg.ctx_len}: lower chunk_ctx or raise ctx_len":
        "chunk_ctx={cfg.chunk_ctx} 大于 ctx_len={cfg.ctx_len}：请调小 chunk_ctx 或调大 ctx_len",
    "chunk_ctx={cfg.chunk_ctx} must be a multiple of {TOKEN_ALIGN} (try {cfg.chunk_ctx // TOKEN_ALIGN * "
    "TOKEN_ALIGN or TOKEN_ALIGN})":
        "chunk_ctx={cfg.chunk_ctx} 必须是 {TOKEN_ALIGN} 的倍数（可试 {cfg.chunk_ctx // TOKEN_ALIGN * TOKEN_ALIGN or "
        "TOKEN_ALIGN}）",
    "ctx_len={cfg.ctx_len} must be a multiple of {TOKEN_ALIGN} for the WKV kernels (try {align_tokens(cfg.ctx_len)}, "
    "the max_length the tokenizer printed)":
        "ctx_len={cfg.ctx_len} 必须是 {TOKEN_ALIGN} 的倍数，WKV 算子才能运行（可试 {align_tokens(cfg.ctx_len)}，即分词"
        "输出的 max_length）",
    "loss_mask {cfg.loss_mask} needs whole documents: use dataload pad or only, or loss_mask none":
        "loss_mask {cfg.loss_mask} 需要完整的数据条：请使用 dataload pad 或 only，或把 loss_mask 设为 none",
    "loss_mask se needs both mask0 (stop learning) and mask1 (start learning) strings":
        "loss_mask se 需要同时设置 mask0（停止学习）和 mask1（开始学习）字符串",
    "{row.load_option} is set but {row.init_option} is empty: give the {row.init_file} of the run you continue":
        "设置了 {row.load_option}，但 {row.init_option} 为空：请给出要继续的训练的 {row.init_file}",
    "epoch_begin={cfg.epoch_begin} continues a run: set {row.load_option} to its last checkpoint (e.g. "
    "output/<run>/rwkv-{cfg.epoch_begin - 1}.pth)":
        "epoch_begin={cfg.epoch_begin} 表示继续一次训练：请把 {row.load_option} 设为它的最后一个检查点（例如 "
        "output/<run>/rwkv-{cfg.epoch_begin - 1}.pth）",
    "quant {cfg.quant} cannot be used with {cfg.finetune_mode} (it trains the base weights): set quant none":
        "quant {cfg.quant} 不能与 {cfg.finetune_mode} 一起使用（它会训练基座权重）：请把 quant 设为 none",
    "quant is not supported with several processes: set quant none, or train with devices 1 on one machine "
    "(num_nodes 1, no hostfile)":
        "多进程训练不支持 quant：请把 quant 设为 none，或在一台机器上用 devices 1 训练（num_nodes 1，不用 hostfile）",
    "quant {cfg.quant} needs the bitsandbytes package: pip install bitsandbytes, or set quant none":
        "quant {cfg.quant} 需要 bitsandbytes 包：pip install bitsandbytes，或把 quant 设为 none",
    "{cfg.deepspeed_strategy} needs the deepspeed package: pip install deepspeed, or set deepspeed_strategy none":
        "{cfg.deepspeed_strategy} 需要 deepspeed 包：pip install deepspeed，或把 deepspeed_strategy 设为 none",
    "{cfg.finetune_mode} changes its trained layers during the run, which DeepSpeed cannot follow: set "
    "deepspeed_strategy none":
        "{cfg.finetune_mode} 在训练中会更换所训练的层，DeepSpeed 无法跟随：请把 deepspeed_strategy 设为 none",
    "precision fp16 with DeepSpeed is not supported here: use bf16 (or deepspeed_strategy none)":
        "这里不支持 DeepSpeed 配合 precision fp16：请使用 bf16（或把 deepspeed_strategy 设为 none）",
    "precision fp16 is for GPUs; on CPU use bf16 or fp32": "precision fp16 只适用于 GPU；在 CPU 上请使用 bf16 或 fp32",
    "the dataset {info.prefix} holds no documents: tokenize it again": "数据集 {info.prefix} 中没有数据：请重新分词",
    "the dataset has {info.num_tokens} tokens, not more than ctx_len+1={cfg.ctx_len + 1}: lower ctx_len or use "
    "dataload pad":
        "数据集只有 {info.num_tokens} 个 token，不超过 ctx_len+1={cfg.ctx_len + 1}：请调小 ctx_len 或使用 dataload pad",
    "model_path: {err}": "model_path：{err}",
    "data_path: {err}": "data_path：{err}",
    "warmup_steps={cfg.warmup_steps} is not below the run's {steps['total_steps']} steps: the learning rate never "
    "reaches lr_init; lower warmup_steps (e.g. to {max(0, steps['total_steps'] // 10)})":
        "warmup_steps={cfg.warmup_steps} 不小于本次训练的总步数 {steps['total_steps']}：学习率永远达不到 lr_init；"
        "请调小 warmup_steps（例如调到 {max(0, steps['total_steps'] // 10)}）",

    # validation, samples and preference pairs (issues 10 and 14)
    "**Preference pairs** (prompt, chosen, rejected side by side below): tokenize them, then train with stage dpo or orpo.":
        "**偏好数据对**（下方并排显示 prompt、chosen、rejected）：先分词，再用 stage dpo 或 orpo 训练。",
    "val_loss {entry['val_loss']}": "验证损失 {entry['val_loss']}",
    "last loss": "最新损失", "best val_loss": "最佳验证损失",
    "best val_loss {best['val_loss']} at step {best['step']}": "最佳验证损失 {best['val_loss']}，在第 {best['step']} 步",
    '{name} {value} is not a preference dataset: stage {cfg.stage} trains on pairs; tokenize a file of {"prompt", "chosen", "rejected"} records':
        '{name} {value} 不是偏好数据集：stage {cfg.stage} 用数据对训练；请对 {"prompt", "chosen", "rejected"} 记录的文件分词',
    "{name} {value} holds preference pairs (tokenized from prompt/chosen/rejected records): set stage dpo or orpo, or tokenize a dataset of conversations":
        "{name} {value} 是偏好数据对（由 prompt/chosen/rejected 记录分词而来）：请设 stage dpo 或 orpo，或对对话数据集分词",
    "val_data and val_split are both set: hold out documents one way, clear one of them":
        "val_data 和 val_split 同时设置了：只能用一种方式留出验证数据，请清空其中一个",
    "val_split needs whole documents (dataload pad or only); with dataload get, tokenize held-out text and give it as val_data":
        "val_split 需要完整的数据条（dataload pad 或 only）；用 dataload get 时，请把留出的文本单独分词并填入 val_data",
    "val_split={cfg.val_split} leaves no document of the {info.n_docs} to train on: add data or set val_split 0":
        "val_split={cfg.val_split} 使 {info.n_docs} 条数据中没有一条留给训练：请增加数据或把 val_split 设为 0",
    "stage dpo compares the model with its base (the adapter switched off), but {cfg.finetune_mode} changes the base weights themselves, so the base would need a second copy of the model in memory: use {or_list((m.name for m in METHODS.values() if not m.trains_base))}, or stage orpo (it needs no reference)":
        "stage dpo 要把模型与其基座（关闭适配器）比较，但 {cfg.finetune_mode} 直接修改基座权重，基座需要在内存中再存一份模型：请使用 {or_list((m.name for m in METHODS.values() if not m.trains_base))}，或使用 stage orpo（它不需要参考模型）",
    "stage {cfg.stage} scores each reply in one pass: set train_type none":
        "stage {cfg.stage} 一次前向给每个回复打分：请设 train_type none",
    "stage {cfg.stage} needs whole pairs: use dataload pad or only":
        "stage {cfg.stage} 需要完整的数据对：请使用 dataload pad 或 only",
    "stage dpo switches the adapter off for its reference pass, which ZeRO-3's partitioned parameters do not allow: use deepspeed_stage_1 or 2":
        "stage dpo 在参考前向时会关闭适配器，ZeRO-3 的分片参数不允许这样做：请使用 deepspeed_stage_1 或 2",
    "val_data: {cfg.val_data}{missing[0]} not found; give the prefix of a .bin/.idx pair written by the tokenize step":
        "val_data：找不到 {cfg.val_data}{missing[0]}；请填写分词步骤写出的 .bin/.idx 文件的前缀",
    "val_data was tokenized with {tokenizer_spec(cfg.val_data)}, data_path with {info.tokenizer}: tokenize both with the same tokenizer":
        "val_data 用 {tokenizer_spec(cfg.val_data)} 分词，data_path 用 {info.tokenizer} 分词：请用同一个分词器分词两者",
    "resume_from: {err}": "resume_from：{err}",
    "No sample answers yet: they appear at each evaluation when the data has User: turns or sample_prompts names a file.":
        "还没有示例回答：数据含 User: 对话或 sample_prompts 指定了文件时，每次评估都会生成。",

    # the step budget, early stopping, "did it learn?" and the samples panel (issue 20)
    "Suggested for this dataset: ctx_len **{s['ctx_len']}**, micro_bsz **{s['micro_bsz']}**, epoch_steps "
    "**{s['epoch_steps']}**, epoch_count **{s['epoch_count']}**.":
        "建议此数据集使用：ctx_len **{s['ctx_len']}**，micro_bsz **{s['micro_bsz']}**，epoch_steps "
        "**{s['epoch_steps']}**，epoch_count **{s['epoch_count']}**。",
    "That is {s['steps']} optimizer steps (now {s['steps_before']}): applying them never lowers the steps.":
        "即 {s['steps']} 个优化步（现在是 {s['steps_before']}）：应用建议不会减少步数。",
    "about {duration(found['total_s'])} on this machine (training {duration(found['train_s'])}, evaluations "
    "{duration(found['evaluate_s'])}, recall check {duration(found['recall_s'])}; step time {found['how']})":
        "在本机上约需 {duration(found['total_s'])}（训练 {duration(found['train_s'])}，评估 "
        "{duration(found['evaluate_s'])}，记忆检查 {duration(found['recall_s'])}；每步耗时{found['how']}）",
    "time: {found['how']}": "耗时：{found['how']}",
    "measured earlier": "此前测得", "measured now": "刚刚测得",
    "not measured yet for this model, method and device: python -m rwkv_simple_gui train --dry-run with these "
    "options measures it":
        "此模型、方法和设备还没有测过速度：用这些参数运行 python -m rwkv_simple_gui train --dry-run 即可测出",
    "{b.steps} optimizer steps ({b.epochs} epochs), {b.samples} samples, {b.tokens} tokens seen: each training "
    "document about {b.passes} times":
        "{b.steps} 个优化步（{b.epochs} 轮），{b.samples} 个样本，见过 {b.tokens} 个 token：每条训练数据约 {b.passes} 次",
    "the data looks like facts: short answers (median {b.shape.answer_tokens} tokens), {b.shape.distinct} of them "
    "different":
        "数据看起来是事实问答：回答很短（中位数 {b.shape.answer_tokens} 个 token），其中 {b.shape.distinct} 各不相同",
    "too short to learn these answers: each document is seen {b.passes} times; on the demo base "
    "{cfg.finetune_mode} needed {rule.passes} passes (lr_init {rule.lr_init}) to give back 85% of the trained answers "
    "of {b.documents} facts about one subject: raise epoch_count to {need}":
        "训练太短，学不会这些回答：每条数据只见 {b.passes} 次；在演示基座上，{cfg.finetune_mode} 需要 {rule.passes} 遍"
        "（lr_init {rule.lr_init}）才能答回关于同一主题的 {b.documents} 条事实中 85% 的训练回答：请把 epoch_count 提高到 {need}",
    "{b.documents} facts: the rule was measured on up to {rule.measured[-1]} facts (40: 12 passes, 120: 30, 300: 42), "
    "so {rule.passes} passes is a guess: judge the run by its recall check and raise epoch_count if it learned little":
        "{b.documents} 条事实：该规则只在最多 {rule.measured[-1]} 条事实上测过（40 条：12 遍，120 条：30 遍，300 条：42 遍），"
        "所以 {rule.passes} 遍只是估计：请以训练结束时的记忆检查为准，学得少就提高 epoch_count",
    "validation loss will rise while the model learns these answers (a held-out fact cannot be learned from the "
    "others): judge the run by its recall check, not by val_loss":
        "模型学会这些回答时验证损失反而会上升（留出的事实无法从其余数据学到）：请以训练结束时的记忆检查来判断，而不是 val_loss",
    "early stopping would end this run too soon (its validation loss rises while recall rises): set "
    "early_stop_patience 0":
        "提前停止会让这次训练停得太早（记忆率上升时验证损失也在上升）：请把 early_stop_patience 设为 0",
    "early stopping (early_stop_patience, e.g. 2) would end the run when val_loss stops improving, keeping the best "
    "checkpoint":
        "提前停止（early_stop_patience，例如 2）会在 val_loss 不再改善时结束训练，并保留最好的检查点",
    "early stopping follows the validation loss of {held} held-out documents: fewer than {NOISY_BELOW}, it is "
    "noise; hold out more (val_split) or turn early stopping off":
        "提前停止依据的是 {held} 条留出数据的验证损失：少于 {NOISY_BELOW} 条时它只是噪声；请留出更多（val_split）或关闭提前停止",
    "epoch_count {epochs} fitted to {paths.display(info.prefix)}: {run.steps} optimizer steps, each training "
    "document about {run.passes} times ({why}, and at least {fit.get('min_steps', 0)} steps)":
        "epoch_count {epochs} 已按 {paths.display(info.prefix)} 调整：{run.steps} 个优化步，每条训练数据约 {run.passes} 次"
        "（{why}，且至少 {fit.get('min_steps', 0)} 步）",
    "the preset asks for {fit.get('passes', 1)} passes": "预设要求 {fit.get('passes', 1)} 遍",
    "{one.documents} facts need about {rule.passes} passes on the demo base, and the preset asks "
    "{fit['rule_margin']} times that":
        "在演示基座上 {one.documents} 条事实约需 {rule.passes} 遍，预设要求其 {fit['rule_margin']} 倍",
    "Preset {name}: {note}.": "预设 {name}：{note}。",
    "Preset {name}: pick the dataset first, then load it again to fit its epochs to the data.":
        "预设 {name}：请先选择数据集，再加载一次，让轮数按数据调整。",
    "give the preset a name": "请给预设起个名字",
    "{paths.display(path)}: expected a JSON object of option: value":
        "{paths.display(path)}：应为 参数: 值 形式的 JSON 对象",
    '{paths.display(path)}: "fit" must be like {"passes": 12, "min_steps": 100}':
        '{paths.display(path)}："fit" 应形如 {"passes": 12, "min_steps": 100}',
    "{paths.display(path)}: not valid JSON ({e})": "{paths.display(path)}：不是有效的 JSON（{e}）",
    "The run's recommended checkpoint: {why}.": "这次训练推荐的检查点：{why}。",
    "the best by validation loss ({kept['val_loss']} at step {kept['step']}), kept by early stopping; the last is "
    "{entries[-1]['file']}":
        "验证损失最好的那个（第 {kept['step']} 步，{kept['val_loss']}），由提前停止保留；最后一个是 {entries[-1]['file']}",
    "the last checkpoint of the run": "这次训练的最后一个检查点",
    "Did it learn? the questions of the data, asked at the end": "学会了吗？训练结束时用数据中的问题提问",
    "held out, never trained": "留出，从未训练", "trained": "训练过", "held out": "留出", "question": "问题",
    "trained answer": "训练答案", "reply": "回答",
    "{len(earlier)} earlier answers": "更早的 {len(earlier)} 个回答",
    "the base model": "基座模型",
    "{state} (early stop)": "{state}（提前停止）",
    "held out, never trained: {names}": "留出、从未训练的问题：{names}",
    "early stopping at step {stop['step']}: no val_loss improvement for {stop['patience']} evaluations; kept {kept} "
    "(the best val_loss, at step {best.get('step')})":
        "在第 {stop['step']} 步提前停止：连续 {stop['patience']} 次评估 val_loss 没有改善；保留了 {kept}"
        "（val_loss 最好，第 {best.get('step')} 步）",
    "★ (on {held} held-out documents: noise)": "★（只有 {held} 条留出数据：是噪声）",
    "Did it learn? {hits} of {asked} trained answers come back word for word ({share}), asked greedy as Chat asks.":
        "学会了吗？{asked} 个训练过的回答中有 {hits} 个被逐字答回（{share}），按对话页的方式贪心提问。",
    "No recall check: the data has no User/Assistant conversations to ask.":
        "没有记忆检查：数据中没有可提问的 User/Assistant 对话。",
    "State tuning learns a style or a role, not answers: judge it in Chat.":
        "状态微调学的是风格或角色，而不是回答：请在对话页中判断。",
    "It learned (almost) nothing. Likely fix: more steps (epoch_count {cfg.epoch_count} -> {cfg.epoch_count * 2}) or "
    "a higher learning rate (lr_init {cfg.lr_init} -> {cfg.lr_init * 2}); the Parameters check says how many "
    "passes this method needs.":
        "它（几乎）什么都没学会。可能的解决办法：更多步数（epoch_count {cfg.epoch_count} -> {cfg.epoch_count * 2}）"
        "或更高的学习率（lr_init {cfg.lr_init} -> {cfg.lr_init * 2}）；参数页的检查会说明此方法需要多少遍。",
    "It learned part of the data. Likely fix: more passes over it (epoch_count {cfg.epoch_count} -> "
    "{round(cfg.epoch_count * 1.5)}).":
        "它只学会了一部分数据。可能的解决办法：多训练几遍（epoch_count {cfg.epoch_count} -> {round(cfg.epoch_count * 1.5)}）。",
    "It learned the trained answers.": "它学会了训练过的回答。",
    "Held out, never trained: {summary['held_out_hits']} of {summary['held_out_asked']} come back (a held-out fact "
    "cannot be learned from the others).":
        "留出、从未训练：{summary['held_out_asked']} 个中有 {summary['held_out_hits']} 个被答回（留出的事实无法从其余数据学到）。",
    "sample_prompts {path}: holds no prompt; write one per line": "sample_prompts {path}：没有任何提示；请每行写一个",
    "sample_prompts {path}: not UTF-8 text; save it as UTF-8": "sample_prompts {path}：不是 UTF-8 文本；请另存为 UTF-8",
    "sample_prompts {path}: cannot be read ({e.strerror})": "sample_prompts {path}：无法读取（{e.strerror}）",
    'sample_prompts {path} line {n}: no "prompt" or "text" field with text; write e.g. {"prompt": "What is RWKV?"}':
        'sample_prompts {path} 第 {n} 行：没有带文字的 "prompt" 或 "text" 字段；请写成例如 {"prompt": "What is RWKV?"}',
    "sample_prompts {path} line {n}: not valid JSON ({e.msg}); write one JSON object per line with a \"prompt\" or "
    "\"text\" field, or one plain prompt per line in a .txt file":
        "sample_prompts {path} 第 {n} 行：不是有效的 JSON（{e.msg}）；请每行写一个带 \"prompt\" 或 \"text\" 字段的 JSON "
        "对象，或在 .txt 文件中每行写一个提示",
    "early_stop_patience needs held-out documents: set val_split (e.g. 0.1) or val_data":
        "early_stop_patience 需要留出的数据：请设置 val_split（例如 0.1）或 val_data",
    # issue 21: a seed user's training.sh / merge.sh, the seed's meaning of its names, the device (train/validate.py,
    # train/prepare.py, train/data.py, train/distributed.py, train/config.py, train/seed_script.py, shell.py)
    "Trains on {prepared.device.describe()}": "训练设备：{prepared.device.describe()}",
    "CPU ({os.cpu_count()} cores; torch sees no CUDA GPU)": "CPU（{os.cpu_count()} 核；torch 找不到 CUDA GPU）",
    "GPU {i}: {name}, {free} of {total} GB free": "GPU {i}：{name}，{total} GB 中 {free} GB 可用",
    "Epochs {steps['first_epoch']} to {steps['last_epoch']}: {steps['micro_steps_per_epoch']} micro-batches = "
    "{steps['steps_per_epoch']} optimizer steps per epoch, {steps['steps_this_run']} steps in this run":
        "第 {steps['first_epoch']} 到 {steps['last_epoch']} 轮：每轮 {steps['micro_steps_per_epoch']} 个 micro-batch = "
        "{steps['steps_per_epoch']} 个优化步，本次共 {steps['steps_this_run']} 步",
    "Epochs from {steps['first_epoch']} on, until you stop it: {steps['micro_steps_per_epoch']} micro-batches = "
    "{steps['steps_per_epoch']} optimizer steps per epoch; the learning rate reaches lr_final at step "
    "{steps['total_steps']}":
        "从第 {steps['first_epoch']} 轮起一直训练到你停止：每轮 {steps['micro_steps_per_epoch']} 个 micro-batch = "
        "{steps['steps_per_epoch']} 个优化步；学习率在第 {steps['total_steps']} 步降到 lr_final",
    "The estimate ({estimate.total / 2 ** 30} GB) is more than the {gpu.free_gb} GB free on {gpu.name}: lower "
    "micro_bsz or ctx_len, set grad_cp 1, or quant int8":
        "估计值（{estimate.total / 2 ** 30} GB）超过了 {gpu.name} 上可用的 {gpu.free_gb} GB：请调小 micro_bsz 或 "
        "ctx_len，设 grad_cp 1，或 quant int8",
    "quant {cfg.quant} needs a CUDA GPU (bitsandbytes); this machine trains on {facts.device}: set quant none, or fp8 "
    "(runs on CPU too)":
        "quant {cfg.quant} 需要 CUDA GPU（bitsandbytes）；本机在 {facts.device} 上训练：请把 quant 设为 none，或 fp8"
        "（CPU 上也能运行）",
    "op {cfg.op} needs a CUDA GPU; this machine trains on {facts.device}: use op auto":
        "op {cfg.op} 需要 CUDA GPU；本机在 {facts.device} 上训练：请使用 op auto",
    "{name}={r} is larger than n_embd={width}: use at most {limit}": "{name}={r} 大于 n_embd={width}：最多使用 {limit}",
    "op {cfg.op} needs flash-linear-attention ({err}): pip install flash-linear-attention, or use op auto":
        "op {cfg.op} 需要 flash-linear-attention（{err}）：pip install flash-linear-attention，或使用 op auto",
    "devices={cfg.devices} but this machine has {len(facts.gpus)} GPU(s): set devices (GPU_COUNT) to at most "
    "{len(facts.gpus)}":
        "devices={cfg.devices}，但本机只有 {len(facts.gpus)} 张 GPU：请把 devices（GPU_COUNT）设为不超过 {len(facts.gpus)}",
    "precision bf16 needs an RTX 30xx / A100 or newer GPU; {old[0]} has no bf16: use fp16 or fp32":
        "precision bf16 需要 RTX 30 系 / A100 或更新的 GPU；{old[0]} 不支持 bf16：请使用 fp16 或 fp32",
    "state tuning cannot learn on this base model: its blocks do nothing (every att.output weight is zero, as in a "
    "fresh init-model), so the state it tunes never reaches the output. Fine-tune a trained model, or use lora / "
    "bone, which train the blocks themselves":
        "state tuning 无法在这个基座模型上学习：它的各层什么也不做（所有 att.output 权重都是 0，和刚 init-model 出来的"
        "模型一样），所以调整的状态永远到不了输出。请微调训练过的模型，或使用 lora / bone（它们会训练各层本身）",
    "dataload get runs until you stop it, as in RWKV-PEFT (run_until_stopped 1): the learning rate reaches lr_final "
    "after {steps['total_steps']} steps and stays there":
        "与 RWKV-PEFT 相同，dataload get 会一直训练到你停止（run_until_stopped 1）：学习率在 {steps['total_steps']} "
        "步后降到 lr_final 并保持",
    "loss_mask none with dataload pad learns the tokens that follow each document in the file, which may be "
    "held-out documents: use loss_mask pad to keep validation clean":
        "loss_mask none 配合 dataload pad 会学习文件中每条数据之后的 token，它们可能属于留出的验证数据：请使用 "
        "loss_mask pad 保持验证数据干净",
    "epoch_steps {cfg.epoch_steps} x micro_bsz {cfg.micro_bsz} = {plan.samples} samples per epoch: documents "
    "{plan.samples}-{n_docs - 1} of the {n_docs} are never trained on (as in RWKV-PEFT, which reads documents 0 .. "
    "epoch_steps x micro_bsz - 1); set epoch_steps auto (or {every}) to read every document":
        "epoch_steps {cfg.epoch_steps} × micro_bsz {cfg.micro_bsz} = 每轮 {plan.samples} 个样本：{n_docs} 条数据中第 "
        "{plan.samples}-{n_docs - 1} 条永远不会被训练（与 RWKV-PEFT 相同，它只读第 0 到 epoch_steps × micro_bsz - 1 "
        "条）；把 epoch_steps 设为 auto（或 {every}）即可每条都读",
    "epoch_steps {cfg.epoch_steps} x micro_bsz {cfg.micro_bsz} = {plan.samples} samples per epoch, more than the "
    "{n_docs} documents: RWKV-PEFT would stop with an IndexError here; this run reads documents again from the start "
    "of the epoch's order. Set epoch_steps auto (or {every}) to read each document once":
        "epoch_steps {cfg.epoch_steps} × micro_bsz {cfg.micro_bsz} = 每轮 {plan.samples} 个样本，多于 {n_docs} 条数据："
        "RWKV-PEFT 在这里会因 IndexError 停止；本次训练会从该轮顺序的开头再读一遍。把 epoch_steps 设为 auto（或 "
        "{every}）即可每条只读一次",
    "{name} on one device partitions nothing, so it runs without DeepSpeed (the same maths); "
    "deepspeed_stage_{stage}_offload moves the optimizer state to CPU memory":
        "{name} 在单个设备上什么也不拆分，因此不使用 DeepSpeed 运行（计算相同）；deepspeed_stage_{stage}_offload "
        "会把优化器状态放到内存",
    "{source}: saved before {VERSION_KEY} {OPTIONS_VERSION} ({OPTIONS_HISTORY[2]}); migrated to train what it "
    "trained:":
        "{source}：保存于 {VERSION_KEY} {OPTIONS_VERSION} 之前（{OPTIONS_HISTORY[2]}）；已转换，继续训练它原来训练的内容：",
    "RWKV-PEFT's meaning of epoch_count (from epoch_begin), epoch_steps (micro-batches per epoch, auto), loss_mask "
    "none (no mask) and get (runs until stopped)":
        "RWKV-PEFT 含义的 epoch_count（从 epoch_begin 开始数）、epoch_steps（每轮 micro-batch 数，auto）、loss_mask "
        "none（不用掩码）和 get（训练到停止）",
    "epoch_count {total} -> {out['epoch_count']} (it counted the {begin} epochs before epoch_begin in; now it counts "
    "the epochs trained from epoch_begin)":
        "epoch_count {total} -> {out['epoch_count']}（原来把 epoch_begin 之前的 {begin} 轮也算在内；现在只数从 "
        "epoch_begin 开始训练的轮数）",
    "epoch_steps {per_process} per process -> {out['epoch_steps']} for all {world} process(es) together":
        "epoch_steps 每进程 {per_process} -> 全部 {world} 个进程合计 {out['epoch_steps']}",
    "run_until_stopped 0 (this get run stopped after its epochs)": "run_until_stopped 0（这个 get 训练原来在轮数结束后停止）",
    "epoch_steps {out['epoch_steps']} -> auto (it was not used for dataload {out.get('dataload', 'pad')}: an epoch "
    "read every document)":
        "epoch_steps {out['epoch_steps']} -> auto（原来在 dataload {out.get('dataload', 'pad')} 下不起作用：每轮读完全部数据）",
    "loss_mask none -> pad (none learned only the documents' own tokens then; today none means no mask at all)":
        "loss_mask none -> pad（当时的 none 只学习数据自身的 token；现在 none 表示完全不用掩码）",

    # ui/params_tab.py and ui/merge_tab.py: importing training.sh / merge.sh
    "Pick a training.sh file to load.": "请选择要导入的 training.sh 文件。",
    "Pick a merge.sh file to load.": "请选择要导入的 merge.sh 文件。",
    "{path.name} is larger than {MAX_SCRIPT // 1024} KB: that is not a training.sh.":
        "{path.name} 大于 {MAX_SCRIPT // 1024} KB：这不是 training.sh。",
    "The form now holds these options; the check above says what still needs fixing.":
        "表单已填入这些参数；上方的检查结果会列出还需要修正的地方。",
    "Imported {len(self.options)} options from {self.source}.": "已从 {self.source} 导入 {len(self.options)} 个参数。",
    "Imported {self.source}: base {self.base or '(not set)'}, checkpoint {self.checkpoint or '(not set)'}.":
        "已导入 {self.source}：基座 {self.base or '(not set)'}，检查点 {self.checkpoint or '(not set)'}。",
    "(not set)": "（未设置）",
    "changed: {line}": "已转换：{line}", "not honoured: {line}": "无法照办：{line}",
    "not understood: {line}": "未读取：{line}",
    "line {value.line}: {variable} is not an option of training.sh: ignored":
        "第 {value.line} 行：{variable} 不是 training.sh 的参数：已忽略",
    "{variable}={text} -> {option} {value} (the seed reads it from {folder})":
        "{variable}={text} -> {option} {value}（原脚本从 {folder} 读取）",
    "{err} ({variable}): the default is kept": "{err}（{variable}）：保留默认值",
    "line {line}: option {name}={value} should be a {kind}": "第 {line} 行：参数 {name}={value} 应为 {kind}",
    "line {line}: option {name}={value} should be auto or a whole number":
        "第 {line} 行：参数 {name}={value} 应为 auto 或整数",
    "ADAM_EPS={opts['adam_eps']} -> adam_eps 1e-08: the seed's lora command passes --adam_eps 1e-8 whatever ADAM_EPS "
    "says":
        "ADAM_EPS={opts['adam_eps']} -> adam_eps 1e-08：原脚本的 lora 命令无论 ADAM_EPS 是多少都传 --adam_eps 1e-8",
    "OP={value} -> op {value}: for RWKV-PEFT's {value} kernel this runs {OP_ALIASES[value]}":
        "OP={value} -> op {value}：对应 RWKV-PEFT 的 {value} 算子，这里运行{OP_ALIASES[value]}",
    "the fastest CUDA kernel here (fla when installed, else the chunked op on the GPU)":
        "这里最快的 CUDA 算子（装了 fla 时用 fla，否则在 GPU 上用分块算子）",
    "fla (flash-linear-attention's Triton kernels)": " fla（flash-linear-attention 的 Triton 算子）",
    "LR_SCHEDULE=wsd: here wsd stays at LR_INIT, then decays to LR_FINAL over the last 20% of the steps; "
    "RWKV-PEFT's wsd decays right after the warmup and to 0, ignoring LR_FINAL (the seed's comment calls it buggy)":
        "LR_SCHEDULE=wsd：这里的 wsd 先保持 LR_INIT，在最后 20% 的步数内降到 LR_FINAL；RWKV-PEFT 的 wsd 预热后立即下降"
        "且降到 0，忽略 LR_FINAL（原脚本的注释也说它有问题）",
    "WARMUP_STEPS={opts['warmup_steps']}: the rate rises from 0 to LR_INIT over {opts['warmup_steps']} optimizer steps "
    "(RWKV-PEFT's cos has no warmup; its wsd does)":
        "WARMUP_STEPS={opts['warmup_steps']}：学习率在 {opts['warmup_steps']} 个优化步内从 0 升到 LR_INIT"
        "（RWKV-PEFT 的 cos 没有预热，它的 wsd 才有）",
    "EPOCH_SAVE={every}: here the checkpoints are rwkv-{first}, rwkv-{first + every}, ... and the last epoch's; "
    "RWKV-PEFT writes the run's first epoch, then every {every}: rwkv-{begin}, rwkv-{begin + every}, ...":
        "EPOCH_SAVE={every}：这里保存的检查点是 rwkv-{first}、rwkv-{first + every}……以及最后一轮；"
        "RWKV-PEFT 保存本次训练的第一轮，之后每 {every} 轮一次：rwkv-{begin}、rwkv-{begin + every}……",
    "MODEL_VERSION={version.text}: only RWKV-7 (v7) and RWKV-6 (v6) models are trained here":
        "MODEL_VERSION={version.text}：这里只训练 RWKV-7（v7）和 RWKV-6（v6）模型",
    "{names} not compared with the model file ({why})": "{names} 未与模型文件核对（{why}）",
    "MODEL_PATH is not set": "没有设置 MODEL_PATH", "{paths.display(path)} not found": "找不到 {paths.display(path)}",
    "{name}={shown} but the model file has {actual[name]}: the file's value is used (RWKV-PEFT would stop with a size "
    "mismatch)":
        "{name}={shown}，但模型文件中是 {actual[name]}：使用文件中的值（RWKV-PEFT 会因 size mismatch 停止）",
    "line {note.line}: {note.text}: {note.why}": "第 {note.line} 行：{note.text}：{note.why}",
    "{why}, which is never run here: {name} was left out": "{why}，这里绝不执行：{name} 未读取",
    "backticks run a command": "反引号会执行命令", "$(...) runs a command": "$(...) 会执行命令",
    "$((...)) is shell arithmetic": "$((...)) 是 shell 算术", "this quoting": "这种引号写法",
    "{part.text} is not set earlier in the file (only the shell could fill it in): {name} was left out":
        "{part.text} 在文件中前面没有设置（只有 shell 才能填入）：{name} 未读取",
    "a redirection (reads or writes a file): not run, no file was created or read":
        "重定向（读或写文件）：未执行，没有创建或读取任何文件",
    "{words[0].literal()} of something other than NAME=value: left out": "{words[0].literal()} 的不是 NAME=value：未读取",
    "{words[0].literal()} {' '.join(flags)} is not a plain variable: left out":
        "{words[0].literal()} {' '.join(flags)} 不是普通变量：未读取",
    "{name} would read and run another file: not run, its variables were not read":
        "{name} 会读取并执行另一个文件：未执行，其中的变量未读取",
    "a command only the shell could name: not run": "只有 shell 才能确定的命令：未执行",
    "a function definition: not run, nothing it sets was read": "函数定义：未执行，其中设置的内容未读取",
    "a subshell: not run": "子 shell：未执行", "an array: left out": "数组：未读取",
    "a block opened on line {start} is not closed: the rest of the file was not read":
        "第 {start} 行开始的代码块没有结束：文件的其余部分未读取",
    "lines {spans}: the script's if/case blocks were not run (they check the values and build the command; the values "
    "are checked here before Start)":
        "第 {spans} 行：脚本的 if/case 代码块未执行（它们检查参数并拼出命令；这里在开始前检查参数）",
    "commands not run (the file is read as data): {listed}": "未执行的命令（文件只作为数据读取）：{listed}",
    "line {line}: FLA=1 (an older seed's switch) -> op fla": "第 {line} 行：FLA=1（旧版原脚本的开关）-> op fla",
    "line {line}: EMB_FINETUNE=1 (an older seed's switch) -> train_parts + emb":
        "第 {line} 行：EMB_FINETUNE=1（旧版原脚本的开关）-> train_parts + emb",
    "MODEL_PATH={model} -> base {result.base} (the seed reads it from model/)":
        "MODEL_PATH={model} -> 基座 {result.base}（原脚本从 model/ 读取）",
    "no epoch: give it after the file, as to merge.sh (merge --config merge.sh 2)":
        "没有轮数：请像 merge.sh 一样写在文件之后（merge --config merge.sh 2）",
    "the epoch {epoch} is not a number: give the N of output/rwkv-N.pth": "轮数 {epoch} 不是数字：请给出 output/rwkv-N.pth 的 N",
    "epoch {epoch} -> checkpoint {said}": "轮数 {epoch} -> 检查点 {said}",
    "{paths.display(found[0])}, the newest run with epoch {epoch}": "{paths.display(found[0])}，含第 {epoch} 轮的最新训练",
    "no {name} in output/ or its run folders": "output/ 及其中的训练目录里都没有 {name}",
    "QUANT={quant} but the run trained with quant {trained} (its config.json): merging with another quant than "
    "training folds into other base weights":
        "QUANT={quant}，但这次训练用的是 quant {trained}（见其 config.json）：用与训练不同的量化合并，会合并到不同的基座权重上",
    "TRAIN_TYPE={kind} is not a merge type: use lora, pissa or disha": "TRAIN_TYPE={kind} 不是合并类型：请使用 lora、pissa 或 disha",
    "LORA_ALPHA={alpha} is not a number: the run's lora_alpha is used": "LORA_ALPHA={alpha} 不是数字：使用训练记录的 lora_alpha",
    "the merged model is written to merge/ (this tool's folder for merged models), not merge_model/":
        "合并后的模型写到 merge/（本程序存放合并模型的目录），而不是 merge_model/",
    "{variable} is not a merge.sh option: ignored": "{variable} 不是 merge.sh 的参数：已忽略",
    # issue 22: opened files checked, damaged runs and resume points, foreign adapter folders, tokenize's seed
    "Refused: {path} is not a regular file (a pipe, socket or device); pick a file":
        "已拒绝：{path} 不是普通文件（是管道、套接字或设备）；请选择一个文件",
    "Refused: {asked} changed while it was being opened; try again": "已拒绝：{asked} 在打开时被改动了；请重试",
    "Refused: {folder}: {name} changed into a link or a file while the folder was being made ({why}); try again":
        "已拒绝：{folder}：创建目录时 {name} 被换成了链接或文件（{why}）；请重试",
    "{path}: not valid JSON ({e}): the file is damaged": "{path}：不是有效的 JSON（{e}）：文件已损坏",
    "{path}: holds a JSON {kind}, not an object: the file is damaged": "{path}：内容是 JSON {kind}，不是对象：文件已损坏",
    "{path}: {name} is {value}, not {kind}: the file is damaged": "{path}：{name} 的值是 {value}，不是 {kind}：文件已损坏",
    "{path}: state {state} is none of {states}: the file is damaged":
        "{path}：state {state} 不是 {states} 之一：文件已损坏",
    "{path}: best {best} lacks its step or val_loss: the file is damaged": "{path}：best {best} 缺少 step 或 val_loss：文件已损坏",
    "seed must be a whole number from 0 to {most}, got {seed}: it fixes the shuffled order of the copies (the same "
    "seed gives the same order); unlike training's seed, -1 (random) is not offered here, so the order can always be "
    "made again":
        "seed 必须是 0 到 {most} 之间的整数，现在是 {seed}：它决定各份副本打乱后的顺序（同一个 seed 得到同样的顺序）；"
        "与训练的 seed 不同，这里没有 -1（随机），以便总能再得到同样的顺序",
    "the run's config.json names finetune_mode {named}, which this tool does not know: merged as {name}, the method "
    "the checkpoint's tensors show; check that this is what the run trained":
        "训练目录的 config.json 写的 finetune_mode 是 {named}，本工具不认识：已按检查点张量所示的方法 {name} 合并；"
        "请确认这就是训练时用的方法",
    "{name} is {value} in the run's config.json, not a number: correct it there, or pass {flag} with the value used in "
    "training":
        "训练目录 config.json 中的 {name} 是 {value}，不是数字：请在那里改正，或用 {flag} 给出训练时的值",
    "{path}: {field} is {value}, but must be {expected}: the adapter folder is damaged or was edited; fix the value "
    "or export the adapter again":
        "{path}：{field} 是 {value}，但应为 {expected}：适配器目录已损坏或被改动；请改正该值或重新导出适配器",
    "{path} holds a JSON {kind}, not an object of settings: the adapter folder is damaged":
        "{path} 的内容是 JSON {kind}，不是设置对象：适配器目录已损坏",
    "{path}: the {field} key {key} {why}; write the module names it means instead":
        "{path}：{field} 的键 {key} {why}；请改写成它所指的模块名",
    "{path} gives {module} rank {r}, but its lora_A in {name} has rank {held}: the config does not belong to these "
    "weights":
        "{path} 给 {module} 的秩是 {r}，但 {name} 中它的 lora_A 秩为 {held}：该配置与这些权重不匹配",
    "{path}: holds a {kind}, not a {name: tensor} dict: the adapter folder is damaged":
        "{path}：内容是 {kind}，不是 {name: tensor} 字典：适配器目录已损坏",
    "{path}: entry {name} is a {kind}, not a named tensor: the adapter folder is damaged":
        "{path}：条目 {name} 是 {kind}，不是带名字的张量：适配器目录已损坏",
    "{where}: the {key} layout is damaged ({why}); tokenize the pairs again": "{where}：{key} 布局已损坏（{why}）；请重新对数据对分词",
    "{where}: the {key} layout lists {a} prompts and {b} chosen replies for {n} items; tokenize the pairs again":
        "{where}：{key} 布局列出了 {a} 个 prompt 和 {b} 个 chosen 回复，但数据有 {n} 条；请重新对数据对分词",
    "{where}: the {key} layout does not fit the items' lengths (a prompt and a chosen reply must leave room for the "
    "rejected one); tokenize the pairs again":
        "{where}：{key} 布局与各条数据的长度不符（prompt 加 chosen 回复之后必须还有 rejected 回复）；请重新对数据对分词",
    "{path}: cannot be read as JSON ({why}); tokenize the dataset again": "{path}：无法按 JSON 读取（{why}）；请重新分词",
    "{path}: holds a JSON {kind}, not an object; tokenize the dataset again": "{path}：内容是 JSON {kind}，不是对象；请重新分词",
    "resume_from {where} is damaged: {damage}. Resume the run folder instead (the Resume button, or train --resume "
    "RUN_DIR): it continues from the last checkpoint's weights":
        "resume_from {where} 已损坏：{damage}。请改为续训整个训练目录（“继续训练”按钮，或 train --resume 训练目录）："
        "它会从最后一个检查点的权重继续",
    "resume_from {where}: the point says {a} steps per epoch, the run has {b}: the point was edited or made from other "
    "data; resume from the run's checkpoint instead":
        "resume_from {where}：续训点记录每轮 {a} 步，本次训练是 {b} 步：续训点被改动过或来自其他数据；请改从检查点继续",
    "{path}: {name} is {value}, not {kind}: the resume point is damaged or was edited":
        "{path}：{name} 是 {value}，不是 {kind}：续训点已损坏或被改动",
    "{path}: after step {step} the run would continue at epoch {epoch}, step {s} of {spe}, which is not where step "
    "{same} ends: the resume point was edited; resume from the run's checkpoint instead":
        "{path}：第 {step} 步之后将从第 {epoch} 轮的第 {s} 步（共 {spe} 步）继续，这不是第 {same} 步结束的位置："
        "续训点被改动过；请改从检查点继续",
    "{path}: says step {step} in the folder of step {n}: the resume point was edited":
        "{path}：第 {n} 步的目录里写着第 {step} 步：续训点被改动过",
    "{path} is missing: the resume point is incomplete; resume the run folder (train --resume RUN_DIR) to continue "
    "from its last checkpoint's weights":
        "{path} 不存在：续训点不完整；请续训整个训练目录（train --resume 训练目录），从最后一个检查点的权重继续",
    "{path} is damaged ({why}): resume the run folder (train --resume RUN_DIR) to continue from its last "
    "checkpoint's weights":
        "{path} 已损坏（{why}）：请续训整个训练目录（train --resume 训练目录），从最后一个检查点的权重继续",
    "resume from {point} with changed options ({changes}): weights, optimizer and data position are restored, but "
    "the steps after it differ from the run's own":
        "从 {point} 续训，但参数有改动（{changes}）：权重、优化器和数据位置已恢复，但之后的各步与原训练不同",
    "the resume point {point} is damaged ({damage})": "续训点 {point} 已损坏（{damage}）",
    "{why}: continuing from the weights of {file} at epoch {epoch}, with a new optimizer":
        "{why}：从 {file} 的权重、第 {epoch} 轮开始继续，优化器重新开始",
    "is missing": "不存在", "is empty": "是空文件", "a number": "数字",

    # chat/prompt.py
    "temperature must be >= 0 (0 = greedy), not {self.temperature}":
        "temperature 必须 >= 0（0 = 贪心），而不是 {self.temperature}",
    "top_p must be between 0 and 1, not {self.top_p}": "top_p 必须在 0 到 1 之间，而不是 {self.top_p}",
    "top_k must be >= 0 and max_tokens >= 1": "top_k 必须 >= 0，max_tokens 必须 >= 1",
    "penalty_decay must be in (0, 1], not {self.penalty_decay}": "penalty_decay 必须在 (0, 1] 之内，而不是 {self.penalty_decay}",
    "unknown sampling setting(s) {sorted(unknown)}; known: {sorted(names)}":
        "未知的采样设置 {sorted(unknown)}；已知的有：{sorted(names)}",

    # chat/worker.py
    "the chat worker stopped (exit code {self._process.exitcode}) while serving {self.facts.path.name}; out of "
    "memory? Start it again":
        "对话进程在运行 {self.facts.path.name} 时停止了（退出码 {self._process.exitcode}）；内存不足？请重新启动它",
    "{path} is a Hugging Face peft adapter folder: merge it into its base model in the Merge tab, then chat with "
    "the merged .pth":
        "{path} 是 Hugging Face peft 适配器目录：请先在合并页把它合并进基底模型，再用合并后的 .pth 对话",
    "model file {path} {problem}": "模型文件 {path} {problem}",
    "{path}: the rwkv package loads .pth files only (an Ai00 .st is for Ai00/web-rwkv)":
        "{path}：rwkv 包只能加载 .pth 文件（Ai00 的 .st 是给 Ai00/web-rwkv 用的）",
    "state file {path} {problem}": "状态文件 {path} {problem}",
    "{path} holds no blocks.<i>.att.time_state: not a state-tuning file":
        "{path} 中没有 blocks.<i>.att.time_state：不是状态微调文件",
    "state file {path} has states for {len(layers)} layers, the model has {facts.n_layer}: pick the state trained "
    "on this base model":
        "状态文件 {path} 有 {len(layers)} 层的状态，模型有 {facts.n_layer} 层：请选择在这个基底模型上训练的状态",
    "strategy {strategy} is not valid: use one of {', '.join(offered)}": "策略 {strategy} 无效：请使用 {', '.join(offered)} 之一",
    "strategy {strategy} needs a CUDA GPU; this machine offers {', '.join(offered)}":
        "策略 {strategy} 需要 CUDA GPU；本机可用的有 {', '.join(offered)}",
    "state file {exc}": "状态文件 {exc}",
    "state file {path}: {key} is {list(ref.shape)}, this {facts.version} model needs {list(expect)}; pick the "
    "state trained on this base model":
        "状态文件 {path}：{key} 的形状是 {list(ref.shape)}，这个 {facts.version} 模型需要 {list(expect)}；请选择在这个基底模型上训练的状态",
    "{problem}: load that base model, or tick “use the state anyway”": "{problem}：请加载那个基底模型，或勾选“仍然使用该状态”",
    "the chat worker did not answer in {timeout} s": "对话进程在 {timeout} 秒内没有回应",

    # data/binidx.py
    "token id {bad}{where} does not fit the uint16 binidx (ids 0..65535); use a vocabulary of at most 65536 tokens":
        "token id {bad}{where} 超出 uint16 binidx 的范围（id 0..65535）；请使用最多 65536 个 token 的词表",
    "an item of {int(sizes.max())} tokens is too long for the binidx size field (int32)":
        "一条 {int(sizes.max())} 个 token 的数据对 binidx 的长度字段（int32）来说太长",
    "sizes add up to {int(sizes.sum())} tokens, {tokens.size} given":
        "长度合计 {int(sizes.sum())} 个 token，实际给出 {tokens.size} 个",
    "{ipath} is not an MMIDIDX index (bad header); tokenize the dataset again": "{ipath} 不是 MMIDIDX 索引（文件头错误）；请重新分词",
    "{ipath}: unsupported version {version} or dtype code {code}; tokenize the dataset again":
        "{ipath}：不支持的版本 {version} 或 dtype 代码 {code}；请重新分词",
    "{ipath} has {raw.size} bytes, its header says {expected}: the file is truncated; tokenize again":
        "{ipath} 有 {raw.size} 字节，文件头说应有 {expected}：文件被截断；请重新分词",
    "{bpath} has {nbytes} bytes but {ipath} describes {end}: the two files do not belong together; tokenize again":
        "{bpath} 有 {nbytes} 字节，但 {ipath} 描述的是 {end}：这两个文件不配套；请重新分词",
    "item {i} out of range for {n} items": "第 {i} 条超出范围（共 {n} 条）",
    "{p} not found; tokenize the dataset first (Tokenize tab or `python -m rwkv_simple_gui tokenize`)":
        "找不到 {p}；请先分词（分词页或 `python -m rwkv_simple_gui tokenize`）",

    # data/formats.py
    "fix or delete that record, or turn on skip-bad (--skip-bad) to skip such records and count them":
        "修正或删除这条数据，或打开 skip-bad（--skip-bad）跳过这类数据并计数",
    "a text record ({\"text\": ...})": "文本数据（{\"text\": ...}）",
    "an OpenAI messages record": "OpenAI messages 格式的数据",
    "a ShareGPT conversations record": "ShareGPT conversations 格式的数据",
    "an Alpaca instruction record": "Alpaca instruction 格式的数据",
    "a preference pair": "偏好数据对",
    "invalid JSON: {error}": "JSON 无效：{error}",
    "a field that holds a quote, a comma or a line break must be in quotes, its own quotes doubled (\"\")":
        "含有引号、逗号或换行的字段必须用引号括起来，字段内的引号要写两遍（\"\"）",
    "lines {first}-{last} were read as one row": "第 {first}-{last} 行被读成了一行数据",
    "this row": "这一行",
    "broken quoting ({error}): {span}; {fix}": "引号有误（{error}）：{span}；{fix}",
    "and {more} more": "还有 {more} 处",
    "{text[:max_chars]} … [preview cut here: the turn has {len(text)} characters]":
        "{text[:max_chars]} … [预览在此截断：这一轮共有 {len(text)} 个字符]",
    "of message {i}": "（第 {i} 条消息）",
    "of turn {i}": "（第 {i} 轮）",
    "the {what} starts with a UTF-8 byte order mark (BOM); save the file as UTF-8 without BOM":
        "{what}以 UTF-8 字节顺序标记（BOM）开头；请把文件存为不带 BOM 的 UTF-8",
    "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8":
        "文件是 UTF-16 编码（以 UTF-16 字节顺序标记开头）；请存为 UTF-8",
    "a quote opened in this row is never closed (the file ends inside it, line {last}); {fix}":
        "这一行中打开的引号没有闭合（文件在引号内结束，第 {last} 行）；{fix}",
    "unsupported file type \"{suffix or path.name}\"": "不支持的文件类型 \"{suffix or path.name}\"",
    "use .jsonl, .json, .csv or .parquet": "请使用 .jsonl、.json、.csv 或 .parquet",
    "no readable record in the file": "文件中没有可读的数据",
    "no known fields (found {keys})": "没有已知字段（找到的是 {keys}）",
    "records need \"text\", \"messages\" (role/content), \"conversations\" (from/value), "
    "\"instruction\"+\"output\" or \"prompt\"+\"chosen\"+\"rejected\" (preference pairs)":
        "数据需要 \"text\"、\"messages\"（role/content）、\"conversations\"（from/value）、\"instruction\"+\"output\" 或 "
        "\"prompt\"+\"chosen\"+\"rejected\"（偏好数据对）字段",
    "missing field \"{key}\"{where}": "缺少字段 \"{key}\"{where}",
    "field \"{key}\"{where} is {type(value).__name__}, not a string":
        "字段 \"{key}\"{where} 是 {type(value).__name__}，不是字符串",
    "field \"{key}\"{where} is empty": "字段 \"{key}\"{where} 为空",
    "missing field \"{key}\"": "缺少字段 \"{key}\"",
    "field \"{key}\" is {type(value).__name__}, not a list": "字段 \"{key}\" 是 {type(value).__name__}，不是列表",
    "field \"{key}\" is an empty list": "字段 \"{key}\" 是空列表",
    "field \"{key}\" is empty": "字段 \"{key}\" 为空",
    "the reply{where} has reasoning twice (a reasoning field and a <think> block in its content); keep one":
        "回复{where}中有两份思考内容（一个 reasoning 字段，内容里还有一个 <think> 块）；请只保留一份",
    "the <think> block{where} is never closed with </think>": "<think> 块{where}没有用 </think> 闭合",
    "field \"tool_calls\"{where} is {type(value).__name__}, not a list":
        "字段 \"tool_calls\"{where} 是 {type(value).__name__}，不是列表",
    "in tool call {j}{where}": "（第 {j} 个工具调用{where}）",
    "field \"{key}\" is not a list of tool descriptions (JSON objects)": "字段 \"{key}\" 不是工具描述（JSON 对象）的列表",
    "field \"history\" is {type(history).__name__}, not a list of [question, answer] pairs":
        "字段 \"history\" 是 {type(history).__name__}，不是 [问题, 回答] 对的列表",
    "field \"input\" is {type(extra).__name__}, not a string": "字段 \"input\" 是 {type(extra).__name__}，不是字符串",
    "the record is a JSON {type(obj).__name__}, not an object": "这条数据是 JSON {type(obj).__name__}，不是对象",
    "no \"Assistant:\" turn (the qa mask trains only on Assistant turns, so this record teaches nothing)":
        "没有 \"Assistant:\" 轮次（qa 掩码只训练 Assistant 轮次，这条数据什么也学不到）",
    "byte {e.start} of the line (byte {file_offset + e.start} of the file)":
        "该行第 {e.start} 字节（文件第 {file_offset + e.start} 字节）",
    "invalid UTF-8 at {at}: {raw[e.start:e.start + 4]}; re-save the file as UTF-8":
        "{at} 处的 UTF-8 无效：{raw[e.start:e.start + 4]}；请把文件重新存为 UTF-8",
    "this is a folder, not a file": "这是文件夹，不是文件",
    "pick a dataset file inside it, e.g. data/NAME.jsonl": "请选择其中的数据文件，例如 data/NAME.jsonl",
    "pick a file in data/ or type its full path": "请在 data/ 中选择文件，或输入其完整路径",
    "records look like {\"text\": \"User: ...\\n\\nAssistant: ...\"}":
        "数据格式如 {\"text\": \"User: ...\\n\\nAssistant: ...\"}",
    "field \"{key}\" is text but not valid JSON: {e}": "字段 \"{key}\" 是文本，但不是有效的 JSON：{e}",
    "field \"content\"{where} is empty": "字段 \"content\"{where} 为空",
    "tool call {j}{where} is not {\"type\": \"function\", \"function\": {\"name\", \"arguments\"}}":
        "工具调用 {j}{where} 不是 {\"type\": \"function\", \"function\": {\"name\", \"arguments\"}}",
    "message {i} is {type(msg).__name__}, not an object": "第 {i} 条消息是 {type(msg).__name__}，不是对象",
    "message {i} has role \"{role}\"; expected one of {', '.join(template.ROLES)}":
        "第 {i} 条消息的角色是 \"{role}\"；应为 {', '.join(template.ROLES)} 之一",
    "turn {i} is {type(msg).__name__}, not an object": "第 {i} 轮是 {type(msg).__name__}，不是对象",
    "turn {i} is from \"{speaker}\"; expected one of {', '.join(_SHAREGPT_ROLES)}":
        "第 {i} 轮来自 \"{speaker}\"；应为 {', '.join(_SHAREGPT_ROLES)} 之一",
    "item {i} of \"history\" is not a [question, answer] pair of non-empty strings":
        "\"history\" 的第 {i} 项不是由非空字符串组成的 [问题, 回答] 对",
    "character {e.start} is a lone UTF-16 surrogate ({record.text[e.start]}) that UTF-8 cannot encode":
        "第 {e.start} 个字符是单独的 UTF-16 代理字符（{record.text[e.start]}），UTF-8 无法编码",
    "the file starts with a UTF-8 byte order mark (BOM)": "文件以 UTF-8 字节顺序标记（BOM）开头",
    "save it as UTF-8 without BOM": "请存为不带 BOM 的 UTF-8",
    "a .json dataset must be an array of records, this is a JSON {type(data).__name__}":
        ".json 数据集必须是数据的数组，这个是 JSON {type(data).__name__}",
    "wrap the records in [...] or save them as jsonl": "请把数据放进 [...] 中，或存为 jsonl",
    "no usable record to export": "没有可导出的数据",
    "add records or fix the bad ones": "请添加数据或修正坏数据",
    "content{where} has a non-text part (only text can be trained on)": "content{where} 含有非文本部分（只有文本能用于训练）",
    "fix the JSON, or save it as jsonl (one object per line) to see every bad record":
        "请修正 JSON，或存为 jsonl（每行一个对象），以看到每一条坏数据",
    "invalid UTF-8 in column \"{key}\" at byte {offset} of the field; re-save the file as UTF-8":
        "列 \"{key}\" 中字段第 {offset} 字节处的 UTF-8 无效；请把文件重新存为 UTF-8",
    "… {len(rec.turns) - len(shown)} more turns not shown: the record has {len(rec.turns)} turns, {len(rec.text)} "
    "characters":
        "… 还有 {len(rec.turns) - len(shown)} 轮未显示：这条数据共 {len(rec.turns)} 轮、{len(rec.text)} 个字符",
    "not a readable parquet file ({e})": "不是可读的 parquet 文件（{e}）",
    "re-export it with pandas.DataFrame.to_parquet": "请用 pandas.DataFrame.to_parquet 重新导出",

    # data/pipeline.py
    "cannot write {target}: {error.strerror or error}; check the folder and free disk space":
        "无法写入 {target}：{error.strerror or error}；请检查目录并释放磁盘空间",
    "all {skipped} records are bad": "全部 {skipped} 条数据都是坏数据",
    "the file has no records": "文件中没有数据",
    "the disk holding {folder} is full ({free} MB free) while writing {target}: it needs room for the tokens twice "
    "(a working copy and the .bin). Free some space, or write the output to another disk (--out / Output prefix), "
    "and tokenize again; nothing was written":
        "{folder} 所在的磁盘在写入 {target} 时已满（剩余 {free} MB）：分词需要两倍于 token 的空间（一份工作副本和 .bin）。请释放空间，或把输出写到另一块磁盘（--out / "
        "输出前缀），然后重新分词；没有写入任何文件",
    "the folder {folder} is not writable ({error.strerror}) so {target} cannot be written; choose another output "
    "prefix or fix the folder's permissions":
        "目录 {folder} 不可写（{error.strerror}），无法写入 {target}；请换一个输出前缀或修正目录权限",
    "no data to tokenize: {why}": "没有可分词的数据：{why}",
    "add records such as {\"text\": \"User: ...\\n\\nAssistant: ...\"}":
        "请添加类似 {\"text\": \"User: ...\\n\\nAssistant: ...\"} 的数据",
    "every document is longer than max_tokens={max_tokens} (the shortest has {int(lengths.min())} tokens, EOF "
    "included)":
        "每条数据都长于 max_tokens={max_tokens}（最短的有 {int(lengths.min())} 个 token，含 EOF）",
    "raise max_tokens (--max-tokens), or set 0 for no limit": "请调大 max_tokens（--max-tokens），或设为 0 表示不限制",
    "copies must be at least 1, got {copies}": "copies 至少为 1，而不是 {copies}",
    "max_tokens must be 0 (no limit) or a positive number of tokens, got {max_tokens}":
        "max_tokens 必须为 0（不限制）或正整数个 token，而不是 {max_tokens}",

    # data/preference.py
    "of \"{key}\" message {i}": "（\"{key}\" 的第 {i} 条消息）",
    "field \"{key}\" is {type(value).__name__}, not a string or a message list":
        "字段 \"{key}\" 是 {type(value).__name__}，不是字符串或消息列表",
    "field \"{key}\" is empty (an empty reply)": "字段 \"{key}\" 为空（空回复）",
    "field \"{key}\" holds only the prompt turns, no reply": "字段 \"{key}\" 只有提示轮次，没有回复",
    "the last message of \"{key}\" is a {role.lower()} turn; it must be the assistant reply":
        "\"{key}\" 的最后一条消息是 {role.lower()} 轮次；它必须是 assistant 的回复",
    "the reply of \"{key}\" is empty": "\"{key}\" 的回复为空",
    "\"chosen\" and \"rejected\" answer different conversations (their earlier turns differ)":
        "\"chosen\" 和 \"rejected\" 回答的是不同的对话（它们之前的轮次不同）",
    "the prompt must end with a user (or system) turn that the replies answer": "提示必须以 user（或 system）轮次结尾，由回复来回答",
    "chosen and rejected are the same reply: the pair teaches nothing; make them differ or delete the record":
        "chosen 和 rejected 是同一个回复：这对数据什么也学不到；请让它们不同，或删除这条数据",
    "not a preference dataset (its records are {fmt.schema})": "不是偏好数据集（它的数据是 {fmt.schema}）",
    "preference records have \"prompt\", \"chosen\" and \"rejected\" fields":
        "偏好数据有 \"prompt\"、\"chosen\" 和 \"rejected\" 字段",
    "add records such as {\"prompt\": \"...\", \"chosen\": \"...\", \"rejected\": \"...\"}":
        "请添加类似 {\"prompt\": \"...\", \"chosen\": \"...\", \"rejected\": \"...\"} 的数据",
    "every pair is longer than max_tokens={max_tokens} (prompt + longer reply; the shortest has "
    "{int(longest.min())} tokens)":
        "每一对都长于 max_tokens={max_tokens}（提示 + 较长的回复；最短的有 {int(longest.min())} 个 token）",
    "message {i} of \"{key}\" is {type(msg).__name__}, not an object":
        "\"{key}\" 的第 {i} 条消息是 {type(msg).__name__}，不是对象",
    "message {i} of \"{key}\" has role \"{role}\"; expected one of {', '.join(formats._MESSAGE_ROLES)}":
        "\"{key}\" 的第 {i} 条消息的角色是 \"{role}\"；应为 {', '.join(formats._MESSAGE_ROLES)} 之一",
    "no prompt (field \"prompt\" is missing or empty): with string replies the prompt must be given":
        "没有提示（字段 \"prompt\" 缺失或为空）：回复是字符串时必须给出提示",
    "\"chosen\" and \"rejected\" must share every turn but their last (the assistant reply); give the conversation "
    "so far as \"prompt\" otherwise":
        "\"chosen\" 和 \"rejected\" 除最后一轮（assistant 的回复）外必须完全相同；否则请把之前的对话作为 \"prompt\" 给出",
    "a lone UTF-16 surrogate ({text[e.start]}) that UTF-8 cannot encode": "单独的 UTF-16 代理字符（{text[e.start]}），UTF-8 无法编码",

    # data/template.py
    "think mode {think} is not one of {', '.join(THINK_MODES)}": "思考模式 {think} 不是 {', '.join(THINK_MODES)} 之一",
    "think length {think_length} is not one of {', '.join((repr(w) for w in THINK_LENGTHS))}":
        "思考长度 {think_length} 不是 {', '.join((repr(w) for w in THINK_LENGTHS))} 之一",
    "unknown chat role {message.get('role')}; use system, user, assistant or tool":
        "未知的对话角色 {message.get('role')}；请使用 system、user、assistant 或 tool",
    "unknown role {self.role}; use one of {', '.join(_HEADER_OF)}": "未知的角色 {self.role}；请使用 {', '.join(_HEADER_OF)} 之一",

    # data/token_view.py
    "{v.learned} of {len(v.tokens)} tokens learned under loss_mask {v.loss_mask}, {len(v.tokens) - v.learned} not "
    "learned":
        "在 loss_mask {v.loss_mask} 下，{len(v.tokens)} 个 token 中 {v.learned} 个参与学习，{len(v.tokens) - v.learned} 个不学习",
    "no record on this {fmt.unit}": "这{fmt.unit}没有数据",
    "pick the number of a record, as the preview shows it": "请填写预览中显示的数据行号",
    "loss_mask {loss_mask} is not one of {', '.join(masks.KINDS)}":
        "loss_mask {loss_mask} 不是 {', '.join(masks.KINDS)} 之一",
    "fix that record first": "请先修正这条数据",

    # data/tokenizer.py
    "{WORLD_NAME}.txt has a token of {lengths.max()} bytes; reinstall the rwkv package":
        "{WORLD_NAME}.txt 中有一个 {lengths.max()} 字节的 token；请重新安装 rwkv 包",
    "{WORLD_NAME}.txt not found; install the rwkv package (pip install rwkv)":
        "找不到 {WORLD_NAME}.txt；请安装 rwkv 包（pip install rwkv）",
    "{WORLD_NAME}.txt line {i} holds id {line[:first]}; reinstall the rwkv package":
        "{WORLD_NAME}.txt 第 {i} 行的 id 是 {line[:first]}；请重新安装 rwkv 包",
    "unknown World tokenizer backend \"{backend}\"; use auto, c, rust or python":
        "未知的 World 分词器后端 \"{backend}\"；请使用 auto、c、rust 或 python",
    "the C World encoder is unavailable: {e}; use backend rust":
        "C 版 World 分词器不可用：{e}；请使用 rust 后端",
    "no C compiler (cc, gcc or clang) to build it":
        "没有可用来编译它的 C 编译器（cc、gcc 或 clang）",
    "{' '.join(cmd)} failed: {detail.strip()[:300]}":
        "{' '.join(cmd)} 失败：{detail.strip()[:300]}",
    "cannot build it in {folder.parent}: {e}":
        "无法在 {folder.parent} 中编译它：{e}",
    "the vocabulary lacks a single-byte token; greedy matching needs all 256":
        "词表缺少单字节 token；贪心匹配需要全部 256 个",
    "{folder / ARRAYS} does not hold a whole trie":
        "{folder / ARRAYS} 中的字典树不完整",
    "tokenizer file {self.path} {problem}; give the path of a tokenizer.json":
        "分词器文件 {self.path} {problem}；请给出 tokenizer.json 的路径",
    "no Rust World tokenizer installed; pip install rwkv-tokenizer==0.5.2":
        "没有安装 Rust 版 World 分词器；pip install rwkv-tokenizer==0.5.2",
    "the tokenizers package is missing; pip install tokenizers": "缺少 tokenizers 包；pip install tokenizers",
    "{self.path} is not a tokenizers JSON file: {e}": "{self.path} 不是 tokenizers 的 JSON 文件：{e}",
    "no World tokenizer: pip install rwkv-tokenizer==0.5.2 (fast) or rwkv":
        "没有 World 分词器：pip install rwkv-tokenizer==0.5.2（快）或 rwkv",

    # export/__init__.py
    "{f.name} is written for {', '.join(f.versions)} only, so it was left out":
        "{f.name} 只适用于 {', '.join(f.versions)}，因此没有导出",
    "format must be one of {', '.join(CHOICES)}, not {unknown[0] if unknown else fmt}":
        "格式必须是 {', '.join(CHOICES)} 之一，而不是 {unknown[0] if unknown else fmt}",
    "a state file is written as pth or st; {bad.name} holds whole models only": "状态文件只能导出为 pth 或 st；{bad.name} 只存放完整模型",

    # export/check.py
    "no output": "没有输出",
    "its runtime failed on this file (exit {done.returncode}: {tail})": "它的运行时读取这个文件失败（退出码 {done.returncode}：{tail}）",
    "our reader of {targets[0][1].name} ({reference_name})": "本程序对 {targets[0][1].name} 的读取器（{reference_name}）",
    "peft is not installed": "没有安装 peft",

    # export/fingerprint.py
    "state file {Path(state_path).name} was tuned on {belongs}, not on {Path(model_path).name}":
        "状态文件 {Path(state_path).name} 是在 {belongs} 上微调的，而不是 {Path(model_path).name}",
    "(same shape, other weights)": "（形状相同，权重不同）",
    "{self.version}, {self.n_layer} layers, n_embd {self.n_embd}, head size {self.head_size}, vocab "
    "{self.vocab_size}":
        "{self.version}，{self.n_layer} 层，n_embd {self.n_embd}，head size {self.head_size}，词表 {self.vocab_size}",

    # export/gguf.py
    "the model's vocabulary has {vocab_size} rows, but the World vocabulary that GGUF carries has {count + 1} ids: "
    "GGUF export is for World-vocabulary models":
        "模型的词表有 {vocab_size} 行，但 GGUF 携带的 World 词表有 {count + 1} 个 id：GGUF 导出只适用于 World 词表的模型",
    "GGUF type must be one of {', '.join(TYPES)}, not {type_name}": "GGUF 类型必须是 {', '.join(TYPES)} 之一，而不是 {type_name}",
    "GGUF export needs the gguf package (llama.cpp's writer): pip install gguf":
        "GGUF 导出需要 gguf 包（llama.cpp 的写入器）：pip install gguf",
    "llama.cpp has no place for a merged time_state: export the model without --merge-state and use the state file "
    "with a runtime that mounts states":
        "llama.cpp 无处存放合并进去的 time_state：请不带 --merge-state 导出模型，并在支持挂载状态的运行时中使用状态文件",
    "{name} has no place in llama.cpp's {info.version} layout": "{name} 在 llama.cpp 的 {info.version} 布局中没有位置",

    # export/hf.py
    "the Hugging Face format is written for RWKV-7 only: this is an {info.version} model, and no Hugging Face "
    "loader of RWKV-6 runs without a GPU to check it (transformers has RWKV-4 only, flash-linear-attention's "
    "RWKV-6 needs triton); export pth, st or gguf instead":
        "Hugging Face 格式只为 RWKV-7 导出：这是 {info.version} 模型，而 RWKV-6 的 Hugging Face 加载器都需要 GPU 才能校验（transformers 只有 "
        "RWKV-4，flash-linear-attention 的 RWKV-6 需要 triton）；请改为导出 pth、st 或 gguf",
    "{name} has no place in the Hugging Face RWKV-7 layout": "{name} 在 Hugging Face RWKV-7 布局中没有位置",
    "a time_state has no place in the Hugging Face layout: mount the state file instead":
        "time_state 在 Hugging Face 布局中没有位置：请改为挂载状态文件",

    # export/layout.py
    "{out.name} needs {missing[0]}, which the model does not have": "{out.name} 需要 {missing[0]}，但模型中没有",

    # merge/hf_adapter.py
    "DoRA (use_dora)": "DoRA（use_dora）",
    "a bias adapter (lora_bias)": "偏置适配器（lora_bias）",
    "trained biases (bias={cfg.get('bias')})": "训练过的偏置（bias={cfg.get('bias')}）",
    "init_lora_weights={cfg.get('init_lora_weights')}, which rewrites the base weights at start":
        "init_lora_weights={cfg.get('init_lora_weights')}，它在开始时会改写基底权重",
    "MiSS init_weights='bat', whose blocks are indexed by the output, not by the input like our bat":
        "MiSS init_weights='bat'，它的块按输出编号，而不像本程序的 bat 按输入编号",
    "layer replication": "层复制",
    "{self.path} has {CONFIG} but no {WEIGHTS[0]}: the adapter folder is incomplete":
        "{self.path} 有 {CONFIG} 但没有 {WEIGHTS[0]}：适配器目录不完整",
    "{self.path / CONFIG} names peft_type {kind}: this tool folds {' and '.join(folded)} adapters; merge this run "
    "with RWKV-PEFT itself (--merge 1 writes the merged model)":
        "{self.path / CONFIG} 写的 peft_type 是 {kind}：本工具只合并 {' and '.join(folded)} 适配器；请用 RWKV-PEFT "
        "本身合并这次训练（--merge 1 会写出合并后的模型）",
    "{self.path.name}: the MiSS mini block {key} has no base weight to take its width from":
        "{self.path.name}：MiSS 小块 {key} 没有可用来确定宽度的基底权重",
    "{path} cannot be read ({err}): the adapter folder is damaged": "{path} 无法读取（{err}）：适配器目录已损坏",
    "{self.path.name} is a {kind} adapter with {what}: not folded here; merge it with RWKV-PEFT itself (--merge 1 "
    "writes the merged model)":
        "{self.path.name} 是带有{what}的 {kind} 适配器：这里不合并它；请用 RWKV-PEFT 本身合并（--merge 1 会写出合并后的模型）",
    "{self.weights.name} holds {name}, an adapter tensor this tool does not fold":
        "{self.weights.name} 中有 {name}，这是本工具不合并的适配器张量",
    "{weights}: damaged or truncated safetensors file ({err})": "{weights}：safetensors 文件已损坏或被截断（{err}）",

    # merge/merger.py
    "the run's config.json names {named} as its base, but this merge used {paths.display(base_path)}: they have "
    "the same shape, so nothing failed, but a checkpoint only fits the weights it was trained on; merge into the "
    "run's base unless you know they are the same model":
        "训练的 config.json 指明基底是 {named}，但这次合并用的是 "
        "{paths.display(base_path)}：两者形状相同，所以没有报错，但检查点只适用于训练时的权重；除非确定两者是同一个模型，请合并进训练用的基底",
    "could not write all of {', '.join((t.name for t in targets))} in {folder}: the disk is full or a file-size "
    "limit was hit (the export needs about {needed / 2 ** 20} MB, {free / 2 ** 20} MB are free). Free some space "
    "or pick an output folder on another disk; nothing was written":
        "无法在 {folder} 中写完 {', '.join((t.name for t in targets))}：磁盘已满或达到文件大小上限（导出约需 {needed / 2 ** 20} MB，剩余 {free "
        "/ 2 ** 20} MB）。请释放空间或选择另一块磁盘上的输出目录；没有写入任何文件",
    "is on a read-only file system": "位于只读文件系统上",
    "is not writable for this user": "当前用户不可写",
    "cannot write {targets[0].name}: the folder {folder} {why}. Pick an output folder you can write to (e.g. "
    "merge/ in the project)":
        "无法写入 {targets[0].name}：目录 {folder} {why}。请选择可写的输出目录（例如项目中的 merge/）",
    "cannot write {targets[0].name}: {blocker} is a file, not a folder. Pick another output path":
        "无法写入 {targets[0].name}：{blocker} 是文件，不是目录。请换一个输出路径",
    "writing {targets[0].name} in {folder} failed: {exc.strerror or exc}; nothing was written":
        "在 {folder} 中写入 {targets[0].name} 失败：{exc.strerror or exc}；没有写入任何文件",
    "quant must be one of {', '.join(QUANTS)}, not {quant}": "quant 必须是 {', '.join(QUANTS)} 之一，而不是 {quant}",
    "quant={quant} needs a CUDA GPU (bitsandbytes quantizes on the GPU); merge on the training machine":
        "quant={quant} 需要 CUDA GPU（bitsandbytes 在 GPU 上量化）；请在训练用的机器上合并",
    "{checkpoint.parent} is a {row.name} run but has no {row.init_file}: pass the run's init file with "
    "--{row.init_option.replace('_', '-')} (it is written when the run starts)":
        "{checkpoint.parent} 是 {row.name} 训练，但没有 {row.init_file}：请用 --{row.init_option.replace('_', '-')} "
        "给出这次训练的初始化文件（训练开始时写出）",
    "{row.name} init file {path} does not exist: pick the {row.init_file} of the run":
        "{row.name} 初始化文件 {path} 不存在：请选择这次训练的 {row.init_file}",
    "{', '.join(missing)} of this {row.name} checkpoint is unknown (no config.json next to it): pass {flags} with "
    "the value used in training":
        "这个 {row.name} 检查点的 {', '.join(missing)} 未知（旁边没有 config.json）：请用 {flags} 给出训练时的值",
    "base model {base_path} {problem}: pick the base model's .pth or .safetensors file":
        "基底模型 {base_path} {problem}：请选择基底模型的 .pth 或 .safetensors 文件",
    "dtype must be one of {', '.join(DTYPES)}, not {dtype}": "dtype 必须是 {', '.join(DTYPES)} 之一，而不是 {dtype}",
    "GGUF type must be one of {', '.join(GGUF_TYPES)}, not {gguf_type}":
        "GGUF 类型必须是 {', '.join(GGUF_TYPES)} 之一，而不是 {gguf_type}",
    "merging a state into the model works for RWKV-6 state tuning only: the rwkv package ignores time_state keys "
    "in an RWKV-7 model; mount the state file instead":
        "把状态合并进模型只适用于 RWKV-6 的状态微调：rwkv 包会忽略 RWKV-7 模型中的 time_state；请改为挂载状态文件",
    "quant={quant} needs bitsandbytes (pip install bitsandbytes) and a CUDA GPU, because the run trained on a "
    "quantized base; merge on the training machine":
        "quant={quant} 需要 bitsandbytes（pip install bitsandbytes）和 CUDA GPU，因为这次训练用的是量化的基底；请在训练用的机器上合并",
    "{len(plan.plain)} other trained keys are not part of a state file and were left out":
        "另有 {len(plan.plain)} 个训练过的键不属于状态文件，没有导出",
    "{err}; pick a base model .pth": "{err}；请选择基底模型 .pth",
    "{self.init.path} has no {key}: it is not the init file of this run; pick the {self.plan.method.init_file} "
    "written next to {self.ckpt.path.name}":
        "{self.init.path} 中没有 {key}：它不是这次训练的初始化文件；请选择 {self.ckpt.path.name} 旁边的 {self.plan.method.init_file}",

    # merge/patterns.py
    "uses the anchor {kind}, which is not supported here": "使用了锚点 {kind}，这里不支持",
    "uses a {str(op).lower().replace('_', ' ')}: back-references, look-around, atomic and possessive groups need "
    "backtracking, which is not supported here":
        "使用了{str(op).lower().replace('_', ' ')}：反向引用、环视、原子组和占有量词需要回溯，这里不支持",
    "is too large to match (over {MAX_STATES} states once its repeats are unrolled)":
        "太大，无法匹配（展开重复后超过 {MAX_STATES} 个状态）",
    "uses inline flags like (?i), which are not supported here": "使用了 (?i) 这样的内联标志，这里不支持",
    "uses inline flags like (?i:...), which are not supported here": "使用了 (?i:...) 这样的内联标志，这里不支持",
    "is not a valid regular expression ({err})": "不是有效的正则表达式（{err}）",
    "uses {op} in a character class, which is not supported here": "在字符类中使用了 {op}，这里不支持",

    # merge/plan.py
    "the run's config.json says finetune_mode {named.name}, but the checkpoint holds {detected.name} tensors: pick "
    "a checkpoint of this run":
        "训练的 config.json 写的 finetune_mode 是 {named.name}，但检查点中是 {detected.name} 张量：请选择这次训练的检查点",
    "{path} is a folder without adapter_config.json: pick a checkpoint file (rwkv-<epoch>.pth) or an HF peft "
    "adapter folder":
        "{path} 是没有 adapter_config.json 的目录：请选择检查点文件（rwkv-<epoch>.pth）或 HF peft 适配器目录",
    "{paths.display(path)} holds no checkpoint (rwkv-<epoch>.pth): pick a run folder that trained, or a checkpoint "
    "file":
        "{paths.display(path)} 中没有检查点（rwkv-<epoch>.pth）：请选择训练过的训练目录，或一个检查点文件",
    "{key} belongs in the PiSSA init file (init_pissa.pth), not in a checkpoint: pick a rwkv-<epoch>.pth as the "
    "checkpoint":
        "{key} 属于 PiSSA 初始化文件（init_pissa.pth），不属于检查点：请选择 rwkv-<epoch>.pth 作为检查点",
    ": they must be all alike ({shapes})": "：它们必须全部相同（{shapes}）",

    # model/checkpoint.py
    "found {len(keys)} keys such as {sample}": "找到 {len(keys)} 个键，例如 {sample}",
    "the file holds no tensors": "文件中没有张量",
    "keys look like a Hugging Face transformers checkpoint: {sample}...":
        "这些键像是 Hugging Face transformers 的检查点：{sample}...",
    "it is a training checkpoint (adapter weights such as {sample}...): merge it into its base model first, or "
    "load the base model":
        "这是训练检查点（适配器权重，例如 {sample}...）：请先把它合并进基底模型，或加载基底模型",
    "it is a state file ({len(keys)} time_state tensors): pick the base model it was trained on and mount this "
    "file as its state":
        "这是状态文件（{len(keys)} 个 time_state 张量）：请选择训练它所用的基底模型，并把这个文件作为状态挂载",
    "state dict": "状态字典",
    "{path}: holds a {type(obj).__name__}, not a dict of tensors": "{path}：其中是 {type(obj).__name__}，不是张量字典",
    "{source}: missing key {key}; the file looks incomplete or is another RWKV variant":
        "{source}：缺少键 {key}；文件似乎不完整，或是另一种 RWKV 变体",
    "{source}: {key} has shape {list(shape)}, expected {ndim} dimensions":
        "{source}：{key} 的形状是 {list(shape)}，应为 {ndim} 维",
    "{source}: not an RWKV model: no emb.weight; {_looks_like(keys)}":
        "{source}：不是 RWKV 模型：没有 emb.weight；{_looks_like(keys)}",
    "{source}: has emb.weight but no blocks.N.* keys; {_looks_like(keys)}":
        "{source}：有 emb.weight 但没有 blocks.N.* 键；{_looks_like(keys)}",
    "{source}: {n_head} heads of {head_size} do not make n_embd {n_embd}":
        "{source}：{n_head} 个大小为 {head_size} 的头凑不成 n_embd {n_embd}",
    "unknown dtype {dtype}; use one of {', '.join(DTYPES)}": "未知的 dtype {dtype}；请使用 {', '.join(DTYPES)} 之一",
    "{path}: not a PyTorch checkpoint ({type(e).__name__}: {e})": "{path}：不是 PyTorch 检查点（{type(e).__name__}：{e}）",
    "{path}: not a readable safetensors file ({e})": "{path}：不是可读的 safetensors 文件（{e}）",
    "missing {len(missing)} keys ({', '.join(missing[:5])}{'...' if len(missing) > 5 else ''})":
        "缺少 {len(missing)} 个键（{', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}）",
    "unexpected {len(unexpected)} keys ({', '.join(unexpected[:5])}{'...' if len(unexpected) > 5 else ''})":
        "多出 {len(unexpected)} 个键（{', '.join(unexpected[:5])}{'...' if len(unexpected) > 5 else ''}）",
    "{source}: {k} has shape {list(sd[k].shape)}, expected {list(ref.shape)} for {info.describe()}":
        "{source}：{k} 的形状是 {list(sd[k].shape)}，{info.describe()} 应为 {list(ref.shape)}",
    "cannot save {k}: a {type(t).__name__}, not a tensor": "无法保存 {k}：它是 {type(t).__name__}，不是张量",
    "{source}: an RWKV-4/5 model (time_decay without time_maa_x or r_k); only RWKV-7 (x070) and RWKV-6 (x060) are "
    "supported":
        "{source}：这是 RWKV-4/5 模型（有 time_decay，没有 time_maa_x 或 r_k）；只支持 RWKV-7（x070）和 RWKV-6（x060）",
    "{source}: has emb.weight but neither blocks.0.att.r_k (RWKV-7) nor blocks.0.att.time_maa_x (RWKV-6); "
    "{_looks_like(keys)}":
        "{source}：有 emb.weight，但既没有 blocks.0.att.r_k（RWKV-7）也没有 blocks.0.att.time_maa_x（RWKV-6）；{_looks_like(keys)}",

    # model/init.py
    "perturb must be >= 0, not {perturb}": "perturb 必须 >= 0，而不是 {perturb}",

    # model/lazy.py
    "{path}: not an RWKV model: not a PyTorch checkpoint (it starts with {head}, neither a zip archive nor a "
    "pickle); pick the model's .pth file":
        "{path}：不是 RWKV 模型：不是 PyTorch 检查点（它以 {head} 开头，既不是 zip 压缩包也不是 pickle）；请选择模型的 .pth 文件",
    "{path}: refused: it holds Python objects besides tensors{what}, which could run code, so they are not loaded "
    "for safety. An RWKV model or checkpoint is a flat {name: tensor} dict: re-save only the tensors where the "
    "file was made, or use a file from a source you trust.":
        "{path}：已拒绝：其中除了张量还有 Python 对象{what}，它们可能执行代码，为安全起见不加载。RWKV 模型或检查点是扁平的 {name: tensor} "
        "字典：请在生成该文件的地方只重新保存张量，或使用来源可信的文件。",
    "{path}: the file is damaged or truncated ({size} bytes; it starts like a PyTorch .pth archive but its end is "
    "missing or broken, as after an interrupted copy or download): copy it again, or pick another file":
        "{path}：文件已损坏或被截断（{size} 字节；开头像 PyTorch .pth 压缩包，但结尾缺失或损坏，像是复制或下载中断了）：请重新复制，或选择另一个文件",
    "{path}: the file is damaged or truncated ({size} bytes; {detail or 'the pickle ends early'}): copy it again, "
    "or pick another file":
        "{path}：文件已损坏或被截断（{size} 字节；{detail or 'the pickle ends early'}）：请重新复制，或选择另一个文件",
    "{module}.{name} is not allowed in a weights file": "权重文件中不允许有 {module}.{name}",
    "{path}: no such file": "{path}：没有这个文件",
    "unknown persistent id {kind}": "未知的 persistent id {kind}",
    "{self.path}: no such file": "{self.path}：没有这个文件",
    "{self.path}: holds a {type(obj).__name__}, not a {name: tensor} dict":
        "{self.path}：其中是 {type(obj).__name__}，不是 {name: tensor} 字典",
    "{self.path}: key {name} holds a {type(value).__name__}, not a tensor":
        "{self.path}：键 {name} 中是 {type(value).__name__}，不是张量",
    "{self.path}: the file is damaged: tensor {key} (record data/{ref.storage.key}) cannot be read "
    "({str(exc).split('.')[0]}). Copy or download it again, or pick another file":
        "{self.path}：文件已损坏：张量 {key}（记录 data/{ref.storage.key}）无法读取（{str(exc).split('.')[0]}）。请重新复制或下载，或选择另一个文件",
    "{self.path}: tensor {name} is of type {part.get_dtype()}, not one a model holds":
        "{self.path}：张量 {name} 的类型是 {part.get_dtype()}，模型中不会有这种类型",
    "{self.path}: not a readable safetensors file ({exc}): copy it again, or pick another file":
        "{self.path}：不是可读的 safetensors 文件（{exc}）：请重新复制，或选择另一个文件",

    # model/ops.py
    "chunk_len {chunk_len} must be a multiple of sub_len {sub_len}": "chunk_len {chunk_len} 必须是 sub_len {sub_len} 的倍数",
    "unknown wkv op {op}; choose one of {', '.join(OPS)}": "未知的 wkv 算子 {op}；请选择 {', '.join(OPS)} 之一",
    "wkv op {op} (RWKV-PEFT's name for {OP_ALIASES[op]}) needs a CUDA device, but the model is on {device}; use "
    "op='auto' or 'chunked' on CPU":
        "wkv 算子 {op}（RWKV-PEFT 对 {OP_ALIASES[op]} 的叫法）需要 CUDA 设备，但模型在 {device} 上；在 CPU 上请用 op='auto' 或 'chunked'",
    "wkv op 'fla' needs a CUDA device, but the model is on {device}; use op='chunked' (or 'auto') on CPU":
        "wkv 算子 'fla' 需要 CUDA 设备，但模型在 {device} 上；在 CPU 上请用 op='chunked'（或 'auto'）",
    "wkv op 'fla' is unavailable ({err}); install it with 'pip install flash-linear-attention' or use op='chunked'":
        "wkv 算子 'fla' 不可用（{err}）；请用 'pip install flash-linear-attention' 安装，或使用 op='chunked'",

    # model/rwkv.py
    "RWKV {self.version}: {self.n_layer} layers, n_embd {self.n_embd}, {self.n_head} heads of {self.head_size}, "
    "vocab {self.vocab_size}, ffn {self.dim_ffn}, LoRA widths ({lora}), {self.n_params / 1000000.0}M params, "
    "{self.dtype}":
        "RWKV {self.version}：{self.n_layer} 层，n_embd {self.n_embd}，{self.n_head} 个大小为 {self.head_size} 的头，词表 "
        "{self.vocab_size}，ffn {self.dim_ffn}，LoRA 宽度（{lora}），{self.n_params / 1000000.0}M 参数，{self.dtype}",
    "version must be one of {', '.join(VERSIONS)}, not {version}": "version 必须是 {', '.join(VERSIONS)} 之一，而不是 {version}",
    "n_embd ({n_embd}) must be a positive multiple of head_size ({head_size}), and n_layer ({n_layer}) positive":
        "n_embd（{n_embd}）必须是 head_size（{head_size}）的正整数倍，n_layer（{n_layer}）必须为正",
    "unknown wkv op {op}; choose one of {', '.join(ops.OPS)}": "未知的 wkv 算子 {op}；请选择 {', '.join(ops.OPS)} 之一",
    "state has {len(state)} layers, the model {len(self.blocks)}": "状态有 {len(state)} 层，模型有 {len(self.blocks)} 层",

    # model/writers.py
    "writer expected {expect_name} {shape} {dtype}, got {name} {tuple(tensor.shape)} {tensor.dtype}":
        "写入器应收到 {expect_name} {shape} {dtype}，实际收到 {name} {tuple(tensor.shape)} {tensor.dtype}",
    "writer finished after {self._next} of {len(self._specs)} tensors":
        "写入器在 {len(self._specs)} 个张量中写完 {self._next} 个后就结束了",
    "cannot save {name}: dtype {dtype} is not supported": "无法保存 {name}：不支持 dtype {dtype}",

    # peft/__init__.py
    "module {__name__} has no attribute {name}": "模块 {__name__} 没有属性 {name}",

    # peft/apply.py
    "{path}: key {key} does not exist in this model; the checkpoint was trained with another method or base model":
        "{path}：这个模型中没有键 {key}；该检查点是用另一种方法或另一个基底模型训练的",
    "{path}: {key} has shape {tuple(value.shape)} but the model expects {tuple(own[key].shape)}; check the base "
    "model and the rank (lora_r/pissa_r/disha_r)":
        "{path}：{key} 的形状是 {tuple(value.shape)}，但模型需要 {tuple(own[key].shape)}；请检查基底模型和秩（lora_r/pissa_r/disha_r）",
    "{row.name} checkpoint {checkpoint_path} needs its {row.init_file}: not found next to it, and the options name "
    "none":
        "{row.name} 检查点 {checkpoint_path} 需要它的 {row.init_file}：旁边找不到，参数中也没有指定",

    # peft/base.py
    "no RWKV att/ffn linear layers found to adapt (is this an RWKV model?)": "没有找到可适配的 RWKV att/ffn 线性层（这是 RWKV 模型吗？）",
    "RWKV projections have no bias; got a Linear with one": "RWKV 的投影层没有偏置；却收到了一个带偏置的 Linear",

    # peft/bat.py
    "is {list(d)}; bat needs [{in_f}//r, r, r] with r dividing {out_f} and {in_f} for a {list(weight_shape)} weight":
        "是 {list(d)}；bat 需要 [{in_f}//r, r, r]，r 要整除 {out_f} 和 {in_f}，对应 {list(weight_shape)} 的权重",
    "disha_r={r} must divide both dimensions {self.out_features}x{self.in_features} for bat":
        "disha_r={r} 必须同时整除 bat 的两个维度 {self.out_features}x{self.in_features}",

    # peft/bone.py
    "is {list(d)} but bone needs [r, {out_f}] for a {list(weight_shape)} weight":
        "是 {list(d)}，但 bone 需要 [r, {out_f}]，对应 {list(weight_shape)} 的权重",

    # peft/lora.py
    "has A {list(a_shape)}, B {list(b_shape)} but the base weight is {list(weight_shape)} (A must be [r, {in_f}], "
    "B [{out_f}, r])":
        "A 是 {list(a_shape)}、B 是 {list(b_shape)}，但基底权重是 {list(weight_shape)}（A 必须是 [r, {in_f}]，B 必须是 [{out_f}, r]）",

    # peft/methods.py
    "lisa_r={_get(cfg, 'lisa_r')} is more than the model's {info.n_layer} layers: use at most {info.n_layer}":
        "lisa_r={_get(cfg, 'lisa_r')} 超过了模型的 {info.n_layer} 层：最多用 {info.n_layer}",
    "disha_r={r} must divide {what}={width} for bat (try {or_list(divisors_near(info.n_embd, r))})":
        "disha_r={r} 必须整除 bat 的 {what}={width}（可试 {or_list(divisors_near(info.n_embd, r))}）",
    "{self.name} has no layer module: it trains the base weights themselves": "{self.name} 没有层模块：它直接训练基底权重本身",
    "finetune_mode={name} is not a method: use {or_list(METHOD_NAMES)}":
        "finetune_mode={name} 不是一种方法：请用 {or_list(METHOD_NAMES)}",

    # peft/pissa.py
    "{path}: not an init_pissa.pth (expected *.init_lora_A/B pairs{incomplete})":
        "{path}：不是 init_pissa.pth（应有成对的 *.init_lora_A/B{incomplete}）",
    "; incomplete for {bad[0]}": "；{bad[0]} 不完整",
    "{init_path}: no init_lora_A/B for {missing[0]}; it belongs to another model or run":
        "{init_path}：没有 {missing[0]} 的 init_lora_A/B；它属于另一个模型或另一次训练",
    "init_lora_{half} is {init} but lora_{half} is {trained}: the init file is of another PiSSA rank; pick the "
    "{INIT_FILE} of the same run":
        "init_lora_{half} 是 {init}，但 lora_{half} 是 {trained}：初始化文件属于另一个 PiSSA 秩；请选择同一次训练的 {INIT_FILE}",
    "init_pissa shapes {tuple(a.shape)}/{tuple(b.shape)} do not match pissa_r={r} and the layer "
    "{self.out_features}x{self.in_features}":
        "init_pissa 的形状 {tuple(a.shape)}/{tuple(b.shape)} 与 pissa_r={r} 和层 {self.out_features}x{self.in_features} "
        "不符",

    # peft/quant.py
    "quant={kind}: use none, {', '.join(KINDS)}": "quant={kind}：请使用 none、{', '.join(KINDS)}",
    "quant {kind} needs a CUDA GPU (bitsandbytes); set quant none (or fp8) to train on this machine":
        "quant {kind} 需要 CUDA GPU（bitsandbytes）；要在本机训练请设 quant none（或 fp8）",
    "quant {kind} needs the bitsandbytes package: pip install bitsandbytes":
        "quant {kind} 需要 bitsandbytes 包：pip install bitsandbytes",
    "move the model to CUDA before quantizing it": "量化前请先把模型移到 CUDA 上",

    # peft/state.py
    "cannot tell the head size: the attention module has neither r_k (v7) nor time_faaaa (v6)":
        "无法确定 head size：注意力模块既没有 r_k（v7）也没有 time_faaaa（v6）",
    "no blocks.N.att modules found for state tuning": "没有找到可做状态微调的 blocks.N.att 模块",

    # runner.py
    "The GPU ran out of memory. Lower micro_bsz or ctx_len (raise mini_bsz to keep the batch), turn on grad_cp, or "
    "quantize the base model (quant int8).":
        "GPU 显存不足。请调小 micro_bsz 或 ctx_len（调大 mini_bsz 以保持批大小），打开 grad_cp，或量化基底模型（quant int8）。",
    "The dataset is too short for this ctx_len: lower ctx_len or add data.": "数据集对这个 ctx_len 来说太短：请调小 ctx_len 或增加数据。",
    "The checkpoint was made for another base model: pick the base model it was trained on.":
        "这个检查点是为另一个基底模型训练的：请选择训练它所用的基底模型。",
    "This option needs an NVIDIA GPU with CUDA (fla kernels, quantization): choose op auto/chunked and quant none "
    "on this machine.":
        "这个选项需要带 CUDA 的 NVIDIA GPU（fla 内核、量化）：在本机上请选择 op auto/chunked 和 quant none。",
    "The disk is full: free space in output/ and try again.": "磁盘已满：请释放 output/ 所在磁盘的空间后重试。",
    "{paths.display(run_dir)} is in use by another trainer (pid {holder}): one trainer per run folder. Stop it "
    "first, or wait until it ends.":
        "{paths.display(run_dir)} 正被另一个训练进程使用（pid {holder}）：一个训练目录只能有一个训练进程。请先停止它，或等它结束。",
    "{paths.display(run_dir)} can't be resumed:": "{paths.display(run_dir)} 无法续训：",
    "A training job is already running ({paths.display(running.run_dir)}, pid {running.pid}). Stop it first, or "
    "wait until it ends.":
        "已有训练任务在运行（{paths.display(running.run_dir)}，pid {running.pid}）。请先停止它，或等它结束。",

    # train/config.py
    "{source}: option {name}={value} should be a {kind}": "{source}：参数 {name}={value} 应为{kind}",
    "(one of {', '.join(map(str, f.metadata['choices']))})": "（{', '.join(map(str, f.metadata['choices']))} 之一）",
    "{source}: option {name}={value} should be auto or a whole number": "{source}：参数 {name}={value} 应为 auto 或整数",
    "{source}: {VERSION_KEY} {version} is newer than this version of rwkv-simple-gui understands "
    "({OPTIONS_VERSION}); update it":
        "{source}：{VERSION_KEY} {version} 比这个版本的 rwkv-simple-gui 能理解的（{OPTIONS_VERSION}）更新；请升级",
    "{source}: unknown option(s) {', '.join(unknown)}; valid options are: {', '.join(sorted(names))}":
        "{source}：未知的参数 {', '.join(unknown)}；有效的参数有：{', '.join(sorted(names))}",
    "{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}":
        "{path}：第 {e.lineno} 行第 {e.colno} 列不是有效的 JSON：{e.msg}",

    # train/data.py
    "dataset {prefix}{ext} not found: data_path must be a binidx prefix (the path without .bin/.idx) written by "
    "the tokenize step":
        "找不到数据集 {prefix}{ext}：data_path 必须是分词步骤写出的 binidx 前缀（不带 .bin/.idx 的路径）",
    "the dataset has {len(self.tokens)} tokens, fewer than ctx_len+1={ctx_len + 1}: lower ctx_len or use dataload "
    "pad":
        "数据集有 {len(self.tokens)} 个 token，少于 ctx_len+1={ctx_len + 1}：请调小 ctx_len 或使用 dataload pad",
    "{meta}: not a valid JSON object; re-run the tokenize step": "{meta}：不是有效的 JSON 对象；请重新分词",

    # train/device.py
    ", {self.free_gb} of {self.total_gb} GB free": "，{self.total_gb} GB 中空闲 {self.free_gb} GB",
    "CUDA device {i}": "CUDA 设备 {i}",

    # train/distributed.py
    "plain AdamW in one process": "单进程的普通 AdamW",
    "plain AdamW": "普通 AdamW",
    ", gradients all-reduced over {world} processes": "，梯度在 {world} 个进程间全归约",
    "in one process": "单进程",
    "{label} on {world} processes": "{label}，{world} 个进程",
    "(the optimizer state in CPU memory)": "（优化器状态在 CPU 内存中）",
    "{label} in one process (the optimizer state in CPU memory)": "单进程的 {label}（优化器状态在 CPU 内存中）",
    "hostfile {path} lists no machine: write one 'hostname slots=N' line per machine":
        "hostfile {path} 中没有列出机器：每台机器写一行 'hostname slots=N'",
    "hostfile {path} cannot be read ({getattr(e, 'strerror', None) or e}): give the path of a text file with one "
    "'hostname slots=N' line per machine":
        "hostfile {path} 无法读取（{getattr(e, 'strerror', None) or e}）：请给出每台机器一行 'hostname slots=N' 的文本文件路径",
    "hostfile {path} line {n}: {text} should be 'hostname slots=N' with N >= 1, the number of GPUs on that machine "
    "(e.g. 'worker-1 slots=4')":
        "hostfile {path} 第 {n} 行：{text} 应为 'hostname slots=N'，N >= 1，即那台机器的 GPU 数（例如 'worker-1 slots=4'）",
    "hostfile {path} line {n}: {m[1]} is already listed; give each machine one line":
        "hostfile {path} 第 {n} 行：{m[1]} 已经列出过；每台机器只写一行",

    # train/loop.py
    "{type(exc).__name__}: {text.splitlines()[0] if text else ''} (see train.log for details)":
        "{type(exc).__name__}：{text.splitlines()[0] if text else ''}（详见 train.log）",
    "Invalid settings:": "无效的设置：",
    "Out of GPU memory: lower micro_bsz or ctx_len, set grad_cp 1, use infctx with a smaller chunk_ctx, or quant "
    "int8.":
        "GPU 显存不足：请调小 micro_bsz 或 ctx_len，设 grad_cp 1，使用 infctx 并调小 chunk_ctx，或 quant int8。",
    "Out of memory (RAM): lower micro_bsz or ctx_len, or use a smaller model.":
        "内存（RAM）不足：请调小 micro_bsz 或 ctx_len，或使用更小的模型。",
    "The checkpoint does not fit the base model ({text.splitlines()[0]}): use the base model it was trained on.":
        "检查点与基底模型不符（{text.splitlines()[0]}）：请使用训练它所用的基底模型。",
    "This needs a CUDA GPU, but none is usable here: {text.splitlines()[0]}":
        "这需要 CUDA GPU，但这里没有可用的：{text.splitlines()[0]}",
    "the weights of step {self.step}": "第 {self.step} 步的权重",
    "evaluation at step {self.step}:": "第 {self.step} 步的评估：",
    "{len(samples)} sample answers in {time.time() - t1}s": "{len(samples)} 条样例回答，用时 {time.time() - t1}s",
    "the base model (no checkpoint)": "基底模型（没有检查点）",
    "the loss became {loss} at step {self.step}: lower lr_init, or use bf16/fp32 instead of fp16":
        "第 {self.step} 步的 loss 变成了 {loss}：请调小 lr_init，或用 bf16/fp32 代替 fp16",
    "{paths.display(point)}: DeepSpeed found no checkpoint to load in it":
        "{paths.display(point)}：DeepSpeed 在其中找不到可加载的检查点",
    "{paths.display(point)} lacks trained parameters of this run ({missing[0]}, ...)":
        "{paths.display(point)} 缺少这次训练的已训练参数（{missing[0]}, ...）",

    # train/preference.py
    "the dataset is not a preference dataset (its meta.json has no pair layout): tokenize a file of "
    "prompt/chosen/rejected records":
        "数据集不是偏好数据集（它的 meta.json 没有数据对布局）：请对 prompt/chosen/rejected 格式的文件分词",

    # train/resume.py
    "{name}: was {saved[name]}, now {options[name]}": "{name}：原为 {saved[name]}，现为 {options[name]}",
    "epoch {p['next_epoch']}, step {p['next_step'] + 1} of {p['steps_per_epoch']} in it":
        "第 {p['next_epoch']} 轮，其中第 {p['next_step'] + 1} 步（共 {p['steps_per_epoch']} 步）",
    "{paths.display(point)}: after step {p['step']} ({nxt})": "{paths.display(point)}：第 {p['step']} 步之后（{nxt}）",
    "no exact resume point": "没有精确的续训点",
    "{why_not}: continuing from the weights of {last['file']} at epoch {options['epoch_begin']}, with a new "
    "optimizer{said}":
        "{why_not}：从 {last['file']} 的权重、第 {options['epoch_begin']} 轮开始继续，优化器重新开始{said}",
    "deepspeed/ is missing or empty": "deepspeed/ 不存在或为空",
    "is truncated or damaged ({size} bytes, its end unreadable)": "被截断或已损坏（{size} 字节，结尾无法读取）",
    "resume_from {where}: these options differ from the run being resumed, which an exact resume cannot follow: "
    "{'; '.join(changed)}. Set them back, or start a new run":
        "resume_from {where}：这些参数与被续训的训练不同，精确续训无法沿用：{'; '.join(changed)}。请改回去，或开始新的训练",
    "resume_from {where}: the run trained on {point.get('world')} processes, this one would use {world}: use the "
    "same devices and machines":
        "resume_from {where}：原训练用了 {point.get('world')} 个进程，这次会用 {world} 个：请使用相同的设备和机器",
    "resume_from works on one machine: set num_nodes 1 and clear hostfile":
        "resume_from 只适用于单机：请设 num_nodes 1 并清空 hostfile",
    "resume_from {where}: the dataset {paths.display(cfg.data_path)} changed since the run started "
    "({saved_data.get('n_docs')} documents / {saved_data.get('num_tokens')} tokens then, {data_info.n_docs} / "
    "{data_info.num_tokens} now): resume with the data it trained on":
        "resume_from {where}：数据集 {paths.display(cfg.data_path)} 在训练开始后改变了（当时 {saved_data.get('n_docs')} 条数据 / "
        "{saved_data.get('num_tokens')} 个 token，现在 {data_info.n_docs} / {data_info.num_tokens}）：请用训练时的数据续训",
    "resume_from {where}: the run is complete at step {point['step']} (epochs {cfg.epoch_begin}-{cfg.epoch_begin + "
    "cfg.epoch_count - 1}); raise epoch_count to train further":
        "resume_from {where}：训练已在第 {point['step']} 步完成（第 {cfg.epoch_begin}-{cfg.epoch_begin + cfg.epoch_count - 1} "
        "轮）；要继续训练请调大 epoch_count",
    "{paths.display(run_dir)} has no config.json; it can't be resumed": "{paths.display(run_dir)} 中没有 config.json；无法续训",
    "exact resume from {describe_point(point)}{said}": "从 {describe_point(point)} 精确续训{said}",
    "{paths.display(run_dir)} has no checkpoint yet ({why_not}); start it again instead":
        "{paths.display(run_dir)} 还没有检查点（{why_not}）；请重新开始",
    "{paths.display(run_dir)}: {why_not}, and its status.json does not say which epoch {last['file']} belongs to; "
    "start the run again":
        "{paths.display(run_dir)}：{why_not}，而且它的 status.json 没有说明 {last['file']} 属于哪一轮；请重新开始训练",
    "{paths.display(run_dir)} is complete: its last epoch {end - 1} is saved; start a new run (with its checkpoint "
    "to load) to train further":
        "{paths.display(run_dir)} 已完成：最后一轮 {end - 1} 已保存；要继续训练请开始新的训练（加载它的检查点）",
    "{paths.display(given)} has no resume point yet (they are written with each checkpoint)":
        "{paths.display(given)} 还没有续训点（续训点随每个检查点写出）",
    "{name}: was {saved[name]}, now {getattr(cfg, name)}": "{name}：原为 {saved[name]}，现为 {getattr(cfg, name)}",
    "resume from {describe_point(point)} with changed options ({'; '.join(changes)}): weights, optimizer and data "
    "position are restored, but the steps after it differ from the run's own{said}":
        "从 {describe_point(point)} 续训，但参数有改动（{'; '.join(changes)}）：权重、优化器和数据位置已恢复，但之后的各步与原训练不同{said}",

    # train/rundir.py
    "(on {held} held-out documents: noise)": "（在 {held} 条留出数据上：噪声）",
    "Cannot create or write the run folder {paths.display(run_dir)} ({err.strerror or err}): choose a proj_dir you "
    "can write to, or leave it empty for a new folder in output/.":
        "无法创建或写入训练目录 {paths.display(run_dir)}（{err.strerror or err}）：请选择可写的 proj_dir，或留空以在 output/ 中新建目录。",
    "{paths.display(run_dir)} already holds another run ({shown}); a new run there would mix the two. Leave "
    "proj_dir empty for a new folder or choose another one, or continue that run (the Resume button, or train "
    "--resume {paths.display(run_dir)}).":
        "{paths.display(run_dir)} 中已有另一次训练（{shown}）；在那里开始新训练会把两者混在一起。请把 proj_dir 留空以新建目录，或换一个目录，或继续那次训练（续训按钮，或 "
        "train --resume {paths.display(run_dir)}）。",
    "the run has no checkpoint": "这次训练没有检查点",
    "{path}: not a resume point written by this trainer": "{path}：不是本训练器写出的续训点",
    "{paths.display(point)} is not a resume point (no {POINT_FILE}): give a run folder or one of its "
    "resume/step-<N> folders":
        "{paths.display(point)} 不是续训点（没有 {POINT_FILE}）：请给出训练目录或其中的某个 resume/step-<N> 目录",
    "{path}: not valid JSON ({e}): the resume point is damaged": "{path}：不是有效的 JSON（{e}）：续训点已损坏",
    "{path}: {name} is {value}, not {expected}: the resume point is damaged or was edited":
        "{path}：{name} 是 {value}，不是{expected}：续训点已损坏或被改动过",
    "{kind_name} of at least {least}": "不小于 {least} 的{kind_name}",
    "{path}: not valid JSON (line {exc.lineno}): {exc.msg}": "{path}：不是有效的 JSON（第 {exc.lineno} 行）：{exc.msg}",
    "{path}: not UTF-8 text ({exc.reason} at byte {exc.start})": "{path}：不是 UTF-8 文本（第 {exc.start} 字节处 {exc.reason}）",

    # train/schedule.py
    "unknown lr_schedule {schedule}; use cos, wsd, linear or constant":
        "未知的 lr_schedule {schedule}；请使用 cos、wsd、linear 或 constant",

    # train/seed_script.py
    "line {line}: lora_parts={text} -> train_parts {' '.join(parts) or '(none)'}":
        "第 {line} 行：lora_parts={text} -> train_parts {' '.join(parts) or '(none)'}",
    "({', '.join(adapters)}: the adapters always cover att and ffn)": "（{', '.join(adapters)}：适配器总是覆盖 att 和 ffn）",
    "{path}: cannot be read ({err.strerror or err})": "{path}：无法读取（{err.strerror or err}）",

    # ui/login.py
    "(every other client)": "（其他所有客户端）",
    "Another sign-in from your address came after this one, and only the newest waits: try again in {retry} s.":
        "你的地址之后又有一次登录，只有最新的一次在等待：请在 {retry} 秒后重试。",

    # data/formats.py, data/tokenizer.py: the messages of their error classes
    "one format per file: this record is {SCHEMA_NAMES[other]}, but the file's first record is "
    "{SCHEMA_NAMES[schema]}; convert it or move it to a file of its own":
        "一个文件只能有一种格式：这条是{SCHEMA_NAMES[other]}，但文件的第一条是{SCHEMA_NAMES[schema]}；请转换它，或把它移到单独的文件中",
    "token id {token_id} does not fit in uint16 (ids up to 65535); this vocabulary has {vocab_size} tokens. Use a "
    "vocabulary of at most 65536 tokens":
        "token id {token_id} 超出 uint16 的范围（id 最大 65535）；这个词表有 {vocab_size} 个 token。请使用最多 65536 个 token 的词表",
}

# The words of tables and figures: column headers, plot legends, the labels of the progress line. Looked up
# whole (``messages.label``), never inside a message: a field or an option named "text" or "run" stays as it is.
LABELS: dict[str, str] = {
    # ui/train_tab.py: the runs table, the loss plot's legend, the progress line
    "run": "训练", "state": "状态", "steps": "步数", "last loss": "最新损失", "best val_loss": "最佳验证损失",
    "recall": "记住的问题", "checkpoints": "检查点", "started": "开始时间",
    "loss": "损失", "smoothed": "平滑", "validation": "验证", "best": "最佳",
    "step": "步", "epoch": "轮", "lr": "学习率", "elapsed": "已用", "ETA": "剩余",
    # ui/data_tab.py: bad records and the preview
    "line": "行", "reason": "原因", "turn": "轮次", "role": "角色", "text": "文本",
    # the progress bars of ui/tokenize_tab.py (the pipeline's stages) and ui/merge_tab.py
    "tokenizing": "分词中", "writing": "写入中", "bytes": "字节", "items": "条", "tensors": "张量",
}
