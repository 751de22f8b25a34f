//! Compile-fail and compile-pass tests of the typed API live in `tests/`; see `fail/` for the cases.
