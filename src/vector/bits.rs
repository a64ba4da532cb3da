//! [`BitVector`]: packed bits as PostgreSQL's `bit` stores them, its text and JSON forms.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::vector::{VectorValue, sql_types};

/// A vector of bits, packed most significant bit first (PostgreSQL's `bit` layout).
///
/// JSON: a string of `0`s and `1`s (`"0110"`); an array of 0s and 1s (or booleans) is read too.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BitVector {
    pub(super) len: u32,
    pub(super) bytes: Vec<u8>,
}

impl BitVector {
    /// The bits of `bits`, in order.
    pub fn from_bools(bits: &[bool]) -> Self {
        let mut bytes = vec![0u8; bits.len().div_ceil(8)];
        for (index, bit) in bits.iter().enumerate() {
            if *bit {
                bytes[index / 8] |= 0x80 >> (index % 8);
            }
        }
        Self {
            len: u32::try_from(bits.len()).unwrap_or(u32::MAX),
            bytes,
        }
    }

    /// `len` bits packed in `bytes`, most significant bit first; `None` when `bytes` does not
    /// hold exactly `len` bits (bits past `len` in the last byte are cleared).
    pub fn from_bytes(len: u32, mut bytes: Vec<u8>) -> Option<Self> {
        if bytes.len() != (len as usize).div_ceil(8) {
            return None;
        }
        if !len.is_multiple_of(8)
            && let Some(last) = bytes.last_mut()
        {
            *last &= 0xFFu8 << (8 - len % 8);
        }
        Some(Self { len, bytes })
    }

    /// The number of bits.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether there are no bits at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packed bits, most significant bit first.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bit at `index`.
    pub fn get(&self, index: usize) -> Option<bool> {
        (index < self.len()).then(|| self.bytes[index / 8] & (0x80 >> (index % 8)) != 0)
    }

    /// The bits, in order.
    pub fn iter(&self) -> impl Iterator<Item = bool> + '_ {
        (0..self.len()).map(|index| self.bytes[index / 8] & (0x80 >> (index % 8)) != 0)
    }

    /// How many bits are set.
    pub fn count_ones(&self) -> u32 {
        self.bytes.iter().map(|byte| byte.count_ones()).sum()
    }

    /// Sets the bit at `index` to `bit` and returns the bit it replaced; `None`, changing
    /// nothing, when `index` is not below [`BitVector::len`].
    pub fn set(&mut self, index: usize, bit: bool) -> Option<bool> {
        let previous = self.get(index)?;
        let mask = 0x80 >> (index % 8);
        if bit {
            self.bytes[index / 8] |= mask;
        } else {
            self.bytes[index / 8] &= !mask;
        }
        Some(previous)
    }

    /// The packed bits, most significant bit first, without a copy (the bits past
    /// [`BitVector::len`] in the last byte are zero).
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl fmt::Debug for BitVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BitVector({self})")
    }
}

impl fmt::Display for BitVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for bit in self.iter() {
            f.write_str(if bit { "1" } else { "0" })?;
        }
        Ok(())
    }
}

/// A string that is not made of `0`s and `1`s only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotBits {
    /// The 0-based character position of the first character that is neither `0` nor `1`.
    pub position: usize,
}

impl fmt::Display for NotBits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "character {} is neither 0 nor 1: a bit vector is a string of 0s and 1s",
            self.position
        )
    }
}

impl std::error::Error for NotBits {}

impl FromStr for BitVector {
    type Err = NotBits;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bits = text
            .chars()
            .enumerate()
            .map(|(position, character)| match character {
                '0' => Ok(false),
                '1' => Ok(true),
                _ => Err(NotBits { position }),
            })
            .collect::<Result<Vec<bool>, _>>()?;
        Ok(BitVector::from_bools(&bits))
    }
}

impl Serialize for BitVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BitVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match VectorValue::deserialize(deserializer)? {
            VectorValue::Bit(bits) => Ok(bits),
            VectorValue::Dense(values) => bits_of(&values).map_err(de::Error::custom),
            VectorValue::Sparse(_) => Err(de::Error::custom(
                "expected a bit vector (a string of 0s and 1s), got a sparse vector",
            )),
        }
    }
}

/// The bits of `values` when each is 0 or 1; otherwise which one is not.
pub(crate) fn bits_of(values: &[f32]) -> Result<BitVector, String> {
    let bits = values
        .iter()
        .enumerate()
        .map(|(index, value)| match *value {
            0.0 => Ok(false),
            1.0 => Ok(true),
            _ => Err(format!("[{index}] is {value}, a bit must be 0 or 1")),
        })
        .collect::<Result<Vec<bool>, _>>()?;
    Ok(BitVector::from_bools(&bits))
}

impl FromSql<sql_types::Varbit, Pg> for BitVector {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        let bytes = bytes.as_bytes();
        let (length, bits) = bytes
            .split_at_checked(4)
            .ok_or("a bit varying value shorter than its header")?;
        let length = u32::from_be_bytes(length.try_into()?);
        BitVector::from_bytes(length, bits.to_vec())
            .ok_or_else(|| "a bit varying value whose length disagrees with its bytes".into())
    }
}

/// A bit vector as a `bit` parameter (`bit_recv`'s layout).
impl ToSql<pgvector::sql_types::Bit, Pg> for BitVector {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&self.len.to_be_bytes())?;
        out.write_all(&self.bytes)?;
        Ok(IsNull::No)
    }
}
