//! Charging events (contract §1): read from JSON Lines or a JSON array, every field validated
//! with a precise (field, message), and written back in a normal form (time in UTC `Z`, numbers
//! as exact decimals, defaults filled in, unknown fields kept as written).

use rayon::prelude::*;
use rust_decimal::Decimal;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt::{self, Write};

use crate::batch::split_lines;
use crate::datetime::{Micros, format_datetime, parse_datetime};
use crate::error::InputError;
use crate::model::json::Str;
use crate::number::abbreviate;
use crate::number::parse_decimal;
use crate::pricing::output::write_str;

/// Meter state of a reading: suspended = connected, not charging (parking time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeState {
    Charging,
    SuspendedEv,
    SuspendedEvse,
}

impl ChargeState {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "CHARGING" => Some(Self::Charging),
            "SUSPENDED_EV" => Some(Self::SuspendedEv),
            "SUSPENDED_EVSE" => Some(Self::SuspendedEvse),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Charging => "CHARGING",
            Self::SuspendedEv => "SUSPENDED_EV",
            Self::SuspendedEvse => "SUSPENDED_EVSE",
        }
    }

    pub fn is_charging(self) -> bool {
        self == Self::Charging
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Started,
    Meter,
    Stopped,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "session_started",
            Self::Meter => "meter",
            Self::Stopped => "session_stopped",
        }
    }

    /// Within one instant: a start first, a stop last.
    pub fn rank(self) -> u8 {
        match self {
            Self::Started => 0,
            Self::Meter => 1,
            Self::Stopped => 2,
        }
    }
}

/// The fields only a `session_started` has, in the order `EventBatch.starts` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartFields {
    pub fields: Vec<(&'static str, String)>,
}

/// One valid event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Position in the batch (records counted from 0, valid and invalid).
    pub index: usize,
    pub event_id: String,
    pub session_id: String,
    pub kind: EventType,
    pub time: Micros,
    pub meter_wh: Decimal,
    pub power_w: Option<Decimal>,
    pub current_a: Option<Decimal>,
    pub state: ChargeState,
    pub start: Option<Box<StartFields>>,
}

impl Event {
    pub fn time_text(&self) -> String {
        let mut s = String::with_capacity(24);
        format_datetime(self.time, &mut s);
        s
    }
}

/// An invalid record: its index, its `event_id` when readable, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    pub index: usize,
    pub event_id: Option<String>,
    pub error: InputError,
}

/// A batch read and validated: valid events (with their normal form) and invalid records.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    pub records: usize,
    pub events: Vec<Event>,
    /// Normal-form JSON of each valid event, aligned with `events`.
    pub normal: Vec<String>,
    pub errors: Vec<EventError>,
}

const TOKEN_TYPES: [&str; 4] = ["AD_HOC_USER", "APP_USER", "OTHER", "RFID"];
const AUTH_METHODS: [&str; 3] = ["AUTH_REQUEST", "COMMAND", "WHITELIST"];
const STATES: [&str; 3] = ["CHARGING", "SUSPENDED_EV", "SUSPENDED_EVSE"];
const TYPES: [&str; 3] = ["session_started", "meter", "session_stopped"];

/// Read a batch: a JSON array of events, or JSON Lines (one event per non-blank line). Records
/// are read in parallel (rayon), reported in input order.
pub fn parse_batch(buf: &[u8]) -> ParsedBatch {
    let first = buf.iter().find(|b| !b.is_ascii_whitespace());
    let records: Vec<&[u8]> = if first == Some(&b'[') {
        match serde_json::from_slice::<Vec<&RawValue>>(buf) {
            Ok(items) => items.into_iter().map(|i| i.get().as_bytes()).collect(),
            Err(e) => {
                let error = InputError::new("", format!("invalid JSON array: {e}"));
                return ParsedBatch { records: 1, errors: vec![EventError { index: 0, event_id: None, error }], ..Default::default() };
            }
        }
    } else {
        split_lines(buf, 1).into_iter().map(|(_, r)| r).collect()
    };
    let read: Vec<Result<(Event, String), EventError>> = records.par_iter().enumerate().with_min_len(256).map(|(i, r)| read_record(i, r)).collect();
    let mut out = ParsedBatch { records: records.len(), ..Default::default() };
    out.events.reserve(read.len());
    out.normal.reserve(read.len());
    for r in read {
        match r {
            Ok((event, normal)) => {
                out.events.push(event);
                out.normal.push(normal);
            }
            Err(e) => out.errors.push(e),
        }
    }
    out
}

