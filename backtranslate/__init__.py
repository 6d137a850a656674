"""backtranslate: turn raw text into instruction-tuning data by instruction backtranslation."""

__version__ = "0.1.0"
