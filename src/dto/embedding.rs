use std::collections::HashMap;
use std::collections::hash_map::Entry;

use garde::Validate;
use serde::{Deserialize, Serialize};

use crate::dto::collection::empty_object;
use crate::dto::rules::{self, CollectionRules, Purpose};
use crate::models::{CollectionId, NewEmbeddingRow};
use crate::vector::{VectorKind, VectorValue};

/// One embedding to store.
///
/// Deserializes from the JSONL records the CLI reads:
/// `{"external_id": "doc-1", "vector": [0.1, …], "content": "…", "metadata": {"lang": "en"}}`
/// (`id` is accepted for `external_id`; `content` and `metadata` are optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEmbedding {
    /// The caller's stable key, 1..=512 bytes, no NUL; unique within the collection.
    #[serde(alias = "id")]
    pub external_id: String,
    /// The vector, of the collection's kind and dimension (see [`VectorValue`]): finite
    /// values, not all zero under cosine; a sparse one with strictly increasing indices below
    /// its dimension, non-zero values, at most 1,000 of them.
    pub vector: VectorValue,
    /// Optional source text.
    #[serde(default)]
    pub content: Option<String>,
    /// JSON object of attributes (defaults to `{}`).
    #[serde(default = "empty_object")]
    pub metadata: serde_json::Value,
}

impl NewEmbedding {
    /// An embedding without content and with empty metadata; `vector` is a `Vec<f32>` for a
    /// dense collection, a [`SparseVector`](crate::SparseVector) or a
    /// [`BitVector`](crate::BitVector) for the others.
    pub fn new(external_id: impl Into<String>, vector: impl Into<VectorValue>) -> Self {
        Self {
            external_id: external_id.into(),
            vector: vector.into(),
            content: None,
            metadata: empty_object(),
        }
    }

    /// Sets the content.
    pub fn with_content(mut self, content: impl Into<String>) -> Self {
        self.content = Some(content.into());
        self
    }

    /// Sets the metadata (must be a JSON object).
    pub fn with_metadata(mut self, metadata: serde_json::Value) -> Self {
        self.metadata = metadata;
        self
    }

    fn into_row(self, collection_id: CollectionId, kind: VectorKind) -> NewEmbeddingRow {
        NewEmbeddingRow {
            collection_id,
            external_id: self.external_id,
            vector: rules::conform(self.vector, kind),
            content: self.content,
            metadata: self.metadata,
        }
    }
}

/// Written by hand rather than derived so that the vector, the bulk of every batch, is checked
/// in one pass; only a vector that fails it is checked value by value, for the precise report
/// (`vector[7]: value is NaN`).
impl Validate for NewEmbedding {
    type Context = CollectionRules;

    fn validate_into(
        &self,
        rules: &CollectionRules,
        parent: &mut dyn FnMut() -> garde::Path,
        report: &mut garde::Report,
    ) {
        if let Err(error) = rules::external_id(&self.external_id, rules) {
            report.append(parent().join("external_id"), error);
        }
        rules::check_vector(
            &self.vector,
            rules,
            Purpose::Store,
            &mut || parent().join("vector"),
            report,
        );
        if let Err(error) = rules::content(&self.content, rules) {
            report.append(parent().join("content"), error);
        }
        if let Err(error) = rules::metadata(&self.metadata, rules) {
            report.append(parent().join("metadata"), error);
        }
    }
}

/// What a batch does with two items that share an `external_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Duplicates {
    /// Refuse the batch, reporting each later duplicate (inserts).
    Reject,
    /// Keep the last occurrence, drop the earlier ones (upserts): the batch means
    /// "the state after applying these items in order".
    LastWins,
}

/// A batch of embeddings for one collection; validated as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingBatch {
    /// The items, in the caller's order; failures are reported as `items[i].field`.
    pub items: Vec<NewEmbedding>,
    /// How repeated `external_id`s inside the batch are treated.
    pub duplicates: Duplicates,
}

