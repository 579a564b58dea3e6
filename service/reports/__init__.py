"""Reports: the figures officials report, rolled up community -> street -> district -> city."""
