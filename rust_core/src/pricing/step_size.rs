//! step_size (digest §4.5, rules S1–S7): one rounding per tariff for ENERGY, one for the time
//! family (parking if any parking was priced, else charging time), one for reservation time;
//! the session total of priced volume is rounded up with the step of the last priced
//! component, and the surplus is billed on that last line at its price.

use rust_decimal::Decimal;

use super::lines::{Line, LineKind};
use crate::tariff::Tariff;

/// Far below a Wh or a second, far above division residue.
const GUARD_DECIMALS: u32 = 12;

const WH_PER_KWH: Decimal = Decimal::from_parts(1000, 0, 0, false, 0);

/// Add the rounding surplus to `billed` of the last priced line of each family.
pub fn apply(lines: &mut [Line], tariffs: &[&Tariff]) {
    for (t, tariff) in tariffs.iter().enumerate() {
        let priced = |l: &Line, kind: LineKind| l.tariff == t && l.kind == kind && l.volume > Decimal::ZERO;
        let any_parking = lines.iter().any(|l| priced(l, LineKind::Parking));
        let time_family = if any_parking { LineKind::Parking } else { LineKind::Time };
        for kind in [LineKind::Energy, time_family, LineKind::Reservation] {
            round_family(lines, tariff, |l| priced(l, kind));
        }
    }
}

fn round_family(lines: &mut [Line], tariff: &Tariff, member: impl Fn(&Line) -> bool) {
    let Some(last) = lines.iter().rposition(&member) else { return };
    let energy = lines[last].kind == LineKind::Energy;
    // Step units: Wh for energy, seconds for time (volumes are kWh and seconds).
    let unit = |v: Decimal| if energy { v * WH_PER_KWH } else { v };
    // Pieces of a split period carry shares from inexact divisions (28 digits); without this
    // guard an exact multiple of the step could read as a hair above it and gain a whole step.
    let total: Decimal = lines.iter().filter(|l| member(l)).map(|l| unit(l.volume)).sum::<Decimal>().round_dp(GUARD_DECIMALS);
    let step = tariff.component(lines[last].component).step_size.max(1);
    // A step of 1 (the usual one for energy) needs no division: `(total / 1).ceil() * 1` is
    // `total.ceil()` whenever the surplus is positive (the only case that is used).
    let rounded = if step == 1 {
        total.ceil()
    } else {
        let step = Decimal::from(step);
        (total / step).ceil() * step
    };
    let surplus = rounded - total;
    if surplus > Decimal::ZERO {
        lines[last].billed += if energy { surplus / WH_PER_KWH } else { surplus };
    }
}
