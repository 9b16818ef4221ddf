//! The whole conformance suite against the emulator, with COS's real
//! 1 MiB minimum part size.

haul_testkit::conformance_tests!(async { crate::guarded() });
