use serde_json::{Value, json};

use super::*;

/// A session row owning its text (the API borrows it).
struct OwnedRow {
    session_id: String,
    country_code: String,
    party_id: String,
    location_id: String,
    evse_uid: String,
    connector_id: String,
    status: String,
    kwh: String,
    cost_excl: Option<String>,
    cost_incl: Option<String>,
    currency: String,
    started_at: String,
}

impl OwnedRow {
    fn as_row(&self) -> SessionRow<'_> {
        SessionRow {
            session_id: &self.session_id,
            country_code: &self.country_code,
            party_id: &self.party_id,
            location_id: &self.location_id,
            evse_uid: &self.evse_uid,
            connector_id: &self.connector_id,
            status: &self.status,
            kwh: &self.kwh,
            cost_excl: self.cost_excl.as_deref(),
            cost_incl: self.cost_incl.as_deref(),
            currency: &self.currency,
            started_at: &self.started_at,
        }
    }
}

fn upsert(m: &mut Monitor, rows: Vec<OwnedRow>) -> Result<(), InputError> {
    let borrowed: Vec<SessionRow<'_>> = rows.iter().map(OwnedRow::as_row).collect();
    m.upsert_sessions(&borrowed)
}

#[allow(clippy::too_many_arguments)]
fn row(id: &str, loc: (&str, &str, &str), evse: &str, status: &str, kwh: &str, excl: Option<&str>, incl: Option<&str>, currency: &str, started: &str) -> OwnedRow {
    OwnedRow {
        session_id: id.into(),
        country_code: loc.0.into(),
        party_id: loc.1.into(),
        location_id: loc.2.into(),
        evse_uid: evse.into(),
        connector_id: "1".into(),
        status: status.into(),
        kwh: kwh.into(),
        cost_excl: excl.map(Into::into),
        cost_incl: incl.map(Into::into),
        currency: currency.into(),
        started_at: started.into(),
    }
}

const L1: (&str, &str, &str) = ("NL", "TNM", "LOC1");
const L2: (&str, &str, &str) = ("NL", "TNM", "LOC2");
const T0: &str = "2026-11-30T10:00:00Z";

fn active(id: &str, loc: (&str, &str, &str), evse: &str, kwh: &str, excl: &str, incl: &str) -> OwnedRow {
    row(id, loc, evse, "ACTIVE", kwh, Some(excl), Some(incl), "EUR", T0)
}

fn evse_status(loc: (&str, &str, &str), evse: &str, status: &str) -> EvseStatusRow {
    EvseStatusRow { country_code: loc.0.into(), party_id: loc.1.into(), location_id: loc.2.into(), evse_uid: evse.into(), status: status.into() }
}

fn list(m: &Monitor, cc: Option<&str>, party: Option<&str>, offset: usize, limit: usize) -> Value {
    serde_json::from_str(&m.locations_json(cc, party, false, offset, limit)).unwrap()
}

fn list_active(m: &Monitor, cc: Option<&str>, party: Option<&str>, offset: usize, limit: usize) -> Value {
    serde_json::from_str(&m.locations_json(cc, party, true, offset, limit)).unwrap()
}

fn ids(v: &Value) -> Vec<String> {
    v["locations"].as_array().unwrap().iter().map(|l| format!("{}/{}/{}", l["country_code"].as_str().unwrap(), l["party_id"].as_str().unwrap(), l["location_id"].as_str().unwrap())).collect()
}

fn detail(m: &Monitor, loc: (&str, &str, &str)) -> Option<Value> {
    m.location_json(loc.0, loc.1, loc.2).map(|s| serde_json::from_str(&s).unwrap())
}

/// Decimals are compared by their JSON text: exactly what was written.
fn text(v: &Value) -> String {
    v.to_string()
}

