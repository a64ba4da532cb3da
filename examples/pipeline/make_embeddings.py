#!/usr/bin/env python3
"""Write an embedding pipeline's hand-over files the way pipelines do: NumPy's .npy + JSONL.

    python3 make_embeddings.py OUT_DIR [--rows N] [--dimension D] [--seed S]

writes OUT_DIR/vectors.npy (float32, written by numpy.save), OUT_DIR/records.jsonl (one record
per matrix row, same order: id, metadata, content) and OUT_DIR/queries.jsonl (one query per
line, {"vector": [...], "k": 10}, for `embedstore search --queries`).

The "model" is a stand-in so the example needs nothing but NumPy: each document is a noisy
copy of one of a few topic centroids, normalised to unit length like sentence-transformers
output. Replace `embed()` with your model (e.g. SentenceTransformer(...).encode(texts)).
"""

import argparse
import json
import pathlib

import numpy as np

TOPICS = ["databases", "astronomy", "cooking", "music", "football", "gardening"]


def embed(rng, topic_ids, centroids):
    noise = rng.standard_normal((len(topic_ids), centroids.shape[1])).astype(np.float32)
    vectors = centroids[topic_ids] + 0.35 * noise
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(args.seed)
    centroids = rng.standard_normal((len(TOPICS), args.dimension)).astype(np.float32)
    topic_ids = rng.integers(0, len(TOPICS), size=args.rows)
    vectors = embed(rng, topic_ids, centroids).astype(np.float32)
    np.save(args.out / "vectors.npy", vectors)

    with open(args.out / "records.jsonl", "w", encoding="utf-8") as records:
        for row, topic in enumerate(topic_ids):
            record = {
                "id": f"doc-{row:07d}",
                "metadata": {"topic": TOPICS[topic], "row": row},
                "content": f"document {row} about {TOPICS[topic]}",
            }
            records.write(json.dumps(record, ensure_ascii=False) + "\n")

    queries = embed(rng, np.arange(len(TOPICS)), centroids)
    with open(args.out / "queries.jsonl", "w", encoding="utf-8") as out:
        for vector in queries:
            out.write(json.dumps({"vector": [float(v) for v in vector], "k": 10}) + "\n")
    print(f"wrote {args.rows} x {args.dimension} float32 to {args.out}/vectors.npy, "
          f"records.jsonl and queries.jsonl")


if __name__ == "__main__":
    main()
