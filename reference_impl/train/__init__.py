"""Training: a tiny offline model, TRL runs, and the online loop (imports torch and transformers)."""