#[test]
fn aggregates_follow_upsert_update_and_remove() {
    let mut m = Monitor::new();
    upsert(&mut m, vec![active("s1", L1, "E1", "1.5", "0.75", "0.9075"), active("s2", L1, "E1", "2.25", "1.00", "1.21"), active("s3", L1, "E2", "3", "2", "2.42")]).unwrap();
    assert_eq!(m.len(), 3);
    let v = detail(&m, L1).unwrap();
    assert_eq!(v["active_sessions"], 3);
    assert_eq!(text(&v["kwh"]), "6.75");
    assert_eq!(v["cost"], json!([{"currency": "EUR", "excl_vat": 3.75, "incl_vat": 4.5375}]));
    assert_eq!(v["evses"][0]["evse_uid"], "E1");
    assert_eq!(text(&v["evses"][0]["kwh"]), "3.75");
    assert_eq!(v["evses"][0]["sessions"].as_array().unwrap().len(), 2);

    // An update replaces the session's contribution, it does not add to it.
    upsert(&mut m, vec![active("s1", L1, "E1", "4.5", "2.25", "2.7225")]).unwrap();
    let v = detail(&m, L1).unwrap();
    assert_eq!(text(&v["kwh"]), "9.75");
    assert_eq!(text(&v["cost"][0]["excl_vat"]), "5.25");
    assert_eq!(text(&v["evses"][0]["kwh"]), "6.75");

    // A session that moves EVSE leaves the old one.
    upsert(&mut m, vec![active("s2", L1, "E2", "2.25", "1.00", "1.21")]).unwrap();
    let v = detail(&m, L1).unwrap();
    assert_eq!(v["evses"][0]["active_sessions"], 1);
    assert_eq!(v["evses"][1]["active_sessions"], 2);

    // COMPLETED removes; the EVSE without sessions or status goes, and the location with it.
    upsert(&mut m, vec![row("s1", L1, "E1", "COMPLETED", "5", Some("3"), Some("3.63"), "EUR", T0)]).unwrap();
    let v = detail(&m, L1).unwrap();
    assert_eq!(v["evses"].as_array().unwrap().len(), 1);
    assert_eq!(text(&v["kwh"]), "5.25");
    upsert(&mut m, vec![row("s2", L1, "E2", "COMPLETED", "0", None, None, "EUR", T0), row("s3", L1, "E2", "INVALID", "0", None, None, "EUR", T0)]).unwrap();
    assert!(m.is_empty());
    assert!(detail(&m, L1).is_none());
    assert_eq!(list(&m, None, None, 0, 10), json!({"total": 0, "active_sessions": 0, "kwh": 0, "cost": [], "locations": []}));
    // Ending an unknown session is a no-op.
    upsert(&mut m, vec![row("nope", L1, "E2", "COMPLETED", "0", None, None, "EUR", T0)]).unwrap();
    assert_eq!(m.location_count(), 0);
}

#[test]
fn totals_match_a_full_recount_after_random_changes() {
    // Incremental totals must equal what re-summing the held sessions gives.
    let mut m = Monitor::new();
    let mut seed: u64 = 7;
    let mut next = |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    for _ in 0..3000 {
        let id = format!("s{}", next(300));
        let loc = ["A", "B", "C"][next(3) as usize];
        let status = if next(5) == 0 { "COMPLETED" } else { "ACTIVE" };
        let kwh = format!("{}.{:03}", next(50), next(1000));
        let excl = format!("{}.{:04}", next(20), next(10000));
        let r = row(&id, ("NL", "TNM", loc), &format!("E{}", next(4)), status, &kwh, Some(&excl), (next(10) > 0).then_some("1.5"), ["EUR", "USD"][next(2) as usize], T0);
        upsert(&mut m, vec![r]).unwrap();
    }
    let mut expect = Totals::default();
    for s in m.sessions.values() {
        expect.add(s.amounts());
    }
    assert_eq!(m.scopes.all.totals.sessions, expect.sessions);
    // The active set is exactly the locations holding a session.
    let held: BTreeSet<LocationKey> = m.sessions.values().map(|s| s.key.clone()).collect();
    assert_eq!(m.active, held);
    assert_eq!(m.scopes.all.active, held.len());
    assert_eq!(m.scopes.get(Some("NL"), Some("TNM")).unwrap().active, held.len());
    let (mut a, mut b) = (String::new(), String::new());
    m.scopes.all.totals.write_fields(&mut a);
    expect.write_fields(&mut b);
    assert_eq!(a, b);
    for (key, location) in &m.locations {
        let mut t = Totals::default();
        m.sessions.values().filter(|s| &s.key == key).for_each(|s| t.add(s.amounts()));
        let (mut a, mut b) = (String::new(), String::new());
        location.totals.write_fields(&mut a);
        t.write_fields(&mut b);
        assert_eq!(a, b, "{key:?}");
        for (uid, evse) in &location.evses {
            let mut t = Totals::default();
            m.sessions.values().filter(|s| &s.key == key && &s.evse_uid == uid).for_each(|s| t.add(s.amounts()));
            let (mut a, mut b) = (String::new(), String::new());
            evse.totals.write_fields(&mut a);
            t.write_fields(&mut b);
            assert_eq!(a, b, "{key:?} {uid}");
        }
    }
    let (mut a, mut b) = (String::new(), String::new());
    m.scopes.get(Some("NL"), Some("TNM")).unwrap().totals.write_fields(&mut a);
    expect.write_fields(&mut b);
    assert_eq!(a, b);
}

