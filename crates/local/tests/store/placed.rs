//! Multipart uploads created with a part size hint: parts written in place
//! into one staging file, records, crash leftovers, refusals, completion by
//! rename.

use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use haul_core::checksum::compute;
use haul_core::{
    ByteRange, ChecksumKind, CompletedPart, Error, ObjectStore, ObjectStoreExt, PartNumber,
    Payload, PutOptions, UploadId,
};
use haul_local::LocalStore;

use crate::{is_invalid, key, put, store, tree};

const HINT: u64 = 4;

fn n(i: u32) -> PartNumber {
    PartNumber::new(i).unwrap()
}

fn hinted(hint: u64) -> PutOptions {
    PutOptions {
        part_size_hint: Some(hint),
        ..PutOptions::default()
    }
}

async fn create(store: &LocalStore, k: &str) -> UploadId {
    store.create_multipart(&key(k), hinted(HINT)).await.unwrap()
}

/// A payload carrying its CRC-32C, as the engine sends parts.
fn with_crc(body: &[u8]) -> Payload {
    Payload::from(Bytes::copy_from_slice(body))
        .with_checksums(vec![compute(ChecksumKind::Crc32c, body)])
}

async fn part(store: &LocalStore, k: &str, id: &UploadId, i: u32, body: &[u8]) -> CompletedPart {
    store
        .upload_part(&key(k), id, n(i), with_crc(body))
        .await
        .unwrap()
}

fn staging(store: &LocalStore, id: &UploadId) -> PathBuf {
    store.root().join(".haul-uploads").join(&id.0)
}

/// Every file under the root but the staging area.
fn objects(store: &LocalStore) -> Vec<String> {
    let mut all = tree(store.root());
    all.retain(|f| !f.starts_with(".haul-uploads"));
    all
}

#[allow(clippy::needless_pass_by_value)] // called on results inline
fn no_such<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::NoSuchUpload { .. }))
}

#[tokio::test]
async fn out_of_order_parts_are_written_in_place_and_renamed_into_place() {
    let (_dir, store) = store();
    let k = key("placed/object");
    let id = create(&store, "placed/object").await;
    let p3 = part(&store, "placed/object", &id, 3, b"cc").await;
    let p1 = part(&store, "placed/object", &id, 1, b"aaaa").await;
    // Without checksums the store hashes the bytes, MD5 included.
    let p2 = store
        .upload_part(&k, &id, n(2), Bytes::from_static(b"bbbb").into())
        .await
        .unwrap();
    // With a CRC-32C and no MD5 the ETag is made of the CRC-32C and size.
    let crc = compute(ChecksumKind::Crc32c, b"aaaa");
    assert_eq!(
        p1.etag,
        format!("crc32c-{:08x}-4", crc.crc_value().unwrap())
    );
    assert_eq!(p1.checksum, Some(crc));
    assert_eq!(p2.etag, compute(ChecksumKind::Md5, b"bbbb").to_hex());
    assert_eq!(p3.size, 2);

    let dir = staging(&store, &id);
    let files = tree(&dir);
    for f in ["data", "00001.rec", "00002.rec", "00003.rec", "upload.json"] {
        assert!(files.contains(&f.to_owned()), "{f} in {files:?}");
    }
    assert!(!files.contains(&"00001.part".to_owned()), "{files:?}");
    let record = std::fs::read_to_string(dir.join("upload.json")).unwrap();
    assert!(record.contains("\"part_size\": 4"), "{record}");
    // The staging file holds every part at its offset already.
    assert_eq!(std::fs::read(dir.join("data")).unwrap(), b"aaaabbbbcc");
    assert!(matches!(store.head(&k).await, Err(Error::NotFound { .. })));
    assert!(store.list_all("").await.unwrap().is_empty());

    let listed = store.list_parts(&k, &id).await.unwrap();
    assert_eq!(listed, vec![p1.clone(), p2.clone(), p3.clone()]);
    let inode = std::fs::metadata(dir.join("data")).unwrap().ino();
    let out = store
        .complete_multipart(&k, &id, &[p1, p2, p3])
        .await
        .unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"aaaabbbbcc");
    // Renamed, not copied.
    let path = store.path_of(&k).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), inode);
    assert_eq!(store.head(&k).await.unwrap().etag, out.etag);
    assert_eq!(
        out.checksums,
        vec![compute(ChecksumKind::Crc32c, b"aaaabbbbcc")]
    );
    assert!(no_such(store.list_parts(&k, &id).await));
    assert!(no_such(
        store.upload_part(&k, &id, n(1), with_crc(b"x")).await
    ));
    // The last upload's end removes the uploads directory too.
    assert!(
        !store.root().join(".haul-uploads").exists(),
        "{:?}",
        tree(store.root())
    );
}

