//! The AWS credential chain end to end: the real binary, with no keys in
//! its environment, against an in-process S3 server that accepts only the
//! keys one stand-in source (instance metadata, container endpoint, STS,
//! `credential_process`) hands out, and refuses them once expired.

use std::fmt::Write as _;
use std::process::{Command, Output};
use std::time::Duration;

use haul::testkit::{CredSource, CredsServer};
use sha1::Digest as _;

use crate::cli::{s, succeeded, summary, write};
use crate::s3cli::S3Env;

/// An S3 server that no longer takes its fixed key, and the stand-in
/// sources whose keys it takes instead.
struct CredEnv {
    e: S3Env,
    creds: CredsServer,
}

impl CredEnv {
    fn new(lifetime: Duration) -> Self {
        let e = S3Env::new();
        e.server.keys().remove(e.server.access_key());
        let creds = CredsServer::start(e.server.keys().clone(), lifetime);
        write(&e.env.path("aws/config"), b"");
        write(&e.env.path("aws/credentials"), b"");
        Self { e, creds }
    }

    /// The binary with no keys, no profile, empty AWS files and instance
    /// metadata off: each test turns on the one source it tries.
    fn cmd(&self) -> Command {
        let mut c = self.e.env.cmd();
        c.env("AWS_ENDPOINT_URL", self.e.server.endpoint())
            .env("AWS_REGION", self.e.server.region())
            .env("AWS_CONFIG_FILE", self.e.env.path("aws/config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.e.env.path("aws/credentials"),
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HOME", self.e.env.path("home"));
        for var in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ENDPOINT_URL_SSO",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN",
            "AWS_ROLE_SESSION_NAME",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        ] {
            c.env_remove(var);
        }
        c
    }

    /// The command with instance metadata at the stand-in.
    fn imds_cmd(&self) -> Command {
        let mut c = self.cmd();
        c.env("AWS_EC2_METADATA_DISABLED", "false")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", self.creds.endpoint());
        c
    }

    fn config(&self, text: &str) {
        write(&self.e.env.path("aws/config"), text.as_bytes());
    }

    /// `haul cp` of a small file up, then down, with `cmd`'s credentials.
    fn round_trip(&self, cmd: impl Fn() -> Command) -> Output {
        let src = self.e.env.path("up/hello.txt");
        write(&src, b"hello from a role");
        let args = ["cp", s(&src), "s3://one/creds/hello.txt", "--json", "-vv"];
        let up = cmd().args(args).output().unwrap();
        succeeded(&args, &up);
        let down = self.e.env.path("down/hello.txt");
        let args = ["cp", "s3://one/creds/hello.txt", s(&down), "-q"];
        succeeded(&args, &cmd().args(args).output().unwrap());
        assert_eq!(std::fs::read(&down).unwrap(), b"hello from a role");
        // Debug logging on: key ids may show, secrets and tokens never.
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        );
        let secrets = self.creds.secrets();
        assert!(!secrets.is_empty());
        for secret in secrets {
            assert!(!all.contains(&secret), "a secret in the output:\n{all}");
        }
        up
    }
}

#[test]
fn instance_metadata_keys_up_and_down() {
    let c = CredEnv::new(Duration::from_mins(10));
    c.round_trip(|| c.imds_cmd());
    assert!(c.creds.fetches(CredSource::Imds) >= 1);
}

#[test]
fn container_keys_up_and_down() {
    let c = CredEnv::new(Duration::from_mins(10));
    c.creds.expect_container_authorization("Bearer pod-secret");
    c.round_trip(|| {
        let mut cmd = c.cmd();
        cmd.env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            c.creds.container_uri(),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer pod-secret");
        cmd
    });
    assert!(c.creds.fetches(CredSource::Container) >= 1);
}

#[test]
fn web_identity_keys_up_and_down() {
    let c = CredEnv::new(Duration::from_mins(10));
    let token = c.e.env.path("irsa/token");
    write(&token, b"eyJ.web-identity.token");
    c.creds.expect_web_identity_token("eyJ.web-identity.token");
    c.round_trip(|| {
        let mut cmd = c.cmd();
        cmd.env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
            .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/haul")
            .env("AWS_ENDPOINT_URL_STS", c.creds.endpoint());
        cmd
    });
    assert!(c.creds.fetches(CredSource::WebIdentity) >= 1);
}

#[test]
fn profile_that_assumes_a_role_up_and_down() {
    let c = CredEnv::new(Duration::from_mins(10));
    // The source profile's keys sign AssumeRole only: S3 does not take them.
    c.config(
        "[profile base]\naws_access_key_id = AKIDBASEPROFILE\n\
         aws_secret_access_key = base-secret\n\n\
         [profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\n\
         source_profile = base\n",
    );
    c.round_trip(|| {
        let mut cmd = c.cmd();
        cmd.env("AWS_ENDPOINT_URL_STS", c.creds.endpoint())
            .args(["--profile", "deploy"]);
        cmd
    });
    let callers = c.creds.assume_role_callers();
    assert!(!callers.is_empty(), "AssumeRole was never called");
    assert!(
        callers.iter().all(|k| k == "AKIDBASEPROFILE"),
        "{callers:?}"
    );
}

