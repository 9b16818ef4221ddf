//! Requests and answers as plain data, and the body formats Kodo takes:
//! `multipart/form-data` and `application/x-www-form-urlencoded`.

use bytes::Bytes;
use percent_encoding::percent_decode_str;

/// A request, read whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Req {
    /// `GET`, `POST`, ...
    pub(crate) method: String,
    /// The path as sent (still percent-encoded).
    pub(crate) path: String,
    /// The raw query, without `?`.
    pub(crate) query: Option<String>,
    /// Header names (lowercase) and values, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Bytes,
}

impl Req {
    /// The first value of header `name` (lowercase).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `path[?query]` as sent.
    pub(crate) fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }

    /// The decoded query parameters.
    pub(crate) fn params(&self) -> Vec<(String, String)> {
        self.query
            .as_deref()
            .map(parse_urlencoded)
            .unwrap_or_default()
    }

    /// The decoded value of query parameter `name`.
    pub(crate) fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::from(value.to_string()),
        }
    }

    /// `{"error": message}` with `status`, as Kodo answers failures.
    pub(crate) fn error(status: u16, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error": message }))
    }

    /// An empty 200.
    pub(crate) fn ok() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header.
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// Percent-decodes, with `+` as a space (form encoding).
pub(crate) fn form_decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Parses `a=1&b=2` (form encoding).
pub(crate) fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((n, v)) => (form_decode(n), form_decode(v)),
            None => (form_decode(p), String::new()),
        })
        .collect()
}

/// One field of a `multipart/form-data` body.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) file_name: Option<String>,
    pub(crate) content_type: Option<String>,
    pub(crate) data: Bytes,
}

/// A parameter of a header value (`name="x"` in Content-Disposition).
fn header_param(value: &str, param: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (n, v) = p.trim().split_once('=')?;
        n.trim()
            .eq_ignore_ascii_case(param)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| haystack[i..].starts_with(needle))
}

/// Parses a `multipart/form-data` body given its Content-Type.
pub(crate) fn parse_form_data(content_type: &str, body: &Bytes) -> Result<Vec<Field>, String> {
    let boundary = header_param(content_type, "boundary").ok_or("no multipart boundary")?;
    let delim = format!("--{boundary}").into_bytes();
    let mut pos = find(body, &delim, 0).ok_or("no first boundary")? + delim.len();
    let mut fields = Vec::new();
    loop {
        if body[pos..].starts_with(b"--") {
            return Ok(fields);
        }
        if !body[pos..].starts_with(b"\r\n") {
            return Err("boundary not followed by CRLF".into());
        }
        pos += 2;
        let head_end = find(body, b"\r\n\r\n", pos).ok_or("part without a header end")?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).into_owned();
        let data_start = head_end + 4;
        let mut next_delim = b"\r\n".to_vec();
        next_delim.extend_from_slice(&delim);
        let data_end = find(body, &next_delim, data_start).ok_or("part without an end")?;
        let mut field = Field {
            name: String::new(),
            file_name: None,
            content_type: None,
            data: body.slice(data_start..data_end),
        };
        for line in head.split("\r\n") {
            let Some((n, v)) = line.split_once(':') else {
                continue;
            };
            if n.trim().eq_ignore_ascii_case("content-disposition") {
                field.name = header_param(v, "name").unwrap_or_default();
                field.file_name = header_param(v, "filename");
            } else if n.trim().eq_ignore_ascii_case("content-type") {
                field.content_type = Some(v.trim().to_owned());
            }
        }
        fields.push(field);
        pos = data_end + next_delim.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let body = Bytes::from_static(
            b"--XX\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\nt:o:k\r\n\
--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\nworld\r\n--XX--\r\n",
        );
        let f = parse_form_data("multipart/form-data; boundary=XX", &body).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].name.as_str(), &f[0].data[..]),
            ("token", &b"t:o:k"[..])
        );
        assert_eq!(f[1].file_name.as_deref(), Some("a.txt"));
        assert_eq!(f[1].content_type.as_deref(), Some("text/plain"));
        assert_eq!(&f[1].data[..], b"hello\r\nworld");
        assert_eq!(
            parse_urlencoded("op=%2Fstat%2FYQ%3D%3D&op=b+c"),
            vec![
                ("op".into(), "/stat/YQ==".into()),
                ("op".into(), "b c".into())
            ]
        );
    }
}
