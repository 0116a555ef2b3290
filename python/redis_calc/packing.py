"""Packing a dict into its values in template order, as the design note does,
and the inverse for values the server hands back.

A template is the JSON-able list the module registers: names, or
``[name, sub_template]`` for a nested dict.
"""

import msgpack


def _values(payload, template):
    out = []
    for entry in template:
        if isinstance(entry, (list, tuple)):
            name, sub = entry
            out.append(_values(payload[name], sub))
        else:
            out.append(payload[entry])
    return out


def pack_values(payload, template):
    """The dict's values only, in template order (nested dicts as nested
    arrays), packed with msgpack. A missing name is a ``KeyError``: a value
    that does not match its template must never be written."""
    return msgpack.packb(_values(payload, template), use_bin_type=True)


def _text(value):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def unpack_values(reply, decode_strings=True):
    """A CALC.GETDICT reply as a dict with str names: a RESP3 map (what the
    backend asks for), or RESP2's flat list at the top level. With
    ``decode_strings``, UTF-8 values come back as ``str`` (msgpack's str and
    bin both arrive as bulk strings)."""
    if reply is None:
        return None
    if isinstance(reply, list):
        reply = dict(zip(reply[0::2], reply[1::2]))
    return {_text(name): _convert(value, decode_strings) for name, value in reply.items()}


def _convert(value, decode_strings):
    if isinstance(value, dict):
        return {_text(k): _convert(v, decode_strings) for k, v in value.items()}
    if isinstance(value, list):
        return [_convert(v, decode_strings) for v in value]
    return _text(value) if decode_strings else value
