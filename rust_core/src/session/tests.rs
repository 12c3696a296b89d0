use std::collections::{HashMap, HashSet};
use rust_decimal::Decimal;

use super::event::parse_batch;
use super::*;
use crate::datetime::parse_datetime;
use crate::testutil::d;

const TZ: &str = "Europe/Amsterdam";

fn tariff(elements: &str) -> String {
    format!(r#"{{"country_code":"NL","party_id":"CPO","id":"T1","currency":"EUR","elements":[{elements}],"last_updated":"2025-01-01T00:00:00Z"}}"#)
}

/// ENERGY 0.20/kWh until 17:00 local, 0.40 from 17:00 to 20:00, then 0.20.
fn time_of_day() -> String {
    tariff(
        r#"{"price_components":[{"type":"ENERGY","price":0.40,"step_size":1}],"restrictions":{"start_time":"17:00","end_time":"20:00"}},
           {"price_components":[{"type":"ENERGY","price":0.20,"step_size":1},{"type":"PARKING_TIME","price":6,"step_size":60}]}"#,
    )
}

fn header(id: &str, tariffs: &[String]) -> Vec<u8> {
    format!(
        r#"{{"country_code":"NL","party_id":"CPO","id":"{id}","cdr_token":{{"country_code":"NL","party_id":"EMS","uid":"TOK","type":"RFID","contract_id":"C1"}},
        "auth_method":"WHITELIST","location_id":"LOC1","evse_uid":"E1","connector_id":"1","currency":"EUR","time_zone":"{TZ}",
        "cdr_location":{{"id":"LOC1","address":"Main 1","city":"Ams","country":"NLD","coordinates":{{"latitude":"52.1","longitude":"4.3"}},"evse_uid":"E1","evse_id":"NL*CPO*E1","connector_id":"1","connector_standard":"IEC_62196_T2","connector_format":"SOCKET","connector_power_type":"AC_3_PHASE"}},
        "tariffs":[{}]}}"#,
        tariffs.join(",")
    )
    .into_bytes()
}

