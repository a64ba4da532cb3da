//! The independent baselines every mode measures the library against. They share no code

pub mod binary_copy;
pub mod copy_text;
pub mod psql;
