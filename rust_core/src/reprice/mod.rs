//! Re-rating stored CDRs (issue 10): the per-CDR preparation the CDR check does in Python
//! (`app/checks/compare.py prepare`: our tariff versions in place of the embedded ones, our time zone in
//! place of the CPO's) done on the parsed CDR, in parallel, with the existing pricer.
//!
//! `scan` reads what choosing tariff versions needs (party, session start, the tariff ids, the Location id,
//! the CPO's total) without building the CDR; `price_one` prices a CDR with the versions it was given;
//! `stored_batch` runs a whole batch from COPY rows to COPY rows.

pub mod stored_batch;

use rust_decimal::Decimal;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::{InputError, from_json_error};
use crate::model::Version;
use crate::model::json::{Str, ocpi_object};
use crate::number::Num;
use crate::pricing::{PricingOptions, output};
use crate::tariff::TariffSet;

/// What choosing a stored CDR's tariff versions needs, read without building the CDR.
#[derive(Debug, Clone, PartialEq)]
pub struct Needs {
    pub country_code: String,
    pub party_id: String,
    /// `start_date_time` as written (the caller reads it as it reads every date).
    pub start: String,
    /// As `compare.needed_tariffs`: the ids the charging periods name, else those of the embedded
    /// tariffs; upper-cased, first occurrence kept.
    pub tariff_ids: Vec<String>,
    /// `cdr_location.id`, the key (with the party) of our copy of the Location.
    pub location_id: Option<String>,
    pub currency: Option<String>,
    /// The CPO's `total_cost`: excl_vat of a Price, or the number (2.1.1).
    pub old_total: Option<Decimal>,
}

ocpi_object! {
    struct ScanCdr<'a> (quiet) {
        "country_code" => country_code: Str<'a>,
        "party_id" => party_id: Str<'a>,
        "start_date_time" => start_date_time: Str<'a>,
        "cdr_location" => cdr_location: IdOf<'a>,
        "currency" => currency: Str<'a>,
        "tariffs" => tariffs: Vec<IdOf<'a>>,
        "charging_periods" => charging_periods: Vec<TariffIdOf<'a>>,
        "total_cost" => total_cost: Total,
    }
}

ocpi_object! {
    struct IdOf<'a> (quiet) {
        "id" => id: Str<'a>,
    }
}

ocpi_object! {
    struct TariffIdOf<'a> (quiet) {
        "tariff_id" => tariff_id: Str<'a>,
    }
}

/// `total_cost`: a Price's `excl_vat`, or a bare number.
struct Total(Option<Decimal>);

impl<'de> Deserialize<'de> for Total {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Total;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Price object or a number")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Total, A::Error> {
                let mut excl = None;
                while let Some(k) = map.next_key::<Str<'de>>()? {
                    if k.as_str() == "excl_vat" {
                        excl = map.next_value::<Option<Num>>()?.map(|n| n.0);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Total(excl))
            }
        }
        let raw = <&serde_json::value::RawValue>::deserialize(d)?;
        let text = raw.get();
        if text.starts_with('{') {
            let mut de = serde_json::Deserializer::from_str(text);
            de.deserialize_map(V).map_err(de::Error::custom)
        } else {
            Ok(Total(serde_json::from_str::<Num>(text).ok().map(|n| n.0)))
        }
    }
}

/// As `compare.needed_tariffs`: the ids the charging periods name, else those of the embedded tariffs;
/// upper-cased, first occurrence kept.
fn tariff_ids<'s>(periods: impl Iterator<Item = &'s str>, embedded: impl Iterator<Item = &'s str>) -> Vec<String> {
    fn add<'s>(ids: &mut Vec<String>, from: impl Iterator<Item = &'s str>) {
        for id in from {
            // Most periods repeat an id already seen: compare before allocating its upper case.
            if id.is_empty() || (id.is_ascii() && ids.iter().any(|x| x.eq_ignore_ascii_case(id))) {
                continue;
            }
            let up = id.to_uppercase();
            if !ids.contains(&up) {
                ids.push(up);
            }
        }
    }
    let mut ids: Vec<String> = Vec::with_capacity(1);
    add(&mut ids, periods);
    if ids.is_empty() {
        add(&mut ids, embedded);
    }
    ids
}

pub(crate) fn needs_of(doc: &[u8]) -> Result<Needs, InputError> {
    if let Some(raw) = crate::model::cdr::raw_needs(doc) {
        return Ok(Needs {
            tariff_ids: tariff_ids(raw.period_tariffs.iter().map(Str::as_str), raw.embedded_tariffs.iter().map(Str::as_str)),
            country_code: raw.country_code.0.into_owned(),
            party_id: raw.party_id.0.into_owned(),
            start: raw.start_date_time.0.into_owned(),
            location_id: raw.location_id.map(|s| s.0.into_owned()),
            currency: raw.currency.map(|s| s.0.into_owned()),
            old_total: raw.total,
        });
    }
    needs_by_serde(doc)
}

