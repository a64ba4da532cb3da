//! The demo's data: this crate's own sources, compiled into the binary, and the help of its
//! commands, rendered at run time; and the chunker that cuts them into search-sized pieces.
//! Nothing is read from outside the crate, so the corpus is the same wherever the binary was
//! built or installed from.
//!
//! Files are first split into blocks — paragraphs for prose (a fenced code block stays one
//! block), blank-line-separated blocks for code — and blocks longer than a window are cut into
//! overlapping windows of a few lines. [`chunk_corpus`] picks the widest window that still
//! yields the number of chunks asked for.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// What kind of text a file holds; decides how it is split into blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Prose (the commands' help): paragraphs, fenced code blocks kept whole.
    Prose,
    /// Rust source: blank-line-separated blocks.
    Rust,
}

impl Kind {
    /// The name stored in each chunk's metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Prose => "prose",
            Kind::Rust => "rust",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file of the corpus.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path from the crate's root, e.g. `src/search.rs`, or `help/embedstore-search.txt`.
    pub path: Cow<'static, str>,
    /// How it is split.
    pub kind: Kind,
    /// Its contents.
    pub text: Cow<'static, str>,
}

/// A piece of a file to embed and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// `path#n`, with `n` counting the file's chunks from 1.
    pub external_id: String,
    /// The file it came from.
    pub source: String,
    /// That file's kind.
    pub kind: Kind,
    /// Line of the file (from 1) the chunk starts on.
    pub line: usize,
    /// The chunk's lines, joined by `\n`.
    pub text: String,
}

/// How blocks longer than a window are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Lines per window.
    pub lines: usize,
    /// Lines from one window's start to the next one's; less than `lines` makes them overlap.
    pub stride: usize,
}

/// Window shapes [`chunk_corpus`] tries, widest (fewest, most readable chunks) first.
pub const WINDOW_CHOICES: [Windows; 6] = [
    Windows {
        lines: 12,
        stride: 6,
    },
    Windows {
        lines: 8,
        stride: 4,
    },
    Windows {
        lines: 6,
        stride: 3,
    },
    Windows {
        lines: 4,
        stride: 2,
    },
    Windows {
        lines: 3,
        stride: 1,
    },
    Windows {
        lines: 2,
        stride: 1,
    },
];

/// Chunks with fewer letters and digits than this (`}`, `];`, `---`) are noise and skipped.
const MIN_ALPHANUMERIC: usize = 4;

/// The files the demo searches, all of them this crate's own: its sources (`src/`, paths from
/// the crate's root) compiled into the binary, and the help of every command, rendered by clap
/// at run time (paths `help/embedstore-<command>.txt`, searched as prose). `demo.rs` is left
/// out on purpose: it holds the demo's queries, which would otherwise find themselves.
pub fn sources() -> Vec<SourceFile> {
    macro_rules! file {
        ($name:literal) => {
            SourceFile {
                path: Cow::Borrowed(concat!("src/", $name)),
                kind: Kind::Rust,
                text: Cow::Borrowed(include_str!($name)),
            }
        };
    }
    let mut files = vec![
        file!("main.rs"),
        file!("alias.rs"),
        file!("backfill.rs"),
        file!("collection.rs"),
        file!("corpus.rs"),
        file!("embedder.rs"),
        file!("error.rs"),
        file!("export.rs"),
        file!("grant.rs"),
        file!("health.rs"),
        file!("index.rs"),
        file!("ingest.rs"),
        file!("insert.rs"),
        file!("output.rs"),
        file!("rows.rs"),
        file!("search.rs"),
        file!("text_index.rs"),
    ];
    files.extend(help_pages());
    files
}
/// Chunks every file with the widest of [`WINDOW_CHOICES`] that gives at least `min_chunks`
/// chunks (the narrowest when none does), and returns the chunks with the windows used.
pub fn chunk_corpus(files: &[SourceFile], min_chunks: usize) -> (Vec<Chunk>, Windows) {
    let mut chosen = (Vec::new(), WINDOW_CHOICES[WINDOW_CHOICES.len() - 1]);
    for windows in WINDOW_CHOICES {
        let chunks: Vec<Chunk> = files
            .iter()
            .flat_map(|file| chunk_file(file, windows))
            .collect();
        let enough = chunks.len() >= min_chunks;
        chosen = (chunks, windows);
        if enough {
            break;
        }
    }
    chosen
}

