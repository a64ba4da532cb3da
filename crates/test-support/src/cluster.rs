//! A private, throw-away PostgreSQL server for tests that must break things: kill backends,
//! restart or reconfigure the server, turn on TLS — never on a server that other people use.
//!
//! [`TestCluster::start`] runs `initdb` into a fresh temporary directory (as the `postgres` OS
//! user through `runuser` when the tests run as root, since PostgreSQL refuses to run as root),
//! picks a free port on 127.0.0.1, starts the server with `fsync = off` and waits until it
//! accepts connections (about 2 s). The server is stopped (`pg_ctl stop -m immediate`, then
//! `SIGKILL` to the postmaster pid it recorded if that fails) and the directory removed on
//! `Drop`. pgvector must be installed for that PostgreSQL (`scripts/setup-postgres.sh` does
//! it); the binaries are found under `/usr/lib/postgresql/<major>/bin` (the newest major with
//! pgvector) or in `EMBEDSTORE_PG_BINDIR`.
//!
//! ```no_run
//! use embedstore_test_support::cluster::{ClusterOptions, TestCluster};
//! let cluster = TestCluster::start(ClusterOptions::new().setting("max_connections", "20")).unwrap();
//! let url = cluster.migrated_database("app").unwrap();
//! let store = embedstore::Store::connect(embedstore::Config::new(url.expose_secret()).unwrap()).unwrap();
//! # drop(store);
//! ```

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::prelude::*;
use diesel_migrations::MigrationHarness;

use embedstore::{DatabaseUrl, Error, MIGRATIONS, Result};

use crate::Scratch;

/// The bootstrap superuser's name in every test cluster.
pub const SUPERUSER: &str = "postgres";

/// How a [`TestCluster`] is configured beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    settings: Vec<(String, String)>,
    tls: Option<TlsFiles>,
}

/// A server certificate and its private key (PEM files) for [`ClusterOptions::tls`].
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server certificate (may hold the chain).
    pub certificate: PathBuf,
    /// The certificate's private key.
    pub private_key: PathBuf,
}

impl ClusterOptions {
    /// The defaults: `fsync = off`, loopback only, password (SCRAM) authentication over TCP.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name = 'value'` to `postgresql.conf` (e.g. `statement_timeout`, `max_connections`).
    /// The value is quoted for the file; the name must be a plain setting name.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Turns on `ssl` with this certificate and key; they are copied into the cluster's
    /// directory with the permissions PostgreSQL insists on (key readable by its owner only).
    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }
}

/// A running private PostgreSQL server; stopped and deleted on `Drop`.
pub struct TestCluster {
    root: PathBuf,
    bindir: PathBuf,
    port: u16,
    password: String,
    postmaster_pid: Option<u32>,
}

impl std::fmt::Debug for TestCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCluster")
            .field("root", &self.root)
            .field("port", &self.port)
            .field("postmaster_pid", &self.postmaster_pid)
            .finish_non_exhaustive()
    }
}

impl TestCluster {
    /// Creates and starts a cluster.
    ///
    /// # Errors
    /// [`Error::Config`] (variable `TestCluster`) when the PostgreSQL binaries or pgvector are
    /// missing, or `initdb` / the server fails; the message carries the tail of the server log.
    pub fn start(options: ClusterOptions) -> Result<Self> {
        let bindir = find_bindir()?;
        let root = unique_dir()?;
        let mut cluster = Self {
            root,
            bindir,
            port: 0,
            password: random_password(),
            postmaster_pid: None,
        };
        cluster.init(&options)?;
        cluster.start_on_a_free_port()?;
        Ok(cluster)
    }

    /// Starts the server on a free loopback port; a port found free can be taken by someone
    /// else before the server binds it, so this tries five.
    fn start_on_a_free_port(&mut self) -> Result<()> {
        let mut last_error = None;
        for _ in 0..5 {
            self.port = free_port()?;
            self.write_port()?;
            match self.start_server() {
                Ok(()) => return Ok(()),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| failure("the server did not start".to_owned())))
    }

    /// The port the server listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's password (generated per cluster).
    pub fn superuser_password(&self) -> &str {
        &self.password
    }

