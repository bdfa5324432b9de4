//! Command-line options shared by the examples: `--name value` pairs and bare `--flag`s.

/// The value after `name`, or `default`.
pub(crate) fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// Whether the bare flag `name` is given.
#[allow(dead_code)] // not every example has flags
pub(crate) fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}
