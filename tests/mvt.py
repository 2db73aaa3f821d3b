"""A small Mapbox Vector Tile (v2) decoder for the tests and benchmarks: layers, features, ids, tags, points.

Written against the spec (vector_tile.proto): enough of protobuf's wire format to read what ST_AsMVT
writes, so the tests need no extra package and see every byte the server sends.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, value) of one message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _packed(buf: bytes) -> list[int]:
    out, pos = [], 0
    while pos < len(buf):
        v, pos = _varint(buf, pos)
        out.append(v)
    return out


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)


def _value(buf: bytes):
    for number, wire, v in _fields(buf):
        if number == 1:
            return v.decode("utf-8")
        if number == 2:
            return struct.unpack("<f", v)[0]
        if number == 3:
            return struct.unpack("<d", v)[0]
        if number == 4:
            return v - (1 << 64) if v >= 1 << 63 else v
        if number == 5:
            return v
        if number == 6:
            return _zigzag(v)
        if number == 7:
            return bool(v)
    return None


@dataclass
class Feature:
    id: int | None
    type: int  # 1 point, 2 line, 3 polygon
    properties: dict
    points: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Layer:
    name: str
    extent: int
    features: list[Feature]


def _points(commands: list[int]) -> list[tuple[int, int]]:
    """The vertices of a geometry (for points: the points) in tile coordinates."""
    out, i, x, y = [], 0, 0, 0
    while i < len(commands):
        cmd, count = commands[i] & 7, commands[i] >> 3
        i += 1
        if cmd in (1, 2):
            for _ in range(count):
                x += _zigzag(commands[i])
                y += _zigzag(commands[i + 1])
                i += 2
                out.append((x, y))
    return out


def decode(data: bytes) -> dict[str, Layer]:
    """Layers by name."""
    layers = {}
    for number, _, raw in _fields(data):
        if number != 3:
            continue
        name, extent, keys, values, feats = "", 4096, [], [], []
        for n, _, v in _fields(raw):
            if n == 1:
                name = v.decode("utf-8")
            elif n == 2:
                feats.append(v)
            elif n == 3:
                keys.append(v.decode("utf-8"))
            elif n == 4:
                values.append(_value(v))
            elif n == 5:
                extent = v
        features = []
        for raw_feature in feats:
            fid, ftype, tags, geometry = None, 0, [], []
            for n, wire, v in _fields(raw_feature):
                if n == 1:
                    fid = v
                elif n == 2:
                    tags = _packed(v) if wire == 2 else [v]
                elif n == 3:
                    ftype = v
                elif n == 4:
                    geometry = _packed(v)
            props = {keys[tags[k]]: values[tags[k + 1]] for k in range(0, len(tags), 2)}
            features.append(Feature(fid, ftype, props, _points(geometry)))
        layers[name] = Layer(name, extent, features)
    return layers
