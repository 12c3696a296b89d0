//! Reader for OCPI Tariff JSON (2.1.1, 2.2.1 and 2.3.0 shapes) into `tariff::Tariff`.

use chrono::{NaiveDate, Weekday};
use rust_decimal::Decimal;
use serde::de::{Deserialize, Deserializer, Error as _, IgnoredAny};
use serde_json::value::RawValue;

use super::json::{Indexed, Str, ocpi_object};
use super::{Reading, ReservationKind, TariffDimension, TariffType, Version, enum_error};
use crate::error::{InputError, from_json_error};
use crate::number::{Num, parse_decimal};
use crate::tariff::restrictions::weekday_bit;
use crate::tariff::{Component, Element, PriceLimit, Restrictions, Tariff, TaxBasis};

ocpi_object! {
    pub struct RawTariff<'a> {
        "country_code" => country_code: Str<'a>,
        "party_id" => party_id: Str<'a>,
        "id" => id: Str<'a>,
        "currency" => currency: Str<'a>,
        "type" => tariff_type: Str<'a>,
        "tariff_alt_text" => alt_text: IgnoredAny,
        "tariff_alt_url" => alt_url: IgnoredAny,
        "min_price" => min_price: RawLimit<'a>,
        "max_price" => max_price: RawLimit<'a>,
        "elements" => elements: Indexed<RawElement<'a>>,
        "start_date_time" => start_date_time: Str<'a>,
        "end_date_time" => end_date_time: Str<'a>,
        "energy_mix" => energy_mix: IgnoredAny,
        "last_updated" => last_updated: Str<'a>,
        "tax_included" => tax_included: Str<'a>,
        "preauthorize_amount" => preauthorize_amount: IgnoredAny,
    }
}

ocpi_object! {
    /// 2.2.1 Price (`excl_vat`/`incl_vat`) or 2.3.0 PriceLimit (`before_taxes`/`after_taxes`).
    pub struct RawPrice<'a> {
        "excl_vat" => excl_vat: Num,
        "incl_vat" => incl_vat: Num,
        "before_taxes" => before_taxes: Num,
        "after_taxes" => after_taxes: Num,
        "taxes" => taxes: IgnoredAny,
    }
}

/// `min_price` / `max_price` as written: a Price object, or a bare number (not OCPI, but found
/// in the market and accepted by other pricers).
pub enum RawLimit<'a> {
    Price(RawPrice<'a>),
    Number(Decimal),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawLimit<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        let text = raw.get();
        if text.starts_with('{') {
            // A nested error keeps its path (`excl_vat…`); its position is dropped by `ctx`. Read
            // from bytes, not `from_str`: that would give the hot key reader of every document a
            // second caller, and LTO stops inlining it (+3% instructions per CDR).
            let price = serde_json::from_slice::<RawPrice<'de>>(text.as_bytes());
            return price.map(RawLimit::Price).map_err(|e| D::Error::custom(e.to_string()));
        }
        parse_decimal(text)
            .map(RawLimit::Number)
            .map_err(|_| D::Error::custom(format_args!("expected a Price object {{excl_vat, incl_vat}}, found {text}")))
    }
}

ocpi_object! {
    pub struct RawElement<'a> {
        "price_components" => price_components: Indexed<RawComponent<'a>>,
        "restrictions" => restrictions: RawRestrictions<'a>,
    }
}

ocpi_object! {
    pub struct RawComponent<'a> {
        "type" => dimension: Str<'a>,
        "price" => price: Num,
        "vat" => vat: Num,
        "step_size" => step_size: Num,
    }
}

ocpi_object! {
    pub struct RawRestrictions<'a> {
        "start_time" => start_time: Str<'a>,
        "end_time" => end_time: Str<'a>,
        "start_date" => start_date: Str<'a>,
        "end_date" => end_date: Str<'a>,
        "min_kwh" => min_kwh: Num,
        "max_kwh" => max_kwh: Num,
        "min_current" => min_current: Num,
        "max_current" => max_current: Num,
        "min_power" => min_power: Num,
        "max_power" => max_power: Num,
        "min_duration" => min_duration: Num,
        "max_duration" => max_duration: Num,
        "day_of_week" => day_of_week: Indexed<Str<'a>>,
        "reservation" => reservation: Str<'a>,
    }
}

