#!/usr/bin/env python3
"""Drives the official Tencent COS Python SDK (cos-python-sdk-v5) against
haul's COS emulator, so the emulator is judged by a client nobody here wrote.

Run by crates/cos/tests/it/sdk.rs, which starts the emulator and passes:
HAUL_COS_PORT, HAUL_COS_SECRET_ID, HAUL_COS_SECRET_KEY, HAUL_COS_BUCKET,
HAUL_COS_REGION, HAUL_COS_COPY_BUCKET, HAUL_COS_COPY_REGION.

The SDK is used exactly as against Tencent Cloud: it builds its own
`<bucket>.cos.<region>.myqcloud.com` URLs, Host headers and q-sign
signatures. Only the TCP connection is routed to the emulator on loopback,
as an /etc/hosts entry plus a port forward would do; any other destination
is refused, so nothing leaves the machine.

Exits 0 when every call succeeded and checked out; prints one line per call.
"""

import hashlib
import os
import sys
import tempfile

import crcmod
import requests
import urllib3.util.connection as connection
from qcloud_cos import CosConfig, CosS3Client
from qcloud_cos.cos_exception import CosServiceError

PORT = int(os.environ["HAUL_COS_PORT"])
SECRET_ID = os.environ["HAUL_COS_SECRET_ID"]
SECRET_KEY = os.environ["HAUL_COS_SECRET_KEY"]
BUCKET = os.environ["HAUL_COS_BUCKET"]
REGION = os.environ["HAUL_COS_REGION"]
COPY_BUCKET = os.environ["HAUL_COS_COPY_BUCKET"]
COPY_REGION = os.environ["HAUL_COS_COPY_REGION"]
MIB = 1024 * 1024

_create_connection = connection.create_connection


def loopback_only(address, *args, **kwargs):
    host, _port = address
    if host.endswith(".myqcloud.com"):
        return _create_connection(("127.0.0.1", PORT), *args, **kwargs)
    raise OSError("the SDK test only talks to the emulator, not %r" % host)


connection.create_connection = loopback_only

crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)
CALLS = []


