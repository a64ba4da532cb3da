//! Synonyms from Princeton WordNet 3.0's database files, as Debian's `wordnet-base` installs
//! them in `/usr/share/wordnet` (`index.noun` … `data.adv`).
//!
//! A word's synonyms are the other single-word lemmas of its most frequent sense: of the parts
//! of speech that list the word, the one with the most sense-tagged occurrences
//! (`tagsense_cnt`; ties go to noun, verb, adjective, adverb in that order), and there its
//! first synset. Multi-word lemmas (`data_file`) and lemmas with anything but letters are left
//! out. One sense only, so `file` is never `Indian_file`; WordNet's first senses are still
//! general English, not a technical vocabulary (see BENCHMARKS.md).

use std::collections::HashMap;
use std::path::Path;

const PARTS_OF_SPEECH: [&str; 4] = ["noun", "verb", "adj", "adv"];

/// Lemma → the single-word synonyms of its most frequent sense.
#[derive(Debug, Default)]
pub struct WordNet {
    synonyms: HashMap<String, Vec<String>>,
}

impl WordNet {
    /// Reads the database in `dir`.
    ///
    /// # Errors
    /// A message naming the file when one of the eight files is missing, unreadable, not
    /// UTF-8, or gives no synonyms at all.
    pub fn load(dir: &Path) -> Result<Self, String> {
        // Lemma → (tagsense_cnt, part of speech, first synset's offset), best sense so far.
        let mut senses: HashMap<String, (u64, usize, usize)> = HashMap::new();
        for (pos, name) in PARTS_OF_SPEECH.iter().enumerate() {
            let path = dir.join(format!("index.{name}"));
            let text = std::fs::read_to_string(&path)
                .map_err(|error| format!("{}: {error}", path.display()))?;
            for line in text.lines() {
                let Some((lemma, tagged, offset)) = parse_index_line(line) else {
                    continue;
                };
                let better = senses.get(lemma).is_none_or(|(best, _, _)| tagged > *best);
                if better {
                    senses.insert(lemma.to_owned(), (tagged, pos, offset));
                }
            }
        }
        let mut data = Vec::new();
        for name in PARTS_OF_SPEECH {
            let path = dir.join(format!("data.{name}"));
            data.push(
                std::fs::read_to_string(&path)
                    .map_err(|error| format!("{}: {error}", path.display()))?,
            );
        }
        let mut synonyms = HashMap::new();
        for (lemma, (_, pos, offset)) in senses {
            let Some(line) = data[pos].get(offset..).and_then(|rest| rest.lines().next()) else {
                continue;
            };
            let words: Vec<String> = synset_words(line)
                .into_iter()
                .filter(|word| *word != lemma && single_word(word))
                .collect();
            if !words.is_empty() {
                synonyms.insert(lemma, words);
            }
        }
        if synonyms.is_empty() {
            return Err(format!("{}: no synonyms found", dir.display()));
        }
        Ok(Self { synonyms })
    }

    /// The synonyms of `word` (lowercase), in WordNet's order; empty when it has none.
    pub fn synonyms(&self, word: &str) -> &[String] {
        self.synonyms.get(word).map_or(&[], Vec::as_slice)
    }

    /// Lemmas with at least one synonym.
    pub fn len(&self) -> usize {
        self.synonyms.len()
    }