#[test]
fn costs_per_currency_and_unknown_amounts() {
    let mut m = Monitor::new();
    upsert(&mut m, vec![
        row("s1", L1, "E1", "ACTIVE", "1", Some("0.1"), Some("0.121"), "EUR", T0),
        row("s2", L1, "E2", "ACTIVE", "2", Some("0.2"), None, "EUR", T0),
        row("s3", L1, "E3", "ACTIVE", "3", Some("0.3"), Some("0.33"), "USD", T0),
        row("s4", L1, "E3", "ACTIVE", "4", None, None, "CHF", T0),
    ])
    .unwrap();
    let v = detail(&m, L1).unwrap();
    assert_eq!(text(&v["kwh"]), "10");
    assert_eq!(
        v["cost"],
        json!([
            {"currency": "CHF", "excl_vat": null, "incl_vat": null},
            {"currency": "EUR", "excl_vat": 0.3, "incl_vat": null},
            {"currency": "USD", "excl_vat": 0.3, "incl_vat": 0.33}
        ])
    );
    assert_eq!(v["evses"][1]["sessions"][0]["incl_vat"], Value::Null);
    // Once the session without incl_vat knows it, the currency total is known again.
    upsert(&mut m, vec![row("s2", L1, "E2", "ACTIVE", "2", Some("0.2"), Some("0.242"), "EUR", T0)]).unwrap();
    let v = detail(&m, L1).unwrap();
    assert_eq!(text(&v["cost"][1]["incl_vat"]), "0.363");
    // A currency with no session left disappears.
    upsert(&mut m, vec![row("s4", L1, "E3", "COMPLETED", "4", None, None, "CHF", T0)]).unwrap();
    assert_eq!(detail(&m, L1).unwrap()["cost"].as_array().unwrap().len(), 2);
}

#[test]
fn decimals_are_exact() {
    let mut m = Monitor::new();
    let rows: Vec<OwnedRow> = (0..10).map(|i| active(&format!("s{i}"), L1, "E1", "0.1", "0.0001", "0.00012")).collect();
    upsert(&mut m, rows).unwrap();
    let s = m.location_json("NL", "TNM", "LOC1").unwrap();
    assert!(s.contains("\"kwh\":1,\"cost\":[{\"currency\":\"EUR\",\"excl_vat\":0.001,\"incl_vat\":0.0012}]"), "{s}");
    // Large values stay exact (no float on the way).
    upsert(&mut m, vec![active("big", L2, "E1", "123456789012.3456", "99999999999999.9999", "0")]).unwrap();
    let s = m.location_json("NL", "TNM", "LOC2").unwrap();
    assert!(s.contains("\"kwh\":123456789012.3456,") && s.contains("\"excl_vat\":99999999999999.9999,"), "{s}");
}

