//! haul-engine.
