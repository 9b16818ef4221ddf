//! haul-journal.