/// The chunks of one file. Paragraphs of prose are whole thoughts, so they are cut only when
/// longer than the widest window, whatever `windows` says.
pub fn chunk_file(file: &SourceFile, windows: Windows) -> Vec<Chunk> {
    let windows = match file.kind {
        Kind::Prose => WINDOW_CHOICES[0],
        Kind::Rust => windows,
    };
    let lines: Vec<&str> = file.text.lines().collect();
    let mut chunks = Vec::new();
    for block in blocks(&lines, file.kind) {
        for (start, end) in window_ranges(block.start, block.end, windows) {
            let text = lines[start..end].join("\n");
            if text.chars().filter(|c| c.is_alphanumeric()).count() < MIN_ALPHANUMERIC {
                continue;
            }
            chunks.push(Chunk {
                external_id: format!("{}#{}", file.path, chunks.len() + 1),
                source: file.path.to_string(),
                kind: file.kind,
                line: start + 1,
                text,
            });
        }
    }
    chunks
}

/// The long help of `embedstore` and of every subcommand, depth first, as plain text at a
/// fixed width so that the corpus is the same on every terminal. A paragraph that an earlier
/// page already showed (the global options every page repeats) is left out, and so is clap's
/// `help` subcommand, which only repeats the others.
fn help_pages() -> Vec<SourceFile> {
    fn walk(
        command: &mut clap::Command,
        name: String,
        seen: &mut HashSet<String>,
        pages: &mut Vec<SourceFile>,
    ) {
        let help = command.render_long_help().to_string();
        let text: Vec<&str> = help
            .split("\n\n")
            .filter(|paragraph| seen.insert((*paragraph).to_owned()))
            .collect();
        pages.push(SourceFile {
            path: Cow::Owned(format!("help/{name}.txt")),
            kind: Kind::Prose,
            text: Cow::Owned(text.join("\n\n")),
        });
        for sub in command.get_subcommands_mut() {
            if sub.get_name() != "help" {
                let sub_name = format!("{name}-{}", sub.get_name());
                walk(sub, sub_name, seen, pages);
            }
        }
    }
    let mut command = <crate::Cli as clap::CommandFactory>::command().term_width(100);
    command.build();
    let mut pages = Vec::new();
    walk(
        &mut command,
        "embedstore".to_owned(),
        &mut HashSet::new(),
        &mut pages,
    );
    pages
}

/// Line ranges (0-based, end exclusive) of the blocks of a file: runs of non-blank lines; in
/// prose a fenced code block is one block even across blank lines.
fn blocks(lines: &[&str], kind: Kind) -> Vec<std::ops::Range<usize>> {
    let mut blocks = Vec::new();
    let mut start: Option<usize> = None;
    let mut in_fence = false;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if kind == Kind::Prose && trimmed.starts_with("```") {
            if !in_fence {
                // A fence opens a block of its own, even right after a paragraph.
                if let Some(open) = start.take() {
                    blocks.push(open..index);
                }
                start = Some(index);
                in_fence = true;
            } else {
                in_fence = false;
                blocks.extend(start.take().map(|open| open..index + 1));
            }
            continue;
        }
        if trimmed.is_empty() && !in_fence {
            blocks.extend(start.take().map(|open| open..index));
        } else if start.is_none() {
            start = Some(index);
        }
    }
    blocks.extend(start.map(|open| open..lines.len()));
    blocks
}

