//! TLS on a private server with a CA and server certificate made at test time (openssl), and
//! no password in any error, `Debug` output or CLI output of a failing connect or a bad URL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Bool;
use embedstore::testing::cluster::{ClusterOptions, TestCluster, TlsFiles};
use embedstore::{Config, Error, Store};

/// A directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir =
            std::env::temp_dir().join(format!("embedstore-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| {
            panic!("openssl must be installed (scripts/setup-postgres.sh installs it): {error}")
        });
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A self-signed CA `<name>.crt`/`<name>.key` in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=embedstore test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// `server.crt`/`server.key` for DNS `localhost` and IP 127.0.0.1, signed by CA `ca`.
fn make_server_certificate(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
    );
}

/// A TLS cluster, its certificate directory (with `ca.crt` and an unrelated `other-ca.crt`).
fn tls_cluster() -> (TestCluster, Scratch) {
    let scratch = Scratch::new("tls");
    make_ca(&scratch.0, "ca");
    make_ca(&scratch.0, "other-ca");
    make_server_certificate(&scratch.0);
    let cluster = TestCluster::start(ClusterOptions::new().tls(TlsFiles {
        certificate: scratch.path("server.crt"),
        private_key: scratch.path("server.key"),
    }))
    .unwrap();
    (cluster, scratch)
}

/// `postgres://postgres:<password>@<host>:<port>/postgres?<query>`.
fn url(cluster: &TestCluster, host: &str, query: &str) -> String {
    format!(
        "postgres://postgres:{}@{host}:{}/postgres?{query}",
        cluster.superuser_password(),
        cluster.port()
    )
}

fn verify_full(ca: &Path) -> String {
    format!("sslmode=verify-full&sslrootcert={}", ca.display())
}

fn connect(url: &str) -> Result<Store, Error> {
    let mut config = Config::new(url)?;
    config.pool_max_size = 1;
    config.connect_timeout = Duration::from_secs(2);
    Store::connect(config)
}

#[derive(QueryableByName)]
struct Ssl {
    #[diesel(sql_type = Bool)]
    ssl: bool,
}

fn uses_tls(store: &Store) -> bool {
    let mut conn = store.connection().unwrap();
    diesel::sql_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .get_result::<Ssl>(&mut *conn)
        .unwrap()
        .ssl
}

/// Every text a failing connect can show: `Display`, `Debug`, and the source chain.
fn all_texts(error: &Error) -> String {
    let mut text = format!("{error}\n{error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text.push_str(&format!("\n{inner}\n{inner:?}"));
        source = inner.source();
    }
    text
}

fn assert_no_secret(text: &str, secret: &str) {
    assert!(!text.contains(secret), "the password leaked: {text}");
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    assert!(
        !text.contains(&encoded),
        "the encoded password leaked: {text}"
    );
}

#[test]
fn verify_full_connects_with_the_right_ca_by_host_name_and_by_address() {
    let (cluster, certs) = tls_cluster();
    let ca = certs.path("ca.crt");
    for host in ["localhost", "127.0.0.1"] {
        let store = connect(&url(&cluster, host, &verify_full(&ca)))
            .unwrap_or_else(|error| panic!("{host}: {error}"));
        assert!(uses_tls(&store), "{host}: the session must be encrypted");
        let names = store.read(|uow| uow.collections().list());
        // The postgres database is not migrated: the query fails, but over TLS.
        assert!(names.is_err());
    }
}

#[test]
fn verify_full_refuses_a_certificate_from_another_ca_without_showing_the_password() {
    let (cluster, certs) = tls_cluster();
    let error = connect(&url(
        &cluster,
        "localhost",
        &verify_full(&certs.path("other-ca.crt")),
    ))
    .unwrap_err();
    assert!(matches!(error, Error::ConnectRefused { .. }), "{error:?}");
    let text = all_texts(&error);
    assert!(text.contains("certificate verify failed"), "{text}");
    assert_no_secret(&text, cluster.superuser_password());
}

#[test]
fn verify_full_refuses_a_certificate_for_another_host_name_without_showing_the_password() {
    let (cluster, certs) = tls_cluster();
    // Connect to 127.0.0.1 but check the certificate against a name it does not carry.
    let query = format!("{}&hostaddr=127.0.0.1", verify_full(&certs.path("ca.crt")));
    let error = connect(&url(&cluster, "db.example.invalid", &query)).unwrap_err();
    // The host name does not resolve (only hostaddr does), so the pool tries until the timeout.
    assert!(
        matches!(error, Error::Connect { .. } | Error::ConnectRefused { .. }),
        "{error:?}"
    );
    let text = all_texts(&error);
    assert!(
        text.contains("does not match host name \"db.example.invalid\""),
        "{text}"
    );
    assert_no_secret(&text, cluster.superuser_password());
}

