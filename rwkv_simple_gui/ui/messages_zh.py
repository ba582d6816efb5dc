"""The Chinese of run-time messages: English template -> Chinese (ui/messages.py says how they match).

A template is one line of a message as the code writes it, with ``{placeholders}`` for what varies
(by habit the f-string's own expression, as `tests/test_i18n.py` finds it); the Chinese uses the same
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
    "Trained on conversations of up to {self.trained_turns} questions: the {self.window} question(s) before each "
    "new one are sent with it. Untick *Fit the history to the model* to send the whole conversation.":
        "训练数据的对话最多 {self.trained_turns} 个问题：每个新问题会连同它之前的 {self.window} 个问题一起发送。"
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
    "stage dpo compares the model with its base (the adapter switched off), but {cfg.finetune_mode} changes the base weights themselves, so the base would need a second copy of the model in memory: use lora, pissa, bone, bat or state_tuning, or stage orpo (it needs no reference)":
        "stage dpo 要把模型与其基座（关闭适配器）比较，但 {cfg.finetune_mode} 直接修改基座权重，基座需要在内存中再存一份模型：请使用 lora、pissa、bone、bat 或 state_tuning，或使用 stage orpo（它不需要参考模型）",
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
    "too short to learn these answers: each document is seen {b.passes} times; {cfg.finetune_mode} needed "
    "{rule[0]} passes (lr_init {rule[1]}) to give back 85% of the trained answers of 40 facts about one subject on "
    "the demo base: raise epoch_count to {need}":
        "训练太短，学不会这些回答：每条数据只见 {b.passes} 次；在演示基座上，{cfg.finetune_mode} 需要 {rule[0]} 遍"
        "（lr_init {rule[1]}）才能答回关于同一主题的 40 条事实中 85% 的训练回答：请把 epoch_count 提高到 {need}",
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
    "document about {run.passes} times (the preset asks for {fit.get('passes', 1)} passes and at least "
    "{fit.get('min_steps', 0)} steps)":
        "epoch_count {epochs} 已按 {paths.display(info.prefix)} 调整：{run.steps} 个优化步，每条训练数据约 {run.passes} 次"
        "（预设要求 {fit.get('passes', 1)} 遍、至少 {fit.get('min_steps', 0)} 步）",
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
}
