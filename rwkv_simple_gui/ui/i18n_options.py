"""Chinese labels and help for the training options (English comes from TrainConfig's metadata).

Keys are option names; an option missing here falls back to its English text.
"""

ZH_OPTIONS: dict[str, tuple[str, str]] = {
    "model_path": ("基座模型", "要微调的 RWKV .pth（model/ 目录中）。版本、层数、宽度从文件中自动读取，无需填写。"),
    "finetune_mode": ("微调方式",
                      "lora：低秩适配器。pissa：从权重主方向开始的 LoRA（收敛更快）。bone / bat：DiSHA 的两种模式，"
                      "同等显存下效果通常最好（DiSHA r 128 约等于 LoRA r 64 的显存）。state_tuning：只训练初始状态"
                      "（文件很小，适合学风格/角色；学习率要大，1 → 0.01）。lisa：每次随机训练几层。full：全量微调。"),
    "stage": ("训练阶段", "sft：学习数据集中的回复（常规微调）。dpo / orpo：偏好微调，数据为成对样本（提示、选中回复、"
              "拒绝回复；先对这样的文件分词），模型学会更偏好选中的回复。dpo 以基座模型（关闭适配器）为参照，"
              "因此需要适配器方法（lora、pissa、bone、bat、state_tuning）；orpo 不需要参照模型，同时学习选中的回复。"),
    "pref_beta": ("偏好强度（beta / lambda）", "dpo：beta，模型为偏好选中回复可偏离基座多远（常用 0.1；越大越接近基座）。"
                  "orpo：lambda，偏好项相对于选中回复损失的权重（常用 0.1）。"),
    "train_type": ("训练类型", "infctx：超长序列按 chunk_ctx 分块训练并在块之间传递状态。需要 dataload=pad，不能与 state_tuning 同用。"),
    "op": ("WKV 算子", "auto：CUDA 上有 fla 时用 fla，否则用分块 PyTorch 算子。torch 是最慢但精确的参考实现。"
           "也接受 RWKV-PEFT 的名字：cuda = 这里最快的 CUDA 算子（装了 fla 时就是 fla），triton = fla"
           "（它的算子就是 Triton 算子）；两者都需要 CUDA GPU。"),
    "quant": ("量化基座权重", "像 RWKV-PEFT 一样以量化形式保存冻结的基座权重以节省显存：int8（bitsandbytes 分块 8 位，"
              "一般选它）、nf4、fp4、4bit（bitsandbytes quantize_4bit 的默认类型，即 fp4）需要 CUDA GPU；fp8（权重转为 "
              "float8_e4m3fn，输入也转为 fp8）在 CPU 上也能运行。不能用于 full / lisa 和多卡。合并时要使用相同设置。"),
    "data_path": ("数据集（binidx 前缀）", "分词后的数据：.bin/.idx 的路径去掉扩展名（例如 data/sample）。"),
    "ctx_len": ("上下文长度（CTX_LEN）", "每个样本的 token 数。pad/only 模式请使用分词输出的 max_length（更长的数据会被截断）。越长越占显存。"),
    "dataload": ("数据读取方式", "pad：每个样本一条数据，补齐到 ctx_len，补齐部分不学习（对话数据的常用选择）。"
                 "only：每个样本一条数据，不补齐（建议 micro_bsz 为 1）。get：从整个 token 流随机截取（预训练风格，"
                 "每轮 epoch_steps 步）。"),
    "loss_mask": ("损失掩码", "哪些 token 参与学习。none：完全不用掩码，与 RWKV-PEFT 相同：dataload 为 pad 时，短数据之后的"
                  "窗口由文件中紧随其后的数据填满，这些 token 也会被学习。pad：只学习该条数据自己的 token。qa：只学习 "
                  "Assistant 的回复（包括其思考与工具调用，直到下一回合）；System、User 和工具结果不学习。se：使用自定义的开始/结束文本"
                  "（mask1 / mask0）。"),
    "mask0": ("se 掩码：停止学习的文本", "loss_mask 为 se 时：遇到此文本后停止学习。"),
    "mask1": ("se 掩码：开始学习的文本", "loss_mask 为 se 时：遇到此文本后开始学习（此文本本身也被学习）。"),
    "data_shuffle": ("每轮打乱数据", "1：每轮随机打乱顺序（分词时 N_EPOCH 设 1，增加 epoch_count）。0：按文件顺序"
                     "（分词时 N_EPOCH > 1，epoch_count 设 1）。"),
    "chunk_ctx": ("infctx 分块长度（CHUNK_CTX）", "仅 infctx：每块的 token 数，ctx_len 必须不小于它。越小越省显存。"),
    "epoch_count": ("训练轮数（EPOCH_COUNT）", "本次训练的轮数，从 epoch_begin 开始数（与 RWKV-PEFT 相同：epoch_begin 3、"
                    "epoch_count 3 训练第 3、4、5 轮）。学习率调度覆盖 epoch_begin + epoch_count 轮。dataload 为 get 且 "
                    "run_until_stopped 为 1 时，这些轮结束后会继续训练，直到你停止。"),
    "epoch_steps": ("每轮 micro-batch 数（EPOCH_STEPS）", "与 RWKV-PEFT 相同：一轮是这么多个 micro_bsz 大小的 micro-batch"
                    "（由各设备分担），pad/only 模式即第 0 到 epoch_steps × micro_bsz - 1 条数据。auto：原脚本的公式，"
                    "数据条数 / micro_bsz，每轮每条数据读一遍。设置的数值会漏掉数据，或读到最后一条之后（RWKV-PEFT 会在此报错）时，"
                    "开始前会给出提示。"),
    "run_until_stopped": ("get：训练到手动停止", "仅 dataload get。1：与 RWKV-PEFT 的 get 相同，epoch_count 轮之后继续训练"
                          "（学习率保持 lr_final，每 epoch_save 轮保存），直到你点停止。0：epoch_count 轮后结束。"),
    "epoch_save": ("每 N 轮保存", "每隔这么多轮保存一次 rwkv-<轮数>.pth（最后一轮总会保存）。"),
    "epoch_begin": ("起始轮（EPOCH_BEGIN）", "继续训练时：要训练的第一轮的编号，即已完成的轮数。同时设置要加载的检查点"
                    "（lora_load、pissa_load + pissa_init、disha_load）：epoch_begin 1、lora_load rwkv-0.pth、epoch_count 2 "
                    "会写出 rwkv-1 和 rwkv-2；步数、学习率和损失曲线都会接着之前的继续。"),
    "micro_bsz": ("每卡批大小（MICRO_BSZ）", "每张卡每次前向的样本数。显存不够时保持 1，改为增大 mini_bsz。"
                  "micro_bsz × mini_bsz 建议：少于 1k 条 4–8，少于 5k 条 8–16，超过 10k 条 32–64。"),
    "mini_bsz": ("梯度累积（MINI_BSZ）", "每次更新参数前累积的 micro-batch 数：不增加显存就能得到更大的有效批大小。"),
    "lr_init": ("初始学习率（LR_INIT）", "lora/pissa/bone/bat 用 1e-5 到 8e-5；state_tuning 约为 1；full 用 1e-5 或更低。"),
    "lr_final": ("最终学习率（LR_FINAL）", "最后一步的学习率（state_tuning 约 0.01）。与初始学习率相同即为恒定学习率。"),
    "lr_schedule": ("学习率调度", "预热之后学习率如何从 lr_init 变到 lr_final：cos（余弦）、wsd（先平稳，最后 20% 的步数余弦下降）、"
                    "linear（线性）、constant（恒定）。"),
    "warmup_steps": ("预热步数", "学习率从 0 线性升到 lr_init 所用的优化步数。"),
    "beta1": ("Adam beta1", "AdamW 一阶矩衰减。"),
    "beta2": ("Adam beta2", "AdamW 二阶矩衰减。"),
    "adam_eps": ("Adam epsilon", "AdamW 的 epsilon（RWKV 使用 1e-18；常见默认值为 1e-8）。"),
    "weight_decay": ("权重衰减", "AdamW 权重衰减，只作用于矩阵（不作用于归一化层、偏置和混合向量）。"),
    "train_parts": ("额外训练", "除适配器外也训练（并保存）的基座参数：emb（词嵌入）、head（输出层）、time（时间混合参数）、ln（层归一化）。"),
    "lora_r": ("LoRA 秩", "适配器的秩：越大学得越多，也越占显存。"),
    "lora_alpha": ("LoRA alpha", "适配器缩放系数，建议为秩的 2 倍。合并时必须使用同一个值。"),
    "lora_dropout": ("LoRA dropout", "适配器输入的 dropout。"),
    "lora_load": ("从 LoRA 检查点继续", "之前训练得到的 rwkv-<轮数>.pth。"),
    "pissa_r": ("PiSSA 秩", "训练的主方向的秩。"),
    "svd_niter": ("SVD 迭代次数", "PiSSA 初始化时随机 SVD 的迭代次数（越多越精确，启动越慢）。"),
    "pissa_load": ("从 PiSSA 检查点继续", "之前训练得到的 rwkv-<轮数>.pth；同时要设置 pissa_init。"),
    "pissa_init": ("PiSSA 初始化文件", "要继续的那次训练写出的 init_pissa.pth（与 pissa_load 一起使用）。"),
    "disha_r": ("DiSHA 秩", "bone/bat 的块大小；bat 要求它能整除模型宽度和 FFN 宽度。r 128 约等于 LoRA r 64 的显存。"),
    "disha_load": ("从 DiSHA 检查点继续", "之前训练得到的 rwkv-<轮数>.pth。"),
    "state_load": ("从 state 检查点继续", "之前训练得到的 rwkv-<轮数>.pth（time_state）。"),
    "lisa_r": ("LISA 层数", "每次同时训练的层数。"),
    "lisa_k": ("LISA 间隔", "每隔多少优化步重新随机选择训练的层。"),
    "precision": ("精度", "支持的 GPU（RTX 30 系及更新）建议 bf16；较老的 GPU 用 fp16；fp32 精确但慢且占显存。"),
    "grad_cp": ("梯度检查点", "1：反向传播时重新计算激活值：大幅节省显存，约慢 30%。"),
    "devices": ("设备数（GPU_COUNT）", "一起使用的 GPU（或 CPU 进程）数量；micro_bsz 是每个设备的批大小。"),
    "deepspeed_strategy": ("DeepSpeed 策略", "DeepSpeed ZeRO：stage 1 最快；2 和 3 在卡之间拆分更多状态；*_offload 把优化器"
                           "状态放到内存，单卡也有用（此时在一个进程中运行 DeepSpeed）。单个设备上普通的 stage 1/2/3 什么也不拆分："
                           "不使用 DeepSpeed 运行（计算相同），检查结果会说明。none：普通的梯度 all-reduce（每个设备保存一份完整的"
                           "优化器状态；适合适配器）。"),
    "num_nodes": ("机器数（节点数）", "一起训练的机器数，每台使用 devices 张 GPU。大于 1 时，在每台机器上运行同一条训练命令，"
                  "选项相同、模型和数据放在相同路径，只有 node_rank 不同：主机器（写运行目录的那台）填 0，其他机器填 1、2……"),
    "node_rank": ("本机编号（node_rank）", "多台机器时：主机器填 0，其他机器填 1 到 num_nodes-1，每台机器的编号各不相同。"
                  "只有 0 号机器写运行目录，其他机器把进度打印到各自的终端。"),
    "master_addr": ("主机器地址（master_addr）", "多台机器时：其他机器访问 0 号机器所用的 IP 地址或主机名"
                    "（例如 192.168.1.10）；每台机器填相同的值。"),
    "master_port": ("主机器端口（master_port）", "多台机器时：0 号机器上一个空闲、其他机器能访问到的 TCP 端口"
                    "（需在防火墙中放行）；每台机器填相同的值。"),
    "hostfile": ("DeepSpeed 主机文件（hostfile）", "不必在每台机器上输入命令：一个文件，每台机器一行 “主机名 slots=N”"
                 "（N 为该机器的 GPU 数），本机写在第一行。只需在本机启动训练，DeepSpeed 通过免密 ssh 启动其他机器"
                 "（需要安装 pdsh，且每台机器上项目路径相同）。机器数和 GPU 数由该文件决定：num_nodes 保持 1，"
                 "master_addr 填本机地址。留空：不使用。"),
    "proj_dir": ("运行目录", "本次训练写出文件的目录。留空：新建 output/<微调方式>-<日期>-<时间>。"),
    "seed": ("随机种子", "-1：每次训练使用不同的种子；其他值使训练可以复现。"),
    "wandb": ("wandb 项目", "同时记录到 Weights & Biases 的这个项目（需要安装 wandb）。留空：关闭。"),
    "resume_from": ("精确续训自", "一个运行目录（使用其最新的续训点）或一个续训点（<运行目录>/resume/step-<N>）：训练像从未中断一样"
                    "继续，权重、优化器、数据位置和随机状态都按保存时的恢复。由“继续”按钮和 train --resume RUN_DIR 设置。"
                    "决定训练过程的选项必须保持原值。"),
    "val_data": ("验证数据（binidx 前缀）", "留出的验证数据，像普通数据集一样分词（.bin/.idx 前缀）：每次评估时计算它的损失，"
                 "从不用于训练。留空：使用 val_split，或不计算验证损失。"),
    "val_split": ("验证集比例", "代替 val_data：从训练数据中按运行的随机种子留出这个比例（0–0.5）的数据，从不训练，"
                  "并记录在 config.json 中。0：关闭。需要 dataload 为 pad 或 only。"),
    "val_every": ("每 N 步评估", "两次评估（验证损失和示例回答）之间的优化步数；0：每轮结束时评估。最后一步总会评估，"
                  "新的训练还会在第 0 步评估基座模型。"),
    "sample_prompts": ("示例提示文件", "每次评估时让模型回答的提示，便于直接看到它学到了什么：jsonl 文件（text 或 prompt 字段），"
                       "或每行一个提示。数据中有 User: 回合时，普通问题会以 “User: …\n\nAssistant:” 的形式提问。"
                       "留空：取数据中前 3 个不同的 User 回合。"),
    "sample_tokens": ("示例回答长度", "每个示例回答的 token 数（贪心解码）。0：不生成示例。"),
    "save_every_steps": ("每 N 步保存", "每隔这么多优化步额外保存一个步数检查点 rwkv-step-<步数>.pth（0：只在每轮结束时保存）。"
                         "最新的检查点总是可以精确续训的位置。"),
    "early_stop_patience": ("提前停止：耐心", "验证损失（val_split 或 val_data）连续这么多次评估都没有降低至少 "
                            "early_stop_min_delta 时停止训练；保留最好的检查点，合并时选中运行文件夹即取它。0：关闭。"
                            "不适合事实类数据（留出的回答无法从其余数据学到）：模型学会训练过的回答时，它的验证损失反而上升。"),
    "early_stop_min_delta": ("提前停止：最小改进", "验证损失要比目前最好的值低多少才算改进。"),
    "keep_last": ("保留最近 K 个步数检查点", "更早的步数检查点会被删除（验证损失最好的那个除外）；每轮的检查点全部保留。"
                  "0：保留所有步数检查点。"),
    "tensorboard": ("TensorBoard", "1：同时在 <运行目录>/tensorboard 写出 TensorBoard 事件文件（需要安装 tensorboard）。"),
}