#[test]
fn credential_process_up_and_down_without_leaking_its_secret() {
    let c = CredEnv::new(Duration::from_mins(10));
    let minted = c.creds.mint(CredSource::Process);
    let script = c.e.env.path("bin/creds.sh");
    write(
        &script,
        format!("printf '%s\\n' '{}'\n", minted.process_json()).as_bytes(),
    );
    c.config(&format!(
        "[profile proc]\ncredential_process = sh {}\n",
        s(&script)
    ));
    let up = c.round_trip(|| {
        let mut cmd = c.cmd();
        cmd.env("AWS_PROFILE", "proc");
        cmd
    });
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(all.contains(&minted.access_key_id), "the key id is logged");
    for secret in [&minted.secret_access_key, &minted.session_token] {
        assert!(
            !all.contains(secret.as_str()),
            "a secret in the output:\n{all}"
        );
    }
}

#[test]
fn no_credentials_names_every_source_tried() {
    let c = CredEnv::new(Duration::from_mins(10));
    let src = c.e.env.path("f.txt");
    write(&src, b"x");
    let out = c
        .cmd()
        .args(["cp", s(&src), "s3://one/f.txt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "no credentials: tried environment, profile default, web identity, container, instance metadata"
        ),
        "{err}"
    );
}

#[test]
fn multipart_upload_outlives_its_credentials() {
    // Keys live 2 s; at 4 MB/s the 20 MB upload takes 5 s or more, in
    // 5 MiB parts: the job must refresh to finish.
    let c = CredEnv::new(Duration::from_secs(2));
    let data: Vec<u8> = (0..20_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let src = c.e.env.path("big.bin");
    write(&src, &data);
    let args = [
        "cp",
        s(&src),
        "s3://one/big.bin",
        "--chunk-size",
        "5MiB",
        "--slice-size",
        "5MiB",
        "--bwlimit",
        "4M",
        "--json",
    ];
    let out = succeeded(&args, &c.imds_cmd().args(args).output().unwrap());
    let sum = summary(&out);
    assert_eq!(sum["files_done"], 1, "{sum}");
    assert_eq!(sum["files_failed"], 0, "{sum}");
    let fetches = c.creds.fetches(CredSource::Imds);
    assert!(fetches >= 2, "credentials fetched {fetches} time(s)");
    assert_eq!(std::fs::read(c.e.object("one/big.bin")).unwrap(), data);
}

#[test]
fn no_sign_request_reads_a_public_bucket() {
    let c = CredEnv::new(Duration::from_mins(10));
    write(&c.e.object("one/pub/open.txt"), b"for everyone");
    c.e.server.keys().allow_anonymous_reads("one");
    let down = c.e.env.path("open.txt");
    let args = ["cp", "s3://one/pub/open.txt", s(&down), "--no-sign-request"];
    c.e.server.record_requests();
    succeeded(&args, &c.cmd().args(args).output().unwrap());
    assert_eq!(std::fs::read(&down).unwrap(), b"for everyone");
    // No Authorization header at all.
    let reqs = c.e.server.recorded();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter().all(|r| r.credential_scope.is_none()),
        "{reqs:?}"
    );
    let ls = succeeded(
        &["ls"],
        &c.cmd()
            .args(["ls", "s3://one/pub/", "--no-sign-request"])
            .output()
            .unwrap(),
    );
    assert!(ls.contains("open.txt"), "{ls}");
    // Writing is not open to anyone; nor is reading another bucket.
    let up = c
        .cmd()
        .args(["cp", s(&down), "s3://one/pub/mine.txt", "--no-sign-request"])
        .output()
        .unwrap();
    assert!(!up.status.success());
    let other = c
        .cmd()
        .args(["ls", "s3://two/", "--no-sign-request"])
        .output()
        .unwrap();
    assert!(!other.status.success());
}

#[test]
fn remote_settings_name_a_profile_or_no_signature() {
    let c = CredEnv::new(Duration::from_mins(10));
    let minted = c.creds.mint(CredSource::Process);
    write(
        &c.e.env.path("aws/credentials"),
        format!(
            "[ci]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            minted.access_key_id, minted.secret_access_key, minted.session_token
        )
        .as_bytes(),
    );
    c.e.server.keys().allow_anonymous_reads("two");
    write(&c.e.object("two/open.txt"), b"public");
    let ep = c.e.server.endpoint();
    write(
        &c.e.env.path("config.toml"),
        format!(
            "[remotes.work]\ntype = \"s3\"\nendpoint = \"{ep}\"\nprofile = \"ci\"\n\n\
             [remotes.public]\ntype = \"s3\"\nendpoint = \"{ep}\"\nanonymous = true\n"
        )
        .as_bytes(),
    );
    let src = c.e.env.path("r.txt");
    write(&src, b"via a profile");
    let args = ["cp", s(&src), "work:one/r.txt", "-q"];
    succeeded(&args, &c.cmd().args(args).output().unwrap());
    assert_eq!(
        std::fs::read(c.e.object("one/r.txt")).unwrap(),
        b"via a profile"
    );
    let down = c.e.env.path("open.txt");
    let args = ["cp", "public:two/open.txt", s(&down), "-q"];
    succeeded(&args, &c.cmd().args(args).output().unwrap());
    assert_eq!(std::fs::read(&down).unwrap(), b"public");
}

