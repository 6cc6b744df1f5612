"""Import order exports (Olist, UCI Online Retail, generic CSV) into the store."""