#[test]
fn evse_known_only_by_status() {
    let mut m = Monitor::new();
    m.set_evse_status(vec![evse_status(L1, "E1", "AVAILABLE"), evse_status(L1, "E2", "OUTOFORDER"), evse_status(L1, "E3", "AVAILABLE")]).unwrap();
    assert!(m.is_empty());
    let v = list(&m, None, None, 0, 10);
    assert_eq!(v["total"], 1);
    assert_eq!(v["locations"][0]["evses"], json!({"AVAILABLE": 2, "OUTOFORDER": 1}));
    assert_eq!(v["locations"][0]["active_sessions"], 0);
    let d = detail(&m, L1).unwrap();
    assert_eq!(d["evses"][1], json!({"evse_uid": "E2", "status": "OUTOFORDER", "active_sessions": 0, "kwh": 0, "cost": [], "sessions": []}));

    // A session on an EVSE keeps its status; one on an EVSE without status shows UNKNOWN.
    upsert(&mut m, vec![active("s1", L1, "E1", "1", "1", "1"), active("s2", L1, "E9", "1", "1", "1")]).unwrap();
    m.set_evse_status(vec![evse_status(L1, "E1", "CHARGING")]).unwrap();
    let v = list(&m, None, None, 0, 10);
    assert_eq!(v["locations"][0]["evses"], json!({"AVAILABLE": 1, "CHARGING": 1, "OUTOFORDER": 1, "UNKNOWN": 1}));
    // The status stays when the session ends.
    upsert(&mut m, vec![row("s1", L1, "E1", "COMPLETED", "1", None, None, "EUR", T0)]).unwrap();
    assert_eq!(detail(&m, L1).unwrap()["evses"][0]["status"], "CHARGING");
    // REMOVED drops an EVSE without sessions; the last EVSE gone drops the location.
    m.set_evse_status(vec![evse_status(L1, "E1", "REMOVED"), evse_status(L1, "E2", "REMOVED"), evse_status(L1, "E3", "REMOVED")]).unwrap();
    assert_eq!(list(&m, None, None, 0, 10)["locations"][0]["evses"], json!({"UNKNOWN": 1}));
    upsert(&mut m, vec![row("s2", L1, "E9", "COMPLETED", "1", None, None, "EUR", T0)]).unwrap();
    assert_eq!(m.location_count(), 0);
    assert_eq!(list(&m, Some("NL"), None, 0, 10)["total"], 0);
}

#[test]
fn ordering_filters_and_paging() {
    let mut m = Monitor::new();
    let locs = [("NL", "TNM", "B"), ("DE", "ABC", "Z"), ("NL", "AAA", "X"), ("NL", "TNM", "A"), ("BE", "TNM", "Q")];
    let rows: Vec<OwnedRow> = locs.iter().enumerate().map(|(i, l)| active(&format!("s{i}"), *l, "E1", &format!("{}", i + 1), "1", "1.21")).collect();
    upsert(&mut m, rows).unwrap();
    let all = list(&m, None, None, 0, 100);
    assert_eq!(ids(&all), ["BE/TNM/Q", "DE/ABC/Z", "NL/AAA/X", "NL/TNM/A", "NL/TNM/B"]);
    assert_eq!((all["total"].clone(), all["active_sessions"].clone(), text(&all["kwh"])), (json!(5), json!(5), "15".to_string()));
    let page = list(&m, None, None, 1, 2);
    assert_eq!(ids(&page), ["DE/ABC/Z", "NL/AAA/X"]);
    assert_eq!(page["total"], 5);
    assert_eq!(ids(&list(&m, None, None, 5, 2)), Vec::<String>::new());
    assert_eq!(ids(&list(&m, None, None, 0, 0)), Vec::<String>::new());

    let nl = list(&m, Some("NL"), None, 0, 100);
    assert_eq!(ids(&nl), ["NL/AAA/X", "NL/TNM/A", "NL/TNM/B"]);
    assert_eq!((nl["total"].clone(), text(&nl["kwh"])), (json!(3), "8".to_string()));
    let nl_tnm = list(&m, Some("NL"), Some("TNM"), 1, 100);
    assert_eq!(ids(&nl_tnm), ["NL/TNM/B"]);
    assert_eq!((nl_tnm["total"].clone(), text(&nl_tnm["kwh"]), text(&nl_tnm["cost"][0]["incl_vat"])), (json!(2), "5".to_string(), "2.42".to_string()));
    let tnm = list(&m, None, Some("TNM"), 0, 100);
    assert_eq!(ids(&tnm), ["BE/TNM/Q", "NL/TNM/A", "NL/TNM/B"]);
    assert_eq!(tnm["total"], 3);
    assert_eq!(list(&m, Some("FR"), None, 0, 100)["total"], 0);

    // Sessions of an EVSE by start time, then id.
    upsert(&mut m, vec![
        row("b", L1, "E1", "ACTIVE", "1", None, None, "EUR", "2026-11-30T10:00:00Z"),
        row("a", L1, "E1", "ACTIVE", "1", None, None, "EUR", "2026-11-30T11:00:00+01:00"),
        row("c", L1, "E1", "ACTIVE", "1", None, None, "EUR", "2026-11-30T09:30:00.5Z"),
    ])
    .unwrap();
    let d = detail(&m, L1).unwrap();
    let sessions: Vec<(&str, &str)> = d["evses"][0]["sessions"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap(), s["started_at"].as_str().unwrap())).collect();
    assert_eq!(sessions, [("c", "2026-11-30T09:30:00.5Z"), ("a", "2026-11-30T10:00:00Z"), ("b", "2026-11-30T10:00:00Z")]);
}

