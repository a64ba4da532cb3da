//! embedstore's own test infrastructure, for this repository's tests, examples and benchmark
//! only (`publish = false`).
//!
//! A service built on embedstore tests against [`embedstore::testing::TestDatabase`] (feature
//! `testing`), re-exported here as [`TestDatabase`] so that this repository's tests import
//! everything from one place. On top of it: a deterministic generator ([`Rng`]); fixtures
//! ([`with_collection`] and [`with_items`], a database with a populated collection; [`stored`]
//! and [`expected`], the rows a collection holds, and should hold, bit-exact; [`fingerprint`],
//! has anything changed?); pipeline files ([`write_npy`], [`read_npy`], [`write_lines`],
//! [`dataset`]) in a [`Scratch`] directory; private servers to break in [`cluster`]; and
//! password-leak checks in [`secrets`]; brute-force ground truth over a [`dataset`](mod@dataset) in [`truth`].

pub mod cluster;
pub mod dataset;
mod fixtures;
pub mod secrets;
pub mod truth;

pub use embedstore::testing::TestDatabase;
pub use fixtures::{
    Rows, Scratch, count, dataset, example_fixture, expected, files, fingerprint, items,
    npy_header, read_npy, stored, with_collection, with_items, write_lines, write_npy,
};

/// A small deterministic generator (splitmix64) for test and benchmark data: the same seed
/// gives the same values on every run and platform, so failures reproduce.
///
/// ```
/// use embedstore_test_support::Rng;
/// let (mut a, mut b) = (Rng::new(7), Rng::new(7));
/// assert_eq!(a.vector(4), b.vector(4));
/// ```
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1), on a grid of 2^24 values (each exactly representable as `f32`).
    pub fn unit_value(&mut self) -> f32 {
        let grid = (self.next_u64() >> 40) as f32;
        grid / (1u64 << 23) as f32 - 1.0
    }

    /// A vector of `dimension` values from [`Rng::unit_value`].
    pub fn vector(&mut self, dimension: usize) -> Vec<f32> {
        (0..dimension).map(|_| self.unit_value()).collect()
    }
}
