"""`ocpi-engine bench`: every macro benchmark of `benchmarks/` in one run, one table, a comparison with an earlier run.

`registry` says which benchmarks exist and which figures each reports beside its same-run baseline; `runner` runs
them as subprocesses; `table` prints the result; `compare` judges the ratios against an earlier `--json` file."""
