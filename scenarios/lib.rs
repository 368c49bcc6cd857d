//! The scenario library lives in this folder as YAML; `tests/scenarios.rs` runs each as a test.
