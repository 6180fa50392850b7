"""Findings where security teams already look: AWS Security Hub (ASFF) and OCSF Compliance Findings."""
