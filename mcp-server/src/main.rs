//! The `agentwatch` binary: everything it does lives in the library.

fn main() -> std::process::ExitCode {
    mcp_server::cli::main()
}
