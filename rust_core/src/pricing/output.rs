//! The priced CDR as OCPI-shaped JSON: every `total_*` of a CDR in the chosen version's Price
//! shape, the per-piece breakdown, and warnings.

use rust_decimal::Decimal;
use std::fmt::Write;

use super::{LineKind, PricedCdr, PricingOptions};
use crate::datetime::format_datetime;
use crate::error::InputError;
use crate::model::Version;
use crate::money::{Money, Rounding};

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
        let _ = write!(out, "\"line\":{n},");
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
        let _ = write!(out, ",\"{name}\":");
        write_price(out, m, p.version, r);
    }
    for (name, v) in [("total_energy", p.total_energy), ("total_time", p.total_time), ("total_parking_time", p.total_parking_time)] {
        let _ = write!(out, ",\"{name}\":{}", r.apply(v));
    }
    let _ = write!(out, ",\"min_price_applied\":{},\"max_price_applied\":{}", p.min_price_applied, p.max_price_applied);
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
        let _ = write!(out, "{{\"charging_period\":{},\"start_date_time\":\"", piece.period);
        format_datetime(piece.start, out);
        out.push_str("\",\"end_date_time\":\"");
        format_datetime(piece.end, out);
        out.push_str("\",\"tariff_id\":");
        write_str(out, &p.tariff_ids[piece.tariff]);
        let _ = write!(out, ",\"reservation\":{},\"dimensions\":[", piece.reservation);
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
            let _ = write!(
                out,
                "{{\"type\":\"{}\",\"element_index\":{},\"component_index\":{},\"price\":{},",
                line.kind.dimension_name(),
                line.component.0,
                line.position,
                line.unit_price.normalize()
            );
            if let Some(v) = line.vat {
                let _ = write!(out, "\"vat\":{},", v.normalize());
            }
            let _ = write!(out, "\"step_size\":{},\"volume\":{volume},\"billed_volume\":{billed}", line.step_size);
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
    match version {
        Version::V211 => {
            let _ = write!(out, "{}", r.apply(m.excl));
        }
        Version::V221 => {
            let _ = write!(out, "{{\"excl_vat\":{}", r.apply(m.excl));
            if let Some(incl) = m.incl() {
                let _ = write!(out, ",\"incl_vat\":{}", r.apply(incl));
            }
            out.push('}');
        }
        Version::V230 => {
            let _ = write!(out, "{{\"before_taxes\":{},\"taxes\":[", r.apply(m.excl));
            for (i, (rate, amount)) in m.taxes().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{{\"name\":\"VAT\",\"percentage\":{},\"amount\":{}}}", rate.normalize(), r.apply(*amount));
            }
            out.push_str("]}");
        }
    }
}

/// A JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
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
