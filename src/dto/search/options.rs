//! The flat form of a search — one field per setting, as JSON callers and the CLI's flags state
//! it — and the one parser that turns it into a typed [`SearchRequest`], refusing what no kind
//! of search can run.

use serde::{Deserialize, Serialize};

use crate::dto::search::request::{
    AnnOptions, Fusion, GroupBy, Include, IterativeScan, Mmr, SearchAfter, SearchRequest, Shape,
    TextSearch,
};
use crate::error::ValidationError;
use crate::filter::Filter;
use crate::vector::VectorValue;

/// A search as one flat set of options: the JSON form of [`SearchRequest`] (it serializes to
/// and deserializes from this) and what the CLI's flags fill in. Which kind of search it is
/// follows from what is set: a `vector` alone is a vector search, a `text` alone a text search,
/// both a hybrid search. [`SearchRequest::try_from`] is the one parser; it refuses an option
/// that cannot act on that kind (`ef_search` on a text search, `mmr` with `group_by`) naming
/// the field, so nothing is silently ignored. Unknown fields are refused too.
///
/// ```
/// use embedstore::{SearchOptions, SearchRequest};
/// let options: SearchOptions = serde_json::from_str(
///     r#"{"vector": [0.1, 0.2], "k": 5, "ef_search": 80, "mmr": {"lambda": 0.5, "fetch_k": 20}}"#,
/// ).unwrap();
/// let request = SearchRequest::try_from(options).unwrap();
/// assert!(matches!(request, SearchRequest::Vector(_)));
///
/// let text_only: SearchOptions =
///     serde_json::from_str(r#"{"k": 5, "text": {"query": "rust"}, "ef_search": 80}"#).unwrap();
/// let refused = SearchRequest::try_from(text_only).unwrap_err();
/// assert_eq!(
///     refused.lines().next().unwrap(),
///     "ef_search: has no effect on a text search (no query vector)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SearchOptions {
    /// The query vector; empty or absent for a text search.
    #[serde(default, skip_serializing_if = "VectorValue::is_empty")]
    pub vector: VectorValue,
    /// How many hits (or groups) to return, 1..=[`MAX_K`](crate::MAX_K).
    pub k: u32,
    /// Return each hit's `content`.
    #[serde(default)]
    pub include_content: bool,
    /// Return each hit's vector.
    #[serde(default)]
    pub include_vector: bool,
    /// Return each hit's metadata (default true).
    #[serde(default = "yes")]
    pub include_metadata: bool,
    /// [`AnnOptions::ef_search`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ef_search: Option<u32>,
    /// [`AnnOptions::probes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    /// [`AnnOptions::iterative`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterative: Option<IterativeScan>,
    /// [`AnnOptions::max_scan_tuples`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_scan_tuples: Option<u32>,
    /// [`AnnOptions::exact`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact: bool,
    /// Only rows whose metadata matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Drop hits farther than this distance (not on a text search).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_distance: Option<f64>,
    /// Drop hits whose score is below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_score: Option<f64>,
    /// [`Shape::After`]: the page after this hit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<SearchAfter>,
    /// [`AnnOptions::exact_threshold`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact_threshold: Option<u32>,
    /// [`AnnOptions::rerank_factor`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerank_factor: Option<u32>,
    /// [`Shape::Mmr`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mmr: Option<Mmr>,
    /// [`Shape::Grouped`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<GroupBy>,
    /// The text query: alone, a text search; with a vector, a hybrid search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextOptions>,
}

/// The text part of [`SearchOptions`]: the query and, for a hybrid search, its [`Fusion`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TextOptions {
    /// The query text.
    pub query: String,
    /// [`Fusion::fetch_k`] (hybrid only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch_k: Option<u32>,
    /// [`Fusion::rrf_k`] (hybrid only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rrf_k: Option<u32>,
    /// [`Fusion::vector_weight`] (hybrid only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_weight: Option<f64>,
    /// [`Fusion::text_weight`] (hybrid only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_weight: Option<f64>,
}

