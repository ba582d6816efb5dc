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

    # ui/control.py and estimate.py: the Parameters check
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
    "epoch_begin={cfg.epoch_begin} leaves nothing to do: epoch_count={cfg.epoch_count} is the total number of "
    "epochs, raise it above epoch_begin":
        "epoch_begin={cfg.epoch_begin} 之后没有可训练的轮次：epoch_count={cfg.epoch_count} 是总轮数，请把它调到 "
        "epoch_begin 以上",
    "epoch_begin={cfg.epoch_begin} continues a run: set {row.load_option} to its last checkpoint (e.g. "
    "output/<run>/rwkv-{cfg.epoch_begin - 1}.pth)":
        "epoch_begin={cfg.epoch_begin} 表示继续一次训练：请把 {row.load_option} 设为它的最后一个检查点（例如 "
        "output/<run>/rwkv-{cfg.epoch_begin - 1}.pth）",
    "quant {cfg.quant} cannot be used with {cfg.finetune_mode} (it trains the base weights): set quant none":
        "quant {cfg.quant} 不能与 {cfg.finetune_mode} 一起使用（它会训练基座权重）：请把 quant 设为 none",
    "quant is not supported with several processes: set quant none, or train with devices 1 on one machine "
    "(num_nodes 1, no hostfile)":
        "多进程训练不支持 quant：请把 quant 设为 none，或在一台机器上用 devices 1 训练（num_nodes 1，不用 hostfile）",
    "quant {cfg.quant} needs a CUDA GPU (bitsandbytes); on {facts.device} set quant none":
        "quant {cfg.quant} 需要 CUDA GPU（bitsandbytes）；在 {facts.device} 上请把 quant 设为 none",
    "quant {cfg.quant} needs the bitsandbytes package: pip install bitsandbytes, or set quant none":
        "quant {cfg.quant} 需要 bitsandbytes 包：pip install bitsandbytes，或把 quant 设为 none",
    "{cfg.deepspeed_strategy} needs the deepspeed package: pip install deepspeed, or set deepspeed_strategy none":
        "{cfg.deepspeed_strategy} 需要 deepspeed 包：pip install deepspeed，或把 deepspeed_strategy 设为 none",
    "{cfg.finetune_mode} changes its trained layers during the run, which DeepSpeed cannot follow: set "
    "deepspeed_strategy none":
        "{cfg.finetune_mode} 在训练中会更换所训练的层，DeepSpeed 无法跟随：请把 deepspeed_strategy 设为 none",
    "precision fp16 with DeepSpeed is not supported here: use bf16 (or deepspeed_strategy none)":
        "这里不支持 DeepSpeed 配合 precision fp16：请使用 bf16（或把 deepspeed_strategy 设为 none）",
    "op fla needs a CUDA GPU; on {facts.device} use op auto": "op fla 需要 CUDA GPU；在 {facts.device} 上请使用 op auto",
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
}
