"""Reading: what a data argument names (sources.py), corpora as documents (corpus.py, with
mail and Markdown cleaning), and pairs in any seed layout (seed.py)."""