/// An [`EmbeddingBatch`] that passed validation against one collection's rules: the proof the
/// repository's writes take, like `garde::Valid`, made by [`EmbeddingBatch::check`].
#[derive(Debug)]
pub(crate) struct CheckedBatch(EmbeddingBatch);

impl CheckedBatch {
    /// The items, in the caller's order.
    pub(crate) fn items(&self) -> &[NewEmbedding] {
        &self.0.items
    }

    /// The checked batch.
    pub(crate) fn into_inner(self) -> EmbeddingBatch {
        self.0
    }
}

impl Validate for EmbeddingBatch {
    type Context = CollectionRules;

    fn validate_into(
        &self,
        rules: &CollectionRules,
        parent: &mut dyn FnMut() -> garde::Path,
        report: &mut garde::Report,
    ) {
        for (index, item) in self.items.iter().enumerate() {
            let mut item_path = || parent().join("items").join(index);
            item.validate_into(rules, &mut item_path, report);
        }
        if self.duplicates == Duplicates::Reject {
            let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(self.items.len());
            for (index, item) in self.items.iter().enumerate() {
                match first_seen.entry(&item.external_id) {
                    Entry::Vacant(slot) => {
                        slot.insert(index);
                    }
                    Entry::Occupied(first) => report.append(
                        parent().join("items").join(index).join("external_id"),
                        garde::Error::new(format!("repeats items[{}].external_id", first.get())),
                    ),
                }
            }
        }
    }
}

impl EmbeddingBatch {
    /// Checks the batch against `rules` like garde's `validate_with`, but hands
    /// the batch back beside the report when it fails: the bulk ingest needs the items of a
    /// refused batch to name its rows and to write the valid ones.
    pub(crate) fn check(
        self,
        rules: &CollectionRules,
    ) -> Result<CheckedBatch, (Self, garde::Report)> {
        match self.validate_with(rules) {
            Ok(()) => Ok(CheckedBatch(self)),
            Err(report) => Err((self, report)),
        }
    }

