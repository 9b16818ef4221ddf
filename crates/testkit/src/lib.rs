//! haul-testkit.