    /// A database built from `(word, synonyms)` pairs (tests).
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &[&str])]) -> Self {
        Self {
            synonyms: pairs
                .iter()
                .map(|(word, synonyms)| {
                    (
                        (*word).to_owned(),
                        synonyms.iter().map(|s| (*s).to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }
}

/// An index line `lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt offset…`:
/// the single-word lemma, its tagsense_cnt and first offset. `None` for the license header
/// (lines starting with blanks), multi-word lemmas and malformed lines.
fn parse_index_line(line: &str) -> Option<(&str, u64, usize)> {
    if line.starts_with(' ') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let lemma = fields.next()?;
    if !single_word(lemma) {
        return None;
    }
    let _pos = fields.next()?;
    let _synsets: u64 = fields.next()?.parse().ok()?;
    let pointers: usize = fields.next()?.parse().ok()?;
    let mut fields = fields.skip(pointers);
    let _senses: u64 = fields.next()?.parse().ok()?;
    let tagged: u64 = fields.next()?.parse().ok()?;
    let offset: usize = fields.next()?.parse().ok()?;
    Some((lemma, tagged, offset))
}

/// The lemmas of a data line `offset lex_filenum ss_type w_cnt word lex_id [word lex_id…] …`
/// (`w_cnt` in hexadecimal), lowercase, without adjective markers like `(a)`.
fn synset_words(line: &str) -> Vec<String> {
    let mut fields = line.split_whitespace();
    let (Some(_), Some(_), Some(_), Some(count)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Vec::new();
    };
    let Ok(count) = usize::from_str_radix(count, 16) else {
        return Vec::new();
    };
    let mut words = Vec::with_capacity(count);
    for _ in 0..count {
        let (Some(word), Some(_lex_id)) = (fields.next(), fields.next()) else {
            break;
        };
        let word = word.split('(').next().unwrap_or(word).to_lowercase();
        if !words.contains(&word) {
            words.push(word);
        }
    }
    words
}

fn single_word(word: &str) -> bool {
    word.chars().count() >= 3 && word.chars().all(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_frequent_sense_gives_the_synonyms() {
        let dir = std::env::temp_dir().join(format!("embedstore-wordnet-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let header = "  1 This software and database is being provided\n";
        // `quick` is an adjective (tagged 6 times) and, less often, a noun (tagged once).
        let data_adj_body = "quick a 2 0 2 6 00000000 00000100\n";
        let adj_line_0 = "00000000 00 s 03 quick 0 speedy(a) 0 Fast 0 000 | moving rapidly\n";
        let mut data_adj = String::from(header);
        let first_offset = data_adj.len();
        data_adj.push_str(adj_line_0);
        data_adj.push_str("00000100 00 s 01 quick 0 000 | other\n");
        let index_adj = format!(
            "{header}{}",
            data_adj_body.replace("00000000", &format!("{first_offset:08}"))
        );
        let mut data_noun = String::from(header);
        let noun_offset = data_noun.len();
        data_noun.push_str("00000000 00 n 02 quick 0 nail_bed 0 000 | flesh under the nail\n");
        let index_noun =
            format!("{header}quick n 1 0 1 1 {noun_offset:08}\ndata_file n 1 0 1 0 00000000\n");
        for (name, text) in [
            ("index.noun", index_noun.as_str()),
            ("index.verb", header),
            ("index.adj", index_adj.as_str()),
            ("index.adv", header),
            ("data.noun", data_noun.as_str()),
            ("data.verb", header),
            ("data.adj", data_adj.as_str()),
            ("data.adv", header),
        ] {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let wordnet = WordNet::load(&dir).unwrap();
        assert_eq!(wordnet.synonyms("quick"), ["speedy", "fast"]);
        assert!(wordnet.synonyms("nail").is_empty());
        assert_eq!(wordnet.len(), 1);
        // A missing file is an error, not a panic.
        std::fs::remove_file(dir.join("data.adv")).unwrap();
        let error = WordNet::load(&dir).unwrap_err();
        assert!(error.contains("data.adv"), "{error}");
        assert!(WordNet::load(&dir.join("absent")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_lines_are_ignored() {
        for line in ["", "x", "word n", "word n 1 x", "word n 1 5 @", "  license"] {
            assert_eq!(parse_index_line(line), None, "{line:?}");
        }
        assert!(synset_words("1 2 3 zz word 0").is_empty());
        assert_eq!(synset_words("1 2 3 05 only 0"), ["only"]);
    }
}
