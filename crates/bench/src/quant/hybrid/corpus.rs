//! The hybrid benchmark's corpus: paragraphs of real text cut into chunks of 40–200 words.
//!
//! Sources, in this order (every file list sorted, so the corpus depends only on the files):
//!
//! 1. this repository's documents (`README.md`, `ARCHITECTURE.md`, `BENCHMARKS.md`,
//!    `CHANGELOG.md`) and the doc comments (`//!`, `///`) of the library's and the CLI's
//!    sources (`src/`, `crates/cli/src/`) — always there, so the benchmark runs anywhere;
//! 2. the machine's `/usr/share/doc/**/README*` files, `/usr/share/common-licenses/*` and the
//!    English man pages `/usr/share/man/man[1-9]/*` (roff, see [`super::roff`]), each when
//!    present; no man page "family" (the name up to its first `_`, `-`, `.` or `:`) gives more
//!    than [`MAX_PAGES_PER_FAMILY`] pages, so that one tool with thousands of pages (a cloud
//!    SDK's) does not make up the corpus.
//!
//! Files that are empty, larger than [`MAX_FILE_BYTES`], binary (a NUL byte), not UTF-8, or
//! that cannot be read (a `.gz` that `gzip -dc` cannot decompress) are skipped and counted;
//! symbolic links are not followed. Chunks whose text (case-insensitively) repeats an
//! earlier one are dropped. Above the cap, sources are kept whole in the order above while
//! they fit, and the first that does not (on a Debian machine with many man pages, the man
//! pages) fills the room left with a sample: its chunks with the smallest [`stable_key`]s.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use embedstore_test_support::Rng;
use serde::Serialize;

use super::roff;

/// Fewest words of a chunk (a shorter tail of a document joins its last chunk when that
/// stays within [`MAX_WORDS`], else it is dropped).
pub const MIN_WORDS: usize = 40;
/// Most words of a chunk; longer paragraphs are cut into near-equal pieces.
pub const MAX_WORDS: usize = 200;
/// Files larger than this (compressed size for `.gz`) are skipped, and so are decompressed
/// texts larger than four times this.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// Most man pages of one family (see the module documentation).
pub const MAX_PAGES_PER_FAMILY: usize = 50;

/// One chunk: its text (words joined by single spaces) and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The file, as a path.
    pub source: String,
    /// The text stored as `content`.
    pub text: String,
}

/// How a source's files are turned into paragraphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Paragraphs separated by blank lines (Markdown, plain text).
    Plain,
    /// Man page source.
    Roff,
    /// The doc comments of a Rust file.
    RustDoc,
}

/// A named group of files in one format.
#[derive(Debug, Clone)]
pub struct Source {
    /// What the report calls it.
    pub name: String,
    /// The files, sorted.
    pub files: Vec<PathBuf>,
    /// Their format.
    pub format: Format,
}

/// What one source gave.
#[derive(Debug, Clone, Serialize)]
pub struct SourceCount {
    /// The source's name.
    pub name: String,
    /// Files that gave text.
    pub files: usize,
    /// Its chunks in the corpus (after de-duplication and the cap).
    pub chunks: usize,
}

/// Files skipped, by reason.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Skipped {
    /// No text (empty or only blanks).
    pub empty: usize,
    /// A NUL byte.
    pub binary: usize,
    /// Not valid UTF-8.
    pub not_utf8: usize,
    /// Larger than the limit.
    pub too_large: usize,
    /// Unreadable, or a `.gz` that did not decompress.
    pub unreadable: usize,
}

/// The corpus and how it was made.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// The chunks, in source order.
    pub chunks: Vec<Chunk>,
    /// Per source: files and chunks.
    pub sources: Vec<SourceCount>,
    /// Files skipped.
    pub skipped: Skipped,
    /// Chunks dropped as repeats of an earlier chunk.
    pub duplicates: usize,
    /// Distinct chunks before the cap.
    pub before_cap: usize,
}