fn read_record(index: usize, rec: &[u8]) -> Result<(Event, String), EventError> {
    let fields = read_fields(rec).map_err(|error| EventError { index, event_id: None, error })?;
    validate(index, &fields).map_err(|error| {
        let event_id = fields.iter().find(|(k, _)| k == "event_id").and_then(|(_, v)| plain_string(v));
        EventError { index, event_id, error }
    })
}

/// An object's members in order, values as raw JSON; a repeated key is refused.
fn read_fields(rec: &[u8]) -> Result<Vec<(Cow<'_, str>, &RawValue)>, InputError> {
    struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);
    impl<'de> serde::Deserialize<'de> for Members<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("an event object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                    let mut out: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::with_capacity(8);
                    while let Some(k) = map.next_key::<Str<'de>>()? {
                        if out.iter().any(|(seen, _)| *seen == k.0) {
                            return Err(de::Error::custom(format_args!("key {:?} appears more than once", k.0)));
                        }
                        let v: &'de RawValue = map.next_value()?;
                        out.push((k.0, v));
                    }
                    Ok(Members(out))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Members<'de>, A::Error> {
                    Err(de::Error::custom("expected an event object, found an array"))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_slice::<Members>(rec).map(|m| m.0).map_err(|e| {
        let text = e.to_string();
        let text = match text.rfind(" at line ") {
            Some(i) => &text[..i],
            None => &text,
        };
        if e.is_data() { InputError::new("", text.to_string()) } else { InputError::new("", format!("invalid JSON: {text}")) }
    })
}

/// A JSON string's value (None for any other JSON value).
fn plain_string(v: &RawValue) -> Option<String> {
    serde_json::from_str::<String>(v.get()).ok()
}

fn is_null(v: &RawValue) -> bool {
    v.get() == "null"
}

/// The known members of one event (absent or null = None).
#[derive(Default)]
struct Known<'a> {
    values: [Option<&'a RawValue>; KNOWN.len()],
}

const KNOWN: [&str; 17] = [
    "event_id",
    "session_id",
    "type",
    "time",
    "location_id",
    "evse_uid",
    "connector_id",
    "token_uid",
    "token_type",
    "meter_wh",
    "authorization_reference",
    "auth_method",
    "country_code",
    "party_id",
    "power_w",
    "current_a",
    "state",
];

impl<'a> Known<'a> {
    fn get(&self, name: &str) -> Option<&'a RawValue> {
        let i = KNOWN.iter().position(|k| *k == name).expect("a known field");
        self.values[i]
    }

    /// A string of `min..=max` characters; `Ok(None)` when absent.
    fn string(&self, name: &str, max: usize) -> Result<Option<String>, InputError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let s = serde_json::from_str::<String>(v.get()).map_err(|_| InputError::new(name, format!("expected a string, found {}", abbreviate(v.get()))))?;
        let n = s.chars().count();
        if n == 0 {
            return Err(InputError::new(name, "must not be empty"));
        }
        if n > max {
            return Err(InputError::new(name, format!("is {n} characters long; at most {max} allowed")));
        }
        Ok(Some(s))
    }

    fn required_string(&self, name: &str, max: usize) -> Result<String, InputError> {
        self.string(name, max)?.ok_or_else(|| InputError::new(name, "required field is missing"))
    }

    fn one_of(&self, name: &str, allowed: &[&'static str]) -> Result<Option<&'static str>, InputError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let s = serde_json::from_str::<String>(v.get()).map_err(|_| InputError::new(name, format!("expected a string, found {}", abbreviate(v.get()))))?;
        allowed
            .iter()
            .find(|a| **a == s)
            .copied()
            .map(Some)
            .ok_or_else(|| InputError::new(name, format!("unknown value {s:?}; expected one of {}", allowed.join(", "))))
    }

    /// A number (JSON number or numeric string), exact, ≥ 0.
    fn quantity(&self, name: &str) -> Result<Option<Decimal>, InputError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let text = v.get();
        if !(text.starts_with('"') || text.starts_with('-') || text.as_bytes()[0].is_ascii_digit()) {
            return Err(InputError::new(name, format!("expected a number, found {}", abbreviate(text))));
        }
        let d = parse_decimal(text).map_err(|m| InputError::new(name, m))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(InputError::new(name, format!("must be 0 or more, not {d}")));
        }
        Ok(Some(d.normalize()))
    }
}