#[test]
fn a_bad_row_refuses_the_whole_call() {
    let mut m = Monitor::new();
    upsert(&mut m, vec![active("s1", L1, "E1", "1", "1", "1")]).unwrap();
    let cases: [(OwnedRow, &str); 9] = [
        (active("s2", L1, "E1", "-1", "1", "1"), "[1].kwh"),
        (active("s2", L1, "E1", "x", "1", "1"), "[1].kwh"),
        (active("s2", L1, "E1", "1", "1e16", "1"), "[1].cost_excl"),
        (active("s2", ("NLD", "TNM", "L"), "E1", "1", "1", "1"), "[1].country_code"),
        (active("s2", ("NL", "TN", "L"), "E1", "1", "1", "1"), "[1].party_id"),
        (active("", L1, "E1", "1", "1", "1"), "[1].session_id"),
        (row("s2", L1, "E1", "RUNNING", "1", None, None, "EUR", T0), "[1].status"),
        (row("s2", L1, "E1", "ACTIVE", "1", None, None, "EURO", T0), "[1].currency"),
        (row("s2", L1, "E1", "ACTIVE", "1", None, None, "EUR", "yesterday"), "[1].started_at"),
    ];
    for (bad, field) in cases {
        // The good first row of the call is not applied either.
        let err = upsert(&mut m, vec![active("s1", L1, "E1", "7", "1", "1"), bad]).unwrap_err();
        assert_eq!(err.field, field, "{err}");
    }
    assert_eq!(text(&detail(&m, L1).unwrap()["kwh"]), "1");
    let err = m.set_evse_status(vec![evse_status(L1, "E1", "AVAILABLE"), evse_status(L1, "E2", "FREE")]).unwrap_err();
    assert_eq!(err.field, "[1].status");
    assert_eq!(detail(&m, L1).unwrap()["evses"][0]["status"], "UNKNOWN");
}

