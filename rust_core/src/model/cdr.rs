//! Reader for OCPI CDR JSON (2.2.1; 2.1.1 and 2.3.0 shapes converted on input) into `Cdr`.

use rust_decimal::Decimal;
use serde::de::{self, Deserialize, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

use super::json::{Indexed, Key, Str, ctx, ocpi_object};
use super::tariff::{RawTariff, convert as convert_tariff};
use super::{Reading, Version};
use crate::datetime::Micros;
use crate::error::{InputError, PATH_SEP, from_json_error};
use crate::number::Num;
use crate::tariff::Tariff;

mod scan;
pub(crate) use scan::raw_needs;

/// A CDR as the pricing engine needs it.
#[derive(Debug, Clone)]
pub struct Cdr<'a> {
    /// Absent only when read leniently (a CDR without `id` is still priced).
    pub id: Option<Cow<'a, str>>,
    pub country_code: Option<Cow<'a, str>>,
    pub party_id: Option<Cow<'a, str>>,
    pub start: Micros,
    pub end: Micros,
    pub currency: Option<Cow<'a, str>>,
    /// Tariffs embedded in the CDR (`tariffs`).
    pub tariffs: Vec<Tariff>,
    pub periods: Vec<Period<'a>>,
    /// IANA zone found in the document (2.1.1 `location.time_zone`, or a `time_zone` that some
    /// CPOs add to `cdr_location`).
    pub time_zone: Option<Cow<'a, str>>,
    pub version: Version,
    pub credit: bool,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Period<'a> {
    pub start: Micros,
    pub tariff_id: Option<Cow<'a, str>>,
    pub volumes: Volumes,
}

/// The dimensions of one charging period (CdrDimensionType), in their OCPI units.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Volumes {
    pub energy: Option<Decimal>,
    pub time: Option<Decimal>,
    pub parking_time: Option<Decimal>,
    pub reservation_time: Option<Decimal>,
    pub current: Option<Decimal>,
    pub min_current: Option<Decimal>,
    pub max_current: Option<Decimal>,
    pub power: Option<Decimal>,
    pub min_power: Option<Decimal>,
    pub max_power: Option<Decimal>,
}

ocpi_object! {
    struct RawCdr<'a> {
        "country_code" => country_code: Str<'a>,
        "party_id" => party_id: Str<'a>,
        "id" => id: Str<'a>,
        "start_date_time" => start_date_time: Str<'a>,
        "end_date_time" => end_date_time: Str<'a>,
        "stop_date_time" => stop_date_time: Str<'a>,
        "session_id" => session_id: IgnoredAny,
        "cdr_token" => cdr_token: IgnoredAny,
        "auth_id" => auth_id: IgnoredAny,
        "auth_method" => auth_method: IgnoredAny,
        "authorization_reference" => authorization_reference: IgnoredAny,
        "cdr_location" => cdr_location: RawLocation<'a>,
        "location" => location: RawLocation<'a>,
        "meter_id" => meter_id: IgnoredAny,
        "currency" => currency: Str<'a>,
        "tariffs" => tariffs: Indexed<RawTariff<'a>>,
        "charging_periods" => charging_periods: Indexed<RawPeriod<'a>>,
        "signed_data" => signed_data: IgnoredAny,
        "total_cost" => total_cost: PriceShape,
        "total_fixed_cost" => total_fixed_cost: IgnoredAny,
        "total_energy" => total_energy: IgnoredAny,
        "total_energy_cost" => total_energy_cost: IgnoredAny,
        "total_time" => total_time: IgnoredAny,
        "total_time_cost" => total_time_cost: IgnoredAny,
        "total_parking_time" => total_parking_time: IgnoredAny,
        "total_parking_cost" => total_parking_cost: IgnoredAny,
        "total_reservation_cost" => total_reservation_cost: IgnoredAny,
        "remark" => remark: IgnoredAny,
        "invoice_reference_id" => invoice_reference_id: IgnoredAny,
        "credit" => credit: bool,
        "credit_reference_id" => credit_reference_id: IgnoredAny,
        "home_charging_compensation" => home_charging_compensation: IgnoredAny,
        "last_updated" => last_updated: IgnoredAny,
    }
}

ocpi_object! {
    /// CdrLocation (2.2.1) or Location (2.1.1): only the time zone matters for pricing.
    struct RawLocation<'a> (quiet) {
        "time_zone" => time_zone: Str<'a>,
    }
}

ocpi_object! {
    struct RawPeriod<'a> {
        "start_date_time" => start_date_time: Str<'a>,
        "dimensions" => dimensions: Dimensions,
        "tariff_id" => tariff_id: Str<'a>,
    }
}

ocpi_object! {
    struct RawDimension<'a> {
        "type" => dimension: Key<'a>,
        "volume" => volume: Num,
    }
}