/// Check one event and write its normal form.
fn validate(index: usize, fields: &[(Cow<'_, str>, &RawValue)]) -> Result<(Event, String), InputError> {
    let mut known = Known::default();
    let mut unknown: Vec<(&str, &RawValue)> = Vec::new();
    for (k, v) in fields {
        match KNOWN.iter().position(|n| *n == k.as_ref()) {
            Some(i) if !is_null(v) => known.values[i] = Some(v),
            Some(_) => {}
            None => unknown.push((k.as_ref(), v)),
        }
    }
    let event_id = known.required_string("event_id", 64)?;
    let session_id = known.required_string("session_id", 36)?;
    let kind = match known.one_of("type", &TYPES)?.ok_or_else(|| InputError::new("type", "required field is missing"))? {
        "session_started" => EventType::Started,
        "meter" => EventType::Meter,
        _ => EventType::Stopped,
    };
    let time_text = known.required_string("time", 64)?;
    let time = parse_datetime(&time_text).map_err(|_| InputError::new("time", format!("invalid RFC 3339 date-time {time_text:?}")))?;
    if !time_text.contains(['Z', 'z', '+']) && !time_text[10..].contains('-') {
        return Err(InputError::new("time", format!("date-time {time_text:?} has no offset; give Z or +hh:mm")));
    }
    let meter_wh = known.quantity("meter_wh")?.ok_or_else(|| InputError::new("meter_wh", "required field is missing"))?;
    let mut event = Event {
        index,
        event_id,
        session_id,
        kind,
        time,
        meter_wh,
        power_w: None,
        current_a: None,
        state: ChargeState::Charging,
        start: None,
    };
    match kind {
        EventType::Started => {
            let mut f: Vec<(&'static str, String)> = Vec::with_capacity(9);
            for name in ["location_id", "evse_uid", "connector_id", "token_uid"] {
                f.push((name, known.required_string(name, 36)?));
            }
            f.push(("token_type", known.one_of("token_type", &TOKEN_TYPES)?.unwrap_or("RFID").to_string()));
            if let Some(r) = known.string("authorization_reference", 36)? {
                f.push(("authorization_reference", r));
            }
            if let Some(m) = known.one_of("auth_method", &AUTH_METHODS)? {
                f.push(("auth_method", m.to_string()));
            }
            let cc = known.string("country_code", 2)?;
            let pid = known.string("party_id", 3)?;
            match (cc, pid) {
                (Some(cc), Some(pid)) => {
                    f.push(("country_code", cc));
                    f.push(("party_id", pid));
                }
                (Some(_), None) => return Err(InputError::new("party_id", "required with country_code")),
                (None, Some(_)) => return Err(InputError::new("country_code", "required with party_id")),
                (None, None) => {}
            }
            event.start = Some(Box::new(StartFields { fields: f }));
        }
        EventType::Meter => {
            event.power_w = known.quantity("power_w")?;
            event.current_a = known.quantity("current_a")?;
            if let Some(s) = known.one_of("state", &STATES)? {
                event.state = ChargeState::parse(s).expect("listed state");
            }
        }
        EventType::Stopped => {}
    }
    let normal = normal_form(&event, &unknown);
    Ok((event, normal))
}

fn normal_form(e: &Event, unknown: &[(&str, &RawValue)]) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"event_id\":");
    write_str(&mut s, &e.event_id);
    s.push_str(",\"session_id\":");
    write_str(&mut s, &e.session_id);
    let _ = write!(s, ",\"type\":\"{}\",\"time\":\"", e.kind.as_str());
    format_datetime(e.time, &mut s);
    let _ = write!(s, "\",\"meter_wh\":{}", e.meter_wh);
    if let Some(start) = &e.start {
        for (k, v) in &start.fields {
            let _ = write!(s, ",\"{k}\":");
            write_str(&mut s, v);
        }
    }
    if e.kind == EventType::Meter {
        if let Some(p) = e.power_w {
            let _ = write!(s, ",\"power_w\":{p}");
        }
        if let Some(c) = e.current_a {
            let _ = write!(s, ",\"current_a\":{c}");
        }
        let _ = write!(s, ",\"state\":\"{}\"", e.state.as_str());
    }
    for (k, v) in unknown {
        s.push(',');
        write_str(&mut s, k);
        s.push(':');
        s.push_str(v.get());
    }
    s.push('}');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::d;

    const START: &str = r#"{"event_id":"e1","session_id":"S1","type":"session_started","time":"2025-03-10T17:00:00+01:00","location_id":"L1","evse_uid":"E1","connector_id":"1","token_uid":"T1","meter_wh":"1000.50","extra":{"a":[1, 2]}}"#;

    #[test]
    fn reads_lines_and_arrays_into_normal_form() {
        let meter = r#"{"event_id":"e2","session_id":"S1","type":"meter","time":"2025-03-10T16:30:00Z","meter_wh":2000,"power_w":11000.0,"state":null}"#;
        let b = parse_batch(format!("{START}\n\n{meter}\n").as_bytes());
        assert_eq!(b.records, 2);
        assert!(b.errors.is_empty(), "{:?}", b.errors);
        assert_eq!(
            b.normal[0],
            r#"{"event_id":"e1","session_id":"S1","type":"session_started","time":"2025-03-10T16:00:00Z","meter_wh":1000.5,"location_id":"L1","evse_uid":"E1","connector_id":"1","token_uid":"T1","token_type":"RFID","extra":{"a":[1, 2]}}"#
        );
        assert_eq!(b.normal[1], r#"{"event_id":"e2","session_id":"S1","type":"meter","time":"2025-03-10T16:30:00Z","meter_wh":2000,"power_w":11000,"state":"CHARGING"}"#);
        assert_eq!(b.events[1].power_w, Some(d("11000")));
        // The normal form reads back to itself.
        let again = parse_batch(format!("[{},{}]", b.normal[0], b.normal[1]).as_bytes());
        assert_eq!(again.normal, b.normal);
    }

    fn field_of(rec: &str) -> (String, String) {
        let b = parse_batch(rec.as_bytes());
        assert_eq!(b.records, 1);
        let e = b.errors.first().unwrap_or_else(|| panic!("no error for {rec}"));
        (e.error.field.clone(), e.error.message.clone())
    }

    #[test]
    fn every_bad_field_is_named() {
        let base = r#""event_id":"e","session_id":"S","type":"meter","time":"2025-03-10T16:30:00Z","meter_wh":5"#;
        let ok = parse_batch(format!("{{{base}}}").as_bytes());
        assert!(ok.errors.is_empty());
        let cases: &[(&str, &str)] = &[
            (r#""event_id":"","#, "event_id"),
            (r#""event_id":7,"#, "event_id"),
            (r#""session_id":"0123456789012345678901234567890123456","#, "session_id"),
            (r#""type":"plug","#, "type"),
            (r#""time":"yesterday","#, "time"),
            (r#""time":"2025-03-10T16:30:00","#, "time"),
            (r#""meter_wh":-1,"#, "meter_wh"),
            (r#""meter_wh":"lots","#, "meter_wh"),
            (r#""meter_wh":true,"#, "meter_wh"),
            (r#""power_w":-5,"#, "power_w"),
            (r#""current_a":"x","#, "current_a"),
            (r#""state":"charging","#, "state"),
        ];
        for (override_, field) in cases {
            // Later keys win in our base, so put the bad one in place of the good one.
            let name = override_.split('"').nth(1).unwrap();
            let kept: Vec<&str> = base.split(',').filter(|p| !p.starts_with(&format!("\"{name}\""))).collect();
            let rec = format!("{{{}{}}}", override_, kept.join(","));
            assert_eq!(field_of(&rec).0, *field, "{rec}");
        }
        for missing in ["event_id", "session_id", "type", "time", "meter_wh"] {
            let kept: Vec<&str> = base.split(',').filter(|p| !p.starts_with(&format!("\"{missing}\""))).collect();
            let (f, m) = field_of(&format!("{{{}}}", kept.join(",")));
            assert_eq!((f.as_str(), m.as_str()), (missing, "required field is missing"));
        }
        let start = START.replace(r#""token_uid":"T1","#, r#""token_type":"CARD","#);
        assert_eq!(field_of(&start).0, "token_uid");
        let start = START.replace(r#""token_uid":"T1","#, r#""token_uid":"T1","token_type":"CARD","#);
        assert_eq!(field_of(&start).0, "token_type");
        let start = START.replace(r#""location_id":"L1","#, "");
        assert_eq!(field_of(&start).0, "location_id");
        let start = START.replace(r#""evse_uid":"E1","#, r#""evse_uid":"E1","auth_method":"MAGIC","#);
        assert_eq!(field_of(&start).0, "auth_method");
        let start = START.replace(r#""evse_uid":"E1","#, r#""evse_uid":"E1","country_code":"NL","#);
        assert_eq!(field_of(&start).0, "party_id");
        // A duplicate key, broken JSON and a non-object are refused whole.
        let (f, m) = field_of(&format!("{{{base},\"meter_wh\":6}}"));
        assert_eq!(f, "");
        assert!(m.contains("more than once"), "{m}");
        assert!(field_of("{\"event_id\":").1.starts_with("invalid JSON"));
        assert_eq!(parse_batch(b"[1]").errors[0].index, 0);
    }

    #[test]
    fn errors_keep_the_event_id() {
        let b = parse_batch(br#"{"event_id":"e9","session_id":"S","type":"meter","time":"x","meter_wh":1}"#);
        assert_eq!(b.errors[0].event_id.as_deref(), Some("e9"));
        assert_eq!(b.errors[0].error.field, "time");
    }
}
