//! rs/batch: up to 1000 stat, delete, copy and move operations in one call.
//!
//! Kodo answers 200 when every operation succeeded and 298 when some did
//! not, with one `{"code", "data"}` per operation in order; each failed
//! operation is reported against its own key.

use haul_core::{Error, Key, ObjectMeta, Result};
use http::{HeaderMap, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

use crate::auth::entry;
use crate::core::Core;
use crate::error::{Answer, map_answer};
use crate::reader::Stat;

/// Most operations Kodo takes in one batch.
pub const MAX_BATCH_OPS: usize = 1000;

/// What a form value keeps unencoded.
const FORM_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'*');

/// One operation of a batch, within the store's bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// The object's metadata.
    Stat(Key),
    /// Deletes the object (a missing one is an error Kodo reports as 612).
    Delete(Key),
    /// Copies `src` to `dst`; without `force` an existing `dst` is 614.
    Copy {
        /// The source.
        src: Key,
        /// The destination.
        dst: Key,
        /// Overwrite an existing destination.
        force: bool,
    },
    /// Moves (renames) `src` to `dst`; without `force` an existing `dst` is 614.
    Move {
        /// The source.
        src: Key,
        /// The destination.
        dst: Key,
        /// Overwrite an existing destination.
        force: bool,
    },
}

impl BatchOp {
    /// The key a failure of this operation is reported against.
    #[must_use]
    pub fn key(&self) -> &Key {
        match self {
            Self::Stat(k) | Self::Delete(k) => k,
            Self::Copy { src, .. } | Self::Move { src, .. } => src,
        }
    }

    /// The `op` value: `/stat/<entry>`, `/copy/<src>/<dst>/force/true`, ...
    #[must_use]
    pub fn encode(&self, bucket: &str) -> String {
        let e = |k: &Key| entry(bucket, Some(k.as_str()));
        match self {
            Self::Stat(k) => format!("/stat/{}", e(k)),
            Self::Delete(k) => format!("/delete/{}", e(k)),
            Self::Copy { src, dst, force } => format!("/copy/{}/{}/force/{force}", e(src), e(dst)),
            Self::Move { src, dst, force } => format!("/move/{}/{}/force/{force}", e(src), e(dst)),
        }
    }
}

/// What one successful batch operation answered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // mostly stats; boxing would allocate per answer
pub enum BatchAnswer {
    /// A stat's metadata.
    Stat(ObjectMeta),
    /// A delete, copy or move that succeeded.
    Done,
}

/// One item of a batch answer.
#[derive(Debug, Deserialize)]
struct Item {
    code: u16,
    #[serde(default)]
    data: Option<serde_json::Value>,
}

impl Core {
    /// Runs `ops` in batches of at most [`MAX_BATCH_OPS`]; one result per
    /// operation, in order. The outer error is a batch that failed whole.
    pub(crate) async fn batch(&self, ops: &[BatchOp]) -> Result<Vec<Result<BatchAnswer>>> {
        let mut out = Vec::with_capacity(ops.len());
        for chunk in ops.chunks(MAX_BATCH_OPS) {
            out.extend(self.batch_once(chunk).await?);
        }
        Ok(out)
    }

    async fn batch_once(&self, ops: &[BatchOp]) -> Result<Vec<Result<BatchAnswer>>> {
        let form: Vec<String> = ops
            .iter()
            .map(|op| {
                format!(
                    "op={}",
                    utf8_percent_encode(&op.encode(&self.cfg.bucket), FORM_VALUE)
                )
            })
            .collect();
        let call = self.rs_call(Method::POST, "/batch", Some(form.join("&")));
        let what = ops.first().map_or("", |op| op.key().as_str());
        let (_, items): (u16, Vec<Item>) = self.send_json(call, &self.ctx(what)).await?;
        if items.len() != ops.len() {
            return Err(Error::transient(
                what,
                format!(
                    "batch of {} operations answered {} results",
                    ops.len(),
                    items.len()
                ),
            ));
        }
        let headers = HeaderMap::new();
        Ok(ops
            .iter()
            .zip(items)
            .map(|(op, item)| {
                let data = item.data.unwrap_or(serde_json::Value::Null);
                if item.code == 200 {
                    return Ok(match op {
                        BatchOp::Stat(k) => {
                            let stat: Stat = serde_json::from_value(data).map_err(|e| {
                                Error::transient(
                                    k.as_str(),
                                    format!("unreadable stat in a batch: {e}"),
                                )
                            })?;
                            BatchAnswer::Stat(stat.meta(k.clone()))
                        }
                        _ => BatchAnswer::Done,
                    });
                }
                let answer = Answer {
                    status: item.code,
                    message: data
                        .get("error")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    reqid: None,
                };
                let key = match (op, item.code) {
                    (BatchOp::Copy { dst, .. } | BatchOp::Move { dst, .. }, 614) => dst,
                    _ => op.key(),
                };
                Err(map_answer(&answer, &headers, &self.ctx(key.as_str())))
            })
            .collect())
    }

    pub(crate) async fn delete_many(&self, keys: &[Key]) -> Result<Vec<Result<()>>> {
        let ops: Vec<BatchOp> = keys.iter().cloned().map(BatchOp::Delete).collect();
        Ok(self
            .batch(&ops)
            .await?
            .into_iter()
            .map(|r| match r {
                Ok(_) => Ok(()),
                // Missing keys succeed, as deleting one alone does.
                Err(Error::NotFound { source, .. }) if source.to_string().contains("HTTP 612") => {
                    Ok(())
                }
                Err(e) => Err(e),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_ops() {
        let k = |s: &str| Key::new(s).unwrap();
        assert_eq!(
            BatchOp::Stat(k("gogopher.jpg")).encode("qiniuphotos"),
            "/stat/cWluaXVwaG90b3M6Z29nb3BoZXIuanBn"
        );
        let op = BatchOp::Move {
            src: k("find_man.txt"),
            dst: k("find.man.txt"),
            force: false,
        };
        assert_eq!(
            op.encode("newdocs"),
            "/move/bmV3ZG9jczpmaW5kX21hbi50eHQ=/bmV3ZG9jczpmaW5kLm1hbi50eHQ=/force/false"
        );
        assert_eq!(
            utf8_percent_encode("/delete/YTpi=", FORM_VALUE).to_string(),
            "%2Fdelete%2FYTpi%3D"
        );
    }
}
