//! Retry storms.