/// Windows over `start..end`: the whole block when it fits in one window, otherwise windows
/// every `stride` lines, the last one moved back to end exactly at the block's end.
fn window_ranges(start: usize, end: usize, windows: Windows) -> Vec<(usize, usize)> {
    let size = windows.lines.max(1);
    let stride = windows.stride.clamp(1, size);
    if end - start <= size {
        return vec![(start, end)];
    }
    let mut ranges = Vec::new();
    let mut from = start;
    loop {
        if from + size >= end {
            ranges.push((end - size, end));
            break;
        }
        ranges.push((from, from + size));
        from += stride;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Windows = Windows {
        lines: 4,
        stride: 2,
    };

    fn check(kind: Kind, text: &'static str, windows: Windows) -> Vec<(usize, String)> {
        let file = SourceFile {
            path: Cow::Borrowed("f"),
            kind,
            text: Cow::Borrowed(text),
        };
        chunk_file(&file, windows)
            .into_iter()
            .map(|chunk| (chunk.line, chunk.text))
            .collect()
    }

    #[test]
    fn code_is_split_at_blank_lines_and_numbered_from_line_one() {
        let chunks = check(
            Kind::Rust,
            "use std::fmt;\n\nfn one() {}\nfn two() {}\n\n\nfn three() {}\n",
            WIDE,
        );
        assert_eq!(
            chunks,
            [
                (1, "use std::fmt;".to_owned()),
                (3, "fn one() {}\nfn two() {}".to_owned()),
                (7, "fn three() {}".to_owned()),
            ]
        );
    }

    #[test]
    fn long_blocks_become_overlapping_windows_that_cover_the_end() {
        assert_eq!(window_ranges(0, 9, WIDE), [(0, 4), (2, 6), (4, 8), (5, 9)]);
        assert_eq!(window_ranges(10, 14, WIDE), [(10, 14)]);
        assert_eq!(window_ranges(0, 6, WIDE), [(0, 4), (2, 6)]);
        let text = "line a1\nline a2\nline a3\nline a4\nline a5\nline a6\n";
        let chunks = check(Kind::Rust, text, WIDE);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[1],
            (3, "line a3\nline a4\nline a5\nline a6".to_owned())
        );
    }

    #[test]
    fn prose_fences_stay_whole_and_paragraphs_split() {
        let text = "# Title\n\nIntro paragraph\nstill intro\n```rust\nlet a = 1;\n\nlet b = 2;\n```\n\nAfter.\nMore after\n";
        let windows = Windows {
            lines: 12,
            stride: 6,
        };
        let chunks = check(Kind::Prose, text, windows);
        assert_eq!(
            chunks,
            [
                (1, "# Title".to_owned()),
                (3, "Intro paragraph\nstill intro".to_owned()),
                (5, "```rust\nlet a = 1;\n\nlet b = 2;\n```".to_owned()),
                (11, "After.\nMore after".to_owned()),
            ]
        );
    }

    #[test]
    fn chunks_without_words_are_skipped_and_ids_stay_consecutive() {
        let file = SourceFile {
            path: Cow::Borrowed("src/x.rs"),
            kind: Kind::Rust,
            text: Cow::Borrowed("fn main() {\n}\n\n}\n\nfn other() {}\n"),
        };
        let ids: Vec<String> = chunk_file(&file, WIDE)
            .into_iter()
            .map(|chunk| chunk.external_id)
            .collect();
        assert_eq!(ids, ["src/x.rs#1", "src/x.rs#2"]);
    }

    #[test]
    fn the_corpus_gives_between_two_and_ten_thousand_chunks() {
        let files = sources();
        let (chunks, windows) = chunk_corpus(&files, 2_000);
        assert!(
            (2_000..=10_000).contains(&chunks.len()),
            "{} chunks with {windows:?}",
            chunks.len()
        );
        let mut ids: Vec<&str> = chunks.iter().map(|c| c.external_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), chunks.len(), "external ids must be unique");
    }

    #[test]
    fn the_widest_window_that_is_enough_is_chosen() {
        let files = sources();
        let (few, widest) = chunk_corpus(&files, 1);
        assert_eq!(widest, WINDOW_CHOICES[0]);
        let (many, _) = chunk_corpus(&files, few.len() + 1);
        assert!(many.len() > few.len());
    }
}