/// The repository's own sources: its documents and the doc comments of `src/` and
/// `crates/cli/src/`.
pub fn repository_sources(root: &Path) -> Vec<Source> {
    let documents = [
        "README.md",
        "ARCHITECTURE.md",
        "BENCHMARKS.md",
        "CHANGELOG.md",
    ]
    .iter()
    .map(|name| root.join(name))
    .filter(|path| is_regular_file(path))
    .collect();
    let mut rust = Vec::new();
    for dir in ["src", "crates/cli/src"] {
        rust.extend(
            walk(&root.join(dir))
                .into_iter()
                .filter(|path| path.extension().is_some_and(|ext| ext == "rs")),
        );
    }
    vec![
        Source {
            name: "repository documents".to_owned(),
            files: documents,
            format: Format::Plain,
        },
        Source {
            name: "repository doc comments".to_owned(),
            files: rust,
            format: Format::RustDoc,
        },
    ]
}

/// The machine's documentation under `/usr/share` (`share` in tests): README files,
/// licenses and English man pages. A missing directory gives a source without files.
pub fn system_sources(share: &Path) -> Vec<Source> {
    let readmes = walk(&share.join("doc"))
        .into_iter()
        .filter(|path| {
            let name = file_name(path);
            name.starts_with("README") && !name.ends_with(".html") && !name.ends_with(".htm")
        })
        .collect();
    let licenses = walk(&share.join("common-licenses"));
    let mut pages = Vec::new();
    for section in 1..=9 {
        let mut families: HashMap<String, usize> = HashMap::new();
        for page in walk(&share.join(format!("man/man{section}"))) {
            let family = file_name(&page)
                .split(['_', '-', '.', ':'])
                .next()
                .unwrap_or_default()
                .to_owned();
            let count = families.entry(family).or_default();
            *count += 1;
            if *count <= MAX_PAGES_PER_FAMILY {
                pages.push(page);
            }
        }
    }
    let root = share.display();
    vec![
        Source {
            name: format!("{root}/doc/**/README*"),
            files: readmes,
            format: Format::Plain,
        },
        Source {
            name: format!("{root}/common-licenses"),
            files: licenses,
            format: Format::Plain,
        },
        Source {
            name: format!("{root}/man/man[1-9] (English man pages)"),
            files: pages,
            format: Format::Roff,
        },
    ]
}

/// Reads every source, chunks, de-duplicates and keeps at most `max_chunks`: whole sources
/// in order while they fit, then a sample (keyed by `seed`) of the first that does not.
pub fn build(sources: &[Source], max_chunks: usize, seed: u64) -> Corpus {
    let mut skipped = Skipped::default();
    let mut seen = HashSet::new();
    let mut chunks: Vec<(usize, Chunk)> = Vec::new();
    let mut files = vec![0; sources.len()];
    let mut duplicates = 0;
    for (number, source) in sources.iter().enumerate() {
        for path in &source.files {
            let Some(text) = read_text(path, &mut skipped) else {
                continue;
            };
            let paragraphs = match source.format {
                Format::Plain => plain_paragraphs(&text),
                Format::Roff => roff::paragraphs(&text),
                Format::RustDoc => doc_comment_paragraphs(&text),
            };
            let pieces = chunk_paragraphs(&paragraphs);
            if pieces.is_empty() {
                continue;
            }
            files[number] += 1;
            for piece in pieces {
                if seen.insert(piece.to_lowercase()) {
                    chunks.push((
                        number,
                        Chunk {
                            source: path.display().to_string(),
                            text: piece,
                        },
                    ));
                } else {
                    duplicates += 1;
                }
            }
        }
    }
    let before_cap = chunks.len();
    let chunks = cap(chunks, sources.len(), max_chunks, seed);
    let counts = sources
        .iter()
        .enumerate()
        .map(|(number, source)| SourceCount {
            name: source.name.clone(),
            files: files[number],
            chunks: chunks.iter().filter(|(from, _)| *from == number).count(),
        })
        .collect();
    Corpus {
        chunks: chunks.into_iter().map(|(_, chunk)| chunk).collect(),
        sources: counts,
        skipped,
        duplicates,
        before_cap,
    }
}

