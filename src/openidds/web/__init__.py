"""The OpenIDDS clinic web app (Django). It calls the pure core (openidds.pump,
openidds.dosing); the core never imports it (import-linter checks that)."""
