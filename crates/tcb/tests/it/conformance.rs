//! The whole conformance suite against the emulator; listing, copy and
//! multipart cases skip themselves by capability.

haul_testkit::conformance_tests!(async { crate::guarded() });