#[test]
fn sso_login_up_and_down() {
    let c = CredEnv::new(Duration::from_mins(10));
    let start = "https://haul-test.awsapps.com/start";
    c.config(&format!(
        "[profile sso]\nsso_start_url = {start}\nsso_region = us-east-1\n\
         sso_account_id = 123456789012\nsso_role_name = Deploy\n"
    ));
    // What `aws sso login` leaves: the token under the SHA-1 of the start URL.
    let name = sha1::Sha1::digest(start.as_bytes())
        .iter()
        .fold(String::new(), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        });
    write(
        &c.e.env.path(&format!("home/.aws/sso/cache/{name}.json")),
        format!(
            r#"{{"accessToken":"sso-bearer-token","expiresAt":"2099-01-01T00:00:00Z","region":"us-east-1","startUrl":"{start}"}}"#
        )
        .as_bytes(),
    );
    c.creds.expect_sso_token("sso-bearer-token");
    c.round_trip(|| {
        let mut cmd = c.cmd();
        cmd.env("AWS_ENDPOINT_URL_SSO", c.creds.endpoint())
            .args(["--profile", "sso"]);
        cmd
    });
    assert!(c.creds.fetches(CredSource::Sso) >= 1);
}

#[test]
fn keys_refused_as_expired_are_fetched_again_and_the_request_resent() {
    // The first key the metadata hands out says it is good for an hour but
    // the server already refuses it: the request is signed anew and sent.
    let c = CredEnv::new(Duration::from_hours(1));
    c.creds.expire_next_on_arrival(1);
    let src = c.e.env.path("x.txt");
    write(&src, b"second try");
    let args = ["cp", s(&src), "s3://one/x.txt", "--json"];
    let out = succeeded(&args, &c.imds_cmd().args(args).output().unwrap());
    let sum = summary(&out);
    assert_eq!(sum["files_done"], 1, "{sum}");
    assert_eq!(c.creds.fetches(CredSource::Imds), 2);
    assert_eq!(
        std::fs::read(c.e.object("one/x.txt")).unwrap(),
        b"second try"
    );
}

#[test]
fn a_part_refused_for_expired_keys_is_sent_again_with_fresh_ones() {
    // Each key is good for 3 requests at the server (an hour by its
    // Expiration): parts, streamed as they are read, run into refusals
    // mid-upload; each refused part is sent again with new keys.
    let c = CredEnv::new(Duration::from_hours(1));
    c.creds.expire_keys_after_requests(3);
    let data: Vec<u8> = (0..16_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
        .collect();
    let src = c.e.env.path("parts.bin");
    write(&src, &data);
    let args = [
        "cp",
        s(&src),
        "s3://one/parts.bin",
        "--chunk-size",
        "5MiB",
        "--slice-size",
        "5MiB",
        "--chunk-parallel-limit",
        "1",
        "--json",
    ];
    let out = succeeded(&args, &c.imds_cmd().args(args).output().unwrap());
    let sum = summary(&out);
    assert_eq!(sum["files_done"], 1, "{sum}");
    // Create, 4 parts, complete and the checks around them: 3 per key.
    let fetches = c.creds.fetches(CredSource::Imds);
    assert!(fetches >= 3, "{fetches} fetches: {sum}");
    assert_eq!(std::fs::read(c.e.object("one/parts.bin")).unwrap(), data);
}

/// On an instance with a role and no region configured anywhere, requests
/// are signed for the instance's own region, from its metadata service.
#[test]
fn instance_metadata_gives_the_region_when_nothing_else_does() {
    let c = CredEnv::new(Duration::from_mins(10));
    c.creds.set_instance_region("eu-central-1");
    let src = c.e.env.path("up/where.txt");
    write(&src, b"where am I");
    c.e.server.record_requests();
    let out = c
        .imds_cmd()
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .args(["cp", s(&src), "s3://one/where.txt", "-q"])
        .output()
        .unwrap();
    succeeded(&["cp"], &out);
    let reqs = c.e.server.recorded();
    assert!(!reqs.is_empty());
    for r in &reqs {
        let scope = r.credential_scope.clone().unwrap_or_default();
        assert!(scope.contains("/eu-central-1/s3/"), "{scope}");
    }
}
