"""Layer 6: re-running a recorded clustering from its record (``replay``), below the audit so
that a deep audit can re-run what it checks."""
