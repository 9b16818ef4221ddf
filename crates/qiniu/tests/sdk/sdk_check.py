"""Drives the official Qiniu Python SDK (`qiniu` on PyPI) against haul's
Qiniu emulator: form and resumable (v2) uploads, stat, copy, move, delete,
batch, list, and a private download URL read with a Range.

Every call must succeed against an emulator that verifies the SDK's tokens
and signatures byte for byte. Where the SDK and the emulator disagree, the
emulator is wrong. Run by crates/qiniu/tests/it/sdk.rs with the emulator's
hosts and keys in QINIU_* variables; prints one line per check and exits
non-zero at the first failure.
"""

import os
import sys
import tempfile

import requests
import qiniu
from qiniu import Auth, BucketManager, put_data, put_file, put_file_v2, etag
from qiniu import build_batch_stat, build_batch_delete, build_batch_copy
from qiniu.http.endpoint import Endpoint
from qiniu.http.region import Region, ServiceName

MIB = 1024 * 1024
CHECKS = []


def check(name, ok, info=None):
    CHECKS.append(name)
    if not ok:
        print("FAIL %s: %s" % (name, info))
        sys.exit(1)
    print("ok   %s" % name)


def data(n, seed):
    return bytes(((i * 31 + seed) ^ (i >> 11)) & 0xFF for i in range(n))


def env(name):
    value = os.environ.get(name)
    if not value:
        print("FAIL: %s is not set" % name)
        sys.exit(2)
    return value


