//! The official vectors of protocols §1.2–§1.5, byte for byte.

use crate::auth::{
    Credentials, SignedRequest, entry, hmac_sha1, qbox_signing_string, qiniu_signing_string,
    urlsafe_b64,
};
use crate::policy::PutPolicy;

fn ak_sk() -> Credentials {
    Credentials::new("ak", "sk")
}

fn python() -> Credentials {
    Credentials::new("abcdefghklmnopq", "1234567890")
}

#[test]
fn encoded_entry_uri() {
    // python-sdk tests/cases/test_utils.py::test_entry
    assert_eq!(
        entry("qiniuphotos", Some("gogopher.jpg")),
        "cWluaXVwaG90b3M6Z29nb3BoZXIuanBn"
    );
    assert_eq!(entry("qiniuphotos", Some("")), "cWluaXVwaG90b3M6");
    assert_eq!(entry("qiniuphotos", None), "cWluaXVwaG90b3M=");
    assert_eq!(
        entry("qiniuphotos", Some("012ts>a")),
        "cWluaXVwaG90b3M6MDEydHM-YQ=="
    );
    assert_eq!(
        entry("qiniuphotos", Some("012ts?a")),
        "cWluaXVwaG90b3M6MDEydHM_YQ=="
    );
}

#[test]
fn upload_token_doc_example() {
    let creds = Credentials::new("MY_ACCESS_KEY", "MY_SECRET_KEY");
    let policy = PutPolicy {
        return_body: Some(
            r#"{"name":$(fname),"size":$(fsize),"w":$(imageInfo.width),"h":$(imageInfo.height),"hash":$(etag)}"#
                .to_owned(),
        ),
        ..PutPolicy::for_key("my-bucket", "sunflower.jpg", 1_451_491_200)
    };
    let encoded = "eyJzY29wZSI6Im15LWJ1Y2tldDpzdW5mbG93ZXIuanBnIiwiZGVhZGxpbmUiOjE0NTE0OTEyMDAsInJldHVybkJvZHkiOiJ7XCJuYW1lXCI6JChmbmFtZSksXCJzaXplXCI6JChmc2l6ZSksXCJ3XCI6JChpbWFnZUluZm8ud2lkdGgpLFwiaFwiOiQoaW1hZ2VJbmZvLmhlaWdodCksXCJoYXNoXCI6JChldGFnKX0ifQ==";
    assert_eq!(urlsafe_b64(policy.to_json()), encoded);
    assert_eq!(
        hex::encode(hmac_sha1(b"MY_SECRET_KEY", encoded.as_bytes())),
        "c10e287f2b1e7f547b20a9ebce2aada26ab20ef2"
    );
    assert_eq!(
        creds.upload_token(&policy),
        format!("MY_ACCESS_KEY:wQ4ofysef1R7IKnrziqtomqyDvI=:{encoded}")
    );
}

#[test]
fn sign_with_data_vectors() {
    // go-sdk auth/credentials_test.go
    for (data, want) in [
        ("hello", "ak:2pn0qs-2kfEsQFuHI2pAYlo0hpc=:aGVsbG8="),
        ("world", "ak:vzqcP6VeODVu_youBJnyr_nefT4=:d29ybGQ="),
        ("-test", "ak:uV60zWZgj-Jbrg9VHc06Nok64Bw=:LXRlc3Q="),
        ("ba#a-", "ak:RLvTUx_kizrrbpSrinkdxC4jCy8=:YmEjYS0="),
    ] {
        assert_eq!(ak_sk().sign_with_data(data.as_bytes()), want, "{data}");
    }
    // python-sdk tests/cases/test_auth.py
    assert_eq!(
        python().sign_with_data(b"test"),
        "abcdefghklmnopq:-jP8eEV9v48MkYiBGs81aDxl60E=:dGVzdA=="
    );
}

