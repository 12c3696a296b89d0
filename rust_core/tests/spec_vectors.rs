//! The golden vectors of `tests/vectors/` (digest §4.9, §4.5, §4.3), priced by the pure Rust
//! core; `tests/test_spec_vectors.py` runs the same files through the Python extension.

use rust_core::model::Version;
use rust_core::money::{Money, Rounding, RoundingMode};
use rust_core::{MissingVat, PricingOptions, TariffSet, price_cdr};
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn dec(v: &Value) -> Decimal {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Decimal::from_str_exact(&s).unwrap_or_else(|_| panic!("bad decimal {s}"))
}

fn options(v: &Value) -> PricingOptions {
    let mut o = PricingOptions::default();
    if let Some(tz) = v.get("time_zone").and_then(Value::as_str) {
        o.time_zone = Some(tz.parse().unwrap());
    }
    let mut r = Rounding::default();
    if let Some(dp) = v.get("decimals").and_then(Value::as_u64) {
        r.decimals = dp as u32;
    }
    if let Some(mode) = v.get("rounding").and_then(Value::as_str) {
        r.mode = RoundingMode::parse(mode).unwrap();
    }
    o.rounding = r;
    if let Some(ver) = v.get("version").and_then(Value::as_str) {
        o.version = Version::parse(ver);
    }
    if v.get("missing_vat").and_then(Value::as_str) == Some("unknown") {
        o.missing_vat = MissingVat::Unknown;
    }
    o
}

fn check_price(name: &str, got: &Money, want: &Value, r: Rounding, errors: &mut Vec<String>) {
    if let Some(bt) = want.get("before_taxes") {
        if r.apply(got.excl) != dec(bt) {
            errors.push(format!("{name}.before_taxes: got {} want {bt}", r.apply(got.excl)));
        }
        let want_taxes = want["taxes"].as_array().cloned().unwrap_or_default();
        if want_taxes.len() != got.taxes().len() {
            errors.push(format!("{name}.taxes: got {:?} want {want_taxes:?}", got.taxes()));
        }
        return;
    }
    let excl = r.apply(got.excl);
    if excl != dec(&want["excl_vat"]) {
        errors.push(format!("{name}.excl_vat: got {excl} want {}", want["excl_vat"]));
    }
    let incl = got.incl().map(|v| r.apply(v));
    match (&want["incl_vat"], incl) {
        (Value::Null, None) => {}
        (Value::Null, Some(v)) => errors.push(format!("{name}.incl_vat: got {v}, want absent")),
        (w, None) => errors.push(format!("{name}.incl_vat: absent, want {w}")),
        (w, Some(v)) if v != dec(w) => errors.push(format!("{name}.incl_vat: got {v} want {w}")),
        _ => {}
    }
}

#[test]
fn every_spec_vector_prices_to_its_expected_totals() {
    let mut files: Vec<_> = std::fs::read_dir(vectors_dir()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    files.sort();
    assert!(files.len() >= 40, "vectors missing: {}", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let opts = options(&v["options"]);
        let tariffs = TariffSet::from_json(serde_json::to_string(&v["tariffs"]).unwrap().as_bytes()).unwrap();
        let cdr = serde_json::to_vec(&v["cdr"]).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let priced = match price_cdr(&cdr, Some(&tariffs), &opts) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{name}: error {e}"));
                continue;
            }
        };
        let r = opts.rounding;
        let want = &v["expected"];
        let mut errors = Vec::new();
        for (key, got) in [
            ("total_cost", &priced.total_cost),
            ("total_fixed_cost", &priced.total_fixed_cost),
            ("total_energy_cost", &priced.total_energy_cost),
            ("total_time_cost", &priced.total_time_cost),
            ("total_parking_cost", &priced.total_parking_cost),
            ("total_reservation_cost", &priced.total_reservation_cost),
        ] {
            check_price(key, got, &want[key], r, &mut errors);
        }
        for (key, got) in [("total_energy", priced.total_energy), ("total_time", priced.total_time), ("total_parking_time", priced.total_parking_time)] {
            if r.apply(got) != dec(&want[key]) {
                errors.push(format!("{key}: got {} want {}", r.apply(got), want[key]));
            }
        }
        if !errors.is_empty() {
            failures.push(format!("{name}: {}\n    warnings: {:?}", errors.join("; "), priced.warnings));
        }
    }
    assert!(failures.is_empty(), "{} of {} vectors fail:\n{}", failures.len(), files.len(), failures.join("\n"));
}