/// The serde scan: every document the one-pass scanner leaves, and every error.
fn needs_by_serde(doc: &[u8]) -> Result<Needs, InputError> {
    let raw: ScanCdr = serde_json::from_slice(doc).map_err(|e| from_json_error(&e))?;
    let text = |v: Option<Str>, field: &str| v.map(|s| s.0.into_owned()).ok_or_else(|| InputError::new(field, "required field is missing"));
    // Shapes the full reader refuses (a period that is not an object, a tariff_id that is not a string) fail
    // the scan too: the CDR cannot be priced either way.
    let periods = raw.charging_periods.iter().flatten().filter_map(|p| p.tariff_id.as_ref().map(Str::as_str));
    let embedded = raw.tariffs.iter().flatten().filter_map(|t| t.id.as_ref().map(Str::as_str));
    Ok(Needs {
        tariff_ids: tariff_ids(periods, embedded),
        country_code: text(raw.country_code, "country_code")?,
        party_id: text(raw.party_id, "party_id")?,
        start: text(raw.start_date_time, "start_date_time")?,
        location_id: raw.cdr_location.and_then(|l| l.id).map(|s| s.0.into_owned()),
        currency: raw.currency.map(|s| s.0.into_owned()),
        old_total: raw.total_cost.and_then(|t| t.0),
    })
}

/// One stored CDR to price: the indexes (into the `TariffSet` of versions) of our tariff versions that
/// replace its embedded tariffs, and our time zone for it (None: we hold no Location for it).
pub struct Stored<'a> {
    pub doc: &'a [u8],
    pub versions: Vec<usize>,
    pub time_zone: Option<&'a str>,
}

/// What the results table needs of a priced CDR.
#[derive(Debug, Clone, PartialEq)]
pub struct Repriced {
    /// `total_cost` excl. VAT as the result JSON gives it (None for the 2.3.0 shape, which has no excl_vat).
    pub total: Option<Decimal>,
    pub total_incl: Option<Decimal>,
    /// The result JSON (with the breakdown when `opts.breakdown`), when asked for.
    pub line: Option<String>,
}

pub(crate) fn price_one(job: &Stored, versions: &TariffSet, opts: &PricingOptions, with_line: bool) -> Result<Repriced, InputError> {
    let mut cdr = crate::model::cdr::parse_cdr_with(job.doc, opts.strict)?;
    // As `compare.prepare`: our versions replace whatever the CPO embedded, our zone replaces the CPO's
    // `cdr_location.time_zone` (a 2.1.1 `location.time_zone` stays when we have none).
    cdr.tariffs = job.versions.iter().map(|&i| versions.get(i).clone()).collect();
    match job.time_zone {
        Some(tz) if !tz.is_empty() => cdr.time_zone = Some(Cow::Borrowed(tz)),
        _ if cdr.version != Version::V211 => cdr.time_zone = None,
        _ => {}
    }
    let priced = crate::pricing::price(&cdr, None, opts)?;
    let r = opts.rounding;
    let (total, total_incl) = match priced.version {
        Version::V211 => (Some(r.apply(priced.total_cost.excl)), None),
        Version::V221 => (Some(r.apply(priced.total_cost.excl)), priced.total_cost.incl().map(|v| r.apply(v))),
        Version::V230 => (None, None),
    };
    let line = with_line.then(|| {
        let mut out = String::with_capacity(1024);
        output::write_result(&priced, opts, &mut out);
        out
    });
    Ok(Repriced { total, total_incl, line })
}

