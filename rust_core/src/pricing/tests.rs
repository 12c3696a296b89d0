//! Unit tests per pricing rule (digest §4.2–§4.8), on small hand-made CDRs.

use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::{MissingVat, PricedCdr, PricingOptions, SplitMode, price};
use crate::model::cdr::parse_cdr;
use crate::tariff::TariffSet;
use crate::testutil::d;

/// A tariff from a list of elements (JSON text), ids "T".
fn tariff(elements: &str, extra: &str) -> String {
    format!(r#"{{"country_code":"NL","party_id":"EXA","id":"T","currency":"EUR","elements":[{elements}]{extra},"last_updated":"2025-01-01T00:00:00Z"}}"#)
}

/// A CDR from (start, [dimensions JSON]) periods, ending at `end`.
fn cdr(start: &str, end: &str, periods: &[(&str, &str)], extra: &str) -> String {
    let ps: Vec<String> = periods.iter().map(|(s, dims)| format!(r#"{{"start_date_time":"{s}","dimensions":[{dims}]}}"#)).collect();
    format!(r#"{{"id":"C","country_code":"NL","party_id":"EXA","start_date_time":"{start}","end_date_time":"{end}","currency":"EUR","charging_periods":[{}]{extra}}}"#, ps.join(","))
}

fn run(cdr_json: &str, tariffs: &[String], opts: &PricingOptions) -> PricedCdr {
    let set = TariffSet::from_json(format!("[{}]", tariffs.join(",")).as_bytes()).unwrap();
    let c = parse_cdr(cdr_json.as_bytes()).unwrap();
    price(&c, Some(&set), opts).unwrap()
}

fn ams() -> PricingOptions {
    PricingOptions { time_zone: Some(Tz::Europe__Amsterdam), ..Default::default() }
}

/// A tariff of one unrestricted element with these price components.
fn unrestricted(components: &str) -> String {
    tariff(&format!(r#"{{"price_components":[{components}]}}"#), "")
}

/// A CDR of one hour's charging with `kwh`.
fn one_hour(kwh: u32) -> String {
    cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", &E(&kwh.to_string(), "1"))], "")
}

const E: fn(&str, &str) -> String = |kwh, h| format!(r#"{{"type":"ENERGY","volume":{kwh}}},{{"type":"TIME","volume":{h}}}"#);

#[test]
fn splits_at_a_local_time_boundary_across_dst() {
    // 2025-03-30: clocks go 02:00 -> 03:00 in Amsterdam. 00:00Z-02:00Z is 01:00-04:00 local.
    // Night rate until 03:00 local (= 01:00Z), so 1 h night, 1 h day; 10 kWh spread evenly.
    let t = tariff(
        r#"{"price_components":[{"type":"ENERGY","price":0.10,"step_size":1}],"restrictions":{"start_time":"23:00","end_time":"03:00"}},
           {"price_components":[{"type":"ENERGY","price":0.30,"step_size":1}]}"#,
        "",
    );
    let c = cdr("2025-03-30T00:00:00Z", "2025-03-30T02:00:00Z", &[("2025-03-30T00:00:00Z", &E("10", "2"))], "");
    let p = run(&c, std::slice::from_ref(&t), &ams());
    assert_eq!(p.total_energy_cost.excl, d("2.0")); // 5 x 0.10 + 5 x 0.30
    assert_eq!(p.pieces.len(), 2);
    assert_eq!(p.pieces[1].start, crate::datetime::parse_datetime("2025-03-30T01:00:00Z").unwrap());
    // Period-start evaluation prices the whole period at the night rate.
    let p = run(&c, &[t], &PricingOptions { split: SplitMode::PeriodStart, ..ams() });
    assert_eq!(p.total_energy_cost.excl, d("1.0"));
}

#[test]
fn splits_at_kwh_and_duration_thresholds() {
    let t = tariff(
        r#"{"price_components":[{"type":"ENERGY","price":0.20,"step_size":1}],"restrictions":{"max_kwh":5}},
           {"price_components":[{"type":"ENERGY","price":0.40,"step_size":1}]},
           {"price_components":[{"type":"TIME","price":0,"step_size":1}],"restrictions":{"max_duration":1800}},
           {"price_components":[{"type":"TIME","price":6,"step_size":1}]}"#,
        "",
    );
    let c = cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", &E("20", "1"))], "");
    let p = run(&c, &[t], &ams());
    assert_eq!(p.total_energy_cost.excl, d("7.0")); // 5 x 0.20 + 15 x 0.40
    assert_eq!(p.total_time_cost.excl, d("3")); // free for 30 min, then 0.5 h x 6
}

#[test]
fn step_size_rounds_the_time_family_once_with_the_last_step() {
    // S6: parking priced, so only parking is rounded (7 min -> 10), charging time stays exact.
    let t = tariff(
        r#"{"price_components":[{"type":"TIME","price":6,"step_size":300},{"type":"PARKING_TIME","price":6,"step_size":300}]}"#,
        "",
    );
    let c = cdr(
        "2025-06-02T10:00:00Z",
        "2025-06-02T10:28:00Z",
        &[("2025-06-02T10:00:00Z", &E("5", "0.35")), ("2025-06-02T10:21:00Z", r#"{"type":"PARKING_TIME","volume":0.1167}"#)],
        "",
    );
    let p = run(&c, &[t], &ams());
    assert_eq!(p.total_time_cost.excl, d("2.1")); // 21 min
    assert_eq!(p.total_parking_cost.excl, d("1.0")); // 10 min
}

#[test]
fn step_size_does_not_carry_across_tariffs() {
    let a = tariff(r#"{"price_components":[{"type":"ENERGY","price":1,"step_size":1000}]}"#, "").replace(r#""id":"T""#, r#""id":"A""#);
    let b = tariff(r#"{"price_components":[{"type":"ENERGY","price":1,"step_size":1000}]}"#, "").replace(r#""id":"T""#, r#""id":"B""#);
    let c = r#"{"id":"C","start_date_time":"2025-06-02T10:00:00Z","end_date_time":"2025-06-02T12:00:00Z","charging_periods":[
        {"start_date_time":"2025-06-02T10:00:00Z","tariff_id":"A","dimensions":[{"type":"ENERGY","volume":1.5}]},
        {"start_date_time":"2025-06-02T11:00:00Z","tariff_id":"B","dimensions":[{"type":"ENERGY","volume":1.5}]}]}"#;
    let p = run(c, &[a, b], &ams());
    assert_eq!(p.total_energy_cost.excl, d("4")); // 2 + 2, not 3
    assert_eq!(p.tariff_ids, vec!["A", "B"]);
}

#[test]
fn one_session_flat_and_a_warning_when_another_becomes_active() {
    let t = tariff(
        r#"{"price_components":[{"type":"FLAT","price":1,"step_size":1}],"restrictions":{"max_duration":600}},
           {"price_components":[{"type":"FLAT","price":5,"step_size":1}]},
           {"price_components":[{"type":"TIME","price":0,"step_size":1}]}"#,
        "",
    );
    let c = cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", &E("1", "1"))], "");
    let p = run(&c, &[t], &ams());
    assert_eq!(p.total_fixed_cost.excl, d("1"));
    assert!(p.warnings.iter().any(|w| w.starts_with("several session FLAT")), "{:?}", p.warnings);
}

#[test]
fn a_component_without_vat_means_no_vat_unless_the_option_says_unknown() {
    // §4.6 (revised): absent vat = no VAT applies, incl = excl; MissingVat::Unknown keeps the
    // older reading (incl left out wherever such a component priced something).
    let t = unrestricted(r#"{"type":"ENERGY","price":0.25,"vat":21,"step_size":1},{"type":"TIME","price":1,"step_size":1}"#);
    let c = one_hour(4);
    let p = run(&c, std::slice::from_ref(&t), &ams());
    assert_eq!(p.total_energy_cost.incl(), Some(d("1.21")));
    assert_eq!(p.total_time_cost.incl(), Some(d("1")));
    assert_eq!(p.total_cost.incl(), Some(d("2.21")));
    assert_eq!(p.total_cost.excl, d("2"));

    let p = run(&c, std::slice::from_ref(&t), &PricingOptions { missing_vat: MissingVat::Unknown, ..ams() });
    assert_eq!(p.total_energy_cost.incl(), Some(d("1.21")));
    assert_eq!(p.total_time_cost.incl(), None);
    assert_eq!(p.total_cost.incl(), None);
    assert_eq!(p.total_cost.excl, d("2"));

    // A 2.1.1 tariff (no country_code/party_id) has no vat field at all: VAT unknown either way (§7).
    let v211 = t.replace(r#""country_code":"NL","party_id":"EXA","#, "");
    let p = run(&c, &[v211], &ams());
    assert_eq!(p.total_time_cost.incl(), None);
    assert_eq!(p.total_energy_cost.incl(), Some(d("1.21")));
}

#[test]
fn a_stated_time_volume_of_zero_is_never_billed_through_the_period_length() {
    // §4.5 S1/S3: step_size rounds the priced volume up. A 150 ms period stating TIME 0 has
    // no charging time, so there is nothing to round (it used to bill one 60 s step).
    let t = tariff(r#"{"price_components":[{"type":"TIME","price":6,"step_size":60}]}"#, "");
    let alone = cdr("2025-06-02T10:00:00Z", "2025-06-02T10:00:00.150Z", &[("2025-06-02T10:00:00Z", r#"{"type":"TIME","volume":0}"#)], "");
    let p = run(&alone, std::slice::from_ref(&t), &ams());
    assert_eq!(p.total_time_cost.excl, Decimal::ZERO);
    assert!(p.lines.is_empty(), "{:?}", p.lines);

    // After 10 min of charging (an exact number of steps) the 150 ms tail adds no step either.
    let after = cdr(
        "2025-06-02T10:00:00Z",
        "2025-06-02T10:10:00.150Z",
        &[("2025-06-02T10:00:00Z", r#"{"type":"TIME","volume":0.16666667}"#), ("2025-06-02T10:10:00Z", r#"{"type":"TIME","volume":0}"#)],
        "",
    );
    let p = run(&after, std::slice::from_ref(&t), &ams());
    assert_eq!(p.total_time_cost.excl, d("1")); // 600 s x 6/h, not 660 s
    // A non-zero volume in a short period is still billed by its step.
    let short = cdr("2025-06-02T10:00:00Z", "2025-06-02T10:00:00.150Z", &[("2025-06-02T10:00:00Z", r#"{"type":"TIME","volume":0.00004}"#)], "");
    assert_eq!(run(&short, &[t], &ams()).total_time_cost.excl, d("0.1"));
}

#[test]
fn a_component_of_an_unknown_dimension_is_ignored_and_the_breakdown_keeps_document_positions() {
    let t = unrestricted(r#"{"type":"CO2","price":9,"step_size":1},{"type":"ENERGY","price":0.5,"vat":10,"step_size":1}"#);
    let c = one_hour(4);
    let p = run(&c, std::slice::from_ref(&t), &ams());
    assert_eq!(p.total_cost.excl, d("2"));
    assert_eq!(p.lines[0].position, 1);
    assert!(p.warnings.iter().any(|w| w.contains("elements[0].price_components[0].type") && w.contains("ignored")), "{:?}", p.warnings);
    let mut out = String::new();
    super::output::write_result(&p, &ams(), &mut out);
    assert!(out.contains(r#""element_index":0,"component_index":1"#), "{out}");
    // Strict: refused as before.
    let e = TariffSet::from_json_with(t.as_bytes(), true).unwrap_err();
    assert_eq!(e.field, "elements[0].price_components[0].type");
}

#[test]
fn min_and_max_price_clamp_excl_and_incl_independently() {
    // excl 9.50 is under the 10.00 cap, incl 11.495 is over the 11.00 cap.
    let t = tariff(
        r#"{"price_components":[{"type":"ENERGY","price":0.95,"vat":21,"step_size":1}]}"#,
        r#","max_price":{"excl_vat":10,"incl_vat":11}"#,
    );
    let c = cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", &E("10", "1"))], "");
    let p = run(&c, &[t], &ams());
    assert_eq!(p.total_cost.excl, d("9.5"));
    assert_eq!(p.total_cost.incl(), Some(d("11")));
    assert!(p.max_price_applied);
    assert_eq!(p.total_energy_cost.incl(), Some(d("11.495")));
}

#[test]
fn tariff_choice_by_validity_and_type() {
    let el = r#"{"price_components":[{"type":"ENERGY","price":1,"step_size":1}]}"#;
    let old = tariff(el, r#","end_date_time":"2025-01-01T00:00:00Z""#).replace(r#""id":"T""#, r#""id":"OLD""#);
    let new = tariff(el, r#","start_date_time":"2025-01-01T00:00:00Z""#).replace(r#""id":"T""#, r#""id":"NEW""#);
    let adhoc = tariff(el, r#","type":"AD_HOC_PAYMENT""#).replace(r#""id":"T""#, r#""id":"ADHOC""#);
    let c = cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", &E("1", "1"))], "");
    let all = [old.clone(), new.clone(), adhoc.clone()];
    assert_eq!(run(&c, &all, &ams()).tariff_ids, vec!["NEW"]);
    let opts = PricingOptions { tariff_type: Some(crate::model::TariffType::AdHocPayment), ..ams() };
    assert_eq!(run(&c, &all, &opts).tariff_ids, vec!["ADHOC"]);
    let set = TariffSet::from_json(format!("[{old}]").as_bytes()).unwrap();
    let e = price(&parse_cdr(c.as_bytes()).unwrap(), Some(&set), &ams()).unwrap_err();
    assert_eq!(e.field, "tariffs");
}

#[test]
fn expired_reservation_uses_expires_elements_then_reservation_ones() {
    let t = tariff(
        r#"{"price_components":[{"type":"FLAT","price":4,"step_size":1}],"restrictions":{"reservation":"RESERVATION_EXPIRES"}},
           {"price_components":[{"type":"TIME","price":2,"step_size":600}],"restrictions":{"reservation":"RESERVATION"}},
           {"price_components":[{"type":"FLAT","price":0.5,"step_size":1},{"type":"ENERGY","price":0.25,"step_size":1}]}"#,
        "",
    );
    let c = cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", r#"{"type":"RESERVATION_TIME","volume":1}"#)], "");
    let p = run(&c, &[t], &ams());
    assert_eq!(p.total_reservation_cost.excl, d("6"));
    assert_eq!(p.total_fixed_cost.excl, Decimal::ZERO);
    assert_eq!(p.total_cost.excl, d("6"));
}

#[test]
fn credit_cdrs_negate_costs_and_bad_zones_are_errors() {
    let t = tariff(r#"{"price_components":[{"type":"ENERGY","price":1,"step_size":1}]}"#, "");
    let c = cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", &E("3", "1"))], r#","credit":true"#);
    assert_eq!(run(&c, std::slice::from_ref(&t), &ams()).total_cost.excl, d("-3"));
    let c = cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", &E("3", "1"))], r#","cdr_location":{"time_zone":"Nowhere/Land"}"#);
    let set = TariffSet::from_json(t.as_bytes()).unwrap();
    let e = price(&parse_cdr(c.as_bytes()).unwrap(), Some(&set), &ams()).unwrap_err();
    assert_eq!(e.field, "cdr_location.time_zone");
}

#[test]
fn unsorted_and_outside_periods_are_reported() {
    let t = tariff(r#"{"price_components":[{"type":"ENERGY","price":1,"step_size":1}]}"#, "");
    let c = cdr(
        "2025-06-02T10:00:00Z",
        "2025-06-02T11:00:00Z",
        &[("2025-06-02T10:30:00Z", &E("1", "0.5")), ("2025-06-02T10:00:00Z", &E("2", "0.5")), ("2025-06-02T12:00:00Z", &E("0", "0"))],
        "",
    );
    let p = run(&c, &[t], &ams());
    assert_eq!(p.total_energy_cost.excl, d("3"));
    assert!(p.warnings.iter().any(|w| w.contains("not in time order")));
    assert!(p.warnings.iter().any(|w| w.contains("charging_periods[2] starts outside the session")));
}

#[test]
fn restrictions_on_missing_measurements_are_not_met_and_reported() {
    let t = tariff(
        r#"{"price_components":[{"type":"TIME","price":9,"step_size":1}],"restrictions":{"min_current":32}},
           {"price_components":[{"type":"TIME","price":1,"step_size":1}]}"#,
        "",
    );
    let c = cdr("2025-06-02T10:00:00Z", "2025-06-02T11:00:00Z", &[("2025-06-02T10:00:00Z", &E("3", "1"))], "");
    let p = run(&c, &[t], &ams());
    assert_eq!(p.total_time_cost.excl, d("1"));
    assert!(p.warnings.iter().any(|w| w.contains("restricts current")));
}