/// At most `max_chunks` of `chunks` (tagged with their source's number): whole sources in
/// order while they fit, then from the first that does not the chunks with the smallest
/// [`stable_key`]s; the sources after it give nothing. Source order is kept.
fn cap(
    chunks: Vec<(usize, Chunk)>,
    sources: usize,
    max_chunks: usize,
    seed: u64,
) -> Vec<(usize, Chunk)> {
    let mut by_source: Vec<Vec<(usize, Chunk)>> = vec![Vec::new(); sources];
    for chunk in chunks {
        by_source[chunk.0].push(chunk);
    }
    let mut kept = Vec::new();
    for mut source in by_source {
        let room = max_chunks - kept.len();
        if source.len() <= room {
            kept.append(&mut source);
            continue;
        }
        // The chunks with the smallest keys: which are kept depends on each chunk's text
        // alone, not on what the other sources hold.
        let mut order: Vec<usize> = (0..source.len()).collect();
        order.sort_by_key(|at| (stable_key(&source[*at].1.text, seed), *at));
        let mut chosen = order[..room].to_vec();
        chosen.sort_unstable();
        let mut all: Vec<Option<(usize, Chunk)>> = source.into_iter().map(Some).collect();
        kept.extend(chosen.iter().filter_map(|at| all[*at].take()));
        break;
    }
    kept
}

/// A pseudo-random key of `text` under `seed` (FNV-1a, then [`Rng`]'s mixing): samples and
/// orders drawn by it depend on each chunk's own text, so adding or editing one file does not
/// reshuffle the chunks and queries of the others.
pub fn stable_key(text: &str, seed: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    Rng::new(hash).next_u64()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_regular_file(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_file())
}

/// Every regular file under `dir`, sorted, without following symbolic links; nothing when
/// `dir` is missing or unreadable.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
}

/// The file's text, or `None` (counted in `skipped`) when it is empty, too large, binary, not
/// UTF-8 or unreadable. `.gz` files are decompressed by `gzip -dc`.
pub fn read_text(path: &Path, skipped: &mut Skipped) -> Option<String> {
    let Ok(meta) = std::fs::metadata(path) else {
        skipped.unreadable += 1;
        return None;
    };
    if meta.len() > MAX_FILE_BYTES {
        skipped.too_large += 1;
        return None;
    }
    let bytes = if path.extension().is_some_and(|ext| ext == "gz") {
        match Command::new("gzip").arg("-dc").arg("--").arg(path).output() {
            Ok(output) if output.status.success() => output.stdout,
            _ => {
                skipped.unreadable += 1;
                return None;
            }
        }
    } else {
        match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(_) => {
                skipped.unreadable += 1;
                return None;
            }
        }
    };
    text_of(bytes, skipped)
}

/// `bytes` as text, or `None` (counted) when empty, too large, binary or not UTF-8.
pub fn text_of(bytes: Vec<u8>, skipped: &mut Skipped) -> Option<String> {
    if bytes.len() as u64 > 4 * MAX_FILE_BYTES {
        skipped.too_large += 1;
        return None;
    }
    if bytes.contains(&0) {
        skipped.binary += 1;
        return None;
    }
    match String::from_utf8(bytes) {
        Ok(text) if text.trim().is_empty() => {
            skipped.empty += 1;
            None
        }
        Ok(text) => Some(text),
        Err(_) => {
            skipped.not_utf8 += 1;
            None
        }
    }
}

/// Paragraphs separated by blank lines, each with its lines joined.
pub fn plain_paragraphs(text: &str) -> Vec<String> {
    let mut paragraphs = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line.trim());
        }
    }
    if !current.is_empty() {
        paragraphs.push(current.join(" "));
    }
    paragraphs
}

/// The paragraphs of a Rust file's doc comments (`//!`, `///`): an empty doc line or a line
/// of code ends one.
pub fn doc_comment_paragraphs(text: &str) -> Vec<String> {
    let mut lines = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        let doc = line.strip_prefix("//!").or_else(|| {
            line.strip_prefix("///")
                .filter(|rest| !rest.starts_with('/'))
        });
        match doc {
            Some(rest) => {
                lines.push_str(rest);
                lines.push('\n');
            }
            None => lines.push('\n'),
        }
    }
    plain_paragraphs(&lines)
}

