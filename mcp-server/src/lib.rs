//! The knowledge server (MCP over stdio and HTTP, REST under `/api/knowledge`) and the
//! `agentwatch` command line that runs it, the gateway, and the main jobs.

pub mod access;
pub mod cli;
pub mod config;
pub mod indexing;
pub mod knowledge;
mod logging;
pub mod mcp;
mod progress;
pub mod remote;
pub mod rest;
pub mod scanning;
mod serve;
pub mod setup;
mod tools;
pub mod webhooks;