#[tokio::test]
async fn another_store_instance_resumes_a_placed_upload_by_id() {
    let (dir, first) = store();
    let k = key("resume/placed");
    let id = create(&first, "resume/placed").await;
    let p2 = part(&first, "resume/placed", &id, 2, b"2222").await;
    let p1 = part(&first, "resume/placed", &id, 1, b"1111").await;
    drop(first);

    let second = LocalStore::new(dir.path().join("root")).unwrap();
    assert_eq!(
        second.list_parts(&k, &id).await.unwrap(),
        vec![p1.clone(), p2.clone()]
    );
    let p3 = part(&second, "resume/placed", &id, 3, b"3").await;
    second
        .complete_multipart(&k, &id, &[p1, p2, p3])
        .await
        .unwrap();
    assert_eq!(&second.get_bytes(&k).await.unwrap()[..], b"111122223");
}

#[tokio::test]
async fn bytes_written_without_a_record_are_no_part() {
    let (_dir, store) = store();
    let k = key("crash/placed");
    let id = create(&store, "crash/placed").await;
    let p1 = part(&store, "crash/placed", &id, 1, b"done").await;
    let dir = staging(&store, &id);
    // What a crash mid-part leaves: part 2's bytes (or some of them) in
    // `data`, and a record temp file never renamed.
    let data = OpenOptions::new()
        .write(true)
        .open(dir.join("data"))
        .unwrap();
    data.write_all_at(b"hal", HINT).unwrap();
    std::fs::write(dir.join(".haul-tmp-feedface"), b"record").unwrap();
    assert_eq!(store.list_parts(&k, &id).await.unwrap(), vec![p1.clone()]);
    let ghost = CompletedPart {
        number: n(2),
        size: 3,
        etag: "whatever".into(),
        checksum: None,
    };
    assert!(is_invalid(
        store
            .complete_multipart(&k, &id, &[p1.clone(), ghost])
            .await
    ));
    // The part sent again overwrites the leftovers.
    let p2 = part(&store, "crash/placed", &id, 2, b"ok").await;
    assert_eq!(
        store.list_parts(&k, &id).await.unwrap(),
        vec![p1.clone(), p2.clone()]
    );
    store.complete_multipart(&k, &id, &[p1, p2]).await.unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"doneok");
}

#[tokio::test]
async fn a_part_sent_again_replaces_the_first() {
    let (_dir, store) = store();
    let k = key("again/placed");
    let id = create(&store, "again/placed").await;
    let old = part(&store, "again/placed", &id, 1, b"old!").await;
    let new = part(&store, "again/placed", &id, 1, b"new!").await;
    assert_ne!(old.etag, new.etag);
    assert_eq!(store.list_parts(&k, &id).await.unwrap(), vec![new.clone()]);
    assert!(is_invalid(store.complete_multipart(&k, &id, &[old]).await));
    // A shorter last part leaves no trace of the longer one before it.
    let short = part(&store, "again/placed", &id, 1, b"ne").await;
    assert!(is_invalid(
        store
            .complete_multipart(&k, &id, std::slice::from_ref(&new))
            .await
    ));
    store.complete_multipart(&k, &id, &[short]).await.unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"ne");
}

