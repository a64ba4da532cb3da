use garde::Validate;

use crate::dto::rules;

/// An alias to point at a collection: both names are slugs (checked before any SQL, so a
/// hostile name never reaches the database).
#[derive(Debug, Clone, PartialEq, Eq, Validate)]
pub(crate) struct AliasSpec {
    /// The alias.
    #[garde(custom(rules::slug))]
    pub(crate) name: String,
    /// The collection's own name (not another alias).
    #[garde(custom(rules::slug))]
    pub(crate) collection: String,
}

impl AliasSpec {
    /// The spec, validated: the proof [`crate::repo::aliases`] takes, or
    /// [`Error::Validation`](crate::Error::Validation) with every failure (paths `name`,
    /// `collection`).
    pub(crate) fn checked(name: &str, collection: &str) -> crate::Result<garde::Valid<Self>> {
        garde::Unvalidated::new(Self {
            name: name.to_owned(),
            collection: collection.to_owned(),
        })
        .validate()
        .map_err(|report| crate::Error::invalid(&report))
    }
}
