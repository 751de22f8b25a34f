//! Shared helpers of the examples. Filled by the examples issue.
