//! Least privilege on a private server: an owner role migrates and manages collections, the
//! service's app role (granted by `embedstore grant`) reads and writes rows and nothing more.
//! Both are ordinary roles (no superuser, no CREATEDB).

use std::process::Command;

use diesel::prelude::*;
use embedstore::{Collection, Config, Error, Metric, NewCollection, SearchRequest, Store};
use embedstore_test_support::cluster::{ClusterOptions, TestCluster};
use embedstore_test_support::{Rng, items};

use crate::support::stdout_and_stderr;

const OWNER: &str = "es_owner";
const OWNER_PASSWORD: &str = "owner-pw-7Qx";
const APP: &str = "es_app";
const APP_PASSWORD: &str = "app-pw-9Kz";

pub struct Setup {
    cluster: TestCluster,
    pub owner: Store,
    pub app: Store,
}

impl Setup {
    /// Roles, a database owned by the owner with pgvector created by the superuser (as a DBA
    /// would), the schema migrated by the owner; no grant yet.
    pub fn new() -> Self {
        let cluster = TestCluster::start(ClusterOptions::new()).unwrap();
        let mut admin = cluster.connect("postgres").unwrap();
        for statement in [
            format!("CREATE ROLE {OWNER} LOGIN PASSWORD '{OWNER_PASSWORD}'"),
            format!("CREATE ROLE {APP} LOGIN PASSWORD '{APP_PASSWORD}'"),
            format!("CREATE DATABASE app OWNER {OWNER}"),
        ] {
            diesel::sql_query(statement).execute(&mut admin).unwrap();
        }
        diesel::sql_query("CREATE EXTENSION vector")
            .execute(&mut cluster.connect("app").unwrap())
            .unwrap();
        let owner = store(&cluster, OWNER, OWNER_PASSWORD);
        owner.migrate().unwrap();
        let app = store(&cluster, APP, APP_PASSWORD);
        Self {
            cluster,
            owner,
            app,
        }
    }

    pub fn owner_url(&self) -> String {
        self.cluster
            .url(OWNER, OWNER_PASSWORD, "app", "")
            .expose_secret()
            .to_owned()
    }

    /// `embedstore grant …` as the owner: (exit code, stdout + stderr).
    pub fn grant(&self, args: &[&str]) -> (Option<i32>, String) {
        let output = Command::new(env!("CARGO_BIN_EXE_embedstore"))
            .arg("grant")
            .args(args)
            .env("DATABASE_URL", self.owner_url())
            .current_dir(std::env::temp_dir())
            .output()
            .unwrap();
        (output.status.code(), stdout_and_stderr(&output))
    }

    pub fn create_collection(&self, name: &str) -> Collection {
        self.owner
            .write(|uow| {
                uow.collections()
                    .create(NewCollection::new(name, 4, Metric::Cosine, "m"))
            })
            .unwrap()
    }
}

fn store(cluster: &TestCluster, user: &str, password: &str) -> Store {
    let mut config = Config::new(cluster.url(user, password, "app", "").expose_secret()).unwrap();
    config.pool_max_size = 2;
    Store::connect(config).unwrap()
}

/// Every library operation a service uses, as the app role; panics on the first refusal.
fn service_round_trip(app: &Store, collection: &Collection) {
    let mut rng = Rng::new(17);
    let summary = app
        .write(|uow| uow.embeddings().insert(collection, items(&mut rng, 20, 4)))
        .unwrap();
    assert_eq!(summary.inserted, 20);
    app.write(|uow| uow.embeddings().upsert(collection, items(&mut rng, 30, 4)))
        .unwrap();
    let (found, existing, deleted, count, hits, listed) = app
        .write(|uow| {
            let found = uow.embeddings().get(collection, &["item-3", "item-25"])?;
            let existing = uow.embeddings().existing(collection, &["item-0", "nope"])?;
            let deleted = uow.embeddings().delete(collection, &["item-0", "item-1"])?;
            let count = uow.embeddings().count(collection)?;
            let hits = uow.search(collection, SearchRequest::vector(rng.vector(4), 5))?;
            let listed = uow.collections().list()?.len();
            uow.collections().get(&collection.name)?;
            Ok::<_, Error>((found, existing, deleted, count, hits, listed))
        })
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(existing, ["item-0"]);
    assert_eq!((deleted, count, hits.hits.len()), (2, 28, 5));
    assert!(listed >= 1);
}

