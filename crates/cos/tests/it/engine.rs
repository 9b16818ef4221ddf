//! The engine end to end against the emulator.
