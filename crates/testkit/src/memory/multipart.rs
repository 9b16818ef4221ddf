//! Multipart uploads: parts held per upload, and S3's rules for completing.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use haul_core::checksum::{combine_all, compute};
use haul_core::{
    Checksum, ChecksumKind, CompletedPart, Error, Key, PartNumber, PutOptions, Result, UploadId,
};

use super::{MemoryStore, Object, new_object, upload_mut, verify};

/// An upload in progress.
pub(super) struct Upload {
    pub(super) key: Key,
    pub(super) opts: PutOptions,
    pub(super) parts: BTreeMap<PartNumber, Part>,
}

/// A part held for an upload.
pub(super) struct Part {
    pub(super) data: Bytes,
    pub(super) md5: Checksum,
    pub(super) crc32c: Checksum,
}

impl Part {
    fn new(data: Bytes) -> Self {
        let md5 = compute(ChecksumKind::Md5, &data);
        let crc32c = compute(ChecksumKind::Crc32c, &data);
        Self { data, md5, crc32c }
    }

    pub(super) fn completed(&self, number: PartNumber) -> CompletedPart {
        CompletedPart {
            number,
            etag: self.md5.to_hex(),
            size: self.data.len() as u64,
            checksum: Some(self.crc32c.clone()),
        }
    }
}

impl MemoryStore {
    fn check_part_number(&self, key: &Key, n: PartNumber) -> Result<()> {
        if n.get() > self.caps.max_parts {
            return Err(Error::invalid(
                key.as_str(),
                format!(
                    "part number {n} is above the store's {} parts",
                    self.caps.max_parts
                ),
            ));
        }
        Ok(())
    }

    fn check_part_size(&self, key: &Key, size: u64) -> Result<()> {
        if size > self.caps.max_part_size_bytes {
            return Err(Error::invalid(
                key.as_str(),
                format!(
                    "EntityTooLarge: part of {size} bytes is above the {} byte maximum",
                    self.caps.max_part_size_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Stores a part under an upload, checking the id belongs to `key`.
    pub(super) fn store_part(
        &self,
        key: &Key,
        id: &UploadId,
        n: PartNumber,
        data: Bytes,
    ) -> Result<CompletedPart> {
        self.check_part_number(key, n)?;
        self.check_part_size(key, data.len() as u64)?;
        let part = Part::new(data);
        let done = part.completed(n);
        let mut st = self.lock();
        let upload = upload_mut(&mut st, key, id)?;
        upload.parts.insert(n, part);
        Ok(done)
    }

    /// Validates a completion under the lock and builds the object.
    pub(super) fn assemble(
        &self,
        upload: &Upload,
        key: &Key,
        parts: &[CompletedPart],
    ) -> Result<Object> {
        if parts.is_empty() {
            return Err(Error::invalid(
                key.as_str(),
                "MalformedXML: complete names no parts",
            ));
        }
        let mut md5s = Vec::with_capacity(parts.len() * 16);
        let mut crcs = Vec::with_capacity(parts.len());
        let mut data = BytesMut::new();
        let mut prev: Option<PartNumber> = None;
        for (i, p) in parts.iter().enumerate() {
            if prev.is_some_and(|prev| p.number <= prev) {
                return Err(Error::invalid(
                    key.as_str(),
                    format!(
                        "InvalidPartOrder: part {} follows part {}",
                        p.number,
                        prev.map_or(0, PartNumber::get)
                    ),
                ));
            }
            prev = Some(p.number);
            let Some(held) = upload.parts.get(&p.number) else {
                return Err(Error::invalid(
                    key.as_str(),
                    format!("InvalidPart: part {} was never uploaded", p.number),
                ));
            };
            if p.etag.trim_matches('"') != held.md5.to_hex() {
                return Err(Error::invalid(
                    key.as_str(),
                    format!(
                        "InvalidPart: part {} has ETag {}, not {}",
                        p.number,
                        held.md5.to_hex(),
                        p.etag
                    ),
                ));
            }
            let size = held.data.len() as u64;
            if i + 1 < parts.len() && size < self.caps.min_part_size_bytes {
                return Err(Error::invalid(
                    key.as_str(),
                    format!(
                        "EntityTooSmall: part {} is {size} bytes, below the {} byte minimum",
                        p.number, self.caps.min_part_size_bytes
                    ),
                ));
            }
            md5s.extend_from_slice(held.md5.as_bytes());
            crcs.push((&held.crc32c, size));
            data.extend_from_slice(&held.data);
        }
        let size = data.len() as u64;
        if size > self.caps.max_object_size_bytes {
            return Err(Error::invalid(
                key.as_str(),
                format!(
                    "EntityTooLarge: object of {size} bytes is above the {} byte maximum",
                    self.caps.max_object_size_bytes
                ),
            ));
        }
        let data = data.freeze();
        verify(key, &data, &upload.opts.checksums)?;
        let crc32c = combine_all(ChecksumKind::Crc32c, crcs)
            .unwrap_or_else(|| compute(ChecksumKind::Crc32c, &data));
        let etag = format!(
            "{}-{}",
            compute(ChecksumKind::Md5, &md5s).to_hex(),
            parts.len()
        );
        Ok(new_object(key, data, etag, crc32c, &upload.opts))
    }
}
