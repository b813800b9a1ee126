"""Every user-facing text of the studio, in English and Simplified Chinese.

One table, ``TEXT = {key: {"en": ..., "zh": ...}}``. RunConfig fields use their own name as the
key of the widget label and ``<name>.help`` for its explanation; the English explanation falls
back to the field's metadata ``help``, so a new knob is explained in English without touching
this file (add its ``zh`` here). PretrainConfig fields (the Adapt tab) do the same under
``pretrain.<name>``; a label missing there is the RunConfig field's label of the same name.
PromptConfig fields (the Playground tab) use ``prompt.<name>`` and ``prompt.<name>.help``.
HpoConfig's search fields (the AutoML tab) use ``hpo.<name>`` and ``hpo.<name>.help``.
Backbone and strategy descriptions fall back to the engine's.
"""

from __future__ import annotations

from typing import Any

from ui.i18n_core import LANGS, T, Translator, lookup

__all__ = ["TEXT", "LANG_CHOICES", "LANGS", "T", "Translator", "t"]

LANG_CHOICES = [("English", "en"), ("简体中文", "zh")]

TEXT: dict[str, dict[str, str]] = {
    # ---- header and tabs ----------------------------------------------------------------
    "app.tagline": {
        "en": "Adapt a language model to your own labelled data — classify, tag entities, extract "
        "relations, answer questions, summarize or translate — no code needed.",
        "zh": "用你自己的标注数据适配语言模型——分类、实体识别、关系抽取、问答、摘要或翻译——无需编写代码。",
    },
    "app.device": {"en": "Training device: **{device}**", "zh": "训练设备：**{device}**"},
    "app.language": {"en": "Language", "zh": "语言"},
    "tab.data": {"en": "1 · Data", "zh": "1 · 数据"},
    "tab.train": {"en": "2 · Train", "zh": "2 · 训练"},
    "tab.evaluate": {"en": "3 · Evaluate", "zh": "3 · 评估"},
    "tab.runs": {"en": "4 · Runs", "zh": "4 · 运行记录"},
    "common.refresh": {"en": "↻ Refresh", "zh": "↻ 刷新"},
    # ---- run statuses -------------------------------------------------------------------
    "status.queued": {"en": "queued", "zh": "排队中"},
    "status.running": {"en": "running", "zh": "训练中"},
    "status.stopping": {"en": "stopping", "zh": "正在停止"},
    "status.completed": {"en": "completed", "zh": "已完成"},
    "status.stopped": {"en": "stopped", "zh": "已停止"},
    "status.failed": {"en": "failed", "zh": "失败"},
    "status.interrupted": {"en": "interrupted", "zh": "已中断"},
    "status.unknown": {"en": "unknown", "zh": "未知"},
    # ---- charts -------------------------------------------------------------------------
    "chart.waiting": {
        "en": "The training curves appear here once a run starts.",
        "zh": "开始训练后，训练曲线会显示在这里。",
    },
    "chart.loss": {"en": "Loss (lower is better)", "zh": "损失（越低越好）"},
    "chart.scores": {"en": "Validation scores (higher is better)", "zh": "验证集得分（越高越好）"},
    "chart.train_loss": {"en": "training loss", "zh": "训练损失"},
    "chart.val_loss": {"en": "validation loss", "zh": "验证损失"},
    "chart.val_accuracy": {"en": "validation accuracy", "zh": "验证准确率"},
    "chart.val_f1": {"en": "validation macro-F1", "zh": "验证宏平均 F1"},
    "chart.step": {"en": "step", "zh": "步数"},
    "train.done_task": {
        "en": "Done. Test {metric} {value}.",
        "zh": "完成。测试集 {metric} {value}。",
    },
    "train.done_before": {"en": "(Before fine-tuning: {before}.)", "zh": "（微调前：{before}。）"},
    "train.speed_task": {
        "en": "Measuring speed before Start works for text classification; for "
        "this task start a run with a small Max steps to time it.",
        "zh": "开始前测速目前只支持文本分类；其他任务可以先用较小的“最大步数”运行一次来计时。",
    },
    "train.plan_task": {
        "en": "**Auto** trains the {task} task with **{strategy}** on this backbone.",
        "zh": "**自动**：在此基础模型上用 **{strategy}** 训练“{task}”任务。",
    },
    "chart.f1_per_label": {"en": "F1 (test set)", "zh": "F1（测试集）"},
    "chart.f1_per_label_title": {"en": "F1 per label (test set)", "zh": "各标签 F1（测试集）"},
    "chart.before": {"en": "before fine-tuning", "zh": "微调前"},
    "chart.after": {"en": "after fine-tuning", "zh": "微调后"},
    "chart.before_after": {
        "en": "Test scores before and after fine-tuning (same rows)",
        "zh": "微调前后的测试得分（同一批行）",
    },
    "chart.val_score": {"en": "validation {name}", "zh": "验证 {name}"},
    "chart.pick_runs": {
        "en": "Pick runs above to compare their curves.",
        "zh": "在上方选择运行记录以比较它们的曲线。",
    },
    "chart.no_data": {"en": "Nothing to show yet.", "zh": "暂无内容。"},
    "chart.labels": {"en": "Examples per label", "zh": "各标签的样本数"},
    "chart.label": {"en": "label", "zh": "标签"},
    "chart.rows": {"en": "rows", "zh": "行数"},
    "chart.lengths": {"en": "Text length", "zh": "文本长度"},
    "chart.words": {"en": "words per text", "zh": "每条文本的词数"},
    "chart.cm_hover": {"en": "true %{y}, predicted %{x}: %{z}", "zh": "真实 %{y}，预测 %{x}：%{z}"},
    "chart.predicted": {"en": "predicted label", "zh": "预测标签"},
    "chart.true": {"en": "true label", "zh": "真实标签"},
    "chart.confusion": {"en": "Confusion matrix (test set)", "zh": "混淆矩阵（测试集）"},
    "chart.no_prediction": {
        "en": "Type a text and press Predict.",
        "zh": "输入一段文本，然后点击“预测”。",
    },
    "chart.probability": {"en": "probability", "zh": "概率"},
    # ---- data tab -----------------------------------------------------------------------
    "data.intro": {
        "en": "**Step 1.** Upload a table with a text column and a label column, or try a "
        "bundled sample. Check the columns and the messages, then go to **Train**.",
        "zh": "**第 1 步。** 上传一个包含文本列和标签列的表格，或试用内置示例。"
        "确认列和提示信息后，前往 **训练**。",
    },
    "data.upload": {
        "en": "Upload a table (CSV, TSV, TXT, JSONL, JSON, Parquet, Excel)",
        "zh": "上传表格（CSV、TSV、TXT、JSONL、JSON、Parquet、Excel）",
    },
    "data.sample": {"en": "…or use a sample", "zh": "……或使用示例数据"},
    "data.sample.help": {
        "en": "Small labelled tables bundled with Adaptune.",
        "zh": "Adaptune 自带的小型标注表格。",
    },
    "data.use_sample": {"en": "Use sample", "zh": "使用示例"},
    "data.none": {
        "en": "No data chosen yet: upload a file or use a sample.",
        "zh": "尚未选择数据：请上传文件或使用示例。",
    },
    "data.error": {"en": "Problem with the data:", "zh": "数据有问题："},
    "data.summary": {
        "en": "**{name}** · {rows} rows · {classes} classes · train {train} / validation "
        "{validation} / test {test}",
        "zh": "**{name}** · {rows} 行 · {classes} 个类别 · 训练 {train} / 验证 {validation} / "
        "测试 {test}",
    },
    "data.summary_task": {
        "en": "**{name}** · {task} · {train} train / {validation} validation / "
        "{test} test rows · {labels} labels",
        "zh": "**{name}** · {task} · 训练 {train} / 验证 {validation} / 测试 {test} 行 · "
        "{labels} 个标签",
    },
    "data.backbone_switched": {
        "en": "The texts are not English: the Train tab now uses "
        "{backbone} (bundled, about 100 languages including "
        "Chinese and Japanese). You can change it there.",
        "zh": "文本不是英文：训练页已改用 {backbone}（内置，支持中文、日文等约 100 种"
        "语言）。可以在训练页改回。",
    },
    "role.text": {"en": "Text column", "zh": "文本列"},
    "role.tokens": {"en": "Tokens (or text) column", "zh": "词元（或文本）列"},
    "role.context": {"en": "Context column", "zh": "上下文列"},
    "role.source": {"en": "Source column", "zh": "源文本列"},
    "role.label": {"en": "Label column", "zh": "标签列"},
    "role.labels": {"en": "Labels column (separated by ; or |)", "zh": "标签列（用 ; 或 | 分隔）"},
    "role.tags": {"en": "Tags (or entity spans) column", "zh": "标注（或实体片段）列"},
    "role.relation": {"en": "Relation column", "zh": "关系列"},
    "role.answer": {"en": "Answer column", "zh": "答案列"},
    "role.target": {"en": "Target column", "zh": "目标文本列"},
    "data.summary_bad": {
        "en": "**{name}** · {rows} rows · {columns} columns",
        "zh": "**{name}** · {rows} 行 · {columns} 列",
    },
    "data.ready": {"en": "The data is ready to train on.", "zh": "数据已就绪，可以开始训练。"},
    "data.warnings": {"en": "Worth a look:", "zh": "值得注意："},
    "data.split": {"en": "Split and sampling", "zh": "数据划分与抽样"},
    "data.preview": {"en": "Preview (first 20 rows)", "zh": "预览（前 20 行）"},
    # ---- train tab ----------------------------------------------------------------------
    "train.intro": {
        "en": "**Step 2.** Pick a backbone and a strategy (the defaults are a good start), "
        "then press **Start training** and watch the curves.",
        "zh": "**第 2 步。** 选择基础模型和微调策略（默认值就是不错的起点），"
        "然后点击 **开始训练** 并观察曲线。",
    },
    "train.data": {
        "en": "Training data: **{name}** · text column `{text}` · label column "
        "`{label}` (change them in the Data tab)",
        "zh": "训练数据：**{name}** · 文本列 `{text}` · 标签列 `{label}`（可在“数据”页更改）",
    },
    "train.data_none": {
        "en": "No data chosen yet: pick a file in the Data tab first.",
        "zh": "尚未选择数据：请先在“数据”页选择文件。",
    },
    "train.bundled": {"en": "bundled, works offline", "zh": "已内置，可离线使用"},
    "train.backbone_none": {
        "en": "Pick a backbone or type a Hugging Face hub id.",
        "zh": "请选择基础模型，或输入 Hugging Face Hub 模型 ID。",
    },
    "train.backbone_local": {"en": "Local model folder {name}.", "zh": "本地模型文件夹 {name}。"},
    "train.backbone_hub": {
        "en": "Hugging Face hub model {name} (downloaded on first use; needs internet).",
        "zh": "Hugging Face Hub 模型 {name}（首次使用时下载，需要联网）。",
    },
    "train.default_lr": {
        "en": "Recommended learning rate: {lr} (used when the learning rate is 0).",
        "zh": "推荐学习率：{lr}（学习率为 0 时使用）。",
    },
    "train.queued": {
        "en": "Waiting in the queue (position {position}); another run is training.",
        "zh": "排队等待中（第 {position} 位）；另一个运行正在训练。",
    },
    "train.preparing": {
        "en": "Preparing the data and loading the model…",
        "zh": "正在准备数据并加载模型……",
    },
    "train.step": {"en": "Step {step} / {total}", "zh": "第 {step} / {total} 步"},
    "train.eta": {"en": "about {eta} left", "zh": "预计剩余 {eta}"},
    "train.speed": {"en": "{speed} samples/s", "zh": "{speed} 样本/秒"},
    "train.epoch": {"en": "epoch {epoch}", "zh": "第 {epoch} 轮"},
    "train.no_run": {
        "en": "No run yet: choose data, then press Start training.",
        "zh": "还没有运行：先选择数据，再点击“开始训练”。",
    },
    "train.failed": {"en": "The run failed:", "zh": "运行失败："},
    "train.done": {
        "en": "Test accuracy {accuracy}, macro-F1 {f1}. See the Evaluate tab for "
        "details and to try the model.",
        "zh": "测试准确率 {accuracy}，宏平均 F1 {f1}。前往“评估”页查看详情并试用模型。",
    },
    "train.interrupted": {
        "en": "The server stopped while this run was training; start it again to retrain.",
        "zh": "训练过程中服务器停止了；请重新开始以再次训练。",
    },
    "train.device": {"en": "Device: {device}", "zh": "设备：{device}"},
    "train.params": {
        "en": "{trainable} of {total} parameters train ({percent}%)",
        "zh": "{total} 个参数中有 {trainable} 个参与训练（{percent}%）",
    },
    "train.preview": {
        "en": "Before you start: {trainable} of {total} parameters will train "
        "({percent}%); the run saves {saves}.",
        "zh": "开始之前：{total} 个参数中将有 {trainable} 个参与训练（{percent}%）；"
        "训练结果保存为{saves}。",
    },
    "train.saves.adapter": {"en": "a small adapter", "zh": "一个小型适配器"},
    "train.saves.model": {"en": "the whole model", "zh": "完整模型"},
    "train.plan": {
        "en": "**What Auto will do** with this data (change any setting to override it; "
        "settings you changed are kept):",
        "zh": "**自动模式将如何训练**这份数据（修改任一设置即可覆盖；你改过的设置会保留）：",
    },
    "train.plan_needs_data": {
        "en": "Auto picks the strategy and settings from your data: choose "
        "a table in the Data tab to see its plan.",
        "zh": "自动模式根据你的数据选择策略和设置：请先在“数据”页选择表格以查看方案。",
    },
    "train.unavailable": {"en": "Not available here", "zh": "此处不可用"},
    "train.measure_speed": {
        "en": "Measure speed (a few real training steps)",
        "zh": "测速（运行几步真实训练）",
    },
    "train.speed_estimate": {
        "en": "{strategy}: about {per_epoch} per epoch, {total} for the whole run "
        "({rate} samples/s over {steps} measured steps; validation adds a "
        "little).",
        "zh": "{strategy}：每轮约 {per_epoch}，整个训练约 {total}（实测 {steps} 步，"
        "每秒 {rate} 个样本；验证会另外花一点时间）。",
    },
    "train.estimate": {
        "en": "Estimated peak memory {memory} (batch {batch}, length {length}); saved size {size}.",
        "zh": "预计内存峰值 {memory}（批大小 {batch}，长度 {length}）；保存大小 {size}。",
    },
    "train.augment_preview": {
        "en": "Preview augmentation on 5 training texts",
        "zh": "在 5 条训练文本上预览数据增强",
    },
    "train.augment_off": {
        "en": "Data augmentation is off: pick a method above first.",
        "zh": "数据增强未开启：请先在上方选择一种方法。",
    },
    "train.augment_original": {"en": "Original", "zh": "原文"},
    "train.augment_new": {"en": "Generated", "zh": "生成"},
    "train.augment_method": {"en": "Method", "zh": "方法"},
    "train.advanced": {"en": "Advanced settings", "zh": "高级设置"},
    "train.group.model": {"en": "**Model**", "zh": "**模型**"},
    "train.group.training": {"en": "**Training**", "zh": "**训练**"},
    "train.saveload": {"en": "Save or load settings", "zh": "保存或加载设置"},
    "train.save_config": {"en": "Save settings (JSON)", "zh": "保存设置（JSON）"},
    "train.load_config": {"en": "Load a settings file", "zh": "加载设置文件"},
    "train.config_file": {"en": "Settings file", "zh": "设置文件"},
    "train.past_run": {
        "en": "…or take the settings of a past run",
        "zh": "……或沿用过去某次运行的设置",
    },
    "train.load_run": {"en": "Load its settings", "zh": "加载其设置"},
    "train.start": {"en": "▶ Start training", "zh": "▶ 开始训练"},
    "train.stop": {"en": "■ Stop", "zh": "■ 停止"},
    "train.need_data": {
        "en": "Choose a data file in the Data tab first.",
        "zh": "请先在“数据”页选择数据文件。",
    },
    "train.cannot_start": {"en": "Cannot start:", "zh": "无法开始："},
    "train.queued_msg": {
        "en": "Queued: position {position}. Run {id} starts when the runs ahead of it end.",
        "zh": "已排队：第 {position} 位。运行 {id} 会在前面的运行结束后开始。",
    },
    "train.started": {"en": "Run {id} started.", "zh": "运行 {id} 已开始。"},
    "train.nothing_to_stop": {"en": "There is no run to stop.", "zh": "没有可停止的运行。"},
    "train.not_active": {
        "en": "This run is not training any more.",
        "zh": "这个运行已经不在训练中了。",
    },
    "train.stopping": {
        "en": "Stopping: the best checkpoint is evaluated and kept.",
        "zh": "正在停止：将评估并保留最佳检查点。",
    },
    "train.saved": {
        "en": "Settings saved; download the file below.",
        "zh": "设置已保存；请在下方下载文件。",
    },
    "train.loaded": {"en": "Settings loaded from {what}.", "zh": "已从 {what} 加载设置。"},
    "train.no_file": {"en": "No file was uploaded.", "zh": "没有上传文件。"},
    "train.pick_run": {"en": "Pick a run first.", "zh": "请先选择一个运行。"},
    "log.start": {
        "en": "Training on {device}: {rows} training rows, {steps} steps.",
        "zh": "在 {device} 上训练：{rows} 行训练数据，共 {steps} 步。",
    },
    "log.eval": {
        "en": "Step {step}: validation loss {loss} · accuracy {accuracy} · macro-F1 {f1}",
        "zh": "第 {step} 步：验证损失 {loss} · 准确率 {accuracy} · 宏平均 F1 {f1}",
    },
    "log.end": {"en": "Run ended: {status}.", "zh": "运行结束：{status}。"},
    # strategies (English descriptions fall back to engine/strategies.py)
    "strategy.lora.name": {"en": "LoRA", "zh": "LoRA"},
    "strategy.full.name": {"en": "Full fine-tuning", "zh": "全量微调"},
    "strategy.head.name": {"en": "Head only", "zh": "仅训练分类头"},
    "strategy.lora": {
        "zh": "LoRA：在注意力投影层上做小的低秩更新，并训练新的分类头；速度快、"
        "占用内存少，保存为小巧的适配器。"
    },
    "strategy.full": {"zh": "全量微调：所有权重都参与训练；容量最大、最慢，保存完整模型。"},
    "strategy.head": {"zh": "仅训练分类头：冻结主干，只训练新的分类头；最快，但效果最弱。"},
    "strategy.auto.name": {"en": "Automatic (recommended)", "zh": "自动（推荐）"},
    "strategy.auto": {"zh": "自动：根据主干模型、数据量和硬件为你选择策略和超参数。"},
    "strategy.bitfit.name": {"zh": "BitFit"},
    "strategy.bitfit": {
        "zh": "BitFit：只训练主干的偏置项和新的分类头；很小很快，比仅训练分类头更强一些。"
    },
    "strategy.rslora.name": {"zh": "rsLoRA"},
    "strategy.rslora": {
        "zh": "rsLoRA：采用秩稳定缩放的 LoRA，秩较高时依然学得好；保存一个小型适配器。"
    },
    "strategy.dora.name": {"zh": "DoRA"},
    "strategy.dora": {"zh": "DoRA：分别学习每个权重的大小和方向的 LoRA；通常略好，略慢。"},
    "strategy.pissa.name": {"zh": "PiSSA"},
    "strategy.pissa": {
        "zh": "PiSSA：从预训练权重最重要的方向初始化的 LoRA；通常比 LoRA 收敛更快。"
    },
    "strategy.adalora.name": {"zh": "AdaLoRA"},
    "strategy.adalora": {"zh": "AdaLoRA：训练中把秩预算分配给最需要的层的 LoRA。"},
    "strategy.ia3.name": {"zh": "IA3"},
    "strategy.ia3": {"zh": "IA3：为注意力层和前馈层的每个通道学习一个缩放系数；可训练参数最少。"},
    "strategy.loha.name": {"zh": "LoHa"},
    "strategy.loha": {"zh": "LoHa：由哈达玛积构成的低秩更新；同样大小下比 LoRA 表达力更强。"},
    "strategy.lokr.name": {"zh": "LoKr"},
    "strategy.lokr": {"zh": "LoKr：由克罗内克积构成的低秩更新；可训练参数很少。"},
    "strategy.vera.name": {"zh": "VeRA"},
    "strategy.vera": {"zh": "VeRA：共享一个冻结的随机投影，只训练小的缩放向量；比 LoRA 更小。"},
    "strategy.prefix.name": {"zh": "前缀微调（Prefix tuning）"},
    "strategy.prefix": {"zh": "前缀微调：在每个注意力层中学习少量虚拟词元；主干保持冻结。"},
    "strategy.prompt.name": {"zh": "提示微调（Prompt tuning）"},
    "strategy.prompt": {"zh": "提示微调：在文本前学习少量虚拟词；主干保持冻结。"},
    "strategy.ptuning.name": {"zh": "P-tuning"},
    "strategy.ptuning": {"zh": "P-tuning：由一个小网络生成、放在文本前的虚拟词；主干保持冻结。"},
    "strategy.qlora.name": {"zh": "QLoRA"},
    "strategy.qlora": {"zh": "QLoRA：在主干的 4 位量化副本上做 LoRA；能在小显卡上微调大模型。"},
    "strategy.setfit.name": {"zh": "SetFit（少样本）"},
    "strategy.setfit": {"zh": "SetFit：面向句向量编码器的少样本学习；每个标签 8 个样例即可。"},
    # backbones (English descriptions fall back to engine/backbones.py)
    "backbone.minilm-l6": {
        "zh": "MiniLM-L6（all-MiniLM-L6-v2），2200 万参数的英文编码器；已内置，在 CPU 上也很快。"
    },
    "backbone.e5-small-multilingual": {
        "zh": "multilingual-e5-small（1.18 亿参数），支持中文、日文等约 100 种"
        "语言的编码器；已内置（由 4 位权重转换一次）。"
    },
    "backbone.smollm2-135m-instruct": {
        "zh": "SmolLM2-135M-Instruct，小型 Llama 架构解码器；已内置；通过序列分类头进行分类。"
    },
    "backbone.distilbert-base-uncased": {
        "zh": "DistilBERT base（6600 万参数），英文；从 Hub 下载。"
    },
    "backbone.bert-base-chinese": {"zh": "中文 BERT base（1.02 亿参数）；从 Hub 下载。"},
    "backbone.roberta-base": {"zh": "RoBERTa base（1.25 亿参数），英文；从 Hub 下载。"},
    "backbone.deberta-v3-small": {
        "zh": "DeBERTa-v3 small（1.41 亿参数），性能强的英文编码器；从 Hub 下载。"
    },
    "backbone.xlm-roberta-base": {
        "zh": "XLM-RoBERTa base（2.78 亿参数），支持约 100 种语言；从 Hub 下载。"
    },
    "backbone.gpt2": {"zh": "GPT-2 small（1.24 亿参数）；从 Hub 下载。"},
    "backbone.qwen2.5-0.5b": {"zh": "Qwen2.5-0.5B（4.94 亿参数），多语言解码器；从 Hub 下载。"},
    # ---- RunConfig fields: label (key = field name) and help (key = name + ".help") ------
    "data": {"en": "Data file", "zh": "数据文件"},
    "data.help": {"zh": "用于训练的标注表格（CSV、TSV、JSONL、Parquet 或 Excel）。"},
    "text_column": {"en": "Text column", "zh": "文本列"},
    "text_column.help": {"en": "The column with the input text.", "zh": "包含输入文本的列。"},
    "label_column": {"en": "Label column", "zh": "标签列"},
    "label_column.help": {
        "en": "The column with the class to predict.",
        "zh": "包含要预测的类别的列。",
    },
    "test_data": {"en": "Separate test file (optional)", "zh": "单独的测试文件（可选）"},
    "test_data.help": {
        "en": "Optional: a separate test file with the same columns. Without one, a share of "
        "the rows is held out for the final test report.",
        "zh": "可选：列名相同的单独测试文件。不提供时，会从数据中留出一部分行用于最终测试报告。",
    },
    "validation_fraction": {"en": "Validation share", "zh": "验证集比例"},
    "validation_fraction.help": {"zh": "训练过程中留出用于评估的行的比例。"},
    "test_fraction": {"en": "Test share", "zh": "测试集比例"},
    "test_fraction.help": {"zh": "留作最终测试报告的行的比例（提供测试文件时忽略）。"},
    "max_rows": {"en": "Max rows", "zh": "最多使用行数"},
    "max_rows.help": {"zh": "最多使用这么多行（分层抽样；0 = 全部）。"},
    "task": {"en": "Task", "zh": "任务"},
    "task.help": {"zh": "模型要学会做的事情。"},
    "task.classification": {"en": "Text classification", "zh": "文本分类"},
    "task.multilabel": {"en": "Multi-label classification", "zh": "多标签分类"},
    "task.ner": {"en": "Named entities (NER)", "zh": "命名实体识别（NER）"},
    "task.relation": {"en": "Relation extraction", "zh": "关系抽取"},
    "task.qa": {"en": "Question answering", "zh": "问答"},
    "task.summarization": {"en": "Summarization", "zh": "摘要"},
    "task.translation": {"en": "Translation", "zh": "翻译"},
    "task.dialogue": {"en": "Dialogue", "zh": "对话"},
    "label_columns": {"en": "0/1 label columns", "zh": "0/1 标签列"},
    "label_columns.help": {
        "zh": "多标签数据每个标签一列 0/1 时：这些列名，用逗号分隔（留空：一个标签列，"
        "多个标签用 ; 或 | 分隔）。"
    },
    "head_column": {"en": "Head entity column", "zh": "头实体列"},
    "head_column.help": {"zh": "关系的头（第一个）实体所在的列（留空：自动推断）。"},
    "tail_column": {"en": "Tail entity column", "zh": "尾实体列"},
    "tail_column.help": {"zh": "关系的尾（第二个）实体所在的列（留空：自动推断）。"},
    "question_column": {"en": "Question column", "zh": "问题列"},
    "question_column.help": {"zh": "问题所在的列（留空：自动推断）。"},
    "answer_start_column": {"en": "Answer start column", "zh": "答案起始位置列"},
    "answer_start_column.help": {
        "zh": "可选：答案在上下文中的字符偏移所在的列（留空：在上下文中查找答案文本）。"
    },
    "prompt_template": {"en": "Instruction template", "zh": "指令模板"},
    "prompt_template.help": {
        "zh": "指令模板；{source} 代表输入文本（留空：使用该任务的默认模板）。"
    },
    "target_language": {"en": "Target language", "zh": "目标语言"},
    "target_language.help": {"zh": "翻译：要译成的语言，会写进默认模板（例如 Spanish）。"},
    "max_new_tokens": {"en": "Max new tokens", "zh": "最多生成词元数"},
    "max_new_tokens.help": {"zh": "生成答案的最大词元数。"},
    "packing": {"en": "Pack examples", "zh": "样例拼接（packing）"},
    "packing.help": {"zh": "把多个短样例拼成一条序列（短文本时更快）。"},
    "generation_eval_rows": {"en": "Rows generated for scoring", "zh": "评分时生成的行数"},
    "generation_eval_rows.help": {"zh": "最终评分时生成的测试行数（CPU 上生成较慢；0 = 全部）。"},
    "backbone": {"en": "Backbone model", "zh": "基础模型"},
    "backbone.help": {
        "zh": "要适配的预训练模型：内置模型名、Hugging Face Hub 模型 ID 或本地文件夹。"
    },
    "strategy": {"en": "Fine-tuning strategy", "zh": "微调策略"},
    "strategy.help": {"zh": "决定模型的哪些部分参与训练。"},
    "max_length": {"en": "Max length (tokens)", "zh": "最大长度（词元）"},
    "max_length.help": {"zh": "输入的最大词元数；更长的文本会被截断。"},
    "lora_r": {"en": "Rank (r)", "zh": "秩（r）"},
    "lora_r.help": {"zh": "LoRA 秩：低秩更新的大小（越大容量越高）。"},
    "lora_alpha": {"en": "LoRA alpha", "zh": "LoRA alpha"},
    "lora_alpha.help": {"zh": "LoRA alpha：更新的缩放系数（通常取秩的 2 倍）。"},
    "lora_dropout": {"en": "LoRA dropout", "zh": "LoRA dropout"},
    "lora_dropout.help": {"zh": "LoRA 分支上的 dropout 比例。"},
    "lora_target_modules": {"en": "LoRA target modules", "zh": "LoRA 目标模块"},
    "lora_target_modules.help": {
        "zh": "LoRA 适配的模块名，用逗号分隔（“auto”：该模型系列的注意力投影层）。"
    },
    "num_virtual_tokens": {"en": "Virtual tokens", "zh": "虚拟词元数"},
    "num_virtual_tokens.help": {"zh": "放在文本前、参与训练的虚拟词元数量。"},
    "setfit_iterations": {"en": "SetFit pairs per example", "zh": "SetFit 每个样例的句对数"},
    "setfit_iterations.help": {
        "zh": "SetFit：对比学习阶段为每个标注样例抽取的句对数（越多越慢，有时更好）。"
    },
    "dropout": {"en": "Dropout override", "zh": "Dropout 覆盖"},
    "dropout.help": {"zh": "主干内部的 dropout（-1 表示保留主干自带的值）。"},
    "label_smoothing": {"en": "Label smoothing", "zh": "标签平滑"},
    "label_smoothing.help": {"zh": "标签平滑：软化训练目标（0 为关闭，常用 0.1）。"},
    "class_weights": {"en": "Class weights", "zh": "类别权重"},
    "class_weights.help": {"zh": "按类别频率的倒数为损失加权（balanced），帮助少数类。"},
    "adversarial": {"en": "Adversarial training", "zh": "对抗训练"},
    "adversarial.help": {"zh": "在词嵌入上做对抗训练（FGM）：更稳健，每步约慢一倍。"},
    "adversarial_epsilon": {"en": "FGM epsilon", "zh": "FGM 扰动大小"},
    "adversarial_epsilon.help": {"zh": "FGM 扰动的大小。"},
    "augment": {"en": "Data augmentation", "zh": "数据增强"},
    "augment.help": {
        "zh": "添加生成的训练样例：词级编辑（交换、删除、插入）、由内置解码器生成的改写，或两者都用。"
    },
    "augment_per_example": {"en": "New examples per example", "zh": "每个样例生成的新样例数"},
    "augment_per_example.help": {"zh": "数据增强时每个训练样例生成的新样例数。"},
    "freeze_embeddings": {"en": "Freeze embeddings", "zh": "冻结词嵌入"},
    "freeze_embeddings.help": {"zh": "全量微调时冻结词嵌入表（更快、更省内存）。"},
    "epochs": {"en": "Epochs", "zh": "训练轮数"},
    "epochs.help": {"zh": "遍历训练数据的次数。"},
    "max_steps": {"en": "Max steps", "zh": "最大步数"},
    "max_steps.help": {"zh": "训练到这么多优化步后停止（0 = 按轮数）。"},
    "learning_rate": {"en": "Learning rate", "zh": "学习率"},
    "learning_rate.help": {"zh": "峰值学习率（0 = 使用该策略的推荐值）。"},
    "batch_size": {"en": "Batch size", "zh": "批大小"},
    "batch_size.help": {"zh": "每步训练使用的样本数。"},
    "eval_batch_size": {"en": "Evaluation batch size", "zh": "评估批大小"},
    "eval_batch_size.help": {"zh": "评估时每步处理的样本数。"},
    "warmup_ratio": {"en": "Warm-up share", "zh": "预热比例"},
    "warmup_ratio.help": {"zh": "用于学习率预热的步数比例。"},
    "weight_decay": {"en": "Weight decay", "zh": "权重衰减"},
    "weight_decay.help": {"zh": "AdamW 优化器的权重衰减。"},
    "lr_scheduler": {"en": "Learning-rate schedule", "zh": "学习率调度"},
    "lr_scheduler.help": {"zh": "预热结束后学习率如何衰减。"},
    "evaluations_per_epoch": {"en": "Evaluations per epoch", "zh": "每轮评估次数"},
    "evaluations_per_epoch.help": {"zh": "每轮在验证集上评估的次数。"},
    "early_stopping_patience": {"en": "Early-stopping patience", "zh": "早停耐心值"},
    "early_stopping_patience.help": {
        "zh": "验证指标连续这么多次评估没有提升时停止（0 = 从不早停）。"
    },
    "metric_for_best_model": {"en": "Metric for the best model", "zh": "最佳模型指标"},
    "metric_for_best_model.help": {"zh": "用来挑选最佳检查点的验证指标。"},
    "time_budget_seconds": {"en": "Time budget (seconds)", "zh": "时间预算（秒）"},
    "time_budget_seconds.help": {"zh": "训练用满这么多秒后停止，并保留最佳检查点（0 = 不限时）。"},
    "seed": {"en": "Random seed", "zh": "随机种子"},
    "seed.help": {"zh": "用于数据划分、分类头初始化和数据顺序的随机种子。"},
    "device": {"en": "Device", "zh": "设备"},
    "device.help": {"zh": "在哪里训练（“auto”：有 GPU 时使用 GPU）。"},
    "processes": {"en": "Training processes", "zh": "训练进程数"},
    "processes.help": {
        "zh": "训练进程数。大于 1 时用 torchrun 启动（通过 Trainer 的 DDP）：每块 "
        "GPU 一个进程，或多个通过 gloo 通信的 CPU 进程。仅限文本分类，不含 "
        "SetFit。"
    },
    "run_name": {"en": "Run name (optional)", "zh": "运行名称（可选）"},
    "run_name.help": {"zh": "给这次运行起个名字（留空：基础模型-策略-时间）。"},
    "output_dir": {"en": "Runs folder", "zh": "运行目录"},
    "output_dir.help": {"zh": "存放各次运行文件夹的目录。"},
    # ---- adapt tab (domain-adaptive pre-training) --------------------------------------
    "tab.adapt": {"en": "1b · Adapt (optional)", "zh": "1b · 领域适配（可选）"},
    "task.pretrain": {"en": "Domain adaptation", "zh": "领域适配"},
    "adapt.intro": {
        "en": "**Optional.** Teach a backbone the language of your domain before fine-tuning: "
        "continued pre-training on unlabelled text (masked-LM for encoders, causal LM for "
        "decoders). Start with the **Domain report**: it says how far your text is from "
        "what the backbone knows. A finished run becomes a backbone you can pick in "
        "**Train**.",
        "zh": "**可选。** 在微调之前，先让基础模型熟悉你所在领域的语言：在无标注文本上继续预训练"
        "（编码器用掩码语言模型，解码器用因果语言模型）。先看 **领域报告**：它会告诉你这些文本与"
        "基础模型已掌握的内容相差多远。完成的运行会成为一个基础模型，可在 **训练** 页中选择。",
    },
    "adapt.upload": {
        "en": "Domain text: a .txt file (one document per line, or paragraphs) or "
        "a table (CSV, TSV, JSONL, JSON, Parquet, Excel) with a text column",
        "zh": "领域文本：.txt 文件（每行一篇，或按段落分隔），或带文本列的表格"
        "（CSV、TSV、JSONL、JSON、Parquet、Excel）",
    },
    "adapt.group.data": {"en": "**Domain text**", "zh": "**领域文本**"},
    "adapt.group.model": {"en": "**Model**", "zh": "**模型**"},
    "adapt.group.training": {"en": "**Training**", "zh": "**训练**"},
    "adapt.use_labelled": {
        "en": "Use the texts of my labelled training set",
        "zh": "使用我的标注训练集中的文本",
    },
    "adapt.use_labelled.hint": {
        "en": "Uses the table chosen in the Data tab, training rows only: its validation and "
        "test rows are left out, so the final test stays unseen.",
        "zh": "使用“数据”页中选择的表格，且只用训练行：验证行和测试行不参与，最终测试因此保持未见过。",
    },
    "adapt.need_labelled": {
        "en": "Choose a labelled table in the Data tab first.",
        "zh": "请先在“数据”页选择一个标注表格。",
    },
    "adapt.labelled_ner": {
        "en": "The Data tab holds named-entity data (token lists, not running "
        "text): upload the sentences as a .txt file instead.",
        "zh": "“数据”页中是命名实体数据（词元列表，而不是连续文本）：请改为上传包含这些句子的 .txt 文件。",
    },
    "adapt.labelled_task": {
        "en": "This option holds rows out the way text classification "
        "splits the table; the {task} task may hold out other rows, "
        "so a few of its validation or test texts could be "
        "pre-trained on.",
        "zh": "此选项按文本分类的方式划分表格并留出行；“{task}”任务可能留出不同的行，"
        "因此它的少量验证或测试文本可能会参与预训练。",
    },
    "adapt.data_none": {
        "en": "No domain text yet: upload a file or use the texts of your labelled training set.",
        "zh": "还没有领域文本：请上传文件，或使用标注训练集中的文本。",
    },
    "adapt.data_line": {
        "en": "Domain text: **{name}** · {documents} documents · {words} words",
        "zh": "领域文本：**{name}** · {documents} 篇文档 · {words} 个词",
    },
    "adapt.data_column": {"en": "text column `{column}`", "zh": "文本列 `{column}`"},
    "adapt.data_labelled": {
        "en": "training rows of the labelled table only ({held} validation and test rows left out)",
        "zh": "仅使用标注表格的训练行（{held} 行验证和测试数据不参与）",
    },
    "adapt.report_btn": {"en": "Domain report", "zh": "领域报告"},
    "adapt.report_none": {
        "en": "Press **Domain report** to see how far this text is from what the backbone was "
        "trained on (it loads the backbone: up to a minute on a CPU).",
        "zh": "点击 **领域报告**，查看这些文本与基础模型训练语料的差距（需要加载模型：在 CPU 上最多约一分钟）。",
    },
    "adapt.report_progress": {
        "en": "Loading the backbone and measuring the domain…",
        "zh": "正在加载基础模型并分析领域文本……",
    },
    "adapt.report_failed": {"en": "No report:", "zh": "无法生成报告："},
    "adapt.report_title": {
        "en": "Domain report · {backbone} · {name}",
        "zh": "领域报告 · {backbone} · {name}",
    },
    "adapt.verdict.close": {
        "en": "Close to what the backbone was trained on",
        "zh": "与基础模型的训练语料接近",
    },
    "adapt.verdict.moderate": {
        "en": "Somewhat different from what the backbone was trained on",
        "zh": "与基础模型的训练语料有一定差异",
    },
    "adapt.verdict.far": {
        "en": "Far from what the backbone was trained on",
        "zh": "与基础模型的训练语料差距很大",
    },
    "adapt.advice.close": {
        "en": "Continued pre-training is unlikely to change much; fine-tune directly.",
        "zh": "继续预训练可能帮助不大；可以直接微调。",
    },
    "adapt.advice.moderate": {
        "en": "Continued pre-training may help, mostly for the domain's own words.",
        "zh": "继续预训练可能有帮助，主要体现在领域特有的词语上。",
    },
    "adapt.advice.far": {
        "en": "Continued pre-training on this text is likely to help.",
        "zh": "在这些文本上继续预训练很可能有帮助。",
    },
    "adapt.r.measure": {"en": "Measure", "zh": "指标"},
    "adapt.r.value": {"en": "Value", "zh": "数值"},
    "adapt.r.subwords": {
        "en": "Sub-words per word (general text: about 1.1–1.3)",
        "zh": "每个词的子词数（一般文本约 1.1–1.3）",
    },
    "adapt.r.unknown": {"en": "Unknown-token rate", "zh": "未知词元比例"},
    "adapt.r.byte_level": {
        "en": "0 (byte-level tokenizer: no token is ever unknown)",
        "zh": "0（字节级分词器：不会出现未知词元）",
    },
    "adapt.r.perplexity": {
        "en": "Base {kind} on the held-out text",
        "zh": "留出文本上的初始{kind}",
    },
    "adapt.r.perplexity_value": {
        "en": "{value} ({tokens} tokens scored)",
        "zh": "{value}（评估了 {tokens} 个词元）",
    },
    "adapt.r.control": {
        "en": "Same measure on everyday English (control)",
        "zh": "同一指标在日常英文上的值（对照）",
    },
    "adapt.r.control_value": {
        "en": "{value} (a domain far above it is far from the model)",
        "zh": "{value}（领域文本远高于此值说明与模型差距大）",
    },
    "adapt.r.documents": {"en": "Documents", "zh": "文档数"},
    "adapt.r.documents_value": {
        "en": "{train} to train on · {held} held out (never trained on)",
        "zh": "{train} 篇用于训练 · {held} 篇留出（从不参与训练）",
    },
    "adapt.r.objective": {"en": "Objective", "zh": "训练目标"},
    "adapt.r.head": {"en": "The language-model head", "zh": "语言模型输出头"},
    "adapt.kind.pseudo-perplexity": {"en": "pseudo-perplexity", "zh": "伪困惑度"},
    "adapt.kind.perplexity": {"en": "perplexity", "zh": "困惑度"},
    "adapt.objective.mlm": {"en": "masked-LM", "zh": "掩码语言模型"},
    "adapt.objective.clm": {"en": "causal LM", "zh": "因果语言模型"},
    "adapt.head.fitted": {
        "en": "The checkpoint ships without a masked-LM head: a head tied to "
        "the word embeddings was fitted for {steps} steps on the "
        "training documents (body frozen; loss {start} → {end}). "
        "'Before' and 'after' are both measured through it.",
        "zh": "该检查点不含掩码语言模型输出头：已在训练文档上拟合了一个与词嵌入绑定的新输出头，"
        "共 {steps} 步（主干冻结；损失 {start} → {end}）。“之前”和“之后”都通过它测量。",
    },
    "adapt.head.random": {
        "en": "The checkpoint ships without a masked-LM head and no warm-up "
        "was asked for: the 'before' perplexity goes through a random "
        "head and means little.",
        "zh": "该检查点不含掩码语言模型输出头，且未设置预热步数：“之前”的困惑度经由随机输出头计算，"
        "参考意义不大。",
    },
    "adapt.head.clm": {
        "en": "Causal-LM perplexity through the model's own LM head.",
        "zh": "通过模型自带的语言模型输出头计算因果语言模型困惑度。",
    },
    "adapt.head.own": {
        "en": "Pseudo-perplexity through the checkpoint's own masked-LM head.",
        "zh": "通过检查点自带的掩码语言模型输出头计算伪困惑度。",
    },
    "adapt.frag.title": {"en": "Most fragmented frequent words", "zh": "被切得最碎的常见词"},
    "adapt.frag.word": {"en": "Word", "zh": "词"},
    "adapt.frag.count": {"en": "Occurrences", "zh": "出现次数"},
    "adapt.frag.pieces": {"en": "Pieces the tokenizer makes", "zh": "分词器切出的子词"},
    "adapt.start": {"en": "▶ Start adapting", "zh": "▶ 开始适配"},
    "adapt.stop": {"en": "■ Stop", "zh": "■ 停止"},
    "adapt.need_data": {
        "en": "Choose the domain text first: upload a file or use the texts of "
        "your labelled training set.",
        "zh": "请先选择领域文本：上传文件，或使用标注训练集中的文本。",
    },
    "adapt.started": {"en": "Adaptation run {id} started.", "zh": "适配运行 {id} 已开始。"},
    "adapt.queued": {
        "en": "Adaptation run {id} is queued at position {position}; it starts "
        "when the current run ends.",
        "zh": "适配运行 {id} 已排队（第 {position} 位），当前运行结束后开始。",
    },
    "adapt.no_run": {
        "en": "No adaptation run yet: choose the domain text, then press Start adapting.",
        "zh": "还没有适配运行：先选择领域文本，再点击“开始适配”。",
    },
    "adapt.result.ppl": {
        "en": "Held-out {kind}: {before} → {after} ({change})",
        "zh": "留出文本上的{kind}：{before} → {after}（{change}）",
    },
    "adapt.result.lower": {"en": "−{pct}%", "zh": "降低 {pct}%"},
    "adapt.result.higher": {
        "en": "+{pct}%: the adapted model fits this text worse",
        "zh": "升高 {pct}%：适配后的模型更不适合这些文本",
    },
    "adapt.result.control": {
        "en": "Everyday English (control): {before} → {after} ({change}).",
        "zh": "日常英文（对照）：{before} → {after}（{change}）。",
    },
    "adapt.result.shared": {
        "en": "Much of the gain is shared by the control: the model is "
        "learning the objective itself, not only the domain.",
        "zh": "大部分提升在对照文本上同样出现：模型学到的主要是训练目标本身，而不只是领域。",
    },
    "adapt.result.specific": {
        "en": "The gain is specific to the domain.",
        "zh": "提升是领域特有的。",
    },
    "adapt.result.verdict": {
        "en": "Before training, the domain report said:",
        "zh": "训练前的领域报告结论：",
    },
    "adapt.result.early": {
        "en": "Stopped early at step {step} of {total}: the held-out "
        "perplexity had stopped improving; the best checkpoint (step "
        "{best}) was kept.",
        "zh": "在第 {step} / {total} 步提前停止：留出文本的困惑度不再下降；"
        "已保留最佳检查点（第 {best} 步）。",
    },
    "adapt.result.stopped": {
        "en": "Stopped at step {step} of {total} ({reason}); the best "
        "checkpoint (step {best}) was kept.",
        "zh": "在第 {step} / {total} 步停止（{reason}）；已保留最佳检查点（第 {best} 步）。",
    },
    "adapt.result.full": {
        "en": "Trained all {total} steps; the best checkpoint is from step {best}.",
        "zh": "完成全部 {total} 步训练；最佳检查点来自第 {best} 步。",
    },
    "adapt.result.tracked": {
        "en": "The chart tracks the {kind} during training: {before} → best {best}.",
        "zh": "图表显示训练过程中的{kind}：{before} → 最佳 {best}。",
    },
    "adapt.result.saved": {
        "en": "Saved as an adapted backbone; it is now in the Train tab's backbone list.",
        "zh": "已保存为适配后的基础模型，现已出现在“训练”页的基础模型列表中。",
    },
    "adapt.tracked.mlm": {
        "en": "masked-LM perplexity (fixed 15% mask)",
        "zh": "掩码语言模型困惑度（固定 15% 掩码）",
    },
    "adapt.tracked.clm": {"en": "perplexity", "zh": "困惑度"},
    "adapt.use_in_train": {"en": "Fine-tune from this backbone →", "zh": "用这个基础模型微调 →"},
    "adapt.nothing_to_use": {
        "en": "There is no finished adaptation run to fine-tune from yet.",
        "zh": "还没有可用于微调的已完成适配运行。",
    },
    "adapt.using": {
        "en": "The Train tab now starts from {name}.",
        "zh": "“训练”页现在从 {name} 开始。",
    },
    "adapt.load_other": {
        "en": "Run {id} is a fine-tuning run; its settings load in the Train tab.",
        "zh": "运行 {id} 是微调运行；它的设置会加载到“训练”页。",
    },
    "adapt.loaded": {
        "en": "Adaptation settings loaded from {id}.",
        "zh": "已从 {id} 加载适配设置。",
    },
    "adapt.not_train_run": {
        "en": "Run {id} is a domain-adaptation run: its settings load in "
        "the Adapt tab, and its adapted backbone is in the backbone "
        "list.",
        "zh": "运行 {id} 是领域适配运行：它的设置会加载到“领域适配”页，"
        "适配后的模型已在基础模型列表中。",
    },
    "adapt.no_model_eval": {
        "en": "Run {id} is a domain-adaptation run: it holds an adapted "
        "backbone, not a predictor. Fine-tune from it in the Train tab "
        "(pick it in the backbone list), then evaluate that run.",
        "zh": "运行 {id} 是领域适配运行：它保存的是适配后的基础模型，而不是预测模型。"
        "请在“训练”页的基础模型列表中选择它进行微调，再评估那次运行。",
    },
    "log.start_adapt": {
        "en": "Adapting on {device}: {rows} training windows, {steps} steps.",
        "zh": "在 {device} 上适配：{rows} 个训练窗口，共 {steps} 步。",
    },
    "log.eval_adapt": {
        "en": "Step {step}: held-out perplexity {ppl}",
        "zh": "第 {step} 步：留出文本困惑度 {ppl}",
    },
    "chart.adapt_waiting": {
        "en": "The loss and the held-out perplexity appear here once an adaptation run starts.",
        "zh": "开始适配后，损失和留出文本困惑度会显示在这里。",
    },
    "chart.ppl": {
        "en": "Held-out perplexity (lower is better)",
        "zh": "留出文本困惑度（越低越好）",
    },
    "chart.held_loss": {"en": "held-out loss", "zh": "留出文本损失"},
    "chart.held_ppl": {"en": "held-out perplexity", "zh": "留出文本困惑度"},
    "train.adapted_choice": {
        "en": "adapted {base} · {kind} {before} → {after}",
        "zh": "由 {base} 适配 · {kind} {before} → {after}",
    },
    "train.backbone_adapted": {
        "en": "{description} Held-out {kind}: {before} → {after}.",
        "zh": "由 {base} 在 {data} 上继续预训练得到的适配模型。留出文本{kind}："
        "{before} → {after}。",
    },
    "runs.metric.ppl_before": {"en": "Perplexity before adapting", "zh": "适配前困惑度"},
    "runs.metric.ppl_after": {"en": "Perplexity after adapting", "zh": "适配后困惑度"},
    "runs.m.perplexity": {"en": "perplexity", "zh": "困惑度"},
    # ---- PretrainConfig fields: label "pretrain.<name>" (falls back to the RunConfig field's
    # label of the same name), help "pretrain.<name>.help" (English from the engine) ------
    "pretrain.kind": {"en": "Run kind", "zh": "运行类型"},
    "pretrain.kind.help": {"zh": "运行文件夹里保存的内容。"},
    "pretrain.data": {"en": "Domain text", "zh": "领域文本"},
    "pretrain.data.help": {
        "zh": "无标注的领域文本：.txt 文件（每行一篇文档，或用空行分隔文档），"
        "或带文本列的 CSV / TSV / JSONL / Parquet / Excel 表格。"
    },
    "pretrain.text_column.help": {"zh": "数据为表格时包含文本的列（留空：自动推断）。"},
    "pretrain.source": {"en": "Text source", "zh": "文本来源"},
    "pretrain.source.help": {
        "zh": "“text”：使用文件中的全部文档；“labelled-train”：文件是标注表格，"
        "只使用相同随机种子的微调运行会用来训练的行（验证行和测试行不参与）：任务自适应预训练。"
    },
    "pretrain.source.choice.text": {"en": "every document of the file", "zh": "文件中的全部文档"},
    "pretrain.source.choice.labelled-train": {
        "en": "training rows of a labelled table",
        "zh": "标注表格的训练行",
    },
    "pretrain.label_column.help": {
        "zh": "labelled-train：标签列（用于像微调时一样划分表格；留空：自动推断）。"
    },
    "pretrain.eval_fraction": {"en": "Held-out share", "zh": "留出比例"},
    "pretrain.eval_fraction.help": {"zh": "留出用来测量领域困惑度的文档比例（从不参与训练）。"},
    "pretrain.max_documents": {"en": "Max documents", "zh": "最多文档数"},
    "pretrain.max_documents.help": {"zh": "最多使用这么多篇文档（随机抽样；0 = 全部）。"},
    "pretrain.backbone.help": {
        "zh": "要适配的基础模型：内置模型名、Hub 模型 ID、本地文件夹，"
        "或一次已完成的适配运行（run:文件夹）。"
    },
    "pretrain.objective": {"en": "Objective", "zh": "训练目标"},
    "pretrain.objective.help": {
        "zh": "掩码语言模型（编码器）或因果语言模型（解码器）；“自动”按基础模型选择。"
    },
    "pretrain.objective.choice.auto": {
        "en": "Automatic (by the backbone)",
        "zh": "自动（按基础模型）",
    },
    "pretrain.objective.choice.mlm": {"en": "Masked-LM (encoders)", "zh": "掩码语言模型（编码器）"},
    "pretrain.objective.choice.clm": {"en": "Causal LM (decoders)", "zh": "因果语言模型（解码器）"},
    "pretrain.strategy": {"en": "What trains", "zh": "训练哪些参数"},
    "pretrain.strategy.help": {
        "zh": "训练全部权重（“全量”），或训练低秩适配器并在结束时合并进基础模型（“LoRA”）。"
    },
    "pretrain.strategy.choice.full": {"en": "Every weight (full)", "zh": "全部权重（全量）"},
    "pretrain.strategy.choice.lora": {
        "en": "LoRA adapters, merged at the end",
        "zh": "LoRA 适配器，结束时合并",
    },
    "pretrain.max_length.help": {
        "zh": "每条训练序列的词元数（因果语言模型：拼接后的上下文长度）。"
    },
    "pretrain.mask_probability": {"en": "Mask share", "zh": "掩码比例"},
    "pretrain.mask_probability.help": {"zh": "掩码语言模型：被掩盖的词元比例。"},
    "pretrain.whole_word_mask": {"en": "Whole-word masking", "zh": "整词掩码"},
    "pretrain.whole_word_mask.help": {
        "zh": "掩码语言模型：同一个词的所有子词一起掩盖（更难；适合被切成很多子词的领域词）。"
    },
    "pretrain.packing": {"en": "Pack documents", "zh": "文档拼接（packing）"},
    "pretrain.packing.help": {"zh": "因果语言模型：把文档首尾相接拼成满长度的序列（无填充）。"},
    "pretrain.lora_r.help": {"zh": "LoRA 秩。"},
    "pretrain.lora_alpha.help": {"zh": "LoRA 缩放系数（通常取秩的 2 倍）。"},
    "pretrain.head_warmup_steps": {"en": "Head warm-up steps", "zh": "输出头预热步数"},
    "pretrain.head_warmup_steps.help": {
        "zh": "对不含掩码语言模型输出头的检查点：在测量“之前”的困惑度前，"
        "冻结主干、拟合新输出头（与词嵌入绑定）的步数。"
    },
    "pretrain.curriculum": {"en": "Curriculum", "zh": "课程顺序"},
    "pretrain.curriculum.help": {
        "zh": "训练文档的顺序：“长度”（先短后长）、“损失”（基础模型损失低的先学：由易到难）"
        "或“无”（打乱）。"
    },
    "pretrain.curriculum.choice.none": {"en": "None (shuffled)", "zh": "无（打乱）"},
    "pretrain.curriculum.choice.length": {"en": "Short documents first", "zh": "先短后长"},
    "pretrain.curriculum.choice.loss": {
        "en": "Easy to hard (base-model loss)",
        "zh": "由易到难（基础模型损失）",
    },
    "pretrain.grow_length": {"en": "Grow the sequence length", "zh": "逐步增加序列长度"},
    "pretrain.grow_length.help": {"zh": "先用短序列，在训练前半程逐渐增加到完整长度。"},
    "pretrain.max_steps.help": {"zh": "优化步数（0 = 按轮数）。"},
    "pretrain.epochs.help": {"zh": "最大步数为 0 时遍历文档的次数。"},
    "pretrain.learning_rate.help": {"zh": "峰值学习率（0 = 推荐值：全量 1e-4，LoRA 1e-3）。"},
    "pretrain.batch_size.help": {"zh": "每步的序列数。"},
    "pretrain.warmup_ratio.help": {"zh": "用于学习率预热的步数比例。"},
    "pretrain.weight_decay.help": {"zh": "AdamW 权重衰减。"},
    "pretrain.evaluations": {"en": "Perplexity measurements", "zh": "困惑度测量次数"},
    "pretrain.evaluations.help": {"zh": "训练过程中测量留出文本领域困惑度的次数。"},
    "pretrain.eval_tokens": {"en": "Tokens per measurement", "zh": "每次测量的词元数"},
    "pretrain.eval_tokens.help": {
        "zh": "每次困惑度测量评估的词元数（越多越稳定、越慢；掩码语言模型逐个掩盖评估）。"
    },
    "pretrain.early_stopping_patience.help": {
        "zh": "领域困惑度连续这么多次测量没有改善时停止（0 = 从不）。"
    },
    "pretrain.plateau_lr": {"en": "Halve the LR on a plateau", "zh": "停滞时学习率减半"},
    "pretrain.plateau_lr.help": {"zh": "领域困惑度不再改善时把学习率减半（代替固定衰减）。"},
    "pretrain.time_budget_seconds.help": {
        "zh": "用满这么多秒后停止并保留最佳检查点（0 = 不限时）。"
    },
    "pretrain.seed.help": {"zh": "用于留出切分、掩码和顺序的随机种子。"},
    "pretrain.device.help": {"zh": "在哪里训练（“auto”：有 GPU 时使用 GPU）。"},
    "pretrain.run_name": {
        "en": "Name of the adapted backbone (optional)",
        "zh": "适配后模型的名称（可选）",
    },
    "pretrain.run_name.help": {"zh": "给适配后的基础模型起个名字（留空：adapt-基础模型-时间）。"},
    "pretrain.output_dir.help": {"zh": "存放各次运行文件夹的目录。"},
    # ---- evaluate tab -------------------------------------------------------------------
    "eval.summary_task": {
        "en": "{name}: {task} · {backbone} · {strategy} · trained on {data}.",
        "zh": "{name}：{task} · {backbone} · {strategy} · 训练数据 {data}。",
    },
    "eval.before_after": {
        "en": "{metric}: {before} before fine-tuning → {after} after.",
        "zh": "{metric}：微调前 {before} → 微调后 {after}。",
    },
    "eval.col.before": {"en": "Before fine-tuning", "zh": "微调前"},
    "eval.m.micro_f1": {"en": "Micro-F1", "zh": "微平均 F1"},
    "eval.m.samples_f1": {"en": "Samples F1", "zh": "样本平均 F1"},
    "eval.m.subset_accuracy": {
        "en": "Exact match (all labels right)",
        "zh": "完全匹配率（全部标签正确）",
    },
    "eval.m.hamming_loss": {"en": "Hamming loss", "zh": "汉明损失"},
    "eval.m.f1": {"en": "F1", "zh": "F1"},
    "eval.m.precision": {"en": "Precision", "zh": "精确率"},
    "eval.m.recall": {"en": "Recall", "zh": "召回率"},
    "eval.m.exact_match": {"en": "Exact match", "zh": "完全匹配"},
    "eval.m.rouge1": {"en": "ROUGE-1", "zh": "ROUGE-1"},
    "eval.m.rouge2": {"en": "ROUGE-2", "zh": "ROUGE-2"},
    "eval.m.rougeL": {"en": "ROUGE-L", "zh": "ROUGE-L"},
    "eval.m.bleu": {"en": "BLEU", "zh": "BLEU"},
    "eval.m.chrf": {"en": "chrF", "zh": "chrF"},
    "eval.m.loss": {"en": "Loss", "zh": "损失"},
    "eval.m.threshold": {"en": "Decision threshold", "zh": "判定阈值"},
    "eval.ex.source": {"en": "Source", "zh": "源文本"},
    "eval.ex.reference": {"en": "Reference", "zh": "参考答案"},
    "eval.ex.before": {"en": "Before fine-tuning", "zh": "微调前输出"},
    "eval.ex.after": {"en": "After fine-tuning", "zh": "微调后输出"},
    "eval.ex.context": {"en": "Context", "zh": "上下文"},
    "eval.ex.question": {"en": "Question", "zh": "问题"},
    "eval.ex.gold": {"en": "True", "zh": "真实"},
    "eval.ex.predicted": {"en": "Predicted", "zh": "预测"},
    "eval.ex.text": {"en": "Text", "zh": "文本"},
    "eval.ex.score": {"en": "Score", "zh": "得分"},
    "eval.per_label": {"en": "Per-label report (test set)", "zh": "各标签报告（测试集）"},
    "eval.examples": {"en": "Test examples", "zh": "测试样例"},
    "eval.ner_title": {"en": "#### Entities in the test sentences", "zh": "#### 测试句子中的实体"},
    "eval.ner_example": {"en": "Test sentence", "zh": "测试句子"},
    "eval.ner_gold": {"en": "True entities", "zh": "真实实体"},
    "eval.ner_predicted": {"en": "Predicted entities", "zh": "预测实体"},
    "eval.answer": {"en": "Answer", "zh": "回答"},
    "eval.role.text": {"en": "Text", "zh": "文本"},
    "eval.role.context": {"en": "Context", "zh": "上下文"},
    "eval.role.question": {"en": "Question", "zh": "问题"},
    "eval.role.source": {"en": "Source text", "zh": "源文本"},
    "eval.role.head": {
        "en": "Head entity (as written in the text)",
        "zh": "头实体（与文本中一致）",
    },
    "eval.role.tail": {
        "en": "Tail entity (as written in the text)",
        "zh": "尾实体（与文本中一致）",
    },
    "eval.need.text": {"en": "Type a text first.", "zh": "请先输入文本。"},
    "eval.need.context": {"en": "Paste a context first.", "zh": "请先粘贴上下文。"},
    "eval.need.question": {
        "en": "Type a question about the context.",
        "zh": "请输入关于上下文的问题。",
    },
    "eval.need.source": {"en": "Type a source text first.", "zh": "请先输入源文本。"},
    "eval.need.head": {
        "en": "Type the head entity (as it appears in the text).",
        "zh": "请输入头实体（与文本中写法一致）。",
    },
    "eval.need.tail": {
        "en": "Type the tail entity (as it appears in the text).",
        "zh": "请输入尾实体（与文本中写法一致）。",
    },
    "eval.intro": {
        "en": "**Step 3.** Pick a finished run to see how well it does on the held-out test "
        "rows, where it goes wrong, and try it on your own text or file.",
        "zh": "**第 3 步。** 选择一个已完成的运行，查看它在留出测试集上的表现和出错之处，"
        "并用你自己的文本或文件试一试。",
    },
    "eval.run": {"en": "Finished run", "zh": "已完成的运行"},
    "eval.pick": {
        "en": "Pick a finished run to see its results.",
        "zh": "选择一个已完成的运行以查看结果。",
    },
    "eval.no_metrics": {
        "en": "This run has no results yet (status: {status}).",
        "zh": "这个运行还没有结果（状态：{status}）。",
    },
    "eval.summary": {
        "en": "{name}: {backbone} · {strategy} · trained on {data}.",
        "zh": "{name}：{backbone} · {strategy} · 训练数据 {data}。",
    },
    "eval.weak": {
        "en": "The test accuracy is no better than always predicting the most "
        "common label: try more epochs, another strategy or more data.",
        "zh": "测试准确率并不比总是预测最常见标签更好：可以尝试更多训练轮数、"
        "换一种策略或增加数据。",
    },
    "eval.metrics": {"en": "Test results", "zh": "测试结果"},
    "eval.per_class": {"en": "Per-class report (test set)", "zh": "各类别报告（测试集）"},
    "eval.errors": {"en": "Most confident mistakes (test set)", "zh": "置信度最高的错误（测试集）"},
    "eval.m.accuracy": {"en": "Accuracy", "zh": "准确率"},
    "eval.m.macro_f1": {"en": "Macro-F1", "zh": "宏平均 F1"},
    "eval.m.weighted_f1": {"en": "Weighted F1", "zh": "加权 F1"},
    "eval.m.baseline": {"en": "Majority baseline (accuracy)", "zh": "多数类基线（准确率）"},
    "eval.m.val_accuracy": {"en": "Validation accuracy", "zh": "验证准确率"},
    "eval.m.val_macro_f1": {"en": "Validation macro-F1", "zh": "验证宏平均 F1"},
    "eval.m.test_rows": {"en": "Test rows", "zh": "测试行数"},
    "eval.m.speed": {"en": "Training speed (samples/s)", "zh": "训练速度（样本/秒）"},
    "eval.m.params": {"en": "Trained parameters", "zh": "训练的参数"},
    "eval.m.time": {"en": "Total time", "zh": "总用时"},
    "eval.m.device": {"en": "Device", "zh": "设备"},
    "eval.params_value": {
        "en": "{trainable} of {total} ({percent}%)",
        "zh": "{total} 中的 {trainable}（{percent}%）",
    },
    "eval.col.metric": {"en": "Metric", "zh": "指标"},
    "eval.col.value": {"en": "Value", "zh": "数值"},
    "eval.col.label": {"en": "Label", "zh": "标签"},
    "eval.col.precision": {"en": "Precision", "zh": "精确率"},
    "eval.col.recall": {"en": "Recall", "zh": "召回率"},
    "eval.col.f1": {"en": "F1", "zh": "F1"},
    "eval.col.support": {"en": "Test rows", "zh": "测试行数"},
    "eval.col.text": {"en": "Text", "zh": "文本"},
    "eval.col.gold": {"en": "True label", "zh": "真实标签"},
    "eval.col.predicted": {"en": "Predicted", "zh": "预测标签"},
    "eval.col.confidence": {"en": "Confidence", "zh": "置信度"},
    "eval.try": {"en": "#### Predict a text", "zh": "#### 预测一段文本"},
    "eval.text": {"en": "Text", "zh": "文本"},
    "eval.text.ph": {"en": "Type or paste a text to classify…", "zh": "输入或粘贴要分类的文本……"},
    "eval.predict": {"en": "Predict", "zh": "预测"},
    "eval.prediction": {"en": "Prediction", "zh": "预测结果"},
    "eval.pick_first": {
        "en": "Pick a finished run first (at the top of this tab).",
        "zh": "请先在本页顶部选择一个已完成的运行。",
    },
    "eval.type_text": {"en": "Type a text to classify first.", "zh": "请先输入要分类的文本。"},
    "eval.batch": {"en": "#### Predict a file", "zh": "#### 预测整个文件"},
    "eval.file": {
        "en": "Table to label (same text column as the training data)",
        "zh": "要标注的表格（文本列与训练数据相同）",
    },
    "eval.predict_file": {"en": "Predict the file", "zh": "预测该文件"},
    "eval.upload_first": {"en": "Upload a table first.", "zh": "请先上传表格。"},
    "eval.predicting": {"en": "Predicting…", "zh": "正在预测……"},
    "eval.predicted_file": {
        "en": "Labelled {rows} rows ({spread}); download the CSV below.",
        "zh": "已标注 {rows} 行（{spread}）；请在下方下载 CSV。",
    },
    "eval.download": {"en": "Predictions (CSV)", "zh": "预测结果（CSV）"},
    # ---- runs tab -----------------------------------------------------------------------
    "runs.intro": {
        "en": "**Step 4.** Every run on this computer. Select a few to compare their curves "
        "and settings, or open one in Evaluate.",
        "zh": "**第 4 步。** 本机上的所有运行。选择几个来比较曲线和设置，或在“评估”中打开其中一个。",
    },
    "runs.table": {"en": "All runs", "zh": "所有运行"},
    "runs.select": {"en": "Runs to compare", "zh": "要比较的运行"},
    "runs.select.help": {"en": "Pick one or more runs.", "zh": "选择一个或多个运行。"},
    "runs.open_eval": {"en": "Open in Evaluate", "zh": "在“评估”中打开"},
    "runs.load_train": {"en": "Reuse its settings", "zh": "沿用其设置"},
    "runs.comparison": {"en": "Side by side (differences first)", "zh": "并排比较（不同之处在前）"},
    "runs.pick": {"en": "Pick runs to compare.", "zh": "请选择要比较的运行。"},
    "runs.pick_one": {
        "en": "Pick a run in “Runs to compare” first.",
        "zh": "请先在“要比较的运行”中选择一个运行。",
    },
    "runs.no_model": {
        "en": "Run {id} has no trained model to evaluate.",
        "zh": "运行 {id} 没有可评估的已训练模型。",
    },
    "runs.differs": {"en": "differs", "zh": "不同"},
    "runs.col.name": {"en": "Name", "zh": "名称"},
    "runs.col.status": {"en": "Status", "zh": "状态"},
    "runs.col.backbone": {"en": "Backbone", "zh": "基础模型"},
    "runs.col.strategy": {"en": "Strategy", "zh": "策略"},
    "runs.col.data": {"en": "Data", "zh": "数据"},
    "runs.col.accuracy": {"en": "Test accuracy", "zh": "测试准确率"},
    "runs.col.f1": {
        "en": "Test macro-F1 (or the task's score)",
        "zh": "测试宏平均 F1（或任务指标）",
    },
    "runs.col.task": {"en": "Task", "zh": "任务"},
    "runs.col.duration": {"en": "Duration", "zh": "用时"},
    "runs.col.created": {"en": "Started", "zh": "开始时间"},
    "runs.col.setting": {"en": "Setting / result", "zh": "设置 / 结果"},
    "runs.metric.test_accuracy": {"en": "Test accuracy", "zh": "测试准确率"},
    "runs.metric.test_macro_f1": {"en": "Test macro-F1", "zh": "测试宏平均 F1"},
    "runs.metric.val_accuracy": {"en": "Validation accuracy", "zh": "验证准确率"},
    "runs.metric.val_macro_f1": {"en": "Validation macro-F1", "zh": "验证宏平均 F1"},
    "runs.metric.speed": {"en": "Training speed (samples/s)", "zh": "训练速度（样本/秒）"},
    "runs.metric.trainable": {"en": "Trained parameters", "zh": "训练的参数量"},
    "runs.metric.duration": {"en": "Duration", "zh": "用时"},
    # ---- playground tab (zero- / few-shot prompting, generation, measure, explain) --------
    "tab.playground": {"en": "3b · Playground", "zh": "3b · 提示实验场"},
    "play.intro": {
        "en": "Try a model **without training it**: classify with a prompt (zero- or few-shot), "
        "generate text, measure the prompt on the Data tab's test rows next to your "
        "fine-tuned runs, and see which words a fine-tuned classifier looks at.",
        "zh": "**无需训练**即可试用模型：用提示词做分类（零样本或少样本）、生成文本、在数据页的测试行上"
        "测量提示词并与微调运行对比，还可以查看微调分类器关注哪些词。",
    },
    "play.compare": {"en": "Compare with (optional)", "zh": "对比模型（可选）"},
    "play.compare.help": {
        "en": "A second model given the same input, shown side by side "
        "(e.g. a fine-tuned generation run next to its base model).",
        "zh": "对同一输入运行的第二个模型，并排显示（例如微调后的生成运行与其基础模型）。",
    },
    "play.compare.none": {"en": "— none —", "zh": "— 不对比 —"},
    "play.kind.decoder": {"en": "decoder: prompt and generate", "zh": "解码器：提示与生成"},
    "play.kind.encoder": {
        "en": "encoder: zero-shot by similarity",
        "zh": "编码器：按相似度零样本分类",
    },
    "play.where.bundled": {"en": "bundled", "zh": "内置"},
    "play.where.hub": {"en": "Hugging Face hub", "zh": "Hugging Face Hub"},
    "play.model.run": {"en": "fine-tuned run {label}", "zh": "微调运行 {label}"},
    "play.mode": {"en": "Mode", "zh": "模式"},
    "play.mode.classify": {"en": "Classify (zero- / few-shot)", "zh": "分类（零样本 / 少样本）"},
    "play.mode.generate": {"en": "Generate", "zh": "生成"},
    "play.input": {"en": "Input text", "zh": "输入文本"},
    "play.input.placeholder": {"en": "Type or paste a text…", "zh": "输入或粘贴一段文本…"},
    "play.template_hint": {
        "en": "In the template, `{text}` is the input, `{labels}` the label words (“a, b or c”) "
        "and `{examples}` the few-shot examples (each written with the example template, "
        "under Advanced).",
        "zh": "模板中 `{text}` 是输入文本，`{labels}` 是各标签的词（“a、b 或 c”），`{examples}` 是少样本示例"
        "（每条按“高级”中的示例模板书写）。",
    },
    "play.advanced": {"en": "Advanced prompt settings", "zh": "高级提示设置"},
    "play.encoder_note": {
        "en": "{name} is an encoder: it classifies by the embedding similarity between the text "
        "and each label's verbalizer words. The template, the few-shot examples and the "
        "chat template are not used.",
        "zh": "{name} 是编码器：它按文本与各标签词（verbalizer）的向量相似度分类，不使用模板、少样本示例和对话模板。",
    },
    "play.data_none": {
        "en": "No table in the Data tab: type the labels (comma-separated) to classify. Measure "
        "needs a labelled table: load one in the Data tab.",
        "zh": "数据页还没有表格：请在“标签”中输入标签（逗号分隔）后再分类。测量需要标注表格：请先在数据页加载。",
    },
    "play.data_line": {
        "en": "Data from the Data tab: **{name}** · labels {labels} · few-shot examples come "
        "from its {train} training rows · Measure scores the first {n} of its {test} test "
        "rows (those a fine-tuning run is tested on).",
        "zh": "数据来自数据页：**{name}** · 标签 {labels} · 少样本示例取自其 {train} 条训练行 · "
        "测量使用其 {test} 条测试行中的前 {n} 条（即微调运行的测试行）。",
    },
    "play.data_task": {
        "en": "The Data tab holds a “{task}” table; the Playground classifies and measures "
        "text-classification tables.",
        "zh": "数据页当前是“{task}”任务的表格；提示实验场只对文本分类表格做分类和测量。",
    },
    "play.data_error": {
        "en": "The Data tab's table cannot be used here:",
        "zh": "数据页的表格无法在此使用：",
    },
    "play.classify": {"en": "Classify", "zh": "分类"},
    "play.need_text": {"en": "Type a text first.", "zh": "请先输入文本。"},
    "play.need_labels": {
        "en": "Load a labelled table in the Data tab, or type at least two labels "
        "(comma-separated) in Labels.",
        "zh": "请在数据页加载标注表格，或在“标签”中输入至少两个标签（逗号分隔）。",
    },
    "play.failed": {"en": "Could not run:", "zh": "无法运行："},
    "play.predicted": {"en": "Predicted label", "zh": "预测标签"},
    "play.prior": {
        "en": "Calibration: before seeing a text, the prompt leans {prior}; that bias "
        "is divided out.",
        "zh": "校准：在看到文本之前，提示词就偏向 {prior}；这一偏差已被除去。",
    },
    "play.chart.empty": {
        "en": "Classify a text to see the label probabilities.",
        "zh": "对一段文本分类后，这里显示各标签的概率。",
    },
    "play.chart.calibrated": {"en": "calibrated", "zh": "校准后"},
    "play.chart.uncalibrated": {"en": "uncalibrated", "zh": "未校准"},
    "play.chart.probability": {"en": "probability", "zh": "概率"},
    "play.examples": {"en": "Few-shot examples put in the prompt", "zh": "放入提示中的少样本示例"},
    "play.col.text": {"en": "text", "zh": "文本"},
    "play.col.label": {"en": "label", "zh": "标签"},
    "play.prompt": {"en": "Exact prompt sent to the model", "zh": "发送给模型的完整提示"},
    "play.prompt_label": {"en": "Prompt · {model}", "zh": "提示 · {model}"},
    "play.prompt_encoder": {
        "en": "({model} is an encoder: no prompt; the text is compared with "
        "each label's verbalizer words.)",
        "zh": "（{model} 是编码器：不使用提示，而是把文本与各标签的词比较。）",
    },
    "play.measure_title": {
        "en": "**Measure** the prompt on the Data tab's test rows",
        "zh": "在数据页的测试行上**测量**提示词",
    },
    "play.measure": {"en": "Measure", "zh": "测量"},
    "play.measure_stop": {"en": "Stop", "zh": "停止"},
    "play.need_data": {
        "en": "Load a labelled table in the Data tab first: Measure scores the "
        "prompt on its test rows.",
        "zh": "请先在数据页加载标注表格：测量会在其测试行上为提示词打分。",
    },
    "play.loading": {"en": "Loading {model} and the data…", "zh": "正在加载 {model} 和数据…"},
    "play.progress": {"en": "{done} / {total} rows", "zh": "{done} / {total} 行"},
    "play.stopping": {"en": "Stopping after the current row…", "zh": "将在当前行结束后停止…"},
    "play.nothing_to_stop": {"en": "Nothing is being measured.", "zh": "当前没有正在进行的测量。"},
    "play.done": {
        "en": "Done: {n} rows in {seconds} s.",
        "zh": "完成：{n} 行，用时 {seconds} 秒。",
    },
    "play.stopped_early": {
        "en": "Stopped early: the scores are over the first {n} rows.",
        "zh": "已提前停止：得分只基于前 {n} 行。",
    },
    "play.m.accuracy": {"en": "Accuracy", "zh": "准确率"},
    "play.m.macro_f1": {"en": "Macro-F1", "zh": "宏平均 F1"},
    "play.m.uncalibrated": {"en": "Accuracy without calibration", "zh": "未校准时的准确率"},
    "play.m.rows": {"en": "Rows scored", "zh": "打分行数"},
    "play.m.speed": {"en": "Seconds per row", "zh": "每行秒数"},
    "play.m.setting": {"en": "Setting", "zh": "设置"},
    "play.comparison": {
        "en": "**Comparison**: every measurement on this data file (kept in the "
        "runs folder, so it survives a restart)",
        "zh": "**对比**：该数据文件上的全部测量（保存在运行目录中，重启后仍在）",
    },
    "play.col.name": {"en": "setting", "zh": "设置"},
    "play.col.kind": {"en": "kind", "zh": "类型"},
    "play.col.accuracy": {"en": "accuracy", "zh": "准确率"},
    "play.col.macro_f1": {"en": "macro-F1", "zh": "宏平均 F1"},
    "play.col.n": {"en": "rows", "zh": "行数"},
    "play.col.seconds": {"en": "s / row", "zh": "秒 / 行"},
    "play.col.time": {"en": "measured at", "zh": "测量时间"},
    "play.kind.prompt": {"en": "prompt", "zh": "提示词"},
    "play.kind.run": {"en": "fine-tuned run", "zh": "微调运行"},
    "play.run": {"en": "Fine-tuned classification run", "zh": "微调后的分类运行"},
    "play.run.help": {
        "en": "A finished text-classification run, scored on the same test rows.",
        "zh": "一个已完成的文本分类运行，在同一批测试行上打分。",
    },
    "play.add_run": {"en": "Add to comparison", "zh": "加入对比"},
    "play.need_run": {
        "en": "Pick a finished classification run first (train one in the Train tab).",
        "zh": "请先选择一个已完成的分类运行（可在训练页训练）。",
    },
    "play.run_added": {
        "en": "{name}: accuracy {accuracy}, macro-F1 {f1} on {n} rows.",
        "zh": "{name}：在 {n} 行上准确率 {accuracy}，宏平均 F1 {f1}。",
    },
    "play.run_note": {"en": "Note: {note}.", "zh": "注意：{note}。"},
    "play.gen_preset": {"en": "Generation preset", "zh": "生成预设"},
    "play.gen_preset.help": {
        "en": "A starting template; edit it below.",
        "zh": "起始模板，可在下方修改。",
    },
    "play.gen_preset.choice.free": {
        "en": "Free prompt (the text as is)",
        "zh": "自由提示（原样输入）",
    },
    "play.gen_preset.choice.ner-extraction": {"en": "Extract names", "zh": "抽取名称"},
    "play.gen_preset.choice.summarization": {"en": "Summarize", "zh": "摘要"},
    "play.gen_preset.choice.translation": {"en": "Translate into Spanish", "zh": "翻译成西班牙语"},
    "play.gen_preset.choice.qa": {"en": "Answer a question", "zh": "回答问题"},
    "play.gen_template": {"en": "Prompt template", "zh": "提示模板"},
    "play.gen_template.help": {
        "en": "{text} is replaced by the input text.",
        "zh": "{text} 会被替换为输入文本。",
    },
    "play.temperature": {"en": "Temperature", "zh": "温度"},
    "play.temperature.help": {
        "en": "0: greedy (the same output every time); higher: more varied.",
        "zh": "0：贪心解码（每次输出相同）；越高越多样。",
    },
    "play.top_p": {"en": "Top-p", "zh": "Top-p"},
    "play.top_p.help": {
        "en": "With temperature above 0: sample only from the most likely "
        "tokens whose probabilities add up to this.",
        "zh": "温度大于 0 时：只从累计概率达到该值的最可能词元中采样。",
    },
    "play.max_new_tokens": {"en": "Max new tokens", "zh": "最多生成词元数"},
    "play.max_new_tokens.help": {
        "en": "The output stops after this many tokens.",
        "zh": "生成这么多词元后停止。",
    },
    "play.stop_seqs": {"en": "Stop sequences", "zh": "停止序列"},
    "play.stop_seqs.help": {
        "en": "One per line; the output ends before the first one.",
        "zh": "每行一个；输出在第一个出现处之前结束。",
    },
    "play.gen_chat": {"en": "Use the chat template", "zh": "使用对话模板"},
    "play.gen_chat.help": {
        "en": "Wrap the prompt in the model's chat template when it has one "
        "(instruct models answer better).",
        "zh": "模型有对话模板时用它包装提示（指令模型回答得更好）。",
    },
    "play.generate": {"en": "Generate", "zh": "生成"},
    "play.gen_stop": {"en": "Stop", "zh": "停止"},
    "play.output": {"en": "Output", "zh": "输出"},
    "play.output_compare": {"en": "Output of the compared model", "zh": "对比模型的输出"},
    "play.gen_encoder": {
        "en": "{name} is an encoder; generation needs a decoder (e.g. smollm2-135m-instruct).",
        "zh": "{name} 是编码器；生成需要解码器（例如 smollm2-135m-instruct）。",
    },
    "play.generating": {"en": "Generating…", "zh": "正在生成…"},
    "play.gen_done": {"en": "Done in {seconds} s.", "zh": "完成，用时 {seconds} 秒。"},
    "play.gen_stopped": {"en": "Stopped.", "zh": "已停止。"},
    "play.explain_title": {
        "en": "Explain a fine-tuned classifier: which words push its prediction",
        "zh": "解释微调后的分类器：哪些词推动了它的预测",
    },
    "play.explain_run": {"en": "Fine-tuned classification run", "zh": "微调后的分类运行"},
    "play.explain_run.help": {
        "en": "A finished text-classification run (train one in the Train tab).",
        "zh": "一个已完成的文本分类运行（可在训练页训练）。",
    },
    "play.explain_text": {"en": "Text to explain", "zh": "要解释的文本"},
    "play.explain_method": {"en": "Method", "zh": "方法"},
    "play.explain_method.help": {
        "en": "Occlusion: how much the probability drops when a word is removed (any run). "
        "Integrated gradients: gradients through the word embeddings (transformers runs, "
        "not SetFit).",
        "zh": "遮挡法：去掉某个词后概率下降多少（适用于所有运行）。积分梯度：通过词向量的梯度归因"
        "（适用于 transformers 运行，不适用于 SetFit）。",
    },
    "play.method.occlusion": {"en": "Occlusion", "zh": "遮挡法"},
    "play.method.integrated-gradients": {"en": "Integrated gradients", "zh": "积分梯度"},
    "play.explain": {"en": "Explain", "zh": "解释"},
    "play.explained": {
        "en": "Predicted **{label}** with probability {probability}.",
        "zh": "预测为 **{label}**，概率 {probability}。",
    },
    "play.legend": {
        "en": "Red words push the prediction towards “{label}”, purple words against "
        "it; the stronger the colour, the bigger the effect.",
        "zh": "红色的词把预测推向“{label}”，紫色的词与之相反；颜色越深，影响越大。",
    },
    "play.highlight": {"en": "Word attributions", "zh": "词归因"},
    # ---- PromptConfig fields (the Playground form): label "prompt.<name>", help
    # "prompt.<name>.help" (English from the engine's metadata) ----------------------------
    "prompt.data": {"en": "Labelled data", "zh": "标注数据"},
    "prompt.data.help": {"zh": "用于测量的标注表格（CSV、TSV、JSONL、Parquet 或 Excel）。"},
    "prompt.text_column": {"en": "Text column", "zh": "文本列"},
    "prompt.text_column.help": {"zh": "包含文本的列（留空：自动推断）。"},
    "prompt.label_column": {"en": "Label column", "zh": "标签列"},
    "prompt.label_column.help": {"zh": "包含标签的列（留空：自动推断）。"},
    "prompt.limit": {"en": "Rows to measure", "zh": "测量行数"},
    "prompt.limit.help": {
        "zh": "最多在测试集的这么多行上测量（与同一随机种子的微调运行测试的行相同）。"
    },
    "prompt.backbone": {"en": "Model", "zh": "模型"},
    "prompt.backbone.help": {
        "zh": "解码器（在提示后为每个标签的词打分）、编码器（按与标签词的向量相似度零样本分类）、"
        "Hub 模型 ID、本地文件夹，或已完成的生成运行（run:文件夹）。"
    },
    "prompt.use_chat_template": {"en": "Use the chat template", "zh": "使用对话模板"},
    "prompt.use_chat_template.help": {
        "zh": "模型有对话模板时用它包装提示（标签词作为助手回答的开头）。默认关闭："
        "SmolLM2 作为普通续写给标签打分效果更好（实测 UCI 情感数据零样本 0.91 对 0.69）。"
    },
    "prompt.preset": {"en": "Preset", "zh": "预设"},
    "prompt.preset.help": {"zh": "任务的起始模板（模板为空时使用）。"},
    "prompt.preset.choice.general": {"en": "General classification", "zh": "通用分类"},
    "prompt.preset.choice.sentiment": {"en": "Sentiment", "zh": "情感"},
    "prompt.preset.choice.topic": {"en": "Topic", "zh": "主题"},
    "prompt.preset.choice.intent": {"en": "Intent", "zh": "意图"},
    "prompt.preset.choice.spam": {"en": "SMS spam", "zh": "垃圾短信"},
    "prompt.preset.choice.question-type": {"en": "Question type", "zh": "问题类型"},
    "prompt.template": {"en": "Prompt template", "zh": "提示模板"},
    "prompt.template.help": {
        "zh": "提示词：{text} 为输入文本，{labels} 为各标签的词，{examples} 为少样本示例。"
        "留空：使用预设的模板。"
    },
    "prompt.example_template": {"en": "Example template", "zh": "示例模板"},
    "prompt.example_template.help": {
        "zh": "每条少样本示例的写法，包含 {text} 和 {label}。留空：使用预设的。"
    },
    "prompt.labels": {"en": "Labels", "zh": "标签"},
    "prompt.labels.help": {"zh": "要预测的标签，逗号分隔（留空：数据中的全部标签）。"},
    "prompt.verbalizers": {"en": "Label words (verbalizers)", "zh": "标签词（verbalizer）"},
    "prompt.verbalizers.help": {
        "zh": '每个标签对应的词，可写成 JSON {"标签": ["词", ...]}，或每行'
        "“标签: 词, 词”。标签的得分是其任一词出现的可能性。留空：标签本身。"
    },
    "prompt.shots": {"en": "Shots (examples in the prompt)", "zh": "示例数（shots）"},
    "prompt.shots.help": {"zh": "放入提示中的训练集示例数（0 = 零样本）。"},
    "prompt.shot_selection": {"en": "Example selection", "zh": "示例选择方式"},
    "prompt.shot_selection.help": {
        "zh": "如何选择示例：“随机”（每个随机种子抽一次）、“均衡”（每个标签数量相同）"
        "或“相似”（按 MiniLM 向量与每条输入最相近）。"
    },
    "prompt.shot_selection.choice.random": {"en": "Random", "zh": "随机"},
    "prompt.shot_selection.choice.balanced": {
        "en": "Balanced (same number per label)",
        "zh": "均衡（每个标签数量相同）",
    },
    "prompt.shot_selection.choice.similar": {
        "en": "Most similar to the input",
        "zh": "与输入最相似",
    },
    "prompt.calibrate": {"en": "Calibrate", "zh": "校准"},
    "prompt.calibrate.help": {"zh": "校准：估计提示词对各标签的偏好并将其除去。"},
    "prompt.calibration": {"en": "Calibration method", "zh": "校准方法"},
    "prompt.calibration.help": {
        "zh": "在哪里测量偏差：用“无内容”输入代替文本（上下文校准，Zhao 等 2021），"
        "或“领域”：32 条随机训练文本的平均预测，不使用其标签（Fei 等 2023）。"
    },
    "prompt.calibration.choice.content-free": {
        "en": "Content-free inputs (N/A, empty, [MASK])",
        "zh": "无内容输入（N/A、空、[MASK]）",
    },
    "prompt.calibration.choice.domain": {
        "en": "Domain texts (random training texts)",
        "zh": "领域文本（随机训练文本）",
    },
    "prompt.content_free": {"en": "Content-free inputs", "zh": "无内容输入"},
    "prompt.content_free.help": {"zh": "校准输入，用 ';' 分隔（两个 ';' 之间为空表示空文本）。"},
    "prompt.embedder": {"en": "Embedder for similar examples", "zh": "相似示例的向量模型"},
    "prompt.embedder.help": {"zh": "用其向量挑选“相似”示例的编码器。"},
    "prompt.seed": {"en": "Seed", "zh": "随机种子"},
    "prompt.seed.help": {"zh": "用于数据划分和示例抽取的随机种子。"},
    "prompt.output_dir": {"en": "Runs folder", "zh": "运行目录"},
    "prompt.output_dir.help": {
        "zh": "运行目录；测量记录保存在 <目录>/playground/measurements.jsonl。"
    },
    # ---- AutoML tab (hyper-parameter search with Optuna) ----------------------------------
    "tab.automl": {"en": "2b · AutoML", "zh": "2b · 自动调参"},
    "task.hpo": {"en": "AutoML search", "zh": "自动调参搜索"},  # a search in Runs / pickers
    "automl.intro": {
        "en": "**Let the studio tune the training settings.** Every trial trains the Data and "
        "Train tabs' configuration with a few settings changed; Optuna picks the next "
        "values from the results so far and stops weak trials early. The best trial is "
        "saved as a normal run you can evaluate.",
        "zh": "**让工作室替你调训练参数。** 每次试验都用“数据”和“训练”页的配置训练，只改动其中几个设置；"
        "Optuna 根据已有结果选择下一组取值，并提前停止表现差的试验。最佳试验会保存为普通运行，可以直接评估。",
    },
    "automl.need_data": {
        "en": "Choose a labelled table in the Data tab first.",
        "zh": "请先在“数据”页选择一个标注表格。",
    },
    "automl.base": {"en": "Every trial starts from:", "zh": "每次试验的基础配置："},
    "automl.base.columns": {
        "en": "text <code>{text}</code>, label <code>{label}</code>",
        "zh": "文本列 <code>{text}</code>，标签列 <code>{label}</code>",
    },
    "automl.base.steps": {"en": "at most {steps} steps", "zh": "最多 {steps} 步"},
    "automl.base.epochs": {"en": "{epochs} epochs", "zh": "{epochs} 轮"},
    "automl.base.rows": {"en": "at most {rows} rows", "zh": "最多 {rows} 行"},
    "automl.base.all_rows": {"en": "all rows", "zh": "全部行"},
    "automl.advanced": {"en": "Advanced search settings", "zh": "高级搜索设置"},
    "automl.space_title": {"en": "#### Search space", "zh": "#### 搜索空间"},
    "automl.space_hint": {
        "en": "One row per setting: **float** or **int** between low and high (log scale: "
        "sampled evenly in powers of ten), or **categorical** from the comma-separated "
        "choices. Untick *include* to keep the Train tab's value. LoRA settings are "
        "sampled for LoRA trials only.",
        "zh": "每行一个设置：**float**（小数）或 **int**（整数）在下限与上限之间取值（对数刻度：按数量级均匀采样），"
        "或 **categorical**（类别）从逗号分隔的可选值中选择。取消勾选“参与搜索”则沿用训练页的值。"
        "LoRA 相关设置只在 LoRA 试验中采样。",
    },
    "automl.space": {"en": "Search space", "zh": "搜索空间"},
    "automl.col.setting": {"en": "setting", "zh": "设置"},
    "automl.col.type": {"en": "type", "zh": "类型"},
    "automl.col.low": {"en": "low", "zh": "下限"},
    "automl.col.high": {"en": "high", "zh": "上限"},
    "automl.col.log": {"en": "log scale", "zh": "对数刻度"},
    "automl.col.choices": {"en": "choices", "zh": "可选值"},
    "automl.col.include": {"en": "include", "zh": "参与搜索"},
    "automl.col.trial": {"en": "trial", "zh": "试验"},
    "automl.col.state": {"en": "state", "zh": "状态"},
    "automl.col.value": {"en": "validation {metric}", "zh": "验证集 {metric}"},
    "automl.col.value_plain": {"en": "value", "zh": "取值"},
    "automl.col.seconds": {"en": "seconds", "zh": "秒"},
    "automl.suggest": {"en": "Suggest from the Auto plan", "zh": "根据自动方案生成"},
    "automl.cannot_suggest": {"en": "No suggestion:", "zh": "无法生成搜索空间："},
    "automl.duplicate": {
        "en": "{name} appears twice in the search space.",
        "zh": "{name} 在搜索空间中出现了两次。",
    },
    "automl.first": {
        "en": "<strong>Trial 0 trains the Auto plan</strong> (the search starts from the default):",
        "zh": "<strong>第 0 次试验训练自动方案</strong>（搜索从默认配置开始）：",
    },
    "automl.start": {"en": "Start search", "zh": "开始搜索"},
    "automl.stop": {"en": "Stop after this trial", "zh": "本次试验后停止"},
    "automl.started": {"en": "Search {id} started.", "zh": "搜索 {id} 已开始。"},
    "automl.queued": {
        "en": "Search {id} queued (position {position}).",
        "zh": "搜索 {id} 已排队（第 {position} 位）。",
    },
    "automl.origin.plan": {
        "en": "Trial 0 trains the Auto plan.",
        "zh": "第 0 次试验训练自动方案。",
    },
    "automl.origin.custom": {
        "en": "Edited search space: Optuna samples every trial.",
        "zh": "搜索空间已修改：每次试验都由 Optuna 采样。",
    },
    "automl.stopping": {
        "en": "Stopping after the current trial: it finishes and counts, then no new trial starts.",
        "zh": "将在当前试验结束后停止：当前试验会跑完并计入结果，之后不再开始新的试验。",
    },
    "automl.stopped_queued": {
        "en": "The search was still queued: it will not start.",
        "zh": "该搜索仍在排队：不会再开始。",
    },
    "automl.not_active": {
        "en": "This search is not running any more.",
        "zh": "这个搜索已经不在运行了。",
    },
    "automl.no_search": {
        "en": "No search yet: set the budget, check the search space and press Start search.",
        "zh": "还没有搜索：设置预算、检查搜索空间，然后点击“开始搜索”。",
    },
    "automl.status.queued": {
        "en": "Queued (position {position}).",
        "zh": "排队中（第 {position} 位）。",
    },
    "automl.status.preparing": {"en": "Preparing the search…", "zh": "正在准备搜索…"},
    "automl.status.trial": {"en": "trial {k} of {n}", "zh": "第 {k} / {n} 次试验"},
    "automl.status.step": {"en": "step {step}/{total}", "zh": "第 {step}/{total} 步"},
    "automl.status.stopping": {"en": "stopping after this trial", "zh": "本次试验后停止"},
    "automl.status.elapsed": {"en": "elapsed {time}", "zh": "已用时 {time}"},
    "automl.status.budget": {"en": "time budget {minutes} min", "zh": "时间预算 {minutes} 分钟"},
    "automl.status.done": {
        "en": "{n} trials: {complete} complete, {pruned} pruned, {failed} failed",
        "zh": "共 {n} 次试验：{complete} 次完成，{pruned} 次被剪枝，{failed} 次失败",
    },
    "automl.status.done_one": {
        "en": "1 trial: {complete} complete, {pruned} pruned, {failed} failed",
        "zh": "共 1 次试验：{complete} 次完成，{pruned} 次被剪枝，{failed} 次失败",
    },
    "automl.status.took": {"en": "took {time}", "zh": "用时 {time}"},
    "automl.status.best": {
        "en": "Best so far: validation {metric} {value} (trial {number})",
        "zh": "目前最佳：验证集 {metric} {value}（第 {number} 次试验）",
    },
    "automl.dir.maximize": {"en": "maximize {metric}", "zh": "最大化 {metric}"},
    "automl.dir.minimize": {"en": "minimize {metric}", "zh": "最小化 {metric}"},
    "automl.interrupted": {
        "en": "The server stopped during this search. Its finished trials are kept in the "
        "study {study}: enter that study name under Advanced search settings and start "
        "again to continue it.",
        "zh": "搜索进行中服务器停止了。已完成的试验保存在研究 {study} 中：在“高级搜索设置”里填入该研究名称，"
        "再次开始即可继续。",
    },
    "automl.state.complete": {"en": "complete", "zh": "完成"},
    "automl.state.pruned": {"en": "pruned", "zh": "已剪枝"},
    "automl.state.fail": {"en": "failed", "zh": "失败"},
    "automl.state.running": {"en": "running", "zh": "运行中"},
    "automl.state.waiting": {"en": "waiting", "zh": "等待中"},
    "automl.state.interrupted": {"en": "interrupted", "zh": "已中断"},
    "automl.table": {"en": "Trials", "zh": "试验列表"},
    "automl.charts_title": {"en": "#### How the search went", "zh": "#### 搜索过程"},
    "automl.fig.history": {"en": "Optimization history", "zh": "优化历史"},
    "automl.fig.best": {"en": "best so far", "zh": "目前最佳"},
    "automl.fig.infeasible": {"en": "infeasible", "zh": "不可行"},
    "automl.fig.parallel": {
        "en": "Settings of every trial (parallel coordinates)",
        "zh": "各试验的设置（平行坐标图）",
    },
    "automl.fig.importances": {
        "en": "Which settings mattered (importances)",
        "zh": "哪些设置影响最大（重要性）",
    },
    "automl.fig.importance": {"en": "importance", "zh": "重要性"},
    "automl.fig.wait_history": {
        "en": "The optimization history appears after the first finished trial.",
        "zh": "第一次试验完成后，这里会显示优化历史。",
    },
    "automl.fig.wait_two": {
        "en": "Appears after two finished trials.",
        "zh": "两次试验完成后显示。",
    },
    "automl.fig.no_importances": {
        "en": "Importances need finished trials whose settings differ.",
        "zh": "计算重要性需要设置各不相同的已完成试验。",
    },
    "automl.pick": {"en": "Trial curves", "zh": "试验曲线"},
    "automl.pick.help": {
        "en": "Loss and validation scores of one trial.",
        "zh": "某一次试验的损失和验证集得分。",
    },
    "automl.pick.item": {
        "en": "Trial {number} · {state} · {value}",
        "zh": "第 {number} 次试验 · {state} · {value}",
    },
    "automl.curves_wait": {
        "en": "Pick a trial to see its training curves.",
        "zh": "选择一次试验以查看其训练曲线。",
    },
    "automl.best": {
        "en": "Best: trial {number} · validation {metric} {value}",
        "zh": "最佳：第 {number} 次试验 · 验证集 {metric} {value}",
    },
    "automl.best_params": {"en": "Settings: {params}", "zh": "设置：{params}"},
    "automl.best_test": {"en": "Test: {scores}", "zh": "测试集：{scores}"},
    "automl.best_saved": {
        "en": "Saved as the run {id} (with its model; listed in Runs).",
        "zh": "已保存为运行 {id}（包含模型；可在“运行记录”中找到）。",
    },
    "automl.no_complete": {
        "en": "No trial completed, so there is no best run.",
        "zh": "没有完成的试验，因此没有最佳运行。",
    },
    "automl.open_best": {"en": "Open the best run in Evaluate", "zh": "在评估页打开最佳运行"},
    "automl.no_best": {
        "en": "There is no best run with a model yet.",
        "zh": "还没有带模型的最佳运行。",
    },
    # ---- HpoConfig search fields: label "hpo.<name>", help "hpo.<name>.help" (English from
    # the engine's metadata) -----------------------------------------------------------------
    "hpo.kind": {"en": "Run kind", "zh": "运行类型"},
    "hpo.kind.help": {"zh": "运行文件夹里保存的内容。"},
    "hpo.trials": {"en": "Trials", "zh": "试验次数"},
    "hpo.trials.help": {"zh": "本次搜索要运行的试验数（每次试验训练一组配置）。"},
    "hpo.timeout_minutes": {"en": "Time budget (minutes)", "zh": "时间预算（分钟）"},
    "hpo.timeout_minutes.help": {
        "zh": "超过这么多分钟后不再开始新的试验（0 = 不限；正在运行的试验会跑完）。"
    },
    "hpo.objective_metric": {"en": "Objective metric", "zh": "优化目标指标"},
    "hpo.objective_metric.help": {
        "zh": "要优化的验证集指标（留空：任务的主指标，例如 macro_f1）。"
    },
    "hpo.direction": {"en": "Direction", "zh": "优化方向"},
    "hpo.direction.help": {
        "zh": "最大化还是最小化该指标（“auto”：损失或困惑度取最小，其余取最大）。"
    },
    "hpo.direction.choice.auto": {"en": "auto", "zh": "自动"},
    "hpo.direction.choice.maximize": {"en": "maximize", "zh": "最大化"},
    "hpo.direction.choice.minimize": {"en": "minimize", "zh": "最小化"},
    "hpo.pruner": {"en": "Pruner", "zh": "剪枝策略"},
    "hpo.pruner.help": {
        "zh": "根据中间验证得分提前停止较弱的试验：“median”（低于之前试验在同一步的中位数）、"
        "“hyperband” 或 “none”。"
    },
    "hpo.pruner.choice.median": {"en": "median", "zh": "中位数"},
    "hpo.pruner.choice.hyperband": {"en": "Hyperband", "zh": "Hyperband（逐级淘汰）"},
    "hpo.pruner.choice.none": {
        "en": "none (every trial trains fully)",
        "zh": "不剪枝（每次试验完整训练）",
    },
    "hpo.search_space": {"en": "Search space (JSON)", "zh": "搜索空间（JSON）"},
    "hpo.search_space.help": {
        "zh": 'JSON {设置: {"type": "float"|"int"|"categorical", '
        '"low", "high", "log", "choices"}}（留空：围绕自动方案的默认搜索空间）。'
    },
    "hpo.storage": {"en": "Study storage", "zh": "研究存储"},
    "hpo.storage.help": {
        "zh": "所有工作进程共享的 Optuna 存储地址（留空：sqlite:///<输出目录>/hpo.db；"
        "PostgreSQL：postgresql://...）。"
    },
    "hpo.study_name": {"en": "Study name", "zh": "研究名称"},
    "hpo.study_name.help": {
        "zh": "要创建或继续的研究（留空：以本次搜索的运行文件夹命名的新研究）。"
    },
    "hpo.keep_trial_models": {"en": "Keep every trial's model", "zh": "保留每次试验的模型"},
    "hpo.keep_trial_models.help": {
        "zh": "保留每次试验的模型（默认：只保留最佳试验的模型，以节省磁盘空间）。"
    },
    # ---- Export tab (ui/export_tab.py) ------------------------------------------------------
    "warm_start": {"en": "Warm start from run", "zh": "从已有运行热启动"},
    "warm_start.help": {
        "zh": "重新训练：从一个已完成的文本分类运行的微调模型（其文件夹或 ID）开始，而不是从原始基础模型开始，"
        "例如加入新标注的行；之后新旧模型会在同一测试集上比较。"
    },
    "tab.export": {"en": "3c · Export", "zh": "3c · 导出"},
    "export.intro": {
        "en": "Turn a finished run into something people can use: export it (adapter, merged, "
        "int8, ONNX, pruned) and see each artefact measured against the run's own model "
        "on its test split, download it with its model card or push it to the Hub, label "
        "a whole file, retrain it on newly labelled rows, or serve it over HTTP.",
        "zh": "把一个已完成的运行变成可以交付使用的模型：导出（适配器、合并、int8、ONNX、剪枝），并在其测试集上与运行本身的模型逐项比较；"
        "连同模型卡一起下载或推送到 Hub；批量标注整个文件；用新标注的数据重新训练；或通过 HTTP 提供服务。",
    },
    "export.run": {"en": "Run", "zh": "运行"},
    "export.run.help": {
        "en": "Finished runs with a model (text-classification runs can be "
        "exported; every run can label a file and be served).",
        "zh": "已完成且带模型的运行（文本分类运行可以导出；所有运行都可以批量预测和提供服务）。",
    },
    "export.pick": {"en": "Pick a finished run above.", "zh": "请先在上方选择一个已完成的运行。"},
    "export.unknown_run": {
        "en": "No run called {id}: press Refresh and pick one from the list.",
        "zh": "没有名为 {id} 的运行：请点击“刷新”后从列表中选择。",
    },
    "export.unknown_format": {
        "en": "Unknown export format {fmt}; pick from {formats}.",
        "zh": "未知的导出格式 {fmt}；可选：{formats}。",
    },
    "export.no_runs": {
        "en": "No finished run yet: train one in the Train tab first.",
        "zh": "还没有已完成的运行：请先在“训练”页训练一个。",
    },
    "export.note": {
        "en": "{name}: {backbone} · {strategy} · test accuracy {accuracy}. Pick "
        "formats and press Export: each artefact is measured against the run's "
        "own model on the test split.",
        "zh": "{name}：{backbone} · {strategy} · 测试准确率 {accuracy}。选择格式后点击“导出”："
        "每个导出产物都会在测试集上与运行本身的模型比较。",
    },
    "export.not_exportable": {
        "en": "{reason} Batch prediction and serving below still work with the run itself.",
        "zh": "{reason} 下方的批量预测和模型服务仍可直接使用该运行本身。",
    },
    "export.formats": {"en": "Formats", "zh": "导出格式"},
    "export.formats.help": {
        "en": "Several at once: each is exported and measured in turn.",
        "zh": "可以多选：依次导出并逐个测量。",
    },
    "export.fmt.adapter": {"en": "adapter", "zh": "适配器（adapter）"},
    "export.fmt.merged": {"en": "merged", "zh": "合并模型（merged）"},
    "export.fmt.int8": {"en": "int8", "zh": "int8 量化"},
    "export.fmt.onnx": {"en": "ONNX", "zh": "ONNX"},
    "export.fmt.pruned": {"en": "pruned", "zh": "剪枝（pruned）"},
    "export.fmt.pytorch": {"en": "the run's model (PyTorch)", "zh": "运行本身的模型（PyTorch）"},
    "export.help.adapter": {
        "en": "The trained adapter only (small); loads on the original backbone with peft.",
        "zh": "只包含训练得到的适配器（很小）；用 peft 加载到原始基础模型上。",
    },
    "export.help.merged": {
        "en": "One full model with the adapter merged in (safetensors); loads with transformers.",
        "zh": "把适配器合并进基础模型后的完整模型（safetensors）；可直接用 transformers 加载。",
    },
    "export.help.int8": {
        "en": "Linear layers quantized to int8 for fast CPU inference (smaller, "
        "slightly less exact).",
        "zh": "线性层量化为 int8，CPU 推理更快（体积更小，精度略有损失）。",
    },
    "export.help.onnx": {
        "en": "ONNX graph for onnxruntime (any language, no PyTorch needed).",
        "zh": "供 onnxruntime 使用的 ONNX 计算图（任何编程语言均可，无需 PyTorch）。",
    },
    "export.help.pruned": {
        "en": "The smallest-magnitude weights set to zero (sparsity target); compresses well.",
        "zh": "把绝对值最小的权重置零（按目标稀疏度）；压缩效果好。",
    },
    "export.sparsity": {"en": "Sparsity (pruned)", "zh": "稀疏度（剪枝）"},
    "export.sparsity.help": {
        "en": "Share of the encoder's weights set to zero; 0.3-0.5 keeps most of the accuracy.",
        "zh": "编码器权重中被置零的比例；0.3–0.5 通常能保留大部分准确率。",
    },
    "export.button": {"en": "Export", "zh": "导出"},
    "export.need_formats": {
        "en": "Tick at least one format to export.",
        "zh": "请至少勾选一种导出格式。",
    },
    "export.progress": {"en": "{fmt} ({i} of {n}): {step}", "zh": "{fmt}（第 {i}/{n} 个）：{step}"},
    "export.step.write": {"en": "writing the artefact", "zh": "正在写出导出产物"},
    "export.step.original": {"en": "measuring the run's own model", "zh": "正在测量运行本身的模型"},
    "export.step.measure": {"en": "measuring the artefact", "zh": "正在测量导出产物"},
    "export.step.wait": {"en": "waiting", "zh": "等待中"},
    "export.done_one": {
        "en": "{fmt}: exported in {seconds} s to {path}",
        "zh": "{fmt}：已导出（用时 {seconds} 秒），位置 {path}",
    },
    "export.failed_one": {"en": "{fmt}: {error}", "zh": "{fmt}：{error}"},
    "export.running_one": {"en": "{fmt}: exporting…", "zh": "{fmt}：正在导出…"},
    "export.summary_ok": {"en": "Exported {n} of {total}.", "zh": "已导出 {n}/{total} 个。"},
    "export.table": {
        "en": "The run's model and its artefacts (measured on the test split, on this CPU)",
        "zh": "运行本身的模型及其导出产物（在测试集上、本机 CPU 测量）",
    },
    "export.col.format": {"en": "format", "zh": "格式"},
    "export.col.size": {"en": "size (MB)", "zh": "模型大小（MB）"},
    "export.col.folder": {"en": "download (MB)", "zh": "下载大小（MB）"},
    "export.col.batched": {"en": "ms / example (batched)", "zh": "毫秒/条（批量）"},
    "export.col.single": {"en": "ms (one text)", "zh": "毫秒（单条）"},
    "export.col.accuracy": {"en": "accuracy", "zh": "准确率"},
    "export.col.macro_f1": {"en": "macro-F1", "zh": "宏平均 F1"},
    "export.col.agreement": {"en": "agreement (%)", "zh": "与原模型一致（%）"},
    "export.col.speedup": {"en": "speed-up", "zh": "加速比"},
    "export.none_yet": {
        "en": "No export of this run yet: its own model is shown alone (latency "
        "is measured at the first export).",
        "zh": "该运行还没有导出：表中只有运行本身的模型（延迟在第一次导出时测量）。",
    },
    "export.latency_note": {
        "en": "Times are this machine's CPU; on a small test split they are noisy.",
        "zh": "耗时为本机 CPU 上的测量值；测试集很小时波动较大。",
    },
    "export.v.faster": {"en": "{x}× faster", "zh": "快 {x} 倍"},
    "export.v.slower": {"en": "{x}× slower", "zh": "慢 {x} 倍"},
    "export.v.same_speed": {"en": "about as fast", "zh": "速度相当"},
    "export.v.not_measured": {
        "en": "not measured yet (written for a retrain or by the server): "
        "export it again here to compare it",
        "zh": "尚未测量（为重新训练或由服务自动生成）：在这里重新导出即可比较",
    },
    "export.v.less_acc": {"en": "{x} points less accurate", "zh": "准确率低 {x} 个百分点"},
    "export.v.more_acc": {"en": "{x} points more accurate", "zh": "准确率高 {x} 个百分点"},
    "export.v.same_acc": {"en": "same accuracy", "zh": "准确率相同"},
    "export.v.no_acc": {
        "en": "accuracy not measured (the run's data file is gone)",
        "zh": "未测量准确率（运行的数据文件已不存在）",
    },
    "export.v.smaller": {"en": "{x}% smaller", "zh": "体积小 {x}%"},
    "export.v.larger": {"en": "{x}% larger", "zh": "体积大 {x}%"},
    "export.v.same_size": {"en": "about the same size", "zh": "体积相当"},
    "export.v.agree": {
        "en": "agrees with the run's model on {x}% of the test texts",
        "zh": "在 {x}% 的测试文本上与原模型预测一致",
    },
    "export.v.adapter": {
        "en": "needs the base model {backbone} to load",
        "zh": "加载时需要基础模型 {backbone}",
    },
    "export.v.sparsity": {"en": "{x}% of the weights are zero", "zh": "{x}% 的权重为零"},
    "export.verdicts": {"en": "In plain words", "zh": "简单来说"},
    "export.verdicts_n": {
        "en": "In plain words (measured on {n} test texts):",
        "zh": "简单来说（在 {n} 条测试文本上测量）：",
    },
    "export.artefact": {"en": "Artefact", "zh": "导出产物"},
    "export.artefact.help": {
        "en": "The model card, the zip and the Hub push below are for this artefact.",
        "zh": "下方的模型卡、zip 下载和 Hub 推送都针对这个导出产物。",
    },
    "export.card_title": {
        "en": "#### Model card, download and Hub",
        "zh": "#### 模型卡、下载与 Hub",
    },
    "export.card_wait": {
        "en": "*Export the run, then pick an artefact to see its model card.*",
        "zh": "*先导出运行，再选择一个导出产物查看其模型卡。*",
    },
    "export.card_path": {"en": "Model card of `{path}`", "zh": "模型卡：`{path}`"},
    "export.no_artefact": {
        "en": "Pick an exported artefact first (export the run if the list is empty).",
        "zh": "请先选择一个导出产物（列表为空时请先导出）。",
    },
    "export.zip": {"en": "Download zip", "zh": "下载 zip"},
    "export.zip_file": {"en": "Zip of the artefact", "zh": "导出产物的 zip 文件"},
    "export.zip_ok": {"en": "{name} is ready ({size} MB).", "zh": "{name} 已生成（{size} MB）。"},
    "export.hub_repo": {"en": "Hub repo id", "zh": "Hub 仓库 ID"},
    "export.hub_repo.ph": {"en": "your-name/model-name", "zh": "用户名/模型名"},
    "export.hub_token": {"en": "Access token (write)", "zh": "访问令牌（需写权限）"},
    "export.hub_token.help": {
        "en": "Used for this upload only: never saved, never logged; the "
        "box is cleared afterwards.",
        "zh": "只用于这一次上传：不会保存，也不会写入日志；上传后输入框会被清空。",
    },
    "export.hub_private": {"en": "Private repo", "zh": "私有仓库"},
    "export.hub_push": {"en": "Push to Hub", "zh": "推送到 Hub"},
    "export.hub_ok": {"en": "Uploaded to {url}", "zh": "已上传到 {url}"},
    "export.batch_title": {
        "en": "#### Label a whole file (batch prediction)",
        "zh": "#### 批量预测整个文件",
    },
    "export.batch_file": {
        "en": "Table to label (CSV, TSV, JSONL, Parquet or Excel)",
        "zh": "要标注的表格（CSV、TSV、JSONL、Parquet 或 Excel）",
    },
    "export.source": {"en": "Predict with", "zh": "使用的模型"},
    "export.source.help": {
        "en": "The run's own model or one of its exports.",
        "zh": "运行本身的模型或它的某个导出产物。",
    },
    "export.text_column": {"en": "Text column", "zh": "文本列"},
    "export.text_column.help": {
        "en": "Empty: the training data's text column if the file has "
        "it, else the column with the longest texts.",
        "zh": "留空：若文件中有训练数据的文本列就用它，否则用文本最长的一列。",
    },
    "export.auto_column": {"en": "(automatic)", "zh": "（自动）"},
    "export.batch_button": {"en": "Predict the file", "zh": "预测整个文件"},
    "export.batch_stop": {"en": "Stop", "zh": "停止"},
    "export.batch_stopping": {
        "en": "Stopping after the current chunk…",
        "zh": "将在当前这一批完成后停止…",
    },
    "export.batch_nothing": {
        "en": "No batch prediction is running.",
        "zh": "当前没有正在进行的批量预测。",
    },
    "export.upload_first": {"en": "Upload a table to label first.", "zh": "请先上传要标注的表格。"},
    "export.predicting": {
        "en": "Predicting… {done} of {total} rows",
        "zh": "正在预测… 已完成 {done}/{total} 行",
    },
    "export.batch_ok": {
        "en": "Predicted {rows} rows of {name} with {source}.",
        "zh": "已用 {source} 预测 {name} 的 {rows} 行。",
    },
    "export.batch_stopped": {
        "en": "Stopped after {rows} of {total} rows; the file holds those rows.",
        "zh": "在 {total} 行中的第 {rows} 行后停止；结果文件只包含这些行。",
    },
    "export.batch_escaped": {
        "en": "Cells that a spreadsheet would run as a formula (=, +, -, @) "
        "start with an apostrophe in the CSV.",
        "zh": "CSV 中会被电子表格当作公式执行的单元格（以 =、+、-、@ 开头）前面加了一个单引号。",
    },
    "export.batch_download": {"en": "Predictions (CSV)", "zh": "预测结果（CSV）"},
    "export.batch_preview": {"en": "First rows", "zh": "前几行"},
    "export.batch_counts": {"en": "Predicted labels", "zh": "预测标签分布"},
    "export.col.label": {"en": "label", "zh": "标签"},
    "export.col.rows": {"en": "rows", "zh": "行数"},
    "export.col.share": {"en": "share", "zh": "占比"},
    "export.unknown_source": {
        "en": "{source} is not an export of this run; export it first or "
        "predict with the run's model.",
        "zh": "{source} 不是该运行的导出产物；请先导出，或使用运行本身的模型。",
    },
    "export.retrain_title": {
        "en": "#### Retrain on new data (warm start)",
        "zh": "#### 用新数据重新训练（热启动）",
    },
    "export.retrain_hint": {
        "en": "Upload newly labelled rows (same text and label columns as "
        "the run's data). The new run starts from this run's fine-tuned "
        "model with the same settings; old and new are then compared on "
        "the new test split and on the old one (did it forget?).",
        "zh": "上传新标注的数据（文本列和标签列与原运行的数据相同）。新运行以本运行微调后的模型为起点、沿用相同设置；"
        "结束后在新的测试集和旧的测试集上比较新旧模型（是否遗忘了原有知识？）。",
    },
    "export.retrain_file": {"en": "Newly labelled table", "zh": "新标注的表格"},
    "export.retrain_button": {"en": "Retrain from this run", "zh": "从此运行重新训练"},
    "export.retrain_started": {
        "en": "Retraining started as run {id} (from {old}).",
        "zh": "重新训练已开始，新运行为 {id}（来自 {old}）。",
    },
    "export.retrain_queued": {
        "en": "Retraining queued as run {id} (position {position}).",
        "zh": "重新训练已排队，新运行为 {id}（第 {position} 位）。",
    },
    "export.retrain_columns": {
        "en": "Columns: text {text}, label {label}.",
        "zh": "列：文本 {text}，标签 {label}。",
    },
    "export.retrain_guessed": {"en": "guessed from the file", "zh": "根据文件自动推断"},
    "export.retrain_none": {
        "en": "No retraining of this run yet.",
        "zh": "该运行还没有重新训练过。",
    },
    "export.retrain_open": {
        "en": "Open in the Train tab (live curves)",
        "zh": "在“训练”页打开（实时曲线）",
    },
    "export.retrain_table": {"en": "Old vs new model", "zh": "旧模型与新模型对比"},
    "export.rt.split": {"en": "test rows", "zh": "测试集"},
    "export.rt.n": {"en": "rows", "zh": "行数"},
    "export.rt.old_acc": {"en": "old model accuracy", "zh": "旧模型准确率"},
    "export.rt.new_acc": {"en": "new model accuracy", "zh": "新模型准确率"},
    "export.rt.change": {"en": "change (points)", "zh": "变化（百分点）"},
    "export.rt.old_f1": {"en": "old macro-F1", "zh": "旧模型宏平均 F1"},
    "export.rt.new_f1": {"en": "new macro-F1", "zh": "新模型宏平均 F1"},
    "export.rt.new_split": {"en": "new data's test split", "zh": "新数据的测试集"},
    "export.rt.old_split": {"en": "old run's test split", "zh": "原运行的测试集"},
    "export.rt.better": {
        "en": "On the new data the retrained model scores {new} vs {old} for the "
        "old one ({delta} points).",
        "zh": "在新数据上，重新训练的模型得分 {new}，旧模型 {old}（{delta} 个百分点）。",
    },
    "export.rt.kept": {
        "en": "On the old test split it scores {new} vs {old}: it kept what the old model knew.",
        "zh": "在旧测试集上得分 {new}，旧模型 {old}：原有知识得到了保留。",
    },
    "export.rt.forgot": {
        "en": "On the old test split it scores {new} vs {old}: it forgot part of "
        "what the old model knew (mix some old rows into the new file).",
        "zh": "在旧测试集上得分 {new}，旧模型 {old}：遗忘了部分原有知识（可在新文件中混入一些旧数据）。",
    },
    "export.rt.no_old": {
        "en": "The old run's data file is gone, so only the new test split is compared.",
        "zh": "原运行的数据文件已不存在，因此只比较新的测试集。",
    },
    "export.rt.wait": {
        "en": "The comparison appears when the new run has finished.",
        "zh": "新运行结束后会在这里显示对比。",
    },
    "export.serve_title": {"en": "#### Serve it over HTTP", "zh": "#### 通过 HTTP 提供服务"},
    "export.serve_hint": {
        "en": "Run this in a terminal in the Adaptune folder (it keeps running; "
        "Ctrl+C stops it). POST /predict takes up to 256 texts at once; "
        "GET /health and GET /metrics (Prometheus) are there too.",
        "zh": "在 Adaptune 文件夹的终端中运行（会一直运行，按 Ctrl+C 停止）。POST /predict 一次最多接受 256 条文本；"
        "另有 GET /health 和 GET /metrics（Prometheus 格式）。",
    },
    "export.serve_artefact": {"en": "Serve", "zh": "提供服务的模型"},
    "export.serve_artefact.help": {
        "en": "The run's own model, or an export (made on first use if missing).",
        "zh": "运行本身的模型或某种导出格式（若尚未导出，会在首次启动时自动导出）。",
    },
    "export.serve_key": {"en": "Require an API key", "zh": "需要 API 密钥"},
    "export.serve_cmd": {"en": "Start the server", "zh": "启动服务"},
    "export.serve_curl": {"en": "Ask it (curl)", "zh": "调用示例（curl）"},
    # ---- several users, the queue, resume, delete, privacy ----------------------------------
    "app.signed_in": {"en": "Signed in as **{user}**", "zh": "当前登录用户：**{user}**"},
    # ---- signing in, what each user may see (engine.runs.RunView, ui/web.py) -----------------
    "login.title": {"en": "Sign in", "zh": "登录"},
    "login.hint": {
        "en": "This studio is shared: sign in to see your own runs.",
        "zh": "这个工作室由多人共用：请登录以查看你自己的运行。",
    },
    "login.user": {"en": "User name", "zh": "用户名"},
    "login.password": {"en": "Password", "zh": "密码"},
    "login.button": {"en": "Sign in", "zh": "登录"},
    "login.wrong": {"en": "Wrong user name or password.", "zh": "用户名或密码不正确。"},
    "login.wait": {
        "en": "Too many wrong passwords: try again in {seconds} s.",
        "zh": "密码错误次数过多：请在 {seconds} 秒后再试。",
    },
    "login.offline": {
        "en": "The studio did not answer: is it still running?",
        "zh": "工作室没有响应：它还在运行吗？",
    },
    "access.not_yours": {
        "en": "{id} belongs to {owner}; only they (or an admin) can change it.",
        "zh": "{id} 属于 {owner}；只有其本人（或管理员）可以更改它。",
    },
    "access.path": {"en": "{value} is not yours to use.", "zh": "{value} 不属于你，不能使用。"},
    "access.storage": {
        "en": "Only an admin may choose where a search is kept (storage, study name).",
        "zh": "只有管理员可以指定搜索的存放位置（存储地址、研究名称）。",
    },
    "access.remote_code": {
        "en": "Only an admin may let a model run its own code on this machine.",
        "zh": "只有管理员可以允许模型在本机运行其自带的代码。",
    },
    "access.upload": {
        "en": "That file was not uploaded by you: upload it again.",
        "zh": "这个文件不是你上传的：请重新上传。",
    },
    "access.dropped": {
        "en": "Left out of the loaded settings (not yours to use): {fields}. "
        "Upload your own data or pick your own model.",
        "zh": "载入的设置中以下项目未载入（不属于你）：{fields}。请上传你自己的数据或选择你自己的模型。",
    },
    "uploads.quota": {
        "en": "This upload ({size} MB) would take your uploads over your quota of "
        "{quota} MB ({used} MB used): delete runs you no longer need, with "
        "their data, in the Runs tab.",
        "zh": "这次上传（{size} MB）会使你的上传总量超过 {quota} MB 的配额（已用 {used} MB）："
        "请在“运行记录”页删除不再需要的运行及其数据。",
    },
    "error.disk_full": {
        "en": "The disk is full: free some space (delete old runs in the Runs "
        "tab, or their exports) or start the studio with another "
        "--runs-dir, then resume or start the run again.",
        "zh": "磁盘已满：请释放空间（在“运行记录”页删除旧的运行或其导出文件），或用另一个 --runs-dir "
        "启动工作室，然后继续或重新开始运行。",
    },
    "queue.hidden": {"en": "another user's job", "zh": "其他用户的任务"},
    "runs.shared_by": {"en": "shared by {owner}", "zh": "由 {owner} 共享"},
    "runs.share": {"en": "Shared with everyone signed in", "zh": "与所有已登录用户共享"},
    "runs.share.help": {
        "en": "They can open, compare, evaluate and predict with it; only you "
        "can change, export or delete it.",
        "zh": "他们可以打开、比较、评估并用它预测；只有你可以更改、导出或删除它。",
    },
    "runs.shared_on": {
        "en": "Shared with everyone signed in: {names}.",
        "zh": "已与所有已登录用户共享：{names}。",
    },
    "runs.shared_off": {"en": "No longer shared: {names}.", "zh": "已停止共享：{names}。"},
    "train.remote_code_admin": {
        "en": "Only an admin may tick this in a shared studio.",
        "zh": "在多人共用的工作室中，只有管理员可以勾选此项。",
    },
    "mask_pii": {"en": "Mask personal data", "zh": "遮盖个人信息"},
    "mask_pii.help": {
        "zh": "训练前把文本中的电子邮件地址、网址、电话号码和较长的数字串替换为占位符（[EMAIL]、[URL]、"
        "[PHONE]、[NUMBER]）；“数据”页会预览哪些内容会被改动。"
    },
    "trust_remote_code": {"en": "Trust the model's own code", "zh": "信任模型自带的代码"},
    "trust_remote_code.help": {
        "zh": "允许自带 Python 代码的基础模型在本机运行这些代码（关闭时会拒绝此类模型）。"
        "仅用于你已阅读过其代码的模型。"
    },
    "train.remote_code_warning": {
        "en": "Trust the model's own code is on: a backbone that ships Python code will run that "
        "code on this machine, with your files and network. Use it only for a model whose "
        "code you have read.",
        "zh": "已开启“信任模型自带的代码”：自带 Python 代码的基础模型会在本机运行这些代码，并能访问你的文件和网络。"
        "只对你已阅读过其代码的模型开启。",
    },
    "queue.title": {"en": "Queue", "zh": "队列"},
    "queue.empty": {
        "en": "Nothing is training or waiting.",
        "zh": "当前没有正在训练或排队的运行。",
    },
    "queue.col.position": {"en": "Position", "zh": "位置"},
    "queue.col.name": {"en": "Run", "zh": "运行"},
    "queue.col.owner": {"en": "Owner", "zh": "所有者"},
    "queue.col.status": {"en": "Status", "zh": "状态"},
    "queue.now": {"en": "training now", "zh": "正在训练"},
    "queue.position": {"en": "position {position}", "zh": "第 {position} 位"},
    "queue.you": {"en": "you", "zh": "你"},
    "queue.pick": {"en": "Job in the queue", "zh": "队列中的任务"},
    "queue.pick.help": {
        "en": "Cancel one of your waiting jobs (it never starts) or stop your running one.",
        "zh": "取消你的某个排队任务（它将不会开始），或停止你正在训练的任务。",
    },
    "queue.cancel": {"en": "Cancel job", "zh": "取消任务"},
    "queue.pick_none": {"en": "Pick a job in the queue first.", "zh": "请先在队列中选择一个任务。"},
    "queue.cancelled": {
        "en": "Cancelled {name}: it will not start.",
        "zh": "已取消 {name}：它将不会开始。",
    },
    "train.not_yours": {"en": "Not your run:", "zh": "不是你的运行："},
    "train.resume": {"en": "↻ Resume from step {step}", "zh": "↻ 从第 {step} 步继续"},
    "train.resuming": {
        "en": "Run {id} resumes from its checkpoint at step {step}; the curves "
        "continue where it stopped.",
        "zh": "运行 {id} 将从第 {step} 步的检查点继续训练；曲线会从中断处接着画。",
    },
    "train.cannot_resume": {"en": "Cannot resume:", "zh": "无法继续："},
    "train.interrupted_resume": {
        "en": "The server stopped while this run was training; resume it from its last "
        "checkpoint, or start it again.",
        "zh": "训练过程中服务器停止了；可以从最后一个检查点继续训练，或重新开始。",
    },
    "runs.delete": {"en": "Delete…", "zh": "删除……"},
    "runs.delete_confirm": {
        "en": "Delete {n} run(s): {names}? Each run folder (model, checkpoints, curves, "
        "exports) is removed for good.",
        "zh": "删除 {n} 个运行：{names}？每个运行文件夹（模型、检查点、曲线、导出文件）都会被永久删除。",
    },
    "runs.delete_data": {
        "en": "Also delete its uploaded data file (when no other run uses it)",
        "zh": "同时删除上传的数据文件（若没有其他运行使用它）",
    },
    "runs.delete_yes": {"en": "Yes, delete", "zh": "确认删除"},
    "runs.delete_no": {"en": "Keep them", "zh": "保留"},
    "runs.deleted": {"en": "Deleted: {names}.", "zh": "已删除：{names}。"},
    "runs.deleted_files": {
        "en": "Uploaded data files removed: {n}.",
        "zh": "已删除的上传数据文件：{n} 个。",
    },
    "runs.delete_refused": {"en": "Not deleted:", "zh": "未删除："},
    "data.privacy_preview": {"en": "Preview masking", "zh": "预览遮盖效果"},
    "data.privacy_need_data": {
        "en": "Choose a data file first: the preview masks its texts.",
        "zh": "请先选择数据文件：预览会遮盖其中的文本。",
    },
    "data.privacy_counts": {
        "en": "Masking changes {changed} of {total} texts: {email} e-mail address(es), {url} "
        "URL(s), {phone} phone number(s), {digits} long number(s). The first changed texts "
        "are below.",
        "zh": "遮盖会改动 {total} 条文本中的 {changed} 条：电子邮件地址 {email} 个、网址 {url} 个、"
        "电话号码 {phone} 个、长数字串 {digits} 个。下面是前几条被改动的文本。",
    },
    "data.privacy_nothing": {
        "en": "Nothing to mask: no e-mail address, URL, phone number or long number in the "
        "{total} texts.",
        "zh": "没有需要遮盖的内容：{total} 条文本中没有电子邮件地址、网址、电话号码或长数字串。",
    },
    "data.privacy_on": {
        "en": "Training will use the masked texts (every split).",
        "zh": "训练将使用遮盖后的文本（所有划分）。",
    },
    "data.privacy_before": {"en": "Before", "zh": "遮盖前"},
    "data.privacy_after": {"en": "After masking", "zh": "遮盖后"},
}


