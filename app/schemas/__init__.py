"""msgspec schemas of the OCPI objects: shared types in `types`, one package per OCPI version (`v2_2_1`)."""
