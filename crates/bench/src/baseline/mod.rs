//! The independent baselines every mode measures the library against. They share no code
//! with the library under test (only its public input types): a hand-written binary `COPY`
//! ([`binary_copy`], round-tripped through a real server in its `server_tests`), `COPY` text
//! rendering ([`copy_text`]) and `psql`'s `\copy` ([`psql`]).

pub mod binary_copy;
pub mod copy_text;
pub mod psql;