/// A period's `dimensions`, folded into `Volumes` while reading (no list of raw dimensions is
/// built: this runs for every period of every CDR). `notes` holds (dimension index, remark).
#[derive(Default)]
struct Dimensions {
    volumes: Volumes,
    count: usize,
    notes: Vec<(usize, String)>,
}

impl<'de> Deserialize<'de> for Dimensions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Dimensions;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of CdrDimension")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Dimensions, A::Error> {
                let mut out = Dimensions::default();
                loop {
                    let i = out.count;
                    let dim = match seq.next_element::<RawDimension<'de>>() {
                        Ok(Some(dim)) => dim,
                        Ok(None) => return Ok(out),
                        Err(e) => return Err(ctx(&format!("[{i}]"), e)),
                    };
                    out.count += 1;
                    out.add(i, &dim).map_err(|(field, msg)| A::Error::custom(format_args!("[{i}].{field}{PATH_SEP}{msg}")))?;
                }
            }
        }
        d.deserialize_seq(V)
    }
}

impl Dimensions {
    fn add(&mut self, i: usize, d: &RawDimension) -> Result<(), (&'static str, &'static str)> {
        for k in &d.unknown {
            self.notes.push((i, format!("unknown field {k:?}")));
        }
        let kind_key = d.dimension.as_ref().ok_or(("type", "required field is missing"))?;
        let volume = d.volume.ok_or(("volume", "required field is missing"))?.0;
        // Compared as raw bytes (no decoding pass); only reported text is decoded.
        let kind: &[u8] = &kind_key.0;
        let v = &mut self.volumes;
        let slot = match kind {
            b"ENERGY" => &mut v.energy,
            b"TIME" => &mut v.time,
            b"PARKING_TIME" => &mut v.parking_time,
            b"RESERVATION_TIME" => &mut v.reservation_time,
            b"CURRENT" => &mut v.current,
            b"MIN_CURRENT" => &mut v.min_current,
            b"MAX_CURRENT" => &mut v.max_current,
            b"POWER" => &mut v.power,
            b"MIN_POWER" => &mut v.min_power,
            b"MAX_POWER" => &mut v.max_power,
            // Informational (or 2.1.1 FLAT, which the tariff prices): not used for pricing.
            b"ENERGY_EXPORT" | b"ENERGY_IMPORT" | b"STATE_OF_CHARGE" | b"FLAT" => return Ok(()),
            other => {
                self.notes.push((i, format!("unknown dimension type {:?} ignored", String::from_utf8_lossy(other))));
                return Ok(());
            }
        };
        if let Some(prev) = slot {
            // Additive dimensions are summed; a repeated measurement keeps the later value.
            if matches!(kind, b"ENERGY" | b"TIME" | b"PARKING_TIME" | b"RESERVATION_TIME") {
                if let Some(sum) = volume.checked_add(*prev) {
                    *slot = Some(sum);
                }
            } else {
                *slot = Some(volume);
            }
            self.notes.push((i, format!("dimension {} given more than once", String::from_utf8_lossy(kind))));
        } else {
            *slot = Some(volume);
        }
        Ok(())
    }
}

/// The shape of `total_cost`, which tells the version: a number (2.1.1), `excl_vat` (2.2.1) or
/// `before_taxes` (2.3.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PriceShape {
    Number,
    ExclIncl,
    BeforeTaxes,
}

impl<'de> Deserialize<'de> for PriceShape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PriceShape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Price object or a number")
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<PriceShape, E> {
                Ok(PriceShape::Number)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<PriceShape, E> {
                Ok(PriceShape::Number)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<PriceShape, E> {
                Ok(PriceShape::Number)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PriceShape, A::Error> {
                let mut shape = PriceShape::ExclIncl;
                while let Some(k) = map.next_key::<Str<'de>>()? {
                    if k.as_str() == "before_taxes" {
                        shape = PriceShape::BeforeTaxes;
                    }
                    map.next_value::<IgnoredAny>()?;
                }
                Ok(shape)
            }
        }
        d.deserialize_any(V)
    }
}

/// Read one CDR document, accepting with a warning what other pricers accept (see `Reading`).
pub fn parse_cdr(json: &[u8]) -> Result<Cdr<'_>, InputError> {
    parse_cdr_with(json, false)
}

/// As `parse_cdr`; `strict` refuses what `parse_cdr` reads with a warning.
pub fn parse_cdr_with(json: &[u8], strict: bool) -> Result<Cdr<'_>, InputError> {
    // The scanner reads the common shape; anything else (errors included) is the serde reader's.
    let raw = match scan::raw_cdr(json) {
        Some(raw) => raw,
        None => serde_json::from_slice(json).map_err(|e| from_json_error(&e))?,
    };
    convert(raw, strict)
}

