"""HTTP dialects: each parses its wire format into neutral requests and renders results."""