def ok(name, detail=""):
    CALLS.append(name)
    print("ok  %-24s %s" % (name, detail), flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def data(seed, size):
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def client(region, secret_key=SECRET_KEY):
    conf = CosConfig(Region=region, SecretId=SECRET_ID, SecretKey=secret_key, Scheme="http")
    return conf, CosS3Client(conf, retry=0)


def body_of(resp):
    return resp["Body"].get_raw_stream().read()


def main():
    conf, cos = client(REGION)

    # put_object with Content-MD5, a key that needs encoding.
    key = "sdk/hello 世界+%.txt"
    hello = b"hello from the official SDK " * 100
    r = cos.put_object(Bucket=BUCKET, Key=key, Body=hello, EnableMD5=True)
    expect(r["ETag"].strip('"') == hashlib.md5(hello).hexdigest(), "put ETag %r" % r["ETag"])
    expect(r["x-cos-hash-crc64ecma"] == str(crc64(hello)), "put CRC64 %r" % r["x-cos-hash-crc64ecma"])
    ok("put_object", r["x-cos-hash-crc64ecma"])

    # get_object with Range.
    r = cos.get_object(Bucket=BUCKET, Key=key, Range="bytes=6-15")
    got = body_of(r)
    expect(got == hello[6:16], "ranged body %r" % got)
    expect(r["Content-Range"] == "bytes 6-15/%d" % len(hello), "Content-Range %r" % r["Content-Range"])
    ok("get_object Range", r["Content-Range"])

    # head_object.
    r = cos.head_object(Bucket=BUCKET, Key=key)
    expect(int(r["Content-Length"]) == len(hello), "head length")
    expect(r["x-cos-hash-crc64ecma"] == str(crc64(hello)), "head CRC64")
    ok("head_object", r["Content-Length"])

    # A presigned download URL (query-string signature, host signed without the port).
    url = cos.get_presigned_download_url(Bucket=BUCKET, Key=key, Expired=300)
    got = requests.get(url, timeout=30).content
    expect(got == hello, "presigned GET body")
    ok("presigned GET")

    # upload_file (multipart): a part already uploaded under an upload that
    # ListMultipartUploads finds, so the SDK resumes it through ListParts.
    big = data(1, 3 * MIB + 512 * 1024)
    big_key = "sdk/big file.bin"
    up = cos.create_multipart_upload(Bucket=BUCKET, Key=big_key)["UploadId"]
    cos.upload_part(Bucket=BUCKET, Key=big_key, Body=big[:MIB], PartNumber=1, UploadId=up)
    with tempfile.NamedTemporaryFile(delete=False) as f:
        f.write(big)
        path = f.name
    try:
        r = cos.upload_file(Bucket=BUCKET, Key=big_key, LocalFilePath=path, PartSize=1, MAXThread=3)
    finally:
        os.unlink(path)
    expect(r["ETag"].strip('"').endswith("-4"), "multipart ETag %r" % r["ETag"])
    head = cos.head_object(Bucket=BUCKET, Key=big_key)
    expect(head["x-cos-hash-crc64ecma"] == str(crc64(big)), "multipart CRC64")
    expect(body_of(cos.get_object(Bucket=BUCKET, Key=big_key)) == big, "multipart body")
    uploads = cos.list_multipart_uploads(Bucket=BUCKET, Prefix="sdk/")
    expect("Upload" not in uploads, "the resumed upload was completed: %r" % uploads.get("Upload"))
    ok("upload_file multipart", "resumed %s, ETag %s" % (up, r["ETag"]))

    # copy: the source is in another region, so copy() goes through
    # UploadPartCopy once the source is over the (lowered) threshold.
    _, src_cos = client(COPY_REGION)
    src = data(2, 2 * MIB + 300 * 1024)
    src_cos.put_object(Bucket=COPY_BUCKET, Key="src/obj.bin", Body=src)
    conf.set_copy_part_threshold_size(MIB)
    r = cos.copy(
        Bucket=BUCKET,
        Key="sdk/copied.bin",
        CopySource={"Bucket": COPY_BUCKET, "Key": "src/obj.bin", "Region": COPY_REGION},
        PartSize=1,
        MAXThread=2,
    )
    expect(r["ETag"].strip('"').endswith("-3"), "part-copy ETag %r" % r["ETag"])
    expect(body_of(cos.get_object(Bucket=BUCKET, Key="sdk/copied.bin")) == src, "copied body")
    ok("copy (UploadPartCopy)", r["ETag"])

    # list_objects: delimiter, URL-encoded answers, marker pagination.
    r = cos.list_objects(Bucket=BUCKET, Prefix="sdk/", Delimiter="/")
    keys = sorted(c["Key"] for c in r.get("Contents", []))
    want = sorted([key, big_key, "sdk/copied.bin"])
    expect(keys == want, "listed %r, want %r" % (keys, want))
    seen, marker = [], ""
    while True:
        r = cos.list_objects(Bucket=BUCKET, Prefix="sdk/", Marker=marker, MaxKeys=1)
        seen += [c["Key"] for c in r.get("Contents", [])]
        if r["IsTruncated"] == "false":
            break
        marker = r["NextMarker"]
    expect(sorted(seen) == want, "paged %r" % seen)
    ok("list_objects", "%d keys, %d pages" % (len(keys), len(seen)))

    # delete_objects.
    r = cos.delete_objects(
        Bucket=BUCKET, Delete={"Object": [{"Key": k} for k in want], "Quiet": "false"}
    )
    deleted = sorted(d["Key"] for d in r.get("Deleted", []))
    expect(deleted == want, "deleted %r" % deleted)
    expect("Contents" not in cos.list_objects(Bucket=BUCKET, Prefix="sdk/"), "left after delete")
    ok("delete_objects", "%d keys" % len(deleted))

    # The emulator really checks: a wrong SecretKey is refused.
    _, bad = client(REGION, secret_key=SECRET_KEY + "x")
    try:
        bad.put_object(Bucket=BUCKET, Key="sdk/never", Body=b"x")
        raise AssertionError("a wrong SecretKey was accepted")
    except CosServiceError as e:
        expect(e.get_error_code() == "SignatureDoesNotMatch", "wrong key: %s" % e.get_error_code())
    ok("wrong SecretKey refused", "SignatureDoesNotMatch")

    print("sdk: all %d calls succeeded" % len(CALLS))


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # one line for the Rust test, the traceback above it
        import traceback

        traceback.print_exc()
        print("FAILED after %d calls: %s" % (len(CALLS), exc))
        sys.exit(1)
