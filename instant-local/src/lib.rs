//! instant-local: an embedded InstantDB-compatible admin server. Filled by the instant-local issue.
