//! The conformance cases that apply to a store that can neither delete nor
//! list: every case that needs `delete` (or a listing) to clean up cannot
//! run here, and the multipart, copy, listing and checksum cases skip
//! themselves by capability.

use haul_testkit::conformance::run_case;
use haul_testkit::easemob::EasemobServer;

/// The cases that apply; the rest end with a `delete`, which Easemob lacks.
const APPLY: &[&str] = &[
    "error_classification",
    "put_checksums",
    "copy_object",
    "list_prefix_pagination",
    "list_delimiter",
    "multipart_out_of_order",
    "multipart_complete_refusals",
    "multipart_abort",
    "multipart_zero_byte",
    "upload_part_copy_ranges",
    "concurrent_upload_parts",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cases_that_apply_pass() {
    let server = EasemobServer::start();
    let store = crate::store(&server);
    for case in APPLY {
        run_case(case, &store).await;
    }
    assert_eq!(
        server.file_count(),
        0,
        "no case uploaded anything Easemob cannot delete"
    );
}