    /// Rows for the `COPY`, in order; under [`Duplicates::LastWins`] only the last occurrence
    /// of each `external_id` is kept (at the position of that last occurrence).
    pub(crate) fn into_rows(
        self,
        collection_id: CollectionId,
        kind: VectorKind,
    ) -> (Vec<NewEmbeddingRow>, usize) {
        let total = self.items.len();
        let items = match self.duplicates {
            Duplicates::Reject => self.items,
            Duplicates::LastWins => {
                let mut last: HashMap<&str, usize> = HashMap::with_capacity(total);
                for (index, item) in self.items.iter().enumerate() {
                    last.insert(&item.external_id, index);
                }
                if last.len() == total {
                    self.items
                } else {
                    let keep: Vec<bool> = self
                        .items
                        .iter()
                        .enumerate()
                        .map(|(index, item)| last.get(item.external_id.as_str()) == Some(&index))
                        .collect();
                    self.items
                        .into_iter()
                        .zip(keep)
                        .filter_map(|(item, kept)| kept.then_some(item))
                        .collect()
                }
            }
        };
        let dropped = total - items.len();
        let rows = items
            .into_iter()
            .map(|item| item.into_row(collection_id, kind))
            .collect();
        (rows, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Metric;

    const RULES: CollectionRules = CollectionRules {
        dimension: 3,
        metric: Metric::Cosine,
        kind: VectorKind::Dense,
    };

    fn failures(batch: &EmbeddingBatch) -> Vec<String> {
        let report = batch.validate_with(&RULES).unwrap_err();
        report
            .iter()
            .map(|(path, error)| format!("{path}: {}", error.message()))
            .collect()
    }

    #[test]
    fn every_bad_item_is_reported_with_its_path() {
        let batch = EmbeddingBatch {
            items: vec![
                NewEmbedding::new("ok", vec![1.0, 2.0, 3.0]),
                NewEmbedding::new("", vec![1.0, f32::NAN, f32::INFINITY]),
                NewEmbedding::new("short", vec![1.0]),
                NewEmbedding::new("zero", vec![0.0, 0.0, 0.0]),
                NewEmbedding::new("meta", vec![1.0, 1.0, 1.0])
                    .with_metadata(serde_json::json!([1])),
                NewEmbedding::new("nul\0id", vec![1.0, 1.0, 1.0]).with_content("a\0b"),
            ],
            duplicates: Duplicates::Reject,
        };
        let found = failures(&batch);
        for expected in [
            "items[1].external_id: is empty",
            "items[1].vector[1]: value is NaN",
            "items[1].vector[2]: value is infinite",
            "items[2].vector: expected 3 values, got 1",
            "items[3].vector: all values are zero, which has no cosine distance",
            "items[4].metadata: must be a JSON object, got an array",
            "items[5].external_id: contains a NUL character at byte 3",
            "items[5].content: contains a NUL character at byte 1",
        ] {
            assert!(
                found.iter().any(|line| line == expected),
                "missing {expected:?} in {found:#?}"
            );
        }
        assert_eq!(found.len(), 8, "{found:#?}");
    }

    #[test]
    fn duplicates_are_refused_for_inserts_and_resolved_last_wins_for_upserts() {
        let items = vec![
            NewEmbedding::new("a", vec![1.0, 0.0, 0.0]),
            NewEmbedding::new("b", vec![0.0, 1.0, 0.0]),
            NewEmbedding::new("a", vec![0.0, 0.0, 1.0]),
            NewEmbedding::new("a", vec![1.0, 1.0, 0.0]),
        ];
        let reject = EmbeddingBatch {
            items: items.clone(),
            duplicates: Duplicates::Reject,
        };
        assert_eq!(
            failures(&reject),
            [
                "items[2].external_id: repeats items[0].external_id",
                "items[3].external_id: repeats items[0].external_id"
            ]
        );
        let upsert = EmbeddingBatch {
            items,
            duplicates: Duplicates::LastWins,
        };
        assert!(upsert.validate_with(&RULES).is_ok());
        let (rows, dropped) = upsert.into_rows(CollectionId(1), VectorKind::Dense);
        assert_eq!(dropped, 2);
        let kept: Vec<(&str, Vec<f32>)> = rows
            .iter()
            .map(|row| (row.external_id.as_str(), row.vector.to_vec()))
            .collect();
        assert_eq!(
            kept,
            [("b", vec![0.0, 1.0, 0.0]), ("a", vec![1.0, 1.0, 0.0])]
        );
    }

    #[test]
    fn oversized_and_nul_metadata_are_refused() {
        let big = "x".repeat(rules::MAX_METADATA_BYTES);
        let batch = EmbeddingBatch {
            items: vec![
                NewEmbedding::new("big", vec![1.0, 1.0, 1.0])
                    .with_metadata(serde_json::json!({ "k": big })),
                NewEmbedding::new("nul", vec![1.0, 1.0, 1.0])
                    .with_metadata(serde_json::json!({ "k\u{0}": 1 })),
                NewEmbedding::new("long", vec![1.0, 1.0, 1.0])
                    .with_content("y".repeat(rules::MAX_CONTENT_BYTES + 1)),
                NewEmbedding::new("z".repeat(513), vec![1.0, 1.0, 1.0]),
            ],
            duplicates: Duplicates::Reject,
        };
        let found = failures(&batch);
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0]
                .starts_with("items[0].metadata: is 65544 bytes as JSON, at most 65536 allowed"),
            "{found:#?}"
        );
        assert!(
            found[1].starts_with("items[1].metadata: contains a NUL character"),
            "{found:#?}"
        );
        assert!(
            found[2].starts_with("items[2].content: is 1048577 bytes"),
            "{found:#?}"
        );
        assert_eq!(
            found[3],
            "items[3].external_id: is 513 bytes, at most 512 allowed"
        );
    }

    #[test]
    fn jsonl_records_deserialize_with_defaults() {
        let item: NewEmbedding =
            serde_json::from_str(r#"{"id": "x", "vector": [1, 2.5, -3]}"#).unwrap();
        assert_eq!(item, NewEmbedding::new("x", vec![1.0, 2.5, -3.0]));
    }
}