/// Parse one tariff object or an array of them; `strict` refuses what is otherwise read with a
/// warning (see `Reading`).
pub fn parse_tariffs(json: &[u8], strict: bool) -> Result<Vec<Tariff>, InputError> {
    let first = json.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        let raws: Indexed<RawTariff> = serde_json::from_slice(json).map_err(|e| from_json_error(&e))?;
        raws.0
            .into_iter()
            .enumerate()
            .map(|(i, raw)| convert(raw, strict).map_err(|e| e.within(&format!("[{i}]"))))
            .collect()
    } else {
        let raw: RawTariff = serde_json::from_slice(json).map_err(|e| from_json_error(&e))?;
        Ok(vec![convert(raw, strict)?])
    }
}

fn req<'s, T>(v: &'s Option<T>, field: &str) -> Result<&'s T, InputError> {
    v.as_ref().ok_or_else(|| InputError::new(field, "required field is missing"))
}

pub fn convert(raw: RawTariff, strict: bool) -> Result<Tariff, InputError> {
    let mut reading = Reading::new(strict);
    let version = if raw.tax_included.is_some() {
        Version::V230
    } else if raw.country_code.is_none() && raw.party_id.is_none() {
        Version::V211
    } else {
        Version::V221
    };
    let mut warnings: Vec<String> = raw.unknown.iter().map(|k| format!("unknown field {k:?}")).collect();
    let id = req(&raw.id, "id")?.as_str().to_string();
    if id.is_empty() || id.len() > 36 {
        warnings.push(format!("id {id:?} is not 1 to 36 characters (CiString(36))"));
    }
    let currency = req(&raw.currency, "currency")?.as_str().to_string();
    if currency.len() != 3 {
        return Err(InputError::new("currency", format!("{currency:?} is not an ISO 4217 code")));
    }
    let tariff_type = match &raw.tariff_type {
        None => None,
        Some(s) => Some(TariffType::parse(s.as_str()).ok_or_else(|| {
            InputError::new(
                "type",
                enum_error("TariffType", s.as_str(), &["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]),
            )
        })?),
    };
    let tax = match raw.tax_included.as_ref().map(|s| s.as_str()) {
        None if version == Version::V211 => TaxBasis::ExcludedUnknownIfAbsent,
        None => TaxBasis::ExcludedVatOptional,
        Some("NO") => TaxBasis::Excluded,
        Some("YES") => TaxBasis::Included,
        Some("N/A") => TaxBasis::NotApplicable,
        Some(other) => return Err(InputError::new("tax_included", enum_error("TaxIncluded", other, &["YES", "NO", "N/A"]))),
    };
    let mut when = |v: &Option<Str>, field: &str| -> Result<Option<i64>, InputError> {
        v.as_ref().map(|s| reading.datetime(s.as_str(), field, || field.to_string())).transpose()
    };
    let start = when(&raw.start_date_time, "start_date_time")?;
    let end = when(&raw.end_date_time, "end_date_time")?;
    let raw_elements = req(&raw.elements, "elements")?;
    if raw_elements.0.is_empty() {
        return Err(InputError::new("elements", "a tariff needs at least one element"));
    }
    let mut elements = Vec::with_capacity(raw_elements.0.len());
    for (i, el) in raw_elements.0.iter().enumerate() {
        let path = format!("elements[{i}]");
        elements.push(convert_element(el, tax, &reading, &mut warnings, &path).map_err(|e| e.within(&path))?);
    }
    let min_price = limit(&raw.min_price, "min_price", &reading, &mut warnings)?;
    let max_price = limit(&raw.max_price, "max_price", &reading, &mut warnings)?;
    reading.finish(&mut warnings);
    let mut t = Tariff {
        id,
        country_code: raw.country_code.as_ref().map(|s| s.as_str().to_string()),
        party_id: raw.party_id.as_ref().map(|s| s.as_str().to_string()),
        currency,
        tariff_type,
        min_price,
        max_price,
        start,
        end,
        elements,
        version,
        warnings,
        compiled: Default::default(),
    };
    t.compile();
    Ok(t)
}

fn limit(p: &Option<RawLimit>, field: &str, reading: &Reading, warnings: &mut Vec<String>) -> Result<Option<PriceLimit>, InputError> {
    let p = match p {
        None => return Ok(None),
        Some(RawLimit::Price(p)) => p,
        Some(RawLimit::Number(n)) => {
            // The bare number is the part every Price has: excl_vat (2.2.1), before_taxes (2.3.0),
            // as 2.1.1 money numbers are amounts excl. VAT.
            let error = InputError::new(field, format!("expected a Price object {{excl_vat, incl_vat}}, found the bare number {n}"));
            reading.tolerate(warnings, "", error, "read as excl_vat (incl_vat not given)")?;
            return Ok(Some(PriceLimit { excl: *n, incl: None }));
        }
    };
    let excl = p.excl_vat.or(p.before_taxes).ok_or_else(|| {
        InputError::new(field, "needs excl_vat (2.2.1) or before_taxes (2.3.0)")
    })?;
    Ok(Some(PriceLimit { excl: excl.0, incl: p.incl_vat.or(p.after_taxes).map(|n| n.0) }))
}

fn convert_element(el: &RawElement, tax: TaxBasis, reading: &Reading, warnings: &mut Vec<String>, path: &str) -> Result<Element, InputError> {
    for k in &el.unknown {
        warnings.push(format!("{path}: unknown field {k:?}"));
    }
    let comps = req(&el.price_components, "price_components")?;
    if comps.0.is_empty() {
        return Err(InputError::new("price_components", "an element needs at least one price component"));
    }
    let restrictions = match &el.restrictions {
        Some(r) => convert_restrictions(r, warnings, path).map_err(|e| e.within("restrictions"))?,
        None => Restrictions::default(),
    };
    let mut components = Vec::with_capacity(comps.0.len());
    for (i, c) in comps.0.iter().enumerate() {
        let cpath = format!("price_components[{i}]");
        for k in &c.unknown {
            warnings.push(format!("{path}.{cpath}: unknown field {k:?}"));
        }
        let full = format!("{path}.{cpath}");
        let Some(comp) = convert_component(c, i, tax, reading, warnings, &full).map_err(|e| e.within(&cpath))? else { continue };
        if restrictions.reservation.is_some() && !matches!(comp.dimension, TariffDimension::Flat | TariffDimension::Time) {
            warnings.push(format!(
                "{path}.{cpath}: a reservation element may only hold FLAT and TIME components; {} is ignored there",
                comp.dimension.as_str()
            ));
        }
        components.push(comp);
    }
    Ok(Element { components, restrictions })
}

/// A price component; `None` for one of a dimension OCPI does not define (read leniently).
fn convert_component(
    c: &RawComponent,
    position: usize,
    tax: TaxBasis,
    reading: &Reading,
    warnings: &mut Vec<String>,
    path: &str,
) -> Result<Option<Component>, InputError> {
    let dim_text = req(&c.dimension, "type")?.as_str();
    let Some(dimension) = TariffDimension::parse(dim_text) else {
        let error = InputError::new("type", enum_error("TariffDimensionType", dim_text, &["ENERGY", "FLAT", "PARKING_TIME", "TIME"]));
        reading.tolerate(warnings, path, error, "this price component is ignored")?;
        return Ok(None);
    };
    let price = req(&c.price, "price")?.0;
    if price.is_sign_negative() && !price.is_zero() {
        warnings.push(format!("{path}: negative price {price}"));
    }
    let vat = c.vat.map(|n| n.0);
    if vat.is_some_and(|v| v.is_sign_negative() && !v.is_zero()) {
        return Err(InputError::new("vat", format!("VAT percentage {} is negative", vat.unwrap_or_default())));
    }
    let step_size = match c.step_size {
        None => {
            warnings.push(format!("{path}: step_size missing, taken as 1"));
            1
        }
        Some(Num(s)) => {
            if s.fract() != Decimal::ZERO || s.is_sign_negative() || s > Decimal::from(u32::MAX) {
                return Err(InputError::new("step_size", format!("{s} is not a non-negative integer")));
            }
            let s = u32::try_from(s.mantissa() / 10i128.pow(s.scale())).unwrap_or(u32::MAX);
            if s == 0 && dimension != TariffDimension::Flat {
                // Digest A-27: 0 only appears on FLAT in the spec; anywhere else, no rounding beyond 1 unit.
                warnings.push(format!("{path}: step_size 0 on {} taken as 1", dimension.as_str()));
                1
            } else {
                s
            }
        }
    };
    let position = u16::try_from(position).map_err(|_| InputError::new("", "more than 65535 price components"))?;
    Ok(Some(Component { dimension, price, vat, step_size, tax, position }))
}

fn convert_restrictions(r: &RawRestrictions, warnings: &mut Vec<String>, path: &str) -> Result<Restrictions, InputError> {
    for k in &r.unknown {
        warnings.push(format!("{path}.restrictions: unknown field {k:?}"));
    }
    let time = |v: &Option<Str>, field: &str| -> Result<Option<u32>, InputError> {
        v.as_ref().map(|s| parse_hhmm(s.as_str()).map_err(|m| InputError::new(field, m))).transpose()
    };
    let date = |v: &Option<Str>, field: &str| -> Result<Option<NaiveDate>, InputError> {
        v.as_ref()
            .map(|s| {
                NaiveDate::parse_from_str(s.as_str(), "%Y-%m-%d")
                    .map_err(|_| InputError::new(field, format!("{:?} is not a date YYYY-MM-DD", s.as_str())))
            })
            .transpose()
    };
    let secs = |v: &Option<Num>, field: &str| -> Result<Option<i64>, InputError> {
        v.map(|Num(d)| {
            if d.fract() != Decimal::ZERO || d.is_sign_negative() {
                Err(InputError::new(field, format!("{d} is not a whole number of seconds ≥ 0")))
            } else {
                i64::try_from(d.mantissa() / 10i128.pow(d.scale())).map_err(|_| InputError::new(field, "out of range"))
            }
        })
        .transpose()
    };
    let mut days = 0u8;
    if let Some(list) = &r.day_of_week {
        for (i, d) in list.0.iter().enumerate() {
            let w = parse_weekday(d.as_str()).ok_or_else(|| {
                InputError::new(
                    format!("day_of_week[{i}]"),
                    enum_error("DayOfWeek", d.as_str(), &["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]),
                )
            })?;
            days |= weekday_bit(w);
        }
    }
    let reservation = match &r.reservation {
        None => None,
        Some(s) => Some(ReservationKind::parse(s.as_str()).ok_or_else(|| {
            InputError::new("reservation", enum_error("ReservationRestrictionType", s.as_str(), &["RESERVATION", "RESERVATION_EXPIRES"]))
        })?),
    };
    Ok(Restrictions {
        start_time: time(&r.start_time, "start_time")?,
        end_time: time(&r.end_time, "end_time")?,
        start_date: date(&r.start_date, "start_date")?,
        end_date: date(&r.end_date, "end_date")?,
        min_kwh: r.min_kwh.map(|n| n.0),
        max_kwh: r.max_kwh.map(|n| n.0),
        min_current: r.min_current.map(|n| n.0),
        max_current: r.max_current.map(|n| n.0),
        min_power: r.min_power.map(|n| n.0),
        max_power: r.max_power.map(|n| n.0),
        min_duration: secs(&r.min_duration, "min_duration")?,
        max_duration: secs(&r.max_duration, "max_duration")?,
        days,
        reservation,
    })
}

/// `HH:MM`, 24 h clock (regex `([0-1][0-9]|2[0-3]):[0-5][0-9]`), as seconds after midnight.
pub fn parse_hhmm(s: &str) -> Result<u32, String> {
    let b = s.as_bytes();
    let ok = b.len() == 5 && b[2] == b':' && [0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit());
    let (h, m) = if ok {
        (u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0'), u32::from(b[3] - b'0') * 10 + u32::from(b[4] - b'0'))
    } else {
        (99, 99)
    };
    if h > 23 || m > 59 {
        return Err(format!("{s:?} is not a time HH:MM (00:00 to 23:59)"));
    }
    Ok(h * 3600 + m * 60)
}

fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "MONDAY" => Weekday::Mon,
        "TUESDAY" => Weekday::Tue,
        "WEDNESDAY" => Weekday::Wed,
        "THURSDAY" => Weekday::Thu,
        "FRIDAY" => Weekday::Fri,
        "SATURDAY" => Weekday::Sat,
        "SUNDAY" => Weekday::Sun,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datetime::parse_datetime;
    use crate::testutil::d;

    #[test]
    fn reads_a_221_tariff() {
        let t = &parse_tariffs(br#"{"country_code":"DE","party_id":"ALL","id":"14","currency":"EUR","type":"REGULAR",
            "elements":[{"price_components":[{"type":"TIME","price":1.00,"vat":20.0,"step_size":900}],
                         "restrictions":{"max_current":32.00}},
                        {"price_components":[{"type":"PARKING_TIME","price":5.0,"vat":10,"step_size":300}],
                         "restrictions":{"start_time":"09:00","end_time":"18:00","day_of_week":["MONDAY","FRIDAY"]}}],
            "last_updated":"2018-12-17T17:15:01Z","surprise":1}"#, false)
            .unwrap()[0];
        assert_eq!(t.version, Version::V221);
        assert_eq!(t.elements[0].components[0].price, d("1.00"));
        assert_eq!(t.elements[0].restrictions.max_current, Some(d("32")));
        assert_eq!(t.elements[1].restrictions.start_time, Some(9 * 3600));
        assert_eq!(t.compiled.day_edges, vec![0, 9 * 3600, 18 * 3600]);
        assert_eq!(t.compiled.candidates[2], vec![(1, 0)]);
        assert!(t.warnings.iter().any(|w| w.contains("surprise")));
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse_tariffs(br#"[{"id":"A","currency":"EUR","elements":[{"price_components":[{"type":"ENERGY","price":0.2,"step_size":1}]}]},
            {"id":"B","currency":"EUR","elements":[{"price_components":[{"type":"ENERGY","price":"abc","step_size":1}]}]}]"#, true)
            .unwrap_err();
        assert_eq!(err.field, "[1].elements[0].price_components[0].price");
        assert!(err.message.contains("expected a number"), "{err}");

        let err = parse_tariffs(br#"{"id":"A","currency":"EUR","elements":[{"price_components":[{"type":"KWH","price":0.2,"step_size":1}]}]}"#, true).unwrap_err();
        assert_eq!(err.field, "elements[0].price_components[0].type");

        let err = parse_tariffs(br#"{"id":"A","currency":"EUR","elements":[{"price_components":[{"type":"TIME","price":1,"step_size":1}],
            "restrictions":{"start_time":"24:00"}}]}"#, true).unwrap_err();
        assert_eq!(err.field, "elements[0].restrictions.start_time");

        let err = parse_tariffs(br#"{"id":"A","currency":"EUR","elements":[]}"#, true).unwrap_err();
        assert_eq!(err.field, "elements");
        let err = parse_tariffs(br#"{"id":"A","currency":"EUR""#, true).unwrap_err();
        assert!(err.message.starts_with("invalid JSON"), "{err}");
    }

    #[test]
    fn reads_what_other_pricers_accept_with_a_warning_and_refuses_it_when_strict() {
        let doc = br#"{"id":"A","currency":"EUR","min_price":0.5,"max_price":{"excl_vat":9,"incl_vat":10.5},
            "start_date_time":"2025-8-1T0:00:00Z",
            "elements":[{"price_components":[{"type":"CO2","price":1,"step_size":1},{"type":"ENERGY","price":0.2,"step_size":1}]},
                        {"price_components":[{"type":"PARKING_BLOCK","price":1,"step_size":1}]}]}"#;
        let t = &parse_tariffs(doc, false).unwrap()[0];
        assert_eq!(t.min_price, Some(PriceLimit { excl: d("0.5"), incl: None }));
        assert_eq!(t.max_price, Some(PriceLimit { excl: d("9"), incl: Some(d("10.5")) }));
        assert_eq!(t.start, parse_datetime("2025-08-01T00:00:00Z").ok());
        // The unknown component is left out, the others keep their document position.
        assert_eq!(t.elements[0].components.len(), 1);
        assert_eq!(t.elements[0].components[0].position, 1);
        assert!(t.elements[1].components.is_empty());
        assert_eq!(t.compiled.candidates[0], vec![(0, 0)]);
        let has = |s: &str| t.warnings.iter().any(|w| w.contains(s));
        assert!(has("min_price: expected a Price object {excl_vat, incl_vat}, found the bare number 0.5; read as excl_vat"), "{:?}", t.warnings);
        assert!(has("elements[0].price_components[0].type: unknown TariffDimensionType \"CO2\""), "{:?}", t.warnings);
        assert!(has("elements[1].price_components[0].type: unknown TariffDimensionType \"PARKING_BLOCK\""), "{:?}", t.warnings);
        assert!(has(r#"start_date_time: date-time "2025-8-1T0:00:00Z" lacks zero padding; read as 2025-08-01T00:00:00Z"#), "{:?}", t.warnings);

        let err = parse_tariffs(doc, true).unwrap_err();
        assert_eq!(err.field, "start_date_time");
        let padded = std::str::from_utf8(doc).unwrap().replace("2025-8-1T0:00:00Z", "2025-08-01T00:00:00Z");
        let err = parse_tariffs(padded.as_bytes(), true).unwrap_err();
        assert_eq!(err.field, "elements[0].price_components[0].type");
        let err = parse_tariffs(br#"{"id":"A","currency":"EUR","max_price":7,"elements":[{"price_components":[{"type":"TIME","price":1,"step_size":1}]}]}"#, true).unwrap_err();
        assert_eq!((err.field.as_str(), err.message.as_str()), ("max_price", "expected a Price object {excl_vat, incl_vat}, found the bare number 7"));
        // Neither reading accepts a limit that is no number at all, or a bad number inside a Price.
        for (doc, field) in [
            (&br#"{"id":"A","currency":"EUR","min_price":"cheap","elements":[{"price_components":[{"type":"TIME","price":1,"step_size":1}]}]}"#[..], "min_price"),
            (&br#"{"id":"A","currency":"EUR","min_price":{"excl_vat":"x"},"elements":[{"price_components":[{"type":"TIME","price":1,"step_size":1}]}]}"#[..], "min_price.excl_vat"),
        ] {
            assert_eq!(parse_tariffs(doc, false).unwrap_err().field, field);
        }
    }

    #[test]
    fn detects_versions() {
        let t = &parse_tariffs(br#"{"id":"12","currency":"CAD","country_code":"CA","party_id":"FLO","tax_included":"YES",
            "elements":[{"price_components":[{"type":"TIME","price":2.10,"step_size":1}]}],"last_updated":"2024-01-01T00:00:00Z"}"#, false).unwrap()[0];
        assert_eq!(t.version, Version::V230);
        assert_eq!(t.elements[0].components[0].tax, TaxBasis::Included);
        let t = &parse_tariffs(br#"{"id":"12","currency":"EUR","elements":[{"price_components":[{"type":"TIME","price":2,"step_size":1}]}]}"#, false).unwrap()[0];
        assert_eq!(t.version, Version::V211);
    }
}
