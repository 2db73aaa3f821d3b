"""Walkabout tour ordering: which open issues to visit on foot, and in what order.

Pure Python and numpy (no web, no database). Distances are great-circle distances on the WGS84 mean
radius times a detour factor for the street network; the order comes from a nearest-neighbour tour
improved by 2-opt and Or-opt local search (neighbour lists, don't-look bits) and then by iterated local
search with segment-swap kicks while the time budget lasts. `docs/walkabouts.md` explains the model, the
heuristic and how close it comes to OR-Tools.

The caller passes the stops already sorted by priority, most important first (e.g. overdue first). The
limits rely on that order: `max_stops` keeps the first stops, and `max_minutes` drops stops from the end
of the list until the tour fits, so the stops left out are always the lowest-priority ones.
"""
from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

# Mean radius R1 = (2a + b) / 3 of the WGS84 ellipsoid (IUGG), in metres.
EARTH_RADIUS_M = 6_371_008.8
DEFAULT_DETOUR = 1.3
DEFAULT_SPEED_KMH = 4.5
DEFAULT_DWELL_MIN = 3.0
DEFAULT_TIME_BUDGET_S = 1.0

NEIGHBOURS = 10  # candidate list length per point for 2-opt and Or-opt
OR_OPT_MAX = 3  # longest segment Or-opt moves
KICK_MAX = 30  # longest segment a kick swaps
STALE_BASE, STALE_PER_NODE = 30, 10  # kicks in a row without a shorter tour before the search stops early
_SEED = 20240607  # kicks are pseudo-random but reproducible: same input, same tour (unless the budget cuts in)
_EPS = 1e-7  # metres; a move must gain more than this (rounding noise never counts as a gain)

Point = tuple[float, float]


class TourInputError(ValueError):
    """A parameter or coordinate of a tour request is unusable; `field` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(message)
        self.field = field_name
        self.fields = {field_name: message}


@dataclass(frozen=True)
class Leg:
    """One walk between two consecutive points of the tour.

    `from_` and `to` are indices into the stops, or None for the start point. `minutes` is the walk plus
    the dwell at the stop it arrives at (none when it arrives back at the start), so that the legs' minutes
    add up to the tour's `total_minutes`.
    """

    from_: int | None
    to: int | None
    distance_m: float
    walk_minutes: float
    minutes: float

    def as_dict(self) -> dict:
        return {"from": self.from_, "to": self.to, "distance_m": self.distance_m,
                "walk_minutes": self.walk_minutes, "minutes": self.minutes}


@dataclass(frozen=True)
class Tour:
    """A planned walkabout.

    `order` lists indices into the stops in visiting order; `left_out` the indices the limits removed
    (always the lowest-priority ones, in priority order) and `cut_by` which limits removed them
    (`"max_stops"`, `"max_minutes"`). A closed tour's last leg returns to the start.
    """

    order: list[int]
    legs: list[Leg]
    total_m: float
    total_minutes: float
    walk_minutes: float
    dwell_minutes: float
    closed: bool
    left_out: list[int] = field(default_factory=list)
    cut_by: list[str] = field(default_factory=list)

    def line(self, start: Point, stops: Sequence[Point]) -> list[Point]:
        """The tour's points as (lon, lat), from the start through the stops (and back, if closed)."""
        pts = [tuple(start)] + [tuple(stops[i]) for i in self.order]
        if self.closed and self.order:
            pts.append(tuple(start))
        return pts


# ---------------------------------------------------------------- distances