/// A panic on one record becomes its error.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, InputError>) -> Result<T, InputError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| Err(InputError::new("", "internal error while pricing this record")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const TARIFF: &str = r#"{"country_code":"NL","party_id":"EXA","id":"T1","currency":"EUR","last_updated":"2025-01-01T00:00:00Z","elements":[{"price_components":[{"type":"ENERGY","price":0.5,"vat":10,"step_size":1}]}]}"#;
    pub(crate) const CDR: &str = r#"{"country_code":"nl","party_id":"EXA","id":"C1","start_date_time":"2025-06-02T10:00:00Z","end_date_time":"2025-06-02T11:00:00Z","currency":"EUR","cdr_location":{"id":"L1","time_zone":"Mars/Base"},"tariffs":[{"id":"EMBEDDED","currency":"EUR","elements":[{"price_components":[{"type":"ENERGY","price":9,"step_size":1}]}]}],"charging_periods":[{"start_date_time":"2025-06-02T10:00:00Z","tariff_id":"t1","dimensions":[{"type":"ENERGY","volume":4}]},{"start_date_time":"2025-06-02T10:30:00Z","tariff_id":"T1","dimensions":[{"type":"ENERGY","volume":2}]}],"total_cost":{"excl_vat":3.5,"incl_vat":3.85},"total_energy":6,"total_time":1}"#;

    #[test]
    fn scan_reads_what_choosing_versions_needs() {
        let docs: [&[u8]; 3] = [CDR.as_bytes(), b"{", br#"{"country_code":"NL","party_id":"X","start_date_time":"s","tariffs":[{"id":"a"},{"x":1}],"total_cost":2}"#];
        let needs: Vec<_> = docs.iter().map(|d| needs_of(d)).collect();
        let n = needs[0].as_ref().unwrap();
        assert_eq!((n.country_code.as_str(), n.party_id.as_str(), n.start.as_str()), ("nl", "EXA", "2025-06-02T10:00:00Z"));
        assert_eq!(n.tariff_ids, vec!["T1".to_string()]);
        assert_eq!((n.location_id.as_deref(), n.currency.as_deref()), (Some("L1"), Some("EUR")));
        assert_eq!(n.old_total, Some(Decimal::new(35, 1)));
        assert!(needs[1].is_err());
        let n = needs[2].as_ref().unwrap();
        assert_eq!((n.tariff_ids.clone(), n.old_total), (vec!["A".to_string()], Some(Decimal::from(2))));
    }

    #[test]
    fn the_one_pass_scan_agrees_with_the_serde_scan() {
        let mut docs: Vec<String> = vec![CDR.to_string()];
        let variants: [(&str, &str); 12] = [
            (r#""total_cost":{"excl_vat":3.5,"incl_vat":3.85}"#, r#""total_cost":7"#),
            (r#""total_cost":{"excl_vat":3.5,"incl_vat":3.85}"#, r#""total_cost":{"excl_vat":null}"#),
            (r#""total_cost":{"excl_vat":3.5,"incl_vat":3.85}"#, r#""total_cost":{"excl_vat":"3.5"}"#),
            (r#""tariff_id":"t1""#, r#""tariff_id":null"#),
            (r#""tariff_id":"t1""#, r#""tariff_id":"t\u0031""#),
            (r#""tariff_id":"t1""#, r#""tariff_id":7"#),
            (r#""cdr_location":{"id":"L1","#, r#""cdr_location":{"id":"L1","id":"L2","#),
            (r#""cdr_location":{"id":"L1","#, r#""cdr_location":{"#),
            (r#""country_code":"nl","#, ""),
            (r#""country_code":"nl","#, r#""country_code":"nl","country_code":"de","#),
            (r#""charging_periods":["#, r#""charging_periods":[7,"#),
            (r#""currency":"EUR","#, r#""currency":"EUR","extra":{"a":[1,{"b":"\"x]}\\"},-2.5e3,true,null]},"#),
        ];
        for (from, to) in variants {
            assert!(CDR.contains(from), "{from}");
            docs.push(CDR.replacen(from, to, 1));
        }
        docs.push(CDR.replace(r#""charging_periods":[{"start_date_time":"2025-06-02T10:00:00Z","tariff_id":"t1","dimensions":[{"type":"ENERGY","volume":4}]},{"start_date_time":"2025-06-02T10:30:00Z","tariff_id":"T1","dimensions":[{"type":"ENERGY","volume":2}]}]"#, r#""charging_periods":[]"#));
        docs.push(format!("{CDR} x"));
        let mut fast = 0;
        for doc in &docs {
            let serde = needs_by_serde(doc.as_bytes()).map_err(|e| e.to_string());
            if crate::model::cdr::raw_needs(doc.as_bytes()).is_some() {
                fast += 1;
            }
            assert_eq!(needs_of(doc.as_bytes()).map_err(|e| e.to_string()), serde, "{doc}");
        }
        assert!(fast >= 6, "the one-pass scan read {fast} of {} documents", docs.len());
        // Values it does not keep are not checked here (the CDR is checked in full when priced).
        let broken = CDR.replacen(r#""currency":"EUR","#, r#""currency":"EUR","extra":tru,"#, 1);
        assert!(needs_by_serde(broken.as_bytes()).is_err() && needs_of(broken.as_bytes()).is_ok());
        for cut in [10, 200, CDR.len() - 1] {
            assert!(needs_of(&CDR.as_bytes()[..cut]).is_err(), "a document cut at {cut}");
        }
        assert!(needs_of(br#"{"country_code":"NL","x":"ab\"#).is_err());
    }

    #[test]
    fn our_versions_and_zone_replace_the_embedded_ones() {
        let set = TariffSet::from_json(format!("[{TARIFF}]").as_bytes()).unwrap();
        let opts = PricingOptions { breakdown: true, ..Default::default() };
        let jobs = [
            Stored { doc: CDR.as_bytes(), versions: vec![0], time_zone: Some("Europe/Amsterdam") },
            Stored { doc: CDR.as_bytes(), versions: vec![], time_zone: None },
        ];
        let price_all = |jobs: &[Stored], opts: &PricingOptions, lines: bool| -> Vec<_> { jobs.iter().map(|j| price_one(j, &set, opts, lines)).collect() };
        let out = price_all(&jobs, &opts, true);
        let ok = out[0].as_ref().unwrap();
        assert_eq!((ok.total, ok.total_incl), (Some(Decimal::from(3)), Some(Decimal::new(33, 1))));
        assert!(ok.line.as_deref().unwrap().contains(r#""periods":[{"charging_period":0"#));
        let bare = price_all(&jobs[..1], &PricingOptions { breakdown: false, ..opts }, false);
        assert_eq!(bare[0].as_ref().unwrap(), &Repriced { line: None, ..ok.clone() });
        assert!(out[1].is_err(), "no version of T1 given: the embedded EMBEDDED does not price it");
    }
}
