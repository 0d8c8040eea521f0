//! Turns git repositories into a symbol and dependency graph, and answers questions about it.
//!
//! Invariant: no HTTP, MCP or JSON wire formats here; callers pass plain config structs, and this
//! crate never reads environment variables or config files itself.