PRETRAIN_PREFIX = "pretrain."
PROMPT_PREFIX = "prompt."  # PromptConfig fields (the Playground tab)
HPO_PREFIX = "hpo."  # HpoConfig search fields (the AutoML tab)


def _engine_fallback(key: str) -> str | None:
    """English text the engine already has: field help, backbone and strategy descriptions."""
    if key.startswith(PRETRAIN_PREFIX):
        from engine.config import PretrainConfig

        name = key[len(PRETRAIN_PREFIX) :]
        if name.endswith(".help"):
            f = PretrainConfig.__dataclass_fields__.get(name[:-5])
            return f.metadata.get("help") if f is not None else None
        if name in PretrainConfig.__dataclass_fields__:  # a new field without a label yet
            return name.replace("_", " ").capitalize()
        return None
    if key.startswith(PROMPT_PREFIX):
        from engine.config import PromptConfig

        name = key[len(PROMPT_PREFIX) :]
        if name.endswith(".help"):
            f = PromptConfig.__dataclass_fields__.get(name[:-5])
            return f.metadata.get("help") if f is not None else None
        if name in PromptConfig.__dataclass_fields__:  # a new field without a label yet
            return name.replace("_", " ").capitalize()
        return None
    if key.startswith(HPO_PREFIX):
        from engine.config import HpoConfig

        name = key[len(HPO_PREFIX) :]
        if name.endswith(".help"):
            f = HpoConfig.__dataclass_fields__.get(name[:-5])
            return f.metadata.get("help") if f is not None else None
        if name in HpoConfig.__dataclass_fields__:  # a new field without a label yet
            return name.replace("_", " ").capitalize()
        return None
    if key.endswith(".help"):
        from engine.config import RunConfig

        f = RunConfig.__dataclass_fields__.get(key[:-5])
        return f.metadata.get("help") if f is not None else None
    if key.startswith("backbone."):
        from engine.backbones import CATALOGUE

        b = CATALOGUE.get(key[len("backbone.") :])
        return b.description if b is not None else None
    if key.startswith("strategy."):
        from engine.strategies import STRATEGIES

        name = key[len("strategy.") :]
        if name.endswith(".name"):
            s = STRATEGIES.get(name[:-5])
            return s.title if s is not None else None
        s = STRATEGIES.get(name)
        return s.description if s is not None else None
    from engine.config import RunConfig

    if key in RunConfig.__dataclass_fields__:  # a new field without a label yet
        return key.replace("_", " ").capitalize()
    return None


def t(key: str, lang: str = "en", **fmt: Any) -> str:
    """The text for ``key`` in ``lang`` (falls back to English, then to the engine's text)."""
    if (
        key.startswith(PRETRAIN_PREFIX)
        and key not in TEXT
        and not key.endswith(".help")
        and key[len(PRETRAIN_PREFIX) :] in TEXT
    ):
        key = key[len(PRETRAIN_PREFIX) :]  # a pre-training field labelled as the Train tab's
    entry = TEXT.get(key, {})
    if lang != "en" and entry.get(lang):
        return lookup(TEXT, key, lang, **fmt)
    if entry.get("en"):
        return lookup(TEXT, key, "en", **fmt)
    return lookup(TEXT, key, "en", fallback=_engine_fallback, **fmt)
