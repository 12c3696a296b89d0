//! Per-session state: the header the app built at start (shared tariffs interned engine-wide),
//! the time zone, the fold of readings into periods, the latest event time and the status.

use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::periods::{Cutter, Fold, Reading};
use crate::datetime::Micros;
use crate::error::{InputError, from_json_error};
use crate::model::Version;
use crate::model::cdr::{Cdr, Period as CdrPeriod, Volumes};
use crate::pricing::{PricingOptions, parse_tz, select};
use crate::tariff::{Tariff, TariffSet};

/// The session header (contract §2), read once at start; raw JSON kept for copying out.
#[derive(Debug)]
pub struct Header {
    pub country_code: String,
    pub party_id: String,
    pub id: String,
    pub cdr_token: Box<str>,
    pub auth_method: String,
    pub authorization_reference: Option<String>,
    pub location_id: String,
    pub evse_uid: String,
    pub connector_id: String,
    pub meter_id: Option<String>,
    pub currency: String,
    pub time_zone: Tz,
    pub cdr_location: Box<str>,
}

#[derive(Deserialize)]
struct RawHeader<'a> {
    country_code: String,
    party_id: String,
    id: String,
    #[serde(borrow)]
    cdr_token: &'a RawValue,
    auth_method: String,
    authorization_reference: Option<String>,
    location_id: String,
    evse_uid: String,
    connector_id: String,
    meter_id: Option<String>,
    currency: String,
    time_zone: String,
    #[serde(borrow)]
    cdr_location: &'a RawValue,
    #[serde(borrow)]
    tariffs: Vec<&'a RawValue>,
}

/// The tariffs in force for sessions started with one header tariff list: compiled once, shared.
#[derive(Debug)]
pub struct TariffList {
    pub set: TariffSet,
    /// The header's `tariffs`, as a JSON array (copied into CDRs).
    pub raw: String,
}

#[derive(Deserialize)]
struct TariffKeyFields<'a> {
    #[serde(borrow)]
    country_code: Option<Cow<'a, str>>,
    #[serde(borrow)]
    party_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    last_updated: Option<Cow<'a, str>>,
}

/// (country_code, party_id, id, last_updated), or the document itself when it lacks one of them.
type TariffKey = String;

fn tariff_key(raw: &RawValue) -> TariffKey {
    match serde_json::from_str::<TariffKeyFields>(raw.get()) {
        Ok(TariffKeyFields { country_code: Some(c), party_id: Some(p), id: Some(i), last_updated: Some(u) }) => {
            format!("{c}\u{1f}{p}\u{1f}{i}\u{1f}{u}")
        }
        _ => raw.get().to_string(),
    }
}

/// Engine-wide tariff interning: 100,000 sessions share a handful of compiled tariffs.
#[derive(Debug, Default)]
pub struct Interner {
    tariffs: HashMap<TariffKey, Arc<Tariff>>,
    lists: HashMap<Vec<TariffKey>, Arc<TariffList>>,
}

impl Interner {
    fn list(&mut self, raws: &[&RawValue]) -> Result<Arc<TariffList>, InputError> {
        let keys: Vec<TariffKey> = raws.iter().map(|r| tariff_key(r)).collect();
        if let Some(l) = self.lists.get(&keys) {
            return Ok(l.clone());
        }
        let mut tariffs = Vec::with_capacity(raws.len());
        for (i, (raw, key)) in raws.iter().zip(&keys).enumerate() {
            let t = match self.tariffs.get(key) {
                Some(t) => t.clone(),
                None => {
                    let mut parsed = crate::model::tariff::parse_tariffs(raw.get().as_bytes(), false).map_err(|e| e.within(&format!("tariffs[{i}]")))?;
                    if parsed.len() != 1 {
                        return Err(InputError::new(format!("tariffs[{i}]"), "expected one Tariff object"));
                    }
                    let t = Arc::new(parsed.remove(0));
                    self.tariffs.insert(key.clone(), t.clone());
                    t
                }
            };
            tariffs.push((*t).clone());
        }
        let mut raw = String::from("[");
        for (i, r) in raws.iter().enumerate() {
            if i > 0 {
                raw.push(',');
            }
            raw.push_str(r.get());
        }
        raw.push(']');
        let list = Arc::new(TariffList { set: TariffSet::new(tariffs), raw });
        self.lists.insert(keys, list.clone());
        Ok(list)
    }

    /// Read a header: its fields, its time zone and its (interned) tariffs.
    pub fn header(&mut self, json: &[u8]) -> Result<(Header, Arc<TariffList>), InputError> {
        let raw: RawHeader = serde_json::from_slice(json).map_err(|e| {
            let mut err = from_json_error(&e);
            if err.field.is_empty() {
                // serde's derive names a missing field only in its message.
                err.message = err.message.trim_start_matches("invalid JSON: ").to_string();
            }
            err
        })?;
        let time_zone = parse_tz(&raw.time_zone).ok_or_else(|| InputError::new("time_zone", format!("unknown IANA time zone {:?}", raw.time_zone)))?;
        if raw.tariffs.is_empty() {
            return Err(InputError::new("tariffs", "a session needs at least one tariff to be priced"));
        }
        let list = self.list(&raw.tariffs)?;
        let header = Header {
            country_code: raw.country_code,
            party_id: raw.party_id,
            id: raw.id,
            cdr_token: raw.cdr_token.get().into(),
            auth_method: raw.auth_method,
            authorization_reference: raw.authorization_reference,
            location_id: raw.location_id,
            evse_uid: raw.evse_uid,
            connector_id: raw.connector_id,
            meter_id: raw.meter_id,
            currency: raw.currency,
            time_zone,
            cdr_location: raw.cdr_location.get().into(),
        };
        Ok((header, list))
    }

