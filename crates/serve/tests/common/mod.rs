//! A raw HTTP/1.1 S3 client for the haul-serve tests: requests are signed
//! with SigV4 over the path exactly as given (so hostile, percent-encoded
//! and `//` paths reach the server untouched) and sent on one kept-alive
//! TCP connection, so tests can also see what happens to the connection.

#![allow(dead_code)] // each test file uses a different part

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::time::SystemTime;

use haul_serve::S3Server;

/// One answer.
#[derive(Debug)]
pub(crate) struct Resp {
    /// The HTTP status.
    pub(crate) status: u16,
    /// Header (lowercased name, value) pairs.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Vec<u8>,
}

impl Resp {
    /// The value of header `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The text of the first `<tag>` element in the body.
    pub(crate) fn tag(&self, tag: &str) -> Option<String> {
        let text = self.text();
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{tag}>"))? + start;
        Some(text[start..end].to_owned())
    }

    /// Every `<tag>` element's text, in order.
    pub(crate) fn tags(&self, tag: &str) -> Vec<String> {
        let text = self.text();
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut out = Vec::new();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(&open) {
            rest = &rest[i + open.len()..];
            let Some(j) = rest.find(&close) else { break };
            out.push(rest[..j].to_owned());
            rest = &rest[j..];
        }
        out
    }
}

/// A client of one server, on one connection (reopened when the server
/// closes it; [`Client::reopened`] counts that).
pub(crate) struct Client {
    addr: String,
    ak: String,
    sk: String,
    conn: Option<BufReader<TcpStream>>,
    /// How many times a connection was opened.
    pub(crate) opened: usize,
}

impl Client {
    /// A client of `server` with its keys.
    pub(crate) fn new(server: &S3Server) -> Self {
        Self {
            addr: server.endpoint().trim_start_matches("http://").to_owned(),
            ak: server.access_key().to_owned(),
            sk: server.secret_key().to_owned(),
            conn: None,
            opened: 0,
        }
    }

