//! The official Python SDK against the emulator.
