//! The whole conformance suite against the emulator, with Kodo's real
//! 1 MiB minimum part size; part copy is gated off by the capabilities.

mod public {
    haul_testkit::conformance_tests!(
        async { crate::guarded() },
        skip {
            upload_part_copy_ranges: "Kodo copies whole objects, not parts",
        }
    );
}

mod private {
    //! The same suite through signed download URLs.
    use std::sync::Arc;

    use haul_testkit::Guarded;
    use haul_testkit::qiniu::{QINIU_PRIVATE_BUCKET, QiniuServer};

    fn guarded() -> Guarded<QiniuServer> {
        let server = QiniuServer::start();
        let store = Arc::new(crate::store(&server, QINIU_PRIVATE_BUCKET));
        Guarded::new(store, server)
    }

    haul_testkit::conformance_tests!(
        async { guarded() },
        skip {
            upload_part_copy_ranges: "Kodo copies whole objects, not parts",
        }
    );
}