    /// Sends `method path_and_query` (already encoded as it should go on
    /// the wire) with `headers` and `body`; signs it.
    ///
    /// # Panics
    /// On a transport failure or an unparsable answer.
    pub(crate) fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        self.send_inner(method, path, headers, body, false)
    }

    fn send_inner(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        expect: bool,
    ) -> Resp {
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all.push(("host".into(), self.addr.clone()));
        let sha = sha256_hex(body);
        all.push(("x-amz-content-sha256".into(), sha));
        let url = format!("http://{}{path}", self.addr);
        for (k, v) in self.sign(method, &url, &all) {
            all.push((k, v));
        }
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        for (k, v) in &all {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        let _ = write!(head, "content-length: {}\r\n\r\n", body.len());
        let mut wire = head.into_bytes();
        if !expect {
            wire.extend_from_slice(body);
        }
        // A kept-alive connection the server closed is reopened once, as
        // HTTP clients do (a fresh one must answer).
        let mut resp = None;
        for _ in 0..2 {
            if self.conn.is_none() {
                let s = TcpStream::connect(&self.addr).expect("connect");
                // A hang is a failure, not a stuck test.
                s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
                    .expect("timeout");
                self.conn = Some(BufReader::new(s));
                self.opened += 1;
            }
            let conn = self.conn.as_mut().expect("connection");
            if conn.get_mut().write_all(&wire).is_err() {
                self.conn = None;
                continue;
            }
            let Some(mut r) = read_resp(conn, method == "HEAD") else {
                self.conn = None;
                continue;
            };
            if expect && r.status == 100 {
                conn.get_mut().write_all(body).expect("send body");
                r = read_resp(conn, method == "HEAD").expect("answer after 100");
            }
            resp = Some(r);
            break;
        }
        let resp = resp.expect("no answer on a fresh connection");
        if resp
            .header("connection")
            .is_some_and(|c| c.eq_ignore_ascii_case("close"))
        {
            self.conn = None;
        }
        resp
    }

    /// Like [`Client::send`] with `Expect: 100-continue`: the body goes
    /// only after a `100 Continue`; a final answer instead means it is
    /// never sent (as botocore does).
    pub(crate) fn send_expect(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let mut h = headers.to_vec();
        h.push(("expect", "100-continue"));
        self.send_inner(method, path, &h, body, true)
    }

    /// SigV4 by hand over the path exactly as sent (s3s accepts the raw
    /// path as the canonical URI), so nothing is re-encoded on the way.
    fn sign(&self, method: &str, url: &str, headers: &[(String, String)]) -> Vec<(String, String)> {
        let now = httpdate_amz(SystemTime::now());
        let date = &now[..8];
        let rest = url.splitn(4, '/').nth(3).unwrap_or("");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        // s3s's canonical URI: the decoded path encoded again, `/` kept.
        let path = canonical_path(&format!("/{path}"));
        let mut q: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        q.sort();
        let canonical_query = q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut hs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        hs.push(("x-amz-date".into(), now.clone()));
        hs.sort();
        let signed = hs
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>()
            .join(";");
        let canonical_headers = hs.iter().fold(String::new(), |mut out, (k, v)| {
            let _ = writeln!(out, "{k}:{v}");
            out
        });
        let payload = headers
            .iter()
            .find(|(k, _)| k == "x-amz-content-sha256")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let creq = format!(
            "{method}\n{path}\n{canonical_query}\n{canonical_headers}\n{signed}\n{payload}"
        );
        let scope = format!("{date}/us-east-1/s3/aws4_request");
        let sts = format!(
            "AWS4-HMAC-SHA256\n{now}\n{scope}\n{}",
            sha256_hex(creq.as_bytes())
        );
        let mut key = hmac(format!("AWS4{}", self.sk).as_bytes(), date.as_bytes());
        for part in ["us-east-1", "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let sig = hex::encode(hmac(&key, sts.as_bytes()));
        vec![
            ("x-amz-date".into(), now),
            (
                "authorization".into(),
                format!(
                    "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={sig}",
                    self.ak
                ),
            ),
        ]
    }
}

/// Percent-decodes `path` and encodes it again the SigV4 way.
fn canonical_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut raw = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                raw.push(b);
                i += 3;
            }
            (b, _) => {
                raw.push(b);
                i += 1;
            }
        }
    }
    let mut out = String::new();
    for b in raw {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// HMAC-SHA256.
fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let mut inner = sha2::Sha256::new();
    inner.update(pad(0x36));
    inner.update(data);
    let mut outer = sha2::Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// `YYYYMMDDTHHMMSSZ`.
/// `20261206T231500Z`, the x-amz-date form of `t`.
fn httpdate_amz(t: SystemTime) -> String {
    haul_core::time::rfc3339(t).replace(['-', ':'], "")
}

fn read_resp(conn: &mut BufReader<TcpStream>, head_only: bool) -> Option<Resp> {
    let mut line = String::new();
    if conn.read_line(&mut line).expect("status line (timed out?)") == 0 {
        return None; // closed
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        conn.read_line(&mut h).expect("header");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if head_only || status == 304 || status == 204 || status == 100 {
        // no body
    } else if get("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        loop {
            let mut size = String::new();
            conn.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .expect("chunk size");
            let mut chunk = vec![0u8; n + 2];
            conn.read_exact(&mut chunk).expect("chunk");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(n) = get("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        conn.read_exact(&mut body).expect("body");
    }
    Some(Resp {
        status,
        headers,
        body,
    })
}

/// Lowercase hex SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

/// Base64 MD5 (a Content-MD5 value).
pub(crate) fn md5_b64(data: &[u8]) -> String {
    use base64::Engine as _;
    use md5::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

/// A started server over a fresh temporary root with bucket `bkt`.
pub(crate) fn server() -> (tempfile::TempDir, S3Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    server.create_bucket("bkt").expect("bucket");
    (dir, server)
}