def distance_matrix(points: Sequence[Point] | np.ndarray, *, detour: float = DEFAULT_DETOUR) -> np.ndarray:
    """Walking distances in metres between all (lon, lat) points: haversine on the mean radius x detour.

    Exactly symmetric with a zero diagonal.
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    lon = np.radians(pts[:, 0])
    lat = np.radians(pts[:, 1])
    sin_dlat = np.sin((lat[:, None] - lat[None, :]) * 0.5)
    sin_dlon = np.sin((lon[:, None] - lon[None, :]) * 0.5)
    cos_lat = np.cos(lat)
    h = sin_dlat * sin_dlat + cos_lat[:, None] * cos_lat[None, :] * sin_dlon * sin_dlon
    d = (2.0 * EARTH_RADIUS_M * detour) * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    upper = np.triu(d, 1)
    return upper + upper.T


def walk_minutes(distance_m: float, speed_kmh: float = DEFAULT_SPEED_KMH) -> float:
    """Minutes to walk `distance_m` metres at `speed_kmh`."""
    return distance_m / (speed_kmh * 1000.0 / 60.0)


# ---------------------------------------------------------------- the planner


def plan_tour(
    start: Point,
    stops: Sequence[Point],
    *,
    return_to_start: bool = True,
    max_stops: int | None = None,
    max_minutes: float | None = None,
    detour: float = DEFAULT_DETOUR,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    dwell_min: float = DEFAULT_DWELL_MIN,
    time_budget_s: float = DEFAULT_TIME_BUDGET_S,
) -> Tour:
    """Order the stops (lon, lat) into a short walk from `start`.

    By default the tour is closed: it ends where it began (the community office). With
    `return_to_start=False` it is an open path that ends at whichever stop makes the walk shortest.
    Stops come sorted by priority, most important first; `max_stops` keeps the first ones and
    `max_minutes` (walking plus `dwell_min` per stop) drops stops from the end of the list until the tour
    fits. `time_budget_s` bounds the search for shorter tours after the first local optimum (which is
    always reached, about 10-30 ms for 150 stops); 0 returns that first local optimum.
    """
    t0 = time.perf_counter()
    start_xy, stop_xy = _check(start, stops, max_stops, max_minutes, detour, speed_kmh, dwell_min, time_budget_s)
    n = len(stop_xy)
    keep = n if max_stops is None else min(n, max_stops)
    cut_by = ["max_stops"] if keep < n else []
    deadline = t0 + time_budget_s
    metres_per_min = speed_kmh * 1000.0 / 60.0

    # One matrix for all the points; prefixes of it serve every candidate set of stops.
    full = distance_matrix(np.vstack([start_xy[None, :], stop_xy[:keep]]), detour=detour)

    def result(order: list[int], k: int, cuts: list[str]) -> Tour:
        return _result(full, order, return_to_start, n, k, cuts, metres_per_min, dwell_min)

    if max_minutes is None or keep == 0:
        return result(_solve(full[: keep + 1, : keep + 1], return_to_start, deadline), keep, cut_by)

    # Tours over the first k stops; the quick ones (local search only) are cached for the bisection.
    quick_tours: dict[int, Tour] = {}

    def quick(k: int) -> Tour:
        if k not in quick_tours:
            quick_tours[k] = result(_solve(full[: k + 1, : k + 1], return_to_start, 0.0), k, cut_by)
        return quick_tours[k]

    def improved(k: int, until: float) -> Tour:
        cuts = cut_by + (["max_minutes"] if k < keep else [])
        planned = result(_solve(full[: k + 1, : k + 1], return_to_start, until), k, cuts)
        # The search only keeps tours that are no longer than the quick one, which fitted; rounding aside.
        return planned if planned.total_minutes <= quick(k).total_minutes else result(quick(k).order, k, cuts)

    if quick(keep).total_minutes <= max_minutes:
        return improved(keep, deadline)
    # Optimal tour lengths grow with the set of stops (the distance is a metric), so the largest prefix that
    # fits is found by bisection on quick tours.
    lo, hi = 0, keep  # the first lo stops fit, the first hi do not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if quick(mid).total_minutes <= max_minutes:
            lo = mid
        else:
            hi = mid
    # The iterated search may still fit one more stop than the quick tour did: try it with half of what is
    # left of the budget when the quick tour missed by less than the search usually gains (5 %).
    near = quick(hi)
    if near.walk_minutes * 0.95 + near.dwell_minutes <= max_minutes:
        half = time.perf_counter() + max(0.0, deadline - time.perf_counter()) / 2
        planned = improved(hi, half)
        if planned.total_minutes <= max_minutes:
            return planned
    return improved(lo, deadline)


def _check(start, stops, max_stops, max_minutes, detour, speed_kmh, dwell_min, time_budget_s):
    def coords(value, name: str) -> np.ndarray:
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TourInputError(name, f"{name} must be (lon, lat) pairs of numbers.") from None
        if arr.size == 0:
            return arr.reshape(0, 2)
        if arr.shape[-1] != 2:
            raise TourInputError(name, f"{name} must be (lon, lat) pairs of numbers.")
        if not np.all(np.isfinite(arr)) or np.any(np.abs(arr[..., 0]) > 180) or np.any(np.abs(arr[..., 1]) > 90):
            raise TourInputError(name, f"{name} must be longitude in [-180, 180] and latitude in [-90, 90].")
        return arr

    start_xy = coords(start, "start").reshape(-1)
    if start_xy.shape != (2,):
        raise TourInputError("start", "start must be one (lon, lat) pair.")
    stop_xy = coords(list(stops), "stops").reshape(-1, 2)
    for name, value, ok, must in (
        ("detour", detour, lambda v: v >= 1.0, "at least 1"),
        ("speed_kmh", speed_kmh, lambda v: v > 0, "positive"),
        ("dwell_min", dwell_min, lambda v: v >= 0, "zero or more"),
        ("time_budget_s", time_budget_s, lambda v: v >= 0, "zero or more"),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
            raise TourInputError(name, f"{name} must be a finite number, {must}.")
    if max_stops is not None and (isinstance(max_stops, bool) or not isinstance(max_stops, int) or max_stops < 0):
        raise TourInputError("max_stops", "max_stops must be a whole number, zero or more.")
    if max_minutes is not None and (isinstance(max_minutes, bool) or not isinstance(max_minutes, (int, float))
                                    or math.isnan(max_minutes) or max_minutes < 0):
        raise TourInputError("max_minutes", "max_minutes must be a number, zero or more.")
    return start_xy, stop_xy


def _result(full: np.ndarray, order: list[int], closed: bool, n: int, keep: int, cut_by: list[str],
            metres_per_min: float, dwell_min: float) -> Tour:
    """Legs and totals for `order` (stop indices) measured on the full matrix (node = stop + 1)."""
    legs: list[Leg] = []
    nodes = [0] + [i + 1 for i in order] + ([0] if closed and order else [])
    for a, b in zip(nodes, nodes[1:]):
        dist = float(full[a, b])
        walk = dist / metres_per_min
        dwell = dwell_min if b != 0 else 0.0
        legs.append(Leg(a - 1 if a else None, b - 1 if b else None, dist, walk, walk + dwell))
    total_m = math.fsum(leg.distance_m for leg in legs)
    walk_total = math.fsum(leg.walk_minutes for leg in legs)
    dwell_total = dwell_min * len(order)
    return Tour(order=list(order), legs=legs, total_m=total_m, total_minutes=walk_total + dwell_total,
                walk_minutes=walk_total, dwell_minutes=dwell_total, closed=closed,
                left_out=list(range(keep, n)), cut_by=cut_by if keep < n else [])


# ---------------------------------------------------------------- the search


def _solve(d: np.ndarray, closed: bool, deadline: float) -> list[int]:
    """Visiting order (stop indices) for the points of `d`, node 0 being the start.

    An open path from the start is solved as a closed tour with one extra "end" node: the end is 0 m
    from the start and the same large M from every stop, so every tour pays M once if the end sits next
    to the start (start ... last stop, end, back to start for free) and at least 2M otherwise. The best
    such tour is therefore the best open path plus M, and the search never splits the pair.
    """
    n = d.shape[0] - 1
    if n <= 1:
        return list(range(n))
    if closed:
        dd = d
    else:
        big = float(d.max()) * (n + 2) + 1.0
        dd = np.zeros((n + 2, n + 2))
        dd[: n + 1, : n + 1] = d
        dd[n + 1, 1 : n + 1] = big
        dd[1 : n + 1, n + 1] = big
    search = _Search(dd, closed)
    search.local_search()
    if time.perf_counter() < deadline:
        search.iterate(deadline)
    return search.order()


class _Search:
    """2-opt + Or-opt local search with neighbour lists and don't-look bits, and iterated local search.

    The tour is a Python list of nodes with a position index; distances are nested Python lists, which
    index several times faster than numpy scalars in these loops.
    """

    def __init__(self, dd: np.ndarray, closed: bool):
        self.closed = closed
        self.n = n = dd.shape[0]
        self.d = dd.tolist()
        k = min(NEIGHBOURS, n - 1)
        # k nearest of each node (itself excluded), nearest first; ties broken by index for determinism.
        ranked = np.argsort(dd + np.diag(np.full(n, np.inf)), axis=1, kind="stable")[:, :k]
        self.neigh = ranked.tolist()
        self.fixed = () if closed else (0, n - 1)  # the start-end pair of an open path is never split
        self.t = self._nearest_neighbour()
        self.pos = [0] * n
        for i, v in enumerate(self.t):
            self.pos[v] = i
        self.rng = random.Random(_SEED)

    def _nearest_neighbour(self) -> list[int]:
        d, n = self.d, self.n
        last = n if self.closed else n - 1  # the open path's end node goes last, beside the start
        left = set(range(1, last))
        tour, here = [0], 0
        row = d[0]
        while left:
            here = min(left, key=lambda j: (row[j], j))
            left.remove(here)
            tour.append(here)
            row = d[here]
        if not self.closed:
            tour.append(n - 1)
        return tour

    def length(self) -> float:
        d, t = self.d, self.t
        return sum(d[t[i - 1]][t[i]] for i in range(self.n))

    def order(self) -> list[int]:
        """Stop indices in visiting order from the start (node 0)."""
        t, n = self.t, self.n
        i = self.pos[0]
        seq = t[i:] + t[:i]
        if not self.closed:
            if seq[1] == n - 1:  # walk away from the end node
                seq = [0] + seq[:0:-1]
            return [v - 1 for v in seq[1:-1]]
        # Both directions are equally long: take the one that reaches the first-priority stop sooner.
        first = seq.index(1)
        if first > n - first:
            seq = [0] + seq[:0:-1]
        return [v - 1 for v in seq[1:]]

    # -------------------------------------------------------- moves

    def _reverse(self, i: int, j: int) -> None:
        """Reverse the path from position i forward to position j (or, equivalently, its complement)."""
        t, pos, n = self.t, self.pos, self.n
        length = (j - i) % n + 1
        if 2 * length > n:
            i, j = (j + 1) % n, (i - 1) % n
            length = n - length
        if length < 2:
            return
        if i <= j:
            seg = t[i : j + 1]
            seg.reverse()
            t[i : j + 1] = seg
            for k in range(i, j + 1):
                pos[t[k]] = k
        else:
            for _ in range(length // 2):
                a, b = t[i], t[j]
                t[i], t[j] = b, a
                pos[b], pos[a] = i, j
                i = i + 1 if i + 1 < n else 0
                j = j - 1 if j > 0 else n - 1

    def _two_opt(self, a: int) -> list[int] | None:
        """The first improving 2-opt move with an edge at `a`; returns the touched nodes."""
        d, t, pos, n = self.d, self.t, self.pos, self.n
        da = d[a]
        i = pos[a]
        # a's successor edge: a-b ... c-e  ->  a-c ... b-e
        b = t[i + 1 if i + 1 < n else 0]
        dab = da[b]
        for c in self.neigh[a]:
            dac = da[c]
            if dab - dac <= _EPS:
                break
            j = pos[c]
            e = t[j + 1 if j + 1 < n else 0]
            if c == b or e == a:
                continue
            if dac + d[b][e] - dab - d[c][e] < -_EPS:
                self._reverse(pos[b], j)
                return [a, b, c, e]
        # a's predecessor edge: b-a ... e-c  ->  b-e ... a-c
        b = t[i - 1]
        dab = da[b]
        for c in self.neigh[a]:
            dac = da[c]
            if dab - dac <= _EPS:
                break
            j = pos[c]
            e = t[j - 1]
            if c == b or e == a:
                continue
            if dac + d[b][e] - dab - d[c][e] < -_EPS:
                self._reverse(i, pos[e])
                return [a, b, c, e]
        return None

    def _or_opt(self, a: int) -> list[int] | None:
        """The first improving move of a segment of 1..3 nodes with `a` at one end; returns touched nodes.

        The segment grows from `a` forwards, then backwards; z is its other end, pa and pz the nodes
        outside it next to a and z. It goes between two adjacent nodes c-e, either way round.
        """
        d, t, pos, n, neigh, fixed = self.d, self.t, self.pos, self.n, self.neigh, self.fixed
        if a in fixed:
            return None
        i = pos[a]
        da = d[a]
        max_len = min(OR_OPT_MAX, n - 3)
        for step in (1, -1):
            seg, z = [a], a
            for seg_len in range(1, max_len + 1):
                if seg_len > 1:
                    z = t[(i + step * (seg_len - 1)) % n]
                    if z in fixed:
                        break
                    seg.append(z)
                elif step == -1:
                    continue  # the one-node segment was tried going forwards
                pa = t[(i - step) % n]
                pz = t[(i + step * seg_len) % n]
                dpa = d[pa]
                gain = dpa[a] + d[z][pz] - dpa[pz]
                if gain <= _EPS:
                    continue
                limit = gain - _EPS
                for s, o in ((a, z), (z, a)):
                    ds, do = d[s], d[o]
                    for c in neigh[s]:
                        dsc = ds[c]
                        if dsc >= limit:
                            break
                        if c in seg:
                            continue
                        dc = d[c]
                        j = pos[c]
                        e = t[j + 1 if j + 1 < n else 0]  # c, s ... o, e
                        if e not in seg and dsc + do[e] - dc[e] < limit:
                            piece = seg if s == a else seg[::-1]
                            self._move(i if step == 1 else i - seg_len + 1, seg_len, c, piece, after=True)
                            return [pa, pz, c, e, a, z]
                        e = t[j - 1]  # e, o ... s, c
                        if e not in seg and dsc + do[e] - dc[e] < limit:
                            piece = seg[::-1] if s == a else seg
                            self._move(i if step == 1 else i - seg_len + 1, seg_len, c, piece, after=False)
                            return [pa, pz, c, e, a, z]
        return None

    def _move(self, first: int, seg_len: int, c: int, piece: list[int], after: bool) -> None:
        """Take out the seg_len nodes from position `first` and put `piece` (them, in the new order) beside c."""
        t, n = self.t, self.n
        start = (first + seg_len) % n
        rest = t[start:] + t[:start]
        del rest[n - seg_len :]
        k = rest.index(c) + (1 if after else 0)
        rest[k:k] = piece
        self.t = rest
        pos = self.pos
        for idx, v in enumerate(rest):
            pos[v] = idx

    def local_search(self, queue: deque | None = None) -> None:
        """Apply improving moves until none is left around the queued nodes (all nodes by default)."""
        if queue is None:
            queue = deque(self.t)
        queued = [False] * self.n
        for v in queue:
            queued[v] = True
        end = -1 if self.closed else self.n - 1
        while queue:
            a = queue.popleft()
            queued[a] = False
            if a == end:
                # The end node's own moves are pointless (all its edges to stops are equally long); what
                # matters is the last stop beside it, whose free edge makes every tail reversal a candidate.
                i = self.pos[a]
                a = self.t[i - 1] if self.t[i - 1] != 0 else self.t[(i + 1) % self.n]
            touched = self._two_opt(a) or self._or_opt(a)
            if touched:
                for v in touched:
                    if not queued[v]:
                        queued[v] = True
                        queue.append(v)

    def _kick(self) -> list[int] | None:
        """Swap two adjacent random segments (a local double bridge); returns the nodes at the cut edges."""
        t, n, rng, pos = self.t, self.n, self.rng, self.pos
        # The two segments plus at least one other node (closed), or within the stops (open path: the
        # start-end pair stays outside the block, so its free edge is never cut).
        room = n - 1 if self.closed else n - 2
        if room < 2:
            return None
        l1 = rng.randint(1, min(KICK_MAX, room - 1))
        l2 = rng.randint(1, min(KICK_MAX, room - l1))
        if self.closed:
            i = rng.randrange(n)
        else:
            p0, pe = pos[0], pos[n - 1]
            after_pair = pe if (p0 + 1) % n == pe else p0  # the later of the two adjacent nodes
            i = (after_pair + rng.randint(0, room - l1 - l2)) % n
        block = [t[(i + 1 + k) % n] for k in range(l1 + l2)]
        ends = [t[i], block[0], block[l1 - 1], block[l1], block[-1], t[(i + l1 + l2 + 1) % n]]
        for k, v in enumerate(block[l1:] + block[:l1]):
            p = (i + 1 + k) % n
            t[p] = v
            pos[v] = p
        return ends

    def iterate(self, deadline: float) -> None:
        """Iterated local search: kick, repair by local search, keep the tour if it is no longer."""
        n = self.n
        best_t, best_len = list(self.t), self.length()
        stale, stale_limit = 0, STALE_BASE + STALE_PER_NODE * n
        clock = time.perf_counter
        while stale < stale_limit and clock() < deadline:
            ends = self._kick()
            if ends is None:
                return
            self.local_search(deque(dict.fromkeys(ends)))
            length = self.length()
            if length < best_len - _EPS:
                best_t, best_len, stale = list(self.t), length, 0
            else:
                stale += 1
                if length <= best_len + _EPS:
                    best_t = list(self.t)  # as good: move on from here (helps leave plateaus)
                else:
                    self.t = list(best_t)
                    pos = self.pos
                    for idx, v in enumerate(self.t):
                        pos[v] = idx
