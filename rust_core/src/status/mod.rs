//! The operators' live view: active sessions and EVSE statuses per location and per EVSE, with
//! energy and cost so far.
//!
//! Totals are kept at every level a view reads (EVSE, location, and the filters of the location
//! list: all, per country, per party, per country+party) and updated incrementally, so
//! `locations()` costs the page it writes (plus the `offset` it skips) and `location()` the EVSEs
//! and sessions of that one location, however many sessions are held elsewhere. The locations
//! with an active session are also kept as their own sorted set (and counted per filter), so the
//! list of only those costs its page too, however many idle locations are listed.

mod rows;
mod totals;
mod view;

#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::datetime::Micros;
use crate::error::InputError;
pub use rows::{EvseStatusRow, SessionRow};
use rows::{CheckedSession, SessionChange};
use totals::{Amounts, Totals};

/// A location's identity; the order of the location list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct LocationKey {
    pub country_code: String,
    pub party_id: String,
    pub location_id: String,
}

/// One active session, as held.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Session {
    pub id: String,
    pub key: LocationKey,
    pub evse_uid: String,
    pub connector_id: String,
    pub kwh: Decimal,
    pub excl: Option<Decimal>,
    pub incl: Option<Decimal>,
    pub currency: String,
    pub started_at: Micros,
}

impl Session {
    fn amounts(&self) -> Amounts<'_> {
        Amounts { kwh: self.kwh, excl: self.excl, incl: self.incl, currency: &self.currency }
    }
}

/// Shown for an EVSE whose status was never set (OCPI's own word for "no status information").
const NO_STATUS: &str = "UNKNOWN";

#[derive(Debug, Default)]
struct Evse {
    status: Option<&'static str>,
    totals: Totals,
    sessions: BTreeSet<String>,
}

impl Evse {
    fn shown_status(&self) -> &'static str {
        self.status.unwrap_or(NO_STATUS)
    }

    /// Nothing left to show: no session, and no status (or REMOVED).
    fn is_empty(&self) -> bool {
        self.sessions.is_empty() && matches!(self.status, None | Some("REMOVED"))
    }
}

#[derive(Debug, Default)]
struct Location {
    totals: Totals,
    evses: BTreeMap<String, Evse>,
    /// EVSEs per shown status.
    statuses: BTreeMap<&'static str, u32>,
}

impl Location {
    fn count_status(&mut self, status: &'static str, delta: i64) {
        let n = self.statuses.entry(status).or_insert(0);
        *n = (i64::from(*n) + delta) as u32;
        if *n == 0 {
            self.statuses.remove(status);
        }
    }
}

/// The totals and location counts behind one filter of the location list.
#[derive(Debug, Default)]
struct Scope {
    locations: usize,
    /// Of those, the locations with at least one active session.
    active: usize,
    totals: Totals,
}

/// The four filters `locations()` answers without scanning: all, country, party, country+party.
#[derive(Debug, Default)]
struct Scopes {
    all: Scope,
    country: HashMap<String, Scope>,
    party: HashMap<String, Scope>,
    country_party: HashMap<String, HashMap<String, Scope>>,
}

impl Scopes {
    /// Apply `f` to every scope `key` belongs to, creating the missing ones.
    fn update(&mut self, key: &LocationKey, mut f: impl FnMut(&mut Scope)) {
        f(&mut self.all);
        f(scope_in(&mut self.country, &key.country_code));
        f(scope_in(&mut self.party, &key.party_id));
        let parties = match self.country_party.get_mut(&key.country_code) {
            Some(p) => p,
            None => self.country_party.entry(key.country_code.clone()).or_default(),
        };
        f(scope_in(parties, &key.party_id));
    }

    /// Drop the scopes of `key` left without locations (after its location went away).
    fn prune(&mut self, key: &LocationKey) {
        let empty = |m: &mut HashMap<String, Scope>, k: &str| {
            if m.get(k).is_some_and(|s| s.locations == 0) {
                m.remove(k);
            }
        };
        empty(&mut self.country, &key.country_code);
        empty(&mut self.party, &key.party_id);
        if let Some(parties) = self.country_party.get_mut(&key.country_code) {
            empty(parties, &key.party_id);
            if parties.is_empty() {
                self.country_party.remove(&key.country_code);
            }
        }
    }

    fn get(&self, country_code: Option<&str>, party_id: Option<&str>) -> Option<&Scope> {
        match (country_code, party_id) {
            (None, None) => Some(&self.all),
            (Some(c), None) => self.country.get(c),
            (None, Some(p)) => self.party.get(p),
            (Some(c), Some(p)) => self.country_party.get(c).and_then(|m| m.get(p)),
        }
    }
}

fn scope_in<'a>(map: &'a mut HashMap<String, Scope>, key: &str) -> &'a mut Scope {
    // Look up by &str first: an allocation only for a new scope, not per update.
    if !map.contains_key(key) {
        map.insert(key.to_string(), Scope::default());
    }
    map.get_mut(key).expect("just inserted")
}

/// The live view. Fed by the session engine (`upsert_sessions`) and by EVSE status changes
/// (`set_evse_status`); read by `locations()` and `location()`.
#[derive(Debug, Default)]
pub struct Monitor {
    sessions: HashMap<String, Session>,
    locations: BTreeMap<LocationKey, Location>,
    /// The keys of the locations with at least one active session: the active-only list.
    active: BTreeSet<LocationKey>,
    scopes: Scopes,
}

