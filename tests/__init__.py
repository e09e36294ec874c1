"""The test suite; what test modules share lives in tests.fixtures."""

import pytest

# Helpers in tests.fixtures assert as test modules do: a failure shows the values compared.
pytest.register_assert_rewrite("tests.fixtures")