/// A required DateTime; `path` names it in a warning (the error names `field`, relative).
fn time_field(reading: &mut Reading, v: &Option<Str>, field: &str, path: impl FnOnce() -> String) -> Result<Micros, InputError> {
    let s = v.as_ref().ok_or_else(|| InputError::new(field, "required field is missing"))?;
    reading.datetime(s.as_str(), field, path)
}

fn convert(raw: RawCdr<'_>, strict: bool) -> Result<Cdr<'_>, InputError> {
    let mut reading = Reading::new(strict);
    let RawCdr { country_code, party_id, id, start_date_time, end_date_time, stop_date_time, cdr_location, location,
        currency, tariffs, charging_periods, total_cost, credit, auth_id, unknown, .. } = raw;
    let v211 = stop_date_time.is_some() || location.is_some() || auth_id.is_some() || total_cost == Some(PriceShape::Number);
    let version = if v211 {
        Version::V211
    } else if total_cost == Some(PriceShape::BeforeTaxes) {
        Version::V230
    } else {
        Version::V221
    };
    let mut warnings: Vec<String> = unknown.iter().map(|k| format!("unknown field {k:?}")).collect();
    if id.is_none() {
        let error = InputError::new("id", "required field is missing");
        reading.tolerate(&mut warnings, "", error, "priced without one (a batch names it by its line)")?;
    }
    let start = time_field(&mut reading, &start_date_time, "start_date_time", || "start_date_time".into())?;
    let end = if end_date_time.is_some() || stop_date_time.is_none() {
        time_field(&mut reading, &end_date_time, "end_date_time", || "end_date_time".into())?
    } else {
        time_field(&mut reading, &stop_date_time, "stop_date_time", || "stop_date_time".into())?
    };
    if end < start {
        return Err(InputError::new("end_date_time", "is before start_date_time"));
    }
    let raw_periods = charging_periods.ok_or_else(|| InputError::new("charging_periods", "required field is missing"))?;
    if raw_periods.0.is_empty() {
        return Err(InputError::new("charging_periods", "a CDR needs at least one charging period"));
    }
    let mut periods = Vec::with_capacity(raw_periods.0.len());
    for (i, p) in raw_periods.0.into_iter().enumerate() {
        periods.push(convert_period(p, &mut reading, &mut warnings, i).map_err(|e| e.within(&At("charging_periods", i).to_string()))?);
    }
    let mut embedded = Vec::new();
    if let Some(ts) = tariffs {
        for (i, t) in ts.0.into_iter().enumerate() {
            embedded.push(convert_tariff(t, strict).map_err(|e| e.within(&format!("tariffs[{i}]")))?);
        }
    }
    reading.finish(&mut warnings);
    let time_zone = cdr_location.and_then(|l| l.time_zone).or(location.and_then(|l| l.time_zone)).map(|s| s.0);
    Ok(Cdr {
        id: id.map(|s| s.0),
        country_code: country_code.map(|s| s.0),
        party_id: party_id.map(|s| s.0),
        start,
        end,
        currency: currency.map(|s| s.0),
        tariffs: embedded,
        periods,
        time_zone,
        version,
        credit: credit.unwrap_or(false),
        warnings,
    })
}

fn convert_period<'a>(p: RawPeriod<'a>, reading: &mut Reading, warnings: &mut Vec<String>, index: usize) -> Result<Period<'a>, InputError> {
    // Paths are built only when something is reported: this runs for every period of every CDR.
    let path = At("charging_periods", index);
    for k in &p.unknown {
        warnings.push(format!("{path}: unknown field {k:?}"));
    }
    let start = time_field(reading, &p.start_date_time, "start_date_time", || format!("{path}.start_date_time"))?;
    let dims = p.dimensions.ok_or_else(|| InputError::new("dimensions", "required field is missing"))?;
    if dims.count == 0 {
        warnings.push(format!("{path}: no dimensions"));
    }
    for (i, note) in &dims.notes {
        warnings.push(format!("{path}.{}: {note}", At("dimensions", *i)));
    }
    Ok(Period { start, tariff_id: p.tariff_id.map(|s| s.0), volumes: dims.volumes })
}

