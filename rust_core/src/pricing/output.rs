//! The priced CDR as OCPI-shaped JSON: every `total_*` of a CDR in the chosen version's Price
//! shape, the per-piece breakdown, and warnings.

use rust_decimal::Decimal;
use std::fmt::Write;

use super::{LineKind, PricedCdr, PricingOptions};
use crate::datetime::format_datetime;
use crate::error::InputError;
use crate::model::Version;
use crate::money::{Money, Rounding};
use crate::number::{write_decimal, write_uint};

const SECS_PER_HOUR: Decimal = Decimal::from_parts(3600, 0, 0, false, 0);
/// Breakdown time volumes are shown in hours; 6 decimals keep them to the second (issue #411).
const HOURS_ROUNDING: Rounding = Rounding { decimals: 6, mode: crate::money::RoundingMode::HalfUp };

pub fn write_result(p: &PricedCdr, opts: &PricingOptions, out: &mut String) {
    let r = opts.rounding;
    out.push('{');
    if let Some(id) = &p.id {
        out.push_str("\"id\":");
        write_str(out, id);
        out.push(',');
    }
    if let Some(n) = p.line {
        out.push_str("\"line\":");
        write_uint(out, n as u64);
        out.push(',');
    }
    if let Some(cc) = &p.country_code {
        out.push_str("\"country_code\":");
        write_str(out, cc);
        out.push(',');
    }
    if let Some(pid) = &p.party_id {
        out.push_str("\"party_id\":");
        write_str(out, pid);
        out.push(',');
    }
    out.push_str("\"version\":\"");
    out.push_str(p.version.as_str());
    out.push_str("\",\"currency\":");
    write_str(out, &p.currency);
    out.push_str(",\"start_date_time\":\"");
    format_datetime(p.start, out);
    out.push_str("\",\"end_date_time\":\"");
    format_datetime(p.end, out);
    out.push_str("\",\"tariff_ids\":[");
    for (i, id) in p.tariff_ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, id);
    }
    out.push(']');
    let prices: [(&str, &Money); 6] = [
        ("total_cost", &p.total_cost),
        ("total_fixed_cost", &p.total_fixed_cost),
        ("total_energy_cost", &p.total_energy_cost),
        ("total_time_cost", &p.total_time_cost),
        ("total_parking_cost", &p.total_parking_cost),
        ("total_reservation_cost", &p.total_reservation_cost),
    ];
    for (name, m) in prices {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        write_price(out, m, p.version, r);
    }
    for (name, v) in [("total_energy", p.total_energy), ("total_time", p.total_time), ("total_parking_time", p.total_parking_time)] {
        out.push_str(",\"");
        out.push_str(name);
        out.push_str("\":");
        write_decimal(out, r.apply(v));
    }
    out.push_str(",\"min_price_applied\":");
    out.push_str(bool_str(p.min_price_applied));
    out.push_str(",\"max_price_applied\":");
    out.push_str(bool_str(p.max_price_applied));
    if p.credit {
        out.push_str(",\"credit\":true");
    }
    if opts.breakdown {
        write_breakdown(p, r, out);
    }
    out.push_str(",\"warnings\":[");
    for (i, w) in p.warnings.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, w);
    }
    out.push_str("]}");
}

