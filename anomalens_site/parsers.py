"""Request body parsers for the API."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with deeply nested bodies rejected as a parse error.

    Python's json module raises RecursionError on arrays or objects nested
    some thousands deep, which DRF does not catch, so such a body gave a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                "JSON parse error - arrays or objects are nested too deeply. "
                "Send a body with fewer nested levels."
            ) from None
