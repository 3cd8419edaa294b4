"""The assistant on a tenant's own website: its widget sites (allowed domains, branding) and,
next, the visitors who chat there."""