impl Monitor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Active sessions held.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Locations listed (with an active session or an EVSE status).
    pub fn location_count(&self) -> usize {
        self.locations.len()
    }

    /// Locations with at least one active session.
    pub fn active_location_count(&self) -> usize {
        self.active.len()
    }

    /// Hold or replace each ACTIVE session; forget a session whose status is anything else.
    /// Rows apply in order; a bad row (error field `[i].name`) refuses the whole call, unapplied.
    pub fn upsert_sessions(&mut self, rows: &[SessionRow<'_>]) -> Result<(), InputError> {
        for change in rows::check_session_rows(rows)? {
            match change {
                SessionChange::Active(s) => {
                    if !self.update_in_place(&s) {
                        self.remove_session(s.row.session_id);
                        self.insert_session(s.to_session());
                    }
                }
                SessionChange::Ended(id) => self.remove_session(id),
            }
        }
        Ok(())
    }

    /// Set EVSE statuses (OCPI EVSE Status). REMOVED drops an EVSE from the view once it holds no
    /// active session. All rows are checked before any applies.
    pub fn set_evse_status(&mut self, rows: Vec<EvseStatusRow>) -> Result<(), InputError> {
        for (key, evse_uid, status) in rows::check_evse_rows(rows)? {
            let location = self.location_entry(&key);
            let (evse, created) = evse_entry(location, &evse_uid);
            let old = evse.shown_status();
            evse.status = Some(status);
            let emptied = evse.is_empty();
            if !created {
                location.count_status(old, -1);
            }
            location.count_status(status, 1);
            if emptied {
                self.drop_evse(&key, &evse_uid);
            }
        }
        Ok(())
    }

    /// The common update: a held session, same EVSE, new figures. Swaps its contribution in
    /// every total without touching the indexes or allocating; `false` when it is not that case.
    fn update_in_place(&mut self, new: &CheckedSession<'_>) -> bool {
        let Some(old) = self.sessions.get_mut(new.row.session_id) else { return false };
        if !new.same_place(old) {
            return false;
        }
        let location = self.locations.get_mut(&old.key).expect("a held session's location is held");
        let evse = location.evses.get_mut(&old.evse_uid).expect("a held session's EVSE is held");
        let (before, after) = (old.amounts(), new.amounts);
        evse.totals.replace(before, after);
        location.totals.replace(before, after);
        self.scopes.update(&old.key, |scope| scope.totals.replace(before, after));
        old.kwh = after.kwh;
        old.excl = after.excl;
        old.incl = after.incl;
        if old.currency != after.currency {
            old.currency = after.currency.to_string();
        }
        if old.connector_id != new.row.connector_id {
            old.connector_id = new.row.connector_id.to_string();
        }
        old.started_at = new.started_at;
        true
    }

    fn insert_session(&mut self, s: Session) {
        let location = self.location_entry(&s.key);
        let (evse, created) = evse_entry(location, &s.evse_uid);
        evse.sessions.insert(s.id.clone());
        evse.totals.add(s.amounts());
        if created {
            let status = evse.shown_status();
            location.count_status(status, 1);
        }
        location.totals.add(s.amounts());
        // Its first session makes the location active.
        let activated = location.totals.sessions == 1;
        if activated {
            self.active.insert(s.key.clone());
        }
        self.scopes.update(&s.key, |scope| {
            scope.totals.add(s.amounts());
            scope.active += usize::from(activated);
        });
        self.sessions.insert(s.id.clone(), s);
    }

    fn remove_session(&mut self, id: &str) {
        let Some(s) = self.sessions.remove(id) else { return };
        let location = self.locations.get_mut(&s.key).expect("a held session's location is held");
        location.totals.sub(s.amounts());
        // Its last session leaves: the location is no longer active (though it may stay listed).
        let deactivated = location.totals.sessions == 0;
        self.scopes.update(&s.key, |scope| {
            scope.totals.sub(s.amounts());
            scope.active -= usize::from(deactivated);
        });
        if deactivated {
            self.active.remove(&s.key);
        }
        let evse = location.evses.get_mut(&s.evse_uid).expect("a held session's EVSE is held");
        evse.totals.sub(s.amounts());
        evse.sessions.remove(id);
        if evse.is_empty() {
            self.drop_evse(&s.key, &s.evse_uid);
        }
    }

    /// The location of `key`, created (and counted in its scopes) when new.
    fn location_entry(&mut self, key: &LocationKey) -> &mut Location {
        if !self.locations.contains_key(key) {
            self.scopes.update(key, |scope| scope.locations += 1);
            self.locations.insert(key.clone(), Location::default());
        }
        self.locations.get_mut(key).expect("just inserted")
    }

    /// Forget an EVSE with nothing to show, and its location when that was its last EVSE.
    fn drop_evse(&mut self, key: &LocationKey, evse_uid: &str) {
        let Some(location) = self.locations.get_mut(key) else { return };
        if let Some(evse) = location.evses.remove(evse_uid) {
            location.count_status(evse.shown_status(), -1);
        }
        if location.evses.is_empty() {
            self.locations.remove(key);
            self.scopes.update(key, |scope| scope.locations -= 1);
            self.scopes.prune(key);
        }
    }
}

/// The EVSE of a location, created when new; `true` when created.
fn evse_entry<'a>(location: &'a mut Location, evse_uid: &str) -> (&'a mut Evse, bool) {
    let created = !location.evses.contains_key(evse_uid);
    if created {
        location.evses.insert(evse_uid.to_string(), Evse::default());
    }
    (location.evses.get_mut(evse_uid).expect("just inserted"), created)
}
