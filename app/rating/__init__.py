"""The bridge between the platform and the rating core: options, tariff files, streaming batches."""

from app.rating.batch import BatchSummary, price_file
from app.rating.options import PricingOptions
from app.rating.tariffs import TariffFileError, load_tariff_files

__all__ = ["BatchSummary", "PricingOptions", "TariffFileError", "load_tariff_files", "price_file"]