/// The words of a text as chunks count them: blank-separated tokens with a letter or digit
/// (pure punctuation — table rules, bullets, `=` — is dropped).
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
}

/// A document's paragraphs as chunks of [`MIN_WORDS`]..=[`MAX_WORDS`] words: paragraphs are
/// gathered until there are at least `MIN_WORDS` words, then cut into near-equal pieces of at
/// most `MAX_WORDS`; a short tail joins the last chunk if it fits, else it is dropped.
pub fn chunk_paragraphs(paragraphs: &[String]) -> Vec<String> {
    let mut chunks: Vec<Vec<&str>> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for paragraph in paragraphs {
        current.extend(words(paragraph));
        if current.len() >= MIN_WORDS {
            let pieces = current.len().div_ceil(MAX_WORDS);
            let size = current.len().div_ceil(pieces);
            chunks.extend(current.chunks(size).map(<[&str]>::to_vec));
            current.clear();
        }
    }
    if !current.is_empty() {
        if let Some(last) = chunks.last_mut() {
            if last.len() + current.len() <= MAX_WORDS {
                last.extend(current);
            }
        }
    }
    chunks.into_iter().map(|words| words.join(" ")).collect()
}

/// The terms of a text as the rare-term queries see them: runs of letters, digits, `_`, `-`,
/// `.` and `:`, without leading or trailing dots, colons and hyphens — except a leading `--`
/// before a letter (an option name). Compared case-insensitively.
pub fn terms(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')))
        .filter_map(|raw| {
            let raw = raw.trim_end_matches(['.', ':', '-']);
            let term = match raw.strip_prefix("--") {
                Some(rest) if rest.starts_with(|c: char| c.is_alphabetic()) => raw,
                _ => raw.trim_start_matches(['.', ':', '-']),
            };
            term.contains(char::is_alphanumeric).then_some(term)
        })
}

/// The parts of a text or term: its runs of letters and digits, lowercase.
pub fn parts(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(str::to_lowercase)
}

/// Which chunks hold each term and each part (lowercase), for the uniqueness checks.
#[derive(Debug, Default)]
pub struct Index {
    /// Lowercase term → the chunks (ascending, once each) that contain it.
    pub terms: HashMap<String, Vec<u32>>,
    /// Lowercase part → the chunks (ascending, once each) that contain it.
    pub parts: HashMap<String, Vec<u32>>,
}

impl Index {
    /// Indexes `chunks` (chunk `i` is number `i`).
    pub fn new(chunks: &[Chunk]) -> Self {
        let mut index = Self::default();
        for (number, chunk) in chunks.iter().enumerate() {
            let number = u32::try_from(number).unwrap_or(u32::MAX);
            for term in terms(&chunk.text) {
                add(&mut index.terms, term.to_lowercase(), number);
            }
            for part in parts(&chunk.text) {
                add(&mut index.parts, part, number);
            }
        }
        index
    }

    /// How many chunks contain the term (case-insensitively).
    #[cfg(test)]
    pub fn term_chunks(&self, term: &str) -> usize {
        self.terms.get(&term.to_lowercase()).map_or(0, Vec::len)
    }

    /// How many chunks contain the part (case-insensitively).
    pub fn part_chunks(&self, part: &str) -> usize {
        self.parts.get(&part.to_lowercase()).map_or(0, Vec::len)
    }

    /// The chunks that contain every one of `parts` (lowercase), ascending.
    pub fn chunks_with_all_parts<'a>(&self, parts: impl IntoIterator<Item = &'a str>) -> Vec<u32> {
        let mut lists: Vec<&Vec<u32>> = Vec::new();
        for part in parts {
            match self.parts.get(part) {
                Some(list) => lists.push(list),
                None => return Vec::new(),
            }
        }
        lists.sort_by_key(|list| list.len());
        let Some((first, rest)) = lists.split_first() else {
            return Vec::new();
        };
        first
            .iter()
            .copied()
            .filter(|chunk| rest.iter().all(|list| list.binary_search(chunk).is_ok()))
            .collect()
    }
}

