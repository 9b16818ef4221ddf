//! haul-local.
