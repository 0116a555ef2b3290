"""Packing a dict into its values in template order, as the design note does,
and the inverse for values the server hands back.

A template is the JSON-able list the module registers: names, or
``[name, sub_template]`` for a nested dict.
"""

import hashlib
import json

import msgpack

# msgpack fixext 4 of this type, before the values: the template fingerprint.
FINGERPRINT_EXT_TYPE = 0x63


def canonical_json(template):
    """The definition as the server writes it back (compact JSON), which is
    what its fingerprint is computed over."""
    return json.dumps(template, separators=(",", ":"), ensure_ascii=False)


def fingerprint(template):
    """The first 4 bytes of the SHA-256 of the canonical definition, as
    ``CALC.TEMPLATE.INFO`` reports it (hex)."""
    return hashlib.sha256(canonical_json(template).encode("utf-8")).digest()[:4]


def _values(payload, template):
    out = []
    for entry in template:
        if isinstance(entry, (list, tuple)):
            name, sub = entry
            out.append(_values(payload[name], sub))
        else:
            out.append(payload[entry])
    return out


def pack_values(payload, template, marked=True):
    """The dict's values only, in template order (nested dicts as nested
    arrays), packed with msgpack. With ``marked`` (what the backend writes),
    the template's fingerprint comes first, so the server never decodes the
    value under another definition. A missing name is a ``KeyError``: a value
    that does not match its template must never be written."""
    packed = msgpack.packb(_values(payload, template), use_bin_type=True)
    if not marked:
        return packed
    return msgpack.packb(msgpack.ExtType(FINGERPRINT_EXT_TYPE, fingerprint(template))) + packed


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