    /// Forget tariff lists no session uses any more (their compiled tariffs go with them).
    pub fn collect(&mut self) {
        self.lists.retain(|_, l| Arc::strong_count(l) > 1);
        let used: std::collections::HashSet<&TariffKey> = self.lists.keys().flatten().collect();
        self.tariffs.retain(|k, _| used.contains(k));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Completed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Completed => "COMPLETED",
        }
    }
}

/// One live session.
#[derive(Debug)]
pub struct Session {
    pub header: Box<Header>,
    pub tariffs: Arc<TariffList>,
    /// Index in `tariffs.set` of the tariff that prices this session.
    pub tariff: usize,
    pub cutter: Cutter,
    pub fold: Fold,
    pub latest: Micros,
    pub status: Status,
    pub end: Option<Micros>,
}

impl Session {
    /// A session started at `first` (its start reading); fails when no tariff of the header
    /// can price it.
    pub fn start(header: Header, tariffs: Arc<TariffList>, first: Reading, opts: &PricingOptions) -> Result<Self, InputError> {
        let tariff = session_tariff(&header, &tariffs.set, first.time, opts)?;
        let cutter = Cutter::new(tariffs.set.get(tariff), header.time_zone, first.time, first.wh);
        let latest = first.time;
        let fold = Fold::new(&cutter, first);
        Ok(Self { header: Box::new(header), tariffs, tariff, cutter, fold, latest, status: Status::Active, end: None })
    }

    pub fn tariff(&self) -> &Tariff {
        self.tariffs.set.get(self.tariff)
    }

    pub fn start_time(&self) -> Micros {
        self.cutter.start
    }

    /// Energy so far, kWh.
    pub fn kwh(&self) -> Decimal {
        let last = if self.status == Status::Completed { self.fold.closed.last().map_or(self.cutter.start_wh, |p| p.end_wh) } else { self.fold.open.at_wh };
        (last - self.cutter.start_wh) / Decimal::from(1000)
    }

    /// The CDR model of the session so far (closed periods, plus the open one while active),
    /// built from exactly the values written to JSON.
    pub fn priced_model(&self) -> Cdr<'_> {
        let tariff_id = Cow::Borrowed(self.tariff().id.as_str());
        let mut periods: Vec<CdrPeriod> = self.fold.closed.iter().map(|p| cdr_period(p, &tariff_id)).collect();
        if self.status == Status::Active {
            if let Some(open) = self.fold.open_period() {
                periods.push(cdr_period(&open, &tariff_id));
            }
        }
        Cdr {
            id: Some(Cow::Borrowed(self.header.id.as_str())),
            country_code: Some(Cow::Borrowed(self.header.country_code.as_str())),
            party_id: Some(Cow::Borrowed(self.header.party_id.as_str())),
            start: self.cutter.start,
            end: self.end.unwrap_or(self.latest),
            currency: Some(Cow::Borrowed(self.header.currency.as_str())),
            tariffs: Vec::new(),
            periods,
            time_zone: None,
            version: Version::V221,
            credit: false,
            warnings: Vec::new(),
        }
    }
}

/// A period's dimensions as written: ENERGY kWh, TIME or PARKING_TIME hours (6 decimals, so
/// pricing recovers the exact duration), MIN/MAX_POWER kW and MIN/MAX_CURRENT A when measured.
pub fn volumes(p: &super::periods::Period) -> Volumes {
    let hours = hours(p.end - p.start);
    let kw = |w: Option<Decimal>| w.map(|w| (w / Decimal::from(1000)).normalize());
    Volumes {
        energy: Some(p.kwh()),
        time: p.charging.then_some(hours),
        parking_time: (!p.charging).then_some(hours),
        min_power: kw(p.power.min),
        max_power: kw(p.power.max),
        min_current: p.current.min,
        max_current: p.current.max,
        ..Volumes::default()
    }
}

pub fn hours(micros: Micros) -> Decimal {
    (Decimal::from(micros) / Decimal::from(3_600_000_000i64)).round_dp(6).normalize()
}

fn cdr_period<'a>(p: &super::periods::Period, tariff_id: &Cow<'a, str>) -> CdrPeriod<'a> {
    CdrPeriod { start: p.start, tariff_id: Some(tariff_id.clone()), volumes: volumes(p) }
}

/// The tariff pricing's own rules choose for a session starting at `start` (§4.2).
fn session_tariff(h: &Header, set: &TariffSet, start: Micros, opts: &PricingOptions) -> Result<usize, InputError> {
    let probe = Cdr {
        id: None,
        country_code: Some(Cow::Borrowed(h.country_code.as_str())),
        party_id: Some(Cow::Borrowed(h.party_id.as_str())),
        start,
        end: start,
        currency: Some(Cow::Borrowed(h.currency.as_str())),
        tariffs: Vec::new(),
        periods: vec![CdrPeriod { start, tariff_id: None, volumes: Volumes::default() }],
        time_zone: None,
        version: Version::V221,
        credit: false,
        warnings: Vec::new(),
    };
    let order: Vec<&CdrPeriod> = probe.periods.iter().collect();
    let chosen = select::tariffs_for(&probe, &order, Some(set), opts, &mut Vec::new())?;
    let t = chosen.tariffs[0];
    Ok(set.iter().position(|s| std::ptr::eq(s, t)).expect("chosen from the set"))
}
