"""The charging flow on the CPO side: charging events in, sessions priced live by rust_core, CDRs out."""
