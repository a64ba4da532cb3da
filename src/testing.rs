//! A test database per test, for a service's integration tests (feature `testing`).
//!
//! Every [`TestDatabase`] is a fresh database cloned (`CREATE DATABASE … TEMPLATE …`) from a
//! template that was migrated once, and it is dropped when the value is dropped — also when the
//! test panics. Tests are therefore parallel-safe with real commit semantics, no shared state,
//! no `#[serial]` and no cleanup code.
//!
//! The server is found through `TEST_DATABASE_URL`, else `DATABASE_URL` (a `.env` file is
//! read too). The role needs `CREATEDB`, and `CREATE EXTENSION vector` rights unless the
//! extension is already in `template1`. The template's name carries a fingerprint of the
//! migrations, so changing a migration builds a new template instead of reusing a stale one.
//!
//! ```no_run
//! use embedstore::testing::TestDatabase;
//! use embedstore::{Metric, NewCollection};
//! let db = TestDatabase::new();
//! let new = NewCollection::new("docs", 3, Metric::Cosine, "my-model");
//! db.store().write(|uow| uow.collections().create(new)).unwrap();
//! let collections = db.store().read(|uow| uow.collections().list()).unwrap();
//! assert_eq!(collections.len(), 1);
//! ```
//!
//! This module holds only the fixture a service needs. embedstore's own test infrastructure
//! (data generators, fixtures, private PostgreSQL servers, password-leak checks) lives in the
//! unpublished `embedstore-test-support` crate of its repository.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use diesel_migrations::MigrationHarness;

use crate::config::{Config, DatabaseUrl};
use crate::error::{Error, Result};
use crate::store::{MIGRATIONS, Store, with_advisory_lock};

/// Advisory lock key that serialises building the template between processes.
const TEMPLATE_LOCK: i64 = 0x656d_6265_6473_7402;

/// A throw-away database with the schema migrated; dropped on `Drop`.
pub struct TestDatabase {
    name: String,
    url: DatabaseUrl,
    admin_url: DatabaseUrl,
    store: Option<Store>,
}

impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("name", &self.name)
            .finish()
    }
}

impl TestDatabase {
    /// A migrated database of its own.
    ///
    /// # Panics
    /// When no server is configured (the message says how to get one) or it cannot be used.
    pub fn new() -> Self {
        Self::try_new().unwrap_or_else(|error| panic!("test database: {error}"))
    }

    /// Like [`TestDatabase::new`], returning the error instead of panicking (for tools such as
    /// benchmarks that report failures themselves).
    ///
    /// # Errors
    /// [`Error::Config`] when no server is configured or reachable; database errors otherwise.
    pub fn try_new() -> Result<Self> {
        Self::create(true)
    }

    /// A database of its own with no migrations applied, for testing migrations themselves.
    ///
    /// # Panics
    /// As [`TestDatabase::new`].
    pub fn unmigrated() -> Self {
        Self::create(false).unwrap_or_else(|error| panic!("test database: {error}"))
    }

    /// The store connected to this database.
    pub fn store(&self) -> &Store {
        self.store
            .as_ref()
            .unwrap_or_else(|| unreachable!("set until drop"))
    }

    /// This database's connection string.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// This database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A raw connection outside the pool, e.g. to write with plain SQL as `psql` would.
    ///
    /// # Panics
    /// When the connection fails.
    pub fn raw_connection(&self) -> PgConnection {
        PgConnection::establish(self.url.expose_secret())
            .unwrap_or_else(|error| panic!("connect to test database {}: {error}", self.name))
    }

