//! End-to-end tests of the `agentwatch` binary: each one runs the real program the way a user or
//! a deployment script would.

mod admin;
mod browser;
mod cli;
mod dashboard;
mod dlp;
mod gateway;
mod governance;
mod index;
mod knowledge_access;
mod mcp;
mod mcp_tools;
mod metrics;
mod object_store;
mod otel;
mod replicas;
mod rest;
mod scan;
mod serve;
mod setup;
mod support;
mod webhooks;
