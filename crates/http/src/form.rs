//! HTML form bodies: `multipart/form-data` around a file's payload (the
//! file's pieces are streamed as they are, never copied) and
//! `application/x-www-form-urlencoded` pairs.

use std::fmt::Write as _;

use bytes::Bytes;
use futures::StreamExt;
use haul_core::{Payload, PayloadStream, Result};

use crate::send::{Body, StreamBody};

/// A file to upload: bytes at hand, or bytes still being read (sent as
/// they arrive, never held whole).
#[derive(Debug)]
pub enum FileBody {
    /// The whole file, in memory.
    Payload(Payload),
    /// The file's bytes as they are read, hashed on the way.
    Stream(PayloadStream),
}

impl FileBody {
    /// The file's length in bytes.
    #[must_use]
    pub fn len(&self) -> u64 {
        match self {
            Self::Payload(p) => p.len(),
            Self::Stream(s) => s.len(),
        }
    }

    /// Whether the file is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole file in memory (a stream is read to its end).
    ///
    /// # Errors
    /// The stream's error.
    pub async fn into_payload(self) -> Result<Payload> {
        match self {
            Self::Payload(p) => Ok(p),
            Self::Stream(s) => s.collect().await,
        }
    }
}

impl From<Payload> for FileBody {
    fn from(p: Payload) -> Self {
        Self::Payload(p)
    }
}

impl From<PayloadStream> for FileBody {
    fn from(s: PayloadStream) -> Self {
        Self::Stream(s)
    }
}

/// A `multipart/form-data` body being built: text fields, then one file.
#[derive(Debug, Clone)]
pub struct MultipartForm {
    boundary: String,
    head: String,
}

impl Default for MultipartForm {
    fn default() -> Self {
        Self::new()
    }
}

/// A form parameter value safe inside a quoted header parameter: `"` and
/// `\` become `_`, control characters (CR, LF) are dropped.
#[must_use]
pub fn quoted_param(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '"' || c == '\\' { '_' } else { c })
        .collect()
}

impl MultipartForm {
    /// An empty form with a fresh random boundary.
    #[must_use]
    pub fn new() -> Self {
        Self {
            boundary: format!("haul-{:032x}", rand::random::<u128>()),
            head: String::new(),
        }
    }

    /// The boundary between fields.
    #[must_use]
    pub fn boundary(&self) -> &str {
        &self.boundary
    }

    /// Appends a text field.
    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        let _ = write!(
            self.head,
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n",
            self.boundary,
            quoted_param(name)
        );
        self
    }

    /// Closes the form with the file field `name` holding `file`, as
    /// [`finish`](Self::finish) does, for a file that may still be being
    /// read: a streamed file becomes a streamed body of known length (the
    /// framing around the file's bytes as they arrive).
    #[must_use]
    pub fn finish_body(
        self,
        name: &str,
        file_name: &str,
        content_type: &str,
        file: FileBody,
    ) -> (Body, String) {
        match file {
            FileBody::Payload(p) => {
                let (body, ct) = self.finish(name, file_name, content_type, &p);
                (Body::Payload(body), ct)
            }
            FileBody::Stream(s) => {
                let (head, tail) = self.framing(name, file_name, content_type);
                let len = (head.len() + tail.len()) as u64 + s.len();
                let stream = futures::stream::once(async move { Ok(head) })
                    .chain(s)
                    .chain(futures::stream::once(async move { Ok(tail) }))
                    .boxed();
                let ct = format!("multipart/form-data; boundary={}", self.boundary);
                (Body::Stream(StreamBody::new(len, stream)), ct)
            }
        }
    }

    /// The bytes before the file field's content, and after it.
    fn framing(&self, name: &str, file_name: &str, content_type: &str) -> (Bytes, Bytes) {
        let mut head = self.head.clone();
        let _ = write!(
            head,
            "--{}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
            self.boundary,
            quoted_param(name),
            quoted_param(file_name),
            quoted_param(content_type),
        );
        let tail = format!("\r\n--{}--\r\n", self.boundary);
        (Bytes::from(head), Bytes::from(tail))
    }

    /// Closes the form with the file field `name` holding `file`: returns
    /// the whole body (the form's framing around the file's own pieces)
    /// and the `Content-Type` header value naming the boundary.
    #[must_use]
    pub fn finish(
        self,
        name: &str,
        file_name: &str,
        content_type: &str,
        file: &Payload,
    ) -> (Payload, String) {
        let (head, tail) = self.framing(name, file_name, content_type);
        let mut body = Payload::new();
        body.push(head);
        for piece in file.pieces() {
            body.push(piece.clone());
        }
        body.push(tail);
        let ct = format!("multipart/form-data; boundary={}", self.boundary);
        (body, ct)
    }
}

/// Percent-encodes `s` for a form or a query: unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`) stay, every other byte is `%XX`.
#[must_use]
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `a=1&b=2`, each name and value percent-encoded.
#[must_use]
pub fn urlencoded(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_frames_the_file_without_copying() {
        let mut form = MultipartForm::new();
        form.text("tag", "x").text("odd\"name", "v");
        let boundary = form.boundary().to_owned();
        let file: Payload = [Bytes::from_static(b"he"), Bytes::from_static(b"llo")]
            .into_iter()
            .collect();
        let (body, ct) = form.finish("content", "a\"b\r\n.txt", "text/plain", &file);
        assert_eq!(ct, format!("multipart/form-data; boundary={boundary}"));
        assert_eq!(body.pieces().len(), 4, "head, the file's two pieces, tail");
        let text = String::from_utf8(body.to_bytes().to_vec()).unwrap();
        assert!(text.contains("name=\"odd_name\""), "{text}");
        assert!(text.contains("filename=\"a_b.txt\""), "{text}");
        assert!(
            text.ends_with(&format!("\r\n\r\nhello\r\n--{boundary}--\r\n")),
            "{text}"
        );
    }

    #[test]
    fn urlencoding() {
        assert_eq!(encode_component("a+b/c= ü"), "a%2Bb%2Fc%3D%20%C3%BC");
        assert_eq!(
            urlencoded(&[("content", "YQ=="), ("tag", "t-1")]),
            "content=YQ%3D%3D&tag=t-1"
        );
    }
}
