"""What several test modules share, imported as `tests.helpers.NAME` (conftest files hold only
fixtures and hooks)."""
