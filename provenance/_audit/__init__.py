"""Layer 7: the audit: which keys are clusterings, the findings catalogue, one function per
check, and the report (data only)."""
