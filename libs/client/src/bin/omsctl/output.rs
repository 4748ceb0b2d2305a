//! What omsctl prints: aligned tables for people, JSON for scripts, and the
//! small formats both share (money, times, enum names without their prefix).
//! Data goes to stdout; notes (idempotency keys, waits) go to stderr, so
//! `--json` output stays one clean document.

use std::{io::Write as _, time::SystemTime};

use oms_proto::common::v1::{Channel, ChannelKind, Money};

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Tables and sentences.
    Text,
    /// One JSON document per command.
    Json,
}

/// A table: a header row and rows of cells, printed with aligned columns.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&'static str]) -> Table {
        Table {
            header: header.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, each line indented by `indent` spaces.
    pub fn render(&self, indent: usize) -> String {
        let mut widths: Vec<usize> = self
            .header
            .iter()
            .map(|name| name.chars().count())
            .collect();
        for row in &self.rows {
            for (index, cell) in row.iter().enumerate() {
                if let Some(width) = widths.get_mut(index) {
                    *width = (*width).max(cell.chars().count());
                }
            }
        }
        let line = |cells: Vec<&str>| {
            let mut text = " ".repeat(indent);
            for (index, cell) in cells.iter().enumerate() {
                if index + 1 == cells.len() {
                    text.push_str(cell);
                } else {
                    let pad = widths[index].saturating_sub(cell.chars().count());
                    text.push_str(cell);
                    text.push_str(&" ".repeat(pad + 2));
                }
            }
            text.trim_end().to_owned()
        };
        let mut out = vec![line(self.header.clone())];
        for row in &self.rows {
            out.push(line(row.iter().map(String::as_str).collect()));
        }
        out.join("\n")
    }
}

/// Prints `text` and a newline to stdout.
pub fn say(text: impl AsRef<str>) {
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`omsctl ... | head`) is not an error worth a panic.
    let _ = writeln!(stdout, "{}", text.as_ref());
}

/// Prints a note to stderr.
pub fn note(text: impl AsRef<str>) {
    eprintln!("{}", text.as_ref());
}

/// Prints `value` as pretty JSON to stdout.
pub fn json(value: &serde_json::Value) {
    say(serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// Any message as JSON (the protobuf JSON mapping), a failure when it
/// cannot be.
pub fn to_json<M: prost::Message + prost::Name>(
    message: &M,
) -> Result<serde_json::Value, crate::Failure> {
    oms_client::json::to_json(message).map_err(|err| crate::Failure::Failed(err.to_string()))
}

/// An enum value's name without its prefix: `ORDER_STATUS_CONFIRMED` with
/// prefix `ORDER_STATUS_` is `CONFIRMED`; an unknown number is shown as one.
pub fn label(name: Option<&str>, prefix: &str, number: i32) -> String {
    match name {
        Some(name) => name.trim_start_matches(prefix).to_owned(),
        None => number.to_string(),
    }
}

/// An enum field as its short name, e.g. `enum_label!(OrderStatus, order.status)`.
#[macro_export]
macro_rules! enum_label {
    ($enum:ty, $value:expr, $prefix:literal) => {{
        let value: i32 = $value;
        $crate::output::label(
            <$enum>::try_from(value)
                .ok()
                .map(|known| known.as_str_name()),
            $prefix,
            value,
        )
    }};
}

/// Money in major units with its currency, e.g. `53.93 EUR`.
pub fn money(money: Option<&Money>) -> String {
    let Some(money) = money else {
        return "-".to_owned();
    };
    let decimals = match money.currency_code.as_str() {
        "JPY" | "KRW" | "CLP" | "ISK" | "VND" | "HUF" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" => 3,
        _ => 2,
    };
    let sign = if money.amount_minor < 0 { "-" } else { "" };
    let amount = money.amount_minor.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{amount} {}", money.currency_code);
    }
    let scale = 10_u64.pow(decimals);
    format!(
        "{sign}{}.{:0width$} {}",
        amount / scale,
        amount % scale,
        money.currency_code,
        width = decimals as usize
    )
}

/// A timestamp in RFC 3339, to the second; `-` when unset.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|timestamp| SystemTime::try_from(*timestamp).ok())
        .map_or_else(
            || "-".to_owned(),
            |time| humantime::format_rfc3339_seconds(time).to_string(),
        )
}

/// A channel as omsctl reads it: `web`, `marketplace:amazon-de`, ...
pub fn channel(channel: Option<&Channel>) -> String {
    let Some(channel) = channel else {
        return "-".to_owned();
    };
    let kind = ChannelKind::try_from(channel.kind)
        .map(|kind| {
            kind.as_str_name()
                .trim_start_matches("CHANNEL_KIND_")
                .to_ascii_lowercase()
                .replace('_', "-")
        })
        .unwrap_or_else(|_| channel.kind.to_string());
    if channel.name.is_empty() {
        kind
    } else {
        format!("{kind}:{}", channel.name)
    }
}

/// `text`, or `-` when it is empty.
pub fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_shown_in_major_units() {
        let eur = |amount_minor| Money {
            currency_code: "EUR".into(),
            amount_minor,
        };
        assert_eq!(money(Some(&eur(5393))), "53.93 EUR");
        assert_eq!(money(Some(&eur(-5))), "-0.05 EUR");
        assert_eq!(money(None), "-");
    }

    #[test]
    fn tables_align_their_columns() {
        let mut table = Table::new(&["SKU", "ON HAND"]);
        table.row(vec!["TEE-M".into(), "10".into()]);
        table.row(vec!["CAP-LONG-NAME".into(), "2".into()]);
        assert_eq!(
            table.render(0),
            "SKU            ON HAND\nTEE-M          10\nCAP-LONG-NAME  2"
        );
    }
}