/// Runs the CLI with `DATABASE_URL` set and returns (exit status, stdout + stderr).
#[cfg(feature = "cli")]
fn cli(database_url: &str, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_embedstore"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("EMBEDSTORE_CONNECT_TIMEOUT_SECS", "1")
        .env_remove("RUST_BACKTRACE")
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[cfg(feature = "cli")]
#[test]
fn the_cli_never_prints_the_password_of_a_failing_tls_connect() {
    let (cluster, certs) = tls_cluster();
    for (url, expected) in [
        (
            url(
                &cluster,
                "localhost",
                &verify_full(&certs.path("other-ca.crt")),
            ),
            "certificate verify failed",
        ),
        (
            url(
                &cluster,
                "db.example.invalid",
                &format!("{}&hostaddr=127.0.0.1", verify_full(&certs.path("ca.crt"))),
            ),
            "does not match host name",
        ),
    ] {
        let (status, text) = cli(&url, &["collection", "list"]);
        assert_eq!(status, Some(1), "{text}");
        assert!(text.starts_with("error: "), "{text}");
        assert!(text.contains(expected), "{text}");
        assert_no_secret(&text, cluster.superuser_password());
    }
}

/// URLs that are refused before or while connecting, each carrying the secret.
const SECRET: &str = "hunter2-S3cret";
const BAD_URLS: &[&str] = &[
    "postgres://app:hunter2-S3cret@127.0.0.1:notaport/db",
    "postgres://app:hunter2-S3cret@127.0.0.1:99999/db",
    "postgres://app:hunter2-S3cret@[::1/db",
    "postgres://app:hunter2-S3cret@127.0.0.1:1/db",
    "postgres://app:hunter2-S3cret@127.0.0.1:1/db?sslmode=bogus",
    "postgres://app@127.0.0.1:1/db?password=hunter2-S3cret",
    "postgresql://app:hunter2-S3cret@/db?host=/nonexistent",
    "host=127.0.0.1 port=1 user=app password=hunter2-S3cret dbname=db",
    "hunter2-S3cret",
];

/// libpq key=value forms with spaces, quotes and escapes around the password.
const SPACED_CONNINFO: &[&str] = &[
    "host=127.0.0.1 port=1 password = hunter2-S3cret",
    "host=127.0.0.1 port=1 password= 'hunter2-S3cret x'",
    "host=127.0.0.1 port=1 password='x hunter2-S3cret'",
    "host=127.0.0.1 port=1 password='it\\'s hunter2-S3cret'",
    "host=127.0.0.1 port=1 password=hunter2-S3cret\\ x",
];

#[test]
fn debug_of_spaced_quoted_and_escaped_conninfo_passwords_is_redacted() {
    for raw in SPACED_CONNINFO {
        match Config::new(*raw) {
            Ok(config) => {
                assert_no_secret(&format!("{config:?} {}", config.database_url), SECRET);
            }
            Err(error) => assert_no_secret(&all_texts(&error), SECRET),
        }
    }
}

#[test]
fn bad_urls_and_failed_connects_never_show_the_password() {
    for raw in BAD_URLS {
        let error = match Config::new(*raw) {
            Err(error) => error,
            Ok(config) => {
                let shown = format!("{config:?} {}", config.database_url);
                assert_no_secret(&shown, SECRET);
                let mut config = config;
                config.connect_timeout = Duration::from_secs(1);
                Store::connect(config).unwrap_err()
            }
        };
        assert_no_secret(&all_texts(&error), SECRET);
    }
}

#[cfg(feature = "cli")]
#[test]
fn the_cli_never_prints_the_password_of_a_bad_url() {
    for raw in BAD_URLS.iter().chain(SPACED_CONNINFO) {
        let (status, text) = cli(raw, &["collection", "list"]);
        assert_ne!(status, Some(0), "{raw}: {text}");
        assert!(text.starts_with("error: "), "{raw}: {text}");
        assert_no_secret(&text, SECRET);
        // Also through the flag rather than the environment.
        let (_, text) = cli("", &["--database-url", raw, "collection", "list"]);
        assert_no_secret(&text, SECRET);
    }
}
