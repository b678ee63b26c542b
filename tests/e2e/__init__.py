"""Browser tests of the notebook front end."""
