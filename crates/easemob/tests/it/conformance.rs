//! The conformance suite against the emulator. It can neither delete by
//! key nor list, and has no multipart, copy or metadata: those cases are
//! declared skipped with why; every other case runs (the objects they
//! upload stay, as they would on the service).

haul_testkit::conformance_tests!(
    async { crate::guarded() },
    skip {
        delete_missing_key: "no delete by key",
        put_checksums: "no checksum of its own to check",
        copy_object: "no server-side copy",
        attributes_round_trip: "keeps no metadata",
        list_prefix_pagination: "cannot list",
        list_delimiter: "cannot list",
        multipart_out_of_order: "no multipart uploads",
        multipart_complete_refusals: "no multipart uploads",
        multipart_abort: "no multipart uploads",
        multipart_zero_byte: "no multipart uploads",
        upload_part_copy_ranges: "no part copy",
        concurrent_upload_parts: "no multipart uploads",
        streamed_parts: "no multipart uploads",
        ranges: "no ranged GET",
    }
);