    fn create(migrated: bool) -> Result<Self> {
        let admin_url = admin_url()?;
        let mut admin = connect(&admin_url)?;
        let name = unique_name();
        // Both names are generated here from integers and a hex fingerprint: safe to splice.
        let statement = if migrated {
            format!("CREATE DATABASE {name} TEMPLATE {}", template(&admin_url)?)
        } else {
            format!("CREATE DATABASE {name}")
        };
        diesel::sql_query(statement).execute(&mut admin)?;
        let url = admin_url.with_database(&name);
        let mut config = Config::new(url.expose_secret())?;
        config.pool_max_size = 4;
        config.pool_min_idle = 0;
        config.connect_timeout = Duration::from_secs(10);
        let store = Store::connect(config)?;
        Ok(Self {
            name,
            url,
            admin_url,
            store: Some(store),
        })
    }
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Close the pool first, waiting for its background connects (a test binary that exits
        // while one is inside libpq can crash in OpenSSL's exit handlers: seen once as
        // `malloc_consolidate(): invalid chunk size` after every test had passed); FORCE ends
        // any connection a test leaked.
        if let Some(store) = self.store.take() {
            store.close();
        }
        if let Ok(mut admin) = connect(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

/// The server to create test databases on.
fn admin_url() -> Result<DatabaseUrl> {
    let _ = dotenvy::dotenv();
    let raw = std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .map_err(|_| Error::Config {
            variable: "TEST_DATABASE_URL",
            reason: "neither TEST_DATABASE_URL nor DATABASE_URL is set. Integration tests need a \
                     PostgreSQL server with pgvector >= 0.8: run `scripts/dev test`, which sets one \
                     up and runs the tests, or `eval \"$(scripts/dev env)\"` before `cargo test`, or \
                     point TEST_DATABASE_URL at your own server (e.g. the pgvector/pgvector:pg17 \
                     Docker image)"
                .to_owned(),
        })?;
    DatabaseUrl::parse(raw)
}

fn connect(url: &DatabaseUrl) -> Result<PgConnection> {
    PgConnection::establish(url.expose_secret()).map_err(|error| Error::Config {
        variable: "TEST_DATABASE_URL",
        reason: format!("cannot connect to {}: {error}", url.target()),
    })
}

/// `embedstore_test_<pid>_<counter>_<nanos>`: unique across threads and processes.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!(
        "embedstore_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The migrated template's name, building it the first time (once per process, and under an
/// advisory lock across processes).
fn template(admin_url: &DatabaseUrl) -> Result<String> {
    static TEMPLATE: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| build_template(admin_url).map_err(|error| error.to_string()))
        .clone()
        .map_err(|reason| Error::Config {
            variable: "TEST_DATABASE_URL",
            reason: format!("cannot build the template database: {reason}"),
        })
}

#[derive(QueryableByName)]
struct TemplateState {
    #[diesel(sql_type = Bool)]
    datistemplate: bool,
}

fn build_template(admin_url: &DatabaseUrl) -> Result<String> {
    let fingerprint = env!("EMBEDSTORE_MIGRATIONS_FINGERPRINT");
    let name = format!("embedstore_template_{}", &fingerprint[..12]);
    let mut admin = connect(admin_url)?;
    with_advisory_lock(&mut admin, TEMPLATE_LOCK, |admin| {
        let state: Option<TemplateState> =
            diesel::sql_query("SELECT datistemplate FROM pg_database WHERE datname = $1")
                .bind::<Text, _>(&name)
                .get_result(admin)
                .optional()?;
        match state {
            // Marked as a template only after its migrations succeeded: ready.
            Some(TemplateState {
                datistemplate: true,
            }) => Ok(()),
            other => {
                if other.is_some() {
                    // Left half-built by a run that died: start over.
                    diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)"))
                        .execute(admin)?;
                }
                migrate_new_template(admin, admin_url, &name)
            }
        }
    })?;
    Ok(name)
}

fn migrate_new_template(
    admin: &mut PgConnection,
    admin_url: &DatabaseUrl,
    name: &str,
) -> Result<()> {
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(admin)?;
    {
        let mut template = connect(&admin_url.with_database(name))?;
        template
            .run_pending_migrations(MIGRATIONS)
            .map_err(Error::Migration)?;
    }
    diesel::sql_query(format!("ALTER DATABASE {name} IS_TEMPLATE true")).execute(admin)?;
    Ok(())
}