#[tokio::test]
async fn a_payload_with_a_wrong_checksum_leaves_the_part_as_it_was() {
    let (_dir, store) = store();
    let k = key("sums/placed");
    let id = create(&store, "sums/placed").await;
    let p1 = part(&store, "sums/placed", &id, 1, b"good").await;
    let wrong = Payload::from(Bytes::from_static(b"evil"))
        .with_checksums(vec![compute(ChecksumKind::Sha1, b"else")]);
    let r = store.upload_part(&k, &id, n(1), wrong).await;
    assert!(matches!(r, Err(Error::Integrity { .. })), "{r:?}");
    assert_eq!(store.list_parts(&k, &id).await.unwrap(), vec![p1.clone()]);
    store.complete_multipart(&k, &id, &[p1]).await.unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"good");
}

#[tokio::test]
async fn parts_that_break_the_hint_are_refused_and_the_upload_survives() {
    let (_dir, store) = store();
    let k = key("sizes/placed");
    let id = create(&store, "sizes/placed").await;
    // Larger than the hint: it would overlap the next part.
    let big = store.upload_part(&k, &id, n(1), with_crc(b"12345")).await;
    assert!(is_invalid(big), "a part larger than the hint");
    assert!(store.list_parts(&k, &id).await.unwrap().is_empty());

    let p1 = part(&store, "sizes/placed", &id, 1, b"111").await;
    let p2 = part(&store, "sizes/placed", &id, 2, b"2222").await;
    let p3 = part(&store, "sizes/placed", &id, 3, b"33").await;
    // A part before the last that is not the hint's size.
    assert!(is_invalid(
        store
            .complete_multipart(&k, &id, &[p1.clone(), p2.clone(), p3.clone()])
            .await
    ));
    // Gaps: part 3 is not at the end of part 1.
    let full = part(&store, "sizes/placed", &id, 1, b"1111").await;
    assert!(is_invalid(
        store
            .complete_multipart(&k, &id, &[full.clone(), p3.clone()])
            .await
    ));
    assert!(matches!(store.head(&k).await, Err(Error::NotFound { .. })));
    store
        .complete_multipart(&k, &id, &[full, p2, p3])
        .await
        .unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"1111222233");
}

#[tokio::test]
async fn parts_past_the_last_completed_are_cut_off() {
    let (_dir, store) = store();
    let k = key("tail/placed");
    let id = create(&store, "tail/placed").await;
    let p1 = part(&store, "tail/placed", &id, 1, b"aaaa").await;
    let p2 = part(&store, "tail/placed", &id, 2, b"bbbb").await;
    part(&store, "tail/placed", &id, 3, b"cccc").await;
    store.complete_multipart(&k, &id, &[p1, p2]).await.unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"aaaabbbb");
}

#[tokio::test]
async fn completing_replaces_an_object_whole_or_not_at_all() {
    let (_dir, store) = store();
    put(&store, "atomic", b"the old object").await;
    let k = key("atomic");
    let before = store.head(&k).await.unwrap();
    let opts = PutOptions {
        checksums: vec![compute(ChecksumKind::Sha1, b"not these bytes")],
        ..hinted(HINT)
    };
    let id = store.create_multipart(&k, opts).await.unwrap();
    let p1 = part(&store, "atomic", &id, 1, b"new ").await;
    let p2 = part(&store, "atomic", &id, 2, b"one").await;
    // Refused: the old object stays, whole, and the upload with it.
    let r = store
        .complete_multipart(&k, &id, &[p1.clone(), p2.clone()])
        .await;
    assert!(matches!(r, Err(Error::Integrity { .. })), "{r:?}");
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"the old object");
    assert_eq!(store.head(&k).await.unwrap().etag, before.etag);
    assert_eq!(objects(&store), ["atomic"]);
    assert_eq!(store.list_parts(&k, &id).await.unwrap(), vec![p1, p2]);
    store.abort_multipart(&k, &id).await.unwrap();

    let opts = PutOptions {
        checksums: vec![compute(ChecksumKind::Sha1, b"new one")],
        ..hinted(HINT)
    };
    let id = store.create_multipart(&k, opts).await.unwrap();
    let p1 = part(&store, "atomic", &id, 1, b"new ").await;
    let p2 = part(&store, "atomic", &id, 2, b"one").await;
    let out = store.complete_multipart(&k, &id, &[p1, p2]).await.unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"new one");
    assert_ne!(out.etag, before.etag);
    assert_eq!(objects(&store), ["atomic"]);
}