#[test]
fn active_only_lists_the_locations_with_a_session() {
    let mut m = Monitor::new();
    // Six idle locations known by EVSE status only, around three with sessions.
    let idle = [("BE", "TNM", "I1"), ("NL", "TNM", "I2"), ("NL", "TNM", "I3"), ("NL", "AAA", "I4"), ("DE", "ABC", "I5"), ("NL", "TNM", "LOC9")];
    m.set_evse_status(idle.iter().map(|l| evse_status(*l, "E1", "AVAILABLE")).collect()).unwrap();
    m.set_evse_status(vec![evse_status(L1, "E9", "AVAILABLE")]).unwrap();
    upsert(&mut m, vec![
        active("s1", L1, "E1", "1.5", "1", "1.21"),
        active("s2", L1, "E2", "2", "1", "1.21"),
        active("s3", L2, "E1", "3", "2", "2.42"),
        active("s4", ("DE", "ABC", "Z"), "E1", "4", "3", "3.63"),
    ])
    .unwrap();
    assert_eq!(m.location_count(), 9);
    assert_eq!(m.active_location_count(), 3);

    let all = list(&m, None, None, 0, 100);
    let act = list_active(&m, None, None, 0, 100);
    assert_eq!(all["total"], 9);
    assert_eq!(ids(&act), ["DE/ABC/Z", "NL/TNM/LOC1", "NL/TNM/LOC2"]);
    assert_eq!((act["total"].clone(), act["active_sessions"].clone(), text(&act["kwh"])), (json!(3), json!(4), "10.5".to_string()));
    assert_eq!(act["cost"], json!([{"currency": "EUR", "excl_vat": 7, "incl_vat": 8.47}]));
    // The listed locations are the full ones: all their EVSEs, idle ones too.
    assert_eq!(act["locations"][1]["evses"], json!({"AVAILABLE": 1, "UNKNOWN": 2}));

    // Paging and filters apply to the active locations only.
    assert_eq!(ids(&list_active(&m, None, None, 1, 1)), ["NL/TNM/LOC1"]);
    assert_eq!(list_active(&m, None, None, 1, 1)["total"], 3);
    assert_eq!(ids(&list_active(&m, None, None, 3, 10)), Vec::<String>::new());
    let nl = list_active(&m, Some("NL"), None, 0, 100);
    assert_eq!((ids(&nl), nl["total"].clone(), text(&nl["kwh"])), (vec!["NL/TNM/LOC1".to_string(), "NL/TNM/LOC2".to_string()], json!(2), "6.5".to_string()));
    assert_eq!(list(&m, Some("NL"), None, 0, 100)["total"], 6);
    let abc = list_active(&m, None, Some("ABC"), 0, 100);
    assert_eq!((ids(&abc), abc["total"].clone()), (vec!["DE/ABC/Z".to_string()], json!(1)));
    assert_eq!(list_active(&m, Some("NL"), Some("AAA"), 0, 100)["total"], 0);
    assert_eq!(list_active(&m, Some("FR"), None, 0, 100)["total"], 0);

    // One of two sessions stopping keeps the location active; the last one takes it off the
    // active list, though it stays listed by its EVSE status.
    upsert(&mut m, vec![row("s1", L1, "E1", "COMPLETED", "2", None, None, "EUR", T0)]).unwrap();
    assert_eq!(list_active(&m, None, None, 0, 100)["total"], 3);
    upsert(&mut m, vec![row("s2", L1, "E2", "COMPLETED", "2", None, None, "EUR", T0)]).unwrap();
    let act = list_active(&m, None, None, 0, 100);
    assert_eq!(ids(&act), ["DE/ABC/Z", "NL/TNM/LOC2"]);
    assert_eq!((act["total"].clone(), act["active_sessions"].clone(), text(&act["kwh"])), (json!(2), json!(2), "7".to_string()));
    assert_eq!(list_active(&m, Some("NL"), Some("TNM"), 0, 100)["total"], 1);
    assert_eq!(list(&m, None, None, 0, 100)["total"], 9);
    // A session moving to another location moves the location's activity with it.
    upsert(&mut m, vec![active("s3", L1, "E1", "3", "2", "2.42")]).unwrap();
    assert_eq!(ids(&list_active(&m, None, None, 0, 100)), ["DE/ABC/Z", "NL/TNM/LOC1"]);
    // The last session anywhere: nothing active, the location without a status gone entirely.
    upsert(&mut m, vec![row("s3", L1, "E1", "COMPLETED", "3", None, None, "EUR", T0), row("s4", ("DE", "ABC", "Z"), "E1", "COMPLETED", "4", None, None, "EUR", T0)]).unwrap();
    assert_eq!(list_active(&m, None, None, 0, 100), json!({"total": 0, "active_sessions": 0, "kwh": 0, "cost": [], "locations": []}));
    assert_eq!(list_active(&m, Some("DE"), None, 0, 100)["total"], 0);
    assert_eq!(m.active_location_count(), 0);
    assert_eq!(list(&m, None, None, 0, 100)["total"], 7);
}
