//! Binding a unit of work to a tenant for row-level security (see
//! [`WorkOptions::tenant`](crate::WorkOptions::tenant)).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;

use crate::error::{Error, Result};

/// Longest tenant in bytes (the column's CHECK allows 1..=256).
pub const MAX_TENANT_BYTES: usize = 256;

/// Refuses an empty or over-long tenant (an empty one would mean "no tenant").
pub(crate) fn check(tenant: &str) -> Result<()> {
    let problem = if tenant.is_empty() {
        Some("must not be empty (use Store::write/read for rows without a tenant)".to_owned())
    } else if tenant.len() > MAX_TENANT_BYTES {
        Some(format!(
            "is {} bytes, at most {MAX_TENANT_BYTES} are allowed",
            tenant.len()
        ))
    } else if tenant.contains('\0') {
        Some("must not contain NUL characters".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(message) => Err(Error::invalid_field("tenant", message)),
    }
}

/// `set_config('embedstore.tenant', tenant, true)`: lasts until the transaction ends.
///
/// On a database distributed with Citus (`distributed`), a function's setting never reaches the
/// workers, where the shards' policy is checked; only `SET LOCAL` does. The tenant then travels
/// as `SET LOCAL embedstore.tenant_hex = '<hex>'`: the statement's text holds hex digits made
/// here from the tenant's bytes, never the caller's text, and the policy decodes it
/// (`embedstore_bound_tenant()`, see `repo::citus`).
pub(crate) fn bind(conn: &mut PgConnection, tenant: &str, distributed: bool) -> Result<()> {
    if distributed {
        conn.batch_execute(&format!(
            "SET LOCAL embedstore.tenant_hex = '{}'",
            hex(tenant)
        ))?;
        return Ok(());
    }
    diesel::sql_query("SELECT set_config('embedstore.tenant', $1, true)")
        .bind::<Text, _>(tenant)
        .execute(conn)?;
    Ok(())
}

/// Lower-case hex of the UTF-8 bytes: `[0-9a-f]*` whatever the input.
fn hex(text: &str) -> String {
    use std::fmt::Write;
    text.bytes()
        .fold(String::with_capacity(text.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_distributed_binding_is_hex_digits_whatever_the_tenant() {
        assert_eq!(hex("acme"), "61636d65");
        for hostile in [
            "'; DROP TABLE embeddings; --",
            "a\\'b",
            "é\u{1F600}",
            "$$",
            "\n\r\t",
        ] {
            let encoded = hex(hostile);
            assert!(encoded.bytes().all(|b| b.is_ascii_hexdigit()), "{encoded}");
            assert_eq!(encoded.len(), hostile.len() * 2);
        }
    }
}