fn start(sid: &str, ev: &str, time: &str, wh: &str) -> String {
    format!(r#"{{"event_id":"{ev}","session_id":"{sid}","type":"session_started","time":"{time}","location_id":"LOC1","evse_uid":"E1","connector_id":"1","token_uid":"TOK","meter_wh":{wh}}}"#)
}

fn meter(sid: &str, ev: &str, time: &str, wh: &str, extra: &str) -> String {
    format!(r#"{{"event_id":"{ev}","session_id":"{sid}","type":"meter","time":"{time}","meter_wh":{wh}{extra}}}"#)
}

fn stop(sid: &str, ev: &str, time: &str, wh: &str) -> String {
    format!(r#"{{"event_id":"{ev}","session_id":"{sid}","type":"session_stopped","time":"{time}","meter_wh":{wh}}}"#)
}

fn now() -> Micros {
    parse_datetime("2026-01-01T00:00:00Z").unwrap()
}

struct Run {
    engine: SessionEngine,
    headers: HashMap<String, Vec<u8>>,
}

impl Run {
    fn new(sessions: &[(&str, &[String])]) -> Self {
        let headers = sessions.iter().map(|(id, t)| (id.to_string(), header(id, t))).collect();
        Self { engine: SessionEngine::new(EngineOptions::default()), headers }
    }

    fn apply(&mut self, lines: &[String]) -> ApplyResult {
        let batch = parse_batch(lines.join("\n").as_bytes());
        assert!(batch.errors.is_empty(), "{:?}", batch.errors);
        self.engine.apply(&batch, &self.headers, &HashSet::new(), now())
    }

    fn periods(&self, sid: &str) -> Vec<(String, String, Decimal, bool)> {
        self.engine.session(sid).unwrap().fold.closed.iter().map(|p| (text(p.start), text(p.end), p.kwh(), p.charging)).collect()
    }
}

fn cdr_value(r: &ApplyResult) -> serde_json::Value {
    assert_eq!(r.cdrs.len(), 1, "{:?}", r.errors);
    serde_json::from_str(&r.cdrs[0].1).unwrap()
}

/// The CDR priced from scratch (as `price_cdr` does) gives the same totals as the CDR states.
fn assert_reprices(cdr_json: &str) {
    let opts = PricingOptions { time_zone: crate::pricing::parse_tz(TZ), ..PricingOptions::default() };
    let out = crate::price_cdr_json(cdr_json.as_bytes(), None, &opts).unwrap();
    let priced: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let cdr: serde_json::Value = serde_json::from_str(cdr_json).unwrap();
    for k in ["total_cost", "total_energy", "total_time", "total_parking_time", "total_energy_cost", "total_parking_cost", "total_time_cost", "total_fixed_cost"] {
        assert_eq!(priced[k].to_string(), cdr[k].to_string(), "{k} in {cdr_json}");
    }
}

#[test]
fn cuts_at_17_local_between_two_readings_and_splits_the_energy() {
    let mut run = Run::new(&[("S1", &[time_of_day()])]);
    // 15:30Z = 16:30 CET; the meter at 16:30Z = 17:30 CET: the 17:00 local edge is at 16:00Z.
    let r = run.apply(&[start("S1", "a", "2025-01-10T15:30:00Z", "1000"), meter("S1", "b", "2025-01-10T16:30:00Z", "11001", "")]);
    assert_eq!(r.accepted, vec![0, 1]);
    assert_eq!(r.sessions.len(), 1);
    let u = &r.sessions[0];
    assert_eq!((u.status, u.closed_periods, u.kwh.as_str(), u.status_changed), ("ACTIVE", 1, "10.001", true));
    // 5000.5 Wh rounds half up to 5001 Wh before the edge; the parts add up to 10001 Wh.
    assert_eq!(run.periods("S1"), vec![("2025-01-10T15:30:00Z".into(), "2025-01-10T16:00:00Z".into(), d("5.001"), true)]);
    // Running total: 5.001 × 0.20 + 5.000 × 0.40 = 3.0002.
    assert_eq!(u.cost_excl.as_deref(), Some("3.0002"));
    let session: serde_json::Value = serde_json::from_str(&u.json).unwrap();
    assert_eq!(session["charging_periods"].as_array().unwrap().len(), 1);
    assert_eq!(session["total_cost"]["excl_vat"].to_string(), "3.0002");
    assert_eq!(session["status"], "ACTIVE");

    let r = run.apply(&[stop("S1", "c", "2025-01-10T16:30:00Z", "11001")]);
    assert_eq!(r.sessions[0].status, "COMPLETED");
    assert!(r.sessions[0].status_changed);
    assert_eq!(r.sessions[0].cost_excl.as_deref(), Some("3.0002"));
    let cdr = cdr_value(&r);
    assert_eq!(cdr["charging_periods"].as_array().unwrap().len(), 2);
    assert_eq!(cdr["charging_periods"][1]["start_date_time"], "2025-01-10T16:00:00Z");
    assert_eq!(cdr["charging_periods"][1]["dimensions"][0]["volume"].to_string(), "5");
    assert_eq!(cdr["charging_periods"][1]["dimensions"][1]["volume"].to_string(), "0.5");
    assert_eq!(cdr["total_cost"]["excl_vat"].to_string(), "3.0002");
    assert_eq!(cdr["tariffs"][0]["id"], "T1");
    assert_eq!(cdr["cdr_location"]["evse_id"], "NL*CPO*E1");
    assert_reprices(&r.cdrs[0].1);
    assert!(run.engine.is_empty());
    let breakdown: serde_json::Value = serde_json::from_str(&r.cdrs[0].2).unwrap();
    assert_eq!(breakdown["periods"].as_array().unwrap().len(), 2);
}

#[test]
fn kwh_threshold_lands_on_the_exact_energy() {
    let t = tariff(
        r#"{"price_components":[{"type":"ENERGY","price":0.30,"step_size":1}],"restrictions":{"max_kwh":10}},
           {"price_components":[{"type":"ENERGY","price":0.20,"step_size":1}]}"#,
    );
    let mut run = Run::new(&[("S", &[t])]);
    run.apply(&[start("S", "a", "2025-01-10T10:00:00Z", "0"), meter("S", "b", "2025-01-10T11:00:00Z", "30000", "")]);
    // 10 kWh of 30 in an hour: a third of it, 20 min.
    assert_eq!(run.periods("S"), vec![("2025-01-10T10:00:00Z".into(), "2025-01-10T10:20:00Z".into(), d("10"), true)]);
    let r = run.apply(&[stop("S", "c", "2025-01-10T11:00:00Z", "30000")]);
    let cdr = cdr_value(&r);
    assert_eq!(cdr["total_cost"]["excl_vat"].to_string(), "7");
    assert_reprices(&r.cdrs[0].1);

    // A threshold hit at an uneven instant: time rounded to whole seconds, energy exact.
    let t = tariff(r#"{"price_components":[{"type":"ENERGY","price":0.30,"step_size":1}],"restrictions":{"min_kwh":1}},{"price_components":[{"type":"ENERGY","price":0.10,"step_size":1}]}"#);
    let mut run = Run::new(&[("S", &[t])]);
    run.apply(&[start("S", "a", "2025-01-10T10:00:00Z", "0"), meter("S", "b", "2025-01-10T10:00:07Z", "3000", "")]);
    assert_eq!(run.periods("S"), vec![("2025-01-10T10:00:00Z".into(), "2025-01-10T10:00:02Z".into(), d("1"), true)]);
}

#[test]
fn charging_to_parking_is_a_new_period_and_parking_is_priced() {
    let mut run = Run::new(&[("S", &[time_of_day()])]);
    let r = run.apply(&[
        start("S", "a", "2025-01-10T10:00:00Z", "0"),
        meter("S", "b", "2025-01-10T10:30:00Z", "5000", r#","state":"SUSPENDED_EV""#),
        meter("S", "c", "2025-01-10T10:45:00Z", "5000", r#","state":"SUSPENDED_EVSE""#),
        meter("S", "d", "2025-01-10T11:00:00Z", "5000", r#","state":"SUSPENDED_EV""#),
        stop("S", "e", "2025-01-10T11:00:00Z", "5000"),
    ]);
    assert_eq!(r.accepted.len(), 5);
    let cdr = cdr_value(&r);
    let periods = cdr["charging_periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2, "{periods:?}");
    assert_eq!(periods[1]["dimensions"][1]["type"], "PARKING_TIME");
    assert_eq!(periods[1]["dimensions"][1]["volume"].to_string(), "0.5");
    // 5 kWh × 0.20 + 0.5 h parking × 6.
    assert_eq!(cdr["total_cost"]["excl_vat"].to_string(), "4");
    assert_eq!(cdr["total_parking_time"].to_string(), "0.5");
    assert_reprices(&r.cdrs[0].1);
}

#[test]
fn power_threshold_crossing_cuts_and_prices_by_power() {
    let t = tariff(
        r#"{"price_components":[{"type":"ENERGY","price":0.50,"step_size":1}],"restrictions":{"min_power":20}},
           {"price_components":[{"type":"ENERGY","price":0.25,"step_size":1}]}"#,
    );
    let mut run = Run::new(&[("S", &[t])]);
    let r = run.apply(&[
        start("S", "a", "2025-01-10T10:00:00Z", "0"),
        meter("S", "b", "2025-01-10T10:00:00Z", "0", r#","power_w":11000"#),
        meter("S", "c", "2025-01-10T10:30:00Z", "5500", r#","power_w":"22000""#),
        meter("S", "d", "2025-01-10T10:45:00Z", "11000", r#","power_w":21000"#),
        meter("S", "e", "2025-01-10T11:00:00Z", "16250", r#","power_w":7000"#),
        stop("S", "f", "2025-01-10T11:10:00Z", "17000"),
    ]);
    let cdr = cdr_value(&r);
    let periods = cdr["charging_periods"].as_array().unwrap();
    assert_eq!(periods.len(), 3, "{periods:?}");
    let dims = |i: usize| periods[i]["dimensions"].as_array().unwrap().iter().map(|d| (d["type"].as_str().unwrap().to_string(), d["volume"].to_string())).collect::<Vec<_>>();
    assert!(dims(1).contains(&("MIN_POWER".into(), "21".into())) && dims(1).contains(&("MAX_POWER".into(), "22".into())), "{:?}", dims(1));
    // 5.5 kWh × 0.25 + 10.75 kWh × 0.50 + 0.75 kWh × 0.25.
    assert_eq!(cdr["total_cost"]["excl_vat"].to_string(), "6.9375");
    assert_reprices(&r.cdrs[0].1);
}

#[test]
fn duration_threshold_cuts_inside_an_interval() {
    let t = tariff(
        r#"{"price_components":[{"type":"TIME","price":2,"step_size":1}],"restrictions":{"max_duration":3600}},
           {"price_components":[{"type":"TIME","price":4,"step_size":1}]}"#,
    );
    let mut run = Run::new(&[("S", &[t])]);
    let r = run.apply(&[start("S", "a", "2025-01-10T10:00:00Z", "0"), stop("S", "b", "2025-01-10T11:30:00Z", "9000")]);
    let cdr = cdr_value(&r);
    let periods = cdr["charging_periods"].as_array().unwrap();
    assert_eq!(periods.len(), 2);
    assert_eq!(periods[1]["start_date_time"], "2025-01-10T11:00:00Z");
    assert_eq!(periods[0]["dimensions"][0]["volume"].to_string(), "6");
    assert_eq!(cdr["total_cost"]["excl_vat"].to_string(), "4");
    assert_reprices(&r.cdrs[0].1);
}

#[test]
fn late_events_inside_the_window_refold_and_outside_are_refused() {
    let in_order = {
        let mut run = Run::new(&[("S", &[time_of_day()])]);
        run.apply(&[
            start("S", "a", "2025-01-10T15:50:00Z", "0"),
            meter("S", "b", "2025-01-10T15:55:00Z", "1000", ""),
            meter("S", "c", "2025-01-10T16:05:00Z", "2000", r#","state":"SUSPENDED_EV""#),
            meter("S", "d", "2025-01-10T16:10:00Z", "2000", ""),
        ]);
        run.periods("S")
    };
    let mut run = Run::new(&[("S", &[time_of_day()])]);
    run.apply(&[start("S", "a", "2025-01-10T15:50:00Z", "0"), meter("S", "d", "2025-01-10T16:10:00Z", "2000", "")]);
    run.apply(&[meter("S", "c", "2025-01-10T16:05:00Z", "2000", r#","state":"SUSPENDED_EV""#)]);
    let r = run.apply(&[meter("S", "b", "2025-01-10T15:55:00Z", "1000", "")]);
    assert_eq!(r.accepted, vec![0]);
    assert_eq!(run.periods("S"), in_order);
    assert_eq!(in_order.len(), 3, "{in_order:?}");

    // A reading between two others must fit between their meter values.
    let r = run.apply(&[meter("S", "x", "2025-01-10T16:00:00Z", "900", "")]);
    assert_eq!(r.errors, vec![(0, "meter_wh".to_string(), "decreases: 900 Wh is below the reading at 2025-01-10T15:55:00Z (1000 Wh)".to_string())]);
    let r = run.apply(&[meter("S", "x", "2025-01-10T16:00:00Z", "2500", "")]);
    assert_eq!(r.errors[0].1, "meter_wh");
    assert!(r.sessions.is_empty());

    // Outside the 900 s window.
    run.apply(&[meter("S", "e", "2025-01-10T16:40:00Z", "2000", "")]);
    let r = run.apply(&[meter("S", "f", "2025-01-10T16:20:00Z", "2000", "")]);
    assert_eq!(r.errors[0].1, "time");
    assert!(r.errors[0].2.contains("reorder window"), "{}", r.errors[0].2);
    // Readings before the window are forgotten, but the one a late event may follow is kept.
    let s = run.engine.session("S").unwrap();
    assert!(s.fold.readings.len() <= 3, "{}", s.fold.readings.len());
    assert!(s.fold.readings[0].0.time <= parse_datetime("2025-01-10T16:25:00Z").unwrap());
}

#[test]
fn refusals_name_the_field() {
    let mut run = Run::new(&[("S", &[time_of_day()])]);
    let r = run.apply(&[meter("U", "a", "2025-01-10T10:00:00Z", "0", "")]);
    assert_eq!(r.errors, vec![(0, "session_id".into(), "unknown session \"U\"".into())]);
    // A start without header is not authorized; a start with its meter in one batch works.
    let r = run.apply(&[start("N", "a", "2025-01-10T10:00:00Z", "0")]);
    assert_eq!(r.errors, vec![(0, "session_id".into(), "not authorized".into())]);
    let r = run.apply(&[meter("S", "b", "2025-01-10T10:05:00Z", "10", ""), start("S", "a", "2025-01-10T10:00:00Z", "0")]);
    assert_eq!(r.accepted, vec![0, 1]);
    let r = run.apply(&[start("S", "a2", "2025-01-10T10:06:00Z", "10")]);
    assert_eq!(r.errors[0].2, "session \"S\" was already started");
    let r = run.apply(&[meter("S", "c", "2025-01-10T09:59:00Z", "10", "")]);
    assert_eq!(r.errors[0].1, "time");
    // In the start's own batch too: a reading timed before the start is a bad time, not an unknown session.
    let mut early = Run::new(&[("E", &[time_of_day()])]);
    let r = early.apply(&[start("E", "a", "2025-01-10T10:00:00Z", "0"), meter("E", "b", "2025-01-10T09:58:00Z", "0", "")]);
    assert_eq!((r.accepted.clone(), r.errors[0].0, r.errors[0].1.as_str()), (vec![0], 1, "time"));
    run.apply(&[stop("S", "z", "2025-01-10T10:10:00Z", "20")]);
    let r = run.apply(&[meter("S", "c", "2025-01-10T10:09:00Z", "10", "")]);
    assert_eq!(r.errors, vec![(0, "session_id".into(), "session \"S\" is completed".into())]);
    // Skipped indices are not applied.
    let batch = parse_batch(start("K", "k", "2025-01-10T10:00:00Z", "0").as_bytes());
    let r = run.engine.apply(&batch, &run.headers, &HashSet::from([0]), now());
    assert!(r.accepted.is_empty() && r.errors.is_empty());
}

#[test]
fn a_bad_header_refuses_the_start() {
    let mut run = Run::new(&[("S", &[time_of_day()])]);
    run.headers.insert("S".into(), br#"{"country_code":"NL"}"#.to_vec());
    let r = run.apply(&[start("S", "a", "2025-01-10T10:00:00Z", "0")]);
    assert_eq!(r.errors[0].1, "session_id");
    assert!(r.errors[0].2.starts_with("session header:"), "{}", r.errors[0].2);
}

#[test]
fn sessions_share_compiled_tariffs() {
    let mut run = Run::new(&[("A", &[time_of_day()]), ("B", &[time_of_day()])]);
    run.apply(&[start("A", "a", "2025-01-10T10:00:00Z", "0"), start("B", "b", "2025-01-10T10:00:00Z", "0")]);
    let (a, b) = (run.engine.session("A").unwrap(), run.engine.session("B").unwrap());
    assert!(Arc::ptr_eq(&a.tariffs, &b.tariffs));
}
