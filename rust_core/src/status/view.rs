//! The views as JSON: the location list (one page) and one location in detail.

use std::fmt::Write;
use std::ops::Bound;

use super::totals::write_decimal;
use super::{Location, LocationKey, Monitor, Session};
use crate::datetime::format_datetime;
use crate::pricing::output::write_str;

impl Monitor {
    /// One page of the location list, sorted by (country_code, party_id, location_id), optionally
    /// only one country and/or party, and with `active_only` only the locations holding an active
    /// session:
    /// `{"total","active_sessions","kwh","cost":[{"currency","excl_vat","incl_vat"}],"locations":[...]}`
    /// where the totals cover every location of the filter (not only the page), and each location is
    /// `{"country_code","party_id","location_id","active_sessions","kwh","cost","evses":{status: n}}`.
    /// Cost: null while any session of that currency lacks the amount.
    pub fn locations_json(&self, country_code: Option<&str>, party_id: Option<&str>, active_only: bool, offset: usize, limit: usize) -> String {
        let mut out = String::with_capacity(256 + limit.min(10_000) * 256);
        let scope = self.scopes.get(country_code, party_id);
        let total = scope.map_or(0, |s| if active_only { s.active } else { s.locations });
        let _ = write!(out, "{{\"total\":{total},");
        // Only active sessions make up the totals, so they are the same with or without `active_only`.
        match scope {
            Some(s) => s.totals.write_fields(&mut out),
            None => super::Totals::default().write_fields(&mut out),
        }
        out.push_str(",\"locations\":[");
        let wanted = |k: &LocationKey| country_code.is_none_or(|c| k.country_code == c) && party_id.is_none_or(|p| k.party_id == p);
        // With a country, start at its first key and stop past its last: the page costs what it holds.
        let start = match country_code {
            Some(c) => Bound::Included(LocationKey {
                country_code: c.to_string(),
                party_id: party_id.unwrap_or("").to_string(),
                location_id: String::new(),
            }),
            None => Bound::Unbounded,
        };
        let in_range = |k: &LocationKey| match country_code {
            Some(c) => k.country_code == c && party_id.is_none_or(|p| k.party_id == p),
            None => true,
        };
        let range = (start, Bound::Unbounded);
        let keys: Box<dyn Iterator<Item = &LocationKey>> =
            if active_only { Box::new(self.active.range(range)) } else { Box::new(self.locations.range(range).map(|(k, _)| k)) };
        let page = keys
            .take_while(|k| in_range(k))
            .filter(|k| wanted(k))
            .skip(offset)
            .take(limit)
            .map(|k| (k, &self.locations[k]));
        for (i, (key, location)) in page.enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_location_head(&mut out, key, location);
            out.push_str(",\"evses\":{");
            for (j, (status, n)) in location.statuses.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                let _ = write!(out, "\"{status}\":{n}");
            }
            out.push_str("}}");
        }
        out.push_str("]}");
        out
    }

    /// One location in detail, `None` when not listed: its totals and
    /// `"evses":[{"evse_uid","status","active_sessions","kwh","cost","sessions":[{"id","connector_id",
    /// "kwh","excl_vat","incl_vat","currency","started_at"}]}]`, EVSEs by uid, sessions by start then id.
    pub fn location_json(&self, country_code: &str, party_id: &str, location_id: &str) -> Option<String> {
        let key = LocationKey { country_code: country_code.to_string(), party_id: party_id.to_string(), location_id: location_id.to_string() };
        let location = self.locations.get(&key)?;
        let mut out = String::with_capacity(512 + location.totals.sessions as usize * 200);
        write_location_head(&mut out, &key, location);
        out.push_str(",\"evses\":[");
        for (i, (uid, evse)) in location.evses.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"evse_uid\":");
            write_str(&mut out, uid);
            let _ = write!(out, ",\"status\":\"{}\",", evse.shown_status());
            evse.totals.write_fields(&mut out);
            out.push_str(",\"sessions\":[");
            let mut sessions: Vec<&Session> = evse.sessions.iter().map(|id| &self.sessions[id]).collect();
            sessions.sort_by(|a, b| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
            for (j, s) in sessions.into_iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_session(&mut out, s);
            }
            out.push_str("]}");
        }
        out.push_str("]}");
        Some(out)
    }
}

/// `{"country_code","party_id","location_id",<totals>` (left open for the EVSE part).
fn write_location_head(out: &mut String, key: &LocationKey, location: &Location) {
    out.push_str("{\"country_code\":");
    write_str(out, &key.country_code);
    out.push_str(",\"party_id\":");
    write_str(out, &key.party_id);
    out.push_str(",\"location_id\":");
    write_str(out, &key.location_id);
    out.push(',');
    location.totals.write_fields(out);
}

fn write_session(out: &mut String, s: &Session) {
    out.push_str("{\"id\":");
    write_str(out, &s.id);
    out.push_str(",\"connector_id\":");
    write_str(out, &s.connector_id);
    out.push_str(",\"kwh\":");
    write_decimal(out, Some(s.kwh));
    out.push_str(",\"excl_vat\":");
    write_decimal(out, s.excl);
    out.push_str(",\"incl_vat\":");
    write_decimal(out, s.incl);
    out.push_str(",\"currency\":");
    write_str(out, &s.currency);
    out.push_str(",\"started_at\":\"");
    format_datetime(s.started_at, out);
    out.push_str("\"}");
}