/// `name[index]`, formatted only when a path is reported.
struct At(&'static str, usize);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::d;

    #[test]
    fn reads_221_and_211_shapes() {
        let c = parse_cdr(br#"{"id":"C1","start_date_time":"2024-01-01T10:00:00Z","end_date_time":"2024-01-01T11:00:00Z",
            "currency":"EUR","total_cost":{"excl_vat":1},"cdr_location":{"id":"L","country":"NLD"},
            "charging_periods":[{"start_date_time":"2024-01-01T10:00:00Z","tariff_id":"T",
              "dimensions":[{"type":"ENERGY","volume":12.345},{"type":"TIME","volume":1},{"type":"MAX_POWER","volume":22}]}]}"#)
            .unwrap();
        assert_eq!(c.version, Version::V221);
        assert_eq!(c.periods[0].volumes.energy, Some(d("12.345")));
        assert_eq!(c.periods[0].volumes.max_power, Some(d("22")));
        assert_eq!(c.periods[0].tariff_id.as_deref(), Some("T"));

        let c = parse_cdr(br#"{"id":"C2","start_date_time":"2024-01-01T10:00:00Z","stop_date_time":"2024-01-01T11:00:00Z",
            "auth_id":"X","location":{"id":"L","time_zone":"Europe/Amsterdam"},"currency":"EUR","total_cost":1.5,
            "charging_periods":[{"start_date_time":"2024-01-01T10:00:00Z","dimensions":[{"type":"FLAT","volume":1},{"type":"TIME","volume":1}]}]}"#)
            .unwrap();
        assert_eq!(c.version, Version::V211);
        assert_eq!(c.time_zone.as_deref(), Some("Europe/Amsterdam"));
        assert_eq!(c.end - c.start, 3_600_000_000);
    }

    #[test]
    fn reads_a_cdr_without_id_and_unpadded_dates_with_warnings_or_refuses_them_when_strict() {
        let doc = br#"{"start_date_time":"2025-8-13T21:07:50.029Z","end_date_time":"2025-8-13T23:00:00Z",
            "charging_periods":[{"start_date_time":"2025-8-13T21:07:50.029Z","dimensions":[{"type":"ENERGY","volume":1}]},
                                {"start_date_time":"2025-8-13T22:00:00Z","dimensions":[{"type":"ENERGY","volume":1}]}]}"#;
        let c = parse_cdr(doc).unwrap();
        assert_eq!(c.id, None);
        assert_eq!(c.start, crate::datetime::parse_datetime("2025-08-13T21:07:50.029Z").unwrap());
        assert_eq!(c.periods[1].start, crate::datetime::parse_datetime("2025-08-13T22:00:00Z").unwrap());
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("id: required field is missing; priced without one"), "{:?}", c.warnings);
        // One warning for all four date-times, naming the first.
        assert_eq!(
            c.warnings[1],
            r#"start_date_time: date-time "2025-8-13T21:07:50.029Z" lacks zero padding; read as 2025-08-13T21:07:50.029Z (3 more date-times like it)"#
        );

        assert_eq!(parse_cdr_with(doc, true).unwrap_err().field, "id");
        let with_id = [&br#"{"id":"C","#[..], &doc[1..]].concat();
        assert_eq!(parse_cdr_with(&with_id, true).unwrap_err().field, "start_date_time");
        let padded_start = String::from_utf8(with_id).unwrap().replacen("2025-8-13T21:07:50.029Z", "2025-08-13T21:07:50.029Z", 1).replace("2025-8-13T23", "2025-08-13T23");
        let e = parse_cdr_with(padded_start.as_bytes(), true).unwrap_err();
        assert_eq!(e.field, "charging_periods[0].start_date_time");
        let c = parse_cdr(padded_start.as_bytes()).unwrap();
        assert!(c.warnings[0].starts_with(r#"charging_periods[0].start_date_time: date-time "2025-8-13T21:07:50.029Z" lacks zero padding"#), "{:?}", c.warnings);
    }

    #[test]
    fn errors_carry_paths() {
        let e = parse_cdr(br#"{"id":"C","start_date_time":"2024-01-01T10:00:00Z","end_date_time":"2024-01-01T11:00:00Z",
            "charging_periods":[{"start_date_time":"2024-01-01T10:00:00Z","dimensions":[{"type":"ENERGY","volume":"x"}]}]}"#)
            .unwrap_err();
        assert_eq!(e.field, "charging_periods[0].dimensions[0].volume");
        let e = parse_cdr(br#"{"id":"C","start_date_time":"2024-01-01T10:00:00Z","end_date_time":"yesterday","charging_periods":[]}"#).unwrap_err();
        assert_eq!(e.field, "end_date_time");
        let e = parse_cdr(br#"{"id":"C","start_date_time":"2024-01-01T10:00:00Z","end_date_time":"2024-01-01T09:00:00Z","charging_periods":[]}"#).unwrap_err();
        assert_eq!(e.field, "end_date_time");
        let e = parse_cdr(br#"{"id":"C","start_date_time":"2024-01-01T10:00:00Z","end_date_time":"2024-01-01T11:00:00Z","charging_periods":[]}"#).unwrap_err();
        assert_eq!(e.field, "charging_periods");
    }
}
