"""The eMSP checks every CDR it receives (issue 8 §5): tariff versions, the background re-pricing, disputes."""
