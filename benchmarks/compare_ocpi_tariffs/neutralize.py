#!/usr/bin/env python3
"""Diagnosis aid for docs/ocpi-tariffs-comparison.md: rewrite a CDR .jsonl so that one known
class of difference between ocpi-tariffs and rust_core cannot occur, to count how many
disagreements that class explains.

    python3 neutralize.py IN.jsonl OUT.jsonl [power] [exact_time] [drop_zero_energy]

power             MIN_POWER := MAX_POWER in every period (both readings of a power
                  restriction then agree: class "power restriction reading").
exact_time        in a period that has only TIME or only PARKING_TIME, write that volume as
                  (period seconds from the timestamps) / 3600 with 15 decimals (class
                  "6-decimal hour volumes vs timestamps").
drop_zero_energy  remove `ENERGY 0` from parking periods (class "step surplus on a zero-energy
                  period").
"""
import datetime as dt
import json
import sys


def ts(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def main():
    src, dst, *flags = sys.argv[1:]
    unknown = set(flags) - {"power", "exact_time", "drop_zero_energy"}
    if unknown:
        sys.exit(f"unknown flags {sorted(unknown)}")
    with open(src) as f, open(dst, "w") as g:
        for line in f:
            c = json.loads(line)
            ps = c["charging_periods"]
            for i, p in enumerate(ps):
                end = ts(ps[i + 1]["start_date_time"]) if i + 1 < len(ps) else ts(c["end_date_time"])
                secs = (end - ts(p["start_date_time"])).total_seconds()
                dims = p["dimensions"]
                types = {d["type"] for d in dims}
                if "power" in flags:
                    mx = [d["volume"] for d in dims if d["type"] == "MAX_POWER"]
                    for d in dims:
                        if d["type"] == "MIN_POWER" and mx:
                            d["volume"] = mx[0]
                if "exact_time" in flags and len(types & {"TIME", "PARKING_TIME"}) == 1:
                    for d in dims:
                        if d["type"] in ("TIME", "PARKING_TIME"):
                            d["volume"] = float("%.15f" % (secs / 3600))
                if "drop_zero_energy" in flags and "PARKING_TIME" in types:
                    p["dimensions"] = [d for d in dims if not (d["type"] == "ENERGY" and d["volume"] == 0)]
            g.write(json.dumps(c, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
