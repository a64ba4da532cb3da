//! The JSON forms of [`VectorValue`]: an array of numbers (or booleans), a sparse object, or a
//! string of bits.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::vector::{BitVector, NotBits, SparseVector, VectorValue};

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
            .map_err(|not_bits| E::custom(not_a_vector(text, &not_bits)))
    }
}

/// Why `text`, a JSON string that is not a string of bits, is no vector: one mostly of 0s and
/// 1s is a bit vector gone wrong (which character); any other string is not a vector of any
/// kind — saying only "not bits" would send the writer of a dense or sparse vector the wrong
/// way.
fn not_a_vector(text: &str, not_bits: &NotBits) -> String {
    let bits = text.chars().filter(|c| matches!(c, '0' | '1')).count();
    if bits > 0 && bits * 2 >= text.chars().count() {
        return not_bits.to_string();
    }
    let shown: String = text.chars().take(32).collect();
    let more = if shown.len() < text.len() { "…" } else { "" };
    let hint = if text.trim_start().starts_with(['[', '{']) {
        ": JSON inside a string; write the array or object without the quotes"
    } else {
        ""
    };
    format!(
        "expected a vector (an array of numbers, {{\"indices\": [...], \"values\": [...], \"dim\": N}}, or a string of 0s and 1s), got the string {:?}{hint}",
        format!("{shown}{more}")
    )
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