    /// The data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The server's log file.
    pub fn log_file(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// `postgres://user:password@127.0.0.1:<port>/database`, user and password
    /// percent-encoded; extra `query` parameters (e.g. `sslmode=require`) are appended.
    pub fn url(&self, user: &str, password: &str, database: &str, query: &str) -> DatabaseUrl {
        let mut url = format!(
            "postgres://{}:{}@127.0.0.1:{}/{}",
            encode(user),
            encode(password),
            self.port,
            encode(database)
        );
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        DatabaseUrl::parse(url).unwrap_or_else(|_| unreachable!("built from encoded parts"))
    }

    /// The superuser's URL for `database`.
    pub fn superuser_url(&self, database: &str) -> DatabaseUrl {
        self.url(SUPERUSER, &self.password, database, "")
    }

    /// `postgres://postgres:<password>@<host>:<port>/postgres?<query>`: the superuser's URL
    /// through `host`, e.g. `localhost`, `127.0.0.1`, or a name only `hostaddr=127.0.0.1` in
    /// `query` makes reachable — for checking how a client verifies the server's certificate
    /// (see [`tls_cluster`] and [`verify_full`]).
    pub fn superuser_url_via(&self, host: &str, query: &str) -> String {
        format!(
            "postgres://{SUPERUSER}:{}@{host}:{}/postgres?{query}",
            encode(&self.password),
            self.port
        )
    }

    /// A superuser connection to `database`.
    ///
    /// # Errors
    /// [`Error::Config`] when the connection fails.
    pub fn connect(&self, database: &str) -> Result<PgConnection> {
        PgConnection::establish(self.superuser_url(database).expose_secret())
            .map_err(|error| failure(format!("cannot connect to {database}: {error}")))
    }

    /// Creates database `name` (a plain lowercase identifier), migrates it as the superuser
    /// and returns the superuser's URL for it.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad name; database and migration errors otherwise.
    pub fn migrated_database(&self, name: &str) -> Result<DatabaseUrl> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(failure(format!(
                "database name must be [a-z0-9_]+, got {name:?}"
            )));
        }
        let mut admin = self.connect("postgres")?;
        // Checked above: a plain identifier.
        diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin)?;
        let mut conn = self.connect(name)?;
        conn.run_pending_migrations(MIGRATIONS)
            .map_err(Error::Migration)?;
        Ok(self.superuser_url(name))
    }

    /// A streaming standby of this cluster: `pg_basebackup -R` (WAL streamed, replication as
    /// the superuser over loopback) into a fresh directory, started on a free port. It replays
    /// everything the primary writes and answers read-only queries (`hot_standby`); it is
    /// stopped and deleted on `Drop` like any cluster. `settings` go into its
    /// `postgresql.auto.conf` (e.g. `recovery_min_apply_delay`).
    ///
    /// # Errors
    /// As [`TestCluster::start`], and when `pg_basebackup` fails.
    pub fn standby(&self, settings: &[(&str, &str)]) -> Result<TestCluster> {
        let mut standby = Self {
            root: unique_dir()?,
            bindir: self.bindir.clone(),
            port: 0,
            password: self.password.clone(),
            postmaster_pid: None,
        };
        let source = format!(
            "host=127.0.0.1 port={} user={SUPERUSER} password={} application_name=standby",
            self.port, self.password
        );
        let output = standby.run_as_postgres(
            Command::new(self.bindir.join("pg_basebackup"))
                .arg("-D")
                .arg(standby.data_dir())
                .args([
                    "-d",
                    &source,
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                    "--no-sync",
                ]),
        )?;
        if !output.status.success() {
            return Err(failure(format!(
                "pg_basebackup failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let mut extra = conf_line(
            "unix_socket_directories",
            &standby.root.display().to_string(),
        );
        for (name, value) in settings {
            extra.push_str(&conf_line(name, value));
        }
        let auto = standby.data_dir().join("postgresql.auto.conf");
        let mut existing =
            fs::read_to_string(&auto).map_err(io_failure("read postgresql.auto.conf"))?;
        existing.push_str(&extra);
        fs::write(&auto, existing).map_err(io_failure("write postgresql.auto.conf"))?;
        standby.start_on_a_free_port()?;
        Ok(standby)
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are ended, then a clean shutdown).
    ///
    /// # Errors
    /// [`Error::Config`] when `pg_ctl` fails.
    pub fn stop(&mut self) -> Result<()> {
        self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"])?;
        self.postmaster_pid = None;
        Ok(())
    }

    /// Starts the stopped server again on the same port and data directory.
    ///
    /// # Errors
    /// As [`TestCluster::start`].
    pub fn start_again(&mut self) -> Result<()> {
        self.start_server()
    }

    /// Runs `ALTER SYSTEM SET name = value` and reloads the configuration; sessions pick the
    /// value up at their next statement boundary unless they set it themselves.
    ///
    /// # Errors
    /// Database errors.
    pub fn alter_system(&self, name: &str, value: &str) -> Result<()> {
        let mut admin = self.connect("postgres")?;
        // ALTER SYSTEM takes no bind parameters: quote both server-side.
        #[derive(QueryableByName)]
        struct Statement {
            #[diesel(sql_type = diesel::sql_types::Text)]
            statement: String,
        }
        let Statement { statement } =
            diesel::sql_query("SELECT format('ALTER SYSTEM SET %I = %L', $1, $2) AS statement")
                .bind::<diesel::sql_types::Text, _>(name)
                .bind::<diesel::sql_types::Text, _>(value)
                .get_result(&mut admin)?;
        diesel::sql_query(statement).execute(&mut admin)?;
        diesel::sql_query("SELECT pg_reload_conf()").execute(&mut admin)?;
        Ok(())
    }

    fn init(&self, options: &ClusterOptions) -> Result<()> {
        let pwfile = self.root.join("pwfile");
        fs::write(&pwfile, format!("{}\n", self.password)).map_err(io_failure("write pwfile"))?;
        self.give_to_postgres(&pwfile)?;
        let data = self.data_dir();
        let output = self.run_as_postgres(
            Command::new(self.bindir.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C"])
                .args([
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "--no-sync",
                ])
                .arg(format!("--pwfile={}", pwfile.display())),
        )?;
        if !output.status.success() {
            return Err(failure(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let _ = fs::remove_file(&pwfile);
        let mut conf = String::from("\n# embedstore TestCluster\n");
        for (name, value) in [
            ("listen_addresses", "127.0.0.1"),
            ("unix_socket_directories", &self.root.display().to_string()),
            ("fsync", "off"),
            ("synchronous_commit", "off"),
            ("full_page_writes", "off"),
            ("shared_buffers", "32MB"),
            ("max_connections", "40"),
            ("log_min_messages", "warning"),
        ] {
            conf.push_str(&conf_line(name, value));
        }
        if let Some(tls) = &options.tls {
            for (source, target) in [
                (&tls.certificate, "server.crt"),
                (&tls.private_key, "server.key"),
            ] {
                let path = data.join(target);
                fs::copy(source, &path).map_err(io_failure("copy TLS file"))?;
                self.give_to_postgres(&path)?;
                set_mode(&path, 0o600)?;
            }
            conf.push_str(&conf_line("ssl", "on"));
        }
        for (name, value) in &options.settings {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(failure(format!("not a setting name: {name:?}")));
            }
            conf.push_str(&conf_line(name, value));
        }
        let conf_path = data.join("postgresql.conf");
        let mut existing =
            fs::read_to_string(&conf_path).map_err(io_failure("read postgresql.conf"))?;
        existing.push_str(&conf);
        fs::write(&conf_path, existing).map_err(io_failure("write postgresql.conf"))
    }

    fn write_port(&self) -> Result<()> {
        // postgresql.auto.conf is read last: the port set here wins over postgresql.conf.
        let path = self.data_dir().join("postgresql.auto.conf");
        let existing = fs::read_to_string(&path).unwrap_or_default();
        let kept: String = existing
            .lines()
            .filter(|line| !line.starts_with("port = "))
            .map(|line| format!("{line}\n"))
            .collect();
        fs::write(&path, format!("{kept}port = {}\n", self.port))
            .map_err(io_failure("write postgresql.auto.conf"))
    }

    fn start_server(&mut self) -> Result<()> {
        let log = self.log_file();
        let started = self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log.display().to_string()]);
        if let Err(error) = started {
            return Err(failure(format!("{error}; server log: {}", self.log_tail())));
        }
        let pid_file = fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .map_err(io_failure("read postmaster.pid"))?;
        self.postmaster_pid = pid_file
            .lines()
            .next()
            .and_then(|pid| pid.trim().parse().ok());
        // pg_ctl -w returns once the server accepts connections; prove it over TCP too.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.connect("postgres") {
                Ok(_) => return Ok(()),
                Err(error) if Instant::now() > deadline => return Err(error),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        let output = self.run_as_postgres(
            Command::new(self.bindir.join("pg_ctl"))
                .arg("-D")
                .arg(self.data_dir())
                .args(args),
        )?;
        if output.status.success() {
            Ok(())
        } else {
            Err(failure(format!(
                "pg_ctl {} failed: {}",
                args.first().copied().unwrap_or(""),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(10)..].join(" | ")
    }

    /// Runs `command` as the `postgres` OS user when we are root, else as ourselves; from `/`
    /// so that user can read its working directory; stdin closed, so a daemon never holds ours.
    fn run_as_postgres(&self, command: &mut Command) -> Result<Output> {
        let mut command = if is_root() {
            let mut wrapped = Command::new("runuser");
            wrapped
                .args(["-u", "postgres", "--"])
                .arg(command.get_program())
                .args(command.get_args());
            wrapped
        } else {
            std::mem::replace(command, Command::new("true"))
        };
        command
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .map_err(io_failure("run a PostgreSQL program"))
    }

    fn give_to_postgres(&self, path: &Path) -> Result<()> {
        if !is_root() {
            return Ok(());
        }
        let status = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(path)
            .status()
            .map_err(io_failure("chown"))?;
        if status.success() {
            Ok(())
        } else {
            Err(failure(format!("chown postgres {} failed", path.display())))
        }
    }
}

/// A cluster with TLS on and the directory (removed on drop) of the certificates made for it
/// with `openssl`: `ca.crt`, a CA that signed the server's certificate for DNS `localhost` and
/// IP 127.0.0.1; `other-ca.crt`, an unrelated CA; `server.crt` and `server.key`.
///
/// ```no_run
/// use embedstore_test_support::cluster::{tls_cluster, verify_full};
/// let (cluster, certificates) = tls_cluster();
/// let url = cluster.superuser_url_via("localhost", &verify_full(&certificates.path("ca.crt")));
/// let config = embedstore::Config::new(url).unwrap();
/// # drop(config);
/// ```
///
/// # Panics
/// When `openssl` is missing or fails, or the cluster does not start.
pub fn tls_cluster() -> (TestCluster, Scratch) {
    let scratch = Scratch::named("tls");
    make_ca(scratch.dir(), "ca");
    make_ca(scratch.dir(), "other-ca");
    make_server_certificate(scratch.dir());
    let cluster = TestCluster::start(ClusterOptions::new().tls(TlsFiles {
        certificate: scratch.path("server.crt"),
        private_key: scratch.path("server.key"),
    }))
    .unwrap_or_else(|error| panic!("start a TLS cluster: {error}"));
    (cluster, scratch)
}

/// The URL query that makes libpq encrypt, check the server's certificate against the CA
/// certificate `ca` and check the host name: `sslmode=verify-full&sslrootcert=<ca>`.
pub fn verify_full(ca: &Path) -> String {
    format!("sslmode=verify-full&sslrootcert={}", ca.display())
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
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap_or_else(|error| panic!("write server.ext: {error}"));
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

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid {
            if self
                .pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "30"])
                .is_err()
            {
                // Only the postmaster this cluster started, by its recorded pid.
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn conf_line(name: &str, value: &str) -> String {
    format!(
        "{name} = '{}'\n",
        value.replace('\\', "\\\\").replace('\'', "''")
    )
}

fn failure(reason: String) -> Error {
    Error::Config {
        variable: "TestCluster",
        reason,
    }
}

fn io_failure(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |error| failure(format!("{what}: {error}"))
}

fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
            .unwrap_or(false)
    })
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io_failure("chmod"))
}

/// `EMBEDSTORE_PG_BINDIR`, else the newest `/usr/lib/postgresql/<major>/bin` whose PostgreSQL
/// has pgvector installed.
fn find_bindir() -> Result<PathBuf> {
    if let Ok(dir) = std::env::var("EMBEDSTORE_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut majors: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map_err(io_failure(
            "list /usr/lib/postgresql (is PostgreSQL installed?)",
        ))?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path()))
        })
        .collect();
    majors.sort();
    majors
        .into_iter()
        .rev()
        .find(|(_, dir)| dir.join("bin/initdb").exists() && dir.join("lib/vector.so").exists())
        .map(|(_, dir)| dir.join("bin"))
        .ok_or_else(|| {
            failure(
                "no PostgreSQL with initdb and pgvector under /usr/lib/postgresql: run \
                 scripts/setup-postgres.sh, or set EMBEDSTORE_PG_BINDIR"
                    .to_owned(),
            )
        })
}

fn unique_dir() -> Result<PathBuf> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "embedstore-cluster-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).map_err(io_failure("create the cluster directory"))?;
    // The postgres OS user must be able to write its log and socket here.
    if is_root() {
        let status = Command::new("chown")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .map_err(io_failure("chown"))?;
        if !status.success() {
            return Err(failure(format!("chown postgres {} failed", dir.display())));
        }
    }
    set_mode(&dir, 0o700)?;
    Ok(dir)
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_failure("find a free port"))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(io_failure("find a free port"))
}

fn random_password() -> String {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id()).rotate_left(32);
    let mut rng = crate::Rng::new(seed);
    format!("pw-{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

fn encode(part: &str) -> String {
    url::form_urlencoded::byte_serialize(part.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
