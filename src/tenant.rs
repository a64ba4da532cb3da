//! Binding a unit of work to a tenant for row-level security (see
//! [`WorkOptions::tenant`](crate::WorkOptions::tenant)).

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
pub(crate) fn bind(conn: &mut PgConnection, tenant: &str) -> Result<()> {
    diesel::sql_query("SELECT set_config('embedstore.tenant', $1, true)")
        .bind::<Text, _>(tenant)
        .execute(conn)?;
    Ok(())
}
