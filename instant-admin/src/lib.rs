//! The instant-rs runtime client. Filled by the runtime issue.
