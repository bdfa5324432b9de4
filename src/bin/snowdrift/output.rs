//! How the commands print what they found: a text table for people, JSON (through
//! `serde_json`) for programs.

use std::time::SystemTime;

use clap::ValueEnum;
use serde::Serialize;

/// `--format` of the inspecting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Text tables.
    Table,
    /// One JSON document.
    Json,
}

/// Rows to print under a title, as text cells.
pub(crate) struct Section {
    pub(crate) title: &'static str,
    pub(crate) header: &'static [&'static str],
    pub(crate) rows: Vec<Vec<String>>,
}

/// Prints `sections` as text tables.
pub(crate) fn print_tables(sections: &[Section]) {
    for section in sections {
        line(section.title);
        if section.rows.is_empty() {
            line("  (none)\n");
            continue;
        }
        let mut table = comfy_table::Table::new();
        table.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(section.header.iter().copied());
        for row in &section.rows {
            table.add_row(row.iter().cloned());
        }
        line(format!("{table}\n"));
    }
}

/// Prints `value` as pretty JSON.
pub(crate) fn print_json(value: &impl Serialize) -> Result<(), crate::Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::Failure::Failed(format!("cannot write JSON: {e}")))?;
    line(text);
    Ok(())
}

/// Prints one line on standard output. A closed output (`snowdrift status | head`) ends
/// nothing but the printing: the command still finishes and exits as it would have.
pub(crate) fn line(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// A time as RFC 3339 in UTC, to the millisecond.
pub(crate) fn time(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

/// An optional value as text, empty when absent.
pub(crate) fn or_empty<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}