#[tokio::test]
async fn a_part_waiting_on_completion_finds_the_upload_gone() {
    let (_dir, store) = store();
    let k = key("race/placed");
    let id = create(&store, "race/placed").await;
    let dir = staging(&store, &id);
    // Stand in for a completion in another process: hold `data` exclusively.
    let data = std::fs::File::open(dir.join("data")).unwrap();
    data.lock().unwrap();
    let waiting = {
        let (store, k, id) = (store.clone(), k.clone(), id.clone());
        tokio::spawn(async move { store.upload_part(&k, &id, n(1), with_crc(b"late")).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the part waits for the lock");
    // The completion ends the upload and lets go.
    std::fs::remove_file(dir.join("upload.json")).unwrap();
    data.unlock().unwrap();
    assert!(no_such(waiting.await.unwrap()));
    assert_eq!(data.metadata().unwrap().len(), 0, "nothing written");
}

#[tokio::test]
async fn an_upload_whose_data_was_renamed_away_has_ended() {
    let (_dir, store) = store();
    let k = key("ended/placed");
    let id = create(&store, "ended/placed").await;
    part(&store, "ended/placed", &id, 1, b"data").await;
    // A crash between completing's rename and its removing upload.json.
    std::fs::remove_file(staging(&store, &id).join("data")).unwrap();
    assert!(no_such(store.list_parts(&k, &id).await));
    // The first look at it removed the leftovers (records, locks, upload.json).
    assert!(
        !staging(&store, &id).exists(),
        "{:?}",
        tree(&staging(&store, &id))
    );
    assert!(no_such(
        store.upload_part(&k, &id, n(2), with_crc(b"x")).await
    ));
    assert!(no_such(store.complete_multipart(&k, &id, &[]).await));
    store.abort_multipart(&k, &id).await.unwrap();
    assert!(tree(&store.root().join(".haul-uploads")).is_empty());
}

#[tokio::test]
async fn part_copies_are_placed_too() {
    let (_dir, store) = store();
    put(&store, "src", b"0123456789").await;
    let (src, dst) = (key("src"), key("dst"));
    let id = store.create_multipart(&dst, hinted(HINT)).await.unwrap();
    let p2 = store
        .upload_part_copy(&src, ByteRange::Suffix(2), &dst, &id, n(2))
        .await
        .unwrap();
    let p1 = store
        .upload_part_copy(&src, ByteRange::at(2, 4), &dst, &id, n(1))
        .await
        .unwrap();
    assert_eq!(p1.etag, compute(ChecksumKind::Md5, b"2345").to_hex());
    let big = store
        .upload_part_copy(&src, ByteRange::at(0, 5), &dst, &id, n(3))
        .await;
    assert!(is_invalid(big));
    store
        .complete_multipart(&dst, &id, &[p1, p2])
        .await
        .unwrap();
    assert_eq!(&store.get_bytes(&dst).await.unwrap()[..], b"234589");
}

#[tokio::test]
async fn empty_parts_and_objects() {
    let (_dir, store) = store();
    let k = key("empty/placed");
    let id = create(&store, "empty/placed").await;
    let p1 = part(&store, "empty/placed", &id, 1, b"").await;
    store.complete_multipart(&k, &id, &[p1]).await.unwrap();
    assert_eq!(store.head(&k).await.unwrap().size, 0);

    let id = create(&store, "empty/placed").await;
    let p1 = part(&store, "empty/placed", &id, 1, b"full").await;
    let p2 = part(&store, "empty/placed", &id, 2, b"").await;
    store.complete_multipart(&k, &id, &[p1, p2]).await.unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"full");
}

#[tokio::test]
async fn abort_waits_for_nothing_and_frees_everything() {
    let (_dir, store) = store();
    let k = key("abort/placed");
    let id = create(&store, "abort/placed").await;
    part(&store, "abort/placed", &id, 1, b"data").await;
    store.abort_multipart(&k, &id).await.unwrap();
    assert!(tree(&store.root().join(".haul-uploads")).is_empty());
    assert!(no_such(store.list_parts(&k, &id).await));
    assert!(no_such(
        store.upload_part(&k, &id, n(2), with_crc(b"x")).await
    ));
    assert!(matches!(store.head(&k).await, Err(Error::NotFound { .. })));
}

#[tokio::test]
async fn a_zero_hint_is_no_hint() {
    let (_dir, store) = store();
    let k = key("zero/hint");
    let id = store.create_multipart(&k, hinted(0)).await.unwrap();
    let p1 = part(&store, "zero/hint", &id, 1, b"any size").await;
    let p2 = part(&store, "zero/hint", &id, 2, b"at all").await;
    assert_eq!(
        tree(&staging(&store, &id)),
        ["00001.part", "00002.part", "upload.json"]
    );
    store.complete_multipart(&k, &id, &[p1, p2]).await.unwrap();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], b"any sizeat all");
}

