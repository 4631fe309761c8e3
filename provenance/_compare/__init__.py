"""Layer 7: comparing records with each other (``diff``) and with a re-run (``replay``), and
adopting what a library left (``adopt``)."""
