//! A session as OCPI 2.2.1 Session and CDR JSON. Prices are written by the pricing writers
//! (`pricing::output`); periods as `volumes` reads them, so what is written is what was priced.

use rust_decimal::Decimal;
use std::fmt::Write;

use super::periods::Period;
use super::state::{Session, Status, volumes};
use crate::datetime::{Micros, format_datetime};
use crate::model::Version;
use crate::money::{Money, Rounding};
use crate::pricing::PricedCdr;
use crate::pricing::output::{write_price, write_str};

fn time(out: &mut String, name: &str, t: Micros) {
    let _ = write!(out, ",\"{name}\":\"");
    format_datetime(t, out);
    out.push('"');
}

fn field(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, ",\"{name}\":");
    write_str(out, value);
}

fn price(out: &mut String, name: &str, m: &Money, r: Rounding) {
    let _ = write!(out, ",\"{name}\":");
    write_price(out, m, Version::V221, r);
}

fn periods(out: &mut String, list: &[Period], tariff_id: &str) {
    out.push_str(",\"charging_periods\":[");
    for (i, p) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"start_date_time\":\"");
        format_datetime(p.start, out);
        out.push_str("\",\"dimensions\":[");
        let v = volumes(p);
        let dims: [(&str, Option<Decimal>); 7] = [
            ("ENERGY", v.energy),
            ("TIME", v.time),
            ("PARKING_TIME", v.parking_time),
            ("MIN_POWER", v.min_power),
            ("MAX_POWER", v.max_power),
            ("MIN_CURRENT", v.min_current),
            ("MAX_CURRENT", v.max_current),
        ];
        let mut first = true;
        for (kind, volume) in dims {
            if let Some(volume) = volume {
                if !first {
                    out.push(',');
                }
                first = false;
                let _ = write!(out, "{{\"type\":\"{kind}\",\"volume\":{volume}}}");
            }
        }
        out.push_str("],\"tariff_id\":");
        write_str(out, tariff_id);
        out.push('}');
    }
    out.push(']');
}

/// OCPI Session: closed periods only (the open one is in `kwh` and `total_cost`).
pub fn session_json(s: &Session, priced: Option<&PricedCdr>, now: Micros, r: Rounding) -> String {
    let h = &s.header;
    let mut out = String::with_capacity(512 + s.fold.closed.len() * 160 + h.cdr_token.len());
    out.push_str("{\"country_code\":");
    write_str(&mut out, &h.country_code);
    field(&mut out, "party_id", &h.party_id);
    field(&mut out, "id", &h.id);
    time(&mut out, "start_date_time", s.start_time());
    if let Some(end) = s.end {
        time(&mut out, "end_date_time", end);
    }
    let _ = write!(out, ",\"kwh\":{}", r.apply(s.kwh()));
    out.push_str(",\"cdr_token\":");
    out.push_str(&h.cdr_token);
    field(&mut out, "auth_method", &h.auth_method);
    if let Some(a) = &h.authorization_reference {
        field(&mut out, "authorization_reference", a);
    }
    field(&mut out, "location_id", &h.location_id);
    field(&mut out, "evse_uid", &h.evse_uid);
    field(&mut out, "connector_id", &h.connector_id);
    if let Some(m) = &h.meter_id {
        field(&mut out, "meter_id", m);
    }
    field(&mut out, "currency", &h.currency);
    periods(&mut out, &s.fold.closed, &s.tariff().id);
    if let Some(p) = priced {
        price(&mut out, "total_cost", &p.total_cost, r);
    }
    field(&mut out, "status", s.status.as_str());
    time(&mut out, "last_updated", now);
    out.push('}');
    out
}

/// OCPI CDR of a completed session, with the totals pricing gave for exactly its periods.
pub fn cdr_json(s: &Session, p: &PricedCdr, now: Micros, r: Rounding) -> String {
    debug_assert_eq!(s.status, Status::Completed);
    let h = &s.header;
    let mut out = String::with_capacity(1024 + s.fold.closed.len() * 160 + s.tariffs.raw.len());
    out.push_str("{\"country_code\":");
    write_str(&mut out, &h.country_code);
    field(&mut out, "party_id", &h.party_id);
    field(&mut out, "id", &h.id);
    time(&mut out, "start_date_time", p.start);
    time(&mut out, "end_date_time", p.end);
    field(&mut out, "session_id", &h.id);
    out.push_str(",\"cdr_token\":");
    out.push_str(&h.cdr_token);
    field(&mut out, "auth_method", &h.auth_method);
    if let Some(a) = &h.authorization_reference {
        field(&mut out, "authorization_reference", a);
    }
    out.push_str(",\"cdr_location\":");
    out.push_str(&h.cdr_location);
    if let Some(m) = &h.meter_id {
        field(&mut out, "meter_id", m);
    }
    field(&mut out, "currency", &h.currency);
    out.push_str(",\"tariffs\":");
    out.push_str(&s.tariffs.raw);
    periods(&mut out, &s.fold.closed, &s.tariff().id);
    price(&mut out, "total_cost", &p.total_cost, r);
    price(&mut out, "total_fixed_cost", &p.total_fixed_cost, r);
    let _ = write!(out, ",\"total_energy\":{}", r.apply(p.total_energy));
    price(&mut out, "total_energy_cost", &p.total_energy_cost, r);
    let _ = write!(out, ",\"total_time\":{}", r.apply(p.total_time));
    price(&mut out, "total_time_cost", &p.total_time_cost, r);
    let _ = write!(out, ",\"total_parking_time\":{}", r.apply(p.total_parking_time));
    price(&mut out, "total_parking_cost", &p.total_parking_cost, r);
    if !p.total_reservation_cost.excl.is_zero() {
        price(&mut out, "total_reservation_cost", &p.total_reservation_cost, r);
    }
    time(&mut out, "last_updated", now);
    out.push('}');
    out
}