#[tokio::test]
async fn many_parts_in_flight_at_once() {
    let (_dir, store) = store();
    let k = key("many/placed");
    let hint = 64 * 1024;
    let id = store.create_multipart(&k, hinted(hint)).await.unwrap();
    let body = |i: u32| {
        let len = if i == 24 { 1000 } else { hint as usize };
        vec![i as u8; len]
    };
    let mut tasks = Vec::new();
    for i in (1..=24u32).rev() {
        let (store, k, id) = (store.clone(), k.clone(), id.clone());
        let b = body(i);
        tasks.push(tokio::spawn(async move {
            store
                .upload_part(&k, &id, n(i), with_crc(&b))
                .await
                .unwrap()
        }));
    }
    let mut parts = Vec::new();
    for t in tasks {
        parts.push(t.await.unwrap());
    }
    parts.sort_by_key(|p| p.number);
    assert_eq!(store.list_parts(&k, &id).await.unwrap(), parts);
    store.complete_multipart(&k, &id, &parts).await.unwrap();
    let want: Vec<u8> = (1..=24u32).flat_map(body).collect();
    assert_eq!(&store.get_bytes(&k).await.unwrap()[..], &want[..]);
}

#[tokio::test]
async fn a_full_disk_ends_the_upload_and_frees_its_space() {
    let (_dir, store) = store();
    let k = key("full/disk");
    let id = create(&store, "full/disk").await;
    part(&store, "full/disk", &id, 1, b"aaaa").await;
    // Every write to /dev/full fails with ENOSPC, as a full disk does.
    let data = staging(&store, &id).join("data");
    std::fs::remove_file(&data).unwrap();
    std::os::unix::fs::symlink("/dev/full", &data).unwrap();
    let err = store
        .upload_part(&k, &id, n(2), with_crc(b"bbbb"))
        .await
        .expect_err("the disk is full");
    let line = err.to_string();
    assert!(line.contains("full/disk"), "names the object: {line}");
    assert!(line.contains("removed to free the space"), "{line}");
    assert!(!staging(&store, &id).exists(), "the partial file is gone");
    assert!(!store.root().join(".haul-uploads").exists());
    assert!(no_such(store.list_parts(&k, &id).await));
}