#[test]
fn the_app_role_does_every_row_operation_in_collections_made_before_and_after_the_grant() {
    let setup = Setup::new();
    let before = setup.create_collection("before");
    // Without the grant the app role can do nothing.
    let refused = setup.app.read(|uow| uow.collections().list()).unwrap_err();
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );

    let (status, text) = setup.grant(&[APP]);
    assert_eq!(status, Some(0), "{text}");
    assert!(
        text.contains("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE public.embeddings TO es_app"),
        "{text}"
    );
    let after = setup.create_collection("after");
    service_round_trip(&setup.app, &before);
    service_round_trip(&setup.app, &after);
    // Idempotent: a second grant changes nothing and the app still works.
    let (status, text) = setup.grant(&[APP]);
    assert_eq!(status, Some(0), "{text}");
    let count = setup
        .app
        .read(|uow| uow.embeddings().count(&after))
        .unwrap();
    assert_eq!(count, 28);
}

#[test]
fn the_app_role_is_refused_every_ddl_and_catalog_change_with_a_clear_error() {
    let setup = Setup::new();
    let docs = setup.create_collection("docs");
    let (status, text) = setup.grant(&[APP]);
    assert_eq!(status, Some(0), "{text}");
    setup
        .app
        .write(|uow| {
            uow.embeddings()
                .insert(&docs, items(&mut Rng::new(1), 10, 4))
        })
        .unwrap();
    let partition = docs.partition_name();
    let refused = [
        "CREATE TABLE sneaky (x int)".to_owned(),
        "CREATE SCHEMA sneaky".to_owned(),
        "CREATE INDEX ON embeddings (external_id)".to_owned(),
        "ALTER TABLE embeddings ADD COLUMN x int".to_owned(),
        "DROP TABLE embeddings".to_owned(),
        format!("DROP TABLE {partition}"),
        "TRUNCATE embeddings".to_owned(),
        "DROP EXTENSION vector".to_owned(),
        "UPDATE collections SET dimension = 5".to_owned(),
        "DELETE FROM collections".to_owned(),
        "INSERT INTO collections (name, dimension, metric, model) VALUES ('x', 3, 'l2', 'm')"
            .to_owned(),
        // Partitions are reached only through the parent.
        format!("SELECT count(*) FROM {partition}"),
        format!("DELETE FROM {partition}"),
        "DELETE FROM __diesel_schema_migrations".to_owned(),
    ];
    for statement in &refused {
        let error = setup
            .app
            .write(|uow| {
                diesel::sql_query(statement.as_str())
                    .execute(uow.connection())
                    .map_err(Error::from)
            })
            .unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("permission denied") || text.contains("must be owner"),
            "{statement}: {text}"
        );
    }
    // Collection DDL through the library needs the owner too.
    for attempt in [
        setup.app.write(|uow| {
            uow.collections()
                .create(NewCollection::new("mine", 4, Metric::L2, "m"))
                .map(drop)
        }),
        setup
            .app
            .write(|uow| uow.collections().drop("docs").map(drop)),
        setup
            .app
            .write(|uow| uow.aliases().set("live", "docs").map(drop)),
    ] {
        let text = attempt.unwrap_err().to_string();
        assert!(
            text.contains("permission denied") || text.contains("must be owner"),
            "{text}"
        );
    }
    // Nothing changed.
    let (collections, rows) = setup
        .owner
        .read(|uow| {
            Ok::<_, Error>((
                uow.collections().list()?.len(),
                uow.embeddings().count(&docs)?,
            ))
        })
        .unwrap();
    assert_eq!((collections, rows), (1, 10));
    // Aliases are the owner's to set; the app role reads through them.
    setup
        .owner
        .write(|uow| uow.aliases().set("live", "docs"))
        .unwrap();
    let live = setup.app.read(|uow| uow.collections().get("live")).unwrap();
    assert_eq!(live, docs);
    println!(
        "privileges: {} DDL/catalog statements refused",
        refused.len() + 3
    );
}

#[test]
fn grant_refuses_hostile_names_missing_roles_superusers_and_the_owner() {
    let setup = Setup::new();
    for (role, expected) in [
        ("es_app; DROP TABLE embeddings", "invalid role name"),
        ("\"es_app\"", "invalid role name"),
        ("Es_App", "invalid role name"),
        ("еs_app", "invalid role name"), // Cyrillic е
        (&"r".repeat(10_000), "invalid role name"),
        ("no_such_role", "does not exist"),
        ("postgres", "is a superuser"),
        (OWNER, "owns the schema"),
    ] {
        let (status, text) = setup.grant(&[role]);
        assert_eq!(status, Some(1), "{role:.40}: {text}");
        assert!(text.contains(expected), "{role:.40}: {text}");
        assert!(text.len() < 500, "bounded message: {text}");
    }
    // Nothing was granted by any of them: the app role still can't read.
    assert!(setup.app.read(|uow| uow.collections().list()).is_err());
    // --dry-run shows the statements and runs none.
    let (status, text) = setup.grant(&["--dry-run", APP]);
    assert_eq!(status, Some(0), "{text}");
    assert!(text.starts_with("would run 5 statement(s):"), "{text}");
    assert!(setup.app.read(|uow| uow.collections().list()).is_err());
}
