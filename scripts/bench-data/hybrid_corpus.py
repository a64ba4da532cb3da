#!/usr/bin/env python3
"""Builds the hybrid benchmark's frozen corpus and known-item queries, once.

`embedstore-bench hybrid` reads the file this writes (crates/bench/data/hybrid.jsonl,
about 0.5 MB, committed; the benchmark compiles it in); it
never reads the machine's documentation, so its figures can be reproduced on any machine.

Corpus: this repository's own documents (README.md, ARCHITECTURE.md, BENCHMARKS.md,
CHANGELOG.md) and the doc comments (`//!`, `///`) of `src/**.rs` and `crates/cli/src/**.rs`,
read with `git show COMMIT:PATH` so that the same commit always gives the same file. They are
split into paragraphs, gathered into chunks of 40-200 words and de-duplicated
(case-insensitively).

Queries, each with exactly one right chunk:
* rare term: an identifier-like term (an option, `snake_case`, `Type::path`, a word with
  digits, an upper-case code, camelCase, `file.ext`) found in that chunk only, alone or with one
  or two neighbouring words that occur in at least two chunks;
* paraphrase: up to ten of a sentence's common words (each in at least `max(5, chunks/1000)`
  chunks, stop words left out), about a quarter dropped, optionally some replaced by WordNet
  synonyms (`--wordnet DIR`, the Debian package wordnet-base's /usr/share/wordnet), shuffled;
  no other chunk holds every word kept.

Randomness comes from a stable hash of each chunk's text and a fixed seed (Python's `random`
with an integer seed is the same on every platform), so a rerun with the same arguments writes
the same bytes.

Regenerate (from the repository root):
    python3 scripts/bench-data/hybrid_corpus.py --commit 1dad496 > crates/bench/data/hybrid.jsonl

Output, one JSON object a line: first {"meta": {...}} (provenance and statistics), then one
{"chunk": TEXT, "source": PATH} per chunk (chunk n is line n + 1), then one
{"query": TEXT, "class": "rare_term"|"paraphrase", "target": N, "replaced": SYNONYMS} per query.
"""

import argparse
import json
import os
import random
import re
import subprocess
import sys

MIN_WORDS, MAX_WORDS = 40, 200
DOCUMENTS = ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md", "CHANGELOG.md"]
RUST_DIRS = ["src/", "crates/cli/src/"]
PARAPHRASE_WINDOW, PARAPHRASE_MIN_WORDS, PARAPHRASE_ATTEMPTS = 10, 4, 3
NEIGHBOURHOOD = 3
CORPUS_SEED, RARE_TERM_SEED, PARAPHRASE_SEED = 1313, 2727, 4141
STOP_WORDS = set(
    """about above after again against all also and any are because been before being below
    between both but can cannot could did does doing down during each either else etc even ever
    every few for from further had has have having her here hers him his how however into its
    itself just may might more most must neither nor not now off once one only other otherwise
    our ours out over own same shall she should since some such than that the their theirs them
    then there these they this those through thus too under until upon use used uses using very
    via was were what when where whether which while who whom whose why will with within without
    would yet you your yours""".split()
)


def git(*args):
    return subprocess.run(["git", *args], check=True, capture_output=True).stdout


def stable_key(text, seed):
    """FNV-1a of the text, mixed with the seed: the same on every run and platform."""
    value = 0xCBF29CE484222325 ^ seed
    for byte in text.encode():
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def plain_paragraphs(text):
    paragraphs, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def doc_comment_paragraphs(text):
    lines = []
    for line in text.splitlines():
        line = line.lstrip()
        if line.startswith("//!"):
            lines.append(line[3:])
        elif line.startswith("///") and not line.startswith("////"):
            lines.append(line[3:])
        else:
            lines.append("")
    return plain_paragraphs("\n".join(lines))


def words(text):
    return [word for word in text.split() if any(c.isalnum() for c in word)]


