//! Rows as they are stored: diesel `Queryable`/`Selectable`/`Insertable` types and newtype ids.
//! No validation happens here; inputs are validated in [`crate::dto`] first.

mod alias;
mod collection;
mod embedding;

pub use alias::{Alias, AliasRow};
pub use collection::{Collection, CollectionId, NewCollectionRow};
pub(crate) use embedding::StoredVector;
pub use embedding::{Embedding, NewEmbeddingRow};
