//! A throwaway PostgreSQL (`initdb` + `pg_ctl` from the Debian `postgresql`
//! package) on a loopback port, data in a temporary directory, stopped and
//! removed when dropped. PostgreSQL refuses to run as root, so under root
//! the server runs as `nobody`. Tests that use it are
//! `#[ignore = "needs postgres"]`.
//!
//! [`PgServer::start_tls`] starts one with `ssl = on`: a CA and a server
//! certificate for `localhost` and `127.0.0.1` are generated for it, the
//! CA's PEM left for clients to trust ([`PgServer::ca_file`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The database user the server is created with.
const PG_USER: &str = "haul";
/// Its password (scram-sha-256): the URL carries it, so tests can check
/// that no message does.
const PG_PASSWORD: &str = "haul-pg-secret-pw-4c1e";

/// A running PostgreSQL; stopped (immediately) and its data removed when
/// dropped.
#[derive(Debug)]
pub struct PgServer {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_nobody: bool,
    ca: Option<PathBuf>,
}

fn is_root() -> bool {
    // /proc/self/status's Uid line: real, effective, saved, fs.
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

impl PgServer {
    /// The directory holding `initdb` and `pg_ctl`: `$PG_BIN`, else `PATH`,
    /// else the newest `/usr/lib/postgresql/*/bin`.
    #[must_use]
    pub fn bin_dir() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("PG_BIN") {
            return Some(PathBuf::from(p));
        }
        // A PATH entry may hold links to the tools (Debian's wrappers):
        // the directory they point into holds createdb too.
        let on_path = std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
                .and_then(|d| std::fs::canonicalize(d.join("initdb")).ok())
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .filter(|d| d.join("createdb").is_file())
        });
        if on_path.is_some() {
            return on_path;
        }
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop()
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::io::Result<Output> {
        run_as(&self.bin.join(tool), args, self.as_nobody)
    }

    /// Creates a cluster (user `haul` with a password, scram-sha-256) and
    /// starts it on a free loopback port, its socket in the data directory;
    /// returns once it accepts connections.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(false)
    }

    /// Like [`PgServer::start`], with `ssl = on`: a fresh CA signs a server
    /// certificate for `localhost` and `127.0.0.1`; the server's key is
    /// mode 0600 and owned by the user the server runs as. Clients may
    /// connect with TLS or without (the cluster's `host` rules allow both).
    pub fn start_tls() -> std::io::Result<Self> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> std::io::Result<Self> {
        let bin = Self::bin_dir().ok_or_else(|| {
            std::io::Error::other("no initdb/pg_ctl (apt-get install postgresql)")
        })?;
        let as_nobody = is_root();
        let dir = tempfile::Builder::new().prefix("haul-pg-").tempdir()?;
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PG_PASSWORD)?;
        if as_nobody {
            // The server's files belong to the user it runs as.
            chown_nobody(dir.path())?;
            chown_nobody(&pwfile)?;
        }
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let ssl_opts = if tls {
            let files = tls::write_server_files(dir.path())?;
            if as_nobody {
                chown_nobody(&files.cert)?;
                chown_nobody(&files.key)?;
            }
            format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                files.cert.display(),
                files.key.display()
            )
        } else {
            String::new()
        };
        let ca = tls.then(|| dir.path().join(tls::CA_FILE));
        let me = Self {
            bin,
            dir,
            port,
            as_nobody,
            ca,
        };
        let data_s = data.display().to_string();
        let pw_s = format!("--pwfile={}", pwfile.display());
        check(&me.run(
            "initdb",
            &[
                "-D",
                &data_s,
                "-U",
                PG_USER,
                &pw_s,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?)?;
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {data_s} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=200{ssl_opts}"
        );
        let log = me.dir.path().join("pg.log").display().to_string();
        check(&me.run(
            "pg_ctl",
            &[
                "-D", &data_s, "-l", &log, "-o", &opts, "-w", "-t", "60", "start",
            ],
        )?)?;
        Ok(me)
    }

    /// A `postgres://` URL to the `postgres` database, password included.
    #[must_use]
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// A URL to database `db` (see [`PgServer::create_db`]).
    #[must_use]
    pub fn url_for(&self, db: &str) -> String {
        format!(
            "postgres://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// The password in the URLs, for tests that check it leaks nowhere.
    #[must_use]
    pub fn password(&self) -> &'static str {
        PG_PASSWORD
    }

    /// Creates an empty database `db` and returns its URL: one per test, so
    /// tests sharing a server do not see each other's jobs.
    pub fn create_db(&self, db: &str) -> std::io::Result<String> {
        let port = self.port.to_string();
        let out = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &port, "-U", PG_USER, db])
            .env("PGPASSWORD", PG_PASSWORD)
            .stdin(Stdio::null())
            .output()?;
        check(&out)?;
        Ok(self.url_for(db))
    }

    /// The PEM file of the CA that signed the server's certificate, for
    /// `sslrootcert=`; `None` unless started with [`PgServer::start_tls`].
    #[must_use]
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca.as_deref()
    }

    /// Writes the PEM certificate of another, freshly generated CA, one
    /// that signed nothing this server holds, and returns its path: a root
    /// that must not verify this server.
    pub fn unrelated_ca_file(&self) -> std::io::Result<PathBuf> {
        tls::write_unrelated_ca(self.dir.path())
    }

    /// The data directory (its `pg.log` sits beside it).
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The test certificates, generated with rcgen.
mod tls {
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };

    /// The CA's certificate, beside the data directory.
    pub(super) const CA_FILE: &str = "ca.pem";

    /// The server's certificate and key files.
    pub(super) struct ServerFiles {
        pub(super) cert: PathBuf,
        pub(super) key: PathBuf,
    }

    fn err(e: &rcgen::Error) -> std::io::Error {
        std::io::Error::other(format!("generating a test certificate: {e}"))
    }

    fn ca_params(name: &str) -> Result<CertificateParams, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ok(params)
    }

    /// A CA (its PEM in `dir/ca.pem`) and a server certificate for
    /// `localhost` and `127.0.0.1` it signed, with the server's key mode
    /// 0600.
    pub(super) fn write_server_files(dir: &Path) -> std::io::Result<ServerFiles> {
        let ca_key = KeyPair::generate().map_err(|e| err(&e))?;
        let ca = ca_params("haul test CA")
            .map_err(|e| err(&e))?
            .self_signed(&ca_key)
            .map_err(|e| err(&e))?;
        let issuer = Issuer::new(ca_params("haul test CA").map_err(|e| err(&e))?, ca_key);
        let key = KeyPair::generate().map_err(|e| err(&e))?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(|e| err(&e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &issuer).map_err(|e| err(&e))?;
        std::fs::write(dir.join(CA_FILE), ca.pem())?;
        let files = ServerFiles {
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        };
        std::fs::write(&files.cert, cert.pem())?;
        std::fs::write(&files.key, key.serialize_pem())?;
        // PostgreSQL refuses a key others can read.
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))?;
        Ok(files)
    }

    /// Another CA's certificate, in a new file under `dir`.
    pub(super) fn write_unrelated_ca(dir: &Path) -> std::io::Result<PathBuf> {
        let key = KeyPair::generate().map_err(|e| err(&e))?;
        let ca = ca_params("haul unrelated CA")
            .map_err(|e| err(&e))?
            .self_signed(&key)
            .map_err(|e| err(&e))?;
        let path = tempfile::Builder::new()
            .prefix("unrelated-ca-")
            .suffix(".pem")
            .tempfile_in(dir)?
            .into_temp_path()
            .keep()
            .map_err(|e| e.error)?;
        std::fs::write(&path, ca.pem())?;
        Ok(path)
    }
}

fn chown_nobody(path: &Path) -> std::io::Result<()> {
    check(
        &Command::new("chown")
            .args(["65534:65534"])
            .arg(path)
            .output()?,
    )
}

fn run_as(tool: &Path, args: &[&str], as_nobody: bool) -> std::io::Result<Output> {
    let mut cmd = if as_nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(tool);
        c
    } else {
        Command::new(tool)
    };
    cmd.args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
}

fn check(out: &Output) -> std::io::Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}
