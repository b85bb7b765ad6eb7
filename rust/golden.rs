//! The golden case tables in `tests/golden/`, shared with the Python tests.

use crate::expr;
use crate::reward::{self, Mode, ScoreConfig};

/// Undo the tables' escapes: `\n`, `\r`, `\t`, `\\`, `\uXXXX`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            other => panic!("bad escape \\{other:?}"),
        }
    }
    out
}

fn rows(table: &str) -> impl Iterator<Item = Vec<String>> + '_ {
    table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').map(unescape).collect())
}

#[test]
fn expressions_table() {
    for row in rows(include_str!("../tests/golden/expressions.tsv")) {
        let (text, want) = (&row[0], &row[1]);
        let got = expr::parse(text)
            .and_then(|n| expr::evaluate(&n))
            .map_or_else(|e| e.to_string(), |v| v.to_string());
        assert_eq!(&got, want, "expression {text:?}");
    }
}

fn check_scores(table: &str, mode: Mode) {
    let cfg = ScoreConfig {
        mode,
        ..ScoreConfig::default()
    };
    for row in rows(table) {
        let numbers: Vec<i64> = row[1].split(',').map(|x| x.parse().unwrap()).collect();
        let target: i64 = row[2].parse().unwrap();
        let s = reward::score(&row[0], &numbers, target, &cfg);
        let want_value: f64 = row[3].parse().unwrap();
        assert_eq!(
            (s.value, s.outcome.label()),
            (want_value, row[4].as_str()),
            "response {:?}",
            row[0]
        );
    }
}

#[test]
fn tinyzero_scores_table() {
    check_scores(
        include_str!("../tests/golden/tinyzero_scores.tsv"),
        Mode::TinyZero,
    );
}

#[test]
fn strict_scores_table() {
    check_scores(
        include_str!("../tests/golden/strict_scores.tsv"),
        Mode::Strict,
    );
}
