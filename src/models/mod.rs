//! Rows as they are stored: the public [`Collection`], [`Embedding`] and [`Alias`], and the
//! crate-private diesel row types (`Queryable`/`Selectable`/`Insertable`) they are read from and
//! written through, so that no public type carries diesel's traits. No validation happens here;
//! inputs are validated in [`crate::dto`] first.

mod alias;
mod collection;
mod embedding;

pub use alias::{Alias, AliasRow};
pub use collection::{Collection, CollectionId};
pub(crate) use collection::{CollectionRow, NewCollectionRow};
pub use embedding::{Embedding, NewEmbeddingRow};
pub(crate) use embedding::{EmbeddingRow, StoredVector};
