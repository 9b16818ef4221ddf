//! CosStore's own behaviour against the emulator.
