//! [`SparseVector`]: the non-zero positions and values of a `sparsevec`.

use diesel::pg::Pg;
use diesel::serialize::{self, IsNull, Output, ToSql};
use serde::{Deserialize, Serialize};

use crate::vector::VectorValue;

/// A sparse vector: `values[i]` sits at the 0-based position `indices[i]` of a vector of `dim`
/// dimensions; every other position is zero.
///
/// Stored, the indices must increase strictly, lie below `dim`, and the values must be finite
/// and non-zero (a collection refuses anything else, naming the offending position). JSON:
/// `{"indices": [3, 17], "values": [0.5, 1.25], "dim": 30522}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseVector {
    /// The positions of the non-zero values, 0-based, strictly increasing.
    pub indices: Vec<u32>,
    /// The values at those positions.
    pub values: Vec<f32>,
    /// The number of dimensions.
    #[serde(alias = "dimension")]
    pub dim: u32,
}

impl SparseVector {
    /// A sparse vector from its parts (checked when stored or searched, not here).
    pub fn new(dim: u32, indices: Vec<u32>, values: Vec<f32>) -> Self {
        Self {
            indices,
            values,
            dim,
        }
    }

    /// The non-zero values of `dense`, as a sparse vector of `dense.len()` dimensions.
    pub fn from_dense(dense: &[f32]) -> Self {
        let (indices, values) = dense
            .iter()
            .enumerate()
            .filter(|(_, value)| **value != 0.0)
            .map(|(index, value)| (index as u32, *value))
            .unzip();
        Self {
            indices,
            values,
            dim: u32::try_from(dense.len()).unwrap_or(u32::MAX),
        }
    }

    /// The dense form (`dim` values; meant for tests and small dimensions).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut dense = vec![0.0; self.dim as usize];
        for (index, value) in self.indices.iter().zip(&self.values) {
            if let Some(slot) = dense.get_mut(*index as usize) {
                *slot = *value;
            }
        }
        dense
    }
}

/// A sparse vector as a `sparsevec` parameter (`sparsevec_recv`'s layout).
impl ToSql<pgvector::sql_types::SparseVector, Pg> for SparseVector {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        VectorValue::write_sparse(out, self)?;
        Ok(IsNull::No)
    }
}
