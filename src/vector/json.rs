//! The JSON forms of [`VectorValue`]: an array of numbers (or booleans), a sparse object, or a
//! string of bits.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::vector::{BitVector, SparseVector, VectorValue};

impl Serialize for VectorValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            VectorValue::Dense(values) => values.serialize(serializer),
            VectorValue::Sparse(sparse) => sparse.serialize(serializer),
            VectorValue::Bit(bits) => bits.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for VectorValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = VectorValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a vector: an array of numbers, {\"indices\": [...], \"values\": [...], \"dim\": N} \
             or a string of 0s and 1s",
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<VectorValue, A::Error> {
        let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16_384));
        while let Some(value) = seq.next_element::<DenseElement>()? {
            values.push(value.0);
        }
        Ok(VectorValue::Dense(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<VectorValue, A::Error> {
        SparseVector::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(VectorValue::Sparse)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<VectorValue, E> {
        text.parse::<BitVector>()
            .map(VectorValue::Bit)
            .map_err(E::custom)
    }
}

/// One element of a dense array: a number, or a boolean (read as 1 or 0, for bit vectors).
struct DenseElement(f32);

impl<'de> Deserialize<'de> for DenseElement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor;
        impl Visitor<'_> for ElementVisitor {
            type Value = DenseElement;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<DenseElement, E> {
                Ok(DenseElement(value as f32))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<DenseElement, E> {
                Ok(DenseElement(value as f32))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<DenseElement, E> {
                Ok(DenseElement(value as f32))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<DenseElement, E> {
                Ok(DenseElement(if value { 1.0 } else { 0.0 }))
            }
        }
        deserializer.deserialize_any(ElementVisitor)
    }
}