fn add(postings: &mut HashMap<String, Vec<u32>>, key: String, chunk: u32) {
    let list = postings.entry(key).or_default();
    if list.last() != Some(&chunk) {
        list.push(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty directory under the system's temporary directory.
    pub(crate) fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("embedstore-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn sentence(word: &str, count: usize) -> String {
        vec![word; count].join(" ")
    }

    #[test]
    fn chunks_have_between_min_and_max_words() {
        let paragraphs = vec![
            sentence("short", 10),
            sentence("gathered", 35),
            sentence("long", 450),
            sentence("tail", 15),
        ];
        let chunks = chunk_paragraphs(&paragraphs);
        let counts: Vec<usize> = chunks.iter().map(|chunk| words(chunk).count()).collect();
        assert_eq!(counts, [45, 150, 150, 165]);
        // The short paragraphs were gathered into the first chunk; the tail joined the last.
        assert!(chunks[0].starts_with("short") && chunks[0].ends_with("gathered"));
        assert!(chunks[3].ends_with("tail"));
        // A document shorter than MIN_WORDS gives nothing; a tail that does not fit is dropped.
        assert!(chunk_paragraphs(&[sentence("few", 39)]).is_empty());
        let chunks = chunk_paragraphs(&[sentence("full", 200), sentence("rest", 20)]);
        assert_eq!(chunks, [sentence("full", 200)]);
        assert!(chunk_paragraphs(&[]).is_empty());
        assert!(chunk_paragraphs(&[String::new(), "| --- | = |".to_owned()]).is_empty());
    }

    #[test]
    fn terms_keep_identifiers_options_and_paths() {
        let text = "Use --max-procs=4, O_CREAT or Store::create_text_index(); e.g. EACCES. \
                    -v --- resolv.conf: x86_64";
        let found: Vec<&str> = terms(text).collect();
        assert_eq!(
            found,
            [
                "Use",
                "--max-procs",
                "4",
                "O_CREAT",
                "or",
                "Store::create_text_index",
                "e.g",
                "EACCES",
                "v",
                "resolv.conf",
                "x86_64"
            ]
        );
        let found: Vec<String> = parts("O_CREAT Store::new").collect();
        assert_eq!(found, ["o", "creat", "store", "new"]);
    }

    #[test]
    fn the_index_counts_chunks_case_insensitively() {
        let chunks: Vec<Chunk> = ["EACCES here and eacces again", "no such Eacces", "other"]
            .iter()
            .map(|text| Chunk {
                source: "t".to_owned(),
                text: (*text).to_owned(),
            })
            .collect();
        let index = Index::new(&chunks);
        assert_eq!(index.term_chunks("eaccES"), 2);
        assert_eq!(index.terms["eacces"], [0, 1]);
        assert_eq!(index.part_chunks("other"), 1);
        assert_eq!(index.chunks_with_all_parts(["no", "eacces"]), [1]);
        assert_eq!(index.chunks_with_all_parts(["eacces"]), [0, 1]);
        assert!(
            index
                .chunks_with_all_parts(["missing", "eacces"])
                .is_empty()
        );
    }

    #[test]
    fn doc_comments_are_extracted_and_code_ends_a_paragraph() {
        let source = "//! Module one.\n//! still one\n//!\n//! two\nuse x;\n/// three\n\
                      //// not a doc comment\nfn f() {} // not either\n";
        assert_eq!(
            doc_comment_paragraphs(source),
            ["Module one. still one", "two", "three"]
        );
    }

    #[test]
    fn hostile_files_are_skipped_and_counted() {
        let dir = scratch("hostile");
        let long = sentence("word", 60);
        let files: [(&str, &[u8]); 6] = [
            ("README.empty", b""),
            ("README.blank", b"  \n\n\t\n"),
            ("README.binary", b"ELF\0\x01\x02 some text"),
            ("README.latin1", b"caf\xe9 au lait, na\xefve"),
            ("README.gz", b"not gzip at all"),
            ("README.good", long.as_bytes()),
        ];
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
        let source = Source {
            name: "test".to_owned(),
            files: walk(&dir),
            format: Format::Plain,
        };
        let corpus = build(&[source], 100, 1);
        assert_eq!(corpus.chunks.len(), 1);
        assert_eq!(corpus.chunks[0].text, long);
        assert_eq!(
            corpus.skipped,
            Skipped {
                empty: 2,
                binary: 1,
                not_utf8: 1,
                too_large: 0,
                unreadable: 1,
            }
        );
        assert_eq!(corpus.sources[0].files, 1);
        // A gzip file is decompressed (when gzip is installed, as on every Debian system).
        if Command::new("gzip").arg("--version").output().is_ok() {
            let plain = dir.join("page.1");
            std::fs::write(&plain, ".TH X 1\n.SH NAME\nx \\- a page\n").unwrap();
            assert!(
                Command::new("gzip")
                    .arg("-f")
                    .arg(&plain)
                    .status()
                    .unwrap()
                    .success()
            );
            let mut skipped = Skipped::default();
            let text = read_text(&dir.join("page.1.gz"), &mut skipped).unwrap();
            assert_eq!(roff::paragraphs(&text), ["x - a page"]);
        }
        let mut skipped = Skipped::default();
        assert_eq!(read_text(&dir.join("missing"), &mut skipped), None);
        assert_eq!(skipped.unreadable, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn duplicates_are_dropped_and_the_cap_samples_deterministically() {
        let dir = scratch("cap");
        for number in 0..30 {
            let text = format!("{} unique{number}", sentence("common", 50));
            std::fs::write(dir.join(format!("f{number:02}")), &text).unwrap();
        }
        // The same text again, differing only in case.
        std::fs::write(
            dir.join("f99"),
            format!("{} UNIQUE0", sentence("Common", 50)),
        )
        .unwrap();
        let source = Source {
            name: "test".to_owned(),
            files: walk(&dir),
            format: Format::Plain,
        };
        let all = build(std::slice::from_ref(&source), 100, 7);
        assert_eq!(
            (all.chunks.len(), all.duplicates, all.before_cap),
            (30, 1, 30)
        );
        let capped = build(std::slice::from_ref(&source), 10, 7);
        assert_eq!(capped.chunks.len(), 10);
        assert_eq!(capped.sources[0].chunks, 10);
        assert_eq!(capped.chunks, build(&[source], 10, 7).chunks);
        // Kept in source order.
        let order: Vec<&str> = capped.chunks.iter().map(|c| c.source.as_str()).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted);
        // Whole sources while they fit, then a sample of the next; later sources give none.
        let files = walk(&dir);
        let part = |name: &str, range: std::ops::Range<usize>| Source {
            name: name.to_owned(),
            files: files[range].to_vec(),
            format: Format::Plain,
        };
        let sources = [part("a", 0..5), part("b", 5..25), part("c", 25..30)];
        let capped = build(&sources, 12, 7);
        let chunks: Vec<usize> = capped.sources.iter().map(|s| s.chunks).collect();
        assert_eq!(chunks, [5, 7, 0]);
        assert_eq!(capped.chunks[..5], build(&sources[..1], 100, 7).chunks[..]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_system_directories_give_empty_sources() {
        let dir = scratch("nosystem");
        let sources = system_sources(&dir.join("absent"));
        assert!(sources.iter().all(|source| source.files.is_empty()));
        // The repository's own files are always there.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let corpus = build(&repository_sources(&root), usize::MAX, 1);
        assert!(corpus.chunks.len() > 100, "{}", corpus.chunks.len());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn man_page_families_are_capped() {
        let dir = scratch("families");
        let man1 = dir.join("man/man1");
        std::fs::create_dir_all(&man1).unwrap();
        for number in 0..(MAX_PAGES_PER_FAMILY + 5) {
            std::fs::write(man1.join(format!("tool_sub{number:03}.1")), "x").unwrap();
        }
        std::fs::write(man1.join("ls.1"), "x").unwrap();
        let pages = &system_sources(&dir)[2].files;
        assert_eq!(pages.len(), MAX_PAGES_PER_FAMILY + 1);
        assert!(pages.iter().any(|page| page.ends_with("ls.1")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