impl SearchOptions {
    /// No query yet, `k` hits, every other option at its default.
    pub fn new(k: u32) -> Self {
        Self {
            vector: VectorValue::default(),
            k,
            include_content: false,
            include_vector: false,
            include_metadata: true,
            ef_search: None,
            probes: None,
            iterative: None,
            max_scan_tuples: None,
            exact: false,
            filter: None,
            max_distance: None,
            min_score: None,
            after: None,
            exact_threshold: None,
            rerank_factor: None,
            mmr: None,
            group_by: None,
            text: None,
        }
    }

    fn ann(&self) -> AnnOptions {
        AnnOptions {
            exact: self.exact,
            ef_search: self.ef_search,
            probes: self.probes,
            iterative: self.iterative,
            max_scan_tuples: self.max_scan_tuples,
            exact_threshold: self.exact_threshold,
            rerank_factor: self.rerank_factor,
        }
    }

    fn include(&self) -> Include {
        Include {
            content: self.include_content,
            vector: self.include_vector,
            metadata: self.include_metadata,
        }
    }

    /// The vector-side options that are set, by field name.
    fn vector_options(&self) -> Vec<&'static str> {
        let set = [
            ("exact", self.exact),
            ("ef_search", self.ef_search.is_some()),
            ("probes", self.probes.is_some()),
            ("iterative", self.iterative.is_some()),
            ("max_scan_tuples", self.max_scan_tuples.is_some()),
            ("exact_threshold", self.exact_threshold.is_some()),
            ("rerank_factor", self.rerank_factor.is_some()),
            ("max_distance", self.max_distance.is_some()),
        ];
        set.into_iter()
            .filter_map(|(field, set)| set.then_some(field))
            .collect()
    }

    /// The shapes that are set, by field name.
    fn shapes(&self) -> Vec<(&'static str, Shape)> {
        let mut shapes = Vec::new();
        if let Some(after) = self.after {
            shapes.push(("after", Shape::After(after)));
        }
        if let Some(mmr) = self.mmr {
            shapes.push(("mmr", Shape::Mmr(mmr)));
        }
        if let Some(group_by) = &self.group_by {
            shapes.push(("group_by", Shape::Grouped(group_by.clone())));
        }
        shapes
    }
}

impl TryFrom<SearchOptions> for SearchRequest {
    type Error = ValidationError;

