//! TLS to the shared journal, as libpq's `sslmode` means it: `verify-full`
//! and `verify-ca` against a CA given by `sslrootcert`, `require` without
//! one, `disable` plain against a TLS server, and clear failures for a
//! wrong CA or a server without TLS, none naming the password. Each test
//! asks the server itself whether the journal's connections are encrypted
//! (`pg_stat_ssl`). Needs PostgreSQL (`--include-ignored`).

use haul_journal::{JobState, Journal, NewFile};
use haul_testkit::PgServer;

/// A TLS server and a database on it; the URL without TLS parameters.
fn tls_server() -> (PgServer, String) {
    let server = PgServer::start_tls().expect("starting PostgreSQL with ssl = on");
    let url = server.create_db("haul").expect("creating the database");
    (server, url)
}

/// `url` with `params` added to its query.
fn with(url: &str, params: &str) -> String {
    format!("{url}?{params}")
}

/// The URL-encoded form of a path for a query parameter.
fn path_param(p: &std::path::Path) -> String {
    p.display()
        .to_string()
        .replace('%', "%25")
        .replace('&', "%26")
}

/// Whether the connections named `app` (the journal's two) are encrypted,
/// as the server reports it; asked over a plain admin connection.
async fn encrypted(server: &PgServer, app: &str) -> Vec<bool> {
    let (client, conn) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let task = tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = $1",
            &[&app],
        )
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    rows.iter().map(|r| r.get::<_, bool>(0)).collect()
}

/// Creates a job with three files through `j` and reads them back.
async fn journal_works(j: &Journal) {
    let job = j.create_job("{}").await.unwrap();
    j.add_files(
        job,
        (0..3)
            .map(|i| NewFile::copy(format!("src/{i}"), format!("dst/{i}"), 10 + i))
            .collect(),
    );
    j.set_job_state(job, JobState::Running);
    j.flush().await.unwrap();
    let mut keys: Vec<String> = j.files(job).unwrap().into_iter().map(|f| f.src).collect();
    keys.sort();
    assert_eq!(keys, ["src/0", "src/1", "src/2"]);
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn verify_full_with_the_servers_ca_connects_encrypted() {
    let (server, url) = tls_server();
    let ca = path_param(server.ca_file().unwrap());
    let url = with(
        &url,
        &format!("sslmode=verify-full&sslrootcert={ca}&application_name=vfull"),
    );
    let j = Journal::open(&url).unwrap();
    journal_works(&j).await;
    assert_eq!(encrypted(&server, "vfull").await, [true, true]);
    let shown = j.path().display().to_string();
    assert!(!shown.contains(server.password()), "{shown}");
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn verify_ca_with_the_servers_ca_connects_encrypted() {
    let (server, url) = tls_server();
    let ca = path_param(server.ca_file().unwrap());
    let url = with(
        &url,
        &format!("sslrootcert={ca}&sslmode=verify-ca&application_name=vca"),
    );
    let j = Journal::open(&url).unwrap();
    journal_works(&j).await;
    assert_eq!(encrypted(&server, "vca").await, [true, true]);
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn require_connects_encrypted_without_a_root() {
    let (server, url) = tls_server();
    let j = Journal::open(with(&url, "sslmode=require&application_name=req")).unwrap();
    journal_works(&j).await;
    assert_eq!(encrypted(&server, "req").await, [true, true]);
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn prefer_is_the_default_and_encrypts_when_the_server_can() {
    let (server, url) = tls_server();
    let j = Journal::open(with(&url, "application_name=pref")).unwrap();
    journal_works(&j).await;
    assert_eq!(encrypted(&server, "pref").await, [true, true]);
}

/// Opens a journal on a TLS server with `sslmode=MODE` and another CA as
/// the root: the server, that CA's file and the error.
fn with_another_ca(mode: &str) -> (PgServer, std::path::PathBuf, String) {
    let (server, url) = tls_server();
    let wrong = server.unrelated_ca_file().unwrap();
    let url = with(
        &url,
        &format!("sslmode={mode}&sslrootcert={}", path_param(&wrong)),
    );
    let err = Journal::open(&url).unwrap_err().to_string();
    (server, wrong, err)
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn verify_full_with_another_ca_fails_naming_the_certificate_problem() {
    let (server, wrong, err) = with_another_ca("verify-full");
    eprintln!("{err}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("not signed by a trusted CA"), "{err}");
    assert!(err.contains("sslmode=verify-full"), "{err}");
    assert!(err.contains(&wrong.display().to_string()), "{err}");
    assert!(!err.contains(server.password()), "{err}");
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn verify_ca_with_another_ca_fails_too() {
    let (server, _, err) = with_another_ca("verify-ca");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("sslmode=verify-ca"), "{err}");
    assert!(!err.contains(server.password()), "{err}");
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let (server, url) = tls_server();
    let ca = path_param(server.ca_file().unwrap());
    // The certificate names localhost and 127.0.0.1; this host name is
    // neither, though it reaches the same server (hostaddr).
    let url = url.replacen("@127.0.0.1:", "@db.invalid:", 1);
    let params = format!("sslrootcert={ca}&hostaddr=127.0.0.1&application_name=named");
    let err = Journal::open(with(&url, &format!("sslmode=verify-full&{params}")))
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(err.contains("db.invalid"), "{err}");
    assert!(err.contains("does not name the host"), "{err}");
    assert!(!err.contains(server.password()), "{err}");
    let j = Journal::open(with(&url, &format!("sslmode=verify-ca&{params}"))).unwrap();
    journal_works(&j).await;
    assert_eq!(encrypted(&server, "named").await, [true, true]);
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn a_missing_root_file_is_named_before_connecting() {
    let (server, url) = tls_server();
    let missing = server.dir().join("no-such-ca.pem");
    let url = with(
        &url,
        &format!("sslmode=verify-full&sslrootcert={}", path_param(&missing)),
    );
    let err = Journal::open(&url).unwrap_err().to_string();
    eprintln!("{err}");
    assert!(err.contains("sslrootcert"), "{err}");
    assert!(err.contains(&missing.display().to_string()), "{err}");
    assert!(!err.contains(server.password()), "{err}");
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn disable_stays_plain_against_a_tls_server() {
    let (server, url) = tls_server();
    let j = Journal::open(with(&url, "sslmode=disable&application_name=plain")).unwrap();
    journal_works(&j).await;
    assert_eq!(encrypted(&server, "plain").await, [false, false]);
}

#[tokio::test]
#[ignore = "needs postgres"]
async fn require_against_a_server_without_tls_fails_clearly() {
    let server = PgServer::start().expect("starting PostgreSQL");
    let url = server.create_db("haul").expect("creating the database");
    let err = Journal::open(with(&url, "sslmode=require"))
        .unwrap_err()
        .to_string();
    eprintln!("{err}");
    assert!(err.contains("server does not support TLS"), "{err}");
    assert!(err.contains("sslmode=require"), "{err}");
    assert!(!err.contains(server.password()), "{err}");
    // prefer (the default) falls back to plain TCP there.
    let j = Journal::open(&url).unwrap();
    journal_works(&j).await;
}