fn write_breakdown(p: &PricedCdr, r: Rounding, out: &mut String) {
    out.push_str(",\"periods\":[");
    for (pi, piece) in p.pieces.iter().enumerate() {
        if pi > 0 {
            out.push(',');
        }
        out.push_str("{\"charging_period\":");
        write_uint(out, piece.period as u64);
        out.push_str(",\"start_date_time\":\"");
        format_datetime(piece.start, out);
        out.push_str("\",\"end_date_time\":\"");
        format_datetime(piece.end, out);
        out.push_str("\",\"tariff_id\":");
        write_str(out, &p.tariff_ids[piece.tariff]);
        out.push_str(",\"reservation\":");
        out.push_str(bool_str(piece.reservation));
        out.push_str(",\"dimensions\":[");
        let mut first = true;
        for line in p.lines.iter().filter(|l| l.piece == pi) {
            if !first {
                out.push(',');
            }
            first = false;
            let (volume, billed) = if line.kind.is_time() {
                (HOURS_ROUNDING.apply(line.volume / SECS_PER_HOUR), HOURS_ROUNDING.apply(line.billed / SECS_PER_HOUR))
            } else {
                (r.apply(line.volume), r.apply(line.billed))
            };
            out.push_str("{\"type\":\"");
            out.push_str(line.kind.dimension_name());
            out.push_str("\",\"element_index\":");
            write_uint(out, u64::from(line.component.0));
            out.push_str(",\"component_index\":");
            write_uint(out, u64::from(line.position));
            out.push_str(",\"price\":");
            write_decimal(out, line.unit_price.normalize());
            out.push(',');
            if let Some(v) = line.vat {
                out.push_str("\"vat\":");
                write_decimal(out, v.normalize());
                out.push(',');
            }
            out.push_str("\"step_size\":");
            write_uint(out, u64::from(line.step_size));
            out.push_str(",\"volume\":");
            write_decimal(out, volume);
            out.push_str(",\"billed_volume\":");
            write_decimal(out, billed);
            if matches!(line.kind, LineKind::Reservation | LineKind::ReservationFlat) {
                out.push_str(",\"reservation\":true");
            }
            out.push_str(",\"cost\":");
            write_price(out, &line.cost, p.version, r);
            out.push('}');
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// A Price in the version's shape: 2.2.1 `{excl_vat, incl_vat?}`, 2.3.0 `{before_taxes, taxes}`,
/// 2.1.1 a number (excl. VAT).
pub fn write_price(out: &mut String, m: &Money, version: Version, r: Rounding) {
    // Most of a result's six totals are nothing at all: written without rounding or summing taxes.
    if m.excl.is_zero() && m.taxes().is_empty() && !m.incomplete {
        out.push_str(match version {
            Version::V211 => "0",
            Version::V221 => "{\"excl_vat\":0,\"incl_vat\":0}",
            Version::V230 => "{\"before_taxes\":0,\"taxes\":[]}",
        });
        return;
    }
    match version {
        Version::V211 => write_decimal(out, r.apply(m.excl)),
        Version::V221 => {
            out.push_str("{\"excl_vat\":");
            write_decimal(out, r.apply(m.excl));
            if let Some(incl) = m.incl() {
                out.push_str(",\"incl_vat\":");
                write_decimal(out, r.apply(incl));
            }
            out.push('}');
        }
        Version::V230 => {
            out.push_str("{\"before_taxes\":");
            write_decimal(out, r.apply(m.excl));
            out.push_str(",\"taxes\":[");
            for (i, (rate, amount)) in m.taxes().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":\"VAT\",\"percentage\":");
                write_decimal(out, rate.normalize());
                out.push_str(",\"amount\":");
                write_decimal(out, r.apply(*amount));
                out.push('}');
            }
            out.push_str("]}");
        }
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// A JSON string literal. Runs without escapes are copied whole (escaped bytes are ASCII, so
/// every cut is on a character boundary).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[from..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(escape);
        }
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out.push('"');
}

/// An error record: `{"line": n, "id": "...", "field": "...", "error": "..."}` (line and id when known).
pub fn write_error(out: &mut String, line: Option<usize>, id: Option<&str>, e: &InputError) {
    out.push_str("{\"error\":");
    write_str(out, &e.message);
    out.push_str(",\"field\":");
    write_str(out, &e.field);
    if let Some(n) = line {
        let _ = write!(out, ",\"line\":{n}");
    }
    if let Some(id) = id {
        out.push_str(",\"id\":");
        write_str(out, id);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_prices_are_written_as_the_general_path_writes_them() {
        let zeros = [Money::ZERO, Money::excl_only(Decimal::new(0, 4), false), Money::excl_only(-Decimal::new(0, 2), false), Money::ZERO.negated()];
        for m in zeros {
            for v in [Version::V211, Version::V221, Version::V230] {
                let mut fast = String::new();
                write_price(&mut fast, &m, v, Rounding::default());
                // The general path, as a price with one tax line of nothing would go through it.
                let mut slow = String::new();
                match v {
                    Version::V211 => write_decimal(&mut slow, Rounding::default().apply(m.excl)),
                    Version::V221 => {
                        slow.push_str("{\"excl_vat\":");
                        write_decimal(&mut slow, Rounding::default().apply(m.excl));
                        slow.push_str(",\"incl_vat\":");
                        write_decimal(&mut slow, Rounding::default().apply(m.incl().unwrap()));
                        slow.push('}');
                    }
                    Version::V230 => {
                        slow.push_str("{\"before_taxes\":");
                        write_decimal(&mut slow, Rounding::default().apply(m.excl));
                        slow.push_str(",\"taxes\":[]}");
                    }
                }
                assert_eq!(fast, slow);
            }
        }
    }

    #[test]
    fn strings_are_escaped_as_json() {
        for (s, want) in [
            ("plain", r#""plain""#),
            ("", r#""""#),
            ("a\"b\\c", r#""a\"b\\c""#),
            ("é\n\r\t\u{1}x\u{1f}", r#""é\n\r\t\u0001x\u001f""#),
            ("\u{7f}ü€😀", "\"\u{7f}ü€😀\""),
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, want);
        }
    }
}