    /// The typed request these options state.
    ///
    /// # Errors
    /// Every option that cannot act on the kind of search the options state, by field: no
    /// vector and no text; vector-side options or a shape on a text search; a shape on a
    /// hybrid search; two shapes at once; fusion options without a vector. Values are checked
    /// against the collection when the search runs.
    fn try_from(options: SearchOptions) -> Result<Self, ValidationError> {
        let mut problems: Vec<(String, String)> = Vec::new();
        let shapes = options.shapes();
        let (ann, include) = (options.ann(), options.include());
        let vector_options = options.vector_options();
        let request = match (options.vector.is_empty(), options.text) {
            (true, None) => {
                problems.push((
                    "vector".to_owned(),
                    "a search needs a query vector or a text query (`text`)".to_owned(),
                ));
                None
            }
            (true, Some(text)) => {
                let fusion = [
                    ("text.fetch_k", text.fetch_k.is_some()),
                    ("text.rrf_k", text.rrf_k.is_some()),
                    ("text.vector_weight", text.vector_weight.is_some()),
                    ("text.text_weight", text.text_weight.is_some()),
                ];
                let pointless = vector_options
                    .into_iter()
                    .chain(shapes.iter().map(|(field, _)| *field))
                    .chain(fusion.into_iter().filter_map(|(f, set)| set.then_some(f)));
                for field in pointless {
                    problems.push((
                        field.to_owned(),
                        "has no effect on a text search (no query vector)".to_owned(),
                    ));
                }
                Some(SearchRequest::Text(TextSearch {
                    text: text.query,
                    k: options.k,
                    filter: options.filter,
                    include,
                    min_score: options.min_score,
                }))
            }
            (false, Some(text)) => {
                for (field, _) in &shapes {
                    problems.push((
                        (*field).to_owned(),
                        "cannot be combined with a text query (a hybrid search returns the k \
                         best fused hits)"
                            .to_owned(),
                    ));
                }
                let fusion = Fusion {
                    fetch_k: text.fetch_k,
                    rrf_k: text.rrf_k,
                    vector_weight: text.vector_weight,
                    text_weight: text.text_weight,
                };
                let mut search =
                    SearchRequest::hybrid(options.vector, text.query, options.k).with_ann(ann);
                search.fusion = fusion;
                search.filter = options.filter;
                search.include = include;
                search.max_distance = options.max_distance;
                search.min_score = options.min_score;
                Some(SearchRequest::Hybrid(search))
            }
            (false, None) => {
                let mut shapes = shapes.into_iter();
                let shape = shapes.next();
                for (field, _) in shapes {
                    let first = shape.as_ref().map_or("", |(first, _)| *first);
                    problems.push((
                        field.to_owned(),
                        format!("cannot be combined with `{first}`"),
                    ));
                }
                let mut search = SearchRequest::vector(options.vector, options.k)
                    .with_ann(ann)
                    .with_shape(shape.map_or(Shape::Nearest, |(_, shape)| shape));
                search.filter = options.filter;
                search.include = include;
                search.max_distance = options.max_distance;
                search.min_score = options.min_score;
                Some(SearchRequest::Vector(search))
            }
        };
        match request {
            Some(request) if problems.is_empty() => Ok(request),
            _ => Err(ValidationError::new(problems)),
        }
    }
}

impl From<SearchRequest> for SearchOptions {
    fn from(request: SearchRequest) -> Self {
        let mut options = SearchOptions::new(request.k());
        let set_include = |options: &mut SearchOptions, include: Include| {
            options.include_content = include.content;
            options.include_vector = include.vector;
            options.include_metadata = include.metadata;
        };
        let set_ann = |options: &mut SearchOptions, ann: AnnOptions| {
            options.exact = ann.exact;
            options.ef_search = ann.ef_search;
            options.probes = ann.probes;
            options.iterative = ann.iterative;
            options.max_scan_tuples = ann.max_scan_tuples;
            options.exact_threshold = ann.exact_threshold;
            options.rerank_factor = ann.rerank_factor;
        };
        match request {
            SearchRequest::Vector(search) => {
                options.vector = search.vector;
                options.filter = search.filter;
                set_include(&mut options, search.include);
                set_ann(&mut options, search.ann);
                options.max_distance = search.max_distance;
                options.min_score = search.min_score;
                match search.shape {
                    Shape::Nearest => {}
                    Shape::After(after) => options.after = Some(after),
                    Shape::Mmr(mmr) => options.mmr = Some(mmr),
                    Shape::Grouped(group_by) => options.group_by = Some(group_by),
                }
            }
            SearchRequest::Text(search) => {
                options.filter = search.filter;
                set_include(&mut options, search.include);
                options.min_score = search.min_score;
                options.text = Some(TextOptions::query(search.text));
            }
            SearchRequest::Hybrid(search) => {
                options.vector = search.vector;
                options.filter = search.filter;
                set_include(&mut options, search.include);
                set_ann(&mut options, search.ann);
                options.max_distance = search.max_distance;
                options.min_score = search.min_score;
                options.text = Some(TextOptions {
                    query: search.text,
                    fetch_k: search.fusion.fetch_k,
                    rrf_k: search.fusion.rrf_k,
                    vector_weight: search.fusion.vector_weight,
                    text_weight: search.fusion.text_weight,
                });
            }
        }
        options
    }
}

impl TextOptions {
    /// A text query with default fusion.
    pub fn query(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            fetch_k: None,
            rrf_k: None,
            vector_weight: None,
            text_weight: None,
        }
    }
}

fn yes() -> bool {
    true
}
