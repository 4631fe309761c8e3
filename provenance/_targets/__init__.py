"""Layer 4: what is recorded. One module per recorded function against the contract in
``base``; ``registry`` maps functions and records to targets."""
