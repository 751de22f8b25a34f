// Placeholder so the workspace manifest parses; the instant-local developer replaces it.
fn main() {}
