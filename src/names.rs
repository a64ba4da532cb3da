//! The conversions every closed set of names stored as `text` shares ([`crate::Metric`],
//! [`crate::VectorKind`]): written once, as a macro, instead of once per enum.

/// For an enum with `as_str`, the array of every value (`$every`), and its "unknown name" error
/// (a tuple struct of the refused text): `Display` of both (the error lists every name),
/// `FromStr`; and
/// `$column`, a crate-private wrapper that carries diesel's `ToSql`/`FromSql` for `Text`, so
/// that the public enum does not (row types read and write it through `deserialize_as` and
/// `serialize_as`). `$noun` names the set in the error message. The array is an argument because
/// a constant's name must not decide what parses (`Metric::ALL` keeps its old, narrower meaning).
macro_rules! closed_names {
    ($type:ident, $every:expr, $unknown:ident, $column:ident, $noun:literal) => {
        /// The value as a `text` column, for the crate's row types.
        #[derive(
            Debug, Clone, Copy, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub(crate) struct $column(pub(crate) $type);

        impl From<$type> for $column {
            fn from(value: $type) -> Self {
                Self(value)
            }
        }

        impl From<$column> for $type {
            fn from(column: $column) -> Self {
                column.0
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::fmt::Display for $unknown {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let names: Vec<&str> = $every.iter().map(|value| value.as_str()).collect();
                write!(
                    f,
                    "unknown {} {:?}, expected one of {}",
                    $noun,
                    self.0,
                    names.join(", ")
                )
            }
        }

        impl std::error::Error for $unknown {}

        impl std::str::FromStr for $type {
            type Err = $unknown;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                $every
                    .into_iter()
                    .find(|value| value.as_str() == text)
                    .ok_or_else(|| $unknown(text.to_owned()))
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $column {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                std::io::Write::write_all(out, self.0.as_str().as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $column {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = std::str::from_utf8(bytes.as_bytes())?;
                Ok(Self(text.parse()?))
            }
        }
    };
}

pub(crate) use closed_names;