def main():
    ak, sk = env("QINIU_ACCESS_KEY"), env("QINIU_SECRET_KEY")
    bucket, private = env("HAUL_SDK_BUCKET"), env("HAUL_SDK_PRIVATE_BUCKET")
    io_public, io_private = env("HAUL_SDK_IO"), env("HAUL_SDK_PRIVATE_IO")
    region = Region(services={
        ServiceName.UP: [Endpoint.from_host(env("QINIU_UP_HOST"))],
        ServiceName.RS: [Endpoint.from_host(env("QINIU_RS_HOST"))],
        ServiceName.RSF: [Endpoint.from_host(env("QINIU_RSF_HOST"))],
        ServiceName.IO: [Endpoint.from_host(io_public)],
    })
    regions = [region]
    q = Auth(ak, sk)
    bm = BucketManager(q, regions=regions)
    print("qiniu SDK %s" % qiniu.__version__)

    # put_data: a form upload with the crc32 field.
    body = data(100000, 1)
    ret, info = put_data(q.upload_token(bucket, "sdk/form.bin"), "sdk/form.bin", body, regions=regions)
    check("put_data (form upload)", info.status_code == 200 and ret["hash"] == etag_of(body), info)

    # put_file_v2 below the threshold: a form upload of a file.
    tmp = tempfile.mkdtemp()
    small = os.path.join(tmp, "small.txt")
    with open(small, "wb") as f:
        f.write(b"hello qiniu")
    ret, info = put_file_v2(q.upload_token(bucket, "sdk/small.txt"), "sdk/small.txt", small, regions=regions)
    check("put_file_v2 (form upload of a file)", info.status_code == 200 and ret["hash"] == etag(small), info)

    # put_file_v2 above the threshold: resumable upload v2 with 4 MiB parts
    # (hash = qetag v1) and with 2 MiB parts (hash = qetag v2).
    big = os.path.join(tmp, "big.bin")
    big_body = data(9 * MIB + 123, 2)
    with open(big, "wb") as f:
        f.write(big_body)
    qiniu.config.set_default(default_upload_threshold=MIB)
    ret, info = put_file_v2(q.upload_token(bucket, "sdk/big-4m.bin"), "sdk/big-4m.bin", big,
                            version="v2", part_size=4 * MIB, regions=regions, mime_type="application/x-big")
    check("put_file_v2 (resumable v2, 4 MiB parts)", info.status_code == 200 and ret["hash"] == etag(big), info)
    ret, info = put_file_v2(q.upload_token(bucket, "sdk/big-2m.bin"), "sdk/big-2m.bin", big,
                            version="v2", part_size=2 * MIB, regions=regions)
    check("put_file_v2 (resumable v2, 2 MiB parts)",
          info.status_code == 200 and ret["hash"].startswith("n") and ret["hash"] != etag(big), info)
    v2_hash = ret["hash"]
    ret, info = put_file(q.upload_token(bucket, "sdk/put-file.bin"), "sdk/put-file.bin", big,
                         version="v2", bucket_name=bucket, part_size=4 * MIB, regions=regions)
    check("put_file (resumable v2)", info.status_code == 200 and ret["hash"] == etag(big), info)
    ret, info = put_file(q.upload_token(bucket, "sdk/put-file-v1.bin"), "sdk/put-file-v1.bin", big,
                         regions=regions)
    check("put_file (resumable v1, its default)", info.status_code == 200 and ret["hash"] == etag(big), info)

    # stat
    ret, info = bm.stat(bucket, "sdk/big-4m.bin")
    check("stat", info.status_code == 200 and ret["fsize"] == len(big_body)
          and ret["hash"] == etag(big) and ret["mimeType"] == "application/x-big", info)
    ret, info = bm.stat(bucket, "sdk/big-2m.bin")
    check("stat of a v2 object", info.status_code == 200 and ret["hash"] == v2_hash, info)
    ret, info = bm.stat(bucket, "sdk/none")
    check("stat of a missing key is 612", info.status_code == 612, info)

    # copy, move, delete
    ret, info = bm.copy(bucket, "sdk/form.bin", bucket, "sdk/copied.bin")
    check("copy", info.status_code == 200, info)
    ret, info = bm.copy(bucket, "sdk/form.bin", bucket, "sdk/copied.bin")
    check("copy onto an existing key without force is 614", info.status_code == 614, info)
    ret, info = bm.copy(bucket, "sdk/form.bin", bucket, "sdk/copied.bin", force="true")
    check("copy with force", info.status_code == 200, info)
    ret, info = bm.move(bucket, "sdk/copied.bin", bucket, "sdk/moved.bin")
    check("move", info.status_code == 200, info)
    ret, info = bm.stat(bucket, "sdk/moved.bin")
    check("stat after move", info.status_code == 200 and ret["hash"] == etag_of(body), info)
    ret, info = bm.delete(bucket, "sdk/moved.bin")
    check("delete", info.status_code == 200, info)

    # batch: all good (200), then partly failing (298, one code per op).
    ops = build_batch_stat(bucket, ["sdk/form.bin", "sdk/small.txt"])
    ret, info = bm.batch(ops)
    check("batch stat", info.status_code == 200 and [r["code"] for r in ret] == [200, 200], info)
    ops = build_batch_copy(bucket, {"sdk/small.txt": "sdk/b1.txt", "sdk/form.bin": "sdk/b2.bin"}, bucket, force="true")
    ret, info = bm.batch(ops)
    check("batch copy", info.status_code == 200 and all(r["code"] == 200 for r in ret), info)
    ops = build_batch_delete(bucket, ["sdk/b1.txt", "sdk/never-was", "sdk/b2.bin"])
    ret, info = bm.batch(ops)
    codes = [r["code"] for r in info.json()] if info.status_code == 298 else None
    check("batch delete with a missing key is 298", codes == [200, 612, 200], info)

    # list: prefix, delimiter, limit and markers.
    keys, marker = [], None
    while True:
        ret, eof, info = bm.list(bucket, prefix="sdk/", marker=marker, limit=2)
        check("list page", info.status_code == 200, info)
        keys += [i["key"] for i in ret.get("items", [])]
        marker = ret.get("marker")
        if eof:
            break
    want = ["sdk/big-2m.bin", "sdk/big-4m.bin", "sdk/form.bin", "sdk/put-file-v1.bin", "sdk/put-file.bin",
            "sdk/small.txt"]
    check("list with prefix, limit and marker", keys == want, keys)
    ret, eof, info = bm.list(bucket, prefix="", delimiter="/")
    check("list with a delimiter", info.status_code == 200 and "sdk/" in ret.get("commonPrefixes", []), ret)

    # A public download with a Range.
    r = requests.get("%s/sdk/form.bin" % io_public, headers={"Range": "bytes=10-19"})
    check("public ranged GET", r.status_code == 206 and r.content == body[10:20], r.status_code)

    # A private bucket: upload, then private_download_url + a ranged GET.
    ret, info = put_data(q.upload_token(private, "sdk/secret file.bin"), "sdk/secret file.bin", body, regions=regions)
    check("put_data into a private bucket", info.status_code == 200, info)
    r = requests.get("%s/sdk/secret%%20file.bin" % io_private)
    check("unsigned GET of a private object is refused", r.status_code == 401, r.status_code)
    url = q.private_download_url("%s/sdk/secret%%20file.bin" % io_private, expires=300)
    r = requests.get(url, headers={"Range": "bytes=99990-"})
    check("private_download_url + ranged GET", r.status_code == 206 and r.content == body[99990:], r.status_code)
    r = requests.get(url)
    check("private_download_url + whole GET", r.status_code == 200 and r.content == body, r.status_code)

    # What haul uploaded is readable through the SDK's eyes.
    ret, info = bm.stat(bucket, "from-haul/hello.txt")
    check("stat of an object haul uploaded", info.status_code == 200 and ret["hash"] == etag_of(b"hello from haul"), info)

    print("%d passed, 0 failed" % len(CHECKS))


def etag_of(b):
    tmp = tempfile.NamedTemporaryFile(delete=False)
    tmp.write(b)
    tmp.close()
    try:
        return etag(tmp.name)
    finally:
        os.unlink(tmp.name)


if __name__ == "__main__":
    main()