def chunk_paragraphs(paragraphs):
    """Paragraphs gathered until at least MIN_WORDS, split evenly when over MAX_WORDS; a short
    tail joins the last chunk when it fits."""
    chunks, current = [], []
    for paragraph in paragraphs:
        current.extend(words(paragraph))
        if len(current) >= MIN_WORDS:
            pieces = -(-len(current) // MAX_WORDS)
            size = -(-len(current) // pieces)
            chunks.extend(current[at : at + size] for at in range(0, len(current), size))
            current = []
    if current and chunks and len(chunks[-1]) + len(current) <= MAX_WORDS:
        chunks[-1].extend(current)
    return [" ".join(chunk) for chunk in chunks]


def terms(text):
    """Words that keep `_ - . :` inside them (options, paths, `Type::item`)."""
    found = []
    for raw in re.split(r"[^\w\-.:]", text):
        raw = raw.rstrip(".:-")
        if raw.startswith("--") and raw[2:3].isalpha():
            term = raw
        else:
            term = raw.lstrip(".:-")
        if any(c.isalnum() for c in term):
            found.append(term)
    return found


def parts(text):
    return [part.lower() for part in re.split(r"[\W_]+", text) if part]


class Index:
    """Which chunks hold each term and each alphanumeric part (lower case)."""

    def __init__(self, chunks):
        self.terms, self.parts = {}, {}
        for number, chunk in enumerate(chunks):
            for term in terms(chunk["chunk"]):
                self.terms.setdefault(term.lower(), set()).add(number)
            for part in parts(chunk["chunk"]):
                self.parts.setdefault(part, set()).add(number)

    def part_chunks(self, part):
        return len(self.parts.get(part.lower(), ()))

    def chunks_with_all_parts(self, wanted):
        lists = [self.parts.get(part) for part in wanted]
        if not lists or any(found is None for found in lists):
            return set()
        return set.intersection(*lists)


def identifier_like(term):
    if not 4 <= len(term) <= 40 or not term.isascii() or not any(c.isalpha() for c in term):
        return False
    upper = sum(c.isupper() for c in term)
    lower = sum(c.islower() for c in term)
    return bool(
        term.startswith("--")
        or "_" in term
        or "::" in term
        or any(c.isdigit() for c in term)
        or (upper >= 4 and lower == 0)
        or re.search(r"[a-z][A-Z]", term)
        or re.search(r"[A-Za-z0-9]\.[A-Za-z]", term)
    )


def plain_word(word):
    word = re.sub(r"^\W+|\W+$", "", word).lower()
    if len(word) >= 3 and word.isalpha() and word not in STOP_WORDS:
        return word
    return None


def rare_term_queries(chunks, index, count):
    candidates = []
    for number, chunk in enumerate(chunks):
        seen, found = set(), []
        for term in terms(chunk["chunk"]):
            lower = term.lower()
            if not identifier_like(term) or lower in seen:
                continue
            seen.add(lower)
            if index.terms.get(lower) == {number} and index.chunks_with_all_parts(
                parts(term)
            ) == {number}:
                found.append(term)
        if found:
            candidates.append((number, found))
    candidates.sort(key=lambda item: (stable_key(chunks[item[0]]["chunk"], RARE_TERM_SEED), item[0]))
    queries = []
    for target, found in candidates[:count]:
        text = chunks[target]["chunk"]
        rng = random.Random(stable_key(text, RARE_TERM_SEED ^ 1))
        term = found[rng.randrange(len(found))]
        query = with_neighbours(text, term, rng.randrange(3), index)
        query = query.replace(term, term.lstrip("-"), 1)
        queries.append({"query": query, "class": "rare_term", "target": target, "replaced": 0})
    return queries, len(candidates)


def with_neighbours(text, term, wanted, index):
    """The term with up to `wanted` of its nearest plain words that occur in two chunks or more."""
    words_ = text.split()
    at = next((n for n, word in enumerate(words_) if term in terms(word)), None)
    if at is None:
        return term
    nearby = []
    for position, word in enumerate(words_):
        distance = abs(position - at)
        plain = plain_word(word)
        if 0 < distance <= NEIGHBOURHOOD and plain and index.part_chunks(plain) >= 2:
            nearby.append((distance, position))
    chosen = sorted([position for _, position in sorted(nearby)[:wanted]] + [at])
    picked = []
    for position in chosen:
        word = term if position == at else plain_word(words_[position])
        if word not in picked:
            picked.append(word)
    return " ".join(picked)


def sentences(text):
    found, current = [], []
    for word in text.split():
        current.append(word)
        if word.endswith((".", "?", "!", ";", ":")):
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def paraphrase_queries(chunks, index, wordnet, count, synonym_percent):
    distinctive_below = max(len(chunks) // 1000, 5)
    order = sorted(range(len(chunks)), key=lambda n: (stable_key(chunks[n]["chunk"], PARAPHRASE_SEED), n))
    queries = []
    for target in order:
        if len(queries) == count:
            break
        text = chunks[target]["chunk"]
        rng = random.Random(stable_key(text, PARAPHRASE_SEED ^ 1))
        built = paraphrase(text, target, index, wordnet, synonym_percent, distinctive_below, rng)
        if built:
            query, replaced = built
            queries.append({"query": query, "class": "paraphrase", "target": target, "replaced": replaced})
    return queries, distinctive_below


def paraphrase(text, target, index, wordnet, synonym_percent, distinctive_below, rng):
    candidates = sentences(text)
    rng.shuffle(candidates)
    for sentence in (candidates * PARAPHRASE_ATTEMPTS):
        content = []
        for word in sentence:
            word = plain_word(word)
            if word and index.part_chunks(word) >= distinctive_below and word not in content:
                content.append(word)
        if len(content) < PARAPHRASE_MIN_WORDS + 1:
            continue
        if len(content) > PARAPHRASE_WINDOW:
            start = rng.randrange(len(content) - PARAPHRASE_WINDOW + 1)
            content = content[start : start + PARAPHRASE_WINDOW]
        kept = []
        for position, word in enumerate(content):
            if len(kept) + len(content) - position > PARAPHRASE_MIN_WORDS and rng.randrange(4) == 0:
                continue
            kept.append(word)
        if index.chunks_with_all_parts(kept) != {target}:
            continue
        replaced, chosen = 0, []
        for word in kept:
            choices = [
                synonym
                for synonym in wordnet.get(word, [])
                if synonym not in STOP_WORDS and index.part_chunks(synonym) > 0 and synonym not in chosen
            ]
            if choices and rng.randrange(100) < synonym_percent:
                chosen.append(choices[rng.randrange(len(choices))])
                replaced += 1
            else:
                chosen.append(word)
        rng.shuffle(chosen)
        return " ".join(chosen), replaced
    return None


def load_wordnet(directory):
    """Single-word synonyms from WordNet's data.{noun,verb,adj,adv} (lemma fields of each synset)."""
    synonyms = {}
    if not directory:
        return synonyms
    for part in ["noun", "verb", "adj", "adv"]:
        with open(os.path.join(directory, "data." + part), encoding="utf-8", errors="replace") as data:
            for line in data:
                if line.startswith(" "):
                    continue
                fields = line.split()
                count = int(fields[3], 16)
                lemmas = [re.sub(r"\(.*\)$", "", fields[4 + 2 * n]).lower() for n in range(count)]
                lemmas = [lemma for lemma in lemmas if lemma.isalpha()]
                for lemma in lemmas:
                    for other in lemmas:
                        if other != lemma and other not in synonyms.setdefault(lemma, []):
                            synonyms[lemma].append(other)
    return synonyms


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commit", required=True, help="the commit whose files are read")
    parser.add_argument("--queries", type=int, default=300, help="queries per class")
    parser.add_argument("--wordnet", help="WordNet's database directory (optional)")
    parser.add_argument("--synonym-percent", type=int, default=50)
    args = parser.parse_args()
    commit = git("rev-parse", args.commit + "^{commit}").decode().strip()
    files = git("ls-tree", "-r", "--name-only", commit).decode().splitlines()
    rust = sorted(f for f in files if f.endswith(".rs") and f.startswith(tuple(RUST_DIRS)))
    chunks, seen, duplicates = [], set(), 0
    for path in [f for f in DOCUMENTS if f in files] + rust:
        text = git("show", f"{commit}:{path}").decode()
        paragraphs = doc_comment_paragraphs(text) if path.endswith(".rs") else plain_paragraphs(text)
        for piece in chunk_paragraphs(paragraphs):
            if piece.lower() in seen:
                duplicates += 1
                continue
            seen.add(piece.lower())
            chunks.append({"chunk": piece, "source": path})
    index = Index(chunks)
    wordnet = load_wordnet(args.wordnet)
    rare, rare_chunks = rare_term_queries(chunks, index, args.queries)
    para, distinctive_below = paraphrase_queries(chunks, index, wordnet, args.queries, args.synonym_percent)
    meta = {
        "source": f"embedstore repository at commit {commit}: {', '.join(DOCUMENTS)} and the doc "
        f"comments of {' and '.join(RUST_DIRS)}**.rs (the project's own licence)",
        "generator": "scripts/bench-data/hybrid_corpus.py",
        "commit": commit,
        "chunks": len(chunks),
        "duplicate_chunks": duplicates,
        "rare_term_chunks": rare_chunks,
        "distinctive_below": distinctive_below,
        "synonyms": f"WordNet {args.wordnet}, {args.synonym_percent} %" if args.wordnet else "none",
    }
    out = sys.stdout
    for record in [{"meta": meta}, *chunks, *rare, *para]:
        out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
    print(f"{len(chunks)} chunks, {len(rare)} rare-term and {len(para)} paraphrase queries", file=sys.stderr)


if __name__ == "__main__":
    main()