#[test]
fn qbox_vectors() {
    // access-token.md: a move, signingStr = path + "\n".
    let creds = Credentials::new("MY_ACCESS_KEY", "MY_SECRET_KEY");
    let path = "/move/bmV3ZG9jczpmaW5kX21hbi50eHQ=/bmV3ZG9jczpmaW5kLm1hbi50eHQ=";
    let s = qbox_signing_string(path, None, b"");
    assert_eq!(
        hex::encode(hmac_sha1(b"MY_SECRET_KEY", &s)),
        "157b18874c0a1d83c4b0802074f0fd39f8e47843"
    );
    assert_eq!(
        creds.qbox_authorization(path, None, b""),
        "QBox MY_ACCESS_KEY:FXsYh0wKHYPEsIAgdPD9OfjkeEM="
    );
    // python token_of_request('https://www.qiniu.com?go=1', 'test', ...)
    assert_eq!(
        python().qbox_authorization("?go=1", None, b"test"),
        "QBox abcdefghklmnopq:cFyRVoWrE3IugPIMP5YJFTO-O-Y="
    );
    let form = Some("application/x-www-form-urlencoded");
    assert_eq!(
        python().qbox_authorization("?go=1", form, b"test"),
        "QBox abcdefghklmnopq:svWRNcacOE-YMsc70nuIYdaa1e4="
    );
    // Plain sign.
    assert_eq!(ak_sk().sign(b"hello"), "ak:NDN8cM0rwosxhHJ6QAcI7ialr0g=");
    assert_eq!(
        python().sign(b"test"),
        "abcdefghklmnopq:mSNBTR7uS2crJsyFr2Amwv1LaYg="
    );
    // go TestAuthSignRequest (the Go path of http://upload.qiniup.com is "").
    assert_eq!(
        ak_sk().qbox_authorization("", form, b"name=test&language=go"),
        "QBox ak:h8gBb1Adb2Jgoys1N8sRVAnNvpw="
    );
    assert_eq!(
        ak_sk().qbox_authorization("", Some("application/json"), b"{}"),
        "QBox ak:qfWnqF1E_vfzjZnReCVkcSMl29M="
    );
}

#[test]
fn qiniu_v2_vectors() {
    let form = Some("application/x-www-form-urlencoded");
    let x = [
        ("x-qIniu-aAa", "DDD"),
        ("X-Qiniu-Bbb", "BBB"),
        ("x-Qiniu-", "no"),
        ("X-qIniu", "no"),
    ];
    let sign =
        |method, path_and_query, host, content_type, headers: &[(&str, &str)], body: &[u8]| {
            let req = SignedRequest {
                method,
                path_and_query,
                host,
                content_type,
                headers,
                body,
            };
            let s = qiniu_signing_string(&req);
            (
                String::from_utf8(s).unwrap(),
                ak_sk().qiniu_authorization(&req),
            )
        };
    let body = b"name=test&language=go";
    let (s, auth) = sign("GET", "/", "upload.qiniup.com", form, &x, body);
    assert_eq!(
        s,
        "GET /\nHost: upload.qiniup.com\nContent-Type: application/x-www-form-urlencoded\nX-Qiniu-Aaa: DDD\nX-Qiniu-Bbb: BBB\n\nname=test&language=go"
    );
    assert_eq!(auth, "Qiniu ak:A5PMXECSPZQxitJqLj0op2B2GEM=");
    let (_, auth) = sign("GET", "", "upload.qiniup.com", form, &x, body);
    assert_eq!(auth, "Qiniu ak:KUAhrYh32P9bv0COD8ugZjDCmII=");
    let (_, auth) = sign(
        "GET",
        "/mkfile/sdf.jpg?s=er3&df",
        "upload.qiniup.com",
        form,
        &x,
        body,
    );
    assert_eq!(auth, "Qiniu ak:PUFPWsEUIpk_dzUvvxTTmwhp3p4=");
    let json_body = br#"{"name": "test"}"#;
    let (_, auth) = sign("GET", "/", "rs.qbox.me", form, &[], json_body);
    assert_eq!(auth, "Qiniu ak:CK4wBVOL6sLbVE4G4mrXqL_yEc4=");
    let octet = Some("application/octet-stream");
    let (s, auth) = sign("GET", "/", "upload.qiniup.com", octet, &x, body);
    assert!(
        s.ends_with("X-Qiniu-Bbb: BBB\n\n"),
        "octet bodies are not signed: {s:?}"
    );
    assert_eq!(auth, "Qiniu ak:GQQrYvDCdN_RaVjyJC7hIkv5TYk=");
    let (_, auth) = sign("GET", "", "", form, &[], json_body);
    assert_eq!(auth, "Qiniu ak:0i1vKClRDWFyNkcTFzwcE7PzX74=");
}

#[test]
fn private_download_url() {
    // The doc's own value (yN9WtB0l...) does not reproduce (protocols §1.5);
    // this is the SDK algorithm's answer for the doc's URL and deadline.
    let creds = Credentials::new("MY_ACCESS_KEY", "MY_SECRET_KEY");
    let url = creds.private_download_url(
        "http://developer.qiniu.com/resource/flower.jpg",
        1_451_491_200,
    );
    assert_eq!(
        url,
        "http://developer.qiniu.com/resource/flower.jpg?e=1451491200&token=MY_ACCESS_KEY:v24Hqj-H6oM96pmWC-QgDm5JLbk="
    );
    let with_query = creds.private_download_url("http://h/k?imageView2/1", 5);
    assert!(
        with_query.starts_with("http://h/k?imageView2/1&e=5&token=MY_ACCESS_KEY:"),
        "{with_query}"
    );
}
